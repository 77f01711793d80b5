//! The files service over the memory store and an in-memory blob store, on a manual
//! clock. (The real upload protocol, signatures and all, is in the blob-store
//! conformance suite and the acceptance tests; here the test puts the bytes itself, as
//! the client's POST would.)

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;

use super::*;
use crate::blob::{Blob, BlobError, BlobMeta, PostForm};
use crate::clock::ManualClock;
use crate::memory_store::MemoryStore;
use crate::test_support::user;

#[derive(Default)]
struct MemBlobs(Mutex<HashMap<String, Blob>>);

#[async_trait]
impl BlobStore for MemBlobs {
    async fn put(
        &self,
        key: &str,
        bytes: Vec<u8>,
        ct: &str,
    ) -> std::result::Result<BlobMeta, BlobError> {
        let meta = BlobMeta {
            size: bytes.len() as u64,
            content_type: ct.into(),
            etag: format!("{:x}", bytes.len()),
        };
        self.0.lock().expect("lock").insert(
            key.into(),
            Blob {
                bytes,
                meta: meta.clone(),
            },
        );
        Ok(meta)
    }
    async fn get(&self, key: &str) -> std::result::Result<Option<Blob>, BlobError> {
        Ok(self.0.lock().expect("lock").get(key).cloned())
    }
    async fn head(&self, key: &str) -> std::result::Result<Option<BlobMeta>, BlobError> {
        Ok(self
            .0
            .lock()
            .expect("lock")
            .get(key)
            .map(|b| b.meta.clone()))
    }
    async fn delete(&self, key: &str) -> std::result::Result<(), BlobError> {
        self.0.lock().expect("lock").remove(key);
        Ok(())
    }
    async fn presign_post(
        &self,
        key: &str,
        p: &UploadPolicy,
    ) -> std::result::Result<PostForm, BlobError> {
        p.validate()?;
        Ok(PostForm {
            url: "https://blobs.test/upload".into(),
            fields: vec![
                ("key".into(), key.into()),
                ("Content-Type".into(), p.content_type.clone()),
            ],
        })
    }
    async fn presign_get(
        &self,
        key: &str,
        expires: Duration,
    ) -> std::result::Result<String, BlobError> {
        Ok(format!(
            "https://blobs.test/{key}?expires={}",
            expires.as_secs()
        ))
    }
}

const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0";

struct World {
    clock: ManualClock,
    blobs: Arc<MemBlobs>,
    files: Files,
}

fn world(cfg: FilesConfig) -> World {
    let clock = ManualClock::at(1_800_000_000_000);
    let shared: SharedClock = Arc::new(clock.clone());
    let blobs = Arc::new(MemBlobs::default());
    let files = Files::new(
        Arc::new(MemoryStore::new(shared.clone())),
        blobs.clone(),
        shared,
        cfg,
    );
    World {
        clock,
        blobs,
        files,
    }
}

fn png_request(public: bool) -> UploadRequest {
    UploadRequest {
        name: "cat.png".into(),
        size: PNG.len() as u64,
        content_type: "image/png".into(),
        public,
    }
}

impl World {
    /// Signs, uploads `bytes` as the client would, completes.
    async fn upload(&self, who: &Caller, r: UploadRequest, bytes: &[u8]) -> Result<FileView> {
        let up = self.files.start_upload(who, r).await?;
        let key = up
            .fields
            .iter()
            .find(|(k, _)| k == "key")
            .map(|(_, v)| v.clone())
            .expect("a key field");
        self.blobs.put(&key, bytes.to_vec(), "image/png").await?;
        self.files.complete(who, &up.file.id).await
    }

    fn objects(&self) -> usize {
        self.blobs.0.lock().expect("lock").len()
    }
}

