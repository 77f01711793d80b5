//! Files for export and import (`docs/export-format.md`): ready files page by page with
//! their bytes, and a file written back by its id — its bytes, its record, its owner's
//! listing and quota use — ready at once (an import does not upload).

use serde::{Deserialize, Serialize};
use serde_json::Map;

use super::{FileRecord, Files, Status, blob_key, file_pk, owner_pk, quota_pk};
use crate::error::{Code, Error, Result};
use crate::ids;
use crate::outcome::Outcome;
use crate::store::{Cond, Item, Query, StoreError, Update, WriteOp};

/// A file as an archive line gives it; `created_at` in epoch ms.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileLine {
    pub id: String,
    #[serde(default)]
    pub owner: Option<String>,
    pub name: String,
    pub size: u64,
    pub content_type: String,
    #[serde(default)]
    pub public: bool,
    #[serde(default)]
    pub created_at: Option<i64>,
}

impl FileLine {
    /// Its fields as the API would take them.
    pub fn check(&self) -> Result<()> {
        if !ids::is_id(&self.id) {
            return Err(Error::invalid_field("id", "a file id is a yunqiao id"));
        }
        if self.owner.as_deref().is_some_and(|o| !ids::is_id(o)) {
            return Err(Error::invalid_field("owner", "owner is a user id or null"));
        }
        if self.name.is_empty() || self.name.len() > 255 || self.name.chars().any(char::is_control)
        {
            return Err(Error::invalid_field(
                "name",
                "a file name is 1 to 255 bytes without control characters",
            ));
        }
        let ct = &self.content_type;
        if ct.is_empty()
            || ct.len() > 255
            || !ct.is_ascii()
            || ct.chars().any(|c| c.is_ascii_control())
        {
            return Err(Error::invalid_field(
                "content_type",
                "a content type is printable ASCII",
            ));
        }
        Ok(())
    }
}

impl Files {
    /// One page of `owner`'s ready files (`None`: the admin key's), newest first.
    pub async fn dump_files(
        &self,
        owner: Option<&str>,
        cursor: Option<String>,
    ) -> Result<(Vec<FileLine>, Option<String>)> {
        let page = self
            .store
            .query(Query::partition(owner_pk(owner)).limit(100).after(cursor))
            .await?;
        let mut out = Vec::new();
        for it in &page.items {
            let f = match self.record(&it.sk).await {
                Ok(f) => f,
                Err(e) if e.code == Code::NotFound => continue,
                Err(e) => return Err(e),
            };
            if f.status != Status::Ready {
                continue;
            }
            out.push(FileLine {
                id: f.id,
                owner: f.owner,
                name: f.name,
                size: f.size,
                content_type: f.content_type,
                public: f.public,
                created_at: Some(f.created_at),
            });
        }
        Ok((out, page.cursor))
    }

    /// A ready file's bytes.
    pub async fn dump_bytes(&self, id: &str) -> Result<Vec<u8>> {
        match self.blobs.get(&blob_key(id)).await? {
            Some(b) => Ok(b.bytes),
            None => Err(Error::internal(format!(
                "the bytes of file {id:?} are missing"
            ))),
        }
    }

    /// Writes a file by its id with its bytes (import): created, changed, or left alone
    /// when the record and the bytes' size are those stored.
    pub async fn restore_file(&self, line: &FileLine, bytes: Vec<u8>) -> Result<Outcome> {
        line.check()?;
        if bytes.len() as u64 != line.size {
            return Err(Error::invalid_field(
                "size",
                format!(
                    "file {:?} declares {} bytes and has {}",
                    line.id,
                    line.size,
                    bytes.len()
                ),
            ));
        }
        let now = self.clock.now_ms();
        let file = FileRecord {
            id: line.id.clone(),
            owner: line.owner.clone(),
            name: line.name.clone(),
            size: line.size,
            content_type: line.content_type.clone(),
            public: line.public,
            status: Status::Ready,
            created_at: line.created_at.unwrap_or(now),
            expires_at: None,
        };
        let before = match self.record(&line.id).await {
            Ok(f) => Some(f),
            Err(e) if e.code == Code::NotFound => None,
            Err(e) => return Err(e),
        };
        let mut file = file;
        if let (None, Some(b)) = (line.created_at, &before) {
            file.created_at = b.created_at;
        }
        let stored = self.blobs.head(&blob_key(&line.id)).await?;
        if before.as_ref() == Some(&file) && stored.is_some_and(|m| m.size == line.size) {
            return Ok(Outcome::Unchanged);
        }
        self.blobs
            .put(&blob_key(&line.id), bytes, &line.content_type)
            .await?;
        let mut ops = vec![
            WriteOp::put(Item::new(file_pk(&file.id), "_", file.attrs()), None),
            WriteOp::put(
                Item::new(owner_pk(file.owner.as_deref()), &file.id, Map::new()),
                None,
            ),
        ];
        let quota = |owner: Option<&str>, bytes: i64, files: i64| WriteOp::Update {
            pk: quota_pk(owner),
            sk: "_".into(),
            update: Update::default()
                .add("bytes", bytes)
                .add("files", files)
                .upsert(),
            cond: None,
        };
        match &before {
            Some(b) => {
                if b.owner != file.owner {
                    ops.push(WriteOp::Delete {
                        pk: owner_pk(b.owner.as_deref()),
                        sk: b.id.clone(),
                        cond: None,
                    });
                }
                if b.owner != file.owner || b.size != file.size {
                    ops.push(quota(b.owner.as_deref(), -(b.size as i64), -1));
                    ops.push(quota(file.owner.as_deref(), file.size as i64, 1));
                }
            }
            None => ops.push(quota(file.owner.as_deref(), file.size as i64, 1)),
        }
        // Whoever else wrote this file meanwhile: the import's version stands.
        ops[0] = WriteOp::put(
            Item::new(file_pk(&file.id), "_", file.attrs()),
            Some(match &before {
                Some(_) => Cond::Exists,
                None => Cond::NotExists,
            }),
        );
        match self.store.transact(ops).await {
            Ok(()) if before.is_some() => Ok(Outcome::Changed),
            Ok(()) => Ok(Outcome::Created),
            Err(StoreError::TransactionCanceled { .. }) => Err(Error::new(
                Code::Conflict,
                format!("file {:?} changed during the import; retry", line.id),
            )),
            Err(e) => Err(e.into()),
        }
    }
}
