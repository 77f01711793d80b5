//! The BlobStore conformance suite: every implementation runs exactly these checks, each
//! as a test of its own ([`blob_store_conformance!`]), through the HTTP endpoints that
//! take its presigned forms and URLs (S3's own, or the local server's `/v1/blobs`).
//!
//! The store must sign at the [`Harness::clock`] (a [`ManualClock`]); each check sets it
//! to the real time first, so that a server checking against its own clock (S3) and one
//! checking against the store's (the local server) agree. Expiry is tested by signing
//! in the past, never by sleeping.
//!
//! ```ignore
//! async fn harness() -> yunqiao_conformance::blobs::Harness { … }
//! yunqiao_conformance::blob_store_conformance!(harness);
//! ```

use std::any::Any;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use reqwest::StatusCode;
use reqwest::multipart::{Form, Part};
use yunqiao_core::blob::{
    BlobError, BlobStore, MAX_EXPIRY, MAX_KEY_BYTES, POST_FILE_FIELD, PostForm, UploadPolicy,
};
use yunqiao_core::clock::{Clock, ManualClock, SystemClock};

/// A refusal the suite provokes; the harness says how its server words each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// An upload form with a changed signature or policy.
    PostSignature,
    /// An upload form past its expiry.
    PostExpired,
    /// An upload form's key field changed.
    PostOtherKey,
    /// An upload form's content type field changed.
    PostOtherType,
    /// An upload form with a field it was not signed with.
    PostUnsignedField,
    /// A file larger than the form allows.
    PostTooLarge,
    /// A file smaller than the form allows.
    PostTooSmall,
    /// A download URL with a changed signature, key or expiry.
    GetSignature,
    /// A download URL past its expiry.
    GetExpired,
}

/// One store under test, and what keeps its server and data alive.
pub struct Harness {
    pub store: Arc<dyn BlobStore>,
    /// The clock the store signs at.
    pub clock: ManualClock,
    /// A text the body of the server's answer to each refusal contains (its error code).
    pub expect: fn(Refusal) -> &'static str,
    /// Whether the server stores every valid key, as S3 and the disk store do: keys of
    /// [`MAX_KEY_BYTES`], and a key with keys below it (`d` and `d/e`). `s3s-fs`, a test
    /// server that maps keys to file paths, does neither.
    pub full_key_space: bool,
    /// Dropped with the harness: servers, temporary directories.
    pub keep: Box<dyn Any + Send + Sync>,
}

impl Harness {
    /// The clock at the real time.
    fn now(&self) {
        self.clock.set_ms(SystemClock.now_ms());
    }

    /// The clock ten minutes ago: what is signed then for a minute is expired in real
    /// time (and still within the 15 minutes of clock skew S3 allows a signature).
    fn ten_minutes_ago(&self) {
        self.clock.set_ms(SystemClock.now_ms() - 600_000);
    }

    fn refused(&self, what: Refusal, (status, body): (StatusCode, String)) {
        let code = (self.expect)(what);
        assert!(
            status.is_client_error() && body.contains(code),
            "{what:?}: expected a 4xx with {code}, got {status}: {body}"
        );
    }
}

/// One test per check, each on a fresh harness from `$harness().await`.
#[macro_export]
macro_rules! blob_store_conformance {
    ($harness:path) => {
        $crate::blob_store_conformance!(@cases $harness;
            put_get_head_delete,
            put_replaces,
            copy_copies_one_version,
            a_copy_outlives_later_uploads_to_its_source,
            missing_keys_are_absent,
            every_invalid_key_is_refused,
            invalid_arguments_are_refused,
            content_types_are_kept,
            etags_follow_the_content,
            presigned_get_serves_the_object,
            typed_presigned_gets_serve_the_object,
            read_prefix_reads_the_start,
            presigned_get_of_a_missing_object_is_404,
            presigned_get_expires,
            tampered_presigned_gets_are_refused,
            presigned_post_as_wx_upload_file_sends_it,
            presigned_post_fields_in_any_order,
            presigned_post_is_reusable_until_it_expires,
            post_with_a_changed_signature_is_refused,
            post_with_a_rewritten_policy_is_refused,
            post_after_expiry_is_refused,
            post_to_another_key_is_refused,
            post_too_large_is_refused,
            post_too_small_is_refused,
            post_with_another_content_type_is_refused,
            post_with_an_unsigned_field_is_refused,
        );
    };
    (@cases $harness:path; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let h = $harness().await;
                $crate::blobs::$case(&h).await;
            }
        )*
    };
}

