//! The built-in WeChat mock: part of the product, so that local development and tests
//! need no network. It speaks WeChat's real wire formats (see WECHAT.md in the brief):
//!
//! * `GET /sns/jscode2session` — for codes it issued (`POST /mock/login-code`) and for
//!   codes of the form `mock:<name>` or `mock:<name>:<nonce>`. The openid is stable per
//!   name; every code works once (40163 after), issued codes for 5 minutes (40029
//!   after). `mock-error:<errcode>` answers that errcode. More than 100 logins of one
//!   name in a minute answer 45011, as WeChat does.
//! * `POST /cgi-bin/stable_token` — access tokens valid 7200 s, renewed in their last
//!   5 minutes or on `force_refresh`.
//! * `POST /wxa/business/getuserphonenumber?access_token=` — for codes issued by
//!   `POST /mock/phone-code` or of the form `mock-phone:<digits>` or
//!   `mock-phone:<digits>:<nonce>`; every code works once (40029 after), as WeChat's do.
//! * `POST /mock/expire-access-tokens` — expires every token (the next call gets 42001),
//!   to exercise clients' refresh.
//!
//! Answers to jscode2session are sent as `text/plain`, as WeChat sometimes does.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use rand::RngCore;
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use yunqiao_core::clock::SharedClock;

const CODE_TTL_MS: i64 = 5 * 60 * 1000;
const TOKEN_TTL_S: i64 = 7200;
/// Within its last 5 minutes a token is renewed on request; the old one keeps working
/// until it expires, as WeChat does.
const TOKEN_RENEW_MS: i64 = 5 * 60 * 1000;
const LOGINS_PER_MINUTE: u32 = 100;

#[derive(Debug, Clone)]
pub struct MockConfig {
    pub appid: String,
    pub secret: String,
    /// Whether `mock:<name>` logins carry a unionid.
    pub unionid: bool,
}

struct IssuedCode {
    name: String,
    unionid: bool,
    issued_at: i64,
}

#[derive(Default)]
struct MockState {
    login_codes: HashMap<String, IssuedCode>,
    phone_codes: HashMap<String, (String, i64)>,
    used: HashSet<String>,
    /// token → expiry (ms)
    tokens: HashMap<String, i64>,
    current_token: Option<String>,
    per_minute: HashMap<(String, i64), u32>,
}

#[derive(Clone)]
pub struct WeChatMock {
    cfg: Arc<MockConfig>,
    clock: SharedClock,
    state: Arc<Mutex<MockState>>,
}

fn wx_error(errcode: i64, errmsg: &str) -> Response {
    Json(json!({ "errcode": errcode, "errmsg": errmsg })).into_response()
}

fn random_b64(n: usize) -> String {
    let mut b = vec![0u8; n];
    rand::thread_rng().fill_bytes(&mut b);
    base64::engine::general_purpose::STANDARD.encode(b)
}

fn random_code() -> String {
    let mut b = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn valid_name(n: &str) -> bool {
    !n.is_empty()
        && n.len() <= 64
        && n.bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"_-.@".contains(&c))
}

#[derive(Deserialize)]
struct Code2SessionParams {
    appid: Option<String>,
    secret: Option<String>,
    js_code: Option<String>,
    grant_type: Option<String>,
}

#[derive(Deserialize)]
struct TokenBody {
    grant_type: Option<String>,
    appid: Option<String>,
    secret: Option<String>,
    #[serde(default)]
    force_refresh: bool,
}

#[derive(Deserialize)]
struct TokenParam {
    access_token: Option<String>,
}

#[derive(Deserialize)]
struct LoginCodeBody {
    name: String,
    #[serde(default = "yes")]
    unionid: bool,
}

fn yes() -> bool {
    true
}

#[derive(Deserialize)]
struct PhoneCodeBody {
    phone: String,
}

impl WeChatMock {
    pub fn new(cfg: MockConfig, clock: SharedClock) -> Self {
        WeChatMock {
            cfg: Arc::new(cfg),
            clock,
            state: Arc::new(Mutex::new(MockState::default())),
        }
    }

    pub fn router(&self) -> Router {
        Router::new()
            .route("/sns/jscode2session", get(code2session))
            .route("/cgi-bin/stable_token", post(stable_token))
            .route("/wxa/business/getuserphonenumber", post(phone_number))
            .route("/mock/login-code", post(issue_login_code))
            .route("/mock/phone-code", post(issue_phone_code))
            .route("/mock/expire-access-tokens", post(expire_tokens))
            .with_state(self.clone())
    }

