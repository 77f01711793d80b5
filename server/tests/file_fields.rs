//! Files in tables and profiles, on every face: a `file` field takes only a ready file
//! the writer may use (its own, or a public one), `expand` adds the file as the reader
//! may see it under `_expand`, and `PATCH /v1/auth/me {"avatar_file"}` makes one of the
//! user's public images their avatar.

mod common;

use common::{ADMIN_KEY, Answer, Api, Server};
use serde_json::{Value, json};

on_every_face!(
    a_file_field_takes_only_files_the_writer_may_use,
    a_cloud_function_writes_files_by_the_same_rule,
    expand_adds_each_file_as_its_reader_may_see_it,
    an_avatar_is_one_of_your_public_images,
);

const PNG: &[u8] =
    b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89";

/// Posts the form as `wx.uploadFile` does: the fields, then the file as the part `file`.
async fn post_form(upload: &Value, bytes: &[u8]) {
    let mut form = reqwest::multipart::Form::new();
    for (k, v) in upload["fields"].as_object().expect("fields") {
        form = form.text(k.clone(), v.as_str().expect("a text field").to_string());
    }
    let part = reqwest::multipart::Part::bytes(bytes.to_vec())
        .file_name("wxfile://tmp.png")
        .mime_str("application/octet-stream")
        .unwrap();
    let r = reqwest::Client::new()
        .post(upload["url"].as_str().expect("url"))
        .multipart(form.part("file", part))
        .send()
        .await
        .expect("POST the form");
    assert!(r.status().is_success(), "{}", r.status());
}

/// A PNG of `token`'s: signed, and unless `pending`, uploaded and completed. Its id.
async fn file(api: &Api, token: &str, content_type: &str, public: bool, pending: bool) -> String {
    typed(api, token, content_type, PNG, public, pending).await
}

/// A file of `token`'s with these bytes.
async fn typed(
    api: &Api,
    token: &str,
    content_type: &str,
    bytes: &[u8],
    public: bool,
    pending: bool,
) -> String {
    let started = api
        .call(
            "POST",
            "/v1/files",
            Some(token),
            Some(json!({"name": "a", "size": bytes.len(), "content_type": content_type, "public": public})),
        )
        .await;
    assert_eq!(started.status, 201, "{}", started.text);
    let id = started.body["file"]["id"].as_str().unwrap().to_string();
    if !pending {
        post_form(&started.body["upload"], bytes).await;
        let done = api
            .call(
                "POST",
                &format!("/v1/files/{id}/complete"),
                Some(token),
                None,
            )
            .await;
        assert_eq!(done.status, 200, "{}", done.text);
    }
    id
}

