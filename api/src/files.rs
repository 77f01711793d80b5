//! Files over HTTP: `POST /v1/files` (a signed upload form), `POST
//! /v1/files/{id}/complete`, `GET`/`DELETE /v1/files/{id}` (`?thumb=` for a
//! thumbnail), `GET /v1/files/{id}/content` (a redirect to the bytes), `GET /v1/files`
//! (your own). The rules are in [`yunqiao_core::files`]; the bytes go straight to the
//! blob store and back.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::routes;
use yunqiao_core::auth::Caller;
use yunqiao_core::clock::rfc3339;
use yunqiao_core::files::{
    FilePage, FileView, Files, Status, ThumbAsk, ThumbView, Upload, UploadRequest,
};
use yunqiao_core::tables::FileRefs;
use yunqiao_core::{Code, Error};

use crate::caller::AnyCaller;
use crate::error::{ApiJson, ApiPath, ApiQuery, ApiResult, ErrorBody};
use crate::{ApiRouter, AppState};

pub fn router() -> ApiRouter {
    ApiRouter::new()
        .routes(routes!(start_upload, list_files))
        .routes(routes!(complete_upload))
        .routes(routes!(get_file, delete_file))
        .routes(routes!(file_content))
}

fn files(s: &AppState) -> Result<&Files, Error> {
    s.files.as_deref().ok_or_else(|| {
        Error::new(
            Code::NotFound,
            "files are not set up on this server (no blob store configured)",
        )
    })
}

// Read as the domain reads its `UploadRequest` (tested), then handed to it.
/// What a client wants to upload.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UploadBody {
    /// The file's name as the user knows it (1 to 255 bytes; shown back, never a path).
    pub name: String,
    /// Its exact size in bytes: the form accepts exactly this many.
    pub size: u64,
    /// Its type (`image/png`…): one the server allows; the bytes must be of it.
    pub content_type: String,
    /// `true`: anyone may read it once it is ready; else its owner and admins.
    #[serde(default)]
    pub public: bool,
}

impl From<UploadBody> for UploadRequest {
    fn from(b: UploadBody) -> UploadRequest {
        UploadRequest {
            name: b.name,
            size: b.size,
            content_type: b.content_type,
            public: b.public,
        }
    }
}

/// A file, with a URL to its bytes once it is ready.
#[derive(Serialize, ToSchema)]
pub struct FileInfo {
    pub id: String,
    pub name: String,
    pub size: u64,
    pub content_type: String,
    pub public: bool,
    /// `pending` (waiting for its bytes and `complete`), `checking` (waiting for
    /// WeChat's media check, `files.media_check`: its owner's only), `ready`, or
    /// `rejected` (the check refused it: its bytes are gone).
    pub status: String,
    /// The owner's user id; `null` for files the admin key uploaded.
    pub owner: Option<String>,
    /// RFC 3339, UTC.
    pub created_at: String,
    /// A signed GET of the bytes (for `<image src>` or `wx.downloadFile`), when ready.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// When `url` stops working (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url_expires_at: Option<String>,
    /// With `?thumb=`: the thumbnail's size (canonical, as configured), which `url` is of.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thumb: Option<String>,
}

impl From<ThumbView> for FileInfo {
    fn from(t: ThumbView) -> FileInfo {
        FileInfo {
            thumb: Some(t.spec.to_string()),
            ..FileInfo::from(t.view)
        }
    }
}

impl From<FileView> for FileInfo {
    fn from(v: FileView) -> FileInfo {
        let f = v.file;
        FileInfo {
            id: f.id,
            name: f.name,
            size: f.size,
            content_type: f.content_type,
            public: f.public,
            status: match f.status {
                Status::Pending => "pending",
                Status::Checking => "checking",
                Status::Ready => "ready",
                Status::Rejected => "rejected",
            }
            .into(),
            owner: f.owner,
            created_at: rfc3339(f.created_at),
            url: v.url,
            url_expires_at: v.url_expires_at.map(rfc3339),
            thumb: None,
        }
    }
}

