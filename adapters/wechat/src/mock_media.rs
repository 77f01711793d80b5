//! The mock's media checks and the push target they report to:
//!
//! * `POST /wxa/media_check_async?access_token=` (v2) — `{media_url, media_type: 1 | 2,
//!   version: 2, openid, scene: 1–4}` → `{errcode: 0, trace_id}`; the check waits, as
//!   WeChat's does (up to 30 minutes there), until the test delivers it. 40003 for an
//!   openid the mock never logged in, 47001 for anything else malformed.
//! * `GET /mock/media-checks` — `{"checks": [{trace_id, media_url, media_type, openid,
//!   delivered}]}`, oldest first.
//! * `POST /mock/media-checks/deliver {"trace_id"?, "suggest"?, "errcode"?}` — pushes the
//!   verdict of the named check (again, if delivered before: WeChat's retries), or of
//!   every undelivered one, as the event `wxa_media_check` to the push target, signed
//!   and, with an EncodingAESKey, encrypted. The verdict is `suggest` when given, else
//!   chosen by a marker in the downloaded bytes: `[risky]` → `risky` (label 20002),
//!   `[review]` → `review` (21000), anything else `pass` (100); bytes that cannot be
//!   downloaded give errcode -1008, as WeChat's do. Answers `{"delivered": [{trace_id,
//!   suggest, errcode, status, body}]}` (what the push URL answered).
//! * `POST /mock/push-target {"url", "token", "aes_key"?, "format"?: "json" | "xml"}` —
//!   where verdicts go: the mini-program's message-push settings. `yunqiao serve` sets
//!   it to its own `/v1/wechat/push` when a push Token is configured.

use axum::Json;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use rand::RngCore;
use serde::Deserialize;
use serde_json::{Value, json};
use yunqiao_core::wechat::push::{PushFormat, PushSecrets, make_push};

use super::{TokenParam, WeChatMock, authorized, random_code, wx_error};

/// Where the mock pushes events: the message-push URL, Token, EncodingAESKey and format
/// of the mini-program's admin.
#[derive(Clone)]
pub struct PushTarget {
    pub url: String,
    pub secrets: PushSecrets,
    pub format: PushFormat,
}

pub(super) struct MediaCheck {
    trace_id: String,
    media_url: String,
    media_type: i64,
    openid: String,
    delivered: bool,
}

impl WeChatMock {
    /// Sets where events (media checks' verdicts) are pushed.
    pub fn set_push_target(&self, target: PushTarget) {
        self.lock().push_target = Some(target);
    }
}

pub(super) async fn media_check_async(
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
    let url = b["media_url"].as_str().unwrap_or_default();
    let media_type = b["media_type"].as_i64().unwrap_or(0);
    let scene_ok = b["scene"].as_i64().is_some_and(|s| (1..=4).contains(&s));
    if b["version"] != json!(2)
        || !(url.starts_with("http://") || url.starts_with("https://"))
        || url.len() > 4096
        || ![1, 2].contains(&media_type)
        || !scene_ok
    {
        return wx_error(47001, "data format error");
    }
    let openid = b["openid"].as_str().unwrap_or_default().to_string();
    if !st.openids.contains(&openid) {
        return wx_error(40003, "invalid openid");
    }
    let trace_id = random_code();
    st.media_checks.push(MediaCheck {
        trace_id: trace_id.clone(),
        media_url: url.to_string(),
        media_type,
        openid,
        delivered: false,
    });
    Json(json!({"errcode": 0, "errmsg": "ok", "trace_id": trace_id})).into_response()
}

