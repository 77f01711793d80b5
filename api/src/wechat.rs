//! `/v1/wechat/push`: the mini-program's message push (消息推送) — the URL, Token and
//! EncodingAESKey set in its admin. `GET` is WeChat's echo handshake, `POST` an event;
//! the checks (signature, age, replay, safe-mode decryption, app id, duplicates) are
//! [`yunqiao_core::wechat::push::WxPush`]'s.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use yunqiao_core::wechat::push::{PushQuery, SUCCESS};

use crate::error::{ApiQuery, ApiResult, ErrorBody};
use crate::{ApiRouter, AppState};

pub fn router() -> ApiRouter {
    ApiRouter::new().routes(utoipa_axum::routes!(handshake, receive))
}

/// What WeChat puts in the query of a push and of the handshake.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // read as a PushQuery; this documents it
pub struct PushParams {
    /// hex(sha1) of the sorted token, timestamp and nonce.
    signature: Option<String>,
    /// Seconds since the epoch; more than 300 s from now is refused.
    timestamp: Option<String>,
    nonce: Option<String>,
    /// The handshake's random string, answered as it came.
    echostr: Option<String>,
    /// Safe mode: hex(sha1) of the sorted token, timestamp, nonce and `Encrypt`.
    msg_signature: Option<String>,
    /// `aes` in safe mode.
    encrypt_type: Option<String>,
    openid: Option<String>,
}

/// A pushed event as WeChat sends it: in plaintext mode the event's own fields
/// (`ToUserName`, `FromUserName`, `CreateTime`, `MsgType`, `Event`, and the event's
/// others, e.g. `trace_id` and `result` of `wxa_media_check`); in safe mode
/// `{ToUserName, Encrypt}`. The same fields as WeChat's XML (`<xml>…</xml>`, as text).
#[derive(ToSchema)]
#[allow(dead_code)] // read as bytes; this documents it
pub struct PushEnvelope {
    /// The mini-program's original id (`gh_…`).
    #[schema(rename = "ToUserName")]
    to_user_name: Option<String>,
    /// Safe mode: base64 of the AES-256-CBC ciphertext.
    #[schema(rename = "Encrypt")]
    encrypt: Option<String>,
    #[schema(rename = "FromUserName")]
    from_user_name: Option<String>,
    /// Seconds since the epoch.
    #[schema(rename = "CreateTime")]
    create_time: Option<i64>,
    #[schema(rename = "MsgType")]
    msg_type: Option<String>,
    #[schema(rename = "Event")]
    event: Option<String>,
}

fn text(body: String) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        )],
        body,
    )
        .into_response()
}

/// WeChat's echo handshake: when the signature over the configured Token, `timestamp`
/// and `nonce` matches and the timestamp is recent, answers `echostr` as plain text.
#[utoipa::path(
    get,
    path = "/v1/wechat/push",
    tag = "wechat",
    params(PushParams),
    responses(
        (status = 200, content_type = "text/plain", body = String, description = "echostr"),
        (status = 400, body = ErrorBody, description = "INVALID_QUERY (no echostr)"),
        (status = 403, body = ErrorBody, description = "SIGNATURE_INVALID (no or a wrong signature), SIGNATURE_EXPIRED (timestamp more than 300 s from now)"),
        (status = 404, body = ErrorBody, description = "NOT_FOUND: no push Token is configured"),
    )
)]
pub async fn handshake(
    State(s): State<AppState>,
    ApiQuery(q): ApiQuery<PushQuery>,
) -> ApiResult<Response> {
    Ok(text(s.wechat_push.handshake(&q)?))
}

/// An event WeChat pushes (JSON or XML; in safe mode `{"ToUserName", "Encrypt"}`). Verified
/// (signature; in safe mode `msg_signature`, the decrypted app id), refused when stale
/// or replayed, answered `success` without running anything again when seen before,
/// and handed to the configured cloud function (`wechat.push_function`) — except a
/// media check's verdict on an upload (`wxa_media_check`), which settles the file
/// (`ready` or `rejected`). Nothing is written for a refused push.
#[utoipa::path(
    post,
    path = "/v1/wechat/push",
    tag = "wechat",
    params(PushParams),
    request_body(content(
        (PushEnvelope = "application/json"),
        (String = "text/xml", example = "<xml><ToUserName><![CDATA[gh_…]]></ToUserName><Encrypt><![CDATA[…]]></Encrypt></xml>"),
    ), description = "the event, JSON or WeChat's XML (either format is read), or in safe mode {ToUserName, Encrypt}"),
    responses(
        (status = 200, content_type = "text/plain", body = String, description = "success"),
        (status = 400, body = ErrorBody, description = "INVALID_BODY: neither a JSON object nor WeChat's XML, an unreadable ciphertext, or plaintext where safe mode is configured"),
        (status = 403, body = ErrorBody, description = "SIGNATURE_INVALID (signature or msg_signature), SIGNATURE_EXPIRED (timestamp more than 300 s from now), PUSH_WRONG_APP (the ciphertext names another app id)"),
        (status = 404, body = ErrorBody, description = "NOT_FOUND: no push Token is configured, or the configured function is missing"),
        (status = 409, body = ErrorBody, description = "PUSH_REPLAYED: this timestamp and nonce were received before"),
        (status = 500, body = ErrorBody, description = "the push function's own failure (FUNCTION_FAILED, …), or a rejected upload's bytes not deleted yet: not acknowledged, so WeChat retries"),
    )
)]
pub async fn receive(
    State(s): State<AppState>,
    ApiQuery(q): ApiQuery<PushQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let request_id = headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| crate::valid_request_id(v.as_bytes()))
        .unwrap_or_default()
        .to_string();
    s.wechat_push.receive(&q, &body, &request_id).await?;
    Ok(text(SUCCESS.to_string()))
}
