//! The built-in WeChat mock: part of the product, so that local development and tests
//! need no network. It speaks WeChat's real wire formats (see WECHAT.md in the brief):
//!
//! * `GET /sns/jscode2session` — for codes it issued (`POST /mock/login-code`) and for
//!   codes of the form `mock:<name>` or `mock:<name>:<nonce>`. The openid is stable per
//!   name (`POST /mock/login-code {"openid"}` issues a code for a given openid instead:
//!   a user moved in from an export); every code works once (40163 after), issued codes for 5 minutes (40029
//!   after). `mock-error:<errcode>` answers that errcode. More than 100 logins of one
//!   name in a minute answer 45011, as WeChat does.
//! * `POST /cgi-bin/stable_token` — access tokens valid 7200 s, renewed in their last
//!   5 minutes or on `force_refresh`.
//! * `POST /wxa/business/getuserphonenumber?access_token=` — for codes issued by
//!   `POST /mock/phone-code` or of the form `mock-phone:<digits>` or
//!   `mock-phone:<digits>:<nonce>`; every code works once (40029 after), as WeChat's do.
//! * `POST /mock/expire-access-tokens` — expires every token (the next call gets 42001),
//!   to exercise clients' refresh.
//! * `POST /wxa/msg_sec_check?access_token=` (v2) — the verdict is chosen by a marker in
//!   the content: `[risky]` → `risky` (label 20001), `[review]` → `review` (label
//!   21000), anything else → `pass` (100). The openid must be one the mock logged in
//!   (40003 otherwise); a body that is not v2 with a scene of 1 to 4 and content of 1
//!   to 2500 characters is 47001.
//! * `POST /cgi-bin/message/subscribe/send?access_token=` — delivers (records) the
//!   message when the user accepted the template, spending that acceptance (WeChat's
//!   one-time subscriptions); 43101 otherwise; 40003 for an unknown openid, 40037 for
//!   an empty template id, 47003 when `data` is not an object.
//! * `POST /mock/subscriptions {"name" | "openid", "template_id", "times"?}` — what
//!   `wx.requestSubscribeMessage` stands for: the user accepts the template (`times`
//!   messages, default 1).
//! * `GET /mock/subscribe-messages` — every message delivered, oldest first.
//! * `POST /wxa/getwxacodeunlimit?access_token=` — a real QR code of the scene (a PNG
//!   that decodes back to it), WeChat's JSON errors for a bad scene (40169) or page
//!   (41030; `pages/missing…` stands for a page the released app lacks) — see
//!   `mock_qrcode.rs`.
//! * `GET /mock/stats` — `{"token_fetches", "qrcode_calls"}`: how many times
//!   `stable_token` was called, so tests can show that processes share one token, and
//!   how many QR images were drawn, so they can show one is made once.
//! * `GET /mock/access-tokens` — `{"tokens"}`: every token the mock issued, so tests can
//!   show none of them reaches an answer or a log line. (Mock tokens open nothing but
//!   the mock.)
//!
//! * `POST /mock/push` — fires any event at a message-push URL, signed and, with an
//!   EncodingAESKey, encrypted as WeChat does (see `mock_push.rs`).
//! * `POST /wxa/media_check_async`, `GET /mock/media-checks`,
//!   `POST /mock/media-checks/deliver`, `POST /mock/push-target` — media checks whose
//!   verdict the test chooses and delivers as a pushed event (see `mock_media.rs`).
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

#[path = "mock_media.rs"]
mod media;
#[path = "mock_push.rs"]
mod push;
#[path = "mock_qrcode.rs"]
mod qrcode;

pub use media::PushTarget;

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
    openid: Option<String>,
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
    /// `stable_token` calls answered.
    token_fetches: u64,
    /// Openids of users who logged in.
    openids: HashSet<String>,
    /// (openid, template id) → messages the user accepted and that were not sent yet.
    subscriptions: HashMap<(String, String), u32>,
    /// Subscribe messages delivered.
    sent: Vec<Value>,
    /// Media checks asked for, oldest first.
    media_checks: Vec<media::MediaCheck>,
    /// Where pushed events go.
    push_target: Option<PushTarget>,
    /// QR code images drawn (`getwxacodeunlimit` answered with an image).
    qrcode_calls: u64,
}

