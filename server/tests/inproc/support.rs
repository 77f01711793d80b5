//! The embedded face in-process: the routers `yunqiao serve` runs, over the in-memory
//! store (or the embedded redb store in a temporary directory), the built-in WeChat mock
//! reached without a socket, on a clock the tests move by hand. Requests go through
//! `tower::ServiceExt::oneshot`: no binary is started and no port is opened. Cloud
//! functions run in QuickJS workers as they do under `yunqiao serve` (this package's
//! `yunqiao` executable is the worker program), started only when a test calls one.

use std::sync::Arc;

use async_trait::async_trait;
use axum::Router;
use axum::body::Body;
use http::{Method, Request, StatusCode};
use serde_json::{Value, json};
use tower::ServiceExt;
use yunqiao_api::live::LocalHub;
use yunqiao_api::{AppState, HttpConfig, Sockets, StoreWriters};
use yunqiao_core::clock::{ManualClock, SharedClock};
use yunqiao_core::functions::sandbox::Sandbox;
use yunqiao_core::memory_store::MemoryStore;
use yunqiao_core::store::ItemStore;
use yunqiao_core::wechat::{WeChat, WxAccessToken, WxError, WxReply, WxSession};
use yunqiao_wechat::{MockConfig, WeChatMock};

pub const ADMIN_KEY: &str = "test-admin-key-0123456789";
/// Where the manual clock starts: 2027-01-15.
pub const START_MS: i64 = 1_800_000_000_000;

/// One in-process face: its router and the clock it runs on.
pub struct App {
    router: Router,
    pub clock: ManualClock,
    _dir: Option<tempfile::TempDir>,
}

/// What a request answered.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub text: String,
    pub body: Value,
}

impl Answer {
    /// The error code of an error answer (`""` otherwise).
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }
}

impl App {
    /// On the in-memory store, without cloud functions.
    pub fn memory() -> App {
        let clock = ManualClock::at(START_MS);
        let store: Arc<dyn ItemStore> = Arc::new(MemoryStore::new(Arc::new(clock.clone())));
        build(store, clock, None, None)
    }

    /// On the embedded (redb) store in a fresh temporary directory, without cloud
    /// functions.
    pub fn embedded() -> App {
        let dir = tempfile::tempdir().expect("temp dir");
        let clock = ManualClock::at(START_MS);
        let store = yunqiao_local::LocalStore::open(
            &dir.path().join("yunqiao.redb"),
            Arc::new(clock.clone()),
        )
        .expect("open the embedded store");
        build(Arc::new(store), clock, None, Some(dir))
    }

    /// On the in-memory store with cloud functions (QuickJS workers, as `yunqiao serve`
    /// runs them). Must be called inside a tokio runtime.
    pub fn with_functions() -> App {
        let clock = ManualClock::at(START_MS);
        let store: Arc<dyn ItemStore> = Arc::new(MemoryStore::new(Arc::new(clock.clone())));
        let program = yunqiao_quickjs::WorkerProgram(env!("CARGO_BIN_EXE_yunqiao").into());
        let sandbox: Arc<dyn Sandbox> = Arc::new(yunqiao_quickjs::QuickJs::new(1, program));
        // No background spawner: after-hooks are awaited, so what a test sees next has
        // happened.
        build(store, clock, Some(sandbox), None)
    }

    /// Sends one request through the router; `token` as a bearer token, `body` as JSON.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Answer {
        self.send(method, path, token, &[], body).await
    }

    /// [`App::call`] with extra headers.
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
        body: Option<Value>,
    ) -> Answer {
        let mut req = Request::builder()
            .method(Method::from_bytes(method.as_bytes()).expect("method"))
            .uri(path);
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let req = match body {
            Some(b) => req
                .header("content-type", "application/json")
                .body(Body::from(b.to_string())),
            None => req.body(Body::empty()),
        }
        .expect("request");
        let served = yunqiao_api::served::<Body>(self.router.clone());
        let res = served.oneshot(req).await.expect("infallible");
        let status = res.status();
        let headers = res.headers().clone();
        let bytes = axum::body::to_bytes(res.into_body(), usize::MAX)
            .await
            .expect("body");
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::Null)
        };
        Answer {
            status: status.as_u16(),
            headers,
            text,
            body,
        }
    }

    /// Logs in through the WeChat mock: the token and the user.
    pub async fn login(&self, code: &str) -> (String, Value) {
        let r = self
            .call(
                "POST",
                "/v1/auth/login",
                None,
                Some(json!({ "code": code })),
            )
            .await;
        assert_eq!(r.status, 200, "login {code}: {}", r.text);
        (
            r.body["token"].as_str().expect("token").to_string(),
            r.body["user"].clone(),
        )
    }

    /// An admin-defined table; panics unless it is created or changed.
    pub async fn put_table(&self, table: &str, def: Value) {
        let r = self
            .call(
                "PUT",
                &format!("/v1/tables/{table}"),
                Some(ADMIN_KEY),
                Some(def),
            )
            .await;
        assert!(
            r.status == 200 || r.status == 201,
            "define {table}: {}",
            r.text
        );
    }
}

