//! The BlobStore port: objects (files) addressed by key, and the presigned forms and URLs
//! that let a client move the bytes straight to and from storage.
//!
//! A mini-program uploads with `wx.uploadFile` (a multipart POST) to the URL of a
//! [`PostForm`], sending its `fields` as `formData` and the file under the name
//! [`POST_FILE_FIELD`]; the store checks the signed [`UploadPolicy`] (key, content type,
//! size, expiry) itself, so no upload ever passes through the API. It downloads with a
//! presigned GET URL (`wx.downloadFile`, `<image src>`).
//!
//! Semantics every implementation follows:
//!
//! * Keys are checked with [`validate_key`] before anything else; a bad key is
//!   [`BlobError::InvalidKey`] and touches nothing.
//! * Absence is an answer, not an error: `get` and `head` of a missing key are `Ok(None)`,
//!   and `delete` of a missing key is `Ok(())`.
//! * `put` replaces any object under the key; so does `copy`, which copies the source as
//!   it is at one moment (a write to the source during the copy is either wholly in it or
//!   not at all).
//! * Presigning never touches the stored object: it only signs what the client may do, for
//!   [`MIN_EXPIRY`] up to [`MAX_EXPIRY`].

use std::time::Duration;

use async_trait::async_trait;

use crate::error::{Code, Error};

/// The longest key, in bytes (S3's limit).
pub const MAX_KEY_BYTES: usize = 1024;
/// The longest content type, in bytes.
pub const MAX_CONTENT_TYPE_BYTES: usize = 255;
/// The largest object a single presigned POST may upload (S3's limit for one POST).
pub const MAX_UPLOAD_BYTES: u64 = 5 * 1024 * 1024 * 1024;
/// The shortest lifetime of a presigned form or URL.
pub const MIN_EXPIRY: Duration = Duration::from_secs(1);
/// The longest lifetime of a presigned form or URL (SigV4's limit: seven days).
pub const MAX_EXPIRY: Duration = Duration::from_secs(7 * 24 * 3600);
/// The name of the multipart part that carries the file in a presigned POST: `name` in
/// `wx.uploadFile`. It must be the last part of the form.
pub const POST_FILE_FIELD: &str = "file";
/// The content type of an object stored without one.
pub const DEFAULT_CONTENT_TYPE: &str = "application/octet-stream";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BlobError {
    #[error("invalid key: {0}")]
    InvalidKey(String),
    /// Any other invalid argument: a content type, an upload policy, an expiry.
    #[error("invalid request: {0}")]
    Invalid(String),
    #[error("blob store unavailable: {0}")]
    Unavailable(String),
}

impl From<BlobError> for Error {
    fn from(e: BlobError) -> Self {
        match e {
            BlobError::InvalidKey(m) | BlobError::Invalid(m) => {
                Error::new(Code::InvalidArgument, m)
            }
            BlobError::Unavailable(m) => {
                tracing::error!(error = %m, "blob store unavailable");
                Error::new(Code::StoreUnavailable, "the file store is unavailable")
            }
        }
    }
}

/// What the store knows about an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobMeta {
    /// Size in bytes.
    pub size: u64,
    /// [`DEFAULT_CONTENT_TYPE`] when the object was stored without one.
    pub content_type: String,
    /// Opaque, without quotes; changes whenever the content does.
    pub etag: String,
}

/// An object with its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blob {
    pub bytes: Vec<u8>,
    pub meta: BlobMeta,
}

/// What a presigned upload may store: exactly this content type, between `min_bytes` and
/// `max_bytes` bytes (inclusive), within `expires_in` from now. The key is fixed by the
/// form too.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadPolicy {
    pub content_type: String,
    pub min_bytes: u64,
    pub max_bytes: u64,
    pub expires_in: Duration,
}

impl UploadPolicy {
    /// Any size from 0 to `max_bytes`.
    pub fn new(content_type: impl Into<String>, max_bytes: u64, expires_in: Duration) -> Self {
        UploadPolicy {
            content_type: content_type.into(),
            min_bytes: 0,
            max_bytes,
            expires_in,
        }
    }

