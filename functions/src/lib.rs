//! yunqiao on AWS Lambda: one binary per API area (`src/bin/`), each a few lines over
//! this crate.
//!
//! A sandbox builds its adapters once, at init, from the environment (never per
//! request): the DynamoDB store, the WeChat client, the API Gateway push port. HTTP
//! functions then run the very routers `yunqiao serve` runs ([`yunqiao_api::app_for`])
//! through `lambda_http`; the WebSocket trio takes `ApiGatewayWebsocketProxyRequest`
//! events and calls the same live-channel service the local server's `/v1/ws` calls.
//!
//! Environment (set by `template.yaml`):
//!
//! | variable | |
//! |---|---|
//! | `YUNQIAO_DYNAMODB_TABLE` | the table (`pk`/`sk`, TTL on `ttl`) |
//! | `YUNQIAO_ADMIN_KEY` | the admin bearer key (a NoEcho parameter) |
//! | `YUNQIAO_WECHAT_APPID`, `YUNQIAO_WECHAT_SECRET` | the mini-program (auth only) |
//! | `YUNQIAO_WS_ENDPOINT` | the WebSocket API's management URL (functions that push) |
//! | `YUNQIAO_SESSION_TTL_SECS` | session lifetime (default 30 days) |
//! | `YUNQIAO_TABLES_SCAN_LIMIT` | rows a query examines, records an unindexed query scans (default 1,000) |
//! | `YUNQIAO_SECRET_<NAME>` | what cloud functions' `secrets.get(NAME)` answers (from NoEcho parameters or Secrets Manager references, never literals) |
//! | `YUNQIAO_FUNCTIONS_WORKERS` | QuickJS worker threads (default 2) |
//! | `YUNQIAO_CACHE_BOUND_MS` | how long a cached session, user, schema or module is trusted (default 1,000; 0: no caching) |
//! | `YUNQIAO_LOG` | log filter (default `info`); logs are JSON |
//! | `YUNQIAO_DYNAMODB_ENDPOINT`, `YUNQIAO_WECHAT_API_BASE` | emulators and mocks, for tests |

use std::sync::Arc;

use aws_lambda_events::apigw::{ApiGatewayProxyResponse, ApiGatewayWebsocketProxyRequest};
use aws_lambda_events::encodings::Body;
use lambda_runtime::{LambdaEvent, service_fn};
use yunqiao_api::{AppState, Area, HttpConfig, Sockets};
use yunqiao_aws::{ApiGatewayPush, DynamoConfig, DynamoStore};
use yunqiao_core::Error as DomainError;
use yunqiao_core::auth::AuthConfig;
use yunqiao_core::clock::{SharedClock, SystemClock};
use yunqiao_core::live::{NoPush, Push};
use yunqiao_wechat::{DEFAULT_API_BASE, WeChatClient, WeChatConfig};

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Configuration read from the environment once per sandbox.
#[derive(Debug, Clone)]
pub struct SandboxConfig {
    pub dynamo: DynamoConfig,
    pub admin_key: Option<String>,
    pub wechat_appid: String,
    pub wechat_secret: String,
    pub wechat_api_base: String,
    pub ws_endpoint: Option<String>,
    pub session_ttl_secs: i64,
    /// `YUNQIAO_TABLES_SCAN_LIMIT` (see `yunqiao_core::tables::reads::DEFAULT_SCAN_LIMIT`).
    pub scan_limit: usize,
    pub body_limit: usize,
    /// `YUNQIAO_SECRET_<NAME>` values.
    pub secrets: std::collections::HashMap<String, String>,
    /// `YUNQIAO_FUNCTIONS_WORKERS` (default 2) and the rest of the function limits,
    /// under the same names and limits as `yunqiao serve`'s.
    pub function_admission: yunqiao_core::functions::admission::AdmissionConfig,
    /// `YUNQIAO_FUNCTIONS_ALLOW_PRIVATE_HOSTS`: modules may reach private networks.
    pub allow_private_hosts: bool,
    /// `YUNQIAO_CACHE_BOUND_MS`: how long a cached session, user, schema or module is
    /// trusted (default 1,000; 0 turns the caches off).
    pub cache_bound_ms: i64,
}

