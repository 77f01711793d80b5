//! The S3 BlobStore against a real S3 server: s3s with its file-system backend, run
//! in-process, with authentication on, so that every SigV4 signature (header-signed
//! requests, presigned URLs, POST policies) is checked and POST policy conditions
//! (key, content type, size range, expiry, no unsigned fields) are enforced.
//!
//! The BlobStore conformance suite runs here (`mod conformance`), beside what only S3
//! has: credentials, session tokens, checksums, the form's field names.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_s3::config::{Credentials, SharedCredentialsProvider};
use hyper::Request;
use hyper::body::Incoming;
use hyper::service::{Service, service_fn};
use hyper_util::rt::TokioIo;
use reqwest::StatusCode;
use s3s::auth::SimpleAuth;
use s3s::service::S3ServiceBuilder;
use tokio::net::TcpListener;
use yunqiao_aws::{S3BlobStore, S3Config, sdk_config};
use yunqiao_conformance::blobs::{Harness, Refusal, field, upload};
use yunqiao_core::blob::{BlobError, BlobStore, UploadPolicy};
use yunqiao_core::clock::{Clock, ManualClock, SystemClock};

const ACCESS_KEY: &str = "AKIAYUNQIAOTEST";
const SECRET_KEY: &str = "yunqiao-test-secret-key";
const BUCKET: &str = "yunqiao-test";

/// A running S3 server; its data lives as long as this value.
struct Server {
    endpoint: String,
    /// The headers of every request the server received, in order.
    requests: Arc<Mutex<Vec<http::HeaderMap>>>,
    _dir: tempfile::TempDir,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn server() -> Server {
    let dir = tempfile::tempdir().expect("temp dir");
    let fs = s3s_fs::FileSystem::new(dir.path()).expect("s3s-fs");
    let mut builder = S3ServiceBuilder::new(fs);
    builder.set_auth(SimpleAuth::from_single(ACCESS_KEY, SECRET_KEY));
    let service = builder.build();
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("local addr");
    let requests = Arc::new(Mutex::new(Vec::new()));
    let seen = requests.clone();
    let task = tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let (service, seen) = (service.clone(), seen.clone());
            let recording = service_fn(move |req: Request<Incoming>| {
                if let Ok(mut seen) = seen.lock() {
                    seen.push(req.headers().clone());
                }
                Service::call(&service, req)
            });
            tokio::spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(socket), recording)
                    .await;
            });
        }
    });
    Server {
        endpoint: format!("http://{addr}"),
        requests,
        _dir: dir,
        task,
    }
}

/// How S3 words each refusal of the conformance suite.
fn expect(r: Refusal) -> &'static str {
    match r {
        Refusal::PostSignature | Refusal::GetSignature => "SignatureDoesNotMatch",
        Refusal::PostExpired => "expired",
        Refusal::GetExpired => "AccessDenied",
        Refusal::PostOtherKey | Refusal::PostOtherType => "InvalidPolicyDocument",
        Refusal::PostUnsignedField => "AccessDenied",
        Refusal::PostTooLarge => "EntityTooLarge",
        Refusal::PostTooSmall => "EntityTooSmall",
    }
}

/// A fresh server and bucket, with a store that signs at a manual clock.
async fn harness() -> Harness {
    let (server, store) = setup().await;
    let clock = ManualClock::at(SystemClock.now_ms());
    Harness {
        store: Arc::new(store.with_clock(Arc::new(clock.clone()))),
        clock,
        expect,
        // s3s-fs maps keys to paths: no `d` beside `d/e`, no key longer than a file name.
        full_key_space: false,
        keep: Box::new(server),
    }
}

mod conformance {
    use super::harness;
    yunqiao_conformance::blob_store_conformance!(harness);
}

/// A store on the server with the given credentials.
async fn store_with(server: &Server, secret: &str, token: Option<&str>) -> S3BlobStore {
    store_at(&server.endpoint, secret, token).await
}