/// POSTs `fields` then the file to `form.url`, as `wx.uploadFile` does: `formData` as
/// text parts, then the file part named `file` (with a type of its own, which the store
/// must not take for the object's).
pub async fn upload(
    form: &PostForm,
    fields: &[(String, String)],
    file: Vec<u8>,
) -> (StatusCode, String) {
    let mut body = Form::new();
    for (name, value) in fields {
        body = body.text(name.clone(), value.clone());
    }
    let part = Part::bytes(file)
        .file_name("wxfile://tmp_0123.png")
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

async fn get(url: &str) -> (StatusCode, String) {
    let resp = reqwest::get(url).await.expect("GET");
    let status = resp.status();
    (status, resp.text().await.unwrap_or_default())
}

/// The form's fields with `name` set to `value`.
pub fn with_field(form: &PostForm, name: &str, value: &str) -> Vec<(String, String)> {
    let fields: Vec<(String, String)> = form
        .fields
        .iter()
        .map(|(n, v)| {
            let v = if n.eq_ignore_ascii_case(name) {
                value.to_string()
            } else {
                v.clone()
            };
            (n.clone(), v)
        })
        .collect();
    assert_ne!(fields, form.fields, "the form has a field {name}");
    fields
}

pub fn field<'a>(form: &'a PostForm, name: &str) -> &'a str {
    form.fields
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("the form has no field {name}"))
}

/// The name of the form's signature field (`signature`, `x-amz-signature`).
fn signature_field(form: &PostForm) -> String {
    form.fields
        .iter()
        .map(|(n, _)| n.clone())
        .find(|n| n.to_ascii_lowercase().ends_with("signature"))
        .expect("a signature field")
}

/// `s` with its first character changed (a hex digit for a hex digit).
fn flip_first(s: &str) -> String {
    let first = if s.starts_with('0') { "1" } else { "0" };
    format!("{first}{}", &s[1..])
}

/// `url` with the value of its query parameter `pick` chooses changed by `change`.
fn with_query(url: &str, pick: fn(&str) -> bool, change: fn(&str) -> String) -> String {
    let (base, query) = url.split_once('?').expect("a query");
    let query: Vec<String> = query
        .split('&')
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) if pick(&k.to_ascii_lowercase()) => format!("{k}={}", change(v)),
            _ => kv.to_string(),
        })
        .collect();
    let out = format!("{base}?{}", query.join("&"));
    assert_ne!(out, url, "nothing changed in {url}");
    out
}

fn policy(max_bytes: u64) -> UploadPolicy {
    UploadPolicy::new("image/png", max_bytes, Duration::from_secs(600))
}

/// A key of exactly [`MAX_KEY_BYTES`] bytes, in segments a file system takes.
fn longest_key() -> String {
    let mut k = format!("{}/", "k".repeat(200)).repeat(4);
    k.push_str(&"z".repeat(MAX_KEY_BYTES - k.len()));
    assert_eq!(k.len(), MAX_KEY_BYTES);
    k
}

