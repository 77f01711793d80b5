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
//! * `put` replaces any object under the key.
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

    /// A form that lets its holder upload the object under `key`, as `policy` allows, as
    /// often as it likes until the form expires.
    async fn presign_post(&self, key: &str, policy: &UploadPolicy) -> Result<PostForm, BlobError>;

    /// A URL that lets its holder GET the object under `key` for `expires_in`.
    async fn presign_get(&self, key: &str, expires_in: Duration) -> Result<String, BlobError>;

    /// The first `n` bytes of the object (fewer when it is shorter), to sniff its type.
    /// Stores that can read a range should (this reads the whole object).
    async fn read_prefix(&self, key: &str, n: usize) -> Result<Option<Vec<u8>>, BlobError> {
        Ok(self.get(key).await?.map(|mut b| {
            b.bytes.truncate(n);
            b.bytes
        }))
    }
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