async fn store_at(endpoint: &str, secret: &str, token: Option<&str>) -> S3BlobStore {
    let cfg = S3Config {
        bucket: BUCKET.into(),
        region: "us-east-1".into(),
        endpoint: Some(endpoint.into()),
        path_style: true,
    };
    let creds = Credentials::new(ACCESS_KEY, secret, token.map(Into::into), None, "test");
    let sdk = sdk_config(&cfg.region, None)
        .await
        .into_builder()
        .credentials_provider(SharedCredentialsProvider::new(creds))
        // Refusals are answers here; retrying them only slows the tests down.
        .retry_config(aws_config::retry::RetryConfig::disabled())
        .build();
    S3BlobStore::from_sdk(&sdk, &cfg)
}

/// A store with the right credentials, on a server where the bucket exists.
async fn setup() -> (Server, S3BlobStore) {
    let server = server().await;
    let store = store_with(&server, SECRET_KEY, None).await;
    store
        .create_bucket_if_missing()
        .await
        .expect("create bucket");
    (server, store)
}

fn policy(max_bytes: u64) -> UploadPolicy {
    UploadPolicy::new("image/png", max_bytes, Duration::from_secs(600))
}

/// The SDK's default CRC32 checksums (headers, `aws-chunked` bodies with trailers) are
/// not understood by every S3-compatible server and do not belong in presigned requests:
/// checksums are sent only where an operation requires them.
#[tokio::test]
async fn no_checksums_unless_required() {
    let (server, store) = setup().await;
    store
        .put("k.txt", b"checksum me".to_vec(), "text/plain")
        .await
        .unwrap();
    store.get("k.txt").await.unwrap().expect("stored");
    let requests = server.requests.lock().unwrap().clone();
    assert!(requests.len() >= 2);
    for headers in &requests {
        for (name, value) in headers {
            let name = name.as_str();
            assert!(
                !name.starts_with("x-amz-checksum") && !name.starts_with("x-amz-sdk-checksum"),
                "{name}: {value:?}"
            );
            assert!(
                !(name == "content-encoding" && value.as_bytes().starts_with(b"aws-chunked")),
                "{name}: {value:?}"
            );
        }
    }
}

#[tokio::test]
async fn an_unreachable_store_is_an_error_not_absence() {
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let store = store_at(&format!("http://127.0.0.1:{port}"), SECRET_KEY, None).await;
    for r in [
        store.get("a").await.map(drop),
        store.head("a").await.map(drop),
        store.delete("a").await,
    ] {
        assert!(matches!(r, Err(BlobError::Unavailable(_))), "{r:?}");
    }
}

#[tokio::test]
async fn wrong_secret_is_refused_everywhere() {
    let (server, good) = setup().await;
    good.put("k", b"secret".to_vec(), "text/plain")
        .await
        .unwrap();
    let bad = store_with(&server, "not-the-secret", None).await;

    assert!(matches!(
        bad.put("k", b"x".to_vec(), "text/plain").await,
        Err(BlobError::Unavailable(_))
    ));
    assert!(matches!(bad.get("k").await, Err(BlobError::Unavailable(_))));
    assert!(matches!(
        bad.delete("k").await,
        Err(BlobError::Unavailable(_))
    ));

    let url = bad.presign_get("k", Duration::from_secs(60)).await.unwrap();
    let resp = reqwest::get(&url).await.unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert!(resp.text().await.unwrap().contains("SignatureDoesNotMatch"));

    let form = bad.presign_post("up.png", &policy(1024)).await.unwrap();
    let (status, body) = upload(&form, &form.fields, b"png".to_vec()).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(body.contains("SignatureDoesNotMatch"), "{body}");
    assert_eq!(good.head("up.png").await.unwrap(), None);
    assert_eq!(good.get("k").await.unwrap().unwrap().bytes, b"secret");
}

