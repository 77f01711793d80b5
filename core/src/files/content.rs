//! What a reader gets of a file: its bytes or a thumbnail, as a signed URL.
//!
//! * `GET /v1/files/{id}?thumb=<size>[&format=]` ([`Files::thumb`]): the file whose `url`
//!   points at its thumbnail. A thumbnail is made the first time it is asked for and
//!   kept under its own key ([`thumbs::thumb_key`]); later requests only sign a URL.
//!   First requests for one thumbnail at once in one process make it once (the others
//!   wait for it); in two processes (two Lambda sandboxes) both may make it, harmlessly:
//!   each write replaces the object whole (the stores write atomically), so a reader
//!   never sees part of one.
//! * `GET /v1/files/{id}/content[?thumb=]` ([`Files::content`]): the same URL, for a
//!   redirect, with how long the redirect may be cached ([`Content::max_age_secs`]).
//! * Making one runs on the [`ThumbWorker`]: at most `max_concurrent` at once on
//!   blocking threads; the others wait their turn before reading their source, so a
//!   waiting request holds no image in memory.
//! * Deleting a file deletes its thumbnails ([`Files::remove_thumbs`]), of every
//!   configured size and format; a thumbnail made while its file is being deleted is
//!   removed by its maker, which checks the file again once it has written it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;

use super::thumbs::{self, ThumbFormat, ThumbSpec, ThumbWorker};
use super::{FileRecord, FileView, Files, Status, blob_key, not_found};
use crate::auth::Caller;
use crate::error::{Code, Error, Result};

/// The largest source a thumbnail is made of. Files may be larger (`files.max_bytes`),
/// but an image this big is refused (`IMAGE_TOO_LARGE`) before it is read.
pub const MAX_SOURCE_BYTES: u64 = 50 * 1024 * 1024;

/// The longest a redirect to a URL may be cached: an hour.
pub const MAX_REDIRECT_AGE: Duration = Duration::from_secs(3600);

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
}

/// What a reader asks for besides the file: a thumbnail size (`?thumb=`), perhaps a
/// format (`?format=`), and what its client shows (`Accept`).
#[derive(Debug, Clone, Copy, Default)]
pub struct ThumbAsk<'a> {
    pub size: &'a str,
    pub format: Option<&'a str>,
    pub accept: Option<&'a str>,
}

/// A file whose URL points at one of its thumbnails.
#[derive(Debug, Clone)]
pub struct ThumbView {
    pub view: FileView,
    pub spec: ThumbSpec,
    pub format: ThumbFormat,
}

/// Where a reader's bytes are: a signed URL, and how long a redirect to it may be kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Content {
    pub url: String,
    /// A tenth of the URL's life, at most [`MAX_REDIRECT_AGE`]: a cached redirect still
    /// leads to a URL that works.
    pub max_age_secs: u64,
    /// Whether anyone may read it (a shared cache may keep the redirect).
    pub public: bool,
}

impl Files {
    /// Turns thumbnails on: made by `worker`, of `sizes` only.
    pub fn with_thumbs(mut self, thumbs: Thumbs) -> Files {
        self.thumbs = Some(thumbs);
        self
    }

    /// The sizes that may be asked for (none: thumbnails are off).
    pub fn thumb_sizes(&self) -> &[ThumbSpec] {
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
    /// of its thumbnail, made now if it was not yet. Sizes not configured are
    /// `THUMB_SIZE_NOT_ALLOWED`; files that are not JPEG, PNG, GIF or WebP images, or
    /// that cannot be read, `IMAGE_INVALID`; images over the limits `IMAGE_TOO_LARGE`.
    pub async fn thumb(&self, caller: &Caller, id: &str, ask: &ThumbAsk<'_>) -> Result<ThumbView> {
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
        if file.status != Status::Ready {
            return Err(Error::new(
                Code::FileNotUploaded,
                "the file is not complete yet: no thumbnails",
            ));
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
        let key = thumbs::thumb_key(&file.id, &spec, format);
        if self.blobs.head(&key).await?.is_none() {
            let t = self.thumbs.as_ref().ok_or_else(|| {
                Error::new(Code::ThumbSizeNotAllowed, "thumbnails are not made here")
            })?;
            let gate = t.gate(&key);
            let made = {
                let _turn = gate.lock().await;
                // Made by the one this request waited for?
                match self.blobs.head(&key).await {
                    Ok(Some(_)) => Ok(()),
                    Ok(None) => self.make_thumb(t, &file, &key, spec, format).await,
                    Err(e) => Err(e.into()),
                }
            };
            t.release(&key, gate);
            made?;
        }
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

    /// Makes the thumbnail `key` of `file` and stores it. The source is read only once
    /// the worker has a place for it.
    async fn make_thumb(
        &self,
        thumbs: &Thumbs,
        file: &FileRecord,
        key: &str,
        spec: ThumbSpec,
        format: ThumbFormat,
    ) -> Result<()> {
        if file.size > MAX_SOURCE_BYTES {
            return Err(Error::new(
                Code::ImageTooLarge,
                format!("thumbnails are made of images up to {MAX_SOURCE_BYTES} bytes"),
            )
            .with_details(json!({"size": file.size, "max_bytes": MAX_SOURCE_BYTES})));
        }
        let src_key = blob_key(&file.id);
        let load = async {
            let blob = self.blobs.get(&src_key).await?.ok_or_else(not_found)?;
            if blob.bytes.len() as u64 > MAX_SOURCE_BYTES {
                return Err(Error::new(Code::ImageTooLarge, "the image is too large"));
            }
            Ok(blob.bytes)
        };
        let bytes = thumbs.worker.make_from(load, spec, format).await?;
        self.blobs.put(key, bytes, format.content_type()).await?;
        // Deleted meanwhile: its delete may have missed this key, so remove it here.
        match self.record(&file.id).await {
            Ok(_) => Ok(()),
            Err(e) if e.code == Code::NotFound => {
                self.blobs.delete(key).await?;
                Err(not_found())
            }
            Err(e) => Err(e),
        }
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
            None => {
                let v = self.get(caller, id).await?;
                if v.file.status != Status::Ready {
                    return Err(Error::new(
                        Code::FileNotUploaded,
                        "the file is not complete yet",
                    ));
                }
                v
            }
        };
        let ttl = self.url_ttl(&view.file);
        Ok(Content {
            url: view.url.ok_or_else(not_found)?,
            max_age_secs: (ttl / 10).min(MAX_REDIRECT_AGE).as_secs(),
            public: view.file.public,
        })
    }

    /// Removes every thumbnail `file` may have (each configured size, each format).
    pub(super) async fn remove_thumbs(&self, file: &FileRecord) -> Result<()> {
        if file.status != Status::Ready {
            return Ok(());
        }
        for key in thumbs::thumb_keys(&file.id, self.thumb_sizes()) {
            self.blobs.delete(&key).await?;
        }
        Ok(())
    }
}