#[tokio::test]
async fn an_upload_becomes_ready_and_only_its_readers_get_a_url() {
    let w = world(FilesConfig::default());
    let alice = user("alice");
    let bob = user("bob");
    let private = w
        .upload(&alice, png_request(false), PNG)
        .await
        .expect("uploaded");
    assert_eq!(private.file.status, Status::Ready);
    assert_eq!(private.file.content_type, "image/png");
    assert_eq!(private.file.owner.as_deref(), Some("alice"));
    assert!(
        private
            .url
            .as_deref()
            .is_some_and(|u| u.ends_with(&format!("f/{}?expires=600", private.file.id)))
    );
    let id = private.file.id.clone();
    assert!(w.files.get(&alice, &id).await.is_ok());
    assert!(w.files.get(&Caller::AdminKey, &id).await.is_ok());
    for other in [&bob, &Caller::Anonymous] {
        assert_eq!(
            w.files.get(other, &id).await.expect_err("hidden").code,
            Code::NotFound
        );
        assert_eq!(
            w.files.delete(other, &id).await.expect_err("hidden").code,
            Code::NotFound
        );
        assert!(
            w.files.usable(other, &id).await.is_err(),
            "not usable by others"
        );
    }
    assert!(w.files.usable(&alice, &id).await.is_ok());

    let public = w
        .upload(&alice, png_request(true), PNG)
        .await
        .expect("uploaded");
    let seen = w
        .files
        .get(&Caller::Anonymous, &public.file.id)
        .await
        .expect("public");
    assert!(
        seen.url
            .as_deref()
            .is_some_and(|u| u.ends_with("expires=604800")),
        "the longest URL"
    );
    assert!(
        w.files.usable(&bob, &public.file.id).await.is_ok(),
        "a public file may be used"
    );
    assert_eq!(
        w.files
            .delete(&bob, &public.file.id)
            .await
            .expect_err("not his")
            .code,
        Code::NotFound
    );

    // A pending public file is nobody else's business yet.
    let pending = w
        .files
        .start_upload(&alice, png_request(true))
        .await
        .expect("signed");
    assert!(w.files.get(&bob, &pending.file.id).await.is_err());
    assert!(
        w.files.usable(&alice, &pending.file.id).await.is_err(),
        "pending is not usable"
    );
    assert!(
        w.files
            .get(&alice, &pending.file.id)
            .await
            .expect("own")
            .url
            .is_none()
    );
}

#[tokio::test]
async fn what_arrived_is_checked_and_a_lie_is_removed() {
    let w = world(FilesConfig::default());
    let alice = user("alice");
    let up = w
        .files
        .start_upload(&alice, png_request(false))
        .await
        .expect("signed");
    let e = w
        .files
        .complete(&alice, &up.file.id)
        .await
        .expect_err("nothing arrived");
    assert_eq!(e.code, Code::FileNotUploaded);
    assert_eq!(
        w.files
            .get(&alice, &up.file.id)
            .await
            .expect("still pending")
            .file
            .status,
        Status::Pending
    );

    // HTML declared as a PNG, of the declared size: refused, bytes and record removed.
    let html = b"<html><script>alert(document.cookie)</script></html>";
    let r = UploadRequest {
        name: "x.png".into(),
        size: html.len() as u64,
        content_type: "image/png".into(),
        public: true,
    };
    let before = w.files.usage(Some("alice")).await.expect("usage");
    let e = w.upload(&alice, r, html).await.expect_err("a lie");
    assert_eq!(e.code, Code::FileTypeMismatch);
    assert_eq!(w.objects(), 0, "the bytes are gone");
    let after = w.files.usage(Some("alice")).await.expect("usage");
    assert_eq!(after, before, "its reservation is given back");

    // Another size than declared.
    let mut r = png_request(false);
    r.size += 1;
    let e = w.upload(&alice, r, PNG).await.expect_err("short");
    assert_eq!(e.code, Code::FileNotUploaded);
    assert_eq!(w.objects(), 0);
}

