//! Files: what users upload (pictures, avatars, documents), with owners, rights and
//! quotas. The bytes never pass through the API: `POST /v1/files` answers a form signed
//! for exactly one object key, size and content type, which the client posts straight
//! to the blob store (`wx.uploadFile`); `POST /v1/files/{id}/complete` then checks what
//! arrived (the size, and the type sniffed from the bytes) before the file is usable.
//!
//! * A file is `pending` until completed, then `ready`. Pending files that are never
//!   completed expire with their objects ([`Files::sweep`]).
//! * Its owner and admins may read and delete it; anyone may read a `public` one.
//! * Reading answers a URL: a signed GET (private files: short-lived; public ones: the
//!   longest the store allows), so `<image src>` and `wx.downloadFile` need no token.
//! * Each owner's ready and pending bytes count against a quota, reserved when the
//!   upload is signed (so racing uploads cannot pass it) and given back on delete or
//!   expiry.
//! * The form writes a staging key ([`staging_key`]); `complete` copies one version of
//!   what arrived to the file's own key ([`blob_key`]) and checks that copy. A form stays
//!   valid until it expires and can be posted again, but only ever reaches the staging
//!   key: the bytes of a ready file never change. Staging objects are deleted on
//!   completion and, for uploads posted again later, by the sweep once the form expired.
//!
//! # Store layout
//!
//! * `file#<id>` / `_` — the file `{owner, name, size, content_type, public, status,
//!   created_at, expires_at?}`
//! * `ufile#<owner>` / `<id>` — an owner's files, for listing (written with the file)
//! * `fquota#<owner>` / `_` — `{bytes, files}` in use
//! * `fpending` / `<expiry ms, 13 digits>#<id>` — pending uploads, by expiry; after a
//!   completion or removal, the staging object to delete once the form has expired

mod content;
pub mod dump;
mod generated;
mod media;
mod media_settle;
mod sniff;
mod sweep;
pub mod thumbs;

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::auth::Caller;
use crate::blob::{BlobStore, UploadPolicy};
use crate::clock::SharedClock;
use crate::error::{Code, Error, Result};
use crate::keys;
use crate::store::{Cond, Item, ItemStore, Query, StoreError, Update, WriteOp};

pub use content::{Content, MAX_SOURCE_BYTES, ThumbAsk, Thumbs};
pub use media::{MEDIA_URL_TTL, MediaChecker, MediaKind, MediaVerdict};
pub use sniff::{sniff, type_matches};

/// The limits of the files area (`[files]` in the configuration).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilesConfig {
    /// The largest file, in bytes.
    pub max_bytes: u64,
    /// Content types users may upload: exact (`image/png`) or a family (`image/*`).
    pub allowed_types: Vec<String>,
    /// Bytes each owner may keep (pending uploads included).
    pub quota_bytes: u64,
    /// How long a signed upload form is valid.
    pub upload_ttl: Duration,
    /// How long a private file's URL is valid.
    pub url_ttl: Duration,
    /// How long a pending upload may wait for its completion before it expires.
    pub pending_ttl: Duration,
    /// Content types (exact or `image/*`) whose uploads WeChat checks once completed
    /// (see `files::media`); empty: none.
    pub media_check: Vec<String>,
}

impl Default for FilesConfig {
    fn default() -> Self {
        FilesConfig {
            max_bytes: 10 * 1024 * 1024,
            allowed_types: [
                "image/jpeg",
                "image/png",
                "image/gif",
                "image/webp",
                "audio/mpeg",
                "audio/mp4",
                "audio/aac",
                "video/mp4",
                "application/pdf",
                "text/plain",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect(),
            quota_bytes: 1024 * 1024 * 1024,
            upload_ttl: Duration::from_secs(10 * 60),
            url_ttl: Duration::from_secs(10 * 60),
            pending_ttl: Duration::from_secs(24 * 3600),
            media_check: Vec::new(),
        }
    }
}

/// What a client asks to upload.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UploadRequest {
    /// The file's name as the user knows it (shown back; never a storage path).
    pub name: String,
    /// Exact size in bytes.
    pub size: u64,
    pub content_type: String,
    #[serde(default)]
    pub public: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pending,
    /// Completed, waiting for WeChat's media check: its owner's only.
    Checking,
    Ready,
    /// WeChat's media check rejected it: its bytes are gone.
    Rejected,
}