    pub fn validate(&self) -> Result<(), BlobError> {
        validate_content_type(&self.content_type)?;
        if self.min_bytes > self.max_bytes {
            return Err(BlobError::Invalid(
                "the minimum upload size exceeds the maximum".into(),
            ));
        }
        if self.max_bytes > MAX_UPLOAD_BYTES {
            return Err(BlobError::Invalid(format!(
                "uploads are at most {MAX_UPLOAD_BYTES} bytes"
            )));
        }
        validate_expiry(self.expires_in)
    }
}

/// A presigned upload: POST a `multipart/form-data` body to `url` with every one of
/// `fields`, in this order, followed by the file as the part named [`POST_FILE_FIELD`].
/// The fields are not secret but are signed: change one and the store refuses the upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostForm {
    pub url: String,
    pub fields: Vec<(String, String)>,
}

/// Object storage. See the module documentation for the semantics.
#[async_trait]
pub trait BlobStore: Send + Sync + 'static {
    /// Stores `bytes` under `key`, replacing what was there.
    async fn put(
        &self,
        key: &str,
        bytes: Vec<u8>,
        content_type: &str,
    ) -> Result<BlobMeta, BlobError>;

    async fn get(&self, key: &str) -> Result<Option<Blob>, BlobError>;

    async fn head(&self, key: &str) -> Result<Option<BlobMeta>, BlobError>;

    /// Removes the object; removing a missing object succeeds.
    async fn delete(&self, key: &str) -> Result<(), BlobError>;

    /// Copies the object under `from` (its bytes and content type) to `to`, replacing
    /// what was there; `Ok(None)`, touching nothing, when `from` is missing. The copy is
    /// of one version of `from`: never part of one upload and part of another. Stores
    /// that copy on their side should (this reads the whole object and puts it).
    async fn copy(&self, from: &str, to: &str) -> Result<Option<BlobMeta>, BlobError> {
        validate_key(to)?;
        let Some(blob) = self.get(from).await? else {
            return Ok(None);
        };
        let meta = self.put(to, blob.bytes, &blob.meta.content_type).await?;
        Ok(Some(meta))
    }

    /// A form that lets its holder upload the object under `key`, as `policy` allows, as
    /// often as it likes until the form expires.
    async fn presign_post(&self, key: &str, policy: &UploadPolicy) -> Result<PostForm, BlobError>;

    /// A URL that lets its holder GET the object under `key` for `expires_in`.
    async fn presign_get(&self, key: &str, expires_in: Duration) -> Result<String, BlobError>;

    /// [`BlobStore::presign_get`] for an object stored as `content_type`, to be served
    /// safely: what a browser would run ([`inline_safe`] says no) comes as an
    /// attachment of raw bytes ([`DEFAULT_CONTENT_TYPE`]), never inline. A store that
    /// serves its own downloads decides that from the stored type when it serves (this
    /// default); one that cannot (S3) asks for it in the URL.
    async fn presign_get_as(
        &self,
        key: &str,
        content_type: &str,
        expires_in: Duration,
    ) -> Result<String, BlobError> {
        let _ = content_type;
        self.presign_get(key, expires_in).await
    }

    /// The first `n` bytes of the object (fewer when it is shorter), to sniff its type.
    /// Stores that can read a range should (this reads the whole object).
    async fn read_prefix(&self, key: &str, n: usize) -> Result<Option<Vec<u8>>, BlobError> {
        Ok(self.get(key).await?.map(|mut b| {
            b.bytes.truncate(n);
            b.bytes
        }))
    }
}

/// Why a server that answers its own presigned forms and URLs ([`ServedBlobStore`])
/// refused one. Each is a stable error code ([`Code`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BlobRefusal {
    /// `SIGNATURE_INVALID` (403): the signature does not match what the form or URL
    /// carries, or there is none.
    #[error("{0}")]
    SignatureInvalid(String),
    /// `SIGNATURE_EXPIRED` (403).
    #[error("the presigned form or URL has expired")]
    Expired,
    /// `UPLOAD_MISMATCH` (403): a field disagrees with the signed policy, or the form
    /// carries a field it was not signed with.
    #[error("{0}")]
    Mismatch(String),
    /// `UPLOAD_TOO_LARGE` (413).
    #[error("the file is larger than the form allows ({max} bytes)")]
    TooLarge { max: u64 },
    /// `UPLOAD_TOO_SMALL` (400).
    #[error("the file is smaller than the form allows ({min} bytes)")]
    TooSmall { min: u64 },
}

