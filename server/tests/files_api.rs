//! The files API on every face: a signed form from `POST /v1/files`, the bytes posted
//! to the blob store exactly as `wx.uploadFile` posts them (the disk store's
//! `/v1/blobs` on `yunqiao serve`, S3 — s3s-fs checking every signature — on the Lambda
//! face), `complete`, and URLs only for those who may read. Expiry of pending uploads is
//! the domain's unit test (a manual clock), not waited for here.

mod common;

use common::{ADMIN_KEY, Answer, Api, Server};
use serde_json::{Value, json};

/// Small limits, and HTML allowed (so that what a browser would run can be uploaded
/// and its URL checked).
const FILES_ENV: &[(&str, &str)] = &[
    ("YUNQIAO_FILES_MAX_BYTES", "16384"),
    ("YUNQIAO_FILES_QUOTA_BYTES", "65536"),
    (
        "YUNQIAO_FILES_ALLOWED_TYPES",
        "image/png,image/jpeg,text/plain,text/html",
    ),
];

on_every_face!(env = super::FILES_ENV;
    an_upload_is_read_back_by_its_readers_only,
    a_public_file_is_read_by_anyone,
    owners_list_their_own_files,
    sizes_and_the_quota_are_kept,
    bytes_of_another_type_are_refused_and_removed,
    a_delete_removes_the_bytes,
    what_a_browser_would_run_comes_as_an_attachment,
    a_form_posted_again_after_completion_changes_nothing,
);

const PNG: &[u8] =
    b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89";
const HTML: &[u8] = b"<!DOCTYPE html><html><script>alert(document.cookie)</script></html>";

/// `POST /v1/files` as `token`.
async fn start(api: &Api, token: Option<&str>, body: Value) -> Answer {
    api.call("POST", "/v1/files", token, Some(body)).await
}

/// Posts the form as `wx.uploadFile({url, filePath, name: 'file', formData: fields})`
/// does: every field as a text part, then the file as the part `file`.
async fn post_form(upload: &Value, bytes: &[u8]) -> (u16, String) {
    let mut form = reqwest::multipart::Form::new();
    for (k, v) in upload["fields"].as_object().expect("fields") {
        form = form.text(k.clone(), v.as_str().expect("a text field").to_string());
    }
    assert_eq!(upload["file_field"], "file");
    let part = reqwest::multipart::Part::bytes(bytes.to_vec())
        .file_name("wxfile://tmp_0123.bin")
        .mime_str("application/octet-stream")
        .unwrap();
    form = form.part("file", part);
    let r = reqwest::Client::new()
        .post(upload["url"].as_str().expect("url"))
        .multipart(form)
        .send()
        .await
        .expect("POST the form");
    let status = r.status().as_u16();
    (status, r.text().await.unwrap_or_default())
}

/// Signs, posts and completes; the completion's answer.
async fn upload(
    api: &Api,
    token: &str,
    name: &str,
    content_type: &str,
    bytes: &[u8],
    public: bool,
) -> Answer {
    let started = start(
        api,
        Some(token),
        json!({"name": name, "size": bytes.len(), "content_type": content_type, "public": public}),
    )
    .await;
    assert_eq!(started.status, 201, "{}", started.text);
    assert_eq!(started.body["file"]["status"], "pending");
    let (status, text) = post_form(&started.body["upload"], bytes).await;
    assert!((200..300).contains(&status), "{status}: {text}");
    let id = started.body["file"]["id"].as_str().unwrap();
    api.call(
        "POST",
        &format!("/v1/files/{id}/complete"),
        Some(token),
        None,
    )
    .await
}

async fn fetch(url: &str) -> reqwest::Response {
    reqwest::get(url).await.expect("GET the URL")
}