    /// The openid WeChat would give this name in this app: stable, opaque, 28 characters.
    pub fn openid_for(&self, name: &str) -> String {
        self.derive("openid", name, 'o')
    }

    pub fn unionid_for(&self, name: &str) -> String {
        // A unionid spans the apps of one developer: it does not depend on the appid.
        let h = Sha256::digest(format!("unionid\0{name}").as_bytes());
        format!(
            "u{}",
            &base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(h)[..27]
        )
    }

    fn derive(&self, what: &str, name: &str, prefix: char) -> String {
        let h = Sha256::digest(format!("{what}\0{}\0{name}", self.cfg.appid).as_bytes());
        format!(
            "{prefix}{}",
            &base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(h)[..27]
        )
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, MockState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The errcode for wrong app credentials, if they are wrong.
    fn check_app(
        &self,
        appid: Option<&str>,
        secret: Option<&str>,
    ) -> Result<(), (i64, &'static str)> {
        if appid != Some(self.cfg.appid.as_str()) {
            return Err((40013, "invalid appid"));
        }
        if secret != Some(self.cfg.secret.as_str()) {
            return Err((40125, "invalid appsecret"));
        }
        Ok(())
    }
}

async fn code2session(
    State(m): State<WeChatMock>,
    Query(p): Query<Code2SessionParams>,
) -> Response {
    if let Err((code, msg)) = m.check_app(p.appid.as_deref(), p.secret.as_deref()) {
        return wx_error(code, msg);
    }
    if p.grant_type.as_deref() != Some("authorization_code") {
        return wx_error(40002, "invalid grant_type");
    }
    let Some(code) = p.js_code.filter(|c| !c.is_empty()) else {
        return wx_error(41008, "missing code");
    };
    if let Some(errcode) = code.strip_prefix("mock-error:") {
        let errcode: i64 = errcode.parse().unwrap_or(-1);
        return wx_error(errcode, "mock error");
    }
    let now = m.clock.now_ms();
    let (name, unionid) = {
        let mut st = m.lock();
        let (name, unionid) = if let Some(issued) = st.login_codes.get(&code) {
            if now - issued.issued_at > CODE_TTL_MS {
                return wx_error(40029, "invalid code");
            }
            (issued.name.clone(), issued.unionid)
        } else if let Some(rest) = code.strip_prefix("mock:") {
            let name = rest.split(':').next().unwrap_or_default().to_string();
            if !valid_name(&name) {
                return wx_error(40029, "invalid code");
            }
            (name, m.cfg.unionid)
        } else {
            return wx_error(40029, "invalid code");
        };
        if !st.used.insert(code.clone()) {
            return wx_error(40163, "code been used");
        }
        let minute = now.div_euclid(60_000);
        let count = st.per_minute.entry((name.clone(), minute)).or_default();
        *count += 1;
        if *count > LOGINS_PER_MINUTE {
            return wx_error(
                45011,
                "api minute-quota reach limit  mustslower  retry next minute",
            );
        }
        st.per_minute.retain(|(_, m), _| *m >= minute - 1);
        (name, unionid)
    };
    let mut body = json!({
        "session_key": random_b64(16),
        "openid": m.openid_for(&name),
    });
    if unionid {
        body["unionid"] = json!(m.unionid_for(&name));
    }
    ([(header::CONTENT_TYPE, "text/plain")], body.to_string()).into_response()
}

async fn stable_token(State(m): State<WeChatMock>, body: axum::body::Bytes) -> Response {
    let Ok(b) = serde_json::from_slice::<TokenBody>(&body) else {
        return wx_error(47001, "data format error");
    };
    if b.grant_type.as_deref() != Some("client_credential") {
        return wx_error(40002, "invalid grant_type");
    }
    if let Err((code, msg)) = m.check_app(b.appid.as_deref(), b.secret.as_deref()) {
        return wx_error(code, msg);
    }
    let now = m.clock.now_ms();
    let mut st = m.lock();
    let current = st.current_token.clone().and_then(|t| {
        st.tokens
            .get(&t)
            .copied()
            .filter(|exp| *exp - TOKEN_RENEW_MS > now)
            .map(|exp| (t, exp))
    });
    let (token, exp) = match current {
        Some(cur) if !b.force_refresh => cur,
        _ => {
            let t = random_code();
            let exp = now + TOKEN_TTL_S * 1000;
            st.tokens.insert(t.clone(), exp);
            st.current_token = Some(t.clone());
            (t, exp)
        }
    };
    Json(json!({ "access_token": token, "expires_in": (exp - now) / 1000 })).into_response()
}

async fn phone_number(
    State(m): State<WeChatMock>,
    Query(t): Query<TokenParam>,
    body: axum::body::Bytes,
) -> Response {
    let now = m.clock.now_ms();
    let Some(token) = t.access_token.filter(|t| !t.is_empty()) else {
        return wx_error(41001, "access_token missing");
    };
    let code = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| v.get("code").and_then(Value::as_str).map(str::to_string));
    let mut st = m.lock();
    match st.tokens.get(&token) {
        None => {
            return wx_error(
                40001,
                "invalid credential, access_token is invalid or not latest",
            );
        }
        Some(exp) if *exp <= now => return wx_error(42001, "access_token expired"),
        Some(_) => {}
    }
    let Some(code) = code.filter(|c| !c.is_empty()) else {
        return wx_error(41008, "missing code");
    };
    let phone = if let Some((phone, at)) = st.phone_codes.get(&code) {
        (now - at <= CODE_TTL_MS).then(|| phone.clone())
    } else {
        // `mock-phone:<digits>` or `mock-phone:<digits>:<nonce>` (each nonce a new code,
        // as `mock:<name>:<nonce>` is for logins).
        code.strip_prefix("mock-phone:")
            .map(|rest| rest.split_once(':').map_or(rest, |(d, _)| d))
            .filter(|d| !d.is_empty() && d.len() <= 15 && d.bytes().all(|c| c.is_ascii_digit()))
            .map(str::to_string)
    };
    let Some(phone) = phone else {
        return wx_error(40029, "invalid code");
    };
    if !st.used.insert(code) {
        return wx_error(40029, "invalid code");
    }
    Json(json!({
        "errcode": 0,
        "errmsg": "ok",
        "phone_info": {
            "phoneNumber": phone,
            "purePhoneNumber": phone,
            "countryCode": 86,
            "watermark": { "timestamp": now / 1000, "appid": m.cfg.appid }
        }
    }))
    .into_response()
}