#[tokio::test]
async fn limits_each_have_their_code() {
    let w = world(FilesConfig {
        max_bytes: 1000,
        quota_bytes: 100,
        ..FilesConfig::default()
    });
    let alice = user("alice");
    let big = UploadRequest {
        size: 1001,
        ..png_request(false)
    };
    assert_eq!(
        w.files
            .start_upload(&alice, big)
            .await
            .expect_err("big")
            .code,
        Code::FileTooLarge
    );
    let html = UploadRequest {
        content_type: "text/html".into(),
        ..png_request(false)
    };
    assert_eq!(
        w.files
            .start_upload(&alice, html)
            .await
            .expect_err("html")
            .code,
        Code::FileTypeNotAllowed
    );
    let svg = UploadRequest {
        content_type: "image/svg+xml".into(),
        ..png_request(false)
    };
    assert_eq!(
        w.files
            .start_upload(&alice, svg)
            .await
            .expect_err("svg")
            .code,
        Code::FileTypeNotAllowed
    );
    let e = w
        .files
        .start_upload(&Caller::Anonymous, png_request(false))
        .await
        .expect_err("anon");
    assert_eq!(e.code, Code::Unauthenticated);
    for name in ["", "a\nb", &"x".repeat(256)] {
        let r = UploadRequest {
            name: name.into(),
            ..png_request(false)
        };
        assert_eq!(
            w.files
                .start_upload(&alice, r)
                .await
                .expect_err("name")
                .code,
            Code::InvalidArgument
        );
    }

    // Quota 100: ten racing uploads of 30 bytes, exactly three get a form.
    let r = UploadRequest {
        size: 30,
        ..png_request(false)
    };
    let tries = (0..10).map(|_| w.files.start_upload(&alice, r.clone()));
    let results = futures_util::future::join_all(tries).await;
    let ok = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(ok, 3, "{results:?}");
    assert!(
        results
            .iter()
            .filter_map(|r| r.as_ref().err())
            .all(|e| e.code == Code::QuotaExceeded)
    );
    assert_eq!(w.files.usage(Some("alice")).await.expect("usage"), (90, 3));
    // Another user's quota is their own.
    assert!(w.files.start_upload(&user("bob"), r.clone()).await.is_ok());
    // Deleting gives the bytes back.
    let first = results[0].as_ref().or(results[1].as_ref()).expect("one");
    let id = results
        .iter()
        .flatten()
        .next()
        .map(|u| u.file.id.clone())
        .unwrap_or_else(|| first.file.id.clone());
    w.files.delete(&alice, &id).await.expect("deleted");
    assert_eq!(w.files.usage(Some("alice")).await.expect("usage"), (60, 2));
    assert!(w.files.start_upload(&alice, r).await.is_ok());
}

#[tokio::test]
async fn pending_uploads_expire_with_their_bytes() {
    let w = world(FilesConfig::default());
    let alice = user("alice");
    let ready = w
        .upload(&alice, png_request(false), PNG)
        .await
        .expect("uploaded");
    let pending = w
        .files
        .start_upload(&alice, png_request(false))
        .await
        .expect("signed");
    // Bytes arrived, but the client never completed.
    w.blobs
        .put(&staging_key(&pending.file.id), PNG.to_vec(), "image/png")
        .await
        .expect("put");
    assert_eq!(w.files.sweep(100).await.expect("swept"), 0, "not yet");
    w.clock
        .advance_ms(FilesConfig::default().pending_ttl.as_millis() as i64 + 1);
    assert_eq!(w.files.sweep(100).await.expect("swept"), 1);
    assert_eq!(
        w.files
            .get(&alice, &pending.file.id)
            .await
            .expect_err("gone")
            .code,
        Code::NotFound
    );
    assert_eq!(w.objects(), 1, "only the ready file's bytes stay");
    assert!(w.files.get(&alice, &ready.file.id).await.is_ok());
    assert_eq!(
        w.files.usage(Some("alice")).await.expect("usage"),
        (PNG.len() as u64, 1)
    );
    assert_eq!(w.files.sweep(100).await.expect("swept"), 0);
}