impl SandboxConfig {
    pub fn from_env(env: impl Fn(&str) -> Option<String>) -> Result<SandboxConfig, BoxError> {
        let non_empty = |k: &str| env(k).filter(|v| !v.is_empty());
        let admin_key = non_empty("YUNQIAO_ADMIN_KEY");
        if let Some(k) = &admin_key
            && let Err(e) = yunqiao_core::auth::check_admin_key(k)
        {
            return Err(format!("YUNQIAO_ADMIN_KEY: {e}").into());
        }
        let session_ttl_secs = match non_empty("YUNQIAO_SESSION_TTL_SECS") {
            Some(v) => v
                .parse::<i64>()
                .ok()
                .filter(|s| *s >= 60)
                .ok_or("YUNQIAO_SESSION_TTL_SECS must be a number of seconds, at least 60")?,
            None => AuthConfig::default().session_ttl_secs,
        };
        Ok(SandboxConfig {
            dynamo: DynamoConfig::from_env(&env),
            admin_key,
            wechat_appid: non_empty("YUNQIAO_WECHAT_APPID").unwrap_or_default(),
            wechat_secret: non_empty("YUNQIAO_WECHAT_SECRET").unwrap_or_default(),
            wechat_api_base: non_empty("YUNQIAO_WECHAT_API_BASE")
                .unwrap_or_else(|| DEFAULT_API_BASE.to_string()),
            ws_endpoint: non_empty("YUNQIAO_WS_ENDPOINT"),
            session_ttl_secs,
            scan_limit: match non_empty("YUNQIAO_TABLES_SCAN_LIMIT") {
                Some(v) => v
                    .parse()
                    .map_err(|_| "YUNQIAO_TABLES_SCAN_LIMIT must be a number of rows")?,
                None => yunqiao_core::tables::reads::DEFAULT_SCAN_LIMIT,
            },
            // API Gateway's own payload limit is 10 MB; keep the local server's default.
            body_limit: 1024 * 1024,
            secrets: secrets_from(&env)?,
            cache_bound_ms: match non_empty("YUNQIAO_CACHE_BOUND_MS") {
                Some(v) => v
                    .parse::<i64>()
                    .ok()
                    .filter(|n| (0..=60_000).contains(n))
                    .ok_or("YUNQIAO_CACHE_BOUND_MS is 0 to 60000 milliseconds")?,
                None => 1_000,
            },
            function_admission: admission_from(&non_empty)?,
            allow_private_hosts: non_empty("YUNQIAO_FUNCTIONS_ALLOW_PRIVATE_HOSTS")
                .is_some_and(|v| matches!(v.as_str(), "1" | "true" | "yes")),
        })
    }
}

/// The function limits from `YUNQIAO_FUNCTIONS_*`: workers (default 2: a Lambda
/// sandbox serves one request at a time), the memory budget (default half the
/// function's memory), per caller, per module, the queue.
fn admission_from(
    env: &impl Fn(&str) -> Option<String>,
) -> Result<yunqiao_core::functions::admission::AdmissionConfig, BoxError> {
    let num = |k: &str| -> Result<Option<usize>, BoxError> {
        env(k)
            .map(|v| {
                v.parse::<usize>()
                    .map_err(|_| format!("{k} must be a number").into())
            })
            .transpose()
    };
    let lambda_mb = num("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")?.unwrap_or(2048);
    let a = yunqiao_core::functions::admission::AdmissionConfig::for_workers(
        num("YUNQIAO_FUNCTIONS_WORKERS")?.unwrap_or(2),
        num("YUNQIAO_FUNCTIONS_MEMORY_MB")?.unwrap_or((lambda_mb / 2).max(64)),
    )
    .with_overrides(
        num("YUNQIAO_FUNCTIONS_PER_CALLER")?,
        num("YUNQIAO_FUNCTIONS_PER_CALLER_QUEUED")?,
        num("YUNQIAO_FUNCTIONS_PER_MODULE")?,
        num("YUNQIAO_FUNCTIONS_QUEUE")?,
    );
    a.validate()
        .map_err(|e| format!("YUNQIAO_FUNCTIONS_*: {e}"))?;
    Ok(a)
}

