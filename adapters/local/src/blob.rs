//! The embedded BlobStore: objects as files on disk, and the presigned forms and URLs
//! that this server itself checks (where S3 checks them in AWS).
//!
//! # Layout
//!
//! Under its directory (`<data_dir>/blobs`):
//!
//! * `objects/<hh>/<sha256(key) in hex>`: one file per object, `hh` the hash's first two
//!   hex digits. The file starts with a [`HEADER_BYTES`]-byte header, a JSON object
//!   (`{"v":1,"key":…,"content_type":…,"size":…,"etag":…}`) padded with spaces, followed
//!   by the object's bytes.
//! * `tmp/`: objects being written. Emptied when the store opens.
//!
//! Why a hash and not the key as a path: two valid keys such as `a` and `a/b` would need
//! `a` to be a file and a directory at once; a key segment may be longer than a file
//! name may (1024 bytes against 255); and macOS's and Windows' case-insensitive file
//! systems would make `A.png` and `a.png` one object. Why the metadata in the object's
//! own file and not in a sidecar or in the item store: replacing an object is then one
//! rename, so its bytes, content type and etag change together or not at all, and no
//! crash can pair the new bytes with the old type (or leave metadata of an object that
//! is gone). The key is in the header, so the directory lists what it holds.
//!
//! # Writes
//!
//! A write goes to a temporary file in `tmp/` (same file system), which is synced
//! (`fsync`), renamed over the object's file, and the object's directory is synced: a
//! crash at any point leaves either the old object or the new one under the final name,
//! never part of one. A delete removes the file and syncs the directory.
//!
//! # Presigned forms and URLs
//!
//! Signed with HMAC-SHA256 under a 32-byte secret this server holds (`<data_dir>/blob.key`,
//! see [`load_or_create_key`]):
//!
//! * An upload form (`POST <public url>/v1/blobs`) has the fields `key`, `Content-Type`,
//!   `policy` (base64 of the JSON `{"key", "content_type", "min_bytes", "max_bytes",
//!   "expires"}`, `expires` in Unix seconds) and `signature` (hex of
//!   HMAC(secret, `"yunqiao-blob-post\n" + policy`)). The server takes no other field.
//! * A download URL is `<public url>/v1/blobs/<key>?expires=<unix secs>&sig=<hex of
//!   HMAC(secret, "yunqiao-blob-get\n" + key + "\n" + expires)>`.
//!
//! The two prefixes keep a form's signature from ever passing as a URL's, and the other
//! way round.

use std::io::{Read, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};
use yunqiao_core::blob::{
    Blob, BlobByteStream, BlobError, BlobMeta, BlobRefusal, BlobStore, BlobWriter,
    MAX_UPLOAD_BYTES, PostForm, ServedBlobStore, UploadGrant, UploadPolicy, validate_content_type,
    validate_expiry, validate_key,
};
use yunqiao_core::clock::SharedClock;

/// The size of an object file's header.
pub const HEADER_BYTES: usize = 4096;
/// The path, under the public URL, that takes uploads; objects are served below it.
pub const BLOBS_PATH: &str = "/v1/blobs";
/// The length of the signing secret.
pub const KEY_BYTES: usize = 32;
const POST_CONTEXT: &[u8] = b"yunqiao-blob-post\n";
const GET_CONTEXT: &[u8] = b"yunqiao-blob-get\n";
/// The fields of an upload form, in the order they are given.
const FORM_FIELDS: [&str; 4] = ["key", "Content-Type", "policy", "signature"];
/// Bytes read from disk per chunk when an object is streamed out.
const READ_CHUNK: usize = 64 * 1024;

type HmacSha256 = Hmac<Sha256>;

/// Reads the signing secret from `path` (64 hex digits), or creates it, owner-only, when
/// the file is missing. A file that holds anything else is an error, not replaced: forms
/// and URLs already handed out would stop working.
pub fn load_or_create_key(path: &Path) -> std::io::Result<Vec<u8>> {
    match std::fs::read_to_string(path) {
        Ok(text) => hex::decode(text.trim())
            .ok()
            .filter(|k| k.len() == KEY_BYTES)
            .ok_or_else(|| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!(
                        "{} does not hold a signing key ({} hex digits)",
                        path.display(),
                        KEY_BYTES * 2
                    ),
                )
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key: [u8; KEY_BYTES] = rand::random();
            let mut opts = std::fs::OpenOptions::new();
            // create_new: two processes starting at once never overwrite each other's.
            opts.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
            let mut f = opts.open(path)?;
            f.write_all(hex::encode(key).as_bytes())?;
            f.sync_all()?;
            if let Some(dir) = path.parent() {
                sync_dir(dir)?;
            }
            Ok(key.to_vec())
        }
        Err(e) => Err(e),
    }
}