/// A file as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct FileRecord {
    pub id: String,
    /// The owning user's id; `None` for files the admin key uploaded.
    pub owner: Option<String>,
    pub name: String,
    pub size: u64,
    pub content_type: String,
    pub public: bool,
    pub status: Status,
    pub created_at: i64,
    /// Pending files: when they expire.
    pub expires_at: Option<i64>,
}

/// A file as a caller sees it: with a URL when it is ready.
#[derive(Debug, Clone)]
pub struct FileView {
    pub file: FileRecord,
    pub url: Option<String>,
    pub url_expires_at: Option<i64>,
}

/// An upload the client makes: post `fields` then the file (part `file`) to `url`.
#[derive(Debug, Clone)]
pub struct Upload {
    pub file: FileRecord,
    pub url: String,
    pub fields: Vec<(String, String)>,
    pub expires_at: i64,
}

/// A file whose URL points at one of its thumbnails.
#[derive(Debug, Clone)]
pub struct ThumbView {
    pub view: FileView,
    pub spec: thumbs::ThumbSpec,
    pub format: thumbs::ThumbFormat,
}

/// A page of files.
#[derive(Debug, Clone)]
pub struct FilePage {
    pub items: Vec<FileView>,
    pub cursor: Option<String>,
}

const OWNER_ADMIN: &str = "~admin";
/// Expired uploads one sweep reads at a time, and the most pages one run sweeps.
pub const SWEEP_PAGE: usize = 100;
pub const SWEEP_PAGES: usize = 20;
const LIST_MAX: usize = 100;

fn file_pk(id: &str) -> String {
    format!("{}{id}", keys::FILE)
}

fn owner_key(owner: Option<&str>) -> &str {
    owner.unwrap_or(OWNER_ADMIN)
}

fn owner_pk(owner: Option<&str>) -> String {
    format!("{}{}", keys::OWNER_FILES, owner_key(owner))
}

fn quota_pk(owner: Option<&str>) -> String {
    format!("{}{}", keys::FILE_QUOTA, owner_key(owner))
}

fn pending_sk(expires_at: i64, id: &str) -> String {
    format!("{:013}#{id}", expires_at.max(0))
}

/// The object key of a file's bytes.
pub fn blob_key(id: &str) -> String {
    format!("f/{id}")
}

/// The object key a file's upload form writes: what arrives waits there until
/// `complete` copies it to [`blob_key`].
pub fn staging_key(id: &str) -> String {
    format!("up/{id}")
}

/// How long one completion holds a file (copying and checking its bytes) before another
/// may take over: longer than any copy of [`FilesConfig::max_bytes`] takes.
const CLAIM_MS: i64 = 60_000;

fn not_found() -> Error {
    Error::not_found("no such file")
}

impl FileRecord {
    fn attrs(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("owner".into(), json!(self.owner));
        m.insert("name".into(), json!(self.name));
        m.insert("size".into(), json!(self.size));
        m.insert("content_type".into(), json!(self.content_type));
        m.insert("public".into(), json!(self.public));
        m.insert("status".into(), json!(self.status));
        m.insert("created_at".into(), json!(self.created_at));
        if let Some(e) = self.expires_at {
            m.insert("expires_at".into(), json!(e));
        }
        m
    }

    fn from_item(id: &str, item: &Item) -> Result<FileRecord> {
        let s = |k: &str| item.get(k).and_then(Value::as_str).map(str::to_string);
        Ok(FileRecord {
            id: id.to_string(),
            owner: s("owner"),
            name: s("name").unwrap_or_default(),
            size: item.get("size").and_then(Value::as_u64).unwrap_or(0),
            content_type: s("content_type").unwrap_or_default(),
            public: item.get("public").and_then(Value::as_bool).unwrap_or(false),
            status: item
                .get("status")
                .cloned()
                .and_then(|v| serde_json::from_value(v).ok())
                .ok_or_else(|| Error::internal(format!("file {id:?} has no status")))?,
            created_at: item.get("created_at").and_then(Value::as_i64).unwrap_or(0),
            expires_at: item.get("expires_at").and_then(Value::as_i64),
        })
    }
}

