//! The BlobStore conformance suite on the disk store, through the local server's real
//! `/v1/blobs` endpoints (the router `yunqiao serve` runs), on 127.0.0.1.

use std::sync::Arc;

use yunqiao_api::{AppState, Area, HttpConfig, Sockets, StoreWriters};
use yunqiao_conformance::blobs::{Harness, Refusal};
use yunqiao_core::blob::{BlobStore, POST_FILE_FIELD, UploadPolicy};
use yunqiao_core::clock::ManualClock;
use yunqiao_core::memory_store::MemoryStore;
use yunqiao_core::wechat::{WeChat, WxError, WxSession};
use yunqiao_local::LocalBlobStore;

struct NoWeChat;

#[async_trait::async_trait]
impl WeChat for NoWeChat {
    async fn code_to_session(&self, _: &str) -> Result<WxSession, WxError> {
        Err(WxError::Transport("none".into()))
    }
}

/// A running local server with its disk store.
struct Local {
    store: Arc<LocalBlobStore>,
    clock: ManualClock,
    dir: tempfile::TempDir,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Local {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn start(max_upload: u64) -> Local {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::at(1_800_000_000_000);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let store = Arc::new(
        LocalBlobStore::open(
            &dir.path().join("blobs"),
            yunqiao_local::load_or_create_key(&dir.path().join("blob.key")).unwrap(),
            &format!("http://{addr}"),
            max_upload,
            Arc::new(clock.clone()),
        )
        .unwrap(),
    );
    let state = AppState::builder()
        .store(
            Arc::new(MemoryStore::new(Arc::new(clock.clone()))),
            StoreWriters::OnlyThisProcess,
        )
        .wechat(Arc::new(NoWeChat))
        .clock(Arc::new(clock.clone()))
        .sockets(Sockets::Local(Arc::default()))
        .served_blobs(store.clone())
        .build(&yunqiao_config::Config::default())
        .unwrap();
    // A small body limit: uploads are not held to it (they are bounded by their forms).
    let router = yunqiao_api::app_for(
        state,
        &HttpConfig { body_limit: 1024 },
        &[Area::Blobs, Area::Meta],
    );
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    Local {
        store,
        clock,
        dir,
        task,
    }
}

fn expect(r: Refusal) -> &'static str {
    match r {
        Refusal::PostSignature | Refusal::GetSignature => "SIGNATURE_INVALID",
        Refusal::PostExpired | Refusal::GetExpired => "SIGNATURE_EXPIRED",
        Refusal::PostOtherKey | Refusal::PostOtherType | Refusal::PostUnsignedField => {
            "UPLOAD_MISMATCH"
        }
        Refusal::PostTooLarge => "UPLOAD_TOO_LARGE",
        Refusal::PostTooSmall => "UPLOAD_TOO_SMALL",
    }
}

async fn harness() -> Harness {
    let local = start(64 * 1024 * 1024).await;
    Harness {
        store: local.store.clone(),
        clock: local.clock.clone(),
        expect,
        full_key_space: true,
        keep: Box::new(local),
    }
}

mod conformance {
    use super::harness;
    yunqiao_conformance::blob_store_conformance!(harness);
}

/// Files under `dir`, recursively.
fn files_under(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
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

/// A file far over its form's limit is refused without the server reading (or keeping)
/// all of it: the answer is 413 (or, when the client is still sending as the server
/// closes, a broken connection), and nothing is left on disk.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_upload_over_the_limit_is_cut_off_and_leaves_nothing() {
    let local = start(64 * 1024 * 1024).await;
    local.clock.set_ms(1_800_000_000_000);
    let form = local
        .store
        .presign_post(
            "big.bin",
            &UploadPolicy::new(
                "application/octet-stream",
                1024,
                std::time::Duration::from_secs(60),
            ),
        )
        .await
        .unwrap();
    let mut body = reqwest::multipart::Form::new();
    for (n, v) in &form.fields {
        body = body.text(n.clone(), v.clone());
    }
    body = body.part(
        POST_FILE_FIELD,
        reqwest::multipart::Part::bytes(vec![b'x'; 16 * 1024 * 1024]).file_name("big.bin"),
    );
    match reqwest::Client::new()
        .post(&form.url)
        .multipart(body)
        .send()
        .await
    {
        Ok(resp) => {
            assert_eq!(resp.status(), reqwest::StatusCode::PAYLOAD_TOO_LARGE);
            assert!(resp.text().await.unwrap().contains("UPLOAD_TOO_LARGE"));
        }
        Err(e) => assert!(!e.is_timeout(), "{e}"),
    }
    assert_eq!(local.store.head("big.bin").await.unwrap(), None);
    // The refused writer is dropped as the handler returns: give it that moment.
    for _ in 0..100 {
        if files_under(&local.dir.path().join("blobs/tmp")).is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(files_under(&local.dir.path().join("blobs/tmp")).is_empty());
    assert!(files_under(&local.dir.path().join("blobs/objects")).is_empty());
}

/// A form asking for more than the server takes is refused when it is signed.
#[tokio::test]
async fn forms_above_the_servers_limit_are_not_signed() {
    let local = start(4096).await;
    let r = local
        .store
        .presign_post(
            "k",
            &UploadPolicy::new("image/png", 4097, std::time::Duration::from_secs(60)),
        )
        .await;
    assert!(
        matches!(r, Err(yunqiao_core::blob::BlobError::Invalid(_))),
        "{r:?}"
    );
}

/// What the download answers with: the stored type, never sniffed; what a browser would
/// run, as a sandboxed attachment of raw bytes (as the S3 store's URLs ask S3 for).
#[tokio::test]
async fn downloads_are_never_run_by_a_browser() {
    let local = start(4096).await;
    local.clock.set_ms(yunqiao_core::clock::Clock::now_ms(
        &yunqiao_core::clock::SystemClock,
    ));
    let s = &local.store;
    for (key, ct, attachment) in [
        ("a.png", "image/png", false),
        ("a.html", "text/html; charset=utf-8", true),
        ("a.svg", "image/svg+xml", true),
        ("a.js", "text/javascript", true),
    ] {
        s.put(key, b"<script>alert(1)</script>".to_vec(), ct)
            .await
            .unwrap();
        let url = s
            .presign_get(key, std::time::Duration::from_secs(60))
            .await
            .unwrap();
        let resp = reqwest::get(&url).await.unwrap();
        assert_eq!(resp.status(), 200);
        let h = resp.headers();
        let served = if attachment {
            "application/octet-stream"
        } else {
            ct
        };
        assert_eq!(h["content-type"], served, "{key}");
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert_eq!(h["content-security-policy"], "sandbox");
        assert_eq!(h.get("content-disposition").is_some(), attachment, "{key}");
        assert_eq!(h["content-length"], "25");
        let etag = s.head(key).await.unwrap().unwrap().etag;
        assert_eq!(h["etag"].to_str().unwrap(), format!("\"{etag}\""));
    }
}

/// Malformed uploads are refused with the error body, not axum's text.
#[tokio::test]
async fn malformed_uploads_get_error_bodies() {
    let local = start(4096).await;
    let url = local
        .store
        .presign_post(
            "k",
            &UploadPolicy::new("image/png", 10, std::time::Duration::from_secs(60)),
        )
        .await
        .unwrap()
        .url;
    let client = reqwest::Client::new();
    let r = client
        .post(&url)
        .body("{}")
        .header("content-type", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415);
    assert!(r.text().await.unwrap().contains("UNSUPPORTED_MEDIA_TYPE"));
    // A form without a file part.
    let r = client
        .post(&url)
        .multipart(reqwest::multipart::Form::new().text("key", "k"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("INVALID_BODY"));
    // A file without a form: no signature.
    let r = client
        .post(&url)
        .multipart(reqwest::multipart::Form::new().part(
            POST_FILE_FIELD,
            reqwest::multipart::Part::bytes(b"x".to_vec()),
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert!(r.text().await.unwrap().contains("SIGNATURE_INVALID"));
    assert_eq!(local.store.head("k").await.unwrap(), None);
}
