//! `POST /mock/push`: fires a pushed event at a message-push URL as WeChat would,
//! signed with the given Token and, with an EncodingAESKey, encrypted for the app (the
//! mock's own app id unless `appid` says another). Body:
//!
//! ```json
//! {"url": "http://127.0.0.1:8787/v1/wechat/push", "token": "…", "aes_key": "…"?,
//!  "event": {…}, "appid": "…"?, "timestamp": 1764748800?, "nonce": "…"?,
//!  "format": "json" | "xml"?}
//! ```
//!
//! `timestamp` defaults to now, `nonce` to a fresh one. Answers what the URL answered,
//! and the request sent, so a test can send it again: `{"status", "body", "query":
//! [[name, value], …], "payload"}` (`payload`: the body sent, a string).

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use rand::RngCore;
use serde::Deserialize;
use serde_json::{Value, json};
use yunqiao_core::wechat::push::{PushSecrets, make_push};

use super::media::format_named;
use super::{WeChatMock, wx_error};

#[derive(Deserialize)]
pub(super) struct FireBody {
    url: String,
    token: String,
    aes_key: Option<String>,
    event: Value,
    appid: Option<String>,
    timestamp: Option<i64>,
    nonce: Option<String>,
    format: Option<String>,
}

pub(super) async fn fire(State(m): State<WeChatMock>, body: axum::body::Bytes) -> Response {
    let Ok(b) = serde_json::from_slice::<FireBody>(&body) else {
        return wx_error(
            47001,
            "data format error: {url, token, aes_key?, event, appid?, timestamp?, nonce?}",
        );
    };
    if !(b.url.starts_with("http://") || b.url.starts_with("https://")) || !b.event.is_object() {
        return wx_error(47001, "url is http(s) and event an object");
    }
    let Some(format) = format_named(b.format.as_deref()) else {
        return wx_error(47001, "format is json or xml");
    };
    let secrets = match PushSecrets::new(&b.token, b.aes_key.as_deref()) {
        Ok(s) => s,
        Err(e) => return wx_error(47001, &e),
    };
    let mut random = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut random);
    let nonce = b
        .nonce
        .unwrap_or_else(|| (rand::thread_rng().next_u32() % 1_000_000_000).to_string());
    let ts = b.timestamp.unwrap_or_else(|| m.clock.now_secs());
    let appid = b.appid.unwrap_or_else(|| m.cfg.appid.clone());
    let (query, payload) = make_push(&secrets, &appid, &b.event, ts, &nonce, &random, format);
    let sent = reqwest::Client::new()
        .post(&b.url)
        .query(&query)
        .header("content-type", format.content_type())
        .body(payload.clone())
        .send()
        .await;
    let (status, text) = match sent {
        Ok(r) => (r.status().as_u16(), r.text().await.unwrap_or_default()),
        Err(e) => return wx_error(-1, &format!("push url unreachable: {e}")),
    };
    Json(json!({
        "status": status,
        "body": text,
        "query": query.iter().map(|(k, v)| json!([k, v])).collect::<Vec<_>>(),
        "payload": payload,
    }))
    .into_response()
}