/// The files service.
pub struct Files {
    store: Arc<dyn ItemStore>,
    blobs: Arc<dyn BlobStore>,
    clock: SharedClock,
    cfg: FilesConfig,
    /// Thumbnails, when a thumbnailer was given ([`Files::with_thumbs`]).
    thumbs: Option<Thumbs>,
    /// Media checks, once set ([`Files::set_media_checks`]).
    media: std::sync::OnceLock<Arc<dyn MediaChecker>>,
}

impl Files {
    pub fn new(
        store: Arc<dyn ItemStore>,
        blobs: Arc<dyn BlobStore>,
        clock: SharedClock,
        cfg: FilesConfig,
    ) -> Files {
        Files {
            store,
            blobs,
            clock,
            cfg,
            thumbs: None,
            media: std::sync::OnceLock::new(),
        }
    }

    pub fn config(&self) -> &FilesConfig {
        &self.cfg
    }

    /// Who owns what `caller` uploads: its user, or the admin key.
    fn uploader(caller: &Caller) -> Result<Option<String>> {
        match caller {
            Caller::User { user, .. } => Ok(Some(user.id.clone())),
            Caller::AdminKey => Ok(None),
            Caller::Anonymous => Err(Error::new(Code::Unauthenticated, "log in to upload files")),
        }
    }

    fn may_manage(caller: &Caller, f: &FileRecord) -> bool {
        caller.is_admin() || (f.owner.is_some() && caller.user().map(|u| &u.id) == f.owner.as_ref())
    }

    fn may_read(caller: &Caller, f: &FileRecord) -> bool {
        (f.public && f.status == Status::Ready) || Self::may_manage(caller, f)
    }

    /// Checks an upload request against the limits: name, size, type.
    fn check_request(&self, r: &UploadRequest) -> Result<String> {
        if r.name.is_empty() || r.name.len() > 255 || r.name.chars().any(char::is_control) {
            return Err(Error::invalid_field(
                "name",
                "a file name is 1 to 255 bytes without control characters",
            ));
        }
        if r.size == 0 {
            return Err(Error::invalid_field("size", "a file has at least 1 byte"));
        }
        if r.size > self.cfg.max_bytes {
            return Err(Error::new(
                Code::FileTooLarge,
                format!("files are at most {} bytes", self.cfg.max_bytes),
            )
            .with_details(json!({"field": "size", "max_bytes": self.cfg.max_bytes})));
        }
        let ct = r.content_type.trim().to_ascii_lowercase();
        // One name per type (`image/jpg` is stored and served as `image/jpeg`).
        let essence = sniff::canonical(ct.split(';').next().unwrap_or_default().trim()).to_string();
        if !sniff::allowed(&essence, &self.cfg.allowed_types) {
            return Err(Error::new(
                Code::FileTypeNotAllowed,
                format!("{essence:?} files may not be uploaded here"),
            )
            .with_details(json!({"field": "content_type", "allowed": self.cfg.allowed_types})));
        }
        Ok(essence)
    }

