//! `/v1/blobs`: the embedded face's upload and download endpoints, where the local
//! server answers the presigned forms and URLs of its disk store
//! ([`yunqiao_core::blob::ServedBlobStore`]) as S3 answers them in AWS.
//!
//! * `POST /v1/blobs`: a `multipart/form-data` upload as `wx.uploadFile({url, filePath,
//!   name: 'file', formData})` sends it: the form's fields (in any order), then the file
//!   as the part named `file`. The fields are checked before a byte of the file is
//!   stored; the file is streamed to disk and refused as soon as it passes the form's
//!   size limit. 204 when stored, like S3.
//! * `GET /v1/blobs/{key}?expires=…&sig=…`: the object, streamed, with its content type;
//!   types a browser would run (HTML, SVG, XML, scripts…) as an attachment of raw bytes
//!   in a sandbox, never inline from the API's origin (S3 URLs ask for the same).
//!
//! Where the store is S3 (every Lambda function; `files.kind = "s3"`), forms and URLs
//! point at the bucket and these routes answer 404.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use yunqiao_core::Code;
use yunqiao_core::blob::{
    BlobRefusal, DEFAULT_CONTENT_TYPE, POST_FILE_FIELD, ServedBlobStore, inline_safe,
};

use crate::error::{ApiError, ApiPath, ApiQuery, ApiResult, ErrorBody, error};
use crate::{ApiRouter, AppState};

/// The most text fields an upload form may carry before its file.
pub const MAX_FORM_FIELDS: usize = 32;
/// The longest text field of an upload form, in bytes (a policy is well under 1 KiB).
pub const MAX_FIELD_BYTES: usize = 16 * 1024;

pub fn router() -> ApiRouter {
    let (schemas, paths, get) = utoipa_axum::routes!(download);
    // The key may hold slashes: served as a wildcard, documented as one parameter.
    ApiRouter::new()
        .routes(utoipa_axum::routes!(upload))
        .routes_at("/v1/blobs/{*key}", (schemas, paths, get))
}

fn served(s: &AppState) -> ApiResult<&dyn ServedBlobStore> {
    s.served_blobs
        .as_deref()
        .ok_or_else(|| error(Code::NotFound, "this server does not serve files itself"))
}

/// An upload form as `wx.uploadFile` posts it: the fields of the presigned form
/// (`formData`), then the file.
#[derive(ToSchema)]
#[allow(dead_code)] // documentation only: the body is read as a stream
pub struct UploadForm {
    /// The object's key, as signed.
    key: String,
    /// The object's content type, as signed (the field's name is `Content-Type`).
    #[schema(rename = "Content-Type")]
    content_type: String,
    /// The signed policy (base64 JSON).
    policy: String,
    /// The policy's signature (hex).
    signature: String,
    /// The file, last (`name: 'file'` in `wx.uploadFile`).
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
}

/// Uploads a file with a presigned form from the files API (the embedded server; in
/// AWS the form posts to S3). Send every field of the form, then the file as the part
/// named `file`: the signature, expiry, key, content type and size are checked, and
/// nothing is stored unless all pass. The form may be used again until it expires; each
/// upload replaces the object.
#[utoipa::path(
    post,
    path = "/v1/blobs",
    tag = "blobs",
    request_body(content = UploadForm, content_type = "multipart/form-data"),
    responses(
        (status = 204, description = "stored"),
        (status = 400, body = ErrorBody, description = "UPLOAD_TOO_SMALL, or INVALID_BODY (not a form, no `file` part)"),
        (status = 403, body = ErrorBody, description = "SIGNATURE_INVALID, SIGNATURE_EXPIRED or UPLOAD_MISMATCH (another key or content type, an unsigned field)"),
        (status = 413, body = ErrorBody, description = "UPLOAD_TOO_LARGE"),
        (status = 415, body = ErrorBody, description = "not multipart/form-data"),
    )
)]
pub async fn upload(State(s): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    match receive(&s, &headers, body).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => {
            // The client may still be sending: say so and close, rather than read the
            // rest of a file that will not be kept.
            let mut r = e.into_response();
            r.headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
            r
        }
    }
}

