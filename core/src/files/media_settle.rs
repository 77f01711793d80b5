//! Media checks on [`Files`]: started when a checked upload completes, settled by the
//! pushed verdict (see [`super::media`]).

use std::sync::Arc;

use serde_json::{Map, Value, json};

use super::media::{MEDIA_URL_TTL, MediaChecker, MediaKind, MediaVerdict, check_pk, matches};
use super::{FileRecord, Files, Status, blob_key, file_pk};
use crate::error::{Code, Result};
use crate::store::{Cond, Item, StoreError, Update, WriteOp};

impl Files {
    /// Turns media checks on (for the types of `files.media_check`).
    pub fn set_media_checks(&self, checker: Arc<dyn MediaChecker>) {
        let _ = self.media.set(checker);
    }

    /// Starts the check a completed upload needs, if any: WeChat's trace id.
    pub(super) async fn start_media_check(&self, file: &FileRecord) -> Result<Option<String>> {
        let (Some(checker), Some(owner)) = (self.media.get(), file.owner.as_deref()) else {
            return Ok(None);
        };
        let Some(kind) = MediaKind::of(&file.content_type) else {
            return Ok(None);
        };
        if !matches(&self.cfg.media_check, &file.content_type) {
            return Ok(None);
        }
        let url = self
            .blobs
            .presign_get_as(&blob_key(&file.id), &file.content_type, MEDIA_URL_TTL)
            .await?;
        checker.start(owner, &url, kind).await.map(Some)
    }

    /// The store writes that remember a file's check by its trace id.
    pub(super) fn check_entry(file_id: &str, trace_id: &str) -> WriteOp {
        let mut m = Map::new();
        m.insert("file".into(), json!(file_id));
        m.insert("trace_id".into(), json!(trace_id));
        WriteOp::put(Item::new(check_pk(trace_id), "_", m), None)
    }

    /// Settles the file a pushed verdict is about: `ready` when it passed, else
    /// `rejected` (bytes and thumbnails deleted). `false` when no file waits for this
    /// trace id (a check a cloud function started, or one settled already).
    /// Idempotent: the same verdict again changes nothing.
    pub async fn settle_media_check(&self, v: &MediaVerdict) -> Result<bool> {
        let pk = check_pk(&v.trace_id);
        let Some(entry) = self.store.get(&pk, "_").await? else {
            return Ok(false);
        };
        let id = entry
            .get("file")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let forget = WriteOp::Delete {
            pk: pk.clone(),
            sk: "_".into(),
            cond: None,
        };
        let file = match self.record(&id).await {
            Ok(f) => f,
            Err(e) if e.code == Code::NotFound => {
                self.store.transact(vec![forget]).await?;
                return Ok(true);
            }
            Err(e) => return Err(e),
        };
        if file.status == Status::Checking {
            let status = if v.passed() { "ready" } else { "rejected" };
            let update = Update::default().set("status", status).set(
                "check",
                json!({"suggest": v.suggest, "label": v.label, "errcode": v.errcode}),
            );
            let ops = vec![
                WriteOp::Update {
                    pk: file_pk(&id),
                    sk: "_".into(),
                    update,
                    cond: Some(Cond::And(vec![
                        Cond::eq("status", "checking"),
                        Cond::eq("trace_id", v.trace_id.as_str()),
                    ])),
                },
                forget,
            ];
            match self.store.transact(ops).await {
                Ok(()) => {}
                // Settled (or deleted) meanwhile: answered as what it is now, below.
                Err(StoreError::TransactionCanceled { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        } else {
            self.store.transact(vec![forget]).await?;
        }
        let now = match self.record(&id).await {
            Ok(f) => f,
            Err(e) if e.code == Code::NotFound => return Ok(true),
            Err(e) => return Err(e),
        };
        if now.status == Status::Rejected {
            // Deleted after the status changed, so nothing serves them meanwhile; a
            // failure here is retried with WeChat's retry of the push.
            self.remove_thumbs(&now).await?;
            self.blobs.delete(&blob_key(&id)).await?;
        }
        Ok(true)
    }
}