/// The header of an object file.
#[derive(Debug, Serialize, Deserialize)]
struct Header {
    v: u32,
    key: String,
    content_type: String,
    size: u64,
    etag: String,
}

impl Header {
    fn meta(&self) -> BlobMeta {
        BlobMeta {
            size: self.size,
            content_type: self.content_type.clone(),
            etag: self.etag.clone(),
        }
    }

    fn encode(&self) -> Result<Vec<u8>, BlobError> {
        let mut out = serde_json::to_vec(self).map_err(|e| unavailable("header", e))?;
        if out.len() > HEADER_BYTES {
            // Keys and content types are bounded far below this; never reached.
            return Err(BlobError::Invalid(
                "the object's metadata is too long".into(),
            ));
        }
        out.resize(HEADER_BYTES, b' ');
        Ok(out)
    }

    fn decode(bytes: &[u8], path: &Path) -> Result<Header, BlobError> {
        serde_json::from_slice(bytes).map_err(|e| {
            BlobError::Unavailable(format!("corrupt object file {}: {e}", path.display()))
        })
    }
}

/// The policy an upload form carries, signed.
#[derive(Debug, Serialize, Deserialize)]
struct Policy {
    key: String,
    content_type: String,
    min_bytes: u64,
    max_bytes: u64,
    /// Unix seconds.
    expires: i64,
}

fn unavailable(what: &str, e: impl std::fmt::Display) -> BlobError {
    BlobError::Unavailable(format!("{what}: {e}"))
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    // Directories cannot be opened for syncing on Windows; their renames are durable there.
    #[cfg(unix)]
    std::fs::File::open(dir)?.sync_all()?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// The embedded [`BlobStore`]; see the module documentation. Cheap to clone.
#[derive(Clone)]
pub struct LocalBlobStore {
    inner: Arc<Inner>,
}

struct Inner {
    objects: PathBuf,
    tmp: PathBuf,
    secret: Vec<u8>,
    clock: SharedClock,
    /// `http://host:port`, without a trailing slash.
    public_url: String,
    max_upload: u64,
    /// Tests: fail a commit after the temporary file is synced, before the rename.
    #[cfg(test)]
    fail_before_rename: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for LocalBlobStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalBlobStore")
            .field("objects", &self.inner.objects)
            .field("public_url", &self.inner.public_url)
            .finish_non_exhaustive()
    }
}

