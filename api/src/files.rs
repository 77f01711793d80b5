//! Files over HTTP: `POST /v1/files` (a signed upload form), `POST
//! /v1/files/{id}/complete`, `GET`/`DELETE /v1/files/{id}`, `GET /v1/files` (your own).
//! The rules are in [`yunqiao_core::files`]; the bytes go straight to the blob store.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::routes;
use yunqiao_core::auth::Caller;
use yunqiao_core::clock::rfc3339;
use yunqiao_core::files::{FilePage, FileView, Files, Status, Upload, UploadRequest};
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
    /// `pending` (waiting for its bytes and `complete`) or `ready`.
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
                Status::Ready => "ready",
            }
            .into(),
            owner: f.owner,
            created_at: rfc3339(f.created_at),
            url: v.url,
            url_expires_at: v.url_expires_at.map(rfc3339),
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
/// be of the declared type (sniffed from them); else the upload is removed.
#[utoipa::path(post, path = "/v1/files/{id}/complete", tag = "files", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, description = "ready, with its URL", body = FileInfo),
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

/// A file and a signed URL to its bytes: for its owner and admins, and for anyone once a
/// public file is ready. For others it does not exist.
#[utoipa::path(get, path = "/v1/files/{id}", tag = "files", security((), ("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = FileInfo), (status = 404, body = ErrorBody)))]
pub async fn get_file(
    State(s): State<AppState>,
    AnyCaller(c): AnyCaller,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<FileInfo>> {
    Ok(Json(files(&s)?.get(&c, &id).await?.into()))
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