#[tokio::test]
async fn owners_list_their_own_files_newest_first() {
    let w = world(FilesConfig::default());
    let alice = user("alice");
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(
            w.upload(&alice, png_request(false), PNG)
                .await
                .expect("uploaded")
                .file
                .id,
        );
        w.clock.advance_ms(1);
    }
    w.upload(&user("bob"), png_request(true), PNG)
        .await
        .expect("bob's");
    let first = w.files.list(&alice, Some(3), None).await.expect("page");
    let second = w
        .files
        .list(&alice, Some(3), first.cursor.clone())
        .await
        .expect("page");
    assert!(second.cursor.is_none());
    let listed: Vec<String> = first
        .items
        .iter()
        .chain(&second.items)
        .map(|v| v.file.id.clone())
        .collect();
    ids.reverse();
    assert_eq!(listed, ids);
    assert_eq!(
        w.files
            .list(&alice, None, Some("nonsense".into()))
            .await
            .expect_err("cursor")
            .code,
        Code::InvalidCursor
    );
    assert_eq!(
        w.files
            .list(&Caller::Anonymous, None, None)
            .await
            .expect_err("anon")
            .code,
        Code::Unauthenticated
    );
}

#[tokio::test]
async fn a_type_is_stored_and_signed_by_one_name() {
    let w = world(FilesConfig::default());
    let up = w
        .files
        .start_upload(
            &user("alice"),
            UploadRequest {
                content_type: " IMAGE/JPG; x=y".into(),
                ..png_request(false)
            },
        )
        .await
        .expect("signed");
    assert_eq!(up.file.content_type, "image/jpeg");
    assert!(
        up.fields
            .contains(&("Content-Type".to_string(), "image/jpeg".to_string())),
        "{:?}",
        up.fields
    );
}

#[tokio::test]
async fn a_sweep_takes_every_expired_upload_page_by_page() {
    let w = world(FilesConfig::default());
    let alice = user("alice");
    let n = SWEEP_PAGE + 5;
    for _ in 0..n {
        w.files
            .start_upload(
                &alice,
                UploadRequest {
                    size: 1,
                    ..png_request(false)
                },
            )
            .await
            .expect("signed");
    }
    w.clock
        .advance_ms(FilesConfig::default().pending_ttl.as_millis() as i64 + 1);
    assert_eq!(w.files.sweep_expired().await.expect("swept"), n);
    assert_eq!(w.files.usage(Some("alice")).await.expect("usage"), (0, 0));
}

// Thumbnails: made once, kept under their key, deleted with their file.

mod thumbnails {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::mpsc;

    use super::*;
    use crate::files::thumbs::{
        ImageLimits, ThumbError, ThumbFormat, ThumbSpec, ThumbWorker, Thumbnailer, ThumbsConfig,
        parse_sizes,
    };

    /// "Thumbnails" that are the size, the format and the source's length, counted; a
    /// source of `b"bomb"` is refused. With a gate, each waits for a word from the test.
    #[derive(Default)]
    struct Counting {
        entered: AtomicUsize,
        made: AtomicUsize,
        gate: Option<Mutex<mpsc::Receiver<()>>>,
    }

    impl Thumbnailer for Counting {
        fn make(
            &self,
            src: &[u8],
            spec: &ThumbSpec,
            format: ThumbFormat,
            limits: &ImageLimits,
        ) -> std::result::Result<Vec<u8>, ThumbError> {
            self.entered.fetch_add(1, Ordering::SeqCst);
            if let Some(g) = &self.gate {
                let _ = g.lock().expect("gate").recv();
            }
            if src == b"bomb" {
                return Err(limits.refusal(60_000, 60_000));
            }
            self.made.fetch_add(1, Ordering::SeqCst);
            Ok(format!("{spec}.{}:{}", format.ext(), src.len()).into_bytes())
        }
    }