pub async fn put_get_head_delete(h: &Harness) {
    h.now();
    let s = &h.store;
    let longest = longest_key();
    let mut keys = vec![
        "u/42/notes/今天.txt",
        "a",
        ".hidden",
        "a..b",
        "with space/and?query#frag%25+plus",
    ];
    if h.full_key_space {
        keys.push(&longest);
    }
    for key in keys {
        let body = format!("你好 {key}").into_bytes();
        let meta = s
            .put(key, body.clone(), "text/plain; charset=utf-8")
            .await
            .unwrap_or_else(|e| panic!("{key}: {e}"));
        assert_eq!(meta.size, body.len() as u64, "{key}");
        assert_eq!(meta.content_type, "text/plain; charset=utf-8");
        let blob = s.get(key).await.unwrap().expect("stored");
        assert_eq!(blob.bytes, body, "{key}");
        assert_eq!(blob.meta, meta, "{key}");
        assert_eq!(s.head(key).await.unwrap(), Some(meta), "{key}");
        s.delete(key).await.unwrap();
        assert_eq!(s.get(key).await.unwrap(), None, "{key}");
        assert_eq!(s.head(key).await.unwrap(), None, "{key}");
    }
    // A key and keys below it are separate objects.
    if h.full_key_space {
        s.put("d", b"file".to_vec(), "text/plain").await.unwrap();
        s.put("d/e", b"below".to_vec(), "text/plain").await.unwrap();
        assert_eq!(s.get("d").await.unwrap().unwrap().bytes, b"file");
        assert_eq!(s.get("d/e").await.unwrap().unwrap().bytes, b"below");
        s.delete("d").await.unwrap();
        assert_eq!(s.get("d/e").await.unwrap().unwrap().bytes, b"below");
    }
    // An empty object is an object.
    let empty = s
        .put("empty", Vec::new(), "application/x-empty")
        .await
        .unwrap();
    assert_eq!(empty.size, 0);
    let got = s.get("empty").await.unwrap().expect("stored");
    assert_eq!((got.bytes.len(), got.meta), (0, empty));
}

pub async fn put_replaces(h: &Harness) {
    h.now();
    let s = &h.store;
    let v1 = s.put("k.bin", b"one".to_vec(), "text/plain").await.unwrap();
    let v2 = s
        .put("k.bin", b"\x89PNG two".to_vec(), "image/png")
        .await
        .unwrap();
    assert_ne!(v1.etag, v2.etag);
    let got = s.get("k.bin").await.unwrap().unwrap();
    assert_eq!(
        (got.bytes.as_slice(), &got.meta),
        (&b"\x89PNG two"[..], &v2)
    );
    assert_eq!(got.meta.content_type, "image/png");
    assert_eq!(s.head("k.bin").await.unwrap(), Some(v2));
}

pub async fn copy_copies_one_version(h: &Harness) {
    h.now();
    let s = &h.store;
    let src = s
        .put("copy/src 文.png", b"\x89PNG one".to_vec(), "image/png")
        .await
        .unwrap();
    let copied = s
        .copy("copy/src 文.png", "copy/dst.png")
        .await
        .unwrap()
        .expect("copied");
    assert_eq!(
        (copied.size, copied.content_type.as_str()),
        (src.size, "image/png")
    );
    let got = s.get("copy/dst.png").await.unwrap().expect("there");
    assert_eq!(got.bytes, b"\x89PNG one");
    assert_eq!(got.meta, copied);
    // Two objects: changing or removing the source leaves the copy as it was.
    s.put("copy/src 文.png", b"two".to_vec(), "text/plain")
        .await
        .unwrap();
    s.delete("copy/src 文.png").await.unwrap();
    assert_eq!(
        s.get("copy/dst.png").await.unwrap().expect("kept").bytes,
        b"\x89PNG one"
    );
    // A copy replaces what was under the target.
    s.put("copy/other", b"other".to_vec(), "text/plain")
        .await
        .unwrap();
    s.copy("copy/other", "copy/dst.png").await.unwrap();
    let got = s.get("copy/dst.png").await.unwrap().expect("there");
    assert_eq!(
        (got.bytes.as_slice(), got.meta.content_type.as_str()),
        (&b"other"[..], "text/plain")
    );
    // A missing source is an answer, and touches nothing.
    assert_eq!(s.copy("copy/missing", "copy/dst.png").await.unwrap(), None);
    assert_eq!(
        s.get("copy/dst.png").await.unwrap().unwrap().bytes,
        b"other"
    );
    // Bad keys, on either side.
    for (from, to) in [("/bad", "copy/x"), ("copy/other", "a//b")] {
        assert!(
            matches!(s.copy(from, to).await, Err(BlobError::InvalidKey(_))),
            "{from} -> {to}"
        );
    }
}