#[tokio::test]
async fn presigned_post_uploads_as_wx_upload_file_does() {
    let (_server, store) = setup().await;
    let form = store
        .presign_post("u/7/avatar.png", &policy(1024))
        .await
        .unwrap();
    assert!(form.url.ends_with(&format!("/{BUCKET}")), "{}", form.url);
    let names: Vec<&str> = form.fields.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "key",
            "Content-Type",
            "x-amz-algorithm",
            "x-amz-credential",
            "x-amz-date",
            "policy",
            "x-amz-signature"
        ]
    );

    let png = b"\x89PNG avatar".to_vec();
    let (status, body) = upload(&form, &form.fields, png.clone()).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");

    let blob = store
        .get("u/7/avatar.png")
        .await
        .unwrap()
        .expect("uploaded");
    assert_eq!(blob.bytes, png);
    // The signed Content-Type field, not the file part's own type, is the object's.
    assert_eq!(blob.meta.content_type, "image/png");

    // The form may be used again for the same key (S3 does not count uses).
    let (status, _) = upload(&form, &form.fields, b"\x89PNG v2".to_vec()).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn presigned_post_carries_the_session_token() {
    let server = server().await;
    let store = store_with(&server, SECRET_KEY, Some("lambda-session-token")).await;
    store.create_bucket_if_missing().await.unwrap();
    let form = store.presign_post("t.png", &policy(1024)).await.unwrap();
    assert_eq!(field(&form, "x-amz-security-token"), "lambda-session-token");
    // The server refuses any field the policy does not cover: the token must be in it.
    let (status, body) = upload(&form, &form.fields, b"png".to_vec()).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    assert!(store.head("t.png").await.unwrap().is_some());
}

#[tokio::test]
async fn invalid_keys_and_arguments_are_refused_before_any_request() {
    // No server at all: a bad argument must not get as far as the network.
    let store = store_at("http://127.0.0.1:9", SECRET_KEY, None).await;
    let minute = Duration::from_secs(60);

    for key in [
        "",
        "/abs",
        "a/../b",
        "a//b",
        "dir/",
        "a\nb",
        &"k".repeat(1025),
    ] {
        let invalid = |r: Result<(), BlobError>| {
            assert!(matches!(r, Err(BlobError::InvalidKey(_))), "{key:?}: {r:?}");
        };
        invalid(store.put(key, vec![], "text/plain").await.map(drop));
        invalid(store.get(key).await.map(drop));
        invalid(store.head(key).await.map(drop));
        invalid(store.delete(key).await);
        invalid(store.presign_get(key, minute).await.map(drop));
        invalid(store.presign_post(key, &policy(10)).await.map(drop));
    }

    let invalid = |r: Result<(), BlobError>| {
        assert!(matches!(r, Err(BlobError::Invalid(_))), "{r:?}");
    };
    invalid(store.put("k", vec![], "not a type").await.map(drop));
    invalid(store.presign_get("k", Duration::ZERO).await.map(drop));
    invalid(
        store
            .presign_get("k", Duration::from_secs(8 * 24 * 3600))
            .await
            .map(drop),
    );
    invalid(
        store
            .presign_post(
                "k",
                &UploadPolicy {
                    min_bytes: 11,
                    ..policy(10)
                },
            )
            .await
            .map(drop),
    );
    invalid(
        store
            .presign_post("k", &UploadPolicy::new("image/png\r\n", 10, minute))
            .await
            .map(drop),
    );
}

/// S3 sends no `nosniff` and no sandbox, so a URL for what a browser would run asks for
/// an attachment of raw bytes; the override is signed like the rest of the URL.
#[tokio::test]
async fn urls_for_what_a_browser_would_run_ask_for_an_attachment() {
    let (_server, store) = setup().await;
    let html = b"<!DOCTYPE html><script>alert(1)</script>".to_vec();
    store
        .put("f/page", html.clone(), "text/html")
        .await
        .unwrap();
    store
        .put("f/cat", b"\x89PNG".to_vec(), "image/png")
        .await
        .unwrap();
    let url = store
        .presign_get_as("f/page", "text/html", Duration::from_secs(300))
        .await
        .unwrap();
    assert!(
        url.contains("response-content-disposition=attachment")
            && url.contains("response-content-type=application%2Foctet-stream"),
        "{url}"
    );
    let resp = reqwest::get(&url).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK, "{url}");
    assert_eq!(resp.bytes().await.unwrap().as_ref(), html.as_slice());
    // Asking for it inline instead breaks the signature.
    let tampered = url.replace(
        "response-content-type=application%2Foctet-stream",
        "response-content-type=text%2Fhtml",
    );
    let resp = reqwest::get(&tampered).await.unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert!(resp.text().await.unwrap().contains("SignatureDoesNotMatch"));
    // An image is served as it is.
    let url = store
        .presign_get_as("f/cat", "image/png", Duration::from_secs(300))
        .await
        .unwrap();
    assert!(!url.contains("response-content"), "{url}");
    assert_eq!(reqwest::get(&url).await.unwrap().status(), StatusCode::OK);
}