    fn with_thumbs(t: Arc<Counting>) -> World {
        let w = world(FilesConfig::default());
        let cfg = ThumbsConfig {
            sizes: parse_sizes(["100x100", "0x50"]).expect("sizes"),
            ..ThumbsConfig::default()
        };
        let files = w
            .files
            .with_thumbs(Thumbs::new(ThumbWorker::new(t, &cfg), cfg.sizes));
        World { files, ..w }
    }

    fn ask(size: &str) -> ThumbAsk<'_> {
        ThumbAsk {
            size,
            format: None,
            accept: None,
        }
    }

    fn thumb_objects(w: &World) -> Vec<String> {
        let mut keys: Vec<String> = (w.blobs.0.lock().expect("lock").keys())
            .filter(|k| k.starts_with("t/"))
            .cloned()
            .collect();
        keys.sort();
        keys
    }

    #[tokio::test]
    async fn a_thumbnail_is_made_once_and_kept_under_its_key() {
        let t = Arc::new(Counting::default());
        let w = with_thumbs(t.clone());
        let alice = user("alice");
        let f = w.upload(&alice, png_request(false), PNG).await.expect("up");
        let id = f.file.id.clone();
        let first = w
            .files
            .thumb(&alice, &id, &ask("100x100"))
            .await
            .expect("thumb");
        assert_eq!(first.spec.to_string(), "100x100");
        assert_eq!(
            first.format,
            ThumbFormat::Png,
            "a PNG, for a client without WebP"
        );
        let key = format!("t/{id}/100x100.png");
        assert!(first.view.url.as_deref().is_some_and(|u| u.contains(&key)));
        assert!(
            first
                .view
                .url
                .as_deref()
                .is_some_and(|u| u.ends_with("expires=600"))
        );
        let stored = w.blobs.get(&key).await.expect("get").expect("kept");
        assert_eq!(
            stored.bytes,
            format!("100x100.png:{}", PNG.len()).into_bytes()
        );
        assert_eq!(stored.meta.content_type, "image/png");
        // Asked again: the kept one is signed, nothing is made.
        for _ in 0..3 {
            w.files
                .thumb(&alice, &id, &ask("100x100"))
                .await
                .expect("again");
        }
        assert_eq!(t.made.load(Ordering::SeqCst), 1);
        // WebP for a client that shows it; another format is another thumbnail.
        let webp = ThumbAsk {
            accept: Some("image/webp,*/*"),
            ..ask("100x100")
        };
        let v = w.files.thumb(&alice, &id, &webp).await.expect("webp");
        assert_eq!(v.format, ThumbFormat::WebP);
        let jpeg = ThumbAsk {
            format: Some("jpeg"),
            accept: Some("image/webp"),
            ..ask("0x50")
        };
        assert_eq!(
            w.files
                .thumb(&alice, &id, &jpeg)
                .await
                .expect("jpeg")
                .format,
            ThumbFormat::Jpeg,
            "format= wins over Accept"
        );
        assert_eq!(t.made.load(Ordering::SeqCst), 3);
        assert_eq!(
            thumb_objects(&w),
            [
                format!("t/{id}/0x50.jpg"),
                format!("t/{id}/100x100.png"),
                format!("t/{id}/100x100.webp")
            ]
        );
        // Deleting the file deletes them all.
        w.files.delete(&alice, &id).await.expect("deleted");
        assert_eq!(thumb_objects(&w), Vec::<String>::new());
        assert_eq!(w.objects(), 0);
    }

    #[tokio::test]
    async fn what_may_not_be_thumbnailed_is_refused_with_its_code() {
        let t = Arc::new(Counting::default());
        let w = with_thumbs(t.clone());
        let alice = user("alice");
        let bob = user("bob");
        let f = w.upload(&alice, png_request(false), PNG).await.expect("up");
        let id = f.file.id.clone();
        for size in ["200x200", "100x100t", "nonsense", "0x0"] {
            let e = w
                .files
                .thumb(&alice, &id, &ask(size))
                .await
                .expect_err(size);
            assert_eq!(e.code, Code::ThumbSizeNotAllowed, "{size}");
            assert_eq!(e.details["allowed"], json!(["100x100", "0x50"]));
        }
        let gif = ThumbAsk {
            format: Some("gif"),
            ..ask("100x100")
        };
        let e = w.files.thumb(&alice, &id, &gif).await.expect_err("gif");
        assert_eq!(
            (e.code, e.details["field"].clone()),
            (Code::InvalidArgument, json!("format"))
        );
        for other in [&bob, &Caller::Anonymous] {
            let e = w
                .files
                .thumb(other, &id, &ask("100x100"))
                .await
                .expect_err("hidden");
            assert_eq!(e.code, Code::NotFound);
            let e = w.files.content(other, &id, None).await.expect_err("hidden");
            assert_eq!(e.code, Code::NotFound);
        }
        assert_eq!(
            t.made.load(Ordering::SeqCst),
            0,
            "nothing made for refusals"
        );
        assert_eq!(thumb_objects(&w), Vec::<String>::new());
    }

    #[tokio::test]
    async fn the_content_route_answers_where_the_bytes_are_and_for_how_long() {
        let w = with_thumbs(Arc::new(Counting::default()));
        let alice = user("alice");
        let private = w.upload(&alice, png_request(false), PNG).await.expect("up");
        let c = w
            .files
            .content(&alice, &private.file.id, None)
            .await
            .expect("content");
        assert!(c.url.contains(&format!("f/{}", private.file.id)));
        assert_eq!((c.max_age_secs, c.public), (60, false), "a tenth of 600 s");
        let public = w.upload(&alice, png_request(true), PNG).await.expect("up");
        let c = w
            .files
            .content(&Caller::Anonymous, &public.file.id, Some(&ask("0x50")))
            .await
            .expect("content");
        assert!(c.url.contains(&format!("t/{}/0x50.png", public.file.id)));
        assert_eq!((c.max_age_secs, c.public), (3600, true), "at most an hour");
        // A pending file has no content yet.
        let pending = w
            .files
            .start_upload(&alice, png_request(false))
            .await
            .expect("up");
        let e = w
            .files
            .content(&alice, &pending.file.id, None)
            .await
            .expect_err("pending");
        assert_eq!(e.code, Code::FileNotUploaded);
        let e = w
            .files
            .thumb(&alice, &pending.file.id, &ask("0x50"))
            .await
            .expect_err("pending");
        assert_eq!(e.code, Code::FileNotUploaded);
    }

    #[tokio::test]
    async fn first_requests_at_once_make_it_once() {
        let (tx, rx) = mpsc::channel();
        let t = Arc::new(Counting {
            gate: Some(Mutex::new(rx)),
            ..Counting::default()
        });
        let w = Arc::new(with_thumbs(t.clone()));
        let alice = user("alice");
        let f = w.upload(&alice, png_request(true), PNG).await.expect("up");
        let mut asks = Vec::new();
        for _ in 0..5 {
            let (w, id) = (w.clone(), f.file.id.clone());
            asks.push(tokio::spawn(async move {
                w.files
                    .thumb(&Caller::Anonymous, &id, &ask("100x100"))
                    .await
            }));
        }
        // One is making it; the others have every chance to start making it too.
        while t.entered.load(Ordering::SeqCst) == 0 {
            tokio::task::yield_now().await;
        }
        for _ in 0..100 {
            tokio::task::yield_now().await;
        }
        for _ in 0..5 {
            tx.send(()).expect("gate");
        }
        for a in asks {
            a.await.expect("joined").expect("a thumbnail");
        }
        assert_eq!(t.made.load(Ordering::SeqCst), 1);
        let making = w
            .files
            .thumbs
            .as_ref()
            .map(|t| t.making.lock().expect("lock").len());
        assert_eq!(making, Some(0), "the locks are forgotten");
    }

    #[tokio::test]
    async fn a_thumbnail_made_while_its_file_is_deleted_is_not_left_behind() {
        let (tx, rx) = mpsc::channel();
        let t = Arc::new(Counting {
            gate: Some(Mutex::new(rx)),
            ..Counting::default()
        });
        let w = Arc::new(with_thumbs(t.clone()));
        let alice = user("alice");
        let f = w.upload(&alice, png_request(false), PNG).await.expect("up");
        let id = f.file.id.clone();
        let maker = {
            let (w, alice, id) = (w.clone(), alice.clone(), id.clone());
            tokio::spawn(async move { w.files.thumb(&alice, &id, &ask("100x100")).await })
        };
        // The maker has read its source; the file is deleted meanwhile, then it writes.
        while t.entered.load(Ordering::SeqCst) == 0 {
            tokio::task::yield_now().await;
        }
        w.files.delete(&alice, &id).await.expect("deleted");
        tx.send(()).expect("gate");
        let e = maker.await.expect("joined").expect_err("gone");
        assert_eq!(e.code, Code::NotFound);
        assert_eq!(t.made.load(Ordering::SeqCst), 1, "it was made");
        assert_eq!(
            thumb_objects(&w),
            Vec::<String>::new(),
            "and removed by its maker"
        );
        assert_eq!(w.objects(), 0);
    }
}