impl LocalBlobStore {
    /// Opens (creating) the store in `dir`, signing with `secret` (at least 16 bytes; see
    /// [`load_or_create_key`]) forms and URLs that point at `public_url`
    /// (`https://api.example.com`, where this server's `/v1/blobs` is reached), and
    /// taking uploads of at most `max_upload` bytes. Removes what a crash left in `tmp/`.
    pub fn open(
        dir: &Path,
        secret: Vec<u8>,
        public_url: &str,
        max_upload: u64,
        clock: SharedClock,
    ) -> std::io::Result<LocalBlobStore> {
        if secret.len() < 16 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "the blob signing secret is at least 16 bytes",
            ));
        }
        let objects = dir.join("objects");
        let tmp = dir.join("tmp");
        std::fs::create_dir_all(&objects)?;
        std::fs::create_dir_all(&tmp)?;
        for entry in std::fs::read_dir(&tmp)? {
            let entry = entry?;
            let path = entry.path();
            if entry.file_type()?.is_dir() {
                std::fs::remove_dir_all(&path)?;
            } else {
                std::fs::remove_file(&path)?;
            }
        }
        // Every shard directory exists from the start: writes never create directories.
        for i in 0..=255u8 {
            std::fs::create_dir_all(objects.join(format!("{i:02x}")))?;
        }
        sync_dir(&objects)?;
        sync_dir(dir)?;
        Ok(LocalBlobStore {
            inner: Arc::new(Inner {
                objects,
                tmp,
                secret,
                clock,
                public_url: public_url.trim_end_matches('/').to_string(),
                max_upload: max_upload.min(MAX_UPLOAD_BYTES),
                #[cfg(test)]
                fail_before_rename: std::sync::atomic::AtomicBool::new(false),
            }),
        })
    }

    /// Where the object of `key` lives, and its directory.
    fn path(&self, key: &str) -> (PathBuf, PathBuf) {
        let hash = hex::encode(Sha256::digest(key.as_bytes()));
        let dir = self.inner.objects.join(&hash[..2]);
        (dir.join(&hash), dir)
    }

    fn mac(&self, context: &[u8], parts: &[&[u8]]) -> HmacSha256 {
        // HMAC takes a key of any length.
        let mut mac = <HmacSha256 as Mac>::new_from_slice(&self.inner.secret)
            .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
        mac.update(context);
        for p in parts {
            mac.update(p);
        }
        mac
    }

    fn now_ms(&self) -> i64 {
        self.inner.clock.now_ms()
    }

    /// Reads the header of an object file, `None` when there is none.
    fn read_header(path: &Path) -> Result<Option<(Header, std::fs::File)>, BlobError> {
        let mut f = match std::fs::File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(unavailable("open object", e)),
        };
        let mut buf = vec![0u8; HEADER_BYTES];
        f.read_exact(&mut buf)
            .map_err(|e| unavailable("read object header", e))?;
        Ok(Some((Header::decode(&buf, path)?, f)))
    }

    async fn blocking<T: Send + 'static>(
        f: impl FnOnce() -> Result<T, BlobError> + Send + 'static,
    ) -> Result<T, BlobError> {
        tokio::task::spawn_blocking(f)
            .await
            .map_err(|e| unavailable("blob task", e))?
    }

    /// A writer of the object `key` (already validated).
    async fn start_write(&self, key: &str, content_type: &str) -> Result<LocalWriter, BlobError> {
        let tmp_dir = self.inner.tmp.clone();
        let (file, temp) = Self::blocking(move || {
            let tmp = tempfile::NamedTempFile::new_in(&tmp_dir)
                .map_err(|e| unavailable("create temporary file", e))?;
            Ok(tmp.into_parts())
        })
        .await?;
        let mut file = tokio::fs::File::from_std(file);
        // Room for the header, written last (when the size and etag are known).
        file.write_all(&[b' '; HEADER_BYTES])
            .await
            .map_err(|e| unavailable("write object", e))?;
        let (path, dir) = self.path(key);
        Ok(LocalWriter {
            store: self.clone(),
            file,
            temp,
            path,
            dir,
            key: key.to_string(),
            content_type: content_type.to_string(),
            size: 0,
            hash: Sha256::new(),
        })
    }
}

/// An object being written to a temporary file; see [`BlobWriter`].
struct LocalWriter {
    store: LocalBlobStore,
    file: tokio::fs::File,
    /// Deletes the temporary file when dropped uncommitted.
    temp: tempfile::TempPath,
    path: PathBuf,
    dir: PathBuf,
    key: String,
    content_type: String,
    size: u64,
    hash: Sha256,
}

#[async_trait]
impl BlobWriter for LocalWriter {
    async fn write(&mut self, chunk: &[u8]) -> Result<(), BlobError> {
        self.file
            .write_all(chunk)
            .await
            .map_err(|e| unavailable("write object", e))?;
        self.hash.update(chunk);
        self.size += chunk.len() as u64;
        Ok(())
    }

    async fn commit(self: Box<Self>) -> Result<BlobMeta, BlobError> {
        let LocalWriter {
            store,
            mut file,
            temp,
            path,
            dir,
            key,
            content_type,
            size,
            hash,
        } = *self;
        // Like S3's single-part etags, a digest of the content (the first half of it).
        let etag = hex::encode(&hash.finalize()[..16]);
        let header = Header {
            v: 1,
            key,
            content_type,
            size,
            etag,
        };
        let encoded = header.encode()?;
        let io = |e| unavailable("write object", e);
        file.seek(SeekFrom::Start(0)).await.map_err(io)?;
        file.write_all(&encoded).await.map_err(io)?;
        file.flush().await.map_err(io)?;
        file.sync_all().await.map_err(io)?;
        drop(file);
        #[cfg(test)]
        if store
            .inner
            .fail_before_rename
            .load(std::sync::atomic::Ordering::SeqCst)
        {
            return Err(BlobError::Unavailable("injected failure".into()));
        }
        LocalBlobStore::blocking(move || {
            temp.persist(&path)
                .map_err(|e| unavailable("rename object", e.error))?;
            sync_dir(&dir).map_err(|e| unavailable("sync object directory", e))
        })
        .await?;
        drop(store);
        Ok(header.meta())
    }
}

