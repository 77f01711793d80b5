//! `yunqiao serve`: every API, the embedded store and (unless real WeChat credentials are
//! configured) the built-in WeChat mock, on one port.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use yunqiao_api::live::LocalHub;
use yunqiao_api::{AppState, HttpConfig, Sockets, StoreWriters};
use yunqiao_aws::{DynamoConfig, DynamoStore, S3BlobStore, S3Config};
use yunqiao_core::clock::{SharedClock, SystemClock};
use yunqiao_core::store::ItemStore;
use yunqiao_core::wechat::WeChat;
use yunqiao_local::{LocalBlobStore, LocalStore};
use yunqiao_wechat::{
    DEFAULT_API_BASE, DEFAULT_PAY_BASE, MockConfig, WeChatClient, WeChatConfig, WeChatMock,
};

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

/// How long a client has to send a request's headers, from its first byte (or, on a
/// kept-alive connection, from the end of the previous answer); a connection that takes
/// longer is closed. Slow-header clients (one byte every few seconds) cannot hold
/// connections open.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(20);
/// Most HTTP connections served at once; more wait in the listen backlog until one
/// closes. WebSockets stop counting once upgraded (their limits are per user).
pub const MAX_CONNECTIONS: usize = 8192;

/// Limits on the HTTP connections [`serve_http`] serves.
#[derive(Debug, Clone, Copy)]
pub struct HttpLimits {
    pub header_read_timeout: Duration,
    pub max_connections: usize,
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits {
            header_read_timeout: HEADER_READ_TIMEOUT,
            max_connections: MAX_CONNECTIONS,
        }
    }
}

/// Serves `router` (behind [`yunqiao_api::served`]) on `listener` over HTTP/1.1 with
/// upgrades (WebSockets), under `limits`, until `shutdown` completes; then stops
/// accepting, lets requests in flight finish and returns. `axum::serve` sets no header
/// timeout and no connection cap, hence this loop.
pub async fn serve_http(
    listener: tokio::net::TcpListener,
    router: Router,
    limits: HttpLimits,
    shutdown: impl std::future::Future<Output = ()> + Send,
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioIo, TokioTimer};
    use hyper_util::service::TowerToHyperService;

    let service = yunqiao_api::served::<hyper::body::Incoming>(router);
    let max = limits
        .max_connections
        .clamp(1, tokio::sync::Semaphore::MAX_PERMITS);
    let permits = Arc::new(tokio::sync::Semaphore::new(max));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            _ = &mut shutdown => break,
            p = permits.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
        };
        let stream = tokio::select! {
            _ = &mut shutdown => break,
            r = listener.accept() => match r {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors and the like: wait rather than spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(service.clone());
        let mut stop = stop_rx.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_read_timeout);
            let conn = builder
                .serve_connection(TokioIo::new(stream), service)
                .with_upgrades();
            tokio::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => return,
                _ = stop.wait_for(|s| *s) => conn.as_mut().graceful_shutdown(),
            }
            let _ = conn.await;
        });
    }
    drop(listener);
    let _ = stop_tx.send(true);
    // Every connection holds a permit until it ends.
    let _ = permits.acquire_many(max as u32).await;
    Ok(())
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
    /// WeChat Pay, whose pending orders the scheduler reconciles.
    pub pay: Arc<yunqiao_core::pay::Pay>,
    /// The files service (there is always a blob store here), whose expired pending
    /// uploads [`spawn_files_sweeper`] removes.
    pub files: Option<Arc<yunqiao_core::files::Files>>,
}

/// Every minute: pending uploads nobody completed, with their bytes (`yq-schedule` does
/// it on AWS).
fn spawn_files_sweeper(files: Arc<yunqiao_core::files::Files>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_secs(60));
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            every.tick().await;
            match files.sweep_expired().await {
                Ok(0) => {}
                Ok(n) => tracing::info!(removed = n, "expired uploads removed"),
                Err(e) => tracing::warn!(error = %e, "files sweep failed"),
            }
        }
    })
}

