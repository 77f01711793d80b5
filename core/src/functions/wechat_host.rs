//! The `wechat` host module: WeChat's server API for cloud functions, the app's access
//! token filled in by the server (a module never sees it).
//!
//! * `wechat.msgSecCheck({content, scene?, user?, title?, nickname?, signature?})` →
//!   `{suggest, label, trace_id}`: `msg_sec_check` v2 for the text of `user` (a yunqiao
//!   user id), by default the calling user (the admin and anonymous callers have no
//!   openid: they must name a user);
//! * `wechat.mediaCheck({url, type?, user?, scene?})` → `{trace_id}`:
//!   `media_check_async` v2 of the image (`type` `"image"`, default) or audio at `url`
//!   for `user` (default the caller); the verdict arrives later as a pushed
//!   `wxa_media_check` event, handed to the push's function (`on_wechat_event`) —
//!   uploads the server checks itself (`files.media_check`) are settled, not handed on;
//! * `wechat.subscribeMessage.send({user, template_id, page?, data, miniprogram_state?})`
//!   → `{sent: true}`; 403 `WECHAT_NOT_SUBSCRIBED` when the user did not accept the
//!   template (43101);
//! * `wechat.qrcode({scene, page?, width?, env_version?, check_path?, auto_color?,
//!   line_color?, is_hyaline?})` → `{id, path, url, content_type, size, reused}`: the
//!   QR code's public file, made once per parameters ([`QrCodes`]); `url` is
//!   `files.public_url` + `path` where that is configured, else `path`;
//! * `wechat.call(path, body?)` → WeChat's JSON answer (or `{content_type,
//!   body_base64}` for bytes), for paths [`check_call_path`] admits.
//!
//! WeChat's own errors come back as `WECHAT_ERROR` (502) with `wechat_errcode` and
//! `wechat_errmsg` in the details, as on HTTP.

use base64::Engine;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::auth::{Auth, Caller};
use crate::wechat::api::{MAX_CHECK_CHARS, SubscribeMessage, TextCheck, check_call_path};
use crate::wechat::qrcode::{QrCodes, QrRequest};
use crate::wechat::{WxApi, WxReply};
use crate::{Error, Result};