#[async_trait]
impl BlobStore for LocalBlobStore {
    async fn put(
        &self,
        key: &str,
        bytes: Vec<u8>,
        content_type: &str,
    ) -> Result<BlobMeta, BlobError> {
        validate_key(key)?;
        validate_content_type(content_type)?;
        let mut w = Box::new(self.start_write(key, content_type).await?);
        w.write(&bytes).await?;
        w.commit().await
    }

    async fn get(&self, key: &str) -> Result<Option<Blob>, BlobError> {
        validate_key(key)?;
        let (path, _) = self.path(key);
        Self::blocking(move || {
            let Some((header, mut f)) = Self::read_header(&path)? else {
                return Ok(None);
            };
            let mut bytes = Vec::with_capacity(usize::try_from(header.size).unwrap_or(0));
            (&mut f)
                .take(header.size)
                .read_to_end(&mut bytes)
                .map_err(|e| unavailable("read object", e))?;
            if bytes.len() as u64 != header.size {
                return Err(BlobError::Unavailable(format!(
                    "corrupt object file {}: shorter than its header says",
                    path.display()
                )));
            }
            Ok(Some(Blob {
                meta: header.meta(),
                bytes,
            }))
        })
        .await
    }

    async fn head(&self, key: &str) -> Result<Option<BlobMeta>, BlobError> {
        validate_key(key)?;
        let (path, _) = self.path(key);
        Self::blocking(move || Ok(Self::read_header(&path)?.map(|(h, _)| h.meta()))).await
    }

    async fn delete(&self, key: &str) -> Result<(), BlobError> {
        validate_key(key)?;
        let (path, dir) = self.path(key);
        Self::blocking(move || {
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
                Err(e) => return Err(unavailable("delete object", e)),
            }
            sync_dir(&dir).map_err(|e| unavailable("sync object directory", e))
        })
        .await
    }

    async fn copy(&self, from: &str, to: &str) -> Result<Option<BlobMeta>, BlobError> {
        use futures_util::StreamExt;
        validate_key(from)?;
        validate_key(to)?;
        // What the open file holds is the version copied: a write to `from` meanwhile
        // renames another file over its name and leaves this one as it was.
        let Some((meta, mut bytes)) = ServedBlobStore::read(self, from).await? else {
            return Ok(None);
        };
        let mut w = Box::new(self.start_write(to, &meta.content_type).await?);
        while let Some(chunk) = bytes.next().await {
            w.write(&chunk.map_err(|e| unavailable("read object", e))?)
                .await?;
        }
        if w.size != meta.size {
            return Err(BlobError::Unavailable(format!(
                "corrupt object {from:?}: shorter than its header says"
            )));
        }
        Ok(Some(w.commit().await?))
    }

    async fn presign_post(&self, key: &str, policy: &UploadPolicy) -> Result<PostForm, BlobError> {
        validate_key(key)?;
        policy.validate()?;
        if policy.max_bytes > self.inner.max_upload {
            return Err(BlobError::Invalid(format!(
                "this server takes uploads of at most {} bytes",
                self.inner.max_upload
            )));
        }
        let expires = self
            .now_ms()
            .div_euclid(1000)
            .saturating_add(policy.expires_in.as_secs() as i64);
        let document = Policy {
            key: key.to_string(),
            content_type: policy.content_type.clone(),
            min_bytes: policy.min_bytes,
            max_bytes: policy.max_bytes,
            expires,
        };
        let encoded = base64::engine::general_purpose::STANDARD
            .encode(serde_json::to_vec(&document).map_err(|e| unavailable("policy", e))?);
        let signature = hex::encode(
            self.mac(POST_CONTEXT, &[encoded.as_bytes()])
                .finalize()
                .into_bytes(),
        );
        let [k, ct, p, s] = FORM_FIELDS;
        Ok(PostForm {
            url: format!("{}{BLOBS_PATH}", self.inner.public_url),
            fields: vec![
                (k.into(), key.into()),
                (ct.into(), policy.content_type.clone()),
                (p.into(), encoded),
                (s.into(), signature),
            ],
        })
    }

    async fn presign_get(&self, key: &str, expires_in: Duration) -> Result<String, BlobError> {
        validate_key(key)?;
        validate_expiry(expires_in)?;
        let expires = self
            .now_ms()
            .div_euclid(1000)
            .saturating_add(expires_in.as_secs() as i64)
            .to_string();
        let sig = hex::encode(
            self.mac(GET_CONTEXT, &[key.as_bytes(), b"\n", expires.as_bytes()])
                .finalize()
                .into_bytes(),
        );
        Ok(format!(
            "{}{BLOBS_PATH}/{}?expires={expires}&sig={sig}",
            self.inner.public_url,
            encode_path(key)
        ))
    }
}

