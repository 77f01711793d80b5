//! yunqiao on AWS Lambda: one Lambda function (binary) per API area (`src/bin/`), each a
//! few lines over this crate.
//!
//! Naming: in this crate (the top-level `functions/`, crate `yunqiao-lambda`) a
//! "function" is always an AWS *Lambda function*. The users' own JavaScript modules are
//! *cloud functions* (`yunqiao_core::functions`, `/v1/fn`, docs/functions.md); the
//! `yq-fn` Lambda function serves them.
//!
//! A sandbox reads its configuration once, at init, from the environment — the same
//! [`yunqiao_config::Config`] `yunqiao serve` reads, under the same names, bounds and
//! defaults ([`yunqiao_config::SETTINGS`]) — and builds its adapters once (never per
//! request): the DynamoDB store, the WeChat client, the API Gateway push port. The
//! services are built by the one composition root ([`yunqiao_api::AppState::builder`]).
//! HTTP Lambda functions then run the very routers `yunqiao serve` runs
//! ([`yunqiao_api::app_for`]) through `lambda_http`; the WebSocket trio takes
//! `ApiGatewayWebsocketProxyRequest` events and calls the same live-channel service the
//! local server's `/v1/ws` calls.
//!
//! The environment `template.yaml` sets:
//!
//! | variable | |
//! |---|---|
//! | `YUNQIAO_DYNAMODB_TABLE` | the table (`pk`/`sk`, TTL on `ttl`) |
//! | `YUNQIAO_BUCKET` | the files' bucket (`files.bucket`) |
//! | `YUNQIAO_ADMIN_KEY` | the admin bearer key (a NoEcho parameter) |
//! | `YUNQIAO_WECHAT_APPID`, `YUNQIAO_WECHAT_SECRET` | the mini-program (auth only) |
//! | `YUNQIAO_WS_ENDPOINT` | the WebSocket API's management URL (functions that push) |
//! | `YUNQIAO_SESSION_TTL_SECS` | session lifetime (default 30 days) |
//! | `YUNQIAO_SECRETS_JSON` | what cloud functions' `secrets.get(NAME)` answers, `{"NAME": "value"}` (or one `YUNQIAO_SECRET_<NAME>` each; from NoEcho parameters or Secrets Manager references, never literals) |
//! | `YUNQIAO_LOG` | log filter (default `info`); logs are JSON |
//!
//! and any other setting of the configuration by its variable (`YUNQIAO_TABLES_SCAN_LIMIT`,
//! `YUNQIAO_CACHE_BOUND_MS`, `YUNQIAO_BODY_LIMIT`, `YUNQIAO_FUNCTIONS_*`,
//! `YUNQIAO_FILES_*` (the files API's limits), `YUNQIAO_S3_*`, the emulators'
//! `YUNQIAO_DYNAMODB_ENDPOINT` and `YUNQIAO_WECHAT_API_BASE`…). `functions.memory_mb`'s
//! default is at most half the function's memory (`AWS_LAMBDA_FUNCTION_MEMORY_SIZE`).

use std::sync::Arc;

use aws_lambda_events::apigw::{ApiGatewayProxyResponse, ApiGatewayWebsocketProxyRequest};
use aws_lambda_events::encodings::Body;
use lambda_runtime::{LambdaEvent, service_fn};
use yunqiao_api::{AppState, Area, HttpConfig, Sockets, StoreWriters};
use yunqiao_aws::{ApiGatewayPush, DynamoConfig, DynamoStore, S3BlobStore, S3Config};
use yunqiao_config::{Config, Env};
use yunqiao_core::Error as DomainError;
use yunqiao_core::clock::{SharedClock, SystemClock};
use yunqiao_core::live::{NoPush, Push};
use yunqiao_wechat::{DEFAULT_API_BASE, DEFAULT_PAY_BASE, WeChatClient, WeChatConfig};

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// JSON logs, as CloudWatch wants them, filtered by `log` (`YUNQIAO_LOG`).
pub fn init_logging(cfg: &Config) {
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_new(&cfg.log)
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_current_span(false)
        .without_time() // CloudWatch stamps each line
        .with_target(false)
        .try_init();
}

/// The files' bucket, from `[files]`: on Lambda files are always in S3, whatever
/// `files.kind` says.
pub fn s3_config(cfg: &Config) -> S3Config {
    S3Config {
        bucket: cfg.files.bucket.clone(),
        region: cfg.s3_region().to_string(),
        endpoint: cfg.files.s3_endpoint.clone(),
        path_style: cfg.files.s3_path_style,
    }
}

/// What a Lambda function needs besides what every one has.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Extras {
    /// Makes thumbnails (`yq-upload`): it reads originals from S3 and writes thumbnails
    /// back itself, so their bytes never pass through API Gateway.
    pub thumbnails: bool,
}

/// Builds every adapter and the domain services from `cfg`: once per sandbox. The
/// store is DynamoDB whatever `store.kind` says, and files are in S3.
pub async fn sandbox(cfg: &Config) -> Result<AppState, BoxError> {
    sandbox_with(cfg, Extras::default()).await
}