async fn receive(s: &AppState, headers: &HeaderMap, body: Body) -> ApiResult<()> {
    let store = served(s)?;
    let boundary = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|ct| multer::parse_boundary(ct).ok())
        .ok_or_else(|| {
            error(
                Code::UnsupportedMediaType,
                "an upload is multipart/form-data",
            )
        })?;
    // Fields and the file are bounded one by one below; this bounds what lies around
    // them (preamble, part headers).
    let limit = store
        .max_upload_bytes()
        .saturating_add((MAX_FORM_FIELDS * MAX_FIELD_BYTES) as u64 + 64 * 1024);
    let constraints =
        multer::Constraints::new().size_limit(multer::SizeLimit::new().whole_stream(limit));
    let mut form =
        multer::Multipart::with_constraints(body.into_data_stream(), boundary, constraints);
    let mut fields: Vec<(String, String)> = Vec::new();
    while let Some(mut part) = form.next_field().await.map_err(malformed)? {
        let name = part.name().unwrap_or_default().to_string();
        if name != POST_FILE_FIELD {
            if fields.len() == MAX_FORM_FIELDS {
                return Err(error(Code::InvalidBody, "too many form fields"));
            }
            let mut value = Vec::new();
            while let Some(chunk) = part.chunk().await.map_err(malformed)? {
                if value.len() + chunk.len() > MAX_FIELD_BYTES {
                    return Err(error(
                        Code::InvalidBody,
                        format!("the form field {name:?} is too long"),
                    ));
                }
                value.extend_from_slice(&chunk);
            }
            let value = String::from_utf8(value).map_err(|_| {
                error(
                    Code::InvalidBody,
                    format!("the form field {name:?} is not UTF-8"),
                )
            })?;
            fields.push((name, value));
            continue;
        }
        // The file: every field it was signed with has arrived. Anything after it is
        // not read (S3 ignores it too).
        let grant = store.check_post(&fields).map_err(refused)?;
        let mut writer = store.writer(&grant).await?;
        let mut size: u64 = 0;
        while let Some(chunk) = part.chunk().await.map_err(malformed)? {
            size = size.saturating_add(chunk.len() as u64);
            if size > grant.max_bytes {
                // Dropping the writer removes what was written.
                return Err(refused(BlobRefusal::TooLarge {
                    max: grant.max_bytes,
                }));
            }
            writer.write(&chunk).await?;
        }
        if size < grant.min_bytes {
            return Err(refused(BlobRefusal::TooSmall {
                min: grant.min_bytes,
            }));
        }
        writer.commit().await?;
        return Ok(());
    }
    Err(error(
        Code::InvalidBody,
        format!("the form has no part named {POST_FILE_FIELD:?}"),
    ))
}

fn refused(r: BlobRefusal) -> ApiError {
    ApiError(r.into())
}

fn malformed(e: multer::Error) -> ApiError {
    match e {
        multer::Error::StreamSizeExceeded { .. } | multer::Error::FieldSizeExceeded { .. } => {
            error(Code::BodyTooLarge, "the upload is too large")
        }
        e => error(Code::InvalidBody, format!("malformed multipart body: {e}")),
    }
}

/// A presigned download URL's signature.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Signed {
    /// When the URL expires, in Unix seconds.
    expires: String,
    /// The URL's signature (hex).
    sig: String,
}

/// Downloads a file with a presigned URL from the files API (the embedded server; in AWS
/// the URL points at S3). The key may contain `/`. Answers with the object's content
/// type and `X-Content-Type-Options: nosniff`; types a browser would run (HTML, SVG, XML,
/// scripts) come as an attachment of raw bytes (`application/octet-stream`) under
/// `Content-Security-Policy: sandbox`.
#[utoipa::path(
    get,
    path = "/v1/blobs/{key}",
    tag = "blobs",
    params(("key" = String, Path, description = "the object's key (may contain `/`)"), Signed),
    responses(
        (status = 200, description = "the object's bytes", content_type = "application/octet-stream"),
        (status = 403, body = ErrorBody, description = "SIGNATURE_INVALID or SIGNATURE_EXPIRED"),
        (status = 404, body = ErrorBody, description = "no such object"),
    )
)]
pub async fn download(
    State(s): State<AppState>,
    ApiPath(key): ApiPath<String>,
    ApiQuery(q): ApiQuery<Signed>,
) -> ApiResult<Response> {
    let store = served(&s)?;
    store.check_get(&key, &q.expires, &q.sig).map_err(refused)?;
    let Some((meta, bytes)) = store.read(&key).await? else {
        return Err(error(Code::NotFound, "no such file"));
    };
    let mut r = Response::new(Body::from_stream(bytes.map(|c| c.map(bytes::Bytes::from))));
    let h = r.headers_mut();
    // What a browser would run comes as raw bytes, as S3 serves it with the URL's
    // `response-content-type` (the S3 store's presign_get_as): both faces alike.
    let inline = inline_safe(&meta.content_type);
    let content_type = HeaderValue::from_str(if inline {
        &meta.content_type
    } else {
        DEFAULT_CONTENT_TYPE
    })
    .unwrap_or(HeaderValue::from_static(DEFAULT_CONTENT_TYPE));
    h.insert(header::CONTENT_TYPE, content_type);
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(meta.size));
    if let Ok(etag) = HeaderValue::from_str(&format!("\"{}\"", meta.etag)) {
        h.insert(header::ETAG, etag);
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // Nothing served here runs scripts or plugins, whatever it is.
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("sandbox"),
    );
    if !inline {
        h.insert(
            header::CONTENT_DISPOSITION,
            HeaderValue::from_static("attachment"),
        );
    }
    // The URL is the permission: caches may keep the answer for the caller only.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("private"));
    Ok(r)
}