    /// `POST /v1/files`: a pending file and the form to upload its bytes with. Its size
    /// is reserved against the owner's quota now.
    pub async fn start_upload(&self, caller: &Caller, r: UploadRequest) -> Result<Upload> {
        let owner = Self::uploader(caller)?;
        let content_type = self.check_request(&r)?;
        let now = self.clock.now_ms();
        let id = crate::ids::new_id(now);
        let expires_at = now + self.cfg.pending_ttl.as_millis() as i64;
        let file = FileRecord {
            id: id.clone(),
            owner: owner.clone(),
            name: r.name,
            size: r.size,
            content_type: content_type.clone(),
            public: r.public,
            status: Status::Pending,
            created_at: now,
            expires_at: Some(expires_at),
        };
        // The form first: a store that cannot sign leaves nothing behind.
        let policy = UploadPolicy {
            content_type: content_type.clone(),
            min_bytes: r.size,
            max_bytes: r.size,
            expires_in: self.cfg.upload_ttl,
        };
        let form = self.blobs.presign_post(&staging_key(&id), &policy).await?;
        let quota = self.cfg.quota_bytes;
        let ops = vec![
            WriteOp::Update {
                pk: quota_pk(owner.as_deref()),
                sk: "_".into(),
                update: Update::default()
                    .add("bytes", r.size as i64)
                    .add("files", 1)
                    .upsert(),
                cond: Some(Cond::Or(vec![
                    Cond::AttrNotExists("bytes".into()),
                    Cond::Le("bytes".into(), json!(quota.saturating_sub(r.size))),
                ])),
            },
            WriteOp::put(
                Item::new(file_pk(&id), "_", file.attrs()),
                Some(Cond::NotExists),
            ),
            WriteOp::put(Item::new(owner_pk(owner.as_deref()), &id, Map::new()), None),
            WriteOp::put(
                Item::new(keys::FILES_PENDING, pending_sk(expires_at, &id), Map::new()),
                None,
            ),
        ];
        if r.size > quota {
            return Err(quota_exceeded(quota));
        }
        match self.store.transact(ops).await {
            Ok(()) => {}
            Err(StoreError::TransactionCanceled { failed }) if failed.contains(&0) => {
                return Err(quota_exceeded(quota));
            }
            Err(e) => return Err(e.into()),
        }
        Ok(Upload {
            file,
            url: form.url,
            fields: form.fields,
            expires_at: now + self.cfg.upload_ttl.as_millis() as i64,
        })
    }

    async fn record(&self, id: &str) -> Result<FileRecord> {
        if !crate::ids::is_id(id) {
            return Err(not_found());
        }
        let item = self
            .store
            .get(&file_pk(id), "_")
            .await?
            .ok_or_else(not_found)?;
        FileRecord::from_item(id, &item)
    }

    /// `POST /v1/files/{id}/complete` (its owner): the object must be there with the
    /// declared size, and its bytes must be of the declared type. A file whose bytes
    /// contradict its type is removed with them.
    ///
    /// One version of the staging object is copied to the file's key and that copy is
    /// checked, so what a form posts later never reaches a checked file. One completion
    /// at a time does this (a claim on the record; another one meanwhile is 409
    /// `CONFLICT`), so no second copy can land after the first was checked.
    pub async fn complete(&self, caller: &Caller, id: &str) -> Result<FileView> {
        let file = self.record(id).await?;
        if !Self::may_manage(caller, &file) {
            return Err(not_found());
        }
        if file.status == Status::Ready {
            return self.view(file).await;
        }
        if !self.claim(id).await? {
            let now = self.record(id).await?;
            if now.status == Status::Ready {
                return self.view(now).await;
            }
            return Err(Error::new(
                Code::Conflict,
                "the file's bytes are being checked by another completion; retry",
            ));
        }
        let key = blob_key(id);
        let Some(meta) = self.blobs.copy(&staging_key(id), &key).await? else {
            self.release(id).await?;
            return Err(Error::new(
                Code::FileNotUploaded,
                "the file's bytes have not arrived; upload them with the form first",
            ));
        };
        if meta.size != file.size {
            self.remove(&file).await?;
            return Err(Error::new(
                Code::FileNotUploaded,
                format!(
                    "{} bytes arrived where {} were declared; the upload was removed",
                    meta.size, file.size
                ),
            ));
        }
        let head = self.blobs.read_prefix(&key, sniff::SNIFF_BYTES).await?;
        let sniffed = sniff(head.as_deref().unwrap_or_default());
        if !type_matches(
            &file.content_type,
            sniffed,
            head.as_deref().unwrap_or_default(),
        ) {
            self.remove(&file).await?;
            return Err(Error::new(
                Code::FileTypeMismatch,
                format!(
                    "the bytes are {} where {:?} was declared; the upload was removed",
                    sniffed.map_or("of an unknown type".to_string(), |t| format!("{t:?}")),
                    file.content_type
                ),
            )
            .with_details(json!({"declared": file.content_type, "sniffed": sniffed})));
        }
        // A checked type waits for WeChat's verdict (`media`); the claim is given back
        // when the check cannot be started, so the completion can be retried.
        let trace = match self.start_media_check(&file).await {
            Ok(t) => t,
            Err(e) => {
                self.release(id).await?;
                return Err(e);
            }
        };
        let ready = FileRecord {
            status: if trace.is_some() {
                Status::Checking
            } else {
                Status::Ready
            },
            expires_at: None,
            ..file.clone()
        };
        let mut attrs = ready.attrs();
        attrs.remove("expires_at");
        if let Some(t) = &trace {
            attrs.insert("trace_id".into(), json!(t));
        }
        let mut ops = vec![WriteOp::put(
            Item::new(file_pk(id), "_", attrs),
            Some(Cond::eq("status", "pending")),
        )];
        if let Some(t) = &trace {
            ops.push(Self::check_entry(id, t));
        }
        ops.extend(self.cleanup_entry(&file));
        match self.store.transact(ops).await {
            Ok(()) => {}
            // Completed (or removed) meanwhile: answer what it is now.
            Err(StoreError::TransactionCanceled { .. }) => {
                let now = self.record(id).await?;
                return self.view(now).await;
            }
            Err(e) => return Err(e.into()),
        }
        // What the form posts from now on lands here again; the sweep deletes that.
        if let Err(e) = self.blobs.delete(&staging_key(id)).await {
            tracing::warn!(file = %id, error = %e, "complete: staging object left for the sweep");
        }
        self.view(ready).await
    }