/// The same size as [`PNG`], other bytes.
const OTHER_PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x02\0\0\0\x02\x08\x06\0\0\0";

impl World {
    fn bytes(&self, key: &str) -> Option<Vec<u8>> {
        self.blobs
            .0
            .lock()
            .expect("lock")
            .get(key)
            .map(|b| b.bytes.clone())
    }
}

#[tokio::test]
async fn a_form_posted_again_after_completion_changes_nothing() {
    let w = world(FilesConfig::default());
    let alice = user("alice");
    let up = w
        .files
        .start_upload(&alice, png_request(true))
        .await
        .expect("signed");
    let id = up.file.id.clone();
    let form_key = up
        .fields
        .iter()
        .find(|(k, _)| k == "key")
        .map(|(_, v)| v.clone())
        .expect("a key field");
    assert_eq!(
        form_key,
        staging_key(&id),
        "the form writes the staging key"
    );
    w.blobs
        .put(&form_key, PNG.to_vec(), "image/png")
        .await
        .expect("posted");
    w.files.complete(&alice, &id).await.expect("ready");
    assert_eq!(w.bytes(&blob_key(&id)).as_deref(), Some(PNG));
    assert_eq!(w.bytes(&form_key), None, "the staging object is gone");

    // The form, still valid, posted again: only the staging key changes.
    w.blobs
        .put(&form_key, OTHER_PNG.to_vec(), "image/png")
        .await
        .expect("posted again");
    let again = w.files.complete(&alice, &id).await.expect("still ready");
    assert_eq!(again.file.status, Status::Ready);
    assert_eq!(w.bytes(&blob_key(&id)).as_deref(), Some(PNG), "unchanged");

    // Once the form has expired, the sweep deletes what it posted; the file stays.
    assert_eq!(w.files.sweep(100).await.expect("swept"), 0);
    assert!(w.bytes(&form_key).is_some(), "not before the form expires");
    w.clock
        .advance_ms(FilesConfig::default().upload_ttl.as_millis() as i64 + 1);
    w.files.sweep(100).await.expect("swept");
    assert_eq!(w.bytes(&form_key), None);
    assert_eq!(w.bytes(&blob_key(&id)).as_deref(), Some(PNG));
    assert!(w.files.get(&alice, &id).await.is_ok());
}

