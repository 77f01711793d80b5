//! The S3 BlobStore against a real S3 server: s3s with its file-system backend, run
//! in-process, with authentication on, so that every SigV4 signature (header-signed
//! requests, presigned URLs, POST policies) is checked and POST policy conditions
//! (key, content type, size range, expiry, no unsigned fields) are enforced.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_s3::config::{Credentials, SharedCredentialsProvider};
use hyper::Request;
use hyper::body::Incoming;
use hyper::service::{Service, service_fn};
use hyper_util::rt::TokioIo;
use reqwest::StatusCode;
use reqwest::multipart::{Form, Part};
use s3s::auth::SimpleAuth;
use s3s::service::S3ServiceBuilder;
use tokio::net::TcpListener;
use yunqiao_aws::{S3BlobStore, S3Config, sdk_config};
use yunqiao_core::blob::{BlobError, BlobStore, POST_FILE_FIELD, PostForm, UploadPolicy};

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

/// POSTs `form` as `wx.uploadFile` would: every field in order, then the file.
async fn upload(
    form: &PostForm,
    fields: &[(String, String)],
    file: Vec<u8>,
) -> (StatusCode, String) {
    let mut body = Form::new();
    for (name, value) in fields {
        body = body.text(name.clone(), value.clone());
    }
    let part = Part::bytes(file)
        .file_name("upload.bin")
        .mime_str("application/octet-stream")
        .expect("mime");
    body = body.part(POST_FILE_FIELD, part);
    let resp = reqwest::Client::new()
        .post(&form.url)
        .multipart(body)
        .send()
        .await
        .expect("POST");
    let status = resp.status();
    (status, resp.text().await.unwrap_or_default())
}

/// The form's fields with `name` set to `value`.
fn with_field(form: &PostForm, name: &str, value: &str) -> Vec<(String, String)> {
    form.fields
        .iter()
        .map(|(n, v)| {
            let v = if n == name {
                value.to_string()
            } else {
                v.clone()
            };
            (n.clone(), v)
        })
        .collect()
}

fn field<'a>(form: &'a PostForm, name: &str) -> &'a str {
    form.fields
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
        .expect("field")
}

fn policy(max_bytes: u64) -> UploadPolicy {
    UploadPolicy::new("image/png", max_bytes, Duration::from_secs(600))
}