    /// Takes a pending file's completion for [`CLAIM_MS`]; `false` when it is not
    /// pending or another completion holds it.
    async fn claim(&self, id: &str) -> Result<bool> {
        let now = self.clock.now_ms();
        let cond = Cond::And(vec![
            Cond::eq("status", "pending"),
            Cond::Or(vec![
                Cond::AttrNotExists("checking".into()),
                Cond::Lt("checking".into(), json!(now - CLAIM_MS)),
            ]),
        ]);
        match self
            .store
            .update(
                &file_pk(id),
                "_",
                Update::default().set("checking", now),
                Some(cond),
            )
            .await
        {
            Ok(_) => Ok(true),
            Err(StoreError::ConditionFailed) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Gives a claim back (the file stays pending).
    async fn release(&self, id: &str) -> Result<()> {
        match self
            .store
            .update(
                &file_pk(id),
                "_",
                Update::default().remove("checking"),
                Some(Cond::eq("status", "pending")),
            )
            .await
        {
            Ok(_) | Err(StoreError::ConditionFailed) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// When a file's upload form expires.
    fn form_expires_at(&self, file: &FileRecord) -> i64 {
        file.created_at + self.cfg.upload_ttl.as_millis() as i64
    }

    /// The store writes that turn a pending file's entry in `fpending` into the entry
    /// that has the sweep delete its staging object once the form has expired (nothing
    /// when it has: then only the pending entry goes).
    fn cleanup_entry(&self, file: &FileRecord) -> Vec<WriteOp> {
        let form_expiry = self.form_expires_at(file);
        let cleanup =
            (form_expiry > self.clock.now_ms()).then(|| pending_sk(form_expiry, &file.id));
        let pending = file.expires_at.map(|e| pending_sk(e, &file.id));
        if cleanup == pending {
            return Vec::new();
        }
        let mut ops = Vec::new();
        if let Some(sk) = pending {
            ops.push(WriteOp::Delete {
                pk: keys::FILES_PENDING.into(),
                sk,
                cond: None,
            });
        }
        if let Some(sk) = cleanup {
            ops.push(WriteOp::put(
                Item::new(keys::FILES_PENDING, sk, Map::new()),
                None,
            ));
        }
        ops
    }

    async fn view(&self, file: FileRecord) -> Result<FileView> {
        // A checking file is its owner's (and admins') only: `may_read` saw to that.
        if !matches!(file.status, Status::Ready | Status::Checking) {
            return Ok(FileView {
                file,
                url: None,
                url_expires_at: None,
            });
        }
        let ttl = if file.public {
            crate::blob::MAX_EXPIRY
        } else {
            self.cfg.url_ttl
        };
        let url = self
            .blobs
            .presign_get_as(&blob_key(&file.id), &file.content_type, ttl)
            .await?;
        Ok(FileView {
            url: Some(url),
            url_expires_at: Some(self.clock.now_ms() + ttl.as_millis() as i64),
            file,
        })
    }

    /// `GET /v1/files/{id}`: the file and a URL to its bytes, for whoever may read it.
    /// Others are told it does not exist.
    pub async fn get(&self, caller: &Caller, id: &str) -> Result<FileView> {
        let file = self.record(id).await?;
        if !Self::may_read(caller, &file) {
            return Err(not_found());
        }
        self.view(file).await
    }

    /// A file a record may point at: ready, and the writer's own or public (admins:
    /// any ready file); else 400 `FILE_NOT_USABLE`, the same for a missing file.
    pub async fn usable(&self, caller: &Caller, id: &str) -> Result<FileRecord> {
        let file = match self.record(id).await {
            Ok(f) => f,
            Err(e) if e.code == Code::NotFound => return Err(unusable(id)),
            Err(e) => return Err(e),
        };
        let ok = match file.status {
            Status::Ready => file.public || Self::may_manage(caller, &file),
            // Its owner may use it already; others see it once it passed.
            Status::Checking => Self::may_manage(caller, &file),
            Status::Pending | Status::Rejected => false,
        };
        if !ok {
            return Err(unusable(id));
        }
        Ok(file)
    }

    /// A file as `caller` may see it, `None` when it may not (or the file is gone): what
    /// a record's expanded `file` field shows.
    pub async fn get_if_readable(&self, caller: &Caller, id: &str) -> Result<Option<FileView>> {
        match self.get(caller, id).await {
            Ok(v) => Ok(Some(v)),
            Err(e) if e.code == Code::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `DELETE /v1/files/{id}` (its owner, admins): the file and its bytes.
    pub async fn delete(&self, caller: &Caller, id: &str) -> Result<()> {
        let file = self.record(id).await?;
        if !Self::may_manage(caller, &file) {
            return Err(not_found());
        }
        self.remove(&file).await
    }

    /// Removes a file: its objects first (a failure leaves the file to delete again),
    /// then the record, its listing, its pending entry, and its bytes from the quota.
    /// While its form is valid, an entry stays for the sweep to delete what the form
    /// may still post.
    async fn remove(&self, file: &FileRecord) -> Result<()> {
        self.remove_thumbs(file).await?;
        self.blobs.delete(&staging_key(&file.id)).await?;
        self.blobs.delete(&blob_key(&file.id)).await?;
        let mut ops = vec![
            WriteOp::Delete {
                pk: file_pk(&file.id),
                sk: "_".into(),
                cond: Some(Cond::Exists),
            },
            WriteOp::Delete {
                pk: owner_pk(file.owner.as_deref()),
                sk: file.id.clone(),
                cond: None,
            },
            WriteOp::Update {
                pk: quota_pk(file.owner.as_deref()),
                sk: "_".into(),
                update: Update::default()
                    .add("bytes", -(file.size as i64))
                    .add("files", -1)
                    .upsert(),
                cond: None,
            },
        ];
        ops.extend(self.cleanup_entry(file));
        match self.store.transact(ops).await {
            // Removed meanwhile by someone else: nothing more to do.
            Ok(()) | Err(StoreError::TransactionCanceled { .. }) => {}
            Err(e) => return Err(e.into()),
        }
        // Again, now the file is gone: a thumbnail written meanwhile, by a maker that
        // still saw the file, is removed here (one that no longer sees it removes its own).
        if let Err(e) = self.remove_thumbs(file).await {
            tracing::warn!(file = %file.id, error = %e, "thumbnails left behind");
        }
        Ok(())
    }

    /// Turns thumbnails on: made by its worker, of its sizes only.
    pub fn with_thumbs(mut self, thumbs: Thumbs) -> Files {
        self.thumbs = Some(thumbs);
        self
    }

    /// The sizes that may be asked for (none: thumbnails are off).
    pub fn thumb_sizes(&self) -> &[thumbs::ThumbSpec] {
        self.thumbs.as_ref().map_or(&[], |t| &t.sizes)
    }

    fn url_ttl(&self, f: &FileRecord) -> Duration {
        if f.public {
            crate::blob::MAX_EXPIRY
        } else {
            self.cfg.url_ttl
        }
    }

    /// `GET /v1/files/{id}?thumb=`: for whoever may read the file, the file with a URL
    /// of its thumbnail, made now if it was not yet ([`content`]). Sizes not configured
    /// are `THUMB_SIZE_NOT_ALLOWED`; files that are not JPEG, PNG, GIF or WebP images,
    /// or that cannot be read, `IMAGE_INVALID`; images over the limits
    /// `IMAGE_TOO_LARGE`; files not complete yet `FILE_NOT_UPLOADED`.
    pub async fn thumb(&self, caller: &Caller, id: &str, ask: &ThumbAsk<'_>) -> Result<ThumbView> {
        use thumbs::ThumbFormat;
        let spec = thumbs::check_allowed(ask.size, self.thumb_sizes())?;
        let chosen = match ask.format {
            Some(name) => Some(ThumbFormat::from_name(name).ok_or_else(|| {
                Error::invalid_field("format", "a thumbnail's format is webp, jpeg or png")
            })?),
            None => None,
        };
        let file = self.record(id).await?;
        if !Self::may_read(caller, &file) {
            return Err(not_found());
        }
        match file.status {
            Status::Pending => return Err(not_complete()),
            Status::Rejected => return Err(media::rejected()),
            Status::Ready | Status::Checking => {}
        }
        if !thumbs::thumbable(&file.content_type) {
            return Err(Error::new(
                Code::ImageInvalid,
                format!(
                    "thumbnails are made of JPEG, PNG, GIF and WebP images, not {:?}",
                    file.content_type
                ),
            )
            .with_details(json!({"content_type": file.content_type})));
        }
        let format = chosen.unwrap_or_else(|| ThumbFormat::choose(ask.accept, &file.content_type));
        let t = self
            .thumbs
            .as_ref()
            .ok_or_else(|| Error::new(Code::ThumbSizeNotAllowed, "thumbnails are not made here"))?;
        let key = thumbs::thumb_key(&file.id, &spec, format);
        let still_there = || async {
            match self.record(&file.id).await {
                Ok(_) => Ok(true),
                Err(e) if e.code == Code::NotFound => Ok(false),
                Err(e) => Err(e),
            }
        };
        t.ensure(
            self.blobs.as_ref(),
            &blob_key(&file.id),
            file.size,
            &key,
            spec,
            format,
            still_there,
        )
        .await?;
        let ttl = self.url_ttl(&file);
        let url = self
            .blobs
            .presign_get_as(&key, format.content_type(), ttl)
            .await?;
        Ok(ThumbView {
            view: FileView {
                url: Some(url),
                url_expires_at: Some(self.clock.now_ms() + ttl.as_millis() as i64),
                file,
            },
            spec,
            format,
        })
    }

    /// `GET /v1/files/{id}/content[?thumb=]`: where the bytes (or the thumbnail) are,
    /// for whoever may read the file; others are told it does not exist. A file not
    /// complete yet is `FILE_NOT_UPLOADED`.
    pub async fn content(
        &self,
        caller: &Caller,
        id: &str,
        ask: Option<&ThumbAsk<'_>>,
    ) -> Result<Content> {
        let view = match ask {
            Some(a) => self.thumb(caller, id, a).await?.view,
            None => self.get(caller, id).await?,
        };
        let url = match view.file.status {
            Status::Rejected => return Err(media::rejected()),
            _ => view.url.ok_or_else(not_complete)?,
        };
        Ok(Content {
            url,
            max_age_secs: content::redirect_max_age(self.url_ttl(&view.file)),
            public: view.file.public,
        })
    }

    /// Removes every thumbnail `file` may have (each configured size, each format).
    async fn remove_thumbs(&self, file: &FileRecord) -> Result<()> {
        if file.status == Status::Pending {
            return Ok(());
        }
        for key in thumbs::thumb_keys(&file.id, self.thumb_sizes()) {
            self.blobs.delete(&key).await?;
        }
        Ok(())
    }

    /// `GET /v1/files`: the caller's own files, newest first.
    pub async fn list(
        &self,
        caller: &Caller,
        limit: Option<usize>,
        cursor: Option<String>,
    ) -> Result<FilePage> {
        let owner = Self::uploader(caller)?;
        let limit = limit.unwrap_or(20);
        if !(1..=LIST_MAX).contains(&limit) {
            return Err(Error::invalid_field(
                "limit",
                format!("limit is 1 to {LIST_MAX}"),
            ));
        }
        if let Some(c) = &cursor
            && crate::store::decode_cursor(c).is_err()
        {
            return Err(Error::new(
                Code::InvalidCursor,
                "the cursor is not one we gave",
            ));
        }
        let page = self
            .store
            .query(
                Query::partition(owner_pk(owner.as_deref()))
                    .backwards()
                    .limit(limit)
                    .after(cursor),
            )
            .await?;
        let mut items = Vec::with_capacity(page.items.len());
        for it in &page.items {
            match self.record(&it.sk).await {
                Ok(f) => items.push(self.view(f).await?),
                Err(e) if e.code == Code::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        Ok(FilePage {
            items,
            cursor: page.cursor,
        })
    }

    /// Bytes and files an owner has in use (its quota's use).
    pub async fn usage(&self, owner: Option<&str>) -> Result<(u64, u64)> {
        let item = self.store.get(&quota_pk(owner), "_").await?;
        let n = |k: &str| {
            item.as_ref()
                .and_then(|i| i.get(k))
                .and_then(Value::as_i64)
                .unwrap_or(0)
                .max(0) as u64
        };
        Ok((n("bytes"), n("files")))
    }
}

/// Where a profile's `avatar_file` points: the stable URL of a ready, public image of the
/// user's own (what a browser would run, SVG included, is no avatar).
#[async_trait::async_trait]
impl crate::auth::AvatarFiles for Files {
    async fn avatar_path(&self, user_id: &str, file_id: &str) -> Result<String> {
        let refused = || {
            Error::new(
                Code::FileNotUsable,
                format!("{file_id:?} is not a ready, public image of your own"),
            )
            .with_details(json!({ "file": file_id }))
        };
        let file = match self.record(file_id).await {
            Ok(f) => f,
            Err(e) if e.code == Code::NotFound => return Err(refused()),
            Err(e) => return Err(e),
        };
        let image =
            file.content_type.starts_with("image/") && crate::blob::inline_safe(&file.content_type);
        if file.status != Status::Ready
            || !file.public
            || !image
            || file.owner.as_deref() != Some(user_id)
        {
            return Err(refused());
        }
        Ok(content_path(&file.id))
    }
}

/// The path of the stable URL of a file's bytes (`GET /v1/files/{id}/content`, which
/// answers a redirect to a freshly signed URL).
pub fn content_path(id: &str) -> String {
    format!("/v1/files/{id}/content")
}

fn quota_exceeded(quota: u64) -> Error {
    Error::new(
        Code::QuotaExceeded,
        format!("this upload would pass the {quota} bytes you may keep; delete files first"),
    )
    .with_details(json!({"quota_bytes": quota}))
}

fn not_complete() -> Error {
    Error::new(
        Code::FileNotUploaded,
        "the file is not complete yet: upload its bytes, then complete it",
    )
}

fn unusable(id: &str) -> Error {
    Error::new(
        Code::FileNotUsable,
        format!("{id:?} is not a ready file you may use (your own, or a public one)"),
    )
    .with_details(json!({ "file": id }))
}

#[cfg(test)]
mod tests;