/// The files API's guard against a replayed form: bytes uploaded to a staging key are
/// copied to their final key, after which the form (still valid) reaches only the
/// staging key.
pub async fn a_copy_outlives_later_uploads_to_its_source(h: &Harness) {
    h.now();
    let s = &h.store;
    let form = s.presign_post("up/f1", &policy(64)).await.unwrap();
    let (status, text) = upload(&form, &form.fields, b"\x89PNG first".to_vec()).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{text}");
    let copied = s.copy("up/f1", "f/f1").await.unwrap().expect("copied");
    assert_eq!(copied.content_type, "image/png");
    let (status, text) = upload(&form, &form.fields, b"\x89PNG again".to_vec()).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{text}");
    assert_eq!(
        s.get("up/f1").await.unwrap().unwrap().bytes,
        b"\x89PNG again"
    );
    let kept = s.get("f/f1").await.unwrap().expect("kept");
    assert_eq!(
        (kept.bytes.as_slice(), kept.meta),
        (&b"\x89PNG first"[..], copied)
    );
}

pub async fn missing_keys_are_absent(h: &Harness) {
    h.now();
    let s = &h.store;
    assert_eq!(s.get("missing.png").await.unwrap(), None);
    assert_eq!(s.head("missing.png").await.unwrap(), None);
    assert_eq!(s.head("missing/deeper/x").await.unwrap(), None);
    // Deleting what is not there succeeds, and so does deleting twice.
    s.delete("missing.png").await.unwrap();
    s.put("once", b"x".to_vec(), "text/plain").await.unwrap();
    s.delete("once").await.unwrap();
    s.delete("once").await.unwrap();
    // Presigning does not need the object.
    s.presign_get("missing.png", Duration::from_secs(60))
        .await
        .unwrap();
    s.presign_post("missing.png", &policy(10)).await.unwrap();
    assert_eq!(s.head("missing.png").await.unwrap(), None);
}

/// Every rule of `validate_key`, on every method, before anything is touched.
pub async fn every_invalid_key_is_refused(h: &Harness) {
    h.now();
    let s = &h.store;
    let minute = Duration::from_secs(60);
    let too_long = format!("{}k", longest_key());
    for key in [
        "",
        "/abs",
        "a//b",
        "dir/",
        "..",
        ".",
        "a/../b",
        "./a",
        "a/.",
        "a\nb",
        "a\rb",
        "a\0b",
        "a\tb",
        "a\u{7f}",
        "a\u{85}b",
        "a\\b",
        too_long.as_str(),
    ] {
        let invalid = |r: Result<(), BlobError>| {
            assert!(matches!(r, Err(BlobError::InvalidKey(_))), "{key:?}: {r:?}");
        };
        invalid(s.put(key, b"x".to_vec(), "text/plain").await.map(drop));
        invalid(s.get(key).await.map(drop));
        invalid(s.head(key).await.map(drop));
        invalid(s.delete(key).await);
        invalid(s.presign_get(key, minute).await.map(drop));
        invalid(s.presign_post(key, &policy(10)).await.map(drop));
    }
    // Nothing was written under a near name.
    for near in ["a", "b", "abs", "dir", "a/b"] {
        assert_eq!(s.head(near).await.unwrap(), None, "{near}");
    }
}

pub async fn invalid_arguments_are_refused(h: &Harness) {
    h.now();
    let s = &h.store;
    let minute = Duration::from_secs(60);
    let invalid = |what: &str, r: Result<(), BlobError>| {
        assert!(matches!(r, Err(BlobError::Invalid(_))), "{what}: {r:?}");
    };
    for ct in ["", "png", "image/png\r\nx: y", "text/plain\u{e9}"] {
        invalid(ct, s.put("k", vec![], ct).await.map(drop));
        invalid(
            ct,
            s.presign_post("k", &UploadPolicy::new(ct, 10, minute))
                .await
                .map(drop),
        );
    }
    assert_eq!(s.head("k").await.unwrap(), None);
    for d in [Duration::ZERO, MAX_EXPIRY + Duration::from_secs(1)] {
        invalid("expiry", s.presign_get("k", d).await.map(drop));
        invalid(
            "expiry",
            s.presign_post(
                "k",
                &UploadPolicy {
                    expires_in: d,
                    ..policy(10)
                },
            )
            .await
            .map(drop),
        );
    }
    invalid(
        "min > max",
        s.presign_post(
            "k",
            &UploadPolicy {
                min_bytes: 11,
                ..policy(10)
            },
        )
        .await
        .map(drop),
    );
}

