//! Files the server makes itself rather than receives (QR codes): their bytes are
//! stored at once, and the file is ready, public and the admin's.

use super::*;

impl Files {
    /// Keeps `bytes` as a ready, public file of the admin's, named `name`, of the type
    /// sniffed from them (which must be one of `allowed`). The object first, then the
    /// record with its listing and quota use in one transaction; when that fails, the
    /// object goes again.
    pub async fn put_generated(
        &self,
        name: &str,
        bytes: Vec<u8>,
        allowed: &[&str],
    ) -> Result<FileView> {
        let content_type = sniff(&bytes)
            .filter(|t| allowed.contains(t))
            .ok_or_else(|| {
                Error::new(
                    Code::WechatError,
                    format!("WeChat answered bytes that are none of {allowed:?}"),
                )
            })?
            .to_string();
        let now = self.clock.now_ms();
        let id = crate::ids::new_id(now);
        let size = bytes.len() as u64;
        let file = FileRecord {
            id: id.clone(),
            owner: None,
            name: name.to_string(),
            size,
            content_type: content_type.clone(),
            public: true,
            status: Status::Ready,
            created_at: now,
            expires_at: None,
        };
        self.blobs.put(&blob_key(&id), bytes, &content_type).await?;
        let ops = vec![
            WriteOp::Update {
                pk: quota_pk(None),
                sk: "_".into(),
                update: Update::default()
                    .add("bytes", size as i64)
                    .add("files", 1)
                    .upsert(),
                cond: None,
            },
            WriteOp::put(
                Item::new(file_pk(&id), "_", file.attrs()),
                Some(Cond::NotExists),
            ),
            WriteOp::put(Item::new(owner_pk(None), &id, Map::new()), None),
        ];
        if let Err(e) = self.store.transact(ops).await {
            if let Err(d) = self.blobs.delete(&blob_key(&id)).await {
                tracing::warn!(file = %id, error = %d, "a generated file's bytes left behind");
            }
            return Err(e.into());
        }
        self.view(file).await
    }

    /// A file as the admin sees it; `None` when it is gone.
    pub async fn get_as_admin(&self, id: &str) -> Result<Option<FileView>> {
        self.get_if_readable(&Caller::AdminKey, id).await
    }
}
