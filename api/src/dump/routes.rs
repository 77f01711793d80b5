//! `GET /v1/admin/export` and `POST /v1/admin/import`: the archive of
//! `docs/export-format.md` as a download and an upload, for the console and small apps
//! (bigger ones use `yunqiao export` / `yunqiao import`).

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use utoipa_axum::routes;
use yunqiao_core::Code;

use super::{ImportOptions, ImportReport, Quiet};
use crate::caller::AdminCaller;
use crate::error::{ApiQuery, ApiResult, ErrorBody, error};
use crate::{ApiRouter, AppState};

/// The largest archive `POST /v1/admin/import` takes (gzip'd); the AWS face's own limit
/// (Lambda's 6 MB request) is below it.
pub const MAX_IMPORT_BYTES: usize = 8 * 1024 * 1024;
/// The most an uploaded archive may unpack to.
pub const MAX_UNPACKED_BYTES: u64 = 64 * 1024 * 1024;

pub fn router() -> ApiRouter {
    ApiRouter::new()
        .routes(routes!(export))
        .routes(routes!(import))
}

/// Everything the app owns as one archive (`docs/export-format.md`): schemas and
/// records, users and their groups, KV, topic rules, function modules, files and their
/// bytes. Sessions are not in it.
#[utoipa::path(get, path = "/v1/admin/export", tag = "admin", security(("bearer" = [])),
    responses(
        (status = 200, description = "the archive (gzip'd tar, format version 1)", content_type = "application/gzip", body = Vec<u8>),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn export(State(s): State<AppState>, AdminCaller(c): AdminCaller) -> ApiResult<Response> {
    c.require_admin()?;
    let face = if s.hub.is_some() { "local" } else { "aws" };
    let mut out = Vec::new();
    super::export_archive(&s, &mut out, json!({"face": face}), &Quiet).await?;
    let mut r = Body::from(out).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/gzip"),
    );
    h.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("attachment; filename=\"yunqiao-export.tar.gz\""),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(r)
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ImportParams {
    /// `true`: check the archive and answer what would change; write nothing.
    pub dry_run: Option<bool>,
}

/// An archive's bytes: a gzip'd tar (`docs/export-format.md`).
#[derive(utoipa::ToSchema)]
#[schema(value_type = String, format = Binary)]
pub struct ArchiveBytes(pub Vec<u8>);

/// Imports an archive (`docs/export-format.md`, the body, at most 8 MiB): every item an
/// upsert by its id, so importing twice changes nothing more. The whole archive is
/// checked first; nothing is written when any line is refused.
#[utoipa::path(post, path = "/v1/admin/import", tag = "admin", security(("bearer" = [])), params(ImportParams),
    request_body(content = ArchiveBytes, content_type = "application/octet-stream", description = "the archive (a gzip'd tar; any content type is read as its bytes)"),
    responses(
        (status = 200, body = ImportReport, description = "what was created, changed and left unchanged, by kind"),
        (status = 400, body = ErrorBody, description = "`ARCHIVE_VERSION` (another format version), `ARCHIVE_INVALID` (`details.entry`, `details.line`, `details.field`, `details.code`: where and why), `PROJECT_REFUSED`; nothing was written"),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "`CONFLICT`: the target changed during the import; import again"),
        (status = 413, body = ErrorBody, description = "`BODY_TOO_LARGE`: use `yunqiao import`")))]
pub async fn import(
    State(s): State<AppState>,
    AdminCaller(c): AdminCaller,
    ApiQuery(p): ApiQuery<ImportParams>,
    body: Body,
) -> ApiResult<Json<ImportReport>> {
    c.require_admin()?;
    let bytes = axum::body::to_bytes(body, MAX_IMPORT_BYTES)
        .await
        .map_err(|_| {
            error(
                Code::BodyTooLarge,
                format!("an uploaded archive is at most {MAX_IMPORT_BYTES} bytes: use `yunqiao import` for bigger ones"),
            )
        })?;
    let opts = ImportOptions {
        dry_run: p.dry_run.unwrap_or(false),
        max_unpacked_bytes: MAX_UNPACKED_BYTES,
    };
    Ok(Json(
        super::import_archive(&s, &bytes[..], opts, &Quiet).await?,
    ))
}