pub(super) async fn list_checks(State(m): State<WeChatMock>) -> Response {
    let st = m.lock();
    let checks: Vec<Value> = st
        .media_checks
        .iter()
        .map(|c| {
            json!({"trace_id": c.trace_id, "media_url": c.media_url, "media_type": c.media_type,
                   "openid": c.openid, "delivered": c.delivered})
        })
        .collect();
    Json(json!({ "checks": checks })).into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct DeliverBody {
    trace_id: Option<String>,
    suggest: Option<String>,
    errcode: Option<i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct TargetBody {
    url: String,
    token: String,
    aes_key: Option<String>,
    format: Option<String>,
}

pub(super) fn format_named(name: Option<&str>) -> Option<PushFormat> {
    match name {
        None | Some("json") => Some(PushFormat::Json),
        Some("xml") => Some(PushFormat::Xml),
        _ => None,
    }
}

pub(super) async fn set_target(State(m): State<WeChatMock>, body: axum::body::Bytes) -> Response {
    let Ok(b) = serde_json::from_slice::<TargetBody>(&body) else {
        return wx_error(47001, "data format error: {url, token, aes_key?, format?}");
    };
    let Some(format) = format_named(b.format.as_deref()) else {
        return wx_error(47001, "format is json or xml");
    };
    if !(b.url.starts_with("http://") || b.url.starts_with("https://")) {
        return wx_error(47001, "url is http(s)");
    }
    let secrets = match PushSecrets::new(&b.token, b.aes_key.as_deref()) {
        Ok(s) => s,
        Err(e) => return wx_error(47001, &e),
    };
    m.set_push_target(PushTarget {
        url: b.url,
        secrets,
        format,
    });
    Json(json!({"errcode": 0, "errmsg": "ok"})).into_response()
}

/// The verdict the bytes at `url` get: a marker in them, or -1008 when they cannot be
/// downloaded.
async fn verdict_of(url: &str) -> (&'static str, i64, i64) {
    let got = match reqwest::get(url).await {
        Ok(r) if r.status().is_success() => r.bytes().await.ok(),
        _ => None,
    };
    let Some(bytes) = got else {
        return ("", 0, -1008);
    };
    let has = |marker: &[u8]| bytes.windows(marker.len()).any(|w| w == marker);
    if has(b"[risky]") {
        ("risky", 20002, 0)
    } else if has(b"[review]") {
        ("review", 21000, 0)
    } else {
        ("pass", 100, 0)
    }
}

pub(super) async fn deliver(State(m): State<WeChatMock>, body: axum::body::Bytes) -> Response {
    let b = if body.is_empty() {
        DeliverBody {
            trace_id: None,
            suggest: None,
            errcode: None,
        }
    } else {
        match serde_json::from_slice::<DeliverBody>(&body) {
            Ok(b) => b,
            Err(_) => return wx_error(47001, "data format error: {trace_id?, suggest?, errcode?}"),
        }
    };
    if let Some(s) = &b.suggest
        && !["pass", "review", "risky"].contains(&s.as_str())
    {
        return wx_error(47001, "suggest is pass, review or risky");
    }
    let (target, due) = {
        let st = m.lock();
        let Some(target) = st.push_target.clone() else {
            return wx_error(-1, "no push target: POST /mock/push-target first");
        };
        let due: Vec<(String, String, String)> = st
            .media_checks
            .iter()
            .filter(|c| match &b.trace_id {
                Some(t) => &c.trace_id == t,
                None => !c.delivered,
            })
            .map(|c| (c.trace_id.clone(), c.media_url.clone(), c.openid.clone()))
            .collect();
        (target, due)
    };
    if b.trace_id.is_some() && due.is_empty() {
        return wx_error(40001, "no such trace_id");
    }
    let mut out = Vec::new();
    for (trace_id, url, openid) in due {
        let (mut suggest, mut label, mut errcode) = verdict_of(&url).await;
        if let Some(s) = &b.suggest {
            suggest = match s.as_str() {
                "risky" => "risky",
                "review" => "review",
                _ => "pass",
            };
            label = match suggest {
                "risky" => 20002,
                "review" => 21000,
                _ => 100,
            };
            errcode = 0;
        }
        if let Some(e) = b.errcode {
            errcode = e;
        }
        let mut event = json!({
            "ToUserName": "gh_0000mock0000", "FromUserName": openid,
            "CreateTime": m.clock.now_secs(), "MsgType": "event", "Event": "wxa_media_check",
            "appid": m.cfg.appid, "trace_id": trace_id, "version": 2,
            "errcode": errcode, "errmsg": if errcode == 0 { "ok" } else { "media download failed" },
        });
        if errcode == 0 {
            event["result"] = json!({"suggest": suggest, "label": label});
            event["detail"] = json!([{"strategy": "content_model", "errcode": 0,
                                      "suggest": suggest, "label": label, "prob": 90}]);
        }
        let (status, text) = send(&m, &target, &event).await;
        if (200..300).contains(&status) {
            let mut st = m.lock();
            if let Some(c) = st.media_checks.iter_mut().find(|c| c.trace_id == trace_id) {
                c.delivered = true;
            }
        }
        out.push(
            json!({"trace_id": trace_id, "suggest": suggest, "errcode": errcode,
                        "status": status, "body": text}),
        );
    }
    Json(json!({ "delivered": out })).into_response()
}

/// Pushes `event` to `target` as WeChat does; the URL's status and body (status 0 when
/// it cannot be reached).
pub(super) async fn send(m: &WeChatMock, target: &PushTarget, event: &Value) -> (u16, String) {
    let mut random = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut random);
    let nonce = (rand::thread_rng().next_u32() % 1_000_000_000).to_string();
    let (query, payload) = make_push(
        &target.secrets,
        &m.cfg.appid,
        event,
        m.clock.now_secs(),
        &nonce,
        &random,
        target.format,
    );
    let sent = reqwest::Client::new()
        .post(&target.url)
        .query(&query)
        .header("content-type", target.format.content_type())
        .body(payload)
        .send()
        .await;
    match sent {
        Ok(r) => (r.status().as_u16(), r.text().await.unwrap_or_default()),
        Err(_) => (0, String::new()),
    }
}