#[tokio::test]
async fn put_get_head_delete_round_trip() {
    let (_server, store) = setup().await;
    let key = "u/42/notes/今天.txt";
    let body = "你好, S3".as_bytes().to_vec();

    let meta = store
        .put(key, body.clone(), "text/plain; charset=utf-8")
        .await
        .unwrap();
    assert_eq!(meta.size, body.len() as u64);
    assert_eq!(meta.content_type, "text/plain; charset=utf-8");
    assert!(!meta.etag.is_empty() && !meta.etag.contains('"'));

    let blob = store.get(key).await.unwrap().expect("stored");
    assert_eq!(blob.bytes, body);
    assert_eq!(blob.meta, meta);
    assert_eq!(store.head(key).await.unwrap(), Some(meta.clone()));

    // A put replaces the object.
    let replaced = store.put(key, b"v2".to_vec(), "text/plain").await.unwrap();
    assert_ne!(replaced.etag, meta.etag);
    let blob = store.get(key).await.unwrap().expect("stored");
    assert_eq!((blob.bytes.as_slice(), blob.meta), (&b"v2"[..], replaced));

    // An empty object is an object.
    store
        .put("empty", Vec::new(), "application/x-empty")
        .await
        .unwrap();
    let empty = store.get("empty").await.unwrap().expect("stored");
    assert_eq!((empty.bytes.len(), empty.meta.size), (0, 0));

    store.delete(key).await.unwrap();
    assert_eq!(store.get(key).await.unwrap(), None);
    assert_eq!(store.head(key).await.unwrap(), None);
    // Deleting what is not there succeeds.
    store.delete(key).await.unwrap();
    store.delete("never/was").await.unwrap();
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
async fn missing_objects_are_none() {
    let (_server, store) = setup().await;
    assert_eq!(store.get("missing.png").await.unwrap(), None);
    assert_eq!(store.head("missing.png").await.unwrap(), None);
    // And creating the bucket again changes nothing.
    store
        .put("kept", b"x".to_vec(), "text/plain")
        .await
        .unwrap();
    store.create_bucket_if_missing().await.unwrap();
    assert!(store.head("kept").await.unwrap().is_some());
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
async fn presigned_get_serves_the_bytes_and_nothing_else() {
    let (_server, store) = setup().await;
    store
        .put("photos/cat.png", b"\x89PNG cat".to_vec(), "image/png")
        .await
        .unwrap();
    store
        .put("photos/dog.png", b"\x89PNG dog".to_vec(), "image/png")
        .await
        .unwrap();
    let url = store
        .presign_get("photos/cat.png", Duration::from_secs(300))
        .await
        .unwrap();
    // The default CRC32 checksum mode must not have crept into the URL.
    assert!(!url.to_ascii_lowercase().contains("checksum"), "{url}");

    let resp = reqwest::get(&url).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        resp.headers()["content-type"].to_str().unwrap(),
        "image/png"
    );
    assert_eq!(resp.bytes().await.unwrap().as_ref(), b"\x89PNG cat");

    // Another key under the same signature.
    let other = url.replace("cat.png", "dog.png");
    assert_ne!(other, url);
    let resp = reqwest::get(&other).await.unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert!(resp.text().await.unwrap().contains("SignatureDoesNotMatch"));

    // A changed signature.
    let (head, sig) = url.split_once("X-Amz-Signature=").unwrap();
    let flipped = if sig.starts_with('0') { "1" } else { "0" };
    let forged = format!("{head}X-Amz-Signature={flipped}{}", &sig[1..]);
    let resp = reqwest::get(&forged).await.unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);

    // A longer life than was signed.
    let longer = url.replace("X-Amz-Expires=300", "X-Amz-Expires=3000");
    assert_ne!(longer, url);
    assert_eq!(
        reqwest::get(&longer).await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
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
async fn presigned_post_enforces_its_policy() {
    let (_server, store) = setup().await;
    let key = "u/7/photo.png";
    let form = store
        .presign_post(
            key,
            &UploadPolicy {
                min_bytes: 4,
                ..policy(16)
            },
        )
        .await
        .unwrap();
    let file = b"\x89PNG ok".to_vec();

    let refused = |status: StatusCode, body: &str, code: &str| {
        assert!(
            status.is_client_error() && body.contains(code),
            "expected {code}, got {status}: {body}"
        );
    };

    // Too large, too small.
    let (s, b) = upload(&form, &form.fields, vec![b'x'; 17]).await;
    refused(s, &b, "EntityTooLarge");
    let (s, b) = upload(&form, &form.fields, vec![b'x'; 3]).await;
    refused(s, &b, "EntityTooSmall");
    // Another key, another content type.
    let (s, b) = upload(
        &form,
        &with_field(&form, "key", "u/8/photo.png"),
        file.clone(),
    )
    .await;
    refused(s, &b, "InvalidPolicyDocument");
    let (s, b) = upload(
        &form,
        &with_field(&form, "Content-Type", "text/html"),
        file.clone(),
    )
    .await;
    refused(s, &b, "InvalidPolicyDocument");
    // A field the policy does not cover.
    let mut extra = form.fields.clone();
    extra.insert(0, ("acl".into(), "public-read".into()));
    let (s, b) = upload(&form, &extra, file.clone()).await;
    refused(s, &b, "AccessDenied");

    // A rewritten policy (a bigger size limit) under the old signature.
    let decoded = String::from_utf8(
        base64::Engine::decode(
            &base64::engine::general_purpose::STANDARD,
            field(&form, "policy"),
        )
        .unwrap(),
    )
    .unwrap();
    let widened = decoded.replace(
        "[\"content-length-range\",4,16]",
        "[\"content-length-range\",0,1000000]",
    );
    assert_ne!(widened, decoded, "{decoded}");
    let widened = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, widened);
    let (s, b) = upload(
        &form,
        &with_field(&form, "policy", &widened),
        vec![b'x'; 100],
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{b}");
    refused(s, &b, "SignatureDoesNotMatch");
    // A changed signature.
    let sig = field(&form, "x-amz-signature");
    let forged = format!(
        "{}{}",
        if sig.starts_with('0') { "1" } else { "0" },
        &sig[1..]
    );
    let (s, b) = upload(
        &form,
        &with_field(&form, "x-amz-signature", &forged),
        file.clone(),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{b}");
    refused(s, &b, "SignatureDoesNotMatch");

    assert_eq!(store.head(key).await.unwrap(), None);
    assert_eq!(store.head("u/8/photo.png").await.unwrap(), None);

    // The untouched form still works.
    let (s, b) = upload(&form, &form.fields, file.clone()).await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{b}");
    assert_eq!(store.get(key).await.unwrap().unwrap().bytes, file);
}

#[tokio::test]
async fn presigned_forms_and_urls_expire() {
    let (_server, store) = setup().await;
    store
        .put("k.png", b"png".to_vec(), "image/png")
        .await
        .unwrap();
    let short = Duration::from_secs(1);
    let url = store.presign_get("k.png", short).await.unwrap();
    let form = store
        .presign_post(
            "new.png",
            &UploadPolicy {
                expires_in: short,
                ..policy(1024)
            },
        )
        .await
        .unwrap();
    // S3 compares whole seconds: wait past the next full second after expiry.
    tokio::time::sleep(Duration::from_millis(2100)).await;

    let resp = reqwest::get(&url).await.unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let (status, body) = upload(&form, &form.fields, b"png".to_vec()).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(body.contains("expired"), "{body}");
    assert_eq!(store.head("new.png").await.unwrap(), None);
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