/// `YUNQIAO_SECRETS_JSON` (`{"NAME": "value"}`, the template's NoEcho parameter) and any
/// `YUNQIAO_SECRET_<NAME>` variables.
fn secrets_from(
    env: &impl Fn(&str) -> Option<String>,
) -> Result<std::collections::HashMap<String, String>, BoxError> {
    use yunqiao_core::functions::settings::valid_secret_name;
    let mut out = std::collections::HashMap::new();
    if let Some(j) = env("YUNQIAO_SECRETS_JSON").filter(|v| !v.trim().is_empty()) {
        let m: std::collections::HashMap<String, String> = serde_json::from_str(&j)
            .map_err(|_| "YUNQIAO_SECRETS_JSON must be a JSON object of strings")?;
        if let Some(n) = m.keys().find(|n| !valid_secret_name(n)) {
            return Err(format!("YUNQIAO_SECRETS_JSON: {n:?} is not a secret name").into());
        }
        out.extend(m);
    }
    for (k, v) in std::env::vars() {
        if let Some(n) = k.strip_prefix("YUNQIAO_SECRET_")
            && valid_secret_name(n)
        {
            out.insert(n.to_string(), v);
        }
    }
    Ok(out)
}

/// JSON logs, as CloudWatch wants them.
pub fn init_logging() {
    let filter = std::env::var("YUNQIAO_LOG").unwrap_or_else(|_| "info".into());
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_new(&filter)
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_current_span(false)
        .without_time() // CloudWatch stamps each line
        .with_target(false)
        .try_init();
}

/// Builds every adapter and the domain services: once per sandbox.
pub async fn sandbox(cfg: &SandboxConfig) -> Result<AppState, BoxError> {
    let clock: SharedClock = Arc::new(SystemClock);
    let sdk = yunqiao_aws::sdk_config(&cfg.dynamo.region, None).await;
    let store = Arc::new(DynamoStore::from_sdk(&sdk, &cfg.dynamo, clock.clone()));
    let wechat = Arc::new(WeChatClient::new(
        WeChatConfig {
            api_base: cfg.wechat_api_base.clone(),
            appid: cfg.wechat_appid.clone(),
            secret: cfg.wechat_secret.clone(),
        },
        clock.clone(),
    )?);
    let push: Arc<dyn Push> = match &cfg.ws_endpoint {
        Some(ep) => Arc::new(ApiGatewayPush::new(&sdk, ep)),
        None => Arc::new(NoPush),
    };
    Ok(AppState::new(
        store,
        wechat,
        clock,
        AuthConfig {
            session_ttl_secs: cfg.session_ttl_secs,
            admin_key: cfg.admin_key.clone(),
            ..AuthConfig::default()
        },
        cfg.scan_limit,
        Sockets::Remote(push),
        // Nothing runs after a Lambda answers: after-hooks run before it does.
        yunqiao_api::FunctionsRuntime {
            sandbox: Arc::new(yunqiao_quickjs::QuickJs::with_current_exe(
                cfg.function_admission.workers,
            )?),
            outbound: Arc::new(yunqiao_quickjs::HttpOutbound::new(cfg.allow_private_hosts)?),
            secrets: cfg.secrets.clone(),
            spawner: None,
            admission: cfg.function_admission,
            allow_private_hosts: cfg.allow_private_hosts,
        },
        // Many sandboxes share the store: what another changed shows within the bound.
        match cfg.cache_bound_ms {
            0 => yunqiao_core::cache::Freshness::None,
            ms => yunqiao_core::cache::Freshness::Bounded(ms),
        },
    ))
}