impl From<BlobRefusal> for Error {
    fn from(r: BlobRefusal) -> Self {
        let code = match &r {
            BlobRefusal::SignatureInvalid(_) => Code::SignatureInvalid,
            BlobRefusal::Expired => Code::SignatureExpired,
            BlobRefusal::Mismatch(_) => Code::UploadMismatch,
            BlobRefusal::TooLarge { .. } => Code::UploadTooLarge,
            BlobRefusal::TooSmall { .. } => Code::UploadTooSmall,
        };
        let details = match &r {
            BlobRefusal::TooLarge { max } => serde_json::json!({ "max_bytes": max }),
            BlobRefusal::TooSmall { min } => serde_json::json!({ "min_bytes": min }),
            _ => serde_json::json!({}),
        };
        Error::new(code, r.to_string()).with_details(details)
    }
}

/// What a checked upload form lets its holder store: exactly this key and content type,
/// `min_bytes` to `max_bytes` bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadGrant {
    pub key: String,
    pub content_type: String,
    pub min_bytes: u64,
    pub max_bytes: u64,
}

/// An object's bytes, in chunks, as they are read from storage.
pub type BlobByteStream = futures_util::stream::BoxStream<'static, Result<Vec<u8>, std::io::Error>>;

/// An object being written: nothing is visible under its key until [`BlobWriter::commit`]
/// returns, and dropping the writer uncommitted leaves no trace (the object that was
/// there stays as it was).
#[async_trait]
pub trait BlobWriter: Send {
    async fn write(&mut self, chunk: &[u8]) -> Result<(), BlobError>;
    /// Makes the object durable and visible under its key, replacing what was there.
    async fn commit(self: Box<Self>) -> Result<BlobMeta, BlobError>;
}

/// A store whose presigned forms and URLs this server checks and serves itself (the
/// embedded face's disk store), where S3 would do it in AWS: the upload and download
/// endpoints check a form or URL here, then stream the bytes in or out.
#[async_trait]
pub trait ServedBlobStore: BlobStore {
    /// The largest upload this server takes, whatever a form says.
    fn max_upload_bytes(&self) -> u64;

    /// Checks the text fields of an upload form as they arrived before the file part:
    /// the signature, the expiry, and that the key and content type are the signed ones
    /// and no field is unsigned.
    fn check_post(&self, fields: &[(String, String)]) -> Result<UploadGrant, BlobRefusal>;

    /// Checks a presigned GET URL's `expires` and `sig` query parameters for `key`.
    fn check_get(&self, key: &str, expires: &str, sig: &str) -> Result<(), BlobRefusal>;

    /// A writer for the object a checked form grants. The caller counts the bytes
    /// against the grant's range and drops the writer to abandon the upload.
    async fn writer(&self, grant: &UploadGrant) -> Result<Box<dyn BlobWriter>, BlobError>;

    /// The object under `key` as a stream of its bytes, with what the store knows of it.
    async fn read(&self, key: &str) -> Result<Option<(BlobMeta, BlobByteStream)>, BlobError>;
}

/// A key is 1 to [`MAX_KEY_BYTES`] bytes of printable characters (no control
/// characters, no backslash), does not start with `/`, and its `/`-separated segments are
/// neither empty nor `.` or `..`: it is also a safe relative path on a disk.
pub fn validate_key(key: &str) -> Result<(), BlobError> {
    let bad = |why: &str| Err(BlobError::InvalidKey(why.to_string()));
    if key.is_empty() {
        return bad("a key is not empty");
    }
    if key.len() > MAX_KEY_BYTES {
        return bad("a key is at most 1024 bytes");
    }
    if key.chars().any(|c| c.is_control() || c == '\\') {
        return bad("a key has no control characters or backslashes");
    }
    if key.starts_with('/') {
        return bad("a key does not start with '/'");
    }
    if key
        .split('/')
        .any(|s| s.is_empty() || s == "." || s == "..")
    {
        return bad("a key has no empty, '.' or '..' segments");
    }
    Ok(())
}

