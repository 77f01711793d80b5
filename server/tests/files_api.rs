//! The files API on every face: a signed form from `POST /v1/files`, the bytes posted
//! to the blob store exactly as `wx.uploadFile` posts them (the disk store's
//! `/v1/blobs` on `yunqiao serve`, S3 — s3s-fs checking every signature — on the Lambda
//! face), `complete`, and URLs only for those who may read. Expiry of pending uploads is
//! the domain's unit test (a manual clock), not waited for here.

mod common;

use common::{ADMIN_KEY, Answer, Api, Server};
use serde_json::{Value, json};

/// Small limits, HTML allowed (so that what a browser would run can be uploaded and its
/// URL checked), and three thumbnail sizes.
const FILES_ENV: &[(&str, &str)] = &[
    ("YUNQIAO_FILES_MAX_BYTES", "16384"),
    ("YUNQIAO_FILES_QUOTA_BYTES", "65536"),
    (
        "YUNQIAO_FILES_ALLOWED_TYPES",
        "image/png,image/jpeg,image/gif,text/plain,text/html",
    ),
    ("YUNQIAO_FILES_THUMB_SIZES", "100x100, 0x50,64x64f"),
];

on_every_face!(env = super::FILES_ENV;
    an_upload_is_read_back_by_its_readers_only,
    a_public_file_is_read_by_anyone,
    owners_list_their_own_files,
    sizes_and_the_quota_are_kept,
    bytes_of_another_type_are_refused_and_removed,
    a_delete_removes_the_bytes,
    what_a_browser_would_run_comes_as_an_attachment,
    thumbnails_come_in_the_asked_size_and_format,
    the_content_route_redirects_to_the_bytes_for_readers_only,
    thumbnails_only_of_configured_sizes_and_images,
    bombs_are_refused_while_other_requests_are_answered,
    thumbnails_go_with_their_file,
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

// ------------------------------------------------------------------ thumbnails

/// A `width` x `height` PNG: red on the left half, blue on the right.
fn halves_png(width: u32, height: u32) -> Vec<u8> {
    let img = image::RgbImage::from_fn(width, height, |x, _| {
        if x < width / 2 {
            image::Rgb([230, 20, 20])
        } else {
            image::Rgb([20, 20, 230])
        }
    });
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

/// A JPEG of a gradient, cut after `keep` of its bytes.
fn truncated_jpeg(keep: f64) -> Vec<u8> {
    let img = image::RgbImage::from_fn(160, 120, |x, y| image::Rgb([x as u8, y as u8, 128]));
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Jpeg).unwrap();
    let mut v = out.into_inner();
    v.truncate((v.len() as f64 * keep) as usize);
    v
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// A 65-byte PNG whose header claims `width` x `height` (a decompression bomb's header:
/// decoding it would take width x height x 3 bytes).
fn png_claiming(width: u32, height: u32) -> Vec<u8> {
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut chunk = |kind: &[u8; 4], data: &[u8]| {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let mut body = kind.to_vec();
        body.extend_from_slice(data);
        out.extend_from_slice(&body);
        out.extend_from_slice(&crc32(&body).to_be_bytes());
    };
    let mut ihdr = width.to_be_bytes().to_vec();
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    chunk(b"IHDR", &ihdr);
    chunk(b"IDAT", &[0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01]);
    chunk(b"IEND", &[]);
    out
}

/// A GIF whose screen and one frame claim 65535x65535.
fn gif_claiming() -> Vec<u8> {
    let mut out = b"GIF89a".to_vec();
    out.extend_from_slice(&[0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0]);
    out.extend_from_slice(&[0x2C, 0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0]);
    out.extend_from_slice(&[2, 2, 0x4C, 0x01, 0, 0x3B]);
    out
}

/// `GET path` as `token` with `Accept: accept`, redirects not followed.
async fn get_as(api: &Api, path: &str, token: Option<&str>, accept: Option<&str>) -> Answer {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut req = client.get(format!("{}{path}", api.base));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(a) = accept {
        req = req.header("accept", a);
    }
    Answer::from(req.send().await.expect("request")).await
}

/// The image at `url`: its content type and the decoded image.
async fn fetch_image(url: &str) -> (String, image::DynamicImage) {
    let r = fetch(url).await;
    assert_eq!(r.status(), 200, "{url}");
    let ct = r.headers()["content-type"].to_str().unwrap().to_string();
    let bytes = r.bytes().await.unwrap();
    let img = image::load_from_memory(&bytes).expect("the thumbnail decodes");
    (ct, img)
}

fn rgb_at(img: &image::DynamicImage, x: u32, y: u32) -> [u8; 3] {
    let p = img.to_rgb8().get_pixel(x, y).0;
    [p[0], p[1], p[2]]
}

fn reddish(p: [u8; 3]) -> bool {
    p[0] > 150 && p[2] < 100
}

fn bluish(p: [u8; 3]) -> bool {
    p[2] > 150 && p[0] < 100
}

async fn thumbnails_come_in_the_asked_size_and_format(s: Server) {
    let api = Api::new(&s.base);
    let (alice, _) = api.login("mock:alice").await;
    let png = halves_png(300, 200);
    let done = upload(&api, &alice, "halves.png", "image/png", &png, false).await;
    assert_eq!(done.status, 200, "{}", done.text);
    let fid = id(&done);

    // WebP for a client that shows it: a 100x100 centre crop, red left, blue right.
    let chrome = "image/avif,image/webp,image/apng,image/*,*/*;q=0.8";
    let path = format!("/v1/files/{fid}?thumb=100x100");
    let t = get_as(&api, &path, Some(&alice), Some(chrome)).await;
    assert_eq!(t.status, 200, "{}", t.text);
    assert_eq!(t.body["thumb"], "100x100");
    assert_eq!(t.body["id"], fid.as_str());
    assert_eq!(t.body["size"], png.len(), "the file's own fields");
    assert_eq!(t.headers["vary"], "accept");
    let url = t.body["url"].as_str().expect("a URL").to_string();
    assert_ne!(Some(url.as_str()), done.body["url"].as_str());
    let (ct, img) = fetch_image(&url).await;
    assert_eq!(ct, "image/webp");
    assert_eq!((img.width(), img.height()), (100, 100));
    assert!(reddish(rgb_at(&img, 10, 50)) && bluish(rgb_at(&img, 90, 50)));
    assert!(
        s.has_blob(&format!("t/{fid}/100x100.webp")),
        "kept under its key"
    );
    // Asked again: the same thumbnail.
    let again = get_as(&api, &path, Some(&alice), Some("image/webp")).await;
    let first = fetch(&url).await.bytes().await.unwrap();
    let second = fetch(again.body["url"].as_str().unwrap())
        .await
        .bytes()
        .await
        .unwrap();
    assert_eq!(first, second);

    // Without WebP in Accept, a PNG of a PNG; keeping the ratio: 75x50.
    let t = get_as(
        &api,
        &format!("/v1/files/{fid}?thumb=0x50"),
        Some(&alice),
        None,
    )
    .await;
    assert_eq!(t.status, 200, "{}", t.text);
    let (ct, img) = fetch_image(t.body["url"].as_str().unwrap()).await;
    assert_eq!(
        (ct.as_str(), img.width(), img.height()),
        ("image/png", 75, 50)
    );
    // format= wins over Accept; fit inside 64x64: 64x43.
    let t = get_as(
        &api,
        &format!("/v1/files/{fid}?thumb=64x64f&format=jpeg"),
        Some(&alice),
        Some("image/webp"),
    )
    .await;
    assert_eq!(t.status, 200, "{}", t.text);
    assert_eq!(t.body["thumb"], "64x64f");
    let (ct, img) = fetch_image(t.body["url"].as_str().unwrap()).await;
    assert_eq!(
        (ct.as_str(), img.width(), img.height()),
        ("image/jpeg", 64, 43)
    );
    // The file itself is unchanged, with no `thumb`.
    let plain = api
        .call("GET", &format!("/v1/files/{fid}"), Some(&alice), None)
        .await;
    assert!(plain.body.get("thumb").is_none(), "{}", plain.text);
    assert_eq!(
        fetch(plain.body["url"].as_str().unwrap())
            .await
            .bytes()
            .await
            .unwrap()
            .as_ref(),
        png.as_slice()
    );
}

/// `Cache-Control`'s `max-age`.
fn max_age(a: &Answer) -> u64 {
    let cc = a.headers["cache-control"].to_str().unwrap();
    cc.split(',')
        .find_map(|p| p.trim().strip_prefix("max-age="))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no max-age in {cc:?}"))
}

async fn the_content_route_redirects_to_the_bytes_for_readers_only(s: Server) {
    let api = Api::new(&s.base);
    let (alice, _) = api.login("mock:alice").await;
    let (bob, _) = api.login("mock:bob").await;
    let png = halves_png(120, 80);

    // A private file: its owner is redirected to its bytes; nobody else finds it.
    let private = upload(&api, &alice, "p.png", "image/png", &png, false).await;
    assert_eq!(private.status, 200, "{}", private.text);
    let path = format!("/v1/files/{}/content", id(&private));
    let r = get_as(&api, &path, Some(&alice), None).await;
    assert_eq!(r.status, 302, "{}", r.text);
    let cc = r.headers["cache-control"].to_str().unwrap().to_string();
    assert!(cc.starts_with("private"), "{cc}");
    assert!(
        max_age(&r) > 0 && max_age(&r) < 600,
        "shorter than the URL's 600 s: {cc}"
    );
    assert_eq!(r.headers["vary"], "accept");
    let location = r.headers["location"].to_str().unwrap().to_string();
    let bytes = fetch(&location).await.bytes().await.unwrap();
    assert_eq!(bytes.as_ref(), png.as_slice());
    for token in [Some(bob.as_str()), None] {
        let r = get_as(&api, &path, token, None).await;
        assert_eq!(
            (r.status, r.code()),
            (404, "NOT_FOUND"),
            "{token:?}: {}",
            r.text
        );
        assert!(r.headers.get("location").is_none());
    }
    let r = get_as(&api, &format!("{path}?thumb=100x100"), Some(&bob), None).await;
    assert_eq!(r.status, 404, "{}", r.text);

    // A public file: no token needed, e.g. in <image src>; its thumbnails too.
    let public = upload(&api, &alice, "q.png", "image/png", &png, true).await;
    let path = format!("/v1/files/{}/content", id(&public));
    let r = get_as(&api, &path, None, None).await;
    assert_eq!(r.status, 302, "{}", r.text);
    assert!(
        r.headers["cache-control"]
            .to_str()
            .unwrap()
            .starts_with("public"),
        "{:?}",
        r.headers
    );
    assert_eq!(max_age(&r), 3600, "an hour (the URL works seven days)");
    let bytes = fetch(r.headers["location"].to_str().unwrap())
        .await
        .bytes()
        .await
        .unwrap();
    assert_eq!(bytes.as_ref(), png.as_slice());
    let r = get_as(
        &api,
        &format!("{path}?thumb=100x100"),
        None,
        Some("image/webp"),
    )
    .await;
    assert_eq!(r.status, 302, "{}", r.text);
    assert_eq!(r.headers["vary"], "accept");
    let (ct, img) = fetch_image(r.headers["location"].to_str().unwrap()).await;
    assert_eq!(
        (ct.as_str(), img.width(), img.height()),
        ("image/webp", 100, 100)
    );
    // A forged token is refused, not taken for nobody.
    let r = get_as(&api, &path, Some("forged-token"), None).await;
    assert_eq!(r.status, 401, "{}", r.text);
    // A pending file has no content yet.
    let started = start(
        &api,
        Some(&alice),
        json!({"name": "x.png", "size": png.len(), "content_type": "image/png"}),
    )
    .await;
    let fid = started.body["file"]["id"].as_str().unwrap();
    let r = get_as(
        &api,
        &format!("/v1/files/{fid}/content"),
        Some(&alice),
        None,
    )
    .await;
    assert_eq!(
        (r.status, r.code()),
        (409, "FILE_NOT_UPLOADED"),
        "{}",
        r.text
    );
}

async fn thumbnails_only_of_configured_sizes_and_images(s: Server) {
    let api = Api::new(&s.base);
    let (alice, _) = api.login("mock:alice").await;
    let png = halves_png(60, 40);
    let done = upload(&api, &alice, "a.png", "image/png", &png, true).await;
    let fid = id(&done);
    for size in [
        "200x200",
        "100x100t",
        "100",
        "0x0",
        "100x100%00",
        "9999999x1",
    ] {
        for route in ["", "/content"] {
            let r = get_as(
                &api,
                &format!("/v1/files/{fid}{route}?thumb={size}"),
                Some(&alice),
                None,
            )
            .await;
            assert_eq!(r.status, 400, "{size}: {}", r.text);
            assert_eq!(r.code(), "THUMB_SIZE_NOT_ALLOWED", "{size}");
            assert_eq!(
                r.body["error"]["details"]["allowed"],
                json!(["100x100", "0x50", "64x64f"])
            );
        }
    }
    for query in ["thumb=100x100&format=gif", "format=webp"] {
        let r = get_as(&api, &format!("/v1/files/{fid}?{query}"), None, None).await;
        assert_eq!(r.status, 400, "{query}: {}", r.text);
        assert_eq!(r.code(), "INVALID_ARGUMENT", "{query}");
        assert_eq!(r.body["error"]["details"]["field"], "format");
    }
    // Not an image.
    let text = upload(&api, &alice, "a.txt", "text/plain", b"hello\n", true).await;
    let r = get_as(
        &api,
        &format!("/v1/files/{}?thumb=100x100", id(&text)),
        None,
        None,
    )
    .await;
    assert_eq!((r.status, r.code()), (400, "IMAGE_INVALID"), "{}", r.text);
    // No such file.
    let r = get_as(
        &api,
        "/v1/files/01hx0000000000000000000000?thumb=100x100",
        None,
        None,
    )
    .await;
    assert_eq!(r.status, 404, "{}", r.text);
}

async fn bombs_are_refused_while_other_requests_are_answered(s: Server) {
    let api = Api::new(&s.base);
    let (alice, _) = api.login("mock:alice").await;
    // Each passes the upload's type check (its first bytes are the type's) and is
    // refused when a thumbnail is asked for.
    let cases: [(&str, &str, Vec<u8>, u16, &str); 4] = [
        (
            "huge.png",
            "image/png",
            png_claiming(60_000, 60_000),
            413,
            "IMAGE_TOO_LARGE",
        ),
        // Within 16384 a side, but 256 megapixels (768 MB decoded).
        (
            "bomb.png",
            "image/png",
            png_claiming(16_000, 16_000),
            413,
            "IMAGE_TOO_LARGE",
        ),
        (
            "bomb.gif",
            "image/gif",
            gif_claiming(),
            413,
            "IMAGE_TOO_LARGE",
        ),
        (
            "cut.jpg",
            "image/jpeg",
            truncated_jpeg(0.6),
            400,
            "IMAGE_INVALID",
        ),
    ];
    let mut ids = Vec::new();
    for (name, ct, bytes, status, code) in &cases {
        let done = upload(&api, &alice, name, ct, bytes, true).await;
        assert_eq!(done.status, 200, "{name}: {}", done.text);
        let fid = id(&done);
        for route in ["", "/content"] {
            let r = get_as(
                &api,
                &format!("/v1/files/{fid}{route}?thumb=100x100"),
                None,
                Some("image/webp"),
            )
            .await;
            assert_eq!((r.status, r.code()), (*status, *code), "{name}: {}", r.text);
        }
        assert!(
            !s.has_blob(&format!("t/{fid}/100x100.webp")),
            "{name}: nothing kept"
        );
        ids.push((fid, *status, *code));
    }
    let ok = upload(
        &api,
        &alice,
        "ok.png",
        "image/png",
        &halves_png(90, 60),
        true,
    )
    .await;
    let ok_id = id(&ok);

    // Many bombs at once, beside ordinary requests: each gets its own answer.
    let mut tasks = Vec::new();
    for round in 0..4 {
        for (fid, status, code) in &ids {
            let (api, fid, code) = (api.clone(), fid.clone(), code.to_string());
            let status = *status;
            tasks.push(tokio::spawn(async move {
                let r = get_as(&api, &format!("/v1/files/{fid}?thumb=0x50"), None, None).await;
                assert_eq!((r.status, r.code()), (status, code.as_str()), "{}", r.text);
            }));
        }
        let (api, ok_id) = (api.clone(), ok_id.clone());
        tasks.push(tokio::spawn(async move {
            let r = get_as(&api, &format!("/v1/files/{ok_id}"), None, None).await;
            assert_eq!(r.status, 200, "{}", r.text);
            let r = get_as(&api, "/v1/health", None, None).await;
            assert_eq!(r.status, 200, "{}", r.text);
            if round % 2 == 0 {
                let r = get_as(&api, &format!("/v1/files/{ok_id}?thumb=0x50"), None, None).await;
                assert_eq!(r.status, 200, "{}", r.text);
            }
        }));
    }
    for t in tasks {
        t.await.expect("answered as expected");
    }
}

async fn thumbnails_go_with_their_file(s: Server) {
    let api = Api::new(&s.base);
    let (alice, _) = api.login("mock:alice").await;
    let done = upload(
        &api,
        &alice,
        "a.png",
        "image/png",
        &halves_png(90, 60),
        false,
    )
    .await;
    let fid = id(&done);
    let mut urls = Vec::new();
    for (size, accept, ext) in [
        ("100x100", Some("image/webp"), "webp"),
        ("100x100", None, "png"),
        ("0x50", None, "png"),
    ] {
        let r = get_as(
            &api,
            &format!("/v1/files/{fid}?thumb={size}"),
            Some(&alice),
            accept,
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.text);
        let url = r.body["url"].as_str().unwrap().to_string();
        assert_eq!(fetch(&url).await.status(), 200);
        assert!(s.has_blob(&format!("t/{fid}/{size}.{ext}")));
        urls.push((url, format!("t/{fid}/{size}.{ext}")));
    }
    let r = api
        .call("DELETE", &format!("/v1/files/{fid}"), Some(&alice), None)
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    for (url, key) in urls {
        assert!(!s.has_blob(&key), "{key} is gone");
        assert_eq!(fetch(&url).await.status(), 404, "its URL finds nothing");
    }
    let r = get_as(
        &api,
        &format!("/v1/files/{fid}?thumb=100x100"),
        Some(&alice),
        None,
    )
    .await;
    assert_eq!(r.status, 404, "{}", r.text);
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
