//! Thumbnails kept in the blob store, and how long a redirect to a signed URL may be
//! kept; [`super::Files`] serves them (`GET /v1/files/{id}?thumb=`, `GET
//! /v1/files/{id}/content`).
//!
//! * A thumbnail is made the first time it is asked for and kept under its own key
//!   ([`super::thumbs::thumb_key`]); later requests only sign a URL ([`Thumbs::ensure`]).
//!   First requests for one thumbnail at once in one process make it once (the others
//!   wait for it); in two processes (two Lambda sandboxes) both may make it, harmlessly:
//!   each write replaces the object whole (the stores write atomically), so a reader
//!   never sees part of one.
//! * Making one runs on the [`ThumbWorker`]: at most `max_concurrent` at once on
//!   blocking threads; the others wait their turn before reading their source, so a
//!   waiting request holds no image in memory.
//! * A thumbnail written while its file is being deleted is removed by its maker, which
//!   asks whether the file is still there once it has written it; the delete removes the
//!   rest.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;

use crate::blob::BlobStore;
use crate::error::{Code, Error, Result};
use crate::files::thumbs::{ThumbFormat, ThumbSpec, ThumbWorker};

/// The largest source a thumbnail is made of. Files may be larger (`files.max_bytes`),
/// but an image this big is refused (`IMAGE_TOO_LARGE`) before it is read.
pub const MAX_SOURCE_BYTES: u64 = 50 * 1024 * 1024;

/// The longest a redirect to a URL may be cached: an hour.
pub const MAX_REDIRECT_AGE: Duration = Duration::from_secs(3600);

/// How long a redirect to a URL valid `ttl` may be cached: a tenth of it, at most
/// [`MAX_REDIRECT_AGE`], so a cached redirect still leads to a URL that works.
pub fn redirect_max_age(ttl: Duration) -> u64 {
    (ttl / 10).min(MAX_REDIRECT_AGE).as_secs()
}

/// Thumbnails on: the worker that makes them and the sizes that may be asked for.
#[derive(Clone)]
pub struct Thumbs {
    pub worker: ThumbWorker,
    pub sizes: Vec<ThumbSpec>,
    /// The thumbnails being made in this process, by key: a request for one of them
    /// waits for its maker instead of making it too.
    pub(super) making: Arc<Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>>,
}

impl Thumbs {
    pub fn new(worker: ThumbWorker, sizes: Vec<ThumbSpec>) -> Thumbs {
        Thumbs {
            worker,
            sizes,
            making: Arc::default(),
        }
    }

    /// The lock of the thumbnail `key`, shared by whoever asks for it meanwhile.
    fn gate(&self, key: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut m = self.making.lock().unwrap_or_else(|p| p.into_inner());
        m.entry(key.to_string()).or_default().clone()
    }

    /// Forgets `key`'s lock once nobody else holds it.
    fn release(&self, key: &str, gate: Arc<tokio::sync::Mutex<()>>) {
        let mut m = self.making.lock().unwrap_or_else(|p| p.into_inner());
        // Ours and the map's: nobody else is waiting.
        if Arc::strong_count(&gate) <= 2 {
            m.remove(key);
        }
    }

    /// Makes the thumbnail `key` (`spec`, `format`) of the image at `src_key` (`size`
    /// bytes) unless it is kept already, and keeps it. Once it is written,
    /// `still_there` says whether its file still exists: when not, the thumbnail is
    /// removed and the answer is `NOT_FOUND`.
    #[allow(clippy::too_many_arguments)]
    pub async fn ensure<F, Fut>(
        &self,
        blobs: &dyn BlobStore,
        src_key: &str,
        size: u64,
        key: &str,
        spec: ThumbSpec,
        format: ThumbFormat,
        still_there: F,
    ) -> Result<()>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<bool>>,
    {
        if blobs.head(key).await?.is_some() {
            return Ok(());
        }
        let gate = self.gate(key);
        let made = {
            let _turn = gate.lock().await;
            // Made by the one this request waited for?
            match blobs.head(key).await {
                Ok(Some(_)) => Ok(()),
                Ok(None) => {
                    self.make(blobs, src_key, size, key, spec, format, still_there)
                        .await
                }
                Err(e) => Err(e.into()),
            }
        };
        self.release(key, gate);
        made
    }

    #[allow(clippy::too_many_arguments)]
    async fn make<F, Fut>(
        &self,
        blobs: &dyn BlobStore,
        src_key: &str,
        size: u64,
        key: &str,
        spec: ThumbSpec,
        format: ThumbFormat,
        still_there: F,
    ) -> Result<()>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<bool>>,
    {
        if size > MAX_SOURCE_BYTES {
            return Err(too_large(size));
        }
        // Read once the worker has a place for it.
        let load = async {
            let blob = blobs.get(src_key).await?.ok_or_else(gone)?;
            if blob.bytes.len() as u64 > MAX_SOURCE_BYTES {
                return Err(too_large(blob.bytes.len() as u64));
            }
            Ok(blob.bytes)
        };
        let bytes = self.worker.make_from(load, spec, format).await?;
        blobs.put(key, bytes, format.content_type()).await?;
        // Deleted meanwhile: its delete may have missed this key, so remove it here.
        if still_there().await? {
            Ok(())
        } else {
            blobs.delete(key).await?;
            Err(gone())
        }
    }
}

fn gone() -> Error {
    Error::not_found("no such file")
}

fn too_large(size: u64) -> Error {
    Error::new(
        Code::ImageTooLarge,
        format!("thumbnails are made of images up to {MAX_SOURCE_BYTES} bytes"),
    )
    .with_details(json!({"size": size, "max_bytes": MAX_SOURCE_BYTES}))
}

/// What a reader asks for besides the file: a thumbnail size (`?thumb=`), perhaps a
/// format (`?format=`), and what its client shows (`Accept`).
#[derive(Debug, Clone, Copy, Default)]
pub struct ThumbAsk<'a> {
    pub size: &'a str,
    pub format: Option<&'a str>,
    pub accept: Option<&'a str>,
}

/// Where a reader's bytes are: a signed URL, and how long a redirect to it may be kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Content {
    pub url: String,
    /// [`redirect_max_age`] of the URL's life.
    pub max_age_secs: u64,
    /// Whether anyone may read it (a shared cache may keep the redirect).
    pub public: bool,
}