fn args<T: for<'de> Deserialize<'de>>(v: Value) -> Result<T> {
    serde_json::from_value(v).map_err(|e| Error::invalid(format!("bad arguments: {e}")))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CheckArgs {
    content: String,
    #[serde(default)]
    scene: Option<u8>,
    #[serde(default)]
    user: Option<String>,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    nickname: Option<String>,
    #[serde(default)]
    signature: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MediaArgs {
    url: String,
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    user: Option<String>,
    #[serde(default)]
    scene: Option<u8>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SendArgs {
    user: String,
    template_id: String,
    #[serde(default)]
    page: Option<String>,
    data: Value,
    #[serde(default)]
    miniprogram_state: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CallArgs {
    path: String,
    #[serde(default)]
    body: Option<Value>,
}

/// The openid of `user` (a user id), or else of the calling user.
async fn openid_of(auth: &Auth, caller: &Caller, user: Option<&str>) -> Result<String> {
    match (user, caller.user()) {
        (Some(id), _) => Ok(auth.get_user(id).await?.openid),
        (None, Some(u)) => Ok(u.openid.clone()),
        (None, None) => Err(Error::invalid_field(
            "user",
            "the caller is no user: name the user whose text this is",
        )),
    }
}

/// The services the module reaches.
pub(super) struct Services<'a> {
    pub auth: &'a Auth,
    pub wechat: &'a WxApi,
    pub qrcodes: Option<&'a QrCodes>,
}

pub(super) async fn serve(f: Services<'_>, caller: &Caller, op: &str, a: Value) -> Result<Value> {
    match op {
        "wechat.msgSecCheck" => {
            let c: CheckArgs = args(a)?;
            let n = c.content.chars().count();
            if n == 0 || n > MAX_CHECK_CHARS {
                return Err(Error::invalid_field(
                    "content",
                    format!("content is 1 to {MAX_CHECK_CHARS} characters"),
                ));
            }
            let scene = c.scene.unwrap_or(2);
            if !(1..=4).contains(&scene) {
                return Err(Error::invalid_field(
                    "scene",
                    "scene is 1 (profile), 2 (comment), 3 (forum) or 4 (social log)",
                ));
            }
            let check = TextCheck {
                openid: openid_of(f.auth, caller, c.user.as_deref()).await?,
                content: c.content,
                scene,
                title: c.title,
                nickname: c.nickname,
                signature: c.signature,
            };
            let v = f.wechat.msg_sec_check(&check).await?;
            Ok(json!(v))
        }
        "wechat.mediaCheck" => {
            let c: MediaArgs = args(a)?;
            if !(c.url.starts_with("https://") || c.url.starts_with("http://"))
                || c.url.len() > 2048
                || c.url.chars().any(char::is_control)
            {
                return Err(Error::invalid_field(
                    "url",
                    "url is an http(s) URL WeChat can download, at most 2048 characters",
                ));
            }
            let media_type = match c.kind.as_deref() {
                None | Some("image") => 2,
                Some("audio") => 1,
                Some(_) => return Err(Error::invalid_field("type", "type is image or audio")),
            };
            let scene = c.scene.unwrap_or(2);
            if !(1..=4).contains(&scene) {
                return Err(Error::invalid_field(
                    "scene",
                    "scene is 1 (profile), 2 (comment), 3 (forum) or 4 (social log)",
                ));
            }
            let openid = openid_of(f.auth, caller, c.user.as_deref()).await?;
            let trace_id = f
                .wechat
                .media_check_async(&openid, &c.url, media_type, scene)
                .await?;
            Ok(json!({ "trace_id": trace_id }))
        }
        "wechat.subscribeMessage.send" => {
            let s: SendArgs = args(a)?;
            if s.template_id.is_empty() || s.template_id.len() > 128 {
                return Err(Error::invalid_field(
                    "template_id",
                    "template_id is 1 to 128 characters",
                ));
            }
            if !s.data.is_object() {
                return Err(Error::invalid_field(
                    "data",
                    "data is an object: {key: {value}}",
                ));
            }
            if let Some(st) = &s.miniprogram_state
                && !["developer", "trial", "formal"].contains(&st.as_str())
            {
                return Err(Error::invalid_field(
                    "miniprogram_state",
                    "miniprogram_state is developer, trial or formal",
                ));
            }
            let openid = f.auth.get_user(&s.user).await?.openid;
            let m = SubscribeMessage {
                template_id: s.template_id,
                page: s.page,
                data: s.data,
                miniprogram_state: s.miniprogram_state,
            };
            f.wechat.subscribe_send(&openid, &m).await?;
            Ok(json!({"sent": true}))
        }
        "wechat.qrcode" => {
            let r: QrRequest = args(a)?;
            let q = f.qrcodes.ok_or_else(|| {
                Error::not_found("QR codes need files: no blob store is configured here")
            })?;
            let code = q.get_or_make(&r).await?;
            Ok(q.view(&code, None))
        }
        _ => {
            let c: CallArgs = args(a)?;
            check_call_path(&c.path).map_err(|m| Error::invalid_field("path", m))?;
            let body = c.body.unwrap_or_else(|| json!({}));
            if !body.is_object() {
                return Err(Error::invalid_field("body", "body is a JSON object"));
            }
            match f.wechat.call(&c.path, &body).await? {
                WxReply::Json(v) => Ok(v),
                WxReply::Bytes { content_type, body } => Ok(json!({
                    "content_type": content_type,
                    "body_base64": base64::engine::general_purpose::STANDARD.encode(body),
                })),
            }
        }
    }
}
