//! `yunqiao serve`: every API, the embedded store and (unless real WeChat credentials are
//! configured) the built-in WeChat mock, on one port.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use yunqiao_api::live::LocalHub;
use yunqiao_api::{AppState, HttpConfig, Sockets};
use yunqiao_aws::{DynamoConfig, DynamoStore};
use yunqiao_core::auth::AuthConfig;
use yunqiao_core::clock::{SharedClock, SystemClock};
use yunqiao_core::store::ItemStore;
use yunqiao_core::wechat::WeChat;
use yunqiao_local::LocalStore;
use yunqiao_wechat::{DEFAULT_API_BASE, MockConfig, WeChatClient, WeChatConfig, WeChatMock};

use crate::config::Config;

pub const MOCK_PREFIX: &str = "/__mock/wechat";

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Reads the admin key from configuration, or from `<data_dir>/admin.key`, creating it
/// (owner-only) on first start. The key itself is never logged.
fn admin_key(cfg: &Config) -> Result<String, BoxError> {
    if let Some(k) = &cfg.admin_key {
        return Ok(k.clone());
    }
    let path = cfg.data_dir.join("admin.key");
    if let Ok(k) = std::fs::read_to_string(&path) {
        let k = k.trim().to_string();
        if k.len() >= 16 {
            return Ok(k);
        }
    }
    let key = format!(
        "yqa_{:032x}{:032x}",
        rand::random::<u128>(),
        rand::random::<u128>()
    );
    write_private(&path, &key)?;
    println!(
        "admin key generated: {} (send as Authorization: Bearer <key>)",
        path.display()
    );
    Ok(key)
}

fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts.open(path)?;
    f.write_all(contents.as_bytes())?;
    f.sync_all()
}

/// What `axum::serve` takes: the router behind [`yunqiao_api::served`].
pub fn make_service(router: Router) -> axum::routing::IntoMakeService<yunqiao_api::Served> {
    axum::ServiceExt::<axum::extract::Request>::into_make_service(yunqiao_api::served(router))
}

/// A server bound to its port, ready to run.
pub struct Server {
    pub listener: tokio::net::TcpListener,
    pub addr: SocketAddr,
    pub router: Router,
    /// The embedded store, when it is the one in use (it sweeps expired items itself;
    /// DynamoDB's TTL does that in AWS).
    pub local: Option<LocalStore>,
    pub functions: Arc<yunqiao_core::functions::Functions>,
}

/// Cloud functions here: QuickJS workers, outbound HTTP, secrets from the config file and
/// `YUNQIAO_SECRET_<NAME>`, after-hooks in the background.
fn functions_runtime(cfg: &Config) -> Result<yunqiao_api::FunctionsRuntime, BoxError> {
    let mut secrets: std::collections::HashMap<String, String> = cfg
        .functions
        .secrets
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    for (k, v) in std::env::vars() {
        if let Some(name) = k.strip_prefix("YUNQIAO_SECRET_")
            && yunqiao_core::functions::settings::valid_secret_name(name)
        {
            secrets.insert(name.to_string(), v);
        }
    }
    let spawner: yunqiao_core::functions::Spawner = Arc::new(|fut| {
        tokio::spawn(fut);
    });
    Ok(yunqiao_api::FunctionsRuntime {
        sandbox: Arc::new(yunqiao_quickjs::QuickJs::new(cfg.functions.workers)?),
        outbound: Arc::new(yunqiao_quickjs::HttpOutbound::new()?),
        secrets,
        spawner: Some(spawner),
    })
}

/// Every second: due schedules, and outbox items nobody finished.
fn spawn_scheduler(
    functions: Arc<yunqiao_core::functions::Functions>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_secs(1));
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            every.tick().await;
            if let Err(e) = functions.tick().await {
                tracing::warn!(error = %e, "schedule tick failed");
            }
        }
    })
}

async fn open_store(
    cfg: &Config,
    clock: SharedClock,
) -> Result<(Arc<dyn ItemStore>, Option<LocalStore>), BoxError> {
    if cfg.store.kind == "dynamodb" {
        let dc = DynamoConfig {
            table: cfg.store.dynamodb_table.clone(),
            region: cfg.store.dynamodb_region.clone(),
            endpoint: cfg.store.dynamodb_endpoint.clone(),
        };
        let store = DynamoStore::connect(&dc, clock).await;
        if cfg.store.dynamodb_create_table {
            store
                .create_table_if_missing()
                .await
                .map_err(|e| format!("cannot create DynamoDB table {}: {e}", dc.table))?;
        }
        // Say why at start rather than answer 503 to every request later.
        yunqiao_core::store::ItemStore::get(&store, "health", "_")
            .await
            .map_err(|e| {
                format!(
                    "cannot read DynamoDB table {} at {}: {e} (does the table exist, and are AWS credentials and region set?)",
                    dc.table,
                    dc.endpoint.as_deref().unwrap_or("AWS")
                )
            })?;
        println!(
            "store: DynamoDB table {} ({})",
            dc.table,
            dc.endpoint.as_deref().unwrap_or("AWS")
        );
        return Ok((Arc::new(store), None));
    }
    let store = LocalStore::open(&cfg.data_dir.join("yunqiao.redb"), clock)
        .map_err(|e| format!("cannot open the store in {}: {e}", cfg.data_dir.display()))?;
    Ok((Arc::new(store.clone()), Some(store)))
}

