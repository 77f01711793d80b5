//! `POST /v1/qrcode`: a QR code that opens a page of the mini-program with a scene
//! (WeChat's `getwxacodeunlimit`), kept as a public file by its parameters. The rules
//! are [`yunqiao_core::wechat::qrcode`]'s.

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::routes;
use yunqiao_core::wechat::qrcode::{LineColor, QrRequest};
use yunqiao_core::{Code, Error};

use crate::caller::AnyCaller;
use crate::error::{ApiJson, ApiResult, ErrorBody};
use crate::{ApiRouter, AppState};

pub fn router() -> ApiRouter {
    ApiRouter::new().routes(routes!(qrcode))
}

/// A colour of the QR code's lines.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LineColorBody {
    pub r: u8,
    pub g: u8,
    pub b: u8,
}

// Read as the domain reads its `QrRequest` (tested), then handed to it.
/// WeChat's parameters of `getwxacodeunlimit`. The same parameters (defaults filled in)
/// are the same QR code.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QrBody {
    /// What the opened page reads as `options.scene` (URL-encoded): 1 to 32 of
    /// `0-9 A-Z a-z !#$&'()*+,/:;=?@-._~`.
    pub scene: String,
    /// The page to open (`pages/room/room`: no leading `/`, no query); unset: the home
    /// page.
    #[serde(default)]
    pub page: Option<String>,
    /// Pixels, 280 to 1280 (default 430).
    #[serde(default)]
    pub width: Option<u32>,
    /// `release` (default), `trial` or `develop`.
    #[serde(default)]
    pub env_version: Option<String>,
    /// Whether WeChat checks that `page` is a page of the released mini-program
    /// (default `true`; `false` for pages not released yet).
    #[serde(default)]
    pub check_path: Option<bool>,
    /// WeChat picks the line colour (default `false`).
    #[serde(default)]
    pub auto_color: Option<bool>,
    /// The lines' colour when `auto_color` is `false` (default black).
    #[serde(default)]
    pub line_color: Option<LineColorBody>,
    /// A transparent background (default `false`).
    #[serde(default)]
    pub is_hyaline: Option<bool>,
}

impl From<QrBody> for QrRequest {
    fn from(b: QrBody) -> QrRequest {
        QrRequest {
            scene: b.scene,
            page: b.page,
            width: b.width,
            env_version: b.env_version,
            check_path: b.check_path,
            auto_color: b.auto_color,
            line_color: b.line_color.map(|c| LineColor {
                r: c.r,
                g: c.g,
                b: c.b,
            }),
            is_hyaline: b.is_hyaline,
        }
    }
}

/// A QR code's image: a public file.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct QrCodeInfo {
    /// The file's id (`GET /v1/files/{id}`).
    pub id: String,
    /// The image's stable address, `<origin>/v1/files/{id}/content` (a redirect to its
    /// bytes; needs no token): for `<image src>` and `wx.downloadFile`.
    pub url: String,
    /// The same without the origin.
    pub path: String,
    /// `image/png` or `image/jpeg`, as sniffed from the bytes.
    pub content_type: String,
    pub size: u64,
    /// `true`: kept from an earlier request with the same parameters (WeChat was not
    /// asked again).
    pub reused: bool,
}

/// A QR code that opens `page` with `scene` when scanned: asked of WeChat once per
/// parameters, kept as a public file, and answered as that file from then on. For
/// admins (and cloud functions, through `wechat.qrcode`); for logged-in users too where
/// `wechat.qrcode_users` is set.
#[utoipa::path(post, path = "/v1/qrcode", tag = "wechat", security(("bearer" = [])),
    request_body = QrBody,
    responses((status = 200, description = "the QR code's public file", body = QrCodeInfo),
        (status = 400, description = "`QRCODE_SCENE_INVALID` (not 1 to 32 allowed characters, or WeChat's 40169/40129), `QRCODE_PAGE_INVALID` (no page path, or WeChat's 41030: not a page of the released mini-program — use `check_path: false` for unreleased ones — or 40159), `INVALID_ARGUMENT` (`width` out of 280–1280, `env_version`, WeChat's 40097)", body = ErrorBody),
        (status = 401, description = "`UNAUTHENTICATED`: no token", body = ErrorBody),
        (status = 403, description = "`FORBIDDEN`: a user, where `wechat.qrcode_users` is not set", body = ErrorBody),
        (status = 404, description = "`NOT_FOUND`: files are not set up (no blob store)", body = ErrorBody),
        (status = 429, description = "`RATE_LIMITED`: WeChat's QR code quota (45009)", body = ErrorBody),
        (status = 502, description = "`WECHAT_ERROR`: another refusal (`wechat_errcode` in the details)", body = ErrorBody),
        (status = 503, description = "`WECHAT_UNAVAILABLE`", body = ErrorBody)))]
pub async fn qrcode(
    State(s): State<AppState>,
    AnyCaller(c): AnyCaller,
    headers: HeaderMap,
    ApiJson(body): ApiJson<QrBody>,
) -> ApiResult<Json<QrCodeInfo>> {
    let q = s.qrcodes.as_deref().ok_or_else(|| {
        Error::new(
            Code::NotFound,
            "QR codes are kept as files, which are not set up on this server (no blob store)",
        )
    })?;
    let code = q.for_caller(&c, &body.into()).await?;
    let origin = crate::auth::origin(s.public_url.as_deref(), &headers);
    let info = serde_json::from_value(q.view(&code, Some(&origin)))
        .map_err(|e| Error::internal(format!("a QR code's view: {e}")))?;
    Ok(Json(info))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_reads_as_the_domain_reads() {
        let v = serde_json::json!({
            "scene": "room=1", "page": "pages/room/room", "width": 300,
            "env_version": "trial", "check_path": false, "auto_color": false,
            "line_color": {"r": 1, "g": 2, "b": 3}, "is_hyaline": true,
        });
        let api: QrRequest = serde_json::from_value::<QrBody>(v.clone()).unwrap().into();
        let core: QrRequest = serde_json::from_value(v).unwrap();
        assert_eq!(api.params().unwrap(), core.params().unwrap());
        for bad in [
            serde_json::json!({"scene": "x", "colour": 1}),
            serde_json::json!({"scene": "x", "line_color": {"r": 256, "g": 0, "b": 0}}),
            serde_json::json!({"page": "x"}),
        ] {
            assert!(serde_json::from_value::<QrBody>(bad.clone()).is_err());
            assert!(serde_json::from_value::<QrRequest>(bad).is_err());
        }
    }
}