#[derive(Clone)]
pub struct WeChatMock {
    cfg: Arc<MockConfig>,
    clock: SharedClock,
    state: Arc<Mutex<MockState>>,
    pay: crate::mock_pay::PayMock,
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
    #[serde(default)]
    name: String,
    #[serde(default = "yes")]
    unionid: bool,
    /// The openid the code logs in as, instead of the one derived from `name`: a user
    /// moved in from elsewhere (an export of another server or backend) whose openid
    /// this mock did not make.
    #[serde(default)]
    openid: Option<String>,
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
            pay: crate::mock_pay::PayMock::new(&cfg.appid, clock.clone()),
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
            .route("/wxa/msg_sec_check", post(msg_sec_check))
            .route("/wxa/getwxacodeunlimit", post(qrcode::getwxacodeunlimit))
            .route("/cgi-bin/message/subscribe/send", post(subscribe_send))
            .route("/mock/subscriptions", post(accept_subscription))
            .route("/mock/subscribe-messages", get(sent_messages))
            .route("/mock/stats", get(stats))
            .route("/mock/access-tokens", get(access_tokens))
            .route("/mock/push", post(push::fire))
            .route("/wxa/media_check_async", post(media::media_check_async))
            .route("/mock/media-checks", get(media::list_checks))
            .route("/mock/media-checks/deliver", post(media::deliver))
            .route("/mock/push-target", post(media::set_target))
            .with_state(self.clone())
            .merge(self.pay.router())
    }

    /// The merchant's side of the WeChat Pay mock's keys (`mock_pay`).
    pub fn pay_setup(&self) -> crate::mock_pay::MockPaySetup {
        self.pay.setup()
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
    let (name, unionid, fixed) = {
        let mut st = m.lock();
        let (name, unionid, fixed) = if let Some(issued) = st.login_codes.get(&code) {
            if now - issued.issued_at > CODE_TTL_MS {
                return wx_error(40029, "invalid code");
            }
            (issued.name.clone(), issued.unionid, issued.openid.clone())
        } else if let Some(rest) = code.strip_prefix("mock:") {
            let name = rest.split(':').next().unwrap_or_default().to_string();
            if !valid_name(&name) {
                return wx_error(40029, "invalid code");
            }
            (name, m.cfg.unionid, None)
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
        (name, unionid, fixed)
    };
    let openid = fixed.unwrap_or_else(|| m.openid_for(&name));
    m.lock().openids.insert(openid.clone());
    let mut body = json!({
        "session_key": random_b64(16),
        "openid": openid,
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
    st.token_fetches += 1;
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
    if let Err((code, msg)) = token_check(&st, &token, now) {
        return wx_error(code, msg);
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
    let openid_ok = |o: &str| {
        (1..=128).contains(&o.len())
            && o.bytes()
                .all(|c| c.is_ascii_alphanumeric() || b"_-".contains(&c))
    };
    let name = match &b.openid {
        Some(o) if !openid_ok(o) => {
            return (
                axum::http::StatusCode::BAD_REQUEST,
                Json(json!({"error": "openid: 1 to 128 of A-Z a-z 0-9 _ -"})),
            )
                .into_response();
        }
        // Logins are counted per name: a fixed openid counts as its own.
        Some(o) if b.name.is_empty() => format!("openid.{}", &o[..o.len().min(50)]),
        _ => b.name,
    };
    if !valid_name(&name) {
        return (
            axum::http::StatusCode::BAD_REQUEST,
            Json(json!({"error": "name: 1 to 64 of A-Z a-z 0-9 _ - . @"})),
        )
            .into_response();
    }
    let code = random_code();
    let issued = IssuedCode {
        openid: b.openid,
        name,
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

/// WeChat's answer to a missing, unknown or expired access token.
fn token_check(st: &MockState, token: &str, now: i64) -> Result<(), (i64, &'static str)> {
    match st.tokens.get(token) {
        None => Err((
            40001,
            "invalid credential, access_token is invalid or not latest",
        )),
        Some(exp) if *exp <= now => Err((42001, "access_token expired")),
        Some(_) => Ok(()),
    }
}

/// The access token of a call, checked; the locked state on success, WeChat's errcode
/// otherwise.
fn authorized(
    m: &WeChatMock,
    t: TokenParam,
) -> Result<std::sync::MutexGuard<'_, MockState>, (i64, &'static str)> {
    let Some(token) = t.access_token.filter(|t| !t.is_empty()) else {
        return Err((41001, "access_token missing"));
    };
    let now = m.clock.now_ms();
    let st = m.lock();
    token_check(&st, &token, now)?;
    Ok(st)
}

async fn msg_sec_check(
    State(m): State<WeChatMock>,
    Query(t): Query<TokenParam>,
    body: axum::body::Bytes,
) -> Response {
    let st = match authorized(&m, t) {
        Ok(st) => st,
        Err((code, msg)) => return wx_error(code, msg),
    };
    let Ok(b) = serde_json::from_slice::<Value>(&body) else {
        return wx_error(47001, "data format error");
    };
    if b["version"] != json!(2) {
        return wx_error(47001, "data format error: version must be 2");
    }
    let scene_ok = b["scene"].as_i64().is_some_and(|s| (1..=4).contains(&s));
    let content = b["content"].as_str().unwrap_or_default();
    let n = content.chars().count();
    if !scene_ok || n == 0 || n > 2500 {
        return wx_error(47001, "data format error");
    }
    let openid = b["openid"].as_str().unwrap_or_default();
    if !st.openids.contains(openid) {
        return wx_error(40003, "invalid openid");
    }
    drop(st);
    let (suggest, label) = if content.contains("[risky]") {
        ("risky", 20001)
    } else if content.contains("[review]") {
        ("review", 21000)
    } else {
        ("pass", 100)
    };
    Json(json!({
        "errcode": 0, "errmsg": "ok", "trace_id": random_code(),
        "result": {"suggest": suggest, "label": label},
        "detail": [{"strategy": "content_model", "errcode": 0, "suggest": suggest, "label": label, "prob": 90}],
    }))
    .into_response()
}

async fn subscribe_send(
    State(m): State<WeChatMock>,
    Query(t): Query<TokenParam>,
    body: axum::body::Bytes,
) -> Response {
    let mut st = match authorized(&m, t) {
        Ok(st) => st,
        Err((code, msg)) => return wx_error(code, msg),
    };
    let Ok(b) = serde_json::from_slice::<Value>(&body) else {
        return wx_error(47001, "data format error");
    };
    let openid = b["touser"].as_str().unwrap_or_default().to_string();
    let template = b["template_id"].as_str().unwrap_or_default().to_string();
    if !st.openids.contains(&openid) {
        return wx_error(40003, "invalid openid");
    }
    if template.is_empty() {
        return wx_error(40037, "invalid template_id");
    }
    if !b["data"].is_object() {
        return wx_error(47003, "argument invalid! data.");
    }
    let key = (openid, template);
    match st.subscriptions.get_mut(&key) {
        Some(n) if *n > 0 => *n -= 1,
        _ => return wx_error(43101, "user refuse to accept the msg"),
    }
    st.sent.push(b);
    Json(json!({"errcode": 0, "errmsg": "ok", "msgid": st.sent.len()})).into_response()
}

#[derive(Deserialize)]
struct AcceptBody {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    openid: Option<String>,
    template_id: String,
    #[serde(default)]
    times: Option<u32>,
}

async fn accept_subscription(State(m): State<WeChatMock>, body: axum::body::Bytes) -> Response {
    let bad = |msg: &str| {
        (
            axum::http::StatusCode::BAD_REQUEST,
            Json(json!({ "error": msg })),
        )
            .into_response()
    };
    let Ok(b) = serde_json::from_slice::<AcceptBody>(&body) else {
        return bad("body must be {\"name\" or \"openid\", \"template_id\", \"times\"?}");
    };
    let openid = match (b.name, b.openid) {
        (Some(n), None) if valid_name(&n) => m.openid_for(&n),
        (None, Some(o)) if !o.is_empty() => o,
        _ => return bad("give one of name (a mock user) or openid"),
    };
    if b.template_id.is_empty() || b.template_id.len() > 128 {
        return bad("template_id: 1 to 128 characters");
    }
    let times = b.times.unwrap_or(1).min(1000);
    *m.lock()
        .subscriptions
        .entry((openid.clone(), b.template_id))
        .or_default() += times;
    Json(json!({ "openid": openid })).into_response()
}

async fn sent_messages(State(m): State<WeChatMock>) -> Response {
    Json(json!({ "messages": m.lock().sent })).into_response()
}

async fn stats(State(m): State<WeChatMock>) -> Response {
    let st = m.lock();
    Json(json!({ "token_fetches": st.token_fetches, "qrcode_calls": st.qrcode_calls }))
        .into_response()
}

async fn access_tokens(State(m): State<WeChatMock>) -> Response {
    let tokens: Vec<String> = m.lock().tokens.keys().cloned().collect();
    Json(json!({ "tokens": tokens })).into_response()
}