#[async_trait]
impl ServedBlobStore for LocalBlobStore {
    fn max_upload_bytes(&self) -> u64 {
        self.inner.max_upload
    }

    fn check_post(&self, fields: &[(String, String)]) -> Result<UploadGrant, BlobRefusal> {
        let mut values: [Option<&str>; 4] = [None; 4];
        for (name, value) in fields {
            // Form field names are case-insensitive, as S3 takes them.
            let Some(i) = FORM_FIELDS
                .iter()
                .position(|f| f.eq_ignore_ascii_case(name))
            else {
                return Err(BlobRefusal::Mismatch(format!(
                    "the form was not signed with a field {name:?}"
                )));
            };
            if values[i].replace(value).is_some() {
                return Err(BlobRefusal::Mismatch(format!(
                    "the field {:?} is given twice",
                    FORM_FIELDS[i]
                )));
            }
        }
        let [key, content_type, policy, signature] = values;
        let (Some(policy), Some(signature)) = (policy, signature) else {
            return Err(BlobRefusal::SignatureInvalid(
                "the form has no policy or no signature".into(),
            ));
        };
        let sig = hex::decode(signature).map_err(|_| bad_signature())?;
        self.mac(POST_CONTEXT, &[policy.as_bytes()])
            .verify_slice(&sig)
            .map_err(|_| bad_signature())?;
        let document: Policy = base64::engine::general_purpose::STANDARD
            .decode(policy)
            .ok()
            .and_then(|json| serde_json::from_slice(&json).ok())
            .ok_or_else(|| BlobRefusal::SignatureInvalid("the policy is malformed".into()))?;
        if self.now_ms() > document.expires.saturating_mul(1000) {
            return Err(BlobRefusal::Expired);
        }
        if key != Some(document.key.as_str()) {
            return Err(BlobRefusal::Mismatch(
                "the key field is not the key the form was signed for".into(),
            ));
        }
        if content_type != Some(document.content_type.as_str()) {
            return Err(BlobRefusal::Mismatch(
                "the Content-Type field is not the type the form was signed for".into(),
            ));
        }
        Ok(UploadGrant {
            key: document.key,
            content_type: document.content_type,
            min_bytes: document.min_bytes,
            max_bytes: document.max_bytes.min(self.inner.max_upload),
        })
    }

    fn check_get(&self, key: &str, expires: &str, sig: &str) -> Result<(), BlobRefusal> {
        let sig = hex::decode(sig).map_err(|_| bad_signature())?;
        self.mac(GET_CONTEXT, &[key.as_bytes(), b"\n", expires.as_bytes()])
            .verify_slice(&sig)
            .map_err(|_| bad_signature())?;
        // Signed, so ours: a number.
        let expires: i64 = expires.parse().map_err(|_| bad_signature())?;
        if self.now_ms() > expires.saturating_mul(1000) {
            return Err(BlobRefusal::Expired);
        }
        Ok(())
    }

    async fn writer(&self, grant: &UploadGrant) -> Result<Box<dyn BlobWriter>, BlobError> {
        validate_key(&grant.key)?;
        validate_content_type(&grant.content_type)?;
        Ok(Box::new(
            self.start_write(&grant.key, &grant.content_type).await?,
        ))
    }

    async fn read(&self, key: &str) -> Result<Option<(BlobMeta, BlobByteStream)>, BlobError> {
        validate_key(key)?;
        let (path, _) = self.path(key);
        let mut file = match tokio::fs::File::open(&path).await {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(unavailable("open object", e)),
        };
        let mut buf = vec![0u8; HEADER_BYTES];
        file.read_exact(&mut buf)
            .await
            .map_err(|e| unavailable("read object header", e))?;
        let header = Header::decode(&buf, &path)?;
        let meta = header.meta();
        let stream = futures_util::stream::unfold(
            (file.take(header.size), vec![0u8; READ_CHUNK]),
            |(mut file, mut buf)| async move {
                match file.read(&mut buf).await {
                    Ok(0) => None,
                    Ok(n) => Some((Ok(buf[..n].to_vec()), (file, buf))),
                    Err(e) => Some((Err(e), (file, buf))),
                }
            },
        );
        Ok(Some((meta, Box::pin(stream))))
    }
}

fn bad_signature() -> BlobRefusal {
    BlobRefusal::SignatureInvalid("the signature does not match".into())
}