/// Every second: due schedules, and outbox items nobody finished; WeChat Pay's
/// reconciliation (at most once per `pay.reconcile_after_secs`).
fn spawn_scheduler(
    functions: Arc<yunqiao_core::functions::Functions>,
    pay: Arc<yunqiao_core::pay::Pay>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_secs(1));
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            every.tick().await;
            if let Err(e) = functions.tick().await {
                tracing::warn!(error = %e, "schedule tick failed");
            }
            if let Err(e) = pay.reconcile(false).await {
                tracing::warn!(error = %e, "pay reconciliation failed");
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

/// The S3 bucket of `[files]` (`files.kind = "s3"`), checked at start.
pub fn s3_config(cfg: &Config) -> S3Config {
    S3Config {
        bucket: cfg.files.bucket.clone(),
        region: cfg.s3_region().to_string(),
        endpoint: cfg.files.s3_endpoint.clone(),
        path_style: cfg.files.s3_path_style,
    }
}

/// Files on disk under `<data_dir>/blobs` (default), whose forms and URLs this server
/// answers at `/v1/blobs`, signed with the key kept in `<data_dir>/blob.key`; or an S3
/// bucket.
async fn open_blobs(cfg: &Config, addr: SocketAddr, clock: SharedClock) -> Result<Blobs, BoxError> {
    if cfg.files.kind == "s3" {
        let s3 = s3_config(cfg);
        let store = S3BlobStore::connect(&s3).await.with_clock(clock);
        if cfg.files.s3_create_bucket {
            store
                .create_bucket_if_missing()
                .await
                .map_err(|e| format!("cannot create S3 bucket {}: {e}", s3.bucket))?;
        }
        println!(
            "files: S3 bucket {} ({})",
            s3.bucket,
            s3.endpoint.as_deref().unwrap_or("AWS")
        );
        return Ok(Blobs::S3(Arc::new(store)));
    }
    let key_path = cfg.data_dir.join("blob.key");
    let secret = yunqiao_local::load_or_create_key(&key_path)
        .map_err(|e| format!("cannot read or create {}: {e}", key_path.display()))?;
    let public_url = match &cfg.files.public_url {
        Some(u) => u.clone(),
        None => format!("http://{}", loopback(addr)),
    };
    let dir = cfg.data_dir.join("blobs");
    let store = LocalBlobStore::open(&dir, secret, &public_url, cfg.files.max_upload_bytes, clock)
        .map_err(|e| format!("cannot open the file store in {}: {e}", dir.display()))?;
    println!(
        "files: {} (uploads and downloads at {public_url}/v1/blobs)",
        dir.display()
    );
    Ok(Blobs::Disk(Arc::new(store)))
}

enum Blobs {
    Disk(Arc<LocalBlobStore>),
    S3(Arc<S3BlobStore>),
}

/// `addr`, with 127.0.0.1 for an unspecified address (`0.0.0.0`).
fn loopback(addr: SocketAddr) -> SocketAddr {
    SocketAddr::new(
        if addr.ip().is_unspecified() {
            [127, 0, 0, 1].into()
        } else {
            addr.ip()
        },
        addr.port(),
    )
}

/// The domain services on the store and files the configuration names, for the tools
/// (`yunqiao export` / `yunqiao import`): what `serve` builds, without a port, sockets
/// or WeChat (nothing a tool does calls WeChat).
pub async fn build_for_tools(cfg: &Config) -> Result<(AppState, Option<LocalStore>), BoxError> {
    let clock: SharedClock = Arc::new(SystemClock);
    if cfg.store.kind != "dynamodb" && !cfg.data_dir.join("yunqiao.redb").is_file() {
        std::fs::create_dir_all(&cfg.data_dir)
            .map_err(|e| format!("cannot create data dir {}: {e}", cfg.data_dir.display()))?;
    }
    let (store, local) = open_store(cfg, clock.clone()).await.map_err(|e| {
        if cfg.store.kind == "dynamodb" {
            e
        } else {
            format!(
                "{e} (is `yunqiao serve` running on {}? stop it first)",
                cfg.data_dir.display()
            )
            .into()
        }
    })?;
    let wechat: Arc<dyn WeChat> = Arc::new(WeChatClient::new(
        WeChatConfig {
            // Never called by the tools: an address that answers nothing.
            api_base: "http://127.0.0.1:9".into(),
            appid: if cfg.wechat.appid.is_empty() {
                "wx0000000000mock".into()
            } else {
                cfg.wechat.appid.clone()
            },
            secret: "-".into(),
        },
        clock.clone(),
    )?);
    let blobs = open_blobs(cfg, cfg.addr, clock.clone()).await?;
    let builder = match blobs {
        Blobs::Disk(disk) => AppState::builder().served_blobs(disk),
        Blobs::S3(s3) => AppState::builder().blobs(s3),
    };
    let state = builder
        .store(
            store,
            if local.is_some() {
                StoreWriters::OnlyThisProcess
            } else {
                StoreWriters::Several
            },
        )
        .wechat(wechat)
        .clock(clock)
        .sockets(Sockets::Local(Arc::new(LocalHub::default())))
        .functions(
            Arc::new(yunqiao_quickjs::QuickJs::with_current_exe(1)?),
            Arc::new(yunqiao_quickjs::HttpOutbound::new(
                cfg.functions.allow_private_hosts,
            )?),
        )
        .build(cfg)?;
    Ok((state, local))
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
    let pay;
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
        // The mock pushes events (media checks' verdicts) here, as WeChat would to the
        // URL set in the mini-program's admin.
        if let Some(secrets) = cfg.wechat.push_secrets() {
            mock.set_push_target(yunqiao_wechat::PushTarget {
                url: format!("http://{}/v1/wechat/push", loopback(addr)),
                secrets,
                format: yunqiao_core::wechat::push::PushFormat::Json,
            });
        }
        extra = extra.nest(MOCK_PREFIX, mock.router());
        let base = format!("http://{}{MOCK_PREFIX}", loopback(addr));
        println!(
            "WeChat: built-in mock at {base} (no network; log in with codes like \"mock:alice:1\"; each code works once)"
        );
        println!(
            "        set wechat.appid and wechat.secret (or YUNQIAO_WECHAT_APPID/SECRET) for real WeChat"
        );
        // WeChat Pay through the mock too: its merchant keys, this server's notify URL,
        // the configuration's tables and prices.
        let ps = mock.pay_setup();
        let notify_url = if cfg.pay.notify_url.is_empty() {
            format!("http://{}/v1/pay/notify", loopback(addr))
        } else {
            cfg.pay.notify_url.clone()
        };
        let section = yunqiao_config::PaySection {
            mchid: ps.mchid,
            merchant_serial: ps.merchant_serial,
            merchant_key: ps.merchant_key_pem,
            api_v3_key: ps.api_v3_key,
            platform_cert: Some(ps.platform_cert_pem),
            public_key_id: Some(ps.public_key_id),
            public_key: Some(ps.public_key_pem),
            notify_url,
            ..cfg.pay.clone()
        };
        pay = section.settings(&appid)?;
        Arc::new(
            WeChatClient::new(
                WeChatConfig {
                    api_base: base.clone(),
                    appid,
                    secret,
                },
                clock.clone(),
            )?
            .with_pay_base(base),
        )
    } else {
        let base = cfg
            .wechat
            .api_base
            .clone()
            .unwrap_or_else(|| DEFAULT_API_BASE.to_string());
        println!("WeChat: app {} via {base}", cfg.wechat.appid);
        pay = cfg.pay.settings(&cfg.wechat.appid)?;
        Arc::new(
            WeChatClient::new(
                WeChatConfig {
                    api_base: base,
                    appid: cfg.wechat.appid.clone(),
                    secret: cfg.wechat.secret.clone(),
                },
                clock.clone(),
            )?
            .with_pay_base(
                cfg.pay
                    .api_base
                    .clone()
                    .unwrap_or_else(|| DEFAULT_PAY_BASE.to_string()),
            ),
        )
    };

    // The admin key of the configuration, or the one kept in the data directory.
    let cfg = &Config {
        admin_key: Some(admin_key(cfg)?),
        ..cfg.clone()
    };
    let spawner: yunqiao_core::functions::Spawner = Arc::new(|fut| {
        tokio::spawn(fut);
    });
    let blobs = open_blobs(cfg, addr, clock.clone()).await?;
    let builder = AppState::builder();
    let builder = match blobs {
        Blobs::Disk(disk) => builder.served_blobs(disk),
        Blobs::S3(s3) => builder.blobs(s3),
    };
    let wechat_mode = if cfg.wechat.appid.is_empty() {
        "mock".to_string()
    } else {
        cfg.wechat
            .api_base
            .clone()
            .unwrap_or_else(|| DEFAULT_API_BASE.to_string())
    };
    let state = builder
        .about(
            if local.is_some() {
                "embedded"
            } else {
                "dynamodb"
            },
            &wechat_mode,
        )
        // The embedded store has one writer, this process; DynamoDB may have several.
        .store(
            store,
            if local.is_some() {
                StoreWriters::OnlyThisProcess
            } else {
                StoreWriters::Several
            },
        )
        .wechat(wechat)
        .pay(pay)
        .clock(clock)
        .sockets(Sockets::Local(Arc::new(LocalHub::default())))
        .thumbnailer(Arc::new(yunqiao_images::ImageThumbnailer::default()))
        .functions(
            Arc::new(yunqiao_quickjs::QuickJs::with_current_exe(
                cfg.functions.workers,
            )?),
            Arc::new(yunqiao_quickjs::HttpOutbound::new(
                cfg.functions.allow_private_hosts,
            )?),
        )
        // After-hooks and scheduled runs in the background.
        .background(spawner)
        .build(cfg)?;
    let functions = state.functions.clone();
    let pay = state.pay.clone();
    let files = state.files.clone();
    let router = yunqiao_api::app(state, &HttpConfig::from(cfg)).merge(extra);
    Ok(Server {
        listener,
        addr,
        router,
        local,
        functions,
        pay,
        files,
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
        .then(|| spawn_scheduler(server.functions.clone(), server.pay.clone()));
    let _files_sweeper = server.files.clone().map(spawn_files_sweeper);
    println!("data: {}", cfg.data_dir.display());
    println!("yunqiao listening on http://{}", server.addr);
    serve_http(
        server.listener,
        server.router,
        HttpLimits::default(),
        shutdown_signal(),
    )
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

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn start(limits: HttpLimits) -> (SocketAddr, tokio::sync::oneshot::Sender<()>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let router = Router::new().route("/", axum::routing::get(|| async { "ok" }));
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(serve_http(listener, router, limits, async {
            let _ = rx.await;
        }));
        (addr, tx)
    }

    /// Reads until the server closes the connection (EOF or reset); what it sent.
    async fn read_to_close(sock: &mut tokio::net::TcpStream) -> String {
        let mut out = Vec::new();
        let mut buf = [0u8; 1024];
        loop {
            match sock.read(&mut buf).await {
                Ok(0) | Err(_) => return String::from_utf8_lossy(&out).into_owned(),
                Ok(n) => out.extend_from_slice(&buf[..n]),
            }
        }
    }

    const GET: &[u8] = b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n";

    #[tokio::test]
    async fn a_client_that_sends_headers_slowly_is_cut_off() {
        let (addr, _stop) = start(HttpLimits {
            header_read_timeout: Duration::from_millis(300),
            ..HttpLimits::default()
        })
        .await;
        // A whole request is answered.
        let mut ok = tokio::net::TcpStream::connect(addr).await.unwrap();
        ok.write_all(GET).await.unwrap();
        assert!(read_to_close(&mut ok).await.starts_with("HTTP/1.1 200"));

        // One header byte at a time, forever: the server closes the connection.
        let mut slow = tokio::net::TcpStream::connect(addr).await.unwrap();
        slow.write_all(b"GET / HTTP/1.1\r\n").await.unwrap();
        let drip = async {
            loop {
                if slow.write_all(b"x").await.is_err() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        };
        tokio::time::timeout(Duration::from_secs(30), drip)
            .await
            .expect("the slow client is cut off");
        // A client that connects and sends nothing is closed too.
        let mut silent = tokio::net::TcpStream::connect(addr).await.unwrap();
        let said = tokio::time::timeout(Duration::from_secs(30), read_to_close(&mut silent))
            .await
            .expect("the silent client is cut off");
        assert!(!said.starts_with("HTTP/1.1 200"), "{said}");
    }

    #[tokio::test]
    async fn connections_beyond_the_cap_wait_for_one_to_close() {
        let (addr, _stop) = start(HttpLimits {
            header_read_timeout: Duration::from_secs(60),
            max_connections: 1,
        })
        .await;
        let mut first = tokio::net::TcpStream::connect(addr).await.unwrap();
        first
            .write_all(b"GET / HTTP/1.1\r\nhost: x\r\n")
            .await
            .unwrap();
        let mut second = tokio::net::TcpStream::connect(addr).await.unwrap();
        second.write_all(GET).await.unwrap();
        let mut buf = [0u8; 64];
        assert!(
            tokio::time::timeout(Duration::from_millis(300), second.read(&mut buf))
                .await
                .is_err(),
            "the second connection is not served while the first holds the only slot"
        );
        drop(first);
        let answer = tokio::time::timeout(Duration::from_secs(30), read_to_close(&mut second))
            .await
            .expect("served once the first closed");
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    }

    #[tokio::test]
    async fn shutdown_stops_accepting_and_returns() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let router = Router::new().route("/", axum::routing::get(|| async { "ok" }));
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let served = tokio::spawn(serve_http(listener, router, HttpLimits::default(), async {
            let _ = rx.await;
        }));
        let _ = tx.send(());
        tokio::time::timeout(Duration::from_secs(30), served)
            .await
            .expect("returns after shutdown")
            .unwrap()
            .unwrap();
    }
}