pub async fn build(cfg: &Config) -> Result<Server, BoxError> {
    std::fs::create_dir_all(&cfg.data_dir)
        .map_err(|e| format!("cannot create data dir {}: {e}", cfg.data_dir.display()))?;
    let clock: SharedClock = Arc::new(SystemClock);
    let (store, local) = open_store(cfg, clock.clone()).await?;
    let listener = tokio::net::TcpListener::bind(cfg.addr)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", cfg.addr))?;
    let addr = listener.local_addr()?;

    let mut extra = Router::new();
    let wechat: Arc<dyn WeChat> = if cfg.wechat.appid.is_empty() {
        // In mock mode anyone can log in as anyone: keep it off the network unless asked.
        if !addr.ip().is_loopback() && !cfg.wechat.mock_on_public_address {
            return Err(format!(
                "refusing to serve the built-in WeChat mock on {addr}: configure wechat.appid/secret, \
                 listen on 127.0.0.1, or set wechat.mock_on_public_address = true"
            )
            .into());
        }
        let secret = format!("{:032x}", rand::random::<u128>());
        let appid = "wx0000000000mock".to_string();
        let mock = WeChatMock::new(
            MockConfig {
                appid: appid.clone(),
                secret: secret.clone(),
                unionid: true,
            },
            clock.clone(),
        );
        extra = extra.nest(MOCK_PREFIX, mock.router());
        let loopback = SocketAddr::new(
            if addr.ip().is_unspecified() {
                [127, 0, 0, 1].into()
            } else {
                addr.ip()
            },
            addr.port(),
        );
        let base = format!("http://{loopback}{MOCK_PREFIX}");
        println!(
            "WeChat: built-in mock at {base} (no network; log in with codes like \"mock:alice:1\"; each code works once)"
        );
        println!(
            "        set wechat.appid and wechat.secret (or YUNQIAO_WECHAT_APPID/SECRET) for real WeChat"
        );
        Arc::new(WeChatClient::new(
            WeChatConfig {
                api_base: base,
                appid,
                secret,
            },
            clock.clone(),
        )?)
    } else {
        let base = cfg
            .wechat
            .api_base
            .clone()
            .unwrap_or_else(|| DEFAULT_API_BASE.to_string());
        println!("WeChat: app {} via {base}", cfg.wechat.appid);
        Arc::new(WeChatClient::new(
            WeChatConfig {
                api_base: base,
                appid: cfg.wechat.appid.clone(),
                secret: cfg.wechat.secret.clone(),
            },
            clock.clone(),
        )?)
    };

    let state = AppState::new(
        store,
        wechat,
        clock,
        AuthConfig {
            session_ttl_secs: cfg.session_ttl_secs,
            admin_key: Some(admin_key(cfg)?),
            ..AuthConfig::default()
        },
        cfg.tables.scan_limit,
        Sockets::Local(Arc::new(LocalHub::default())),
        functions_runtime(cfg)?,
        // The embedded store has one writer, this process; DynamoDB may have several.
        if local.is_some() {
            yunqiao_core::cache::Freshness::OwnWrites
        } else {
            yunqiao_core::cache::Freshness::SHARED
        },
    );
    let functions = state.functions.clone();
    let router = yunqiao_api::app(
        state,
        &HttpConfig {
            body_limit: cfg.body_limit,
        },
    )
    .merge(extra);
    Ok(Server {
        listener,
        addr,
        router,
        local,
        functions,
    })
}

pub async fn run(cfg: Config) -> Result<(), BoxError> {
    let server = build(&cfg).await?;
    let _sweeper = server
        .local
        .as_ref()
        .map(|s| s.spawn_sweeper(Duration::from_secs(60)));
    let _scheduler = cfg
        .functions
        .scheduler
        .then(|| spawn_scheduler(server.functions.clone()));
    println!("data: {}", cfg.data_dir.display());
    println!("yunqiao listening on http://{}", server.addr);
    axum::serve(server.listener, make_service(server.router))
        .with_graceful_shutdown(shutdown_signal())
        .await?;
    println!("yunqiao stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}