/// `url` with its signature (`sig` on disk, `X-Amz-Signature` on S3) changed.
fn tampered(url: &str) -> String {
    let (base, query) = url.split_once('?').expect("a query");
    let query: Vec<String> = query
        .split('&')
        .map(|kv| match kv.split_once('=') {
            Some((k, v))
                if matches!(k.to_ascii_lowercase().as_str(), "sig" | "x-amz-signature") =>
            {
                let first = if v.starts_with('0') { "1" } else { "0" };
                format!("{k}={first}{}", &v[1..])
            }
            _ => kv.to_string(),
        })
        .collect();
    let out = format!("{base}?{}", query.join("&"));
    assert_ne!(out, url, "no signature in {url}");
    out
}

fn id(a: &Answer) -> String {
    a.body["id"].as_str().expect("an id").to_string()
}

async fn an_upload_is_read_back_by_its_readers_only(s: Server) {
    let api = Api::new(&s.base);
    let (alice, alice_user) = api.login("mock:alice").await;
    let (bob, _) = api.login("mock:bob").await;

    // Completing before the bytes arrived.
    let started = start(
        &api,
        Some(&alice),
        json!({"name": "猫.png", "size": PNG.len(), "content_type": "image/png"}),
    )
    .await;
    assert_eq!(started.status, 201, "{}", started.text);
    let fid = started.body["file"]["id"].as_str().unwrap().to_string();
    let early = api
        .call(
            "POST",
            &format!("/v1/files/{fid}/complete"),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(early.status, 409, "{}", early.text);
    assert_eq!(early.code(), "FILE_NOT_UPLOADED");
    // Someone else cannot complete it.
    let (status, text) = post_form(&started.body["upload"], PNG).await;
    assert!((200..300).contains(&status), "{status}: {text}");
    let other = api
        .call(
            "POST",
            &format!("/v1/files/{fid}/complete"),
            Some(&bob),
            None,
        )
        .await;
    assert_eq!(other.status, 404, "{}", other.text);
    let done = api
        .call(
            "POST",
            &format!("/v1/files/{fid}/complete"),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(done.status, 200, "{}", done.text);
    assert_eq!(done.body["status"], "ready");
    assert_eq!(done.body["name"], "猫.png");
    assert_eq!(done.body["owner"], alice_user["id"]);
    assert_eq!(done.body["size"], PNG.len());

    // Its owner reads it back through the URL.
    let got = api
        .call("GET", &format!("/v1/files/{fid}"), Some(&alice), None)
        .await;
    assert_eq!(got.status, 200, "{}", got.text);
    let url = got.body["url"].as_str().expect("a URL").to_string();
    assert!(got.body["url_expires_at"].is_string());
    let r = fetch(&url).await;
    assert_eq!(r.status(), 200, "{url}");
    assert_eq!(r.headers()["content-type"], "image/png");
    assert_eq!(r.bytes().await.unwrap().as_ref(), PNG);
    // An admin may too.
    let admin = api
        .call("GET", &format!("/v1/files/{fid}"), Some(ADMIN_KEY), None)
        .await;
    assert_eq!(admin.status, 200, "{}", admin.text);

    // For anyone else it does not exist.
    for token in [Some(bob.as_str()), None] {
        let r = api
            .call("GET", &format!("/v1/files/{fid}"), token, None)
            .await;
        assert_eq!(r.status, 404, "{token:?}: {}", r.text);
        assert!(r.body.get("url").is_none());
    }
    let r = api
        .call("DELETE", &format!("/v1/files/{fid}"), Some(&bob), None)
        .await;
    assert_eq!(r.status, 404, "{}", r.text);

    // A URL with another signature is refused; the real one still works.
    let r = fetch(&tampered(&url)).await;
    assert_eq!(r.status(), 403, "{}", r.text().await.unwrap_or_default());
    assert_eq!(fetch(&url).await.status(), 200);

    // Anonymous callers cannot upload.
    let anon = start(
        &api,
        None,
        json!({"name": "a.png", "size": 3, "content_type": "image/png"}),
    )
    .await;
    assert_eq!(anon.status, 401, "{}", anon.text);
}

async fn a_public_file_is_read_by_anyone(s: Server) {
    let api = Api::new(&s.base);
    let (bob, _) = api.login("mock:bob").await;
    let (carol, _) = api.login("mock:carol").await;
    let text = "你好, world\n".as_bytes();
    let done = upload(&api, &bob, "hello.txt", "text/plain", text, true).await;
    assert_eq!(done.status, 200, "{}", done.text);
    assert_eq!(done.body["public"], true);
    let fid = id(&done);
    for token in [None, Some(carol.as_str())] {
        let got = api
            .call("GET", &format!("/v1/files/{fid}"), token, None)
            .await;
        assert_eq!(got.status, 200, "{token:?}: {}", got.text);
        let r = fetch(got.body["url"].as_str().unwrap()).await;
        assert_eq!(r.status(), 200);
        assert_eq!(r.bytes().await.unwrap().as_ref(), text);
    }
    // Reading is not managing.
    let r = api
        .call("DELETE", &format!("/v1/files/{fid}"), Some(&carol), None)
        .await;
    assert_eq!(r.status, 404, "{}", r.text);
}

async fn owners_list_their_own_files(s: Server) {
    let api = Api::new(&s.base);
    let (alice, _) = api.login("mock:alice").await;
    let (bob, _) = api.login("mock:bob").await;
    let a1 = id(&upload(&api, &alice, "a1.png", "image/png", PNG, false).await);
    let a2 = id(&upload(&api, &alice, "a2.png", "image/png", PNG, true).await);
    let b1 = id(&upload(&api, &bob, "b1.png", "image/png", PNG, true).await);
    let list = api.call("GET", "/v1/files", Some(&alice), None).await;
    assert_eq!(list.status, 200, "{}", list.text);
    let ids: Vec<&str> = list.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [a2.as_str(), a1.as_str()], "newest first, hers only");
    let list = api.call("GET", "/v1/files?limit=1", Some(&bob), None).await;
    assert_eq!(list.body["items"][0]["id"], b1.as_str());
    assert!(list.body.get("cursor").is_none(), "{}", list.text);
    let paged = api
        .call("GET", "/v1/files?limit=1", Some(&alice), None)
        .await;
    let cursor = paged.body["cursor"].as_str().expect("more follow");
    let next = api
        .call(
            "GET",
            &format!("/v1/files?limit=1&cursor={cursor}"),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(next.body["items"][0]["id"], a1.as_str(), "{}", next.text);
    let anon = api.call("GET", "/v1/files", None, None).await;
    assert_eq!(anon.status, 401, "{}", anon.text);
    let bad = api
        .call("GET", "/v1/files?limit=0", Some(&alice), None)
        .await;
    assert_eq!(bad.status, 400, "{}", bad.text);
}

async fn sizes_and_the_quota_are_kept(s: Server) {
    let api = Api::new(&s.base);
    let (alice, _) = api.login("mock:alice").await;
    let sign = |size: usize| {
        let api = api.clone();
        let alice = alice.clone();
        async move {
            start(
                &api,
                Some(&alice),
                json!({"name": "x.png", "size": size, "content_type": "image/png"}),
            )
            .await
        }
    };
    // Past files.max_bytes (16 KiB here).
    let big = sign(16385).await;
    assert_eq!(big.status, 413, "{}", big.text);
    assert_eq!(big.code(), "FILE_TOO_LARGE");
    let html = start(
        &api,
        Some(&alice),
        json!({"name": "x.svg", "size": 10, "content_type": "image/svg+xml"}),
    )
    .await;
    assert_eq!(html.status, 415, "{}", html.text);
    assert_eq!(html.code(), "FILE_TYPE_NOT_ALLOWED");

    // The form takes exactly the declared size: one byte more is refused by the store.
    let small = sign(PNG.len()).await;
    assert_eq!(small.status, 201, "{}", small.text);
    let mut longer = PNG.to_vec();
    longer.push(0);
    let (status, text) = post_form(&small.body["upload"], &longer).await;
    assert!((400..500).contains(&status), "{status}: {text}");
    let fid = small.body["file"]["id"].as_str().unwrap();
    assert!(!s.has_blob(&format!("up/{fid}")), "nothing stored");
    let r = api
        .call(
            "POST",
            &format!("/v1/files/{fid}/complete"),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(r.code(), "FILE_NOT_UPLOADED", "{}", r.text);
    // Giving the pending upload up gives its bytes back.
    let r = api
        .call("DELETE", &format!("/v1/files/{fid}"), Some(&alice), None)
        .await;
    assert_eq!(r.status, 204, "{}", r.text);

    // The quota (64 KiB here) counts what is signed for, before any byte arrives.
    let mut pending = Vec::new();
    for _ in 0..4 {
        let r = sign(16384).await;
        assert_eq!(r.status, 201, "{}", r.text);
        pending.push(r.body["file"]["id"].as_str().unwrap().to_string());
    }
    let over = sign(1).await;
    assert_eq!(over.status, 413, "{}", over.text);
    assert_eq!(over.code(), "QUOTA_EXCEEDED");
    // Another user's quota is their own.
    let (bob, _) = api.login("mock:bob").await;
    let theirs = start(
        &api,
        Some(&bob),
        json!({"name": "y.png", "size": 16384, "content_type": "image/png"}),
    )
    .await;
    assert_eq!(theirs.status, 201, "{}", theirs.text);
    // A delete makes room again.
    let r = api
        .call(
            "DELETE",
            &format!("/v1/files/{}", pending[0]),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    assert_eq!(sign(16384).await.status, 201);
}

async fn bytes_of_another_type_are_refused_and_removed(s: Server) {
    let api = Api::new(&s.base);
    let (alice, _) = api.login("mock:alice").await;
    let mut page = HTML.to_vec();
    page.resize(16384, b' ');
    let started = start(
        &api,
        Some(&alice),
        json!({"name": "cat.png", "size": page.len(), "content_type": "image/png"}),
    )
    .await;
    assert_eq!(started.status, 201, "{}", started.text);
    let fid = started.body["file"]["id"].as_str().unwrap().to_string();
    let (status, text) = post_form(&started.body["upload"], &page).await;
    assert!((200..300).contains(&status), "{status}: {text}");
    // The form writes a staging key; only a completion copies it to the file's own.
    assert!(s.has_blob(&format!("up/{fid}")));
    assert!(!s.has_blob(&format!("f/{fid}")));
    let r = api
        .call(
            "POST",
            &format!("/v1/files/{fid}/complete"),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(r.code(), "FILE_TYPE_MISMATCH");
    assert_eq!(r.body["error"]["details"]["sniffed"], "text/html");
    // Nothing is left: no file, no bytes, no URL, and its size is back in the quota.
    let got = api
        .call("GET", &format!("/v1/files/{fid}"), Some(&alice), None)
        .await;
    assert_eq!(got.status, 404, "{}", got.text);
    assert!(!s.has_blob(&format!("f/{fid}")), "the bytes are gone");
    assert!(!s.has_blob(&format!("up/{fid}")), "all of them");
    for _ in 0..4 {
        let r = start(
            &api,
            Some(&alice),
            json!({"name": "x.png", "size": 16384, "content_type": "image/png"}),
        )
        .await;
        assert_eq!(r.status, 201, "the whole quota is free again: {}", r.text);
    }
}

async fn a_delete_removes_the_bytes(s: Server) {
    let api = Api::new(&s.base);
    let (alice, _) = api.login("mock:alice").await;
    let done = upload(&api, &alice, "cat.png", "image/png", PNG, false).await;
    assert_eq!(done.status, 200, "{}", done.text);
    let fid = id(&done);
    let url = done.body["url"].as_str().unwrap().to_string();
    assert_eq!(fetch(&url).await.status(), 200);
    let r = api
        .call("DELETE", &format!("/v1/files/{fid}"), Some(&alice), None)
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    assert!(!s.has_blob(&format!("f/{fid}")));
    let r = fetch(&url).await;
    assert_eq!(r.status(), 404, "the old URL finds nothing");
    for (method, path) in [
        ("GET", format!("/v1/files/{fid}")),
        ("DELETE", format!("/v1/files/{fid}")),
        ("POST", format!("/v1/files/{fid}/complete")),
    ] {
        let r = api.call(method, &path, Some(&alice), None).await;
        assert_eq!(r.status, 404, "{method} {path}: {}", r.text);
    }
    let list = api.call("GET", "/v1/files", Some(&alice), None).await;
    assert_eq!(list.body["items"], json!([]), "{}", list.text);
    // On AWS, yq-schedule's minute also sweeps expired uploads (none are due here; the
    // sweep itself is the domain's unit test, on a manual clock).
    if let Some(face) = &s.lambda {
        let answers = face.fire_schedules().await.expect("the schedule runs");
        assert_eq!(answers[0]["files_swept"], 0, "{answers:?}");
    }
}

async fn what_a_browser_would_run_comes_as_an_attachment(s: Server) {
    let api = Api::new(&s.base);
    let (alice, _) = api.login("mock:alice").await;
    // HTML declared as text is not text.
    let r = upload(&api, &alice, "a.txt", "text/plain", HTML, false).await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(r.code(), "FILE_TYPE_MISMATCH");
    // HTML (allowed here) is served as an attachment of raw bytes, on every face.
    let page = upload(&api, &alice, "page.html", "text/html", HTML, true).await;
    assert_eq!(page.status, 200, "{}", page.text);
    assert_eq!(page.body["content_type"], "text/html");
    let r = fetch(page.body["url"].as_str().unwrap()).await;
    assert_eq!(r.status(), 200);
    let h = r.headers().clone();
    assert_eq!(h["content-type"], "application/octet-stream", "{h:?}");
    assert!(
        h["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment"),
        "{h:?}"
    );
    assert_eq!(r.bytes().await.unwrap().as_ref(), HTML);
    // Plain text is shown as text.
    let text = upload(&api, &alice, "a.txt", "text/plain", b"just text", false).await;
    assert_eq!(text.status, 200, "{}", text.text);
    let r = fetch(text.body["url"].as_str().unwrap()).await;
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    if s.lambda.is_none() {
        // This server's own downloads are never sniffed and run nothing.
        assert_eq!(r.headers()["x-content-type-options"], "nosniff");
        assert_eq!(r.headers()["content-security-policy"], "sandbox");
    }
}

/// A form stays valid until it expires and may be posted again; after `complete` that
/// reaches only the staging key, never the bytes of the ready file.
async fn a_form_posted_again_after_completion_changes_nothing(s: Server) {
    let api = Api::new(&s.base);
    let (alice, _) = api.login("mock:alice").await;
    let started = start(
        &api,
        Some(&alice),
        json!({"name": "cat.png", "size": PNG.len(), "content_type": "image/png", "public": true}),
    )
    .await;
    assert_eq!(started.status, 201, "{}", started.text);
    let fid = started.body["file"]["id"].as_str().unwrap().to_string();
    let form = &started.body["upload"];
    let (status, text) = post_form(form, PNG).await;
    assert!((200..300).contains(&status), "{status}: {text}");
    let path = format!("/v1/files/{fid}/complete");
    let done = api.call("POST", &path, Some(&alice), None).await;
    assert_eq!(done.status, 200, "{}", done.text);
    assert!(s.has_blob(&format!("f/{fid}")));
    assert!(
        !s.has_blob(&format!("up/{fid}")),
        "the staging object is gone"
    );

    // The same form, other bytes of the same size and declared type.
    let mut other = PNG.to_vec();
    other[19] = 2;
    let (status, text) = post_form(form, &other).await;
    assert!(
        (200..300).contains(&status),
        "the form is still valid: {status}: {text}"
    );
    let again = api.call("POST", &path, Some(&alice), None).await;
    assert_eq!(again.status, 200, "{}", again.text);
    assert_eq!(again.body["status"], "ready");
    for who in [Some(alice.as_str()), None] {
        let got = api
            .call("GET", &format!("/v1/files/{fid}"), who, None)
            .await;
        assert_eq!(got.status, 200, "{}", got.text);
        let r = fetch(got.body["url"].as_str().expect("a URL")).await;
        assert_eq!(r.status(), 200);
        assert_eq!(
            r.bytes().await.unwrap().as_ref(),
            PNG,
            "the bytes as completed"
        );
    }
}