/// The schedule dispatcher: an EventBridge rule invokes it every minute; it runs the
/// schedules that are due (each claimed once, whoever else looks) and the outbox items
/// nobody finished.
pub async fn run_schedule() -> Result<(), BoxError> {
    // This executable is also the sandbox's worker process (see yunqiao_quickjs).
    yunqiao_quickjs::enter_if_worker();
    let (state, _) = init().await?;
    let state = &state;
    lambda_runtime::run(service_fn(
        move |_: LambdaEvent<serde_json::Value>| async move {
            let claimed = state.functions.tick().await?;
            Ok::<_, BoxError>(serde_json::json!({ "claimed": claimed }))
        },
    ))
    .await
}

async fn init() -> Result<(AppState, SandboxConfig), BoxError> {
    init_logging();
    let cfg = SandboxConfig::from_env(|k| std::env::var(k).ok())?;
    let state = sandbox(&cfg).await?;
    Ok((state, cfg))
}

/// An HTTP function: the shared routers of `areas`, behind API Gateway (HTTP API,
/// payload format 2.0).
pub async fn run_http(areas: &'static [Area]) -> Result<(), BoxError> {
    // This executable is also the sandbox's worker process (see yunqiao_quickjs).
    yunqiao_quickjs::enter_if_worker();
    let (state, cfg) = init().await?;
    let app = yunqiao_api::app_for(
        state,
        &HttpConfig {
            body_limit: cfg.body_limit,
        },
        areas,
    );
    lambda_http::run(yunqiao_api::served::<lambda_http::Body>(app)).await
}

/// Which WebSocket route a function serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WsRoute {
    Connect,
    Message,
    Disconnect,
}

/// A WebSocket function (`$connect`, `$default` or `$disconnect`).
pub async fn run_ws(route: WsRoute) -> Result<(), BoxError> {
    // This executable is also the sandbox's worker process (see yunqiao_quickjs).
    yunqiao_quickjs::enter_if_worker();
    let (state, _) = init().await?;
    let state = &state;
    lambda_runtime::run(service_fn(
        move |ev: LambdaEvent<ApiGatewayWebsocketProxyRequest>| async move {
            Ok::<_, BoxError>(handle_ws(state, route, ev.payload).await)
        },
    ))
    .await
}

fn ws_response(status: u16, body: Option<String>) -> ApiGatewayProxyResponse {
    let mut r = ApiGatewayProxyResponse::default();
    r.status_code = status as i64;
    r.body = body.map(Body::Text);
    r
}

fn error_response(e: &DomainError) -> ApiGatewayProxyResponse {
    ws_response(e.status(), Some(e.body().to_string()))
}

/// One WebSocket event. A refused `$connect` (its status ≥ 400) makes API Gateway refuse
/// the handshake; the other routes' answers are not sent to the client (replies go
/// through the push port), so they only report.
pub async fn handle_ws(
    state: &AppState,
    route: WsRoute,
    ev: ApiGatewayWebsocketProxyRequest,
) -> ApiGatewayProxyResponse {
    let Some(conn) = ev.request_context.connection_id.clone() else {
        return ws_response(400, Some("no connection id".into()));
    };
    match route {
        WsRoute::Connect => {
            let token = ev
                .query_string_parameters
                .first("token")
                .map(str::to_string);
            let caller = match state.auth.authenticate_fresh(token.as_deref()).await {
                Ok(c) => c,
                Err(e) => return error_response(&e),
            };
            match state.live.connect(&conn, &caller).await {
                Ok(()) => ws_response(200, None),
                Err(e) => error_response(&e),
            }
        }
        WsRoute::Message => {
            let body = match (ev.body, ev.is_base64_encoded) {
                (Some(b), false) => b.into_bytes(),
                (Some(b), true) => {
                    use base64::Engine;
                    match base64::engine::general_purpose::STANDARD.decode(b) {
                        Ok(v) => v,
                        Err(_) => return ws_response(400, Some("bad base64 body".into())),
                    }
                }
                (None, _) => Vec::new(),
            };
            match state.live.on_frame(&conn, &body).await {
                Ok(_) => ws_response(200, None),
                Err(e) => error_response(&e),
            }
        }
        WsRoute::Disconnect => match state.live.disconnect(&conn).await {
            Ok(()) => ws_response(200, None),
            Err(e) => error_response(&e),
        },
    }
}
