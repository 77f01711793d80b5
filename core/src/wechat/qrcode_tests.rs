//! QR codes over the memory store, an in-memory blob store and a WeChat that counts its
//! calls (the real image and wire format are the mock's, in the acceptance tests).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use async_trait::async_trait;

use super::*;
use crate::blob::{Blob, BlobError, BlobMeta, BlobStore, PostForm, UploadPolicy};
use crate::clock::ManualClock;
use crate::files::FilesConfig;
use crate::memory_store::MemoryStore;
use crate::test_support::user;
use crate::wechat::port::{WeChat, WxAccessToken, WxSession};

#[derive(Default)]
struct MemBlobs(Mutex<HashMap<String, Blob>>);

#[async_trait]
impl BlobStore for MemBlobs {
    async fn put(&self, key: &str, bytes: Vec<u8>, ct: &str) -> Result<BlobMeta, BlobError> {
        let meta = BlobMeta {
            size: bytes.len() as u64,
            content_type: ct.into(),
            etag: "e".into(),
        };
        let blob = Blob {
            bytes,
            meta: meta.clone(),
        };
        self.0.lock().expect("lock").insert(key.into(), blob);
        Ok(meta)
    }
    async fn get(&self, key: &str) -> Result<Option<Blob>, BlobError> {
        Ok(self.0.lock().expect("lock").get(key).cloned())
    }
    async fn head(&self, key: &str) -> Result<Option<BlobMeta>, BlobError> {
        Ok(self
            .0
            .lock()
            .expect("lock")
            .get(key)
            .map(|b| b.meta.clone()))
    }
    async fn delete(&self, key: &str) -> Result<(), BlobError> {
        self.0.lock().expect("lock").remove(key);
        Ok(())
    }
    async fn presign_post(&self, _: &str, _: &UploadPolicy) -> Result<PostForm, BlobError> {
        Err(BlobError::Invalid("no forms here".into()))
    }
    async fn presign_get(&self, key: &str, _: Duration) -> Result<String, BlobError> {
        Ok(format!("https://blobs.test/{key}"))
    }
}

const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0";

/// A WeChat whose `getwxacodeunlimit` counts its calls, takes a little time and
/// answers a PNG (or the errcode `fail` holds).
#[derive(Default)]
struct Counting {
    calls: AtomicU32,
    fail: Mutex<Option<i64>>,
    bodies: Mutex<Vec<Value>>,
}

#[async_trait]
impl WeChat for Counting {
    async fn code_to_session(&self, _: &str) -> std::result::Result<WxSession, WxError> {
        Err(WxError::Transport("none".into()))
    }
    async fn stable_token(&self, _: bool) -> std::result::Result<WxAccessToken, WxError> {
        Ok(WxAccessToken {
            token: "tok".into(),
            expires_in: 7200,
        })
    }
    async fn post(
        &self,
        path: &str,
        _: &str,
        body: &Value,
    ) -> std::result::Result<WxReply, WxError> {
        assert_eq!(path, PATH);
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.bodies.lock().expect("lock").push(body.clone());
        tokio::time::sleep(Duration::from_millis(20)).await;
        if let Some(errcode) = *self.fail.lock().expect("lock") {
            return Err(WxError::Api {
                errcode,
                errmsg: "refused".into(),
            });
        }
        Ok(WxReply::Bytes {
            // As WeChat labels it, whatever the bytes are.
            content_type: "image/jpeg".into(),
            body: PNG.to_vec(),
        })
    }
}

struct World {
    wx: Arc<Counting>,
    files: Arc<Files>,
    store: Arc<dyn ItemStore>,
    clock: SharedClock,
}

fn world() -> World {
    let clock: SharedClock = Arc::new(ManualClock::at(1_800_000_000_000));
    let store: Arc<dyn ItemStore> = Arc::new(MemoryStore::new(clock.clone()));
    let files = Arc::new(Files::new(
        store.clone(),
        Arc::new(MemBlobs::default()),
        clock.clone(),
        FilesConfig::default(),
    ));
    World {
        wx: Arc::new(Counting::default()),
        files,
        store,
        clock,
    }
}

impl World {
    /// One process's service (several over one store are several processes).
    fn process(&self, users_allowed: bool) -> Arc<QrCodes> {
        let api = Arc::new(WxApi::new(
            self.wx.clone(),
            self.store.clone(),
            self.clock.clone(),
        ));
        Arc::new(QrCodes::new(
            api,
            self.files.clone(),
            self.store.clone(),
            self.clock.clone(),
            users_allowed,
            Some("https://api.example.com/".into()),
        ))
    }
}

fn ask(scene: &str) -> QrRequest {
    QrRequest {
        scene: scene.into(),
        page: Some("pages/room/room".into()),
        ..QrRequest::default()
    }
}

#[test]
fn parameters_are_checked_as_wechat_checks_them() {
    let code = |r: QrRequest| r.params().err().map(|e| e.code_str().to_string());
    assert_eq!(code(ask("room=42")), None);
    assert_eq!(code(ask(&"a".repeat(32))), None);
    assert_eq!(code(ask("!#$&'()*+,/:;=?@-._~")), None);
    for bad in [
        "",
        &"a".repeat(33),
        "a b",
        "100%",
        "房间",
        "a\"b",
        "a<b",
        "a\nb",
    ] {
        assert_eq!(
            code(ask(bad)).as_deref(),
            Some("QRCODE_SCENE_INVALID"),
            "{bad:?}"
        );
    }
    for bad in [
        "/pages/a/a",
        "pages/a/a?x=1",
        "pages//a",
        "pages/a/",
        "pages/../a",
        "pages/a a",
        &"p".repeat(129),
    ] {
        let r = QrRequest {
            page: Some(bad.into()),
            ..ask("x")
        };
        assert_eq!(code(r).as_deref(), Some("QRCODE_PAGE_INVALID"), "{bad:?}");
    }
    for (w, ok) in [(279, false), (280, true), (1280, true), (1281, false)] {
        let r = QrRequest {
            width: Some(w),
            ..ask("x")
        };
        assert_eq!(code(r).is_none(), ok, "{w}");
    }
    let r = QrRequest {
        env_version: Some("beta".into()),
        ..ask("x")
    };
    assert_eq!(code(r).as_deref(), Some("INVALID_ARGUMENT"));
}