#[tokio::test]
async fn a_deleted_file_leaves_nothing_its_form_posts_later() {
    let w = world(FilesConfig::default());
    let alice = user("alice");
    let up = w
        .files
        .start_upload(&alice, png_request(false))
        .await
        .expect("signed");
    let id = up.file.id.clone();
    w.blobs
        .put(&staging_key(&id), PNG.to_vec(), "image/png")
        .await
        .expect("posted");
    w.files.complete(&alice, &id).await.expect("ready");
    w.files.delete(&alice, &id).await.expect("deleted");
    w.blobs
        .put(&staging_key(&id), OTHER_PNG.to_vec(), "image/png")
        .await
        .expect("posted again");
    w.clock
        .advance_ms(FilesConfig::default().upload_ttl.as_millis() as i64 + 1);
    w.files.sweep(100).await.expect("swept");
    assert_eq!(w.objects(), 0, "nothing left behind");
}

#[tokio::test]
async fn one_completion_at_a_time_copies_and_checks() {
    let w = world(FilesConfig::default());
    let alice = user("alice");
    let up = w
        .files
        .start_upload(&alice, png_request(false))
        .await
        .expect("signed");
    let id = up.file.id.clone();
    w.blobs
        .put(&staging_key(&id), PNG.to_vec(), "image/png")
        .await
        .expect("posted");
    // Another completion holds the file.
    assert!(w.files.claim(&id).await.expect("claimed"));
    assert!(!w.files.claim(&id).await.expect("held"));
    let e = w.files.complete(&alice, &id).await.expect_err("busy");
    assert_eq!(e.code, Code::Conflict);
    assert_eq!(w.bytes(&blob_key(&id)), None, "nothing copied meanwhile");
    // A claim whose holder went away lapses.
    w.clock.advance_ms(CLAIM_MS + 1);
    let done = w.files.complete(&alice, &id).await.expect("ready");
    assert_eq!(done.file.status, Status::Ready);
    // Completing before the bytes arrived gives the claim back.
    let up = w
        .files
        .start_upload(&alice, png_request(false))
        .await
        .expect("signed");
    let e = w
        .files
        .complete(&alice, &up.file.id)
        .await
        .expect_err("no bytes");
    assert_eq!(e.code, Code::FileNotUploaded);
    w.blobs
        .put(&staging_key(&up.file.id), PNG.to_vec(), "image/png")
        .await
        .expect("posted");
    w.files
        .complete(&alice, &up.file.id)
        .await
        .expect("ready at once");
}