/// A content type is 1 to [`MAX_CONTENT_TYPE_BYTES`] bytes of visible ASCII and spaces,
/// such as `image/png` or `text/plain; charset=utf-8`.
pub fn validate_content_type(content_type: &str) -> Result<(), BlobError> {
    if content_type.is_empty()
        || content_type.len() > MAX_CONTENT_TYPE_BYTES
        || !content_type
            .bytes()
            .all(|b| b == b' ' || b.is_ascii_graphic())
        || !content_type.contains('/')
    {
        return Err(BlobError::Invalid(format!(
            "invalid content type {content_type:?}"
        )));
    }
    Ok(())
}

/// Whether a browser may show `content_type` inline: images other than SVG, audio, video,
/// plain text, CSV, JSON, PDF and raw bytes. Anything else (HTML, SVG, XML, JavaScript,
/// types we do not know) is served as an attachment of raw bytes, by every store.
pub fn inline_safe(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let Some((top, sub)) = essence.split_once('/') else {
        return false;
    };
    match top {
        "image" => matches!(
            sub,
            "png" | "jpeg" | "gif" | "webp" | "avif" | "bmp" | "heic" | "heif" | "x-icon"
        ),
        "audio" | "video" => !sub.contains("xml"),
        "text" => matches!(sub, "plain" | "csv"),
        "application" => matches!(sub, "json" | "pdf" | "octet-stream"),
        _ => false,
    }
}

/// A presigned form or URL lives from [`MIN_EXPIRY`] to [`MAX_EXPIRY`].
pub fn validate_expiry(expires_in: Duration) -> Result<(), BlobError> {
    if expires_in < MIN_EXPIRY || expires_in > MAX_EXPIRY {
        return Err(BlobError::Invalid(
            "a presigned form or URL expires in 1 second to 7 days".into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys() {
        for ok in [
            "a",
            "u/123/avatar.png",
            "文件/照片 1.jpg",
            "a..b",
            ".hidden",
            &"k".repeat(MAX_KEY_BYTES),
        ] {
            assert_eq!(validate_key(ok), Ok(()), "{ok:?}");
        }
        for bad in [
            "",
            "/a",
            "a//b",
            "a/",
            "..",
            "a/../b",
            "./a",
            "a\nb",
            "a\0b",
            "a\u{7f}",
            "a\\b",
            &"k".repeat(MAX_KEY_BYTES + 1),
        ] {
            assert!(
                matches!(validate_key(bad), Err(BlobError::InvalidKey(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn what_a_browser_would_run_is_an_attachment() {
        for inline in [
            "image/png",
            "image/JPEG",
            "image/webp",
            "video/mp4",
            "audio/mpeg",
            "text/plain; charset=utf-8",
            "application/json",
            "application/octet-stream",
        ] {
            assert!(inline_safe(inline), "{inline}");
        }
        for attachment in [
            "text/html",
            "TEXT/HTML; charset=utf-8",
            "image/svg+xml",
            "application/xhtml+xml",
            "text/xml",
            "application/xml",
            "text/javascript",
            "application/javascript",
            "application/ecmascript",
            "text/xsl",
            "multipart/x-mixed-replace",
            "application/x-shockwave-flash",
            "nonsense",
        ] {
            assert!(!inline_safe(attachment), "{attachment}");
        }
    }

    #[test]
    fn policies() {
        let p = UploadPolicy::new("image/png", 1024, Duration::from_secs(600));
        assert_eq!(p.validate(), Ok(()));
        for bad in [
            UploadPolicy {
                min_bytes: 2048,
                ..p.clone()
            },
            UploadPolicy {
                max_bytes: MAX_UPLOAD_BYTES + 1,
                ..p.clone()
            },
            UploadPolicy {
                content_type: "png".into(),
                ..p.clone()
            },
            UploadPolicy {
                content_type: "image/png\r\nx: y".into(),
                ..p.clone()
            },
            UploadPolicy {
                expires_in: Duration::ZERO,
                ..p.clone()
            },
            UploadPolicy {
                expires_in: MAX_EXPIRY + Duration::from_secs(1),
                ..p.clone()
            },
        ] {
            assert!(
                matches!(bad.validate(), Err(BlobError::Invalid(_))),
                "{bad:?}"
            );
        }
    }
}