async fn issue_login_code(State(m): State<WeChatMock>, body: axum::body::Bytes) -> Response {
    let Ok(b) = serde_json::from_slice::<LoginCodeBody>(&body) else {
        return (
            axum::http::StatusCode::BAD_REQUEST,
            Json(json!({"error": "body must be {\"name\": string}"})),
        )
            .into_response();
    };
    if !valid_name(&b.name) {
        return (
            axum::http::StatusCode::BAD_REQUEST,
            Json(json!({"error": "name: 1 to 64 of A-Z a-z 0-9 _ - . @"})),
        )
            .into_response();
    }
    let code = random_code();
    let issued = IssuedCode {
        name: b.name,
        unionid: b.unionid,
        issued_at: m.clock.now_ms(),
    };
    m.lock().login_codes.insert(code.clone(), issued);
    Json(json!({ "code": code })).into_response()
}

async fn issue_phone_code(State(m): State<WeChatMock>, body: axum::body::Bytes) -> Response {
    let phone = serde_json::from_slice::<PhoneCodeBody>(&body)
        .ok()
        .map(|b| b.phone)
        .filter(|p| !p.is_empty() && p.len() <= 15 && p.bytes().all(|c| c.is_ascii_digit()));
    let Some(phone) = phone else {
        return (
            axum::http::StatusCode::BAD_REQUEST,
            Json(json!({"error": "body must be {\"phone\": digits}"})),
        )
            .into_response();
    };
    let code = random_code();
    let now = m.clock.now_ms();
    m.lock().phone_codes.insert(code.clone(), (phone, now));
    Json(json!({ "code": code })).into_response()
}

async fn expire_tokens(State(m): State<WeChatMock>) -> Response {
    let now = m.clock.now_ms();
    for exp in m.lock().tokens.values_mut() {
        *exp = now;
    }
    Json(json!({})).into_response()
}