/// [`sandbox`] with `extras`.
pub async fn sandbox_with(cfg: &Config, extras: Extras) -> Result<AppState, BoxError> {
    let clock: SharedClock = Arc::new(SystemClock);
    let dynamo = DynamoConfig {
        table: cfg.store.dynamodb_table.clone(),
        region: cfg.store.dynamodb_region.clone(),
        endpoint: cfg.store.dynamodb_endpoint.clone(),
    };
    let sdk = yunqiao_aws::sdk_config(&dynamo.region, None).await;
    let store = Arc::new(DynamoStore::from_sdk(&sdk, &dynamo, clock.clone()));
    // No request at init: the SDK client is built, the bucket is not touched.
    let blobs = Arc::new(S3BlobStore::from_sdk(&sdk, &s3_config(cfg)).with_clock(clock.clone()));
    let wechat = Arc::new(
        WeChatClient::new(
            WeChatConfig {
                api_base: cfg
                    .wechat
                    .api_base
                    .clone()
                    .unwrap_or_else(|| DEFAULT_API_BASE.to_string()),
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
    );
    // The merchant's keys are read once per sandbox (a key that does not read stops
    // the sandbox at init, naming the setting, never the key).
    let pay = cfg.pay.settings(&cfg.wechat.appid)?;
    let push: Arc<dyn Push> = match &cfg.live.ws_endpoint {
        Some(ep) => Arc::new(ApiGatewayPush::new(&sdk, ep)),
        None => Arc::new(NoPush),
    };
    let mut builder = AppState::builder();
    if extras.thumbnails {
        builder = builder.thumbnailer(Arc::new(yunqiao_images::ImageThumbnailer::default()));
    }
    Ok(builder
        .about(
            "dynamodb",
            cfg.wechat.api_base.as_deref().unwrap_or(DEFAULT_API_BASE),
        )
        // Many sandboxes share the store: what another changed shows within the bound.
        .store(store, StoreWriters::Several)
        .wechat(wechat)
        .pay(pay)
        .clock(clock)
        .sockets(Sockets::Remote(push))
        .blobs(blobs)
        .functions(
            Arc::new(yunqiao_quickjs::QuickJs::with_current_exe(
                cfg.functions.workers,
            )?),
            Arc::new(yunqiao_quickjs::HttpOutbound::new(
                cfg.functions.allow_private_hosts,
            )?),
        )
        // No background: nothing runs after a Lambda answers, so after-hooks run before.
        .build(cfg)?)
}

/// The schedule dispatcher: an EventBridge rule invokes it every minute; it runs the
/// schedules that are due (each claimed once, whoever else looks) and the outbox items
/// nobody finished, and removes expired pending uploads with their bytes.
pub async fn run_schedule() -> Result<(), BoxError> {
    // This executable is also the sandbox's worker process (see yunqiao_quickjs).
    yunqiao_quickjs::enter_if_worker();
    let (state, _) = init(Extras::default()).await?;
    let state = &state;
    lambda_runtime::run(service_fn(
        move |_: LambdaEvent<serde_json::Value>| async move {
            // Both run whatever the other did: a failing sweep does not hold schedules up.
            let claimed = state.functions.tick().await;
            let swept = match &state.files {
                Some(files) => files.sweep_expired().await,
                None => Ok(0),
            };
            if let Err(e) = &swept {
                tracing::warn!(error = %e, "files sweep failed");
            }
            // WeChat Pay: pending orders asked about, expired ones closed.
            let pay = state.pay.reconcile(true).await;
            if let Err(e) = &pay {
                tracing::warn!(error = %e, "pay reconciliation failed");
            }
            Ok::<_, BoxError>(serde_json::json!({
                "claimed": claimed?,
                "files_swept": swept?,
                "pay": pay?,
            }))
        },
    ))
    .await
}

async fn init(extras: Extras) -> Result<(AppState, Config), BoxError> {
    // The environment is read here, once, into the configuration both faces read.
    let cfg = Config::from_env(&Env::process())?;
    init_logging(&cfg);
    let state = sandbox_with(&cfg, extras).await?;
    Ok((state, cfg))
}

/// An HTTP Lambda function: the shared routers of `areas`, behind API Gateway (HTTP API,
/// payload format 2.0).
pub async fn run_http(areas: &'static [Area]) -> Result<(), BoxError> {
    run_http_with(areas, Extras::default()).await
}

/// [`run_http`] with `extras`.
pub async fn run_http_with(areas: &'static [Area], extras: Extras) -> Result<(), BoxError> {
    // This executable is also the sandbox's worker process (see yunqiao_quickjs).
    yunqiao_quickjs::enter_if_worker();
    let (state, cfg) = init(extras).await?;
    let app = yunqiao_api::app_for(state, &HttpConfig::from(&cfg), areas);
    lambda_http::run(yunqiao_api::served::<lambda_http::Body>(app)).await
}

/// Which WebSocket route a Lambda function serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WsRoute {
    Connect,
    Message,
    Disconnect,
}

/// A WebSocket Lambda function (`$connect`, `$default` or `$disconnect`).
pub async fn run_ws(route: WsRoute) -> Result<(), BoxError> {
    // This executable is also the sandbox's worker process (see yunqiao_quickjs).
    yunqiao_quickjs::enter_if_worker();
    let (state, _) = init(Extras::default()).await?;
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
            // As on the local server: `?token=`, or the subprotocol `bearer.<token>`
            // beside `yunqiao.v1` (the console), which API Gateway passes as a header
            // and answers with the one this function names.
            let token = ev
                .query_string_parameters
                .first("token")
                .map(str::to_string)
                .or_else(|| yunqiao_api::live::protocol_token(&ev.headers));
            let caller = match state.auth.authenticate_fresh(token.as_deref()).await {
                Ok(c) => c,
                Err(e) => return error_response(&e),
            };
            match state.live.connect(&conn, &caller).await {
                Ok(()) => {
                    let mut r = ws_response(200, None);
                    if yunqiao_api::live::offers_subprotocol(&ev.headers) {
                        r.headers.insert(
                            lambda_http::http::header::SEC_WEBSOCKET_PROTOCOL,
                            lambda_http::http::HeaderValue::from_static(
                                yunqiao_api::live::SUBPROTOCOL,
                            ),
                        );
                    }
                    r
                }
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