pub async fn content_types_are_kept(h: &Harness) {
    h.now();
    let s = &h.store;
    for (i, ct) in [
        "image/png",
        "image/svg+xml",
        "text/plain; charset=utf-8",
        "application/vnd.ms-excel",
        "application/x-empty",
        "video/mp4",
    ]
    .into_iter()
    .enumerate()
    {
        let key = format!("ct/{i}");
        s.put(&key, b"x".to_vec(), ct).await.unwrap();
        assert_eq!(s.head(&key).await.unwrap().unwrap().content_type, ct);
        assert_eq!(s.get(&key).await.unwrap().unwrap().meta.content_type, ct);
    }
}

pub async fn etags_follow_the_content(h: &Harness) {
    h.now();
    let s = &h.store;
    let a = s.put("e1", b"same".to_vec(), "text/plain").await.unwrap();
    let b = s.put("e2", b"same".to_vec(), "text/plain").await.unwrap();
    let c = s.put("e1", b"other".to_vec(), "text/plain").await.unwrap();
    for m in [&a, &b, &c] {
        assert!(!m.etag.is_empty() && !m.etag.contains('"'), "{m:?}");
    }
    assert_eq!(a.etag, b.etag, "the same bytes, the same etag");
    assert_ne!(a.etag, c.etag, "other bytes, another etag");
    assert_eq!(s.head("e1").await.unwrap().unwrap().etag, c.etag);
}

pub async fn presigned_get_serves_the_object(h: &Harness) {
    h.now();
    let s = &h.store;
    for key in ["photos/cat.png", "相册/猫 1.png", "odd?#%&=+.png"] {
        let png = format!("\x7fPNG {key}").into_bytes();
        s.put(key, png.clone(), "image/png").await.unwrap();
        let url = s.presign_get(key, Duration::from_secs(300)).await.unwrap();
        let resp = reqwest::get(&url).await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "{key}: {url}");
        assert_eq!(
            resp.headers()["content-type"].to_str().unwrap(),
            "image/png"
        );
        assert_eq!(resp.bytes().await.unwrap().as_ref(), png.as_slice());
    }
}

/// A URL for an object of a known type serves its bytes whatever the type (what a
/// browser would run comes as an attachment: checked per face by the acceptance tests).
pub async fn typed_presigned_gets_serve_the_object(h: &Harness) {
    h.now();
    let s = &h.store;
    for (i, ct) in ["image/png", "text/html", "image/svg+xml", "text/plain"]
        .into_iter()
        .enumerate()
    {
        let key = format!("typed/{i}");
        let bytes = format!("<p>{ct}</p>").into_bytes();
        s.put(&key, bytes.clone(), ct).await.unwrap();
        let url = s
            .presign_get_as(&key, ct, Duration::from_secs(300))
            .await
            .unwrap();
        let resp = reqwest::get(&url).await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "{ct}: {url}");
        assert_eq!(resp.bytes().await.unwrap().as_ref(), bytes.as_slice());
    }
}

pub async fn read_prefix_reads_the_start(h: &Harness) {
    h.now();
    let s = &h.store;
    let bytes: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
    s.put("prefix/long", bytes.clone(), "application/octet-stream")
        .await
        .unwrap();
    s.put("prefix/short", b"abc".to_vec(), "text/plain")
        .await
        .unwrap();
    assert_eq!(
        s.read_prefix("prefix/long", 100).await.unwrap().unwrap(),
        bytes[..100].to_vec()
    );
    assert_eq!(
        s.read_prefix("prefix/short", 100).await.unwrap().unwrap(),
        b"abc".to_vec()
    );
    assert_eq!(s.read_prefix("prefix/none", 100).await.unwrap(), None);
}

pub async fn presigned_get_of_a_missing_object_is_404(h: &Harness) {
    h.now();
    let url = h
        .store
        .presign_get("nothing/here.png", Duration::from_secs(60))
        .await
        .unwrap();
    let (status, body) = get(&url).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
}