/// A table `posts` with a `file` field `photo`; anyone logged in adds posts, anyone
/// reads them.
async fn posts(api: &Api) {
    let r = api
        .call(
            "PUT",
            "/v1/tables/posts",
            Some(ADMIN_KEY),
            Some(json!({
                "fields": [{"name": "title", "type": "string"}, {"name": "photo", "type": "file"}],
                "acl": {"record": "rwd:r:r", "create": "users"}})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
}

async fn create(api: &Api, token: &str, data: Value) -> Answer {
    api.call("POST", "/v1/tables/posts/records", Some(token), Some(data))
        .await
}

fn refused(r: &Answer, file: &str) {
    assert_eq!(r.status, 400, "{file}: {}", r.text);
    assert_eq!(r.code(), "FILE_NOT_USABLE", "{file}");
    assert_eq!(r.body["error"]["details"]["field"], "photo", "{}", r.text);
}

async fn a_file_field_takes_only_files_the_writer_may_use(s: Server) {
    let api = Api::new(&s.base);
    posts(&api).await;
    let (alice, _) = api.login("mock:alice").await;
    let (bob, bob_user) = api.login("mock:bob").await;
    let private = file(&api, &alice, "image/png", false, false).await;
    let pending = file(&api, &alice, "image/png", true, true).await;
    let public = file(&api, &bob, "image/png", true, false).await;

    // Someone else's private file, a pending one, one that does not exist.
    refused(
        &create(&api, &bob, json!({"photo": private})).await,
        "private",
    );
    refused(
        &create(&api, &alice, json!({"photo": pending})).await,
        "pending",
    );
    let missing = "01KZZZZZZZZZZZZZZZZZZZZZZZ";
    refused(
        &create(&api, &alice, json!({"photo": missing})).await,
        "missing",
    );
    // Own and public files.
    let own = create(&api, &alice, json!({"photo": private})).await;
    assert_eq!(own.status, 201, "{}", own.text);
    assert_eq!(own.body["photo"], private.as_str());
    let theirs = create(&api, &alice, json!({"photo": public})).await;
    assert_eq!(theirs.status, 201, "{}", theirs.text);

    // A change, and a batch, are held to the same rule.
    let mine = create(&api, &bob, json!({"title": "b"})).await;
    let path = format!(
        "/v1/tables/posts/records/{}",
        mine.body["_id"].as_str().unwrap()
    );
    refused(
        &api.call("PATCH", &path, Some(&bob), Some(json!({"photo": private})))
            .await,
        "private, in a change",
    );
    let ok = api
        .call("PATCH", &path, Some(&bob), Some(json!({"photo": public})))
        .await;
    assert_eq!(ok.status, 200, "{}", ok.text);
    let batch = api
        .call(
            "POST",
            "/v1/batch",
            Some(&bob),
            Some(json!({"ops": [
                {"op": "create", "table": "posts", "data": {"photo": public}},
                {"op": "create", "table": "posts", "data": {"photo": private}}]})),
        )
        .await;
    assert_eq!(batch.status, 400, "{}", batch.text);
    assert_eq!(batch.code(), "FILE_NOT_USABLE");
    // Nothing of the refused batch was written: bob's posts are the one he changed.
    let q = api
        .call(
            "POST",
            "/v1/tables/posts/query",
            Some(&bob),
            Some(json!({})),
        )
        .await;
    assert_eq!(q.status, 200, "{}", q.text);
    let his = q.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["_owner"] == bob_user["id"])
        .count();
    assert_eq!(his, 1, "{}", q.text);

    // Once deleted, a file cannot be put in a record.
    let r = api
        .call("DELETE", &format!("/v1/files/{public}"), Some(&bob), None)
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    refused(
        &create(&api, &alice, json!({"photo": public})).await,
        "deleted",
    );
}

async fn expand_adds_each_file_as_its_reader_may_see_it(s: Server) {
    let api = Api::new(&s.base);
    posts(&api).await;
    let (alice, _) = api.login("mock:alice").await;
    let (bob, _) = api.login("mock:bob").await;
    let private = file(&api, &alice, "image/png", false, false).await;
    let rec = create(&api, &alice, json!({"title": "a", "photo": private})).await;
    assert_eq!(rec.status, 201, "{}", rec.text);
    let path = format!(
        "/v1/tables/posts/records/{}?expand=photo",
        rec.body["_id"].as_str().unwrap()
    );

    // Its owner gets the file, with a URL to its bytes.
    let got = api.call("GET", &path, Some(&alice), None).await;
    assert_eq!(got.status, 200, "{}", got.text);
    assert_eq!(got.body["photo"], private.as_str(), "the id stays");
    let info = &got.body["_expand"]["photo"];
    assert_eq!(info["id"], private.as_str());
    assert_eq!(info["status"], "ready");
    let r = reqwest::get(info["url"].as_str().expect("a URL"))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().await.unwrap().as_ref(), PNG);
    // Bob may read the record, not the file; anonymous callers may not read either.
    let got = api.call("GET", &path, Some(&bob), None).await;
    assert_eq!(got.status, 200, "{}", got.text);
    assert_eq!(got.body["_expand"], json!({"photo": null}));
    assert!(!got.text.contains("url"), "{}", got.text);

    // Queries too.
    let query = |token: String| {
        let api = api.clone();
        async move {
            let q = api
                .call(
                    "POST",
                    "/v1/tables/posts/query",
                    Some(&token),
                    Some(json!({"expand": ["photo"]})),
                )
                .await;
            assert_eq!(q.status, 200, "{}", q.text);
            q.body["items"][0]["_expand"]["photo"].clone()
        }
    };
    assert_eq!(query(alice.clone()).await["id"], private.as_str());
    assert_eq!(query(bob.clone()).await, Value::Null);
    // Once the file is gone, its owner gets null too.
    let r = api
        .call(
            "DELETE",
            &format!("/v1/files/{private}"),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    assert_eq!(query(alice.clone()).await, Value::Null);

    // Only ref and file fields expand.
    let bad = api
        .call(
            "GET",
            &path.replace("expand=photo", "expand=title"),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(bad.status, 400, "{}", bad.text);
    assert_eq!(bad.code(), "INVALID_QUERY");
}

async fn an_avatar_is_one_of_your_public_images(s: Server) {
    let api = Api::new(&s.base);
    let (alice, _) = api.login("mock:alice").await;
    let (bob, _) = api.login("mock:bob").await;
    let image = file(&api, &alice, "image/png", true, false).await;
    let me = |token: String, body: Value| {
        let api = api.clone();
        async move {
            api.call("PATCH", "/v1/auth/me", Some(&token), Some(body))
                .await
        }
    };

    let set = me(alice.clone(), json!({"avatar_file": image})).await;
    assert_eq!(set.status, 200, "{}", set.text);
    let url = format!("{}/v1/files/{image}/content", s.base);
    assert_eq!(set.body["avatar_url"], url.as_str());
    let got = api.call("GET", "/v1/auth/me", Some(&alice), None).await;
    assert_eq!(got.body["avatar_url"], url.as_str());
    // The URL serves the bytes, to anyone, through a redirect to a signed URL — once
    // this server has the content route (GET /v1/files/{id}/content).
    let doc = api.call("GET", "/v1/openapi.json", None, None).await;
    if doc.body["paths"].get("/v1/files/{id}/content").is_some() {
        let r = reqwest::get(&url).await.unwrap();
        assert_eq!(r.status(), 200, "{url}");
        assert_eq!(r.bytes().await.unwrap().as_ref(), PNG);
    }

    // Not an avatar: a private image, someone else's, a pending one, a text file, none.
    let private = file(&api, &alice, "image/png", false, false).await;
    let pending = file(&api, &alice, "image/png", true, true).await;
    let text = typed(&api, &alice, "text/plain", b"hello", true, false).await;
    for (who, id) in [
        (&alice, private.as_str()),
        (&bob, image.as_str()),
        (&alice, pending.as_str()),
        (&alice, text.as_str()),
        (&alice, "01KZZZZZZZZZZZZZZZZZZZZZZZ"),
    ] {
        let r = me(who.clone(), json!({"avatar_file": id})).await;
        assert_eq!(r.status, 400, "{id}: {}", r.text);
        assert_eq!(r.code(), "FILE_NOT_USABLE", "{id}");
        assert_eq!(r.body["error"]["details"]["field"], "avatar_file");
    }
    let both = me(
        alice.clone(),
        json!({"avatar_file": image, "avatar_url": "https://x.example/a.png"}),
    )
    .await;
    assert_eq!(both.status, 400, "{}", both.text);
    let got = api.call("GET", "/v1/auth/me", Some(&alice), None).await;
    assert_eq!(
        got.body["avatar_url"],
        url.as_str(),
        "nothing refused changed it"
    );

    // avatar_url is still set directly; null clears it.
    let direct = me(
        alice.clone(),
        json!({"avatar_url": "https://x.example/a.png"}),
    )
    .await;
    assert_eq!(direct.status, 200, "{}", direct.text);
    assert_eq!(direct.body["avatar_url"], "https://x.example/a.png");
    let cleared = me(alice.clone(), json!({"avatar_file": null})).await;
    assert_eq!(cleared.status, 200, "{}", cleared.text);
    assert_eq!(cleared.body["avatar_url"], Value::Null);
    // The old avatar's file is kept: it is the user's to delete.
    let kept = api
        .call("GET", &format!("/v1/files/{image}"), None, None)
        .await;
    assert_eq!(kept.status, 200, "{}", kept.text);
}

const POSTS_MODULE: &str = r#"
import { db } from "yunqiao";
export async function attach(photo) { return db.table("posts").create({ photo }) }
export async function show(id) { return db.table("posts").get(id, { expand: ["photo"] }) }
export async function cover(e) { return { ...e.data, photo: e.data.from } }
"#;

/// Cloud functions' `db.*` write and read with the caller's rights, and what a hook
/// answers is written as the caller's: the same rules.
async fn a_cloud_function_writes_files_by_the_same_rule(s: Server) {
    let api = Api::new(&s.base);
    posts(&api).await;
    let r = api
        .call(
            "PUT",
            "/v1/functions/posts",
            Some(ADMIN_KEY),
            Some(json!({ "source": POSTS_MODULE })),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let (alice, _) = api.login("mock:alice").await;
    let (bob, _) = api.login("mock:bob").await;
    let private = file(&api, &alice, "image/png", false, false).await;
    let call = |token: String, export: &'static str, arg: String| {
        let api = api.clone();
        async move {
            api.call(
                "POST",
                &format!("/v1/fn/posts/{export}"),
                Some(&token),
                Some(json!({ "args": [arg] })),
            )
            .await
        }
    };
    let r = call(bob.clone(), "attach", private.clone()).await;
    assert_eq!((r.status, r.code()), (400, "FILE_NOT_USABLE"), "{}", r.text);
    let r = call(alice.clone(), "attach", private.clone()).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let id = r.body["result"]["_id"].as_str().unwrap().to_string();
    let r = call(alice.clone(), "show", id.clone()).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["result"]["_expand"]["photo"]["id"], private.as_str());
    let r = call(bob.clone(), "show", id).await;
    assert_eq!(
        r.body["result"]["_expand"],
        json!({"photo": null}),
        "{}",
        r.text
    );

    // A before-hook that puts a file in the record: checked as the writer's.
    let r = api
        .call(
            "PUT",
            "/v1/tables/covers",
            Some(ADMIN_KEY),
            Some(json!({
                "fields": [{"name": "from", "type": "string"}, {"name": "photo", "type": "file"}],
                "acl": {"record": "rwd:r:r", "create": "users"},
                "hooks": {"before_create": "posts.cover"}})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let cover = |token: String| {
        let api = api.clone();
        let private = private.clone();
        async move {
            api.call(
                "POST",
                "/v1/tables/covers/records",
                Some(&token),
                Some(json!({ "from": private })),
            )
            .await
        }
    };
    let r = cover(bob.clone()).await;
    assert_eq!((r.status, r.code()), (400, "FILE_NOT_USABLE"), "{}", r.text);
    let r = cover(alice.clone()).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["photo"], private.as_str());
}