#[test]
fn the_defaults_are_part_of_the_key() {
    let a = ask("x").params().unwrap();
    let b = QrRequest {
        width: Some(430),
        env_version: Some("release".into()),
        check_path: Some(true),
        ..ask("x")
    }
    .params()
    .unwrap();
    assert_eq!(
        a.key(),
        b.key(),
        "spelled-out defaults are the same QR code"
    );
    let c = QrRequest {
        width: Some(431),
        ..ask("x")
    };
    assert_ne!(a.key(), c.params().unwrap().key());
    assert_ne!(a.key(), ask("y").params().unwrap().key());
    assert_eq!(
        a.body(),
        json!({"scene": "x", "page": "pages/room/room", "width": 430,
               "env_version": "release", "check_path": true, "auto_color": false,
               "line_color": {"r": 0, "g": 0, "b": 0}, "is_hyaline": false})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_first_requests_in_many_processes_make_one() {
    let w = world();
    let procs: Vec<_> = (0..3).map(|_| w.process(false)).collect();
    let mut tasks = Vec::new();
    for i in 0..24 {
        let p = procs[i % 3].clone();
        tasks.push(tokio::spawn(
            async move { p.get_or_make(&ask("room=1")).await },
        ));
    }
    let mut ids = Vec::new();
    for t in tasks {
        let q = t.await.unwrap().unwrap();
        assert_eq!(
            q.file.file.content_type, "image/png",
            "sniffed, not labelled"
        );
        assert!(q.file.file.public);
        ids.push(q.file.file.id);
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "one file");
    assert_eq!(w.wx.calls.load(Ordering::SeqCst), 1, "one WeChat call");
    // Later: the same file, no call; other parameters: another one.
    let again = procs[1].get_or_make(&ask("room=1")).await.unwrap();
    assert!(again.reused);
    assert_eq!(again.file.file.id, ids[0]);
    let other = procs[1].get_or_make(&ask("room=2")).await.unwrap();
    assert!(!other.reused);
    assert_eq!(w.wx.calls.load(Ordering::SeqCst), 2);
    let path = format!("/v1/files/{}/content", ids[0]);
    let v = procs[0].view(&again, None);
    assert_eq!(v["path"], path);
    assert_eq!(v["url"], format!("https://api.example.com{path}"));
    assert_eq!(v["reused"], true);
    let v = procs[0].view(&again, Some("http://127.0.0.1:1"));
    assert_eq!(v["url"], format!("http://127.0.0.1:1{path}"));
}

#[tokio::test]
async fn a_deleted_file_is_made_again() {
    let w = world();
    let p = w.process(false);
    let first = p.get_or_make(&ask("room=1")).await.unwrap();
    w.files
        .delete(&Caller::AdminKey, &first.file.file.id)
        .await
        .unwrap();
    let second = p.get_or_make(&ask("room=1")).await.unwrap();
    assert!(!second.reused);
    assert_ne!(second.file.file.id, first.file.file.id);
    assert_eq!(w.wx.calls.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn wechat_refusals_are_stable_codes_and_keep_nothing() {
    let w = world();
    let p = w.process(false);
    for (errcode, code, status) in [
        (41030, "QRCODE_PAGE_INVALID", 400),
        (40159, "QRCODE_PAGE_INVALID", 400),
        (40169, "QRCODE_SCENE_INVALID", 400),
        (40129, "QRCODE_SCENE_INVALID", 400),
        (40097, "INVALID_ARGUMENT", 400),
        (45009, "RATE_LIMITED", 429),
        (-1, "WECHAT_UNAVAILABLE", 503),
        (47001, "WECHAT_ERROR", 502),
    ] {
        *w.wx.fail.lock().unwrap() = Some(errcode);
        let e = p.get_or_make(&ask("room=1")).await.unwrap_err();
        assert_eq!((e.code_str(), e.status()), (code, status), "{errcode}");
        assert_eq!(e.details["wechat_errcode"], errcode);
    }
    assert_eq!(w.files.usage(None).await.unwrap(), (0, 0), "no file kept");
    *w.wx.fail.lock().unwrap() = None;
    assert!(!p.get_or_make(&ask("room=1")).await.unwrap().reused);
}

#[tokio::test]
async fn who_may_ask() {
    let w = world();
    let strict = w.process(false);
    let open = w.process(true);
    let u = user("u1");
    let e = strict.for_caller(&u, &ask("x")).await.unwrap_err();
    assert_eq!(e.code_str(), "FORBIDDEN");
    let e = open
        .for_caller(&Caller::Anonymous, &ask("x"))
        .await
        .unwrap_err();
    assert_eq!(e.code_str(), "UNAUTHENTICATED");
    assert!(
        strict
            .for_caller(&Caller::AdminKey, &ask("x"))
            .await
            .is_ok()
    );
    assert!(open.for_caller(&u, &ask("x")).await.unwrap().reused);
    // A refused caller's bad parameters are refused for the caller first.
    let e = strict.for_caller(&u, &ask("")).await.unwrap_err();
    assert_eq!(e.code_str(), "FORBIDDEN");
    assert_eq!(w.wx.calls.load(Ordering::SeqCst), 1);
}