pub async fn presigned_get_expires(h: &Harness) {
    h.now();
    h.store
        .put("k.png", b"png".to_vec(), "image/png")
        .await
        .unwrap();
    h.ten_minutes_ago();
    let url = h
        .store
        .presign_get("k.png", Duration::from_secs(60))
        .await
        .unwrap();
    h.now();
    h.refused(Refusal::GetExpired, get(&url).await);
}

pub async fn tampered_presigned_gets_are_refused(h: &Harness) {
    h.now();
    let s = &h.store;
    s.put("photos/cat.png", b"cat".to_vec(), "image/png")
        .await
        .unwrap();
    s.put("photos/dog.png", b"dog".to_vec(), "image/png")
        .await
        .unwrap();
    let url = s
        .presign_get("photos/cat.png", Duration::from_secs(300))
        .await
        .unwrap();
    // Another key under the same signature.
    let other = url.replace("cat.png", "dog.png");
    assert_ne!(other, url);
    h.refused(Refusal::GetSignature, get(&other).await);
    // A changed signature.
    let forged = with_query(
        &url,
        |k| k.ends_with("sig") || k.ends_with("signature"),
        flip_first,
    );
    h.refused(Refusal::GetSignature, get(&forged).await);
    // A longer life than was signed.
    let longer = with_query(
        &url,
        |k| k == "expires" || k == "x-amz-expires",
        |v| (v.parse::<u64>().expect("a number") + 1000).to_string(),
    );
    h.refused(Refusal::GetSignature, get(&longer).await);
    // The untouched URL still works.
    assert_eq!(get(&url).await, (StatusCode::OK, "cat".to_string()));
}

pub async fn presigned_post_as_wx_upload_file_sends_it(h: &Harness) {
    h.now();
    let s = &h.store;
    let form = s
        .presign_post("u/7/avatar.png", &policy(1024))
        .await
        .unwrap();
    assert!(
        form.url.starts_with("http://") || form.url.starts_with("https://"),
        "{}",
        form.url
    );
    assert_eq!(field(&form, "key"), "u/7/avatar.png");
    assert_eq!(field(&form, "Content-Type"), "image/png");
    let png = b"\x89PNG avatar".to_vec();
    let (status, body) = upload(&form, &form.fields, png.clone()).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let blob = s.get("u/7/avatar.png").await.unwrap().expect("uploaded");
    assert_eq!(blob.bytes, png);
    // The signed Content-Type field, not the file part's own type, is the object's.
    assert_eq!(blob.meta.content_type, "image/png");
    assert_eq!(blob.meta.size, png.len() as u64);
}

/// `formData` is an object: its fields may come in any order, as long as the file is
/// last.
pub async fn presigned_post_fields_in_any_order(h: &Harness) {
    h.now();
    let form = h
        .store
        .presign_post("any/order.png", &policy(64))
        .await
        .unwrap();
    let mut reversed = form.fields.clone();
    reversed.reverse();
    let (status, body) = upload(&form, &reversed, b"png".to_vec()).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    assert_eq!(
        h.store.get("any/order.png").await.unwrap().unwrap().bytes,
        b"png"
    );
}

pub async fn presigned_post_is_reusable_until_it_expires(h: &Harness) {
    h.now();
    let s = &h.store;
    let form = s.presign_post("again.png", &policy(64)).await.unwrap();
    for body in [&b"first"[..], b"second"] {
        let (status, text) = upload(&form, &form.fields, body.to_vec()).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{text}");
        assert_eq!(s.get("again.png").await.unwrap().unwrap().bytes, body);
    }
}

pub async fn post_with_a_changed_signature_is_refused(h: &Harness) {
    h.now();
    let form = h.store.presign_post("sig.png", &policy(64)).await.unwrap();
    let name = signature_field(&form);
    let forged = with_field(&form, &name, &flip_first(field(&form, &name)));
    h.refused(
        Refusal::PostSignature,
        upload(&form, &forged, b"png".to_vec()).await,
    );
    assert_eq!(h.store.head("sig.png").await.unwrap(), None);
}

