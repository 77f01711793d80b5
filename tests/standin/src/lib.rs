//! Local stand-ins for the AWS parts that have no emulator here, so the Lambda functions
//! run in tests exactly as they run in AWS: as their own processes, talking to a Lambda
//! runtime API, behind an API Gateway.
//!
//! * **Lambda runtime API** (`/2018-06-01/runtime/invocation/next`, `…/response`,
//!   `…/error`, `/init/error`): every function gets its own endpoint, passed to its
//!   processes as `AWS_LAMBDA_RUNTIME_API`. Sandboxes are started on demand, one
//!   invocation at a time each, up to a per-function limit, and reused — as in Lambda.
//! * **HTTP API** (payload format 2.0): routes are read from `template.yaml` (the
//!   functions' `HttpApi` events, with `{proxy+}`, `ANY` and `$default`), so the tests go
//!   through the routes that deploy.
//! * **WebSocket API**: accepts WebSocket clients at `/{stage}`, calls the `$connect`,
//!   `$default` and `$disconnect` functions with `ApiGatewayWebsocketProxyRequest`
//!   events (a refused `$connect` refuses the handshake), and serves the management API
//!   `POST/GET/DELETE /{stage}/@connections/{id}`, answering 410 `GoneException` for
//!   unknown connections, which moto's stub never does. Requests must carry a SigV4
//!   `Authorization` header; the signature itself is not verified here.
//!
//! * **S3** ([`S3Server`]): s3s-fs in-process, checking every signature, for the
//!   functions' bucket.
//!
//! Everything binds to 127.0.0.1 and stops when the [`Standin`] is dropped.

mod face;
mod gateway;
mod runtime;
mod s3;
mod template;
mod websocket;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

pub use face::{FaceConfig, LambdaFace};
pub use runtime::time_to_first_poll;
pub use s3::S3Server;
pub use template::{HttpRoute, Template};

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// One function: its executable and environment.
#[derive(Debug, Clone)]
pub struct FunctionSpec {
    /// The binary name, as in `template.yaml`'s `BuildProperties.Binary`.
    pub name: String,
    pub exe: PathBuf,
    /// `{ws_management_url}` in a value is replaced by the WebSocket management URL,
    /// `{ws_url}` by the clients' WebSocket URL, `{http_url}` by the HTTP API's base URL.
    pub env: Vec<(String, String)>,
    /// Sandboxes at most (Lambda's concurrency).
    pub max_sandboxes: usize,
}

#[derive(Debug, Clone)]
pub struct WsRoutes {
    pub connect: String,
    pub default: String,
    pub disconnect: String,
}

#[derive(Debug, Clone)]
pub struct StandinConfig {
    pub functions: Vec<FunctionSpec>,
    pub http_routes: Vec<HttpRoute>,
    pub ws: Option<WsRoutes>,
    /// The WebSocket API's stage, the first path segment of its URLs.
    pub ws_stage: String,
}

/// A running stand-in; dropping it stops the servers and kills every sandbox.
pub struct Standin {
    /// The HTTP API's base URL (`http://127.0.0.1:port`).
    pub http_url: String,
    /// The WebSocket API's URL (`ws://127.0.0.1:port/{stage}`).
    pub ws_url: String,
    /// The management API's base URL (`http://127.0.0.1:port/{stage}`).
    pub management_url: String,
    inner: Arc<runtime::Functions>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Standin {
    pub async fn start(cfg: StandinConfig) -> Result<Standin, BoxError> {
        let http = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let ws = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let http_addr = http.local_addr()?;
        let ws_addr = ws.local_addr()?;
        let management_url = format!("http://{ws_addr}/{}", cfg.ws_stage);
        let mut specs = HashMap::new();
        for mut f in cfg.functions {
            for (_, v) in f.env.iter_mut() {
                *v = v
                    .replace("{ws_management_url}", &management_url)
                    .replace("{ws_url}", &format!("ws://{ws_addr}/{}", cfg.ws_stage))
                    .replace("{http_url}", &format!("http://{http_addr}"));
            }
            specs.insert(f.name.clone(), f);
        }
        for r in &cfg.http_routes {
            if !specs.contains_key(&r.function) {
                return Err(
                    format!("route {} names an unknown function {}", r.key(), r.function).into(),
                );
            }
        }
        let functions = Arc::new(runtime::Functions::start(specs).await?);
        let mut tasks = Vec::new();
        let gw = gateway::router(functions.clone(), cfg.http_routes, http_addr.to_string());
        tasks.push(tokio::spawn(async move {
            let _ = axum::serve(http, gw).await;
        }));
        if let Some(routes) = cfg.ws {
            let w = websocket::router(
                functions.clone(),
                routes,
                cfg.ws_stage.clone(),
                ws_addr.to_string(),
            );
            tasks.push(tokio::spawn(async move {
                let _ = axum::serve(
                    ws,
                    w.into_make_service_with_connect_info::<std::net::SocketAddr>(),
                )
                .await;
            }));
        }
        Ok(Standin {
            http_url: format!("http://{http_addr}"),
            ws_url: format!("ws://{ws_addr}/{}", cfg.ws_stage),
            management_url,
            inner: functions,
            tasks,
        })
    }

    /// Invokes a function with an event, as an AWS service would (EventBridge for a
    /// schedule): its answer, or the error it reported.
    pub async fn invoke(
        &self,
        function: &str,
        event: &serde_json::Value,
    ) -> Result<serde_json::Value, BoxError> {
        match self
            .inner
            .invoke(function, event.to_string().into_bytes())
            .await
        {
            runtime::Outcome::Response(b) => {
                Ok(serde_json::from_slice(&b).unwrap_or(serde_json::Value::Null))
            }
            runtime::Outcome::Error(e) => Err(e.into()),
        }
    }

    /// Sandboxes started so far for a function.
    pub fn sandboxes(&self, function: &str) -> usize {
        self.inner.sandboxes(function)
    }
}

impl Drop for Standin {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
        self.inner.kill_all();
    }
}