/// The one place the in-process face is put together (what `serve::build` does, with a
/// manual clock, the given store and functions, and the WeChat mock in-process).
fn build(
    store: Arc<dyn ItemStore>,
    clock: ManualClock,
    sandbox: Option<Arc<dyn Sandbox>>,
    dir: Option<tempfile::TempDir>,
) -> App {
    let shared: SharedClock = Arc::new(clock.clone());
    let mut cfg = yunqiao_config::Config {
        admin_key: Some(ADMIN_KEY.into()),
        ..Default::default()
    };
    cfg.functions.workers = 1;
    let mut builder = AppState::builder()
        .store(store, StoreWriters::OnlyThisProcess)
        .wechat(Arc::new(InProcessWeChat::new(shared.clone())))
        .clock(shared)
        .sockets(Sockets::Local(Arc::new(LocalHub::default())));
    if let Some(sandbox) = sandbox {
        builder = builder.functions(sandbox, Arc::new(yunqiao_core::functions::host::NoOutbound));
    }
    let state = builder.build(&cfg).expect("every adapter given");
    App {
        router: yunqiao_api::app(state, &HttpConfig::from(&cfg)),
        clock,
        _dir: dir,
    }
}

/// The built-in WeChat mock, asked through its router in-process: the mock's own answers
/// (wire format, single-use codes, errcodes), no socket.
pub struct InProcessWeChat {
    mock: Router,
    appid: String,
    secret: String,
}

impl InProcessWeChat {
    pub fn new(clock: SharedClock) -> InProcessWeChat {
        let cfg = MockConfig {
            appid: "wx0000000000mock".into(),
            secret: format!("{:032x}", rand::random::<u128>()),
            unionid: true,
        };
        let (appid, secret) = (cfg.appid.clone(), cfg.secret.clone());
        InProcessWeChat {
            mock: WeChatMock::new(cfg, clock).router(),
            appid,
            secret,
        }
    }

    async fn ask(
        &self,
        method: Method,
        uri: String,
        body: Option<Value>,
    ) -> Result<Value, WxError> {
        let req = Request::builder().method(method).uri(uri);
        let req = match body {
            Some(b) => req
                .header("content-type", "application/json")
                .body(Body::from(b.to_string())),
            None => req.body(Body::empty()),
        }
        .map_err(|e| WxError::Transport(e.to_string()))?;
        let res = self
            .mock
            .clone()
            .oneshot(req)
            .await
            .map_err(|e| WxError::Transport(e.to_string()))?;
        if res.status() != StatusCode::OK {
            return Err(WxError::Transport(format!("HTTP {}", res.status())));
        }
        let bytes = axum::body::to_bytes(res.into_body(), usize::MAX)
            .await
            .map_err(|e| WxError::Transport(e.to_string()))?;
        let v: Value =
            serde_json::from_slice(&bytes).map_err(|e| WxError::Transport(e.to_string()))?;
        match v["errcode"].as_i64().unwrap_or(0) {
            0 => Ok(v),
            errcode => Err(WxError::Api {
                errcode,
                errmsg: v["errmsg"].as_str().unwrap_or("").into(),
            }),
        }
    }
}

/// Percent-encodes a query value.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[async_trait]
impl WeChat for InProcessWeChat {
    async fn code_to_session(&self, code: &str) -> Result<WxSession, WxError> {
        let v = self
            .ask(
                Method::GET,
                format!(
                    "/sns/jscode2session?appid={}&secret={}&js_code={}&grant_type=authorization_code",
                    self.appid,
                    self.secret,
                    encode(code)
                ),
                None,
            )
            .await?;
        Ok(WxSession {
            openid: v["openid"].as_str().unwrap_or_default().into(),
            unionid: v["unionid"]
                .as_str()
                .filter(|u| !u.is_empty())
                .map(String::from),
            session_key: v["session_key"].as_str().unwrap_or_default().into(),
        })
    }

    async fn stable_token(&self, force_refresh: bool) -> Result<WxAccessToken, WxError> {
        let v = self
            .ask(
                Method::POST,
                "/cgi-bin/stable_token".into(),
                Some(
                    json!({"grant_type": "client_credential", "appid": self.appid,
                    "secret": self.secret, "force_refresh": force_refresh}),
                ),
            )
            .await?;
        Ok(WxAccessToken {
            token: v["access_token"].as_str().unwrap_or_default().into(),
            expires_in: v["expires_in"].as_i64().unwrap_or_default(),
        })
    }

    async fn post(&self, path: &str, token: &str, body: &Value) -> Result<WxReply, WxError> {
        let v = self
            .ask(
                Method::POST,
                format!("{path}?access_token={}", encode(token)),
                Some(body.clone()),
            )
            .await?;
        Ok(WxReply::Json(v))
    }
}