/// A policy with a larger size limit under the old signature.
pub async fn post_with_a_rewritten_policy_is_refused(h: &Harness) {
    h.now();
    let form = h
        .store
        .presign_post("wide.png", &policy(4321))
        .await
        .unwrap();
    let b64 = base64::engine::general_purpose::STANDARD;
    let decoded =
        String::from_utf8(b64.decode(field(&form, "policy")).expect("base64")).expect("JSON");
    let widened = decoded
        .replace(",4321]", ",99999999]")
        .replace(":4321", ":99999999");
    assert_ne!(widened, decoded, "{decoded}");
    let fields = with_field(&form, "policy", &b64.encode(widened));
    h.refused(
        Refusal::PostSignature,
        upload(&form, &fields, vec![b'x'; 5000]).await,
    );
    assert_eq!(h.store.head("wide.png").await.unwrap(), None);
}

pub async fn post_after_expiry_is_refused(h: &Harness) {
    h.ten_minutes_ago();
    let form = h
        .store
        .presign_post(
            "late.png",
            &UploadPolicy {
                expires_in: Duration::from_secs(60),
                ..policy(64)
            },
        )
        .await
        .unwrap();
    h.now();
    h.refused(
        Refusal::PostExpired,
        upload(&form, &form.fields, b"png".to_vec()).await,
    );
    assert_eq!(h.store.head("late.png").await.unwrap(), None);
}

pub async fn post_to_another_key_is_refused(h: &Harness) {
    h.now();
    let form = h
        .store
        .presign_post("u/7/mine.png", &policy(64))
        .await
        .unwrap();
    let fields = with_field(&form, "key", "u/8/theirs.png");
    h.refused(
        Refusal::PostOtherKey,
        upload(&form, &fields, b"png".to_vec()).await,
    );
    assert_eq!(h.store.head("u/8/theirs.png").await.unwrap(), None);
    assert_eq!(h.store.head("u/7/mine.png").await.unwrap(), None);
}

pub async fn post_too_large_is_refused(h: &Harness) {
    h.now();
    let s = &h.store;
    let form = s.presign_post("big.png", &policy(16)).await.unwrap();
    h.refused(
        Refusal::PostTooLarge,
        upload(&form, &form.fields, vec![b'x'; 17]).await,
    );
    assert_eq!(s.head("big.png").await.unwrap(), None);
    // The limit itself is allowed.
    let (status, body) = upload(&form, &form.fields, vec![b'x'; 16]).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    // A refused upload leaves the object that was there as it was.
    h.refused(
        Refusal::PostTooLarge,
        upload(&form, &form.fields, vec![b'y'; 100]).await,
    );
    assert_eq!(
        s.get("big.png").await.unwrap().unwrap().bytes,
        vec![b'x'; 16]
    );
}

pub async fn post_too_small_is_refused(h: &Harness) {
    h.now();
    let s = &h.store;
    let form = s
        .presign_post(
            "small.png",
            &UploadPolicy {
                min_bytes: 4,
                ..policy(16)
            },
        )
        .await
        .unwrap();
    h.refused(
        Refusal::PostTooSmall,
        upload(&form, &form.fields, vec![b'x'; 3]).await,
    );
    assert_eq!(s.head("small.png").await.unwrap(), None);
    let (status, body) = upload(&form, &form.fields, vec![b'x'; 4]).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
}

pub async fn post_with_another_content_type_is_refused(h: &Harness) {
    h.now();
    let form = h.store.presign_post("type.png", &policy(64)).await.unwrap();
    let fields = with_field(&form, "Content-Type", "text/html");
    h.refused(
        Refusal::PostOtherType,
        upload(&form, &fields, b"<script>".to_vec()).await,
    );
    assert_eq!(h.store.head("type.png").await.unwrap(), None);
}

pub async fn post_with_an_unsigned_field_is_refused(h: &Harness) {
    h.now();
    let form = h
        .store
        .presign_post("extra.png", &policy(64))
        .await
        .unwrap();
    let mut fields = form.fields.clone();
    fields.insert(0, ("acl".into(), "public-read".into()));
    h.refused(
        Refusal::PostUnsignedField,
        upload(&form, &fields, b"png".to_vec()).await,
    );
    assert_eq!(h.store.head("extra.png").await.unwrap(), None);
}