/// `key` as a URL path: each byte outside `A-Z a-z 0-9 - . _ ~ /` percent-encoded.
pub fn encode_path(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for b in key.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use yunqiao_core::clock::ManualClock;

    fn open(dir: &Path) -> LocalBlobStore {
        LocalBlobStore::open(
            dir,
            vec![7; KEY_BYTES],
            "http://127.0.0.1:1/",
            1 << 20,
            Arc::new(ManualClock::at(1_800_000_000_000)),
        )
        .unwrap()
    }

    fn files_under(dir: &Path) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                out.extend(files_under(&p));
            } else {
                out.push(p);
            }
        }
        out
    }

    /// A commit that fails after the temporary file is written and synced, before the
    /// rename (a crash there): the final name holds the old object, whole, and the
    /// temporary file is gone.
    #[tokio::test]
    async fn a_write_interrupted_before_the_rename_leaves_the_old_object() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        let old = store.put("k", b"old".to_vec(), "text/plain").await.unwrap();
        store
            .inner
            .fail_before_rename
            .store(true, std::sync::atomic::Ordering::SeqCst);
        let r = store.put("k", b"new bytes".to_vec(), "image/png").await;
        assert!(matches!(r, Err(BlobError::Unavailable(_))), "{r:?}");
        let r = store.put("fresh", b"new".to_vec(), "image/png").await;
        assert!(matches!(r, Err(BlobError::Unavailable(_))), "{r:?}");
        store
            .inner
            .fail_before_rename
            .store(false, std::sync::atomic::Ordering::SeqCst);
        let blob = store.get("k").await.unwrap().unwrap();
        assert_eq!((blob.bytes.as_slice(), blob.meta), (&b"old"[..], old));
        assert_eq!(store.head("fresh").await.unwrap(), None);
        assert_eq!(files_under(&dir.path().join("tmp")), Vec::<PathBuf>::new());
        assert_eq!(files_under(&dir.path().join("objects")).len(), 1);
    }

    /// A writer dropped midway (a client gone, a refused upload) leaves nothing.
    #[tokio::test]
    async fn an_abandoned_writer_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        let grant = UploadGrant {
            key: "u/1.png".into(),
            content_type: "image/png".into(),
            min_bytes: 0,
            max_bytes: 100,
        };
        let mut w = store.writer(&grant).await.unwrap();
        w.write(b"partial").await.unwrap();
        assert_eq!(files_under(&dir.path().join("tmp")).len(), 1);
        drop(w);
        assert_eq!(store.head("u/1.png").await.unwrap(), None);
        assert_eq!(files_under(&dir.path().join("tmp")), Vec::<PathBuf>::new());
        assert_eq!(
            files_under(&dir.path().join("objects")),
            Vec::<PathBuf>::new()
        );
    }

    /// What a killed process left in `tmp/` is removed when the store opens again, and
    /// objects are kept.
    #[tokio::test]
    async fn reopening_removes_leftover_temporary_files() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        store
            .put("kept", b"x".to_vec(), "text/plain")
            .await
            .unwrap();
        std::fs::write(dir.path().join("tmp/.tmpCRASH"), b"half").unwrap();
        drop(store);
        let store = open(dir.path());
        assert_eq!(files_under(&dir.path().join("tmp")), Vec::<PathBuf>::new());
        assert_eq!(store.get("kept").await.unwrap().unwrap().bytes, b"x");
    }

    #[test]
    fn the_key_file_is_created_once_owner_only_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("blob.key");
        let k = load_or_create_key(&path).unwrap();
        assert_eq!(k.len(), KEY_BYTES);
        assert_eq!(load_or_create_key(&path).unwrap(), k);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::write(&path, "not hex").unwrap();
        assert!(load_or_create_key(&path).is_err());
    }

    #[test]
    fn keys_become_url_paths() {
        assert_eq!(encode_path("u/7/a b.png"), "u/7/a%20b.png");
        assert_eq!(encode_path("文?#%"), "%E6%96%87%3F%23%25");
    }

    #[test]
    fn object_files_are_named_by_hash_whatever_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        // A file and a "directory" of one name, and two names equal but for case.
        let (a, _) = store.path("a");
        let (ab, _) = store.path("a/b");
        let (upper, _) = store.path("A");
        assert!(a != ab && a != upper);
        assert!(a.starts_with(dir.path().join("objects")));
        assert_eq!(a.file_name().unwrap().len(), 64);
    }
}