/// The files service as the tables reach it ([`FileRefs`]): whether a record may hold a
/// file, and a file as a reader sees it, in the shape `GET /v1/files/{id}` answers.
pub struct TableFiles(pub Arc<Files>);

#[async_trait::async_trait]
impl FileRefs for TableFiles {
    async fn check_usable(&self, caller: &Caller, id: &str) -> Result<(), Error> {
        self.0.usable(caller, id).await.map(|_| ())
    }

    async fn view(&self, caller: &Caller, id: &str) -> Result<Option<serde_json::Value>, Error> {
        match self.0.get_if_readable(caller, id).await? {
            None => Ok(None),
            Some(v) => serde_json::to_value(FileInfo::from(v))
                .map(Some)
                .map_err(|e| Error::internal(format!("a file as JSON: {e}"))),
        }
    }
}

/// How to upload the bytes: a `multipart/form-data` POST to `url` with every field of
/// `fields` (wx.uploadFile's `formData`), then the file as the part named `file`
/// (wx.uploadFile's `name: 'file'`).
#[derive(Serialize, ToSchema)]
pub struct UploadForm {
    pub url: String,
    pub fields: BTreeMap<String, String>,
    /// The name of the file part: `file`.
    pub file_field: String,
    /// When the form stops working (RFC 3339).
    pub expires_at: String,
}

#[derive(Serialize, ToSchema)]
pub struct UploadStarted {
    pub file: FileInfo,
    pub upload: UploadForm,
}

impl From<Upload> for UploadStarted {
    fn from(u: Upload) -> UploadStarted {
        UploadStarted {
            file: FileInfo::from(FileView {
                file: u.file,
                url: None,
                url_expires_at: None,
            }),
            upload: UploadForm {
                url: u.url,
                fields: u.fields.into_iter().collect(),
                file_field: yunqiao_core::blob::POST_FILE_FIELD.into(),
                expires_at: rfc3339(u.expires_at),
            },
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct FileList {
    pub items: Vec<FileInfo>,
    /// Present when more follow: pass it back as `cursor`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}

impl From<FilePage> for FileList {
    fn from(p: FilePage) -> FileList {
        FileList {
            items: p.items.into_iter().map(Into::into).collect(),
            cursor: p.cursor,
        }
    }
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// 1 to 100, default 20.
    pub limit: Option<usize>,
    pub cursor: Option<String>,
}

/// Start an upload (logged-in users, admins): the file, pending, and the form to post
/// its bytes with, straight to the blob store. Its size counts against the uploader's
/// quota from now on.
#[utoipa::path(post, path = "/v1/files", tag = "files", security(("bearer" = [])),
    request_body = UploadBody,
    responses((status = 201, description = "pending, with its upload form", body = UploadStarted),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 413, description = "`FILE_TOO_LARGE`, or `QUOTA_EXCEEDED` (the uploader's files would pass the quota)", body = ErrorBody),
        (status = 415, description = "`FILE_TYPE_NOT_ALLOWED`", body = ErrorBody)))]
pub async fn start_upload(
    State(s): State<AppState>,
    AnyCaller(c): AnyCaller,
    ApiJson(body): ApiJson<UploadBody>,
) -> ApiResult<(StatusCode, Json<UploadStarted>)> {
    let up = files(&s)?.start_upload(&c, body.into()).await?;
    Ok((StatusCode::CREATED, Json(up.into())))
}

/// Finish an upload (its owner): the bytes must have arrived, of the declared size, and
/// be of the declared type (sniffed from them); else the upload is removed. Types
/// WeChat checks (`files.media_check`) come back `checking` until its verdict.
#[utoipa::path(post, path = "/v1/files/{id}/complete", tag = "files", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, description = "ready (or checking), with its URL", body = FileInfo),
        (status = 502, description = "`WECHAT_ERROR`: WeChat refused to start the media check (the upload stays pending; complete it again)", body = ErrorBody),
        (status = 503, description = "`WECHAT_UNAVAILABLE`: WeChat could not be reached for the media check (the upload stays pending)", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "`FILE_NOT_UPLOADED`: no bytes yet, or another size (then removed)", body = ErrorBody),
        (status = 400, description = "`FILE_TYPE_MISMATCH`: the bytes are of another type (removed)", body = ErrorBody)))]