#[tokio::test]
async fn an_avatar_is_a_ready_public_image_of_ones_own() {
    use crate::auth::AvatarFiles;
    let w = world(FilesConfig::default());
    let alice = user("alice");
    let public = w
        .upload(&alice, png_request(true), PNG)
        .await
        .expect("uploaded");
    let id = public.file.id.clone();
    assert_eq!(
        w.files.avatar_path("alice", &id).await.expect("avatar"),
        format!("/v1/files/{id}/content")
    );
    let private = w
        .upload(&alice, png_request(false), PNG)
        .await
        .expect("uploaded");
    let pending = w
        .files
        .start_upload(&alice, png_request(true))
        .await
        .expect("signed");
    let text = w
        .upload(
            &alice,
            UploadRequest {
                name: "a.txt".into(),
                size: 5,
                content_type: "text/plain".into(),
                public: true,
            },
            b"hello",
        )
        .await
        .expect("uploaded");
    for (who, file) in [
        ("bob", id.as_str()),
        ("alice", private.file.id.as_str()),
        ("alice", pending.file.id.as_str()),
        ("alice", text.file.id.as_str()),
        ("alice", "01NOSUCHFILE"),
    ] {
        let e = w.files.avatar_path(who, file).await.expect_err("refused");
        assert_eq!(e.code, Code::FileNotUsable, "{who} {file}");
    }
}

#[path = "media_tests.rs"]
mod media;