pub async fn complete_upload(
    State(s): State<AppState>,
    AnyCaller(c): AnyCaller,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<FileInfo>> {
    Ok(Json(files(&s)?.complete(&c, &id).await?.into()))
}

/// A thumbnail's size and format, for an image file.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ThumbParams {
    /// A thumbnail of this size instead of the file (images: JPEG, PNG, GIF, WebP):
    /// `WxH` (centre crop), `WxHt` / `WxHb` (top / bottom crop), `WxHf` (fit inside),
    /// `0xH` / `Wx0` (keep the ratio); one of the server's `files.thumb_sizes` (default
    /// `100x100`). Made the first time it is asked for, then kept.
    pub thumb: Option<String>,
    /// With `thumb`: `webp`, `jpeg` or `png`. Unset: WebP when `Accept` names
    /// `image/webp`, else JPEG for JPEG images and PNG for the others.
    pub format: Option<String>,
}

impl ThumbParams {
    fn ask<'a>(&'a self, headers: &'a HeaderMap) -> Result<Option<ThumbAsk<'a>>, Error> {
        match (&self.thumb, &self.format) {
            (Some(size), format) => Ok(Some(ThumbAsk {
                size,
                format: format.as_deref(),
                accept: headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()),
            })),
            (None, Some(_)) => Err(Error::invalid_field(
                "format",
                "format goes with thumb: it is a thumbnail's format",
            )),
            (None, None) => Ok(None),
        }
    }
}

const VARY_ACCEPT: HeaderValue = HeaderValue::from_static("accept");

/// A file and a signed URL to its bytes: for its owner and admins, and for anyone once a
/// public file is ready. For others it does not exist. With `thumb`, the URL is of a
/// thumbnail of the image (and `thumb` says which).
#[utoipa::path(get, path = "/v1/files/{id}", tag = "files", security((), ("bearer" = [])),
    params(("id" = String, Path), ThumbParams),
    responses((status = 200, body = FileInfo,
            headers(("Vary" = String, description = "`Accept` (the thumbnail's format may follow it)"))),
        (status = 400, description = "`THUMB_SIZE_NOT_ALLOWED` (not one of the configured sizes), `IMAGE_INVALID` (not an image we read: truncated, corrupt, another type), `INVALID_ARGUMENT` (`format`)", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "`FILE_NOT_UPLOADED`: a thumbnail of a file not complete yet", body = ErrorBody),
        (status = 410, description = "`FILE_REJECTED`: a thumbnail of a file WeChat's media check rejected", body = ErrorBody),
        (status = 413, description = "`IMAGE_TOO_LARGE`: the image's dimensions (as its header claims) or its size are over the limits", body = ErrorBody)))]
pub async fn get_file(
    State(s): State<AppState>,
    AnyCaller(c): AnyCaller,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<ThumbParams>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let files = files(&s)?;
    let info: FileInfo = match q.ask(&headers)? {
        Some(ask) => files.thumb(&c, &id, &ask).await?.into(),
        None => files.get(&c, &id).await?.into(),
    };
    let mut r = Json(info).into_response();
    r.headers_mut().insert(header::VARY, VARY_ACCEPT);
    Ok(r)
}

/// The file's bytes (or, with `thumb`, a thumbnail's) for `<image src>`,
/// `wx.downloadFile` and links: a redirect to a freshly signed URL, so this address
/// never expires. A public file needs no token; a private one the token of its owner or
/// an admin (for others it does not exist). The redirect may be cached for a tenth of
/// the signed URL's life (at most an hour).
#[utoipa::path(get, path = "/v1/files/{id}/content", tag = "files", security((), ("bearer" = [])),
    params(("id" = String, Path), ThumbParams),
    responses((status = 302, description = "to a signed URL of the bytes",
            headers(("Location" = String, description = "the signed URL"),
                ("Cache-Control" = String, description = "`public` or `private`, `max-age` a tenth of the URL's life, at most 3600"),
                ("Vary" = String, description = "`Accept`"))),
        (status = 400, description = "`THUMB_SIZE_NOT_ALLOWED`, `IMAGE_INVALID`, `INVALID_ARGUMENT` (`format`)", body = ErrorBody),
        (status = 401, description = "`INVALID_TOKEN`", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "`FILE_NOT_UPLOADED`: not complete yet", body = ErrorBody),
        (status = 410, description = "`FILE_REJECTED`: WeChat's media check rejected the file (to its owner; others get 404)", body = ErrorBody),
        (status = 413, description = "`IMAGE_TOO_LARGE`", body = ErrorBody)))]
pub async fn file_content(
    State(s): State<AppState>,
    AnyCaller(c): AnyCaller,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<ThumbParams>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let ask = q.ask(&headers)?;
    let content = files(&s)?.content(&c, &id, ask.as_ref()).await?;
    let location = HeaderValue::from_str(&content.url)
        .map_err(|_| Error::internal("the signed URL is not a header value"))?;
    let cache = format!(
        "{}, max-age={}",
        if content.public { "public" } else { "private" },
        content.max_age_secs
    );
    let mut r = StatusCode::FOUND.into_response();
    let h = r.headers_mut();
    h.insert(header::LOCATION, location);
    if let Ok(v) = HeaderValue::from_str(&cache) {
        h.insert(header::CACHE_CONTROL, v);
    }
    h.insert(header::VARY, VARY_ACCEPT);
    Ok(r)
}

/// Delete a file and its bytes (its owner, admins); its size is given back to the quota.
#[utoipa::path(delete, path = "/v1/files/{id}", tag = "files", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 204, description = "deleted"), (status = 404, body = ErrorBody)))]
pub async fn delete_file(
    State(s): State<AppState>,
    AnyCaller(c): AnyCaller,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    files(&s)?.delete(&c, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Your own files, newest first.
#[utoipa::path(get, path = "/v1/files", tag = "files", security(("bearer" = [])), params(ListParams),
    responses((status = 200, body = FileList), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn list_files(
    State(s): State<AppState>,
    AnyCaller(c): AnyCaller,
    ApiQuery(p): ApiQuery<ListParams>,
) -> ApiResult<Json<FileList>> {
    Ok(Json(files(&s)?.list(&c, p.limit, p.cursor).await?.into()))
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    #[test]
    fn the_upload_body_reads_as_the_domain_reads() {
        for raw in [
            json!({"name": "a.png", "size": 3, "content_type": "image/png"}),
            json!({"name": "a.png", "size": 3, "content_type": "image/png", "public": true}),
            json!({"name": "a.png", "size": -1, "content_type": "image/png"}),
            json!({"name": "a.png", "content_type": "image/png"}),
            json!({"name": "a.png", "size": 3, "content_type": "image/png", "path": "x"}),
        ] {
            let ours = serde_json::from_value::<UploadBody>(raw.clone())
                .map(|b| format!("{:?}", UploadRequest::from(b)))
                .map_err(|e| e.to_string());
            let theirs = serde_json::from_value::<UploadRequest>(raw as Value)
                .map(|t| format!("{t:?}"))
                .map_err(|e| e.to_string());
            assert_eq!(ours, theirs);
        }
    }
}
