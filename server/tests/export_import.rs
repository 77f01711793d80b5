//! Export and import (docs/export-format.md): an app seeded through the API on the
//! embedded store moves to the AWS face (DynamoDB on moto, S3 on s3s-fs) with
//! `yunqiao export` / `yunqiao import`, and back through `GET /v1/admin/export` and
//! `yunqiao import` into a fresh embedded store; everything the app's clients see is the
//! same at each stop. Importing twice changes nothing; an archive of another format
//! version, or one with any refused line, writes nothing (on every face).

mod common;

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use common::{ADMIN_KEY, Api, Server};
use serde_json::{Value, json};

const PNG: &[u8] =
    b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89";

const GREET: &str = r#"export function hi(name) { return "你好, " + name; }"#;

on_every_face!(
    a_wrong_version_or_a_refused_line_writes_nothing,
    import_is_for_admins_and_a_dry_run_writes_nothing,
);

/// Runs the `yunqiao` binary in `dir` with `env`; its status, stdout and stderr.
async fn yunqiao(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> (bool, String, String) {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_yunqiao"));
    cmd.args(args)
        .current_dir(dir)
        .env_remove("YUNQIAO_CONFIG")
        .env_remove("YUNQIAO_STORE")
        .env_remove("YUNQIAO_FILES")
        .env("YUNQIAO_LOG", "warn");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().await.expect("run yunqiao");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The settings that put `yunqiao export` / `import` on the Lambda face's own DynamoDB
/// table and S3 bucket.
fn aws_env(s: &Server) -> Vec<(&'static str, String)> {
    let face = s.lambda.as_ref().expect("the Lambda face");
    vec![
        ("YUNQIAO_STORE", "dynamodb".into()),
        ("YUNQIAO_DYNAMODB_ENDPOINT", face.dynamodb_endpoint.clone()),
        ("YUNQIAO_DYNAMODB_TABLE", face.table.clone()),
        ("AWS_REGION", "us-east-1".into()),
        ("YUNQIAO_FILES", "s3".into()),
        ("YUNQIAO_BUCKET", face.s3.bucket.clone()),
        ("YUNQIAO_S3_ENDPOINT", face.s3.endpoint.clone()),
        ("YUNQIAO_S3_PATH_STYLE", "true".into()),
        ("YUNQIAO_S3_REGION", "us-east-1".into()),
        ("AWS_ACCESS_KEY_ID", "testing".into()),
        ("AWS_SECRET_ACCESS_KEY", "testing".into()),
        ("AWS_EC2_METADATA_DISABLED", "true".into()),
    ]
}

fn pairs<'a>(v: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    v.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

/// An archive's entries: names and contents.
type Entries<'a> = Vec<(&'a str, Vec<u8>)>;

/// A gzip'd tar of these entries, in this order.
fn pack(entries: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut tar = tar::Builder::new(gz);
    for (name, bytes) in entries {
        let mut h = tar::Header::new_ustar();
        h.set_size(bytes.len() as u64);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        tar.append_data(&mut h, name, &bytes[..]).unwrap();
    }
    tar.into_inner().unwrap().finish().unwrap()
}

/// The entries of an archive, by name.
fn unpack(archive: &[u8]) -> BTreeMap<String, Vec<u8>> {
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(archive));
    let mut out = BTreeMap::new();
    for e in tar.entries().unwrap() {
        let mut e = e.unwrap();
        let name = e.path().unwrap().to_str().unwrap().to_string();
        let mut b = Vec::new();
        e.read_to_end(&mut b).unwrap();
        out.insert(name, b);
    }
    out
}

fn manifest(version: i64) -> Vec<u8> {
    serde_json::to_vec(&json!({"format": "yunqiao-export", "version": version})).unwrap()
}

async fn post_archive(
    api: &Api,
    token: Option<&str>,
    query: &str,
    body: Vec<u8>,
) -> common::Answer {
    let mut req = api
        .http
        .post(format!("{}/v1/admin/import{query}", api.base))
        .header("content-type", "application/gzip")
        .body(body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    common::Answer::from(req.send().await.unwrap()).await
}

async fn get_archive(api: &Api) -> Vec<u8> {
    let r = api
        .http
        .get(format!("{}/v1/admin/export", api.base))
        .bearer_auth(ADMIN_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/gzip");
    r.bytes().await.unwrap().to_vec()
}

/// What was seeded: the users' openids and ids, and the file.
struct Seeded {
    alice_openid: String,
    alice: String,
    bob_openid: String,
    bob: String,
    file: String,
    a_slug: String,
}

async fn ok(api: &Api, method: &str, path: &str, token: &str, body: Value) -> Value {
    let r = api.call(method, path, Some(token), Some(body)).await;
    assert!(
        (200..300).contains(&r.status),
        "{method} {path}: {}",
        r.text
    );
    r.body
}

/// An app with a bit of everything, seeded through the API.
async fn seed(s: &Server) -> Seeded {
    let api = Api::new(&s.base);
    ok(
        &api,
        "PUT",
        "/v1/functions/greet",
        ADMIN_KEY,
        json!({"source": GREET, "access": "anyone"}),
    )
    .await;
    ok(
        &api,
        "PUT",
        "/v1/tables/notes",
        ADMIN_KEY,
        json!({
            "fields": [
                {"name": "title", "type": "string", "required": true},
                {"name": "slug", "type": "string", "unique": true},
                {"name": "score", "type": "integer", "index": true},
                {"name": "tag", "type": "string", "index": true},
                {"name": "pic", "type": "file"},
                {"name": "meta", "type": "json"}
            ],
            "acl": {"record": "rwd:-:-", "create": "users"}
        }),
    )
    .await;
    ok(
        &api,
        "PUT",
        "/v1/kv/settings",
        ADMIN_KEY,
        json!({"read": "users", "write": "admins"}),
    )
    .await;
    ok(
        &api,
        "PUT",
        "/v1/kv/prefs",
        ADMIN_KEY,
        json!({"scope": "user"}),
    )
    .await;
    ok(
        &api,
        "PUT",
        "/v1/topics/rules/room.*",
        ADMIN_KEY,
        json!({"subscribe": "users", "publish": "group:hosts"}),
    )
    .await;

    let (alice_t, alice) = api.login("mock:alice").await;
    let (bob_t, bob) = api.login("mock:bob").await;
    api.set_groups(&alice, &["editors", "hosts"]).await;
    let alice_openid = {
        // The openid is the mock's; read it back as the admin would export it.
        let r = get_archive(&api).await;
        let users = String::from_utf8(unpack(&r)["users.ndjson"].clone()).unwrap();
        let find = |id: &Value| {
            users
                .lines()
                .map(|l| serde_json::from_str::<Value>(l).unwrap())
                .find(|u| &u["id"] == id)
                .unwrap()["openid"]
                .as_str()
                .unwrap()
                .to_string()
        };
        (find(&alice["id"]), find(&bob["id"]))
    };

    // A file of alice's, and a note pointing at it.
    let started = ok(
        &api,
        "POST",
        "/v1/files",
        &alice_t,
        json!({"name": "照片.png", "size": PNG.len(), "content_type": "image/png"}),
    )
    .await;
    let upload = &started["upload"];
    let mut form = reqwest::multipart::Form::new();
    for (k, v) in upload["fields"].as_object().unwrap() {
        form = form.text(k.clone(), v.as_str().unwrap().to_string());
    }
    form = form.part(
        "file",
        reqwest::multipart::Part::bytes(PNG.to_vec()).file_name("x.png"),
    );
    let posted = reqwest::Client::new()
        .post(upload["url"].as_str().unwrap())
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert!(posted.status().is_success());
    let file = started["file"]["id"].as_str().unwrap().to_string();
    ok(
        &api,
        "POST",
        &format!("/v1/files/{file}/complete"),
        &alice_t,
        json!({}),
    )
    .await;

    for i in 0..12 {
        let mut rec = json!({
            "title": format!("笔记 {i} — ünïcödé 👋"),
            "slug": format!("a-{i}"),
            "score": (i * 7) % 10,
            "tag": if i % 3 == 0 { "red" } else { "blue" },
            "meta": {"n": i, "list": [1, "二", null]},
        });
        if i == 0 {
            rec["pic"] = json!(file);
        }
        ok(&api, "POST", "/v1/tables/notes/records", &alice_t, rec).await;
    }
    for i in 0..3 {
        ok(
            &api,
            "POST",
            "/v1/tables/notes/records",
            &bob_t,
            json!({"title": format!("bob {i}"), "slug": format!("b-{i}"), "score": i, "tag": "red"}),
        )
        .await;
    }
    ok(
        &api,
        "PUT",
        "/v1/kv/settings/theme",
        ADMIN_KEY,
        json!({"value": {"dark": true, "名": "云桥"}}),
    )
    .await;
    ok(
        &api,
        "PUT",
        "/v1/kv/prefs/lang",
        &alice_t,
        json!({"value": "zh-CN"}),
    )
    .await;
    ok(
        &api,
        "PUT",
        "/v1/kv/prefs/lang",
        &bob_t,
        json!({"value": "en"}),
    )
    .await;
    Seeded {
        alice_openid: alice_openid.0,
        alice: alice["id"].as_str().unwrap().to_string(),
        bob_openid: alice_openid.1,
        bob: bob["id"].as_str().unwrap().to_string(),
        file,
        a_slug: "a-3".into(),
    }
}

/// Every page of a query as `token`.
async fn all_pages(api: &Api, token: &str, table: &str, q: Value) -> Vec<Value> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut body = q.clone();
        if let Some(c) = &cursor {
            body["cursor"] = json!(c);
        }
        let r = ok(
            api,
            "POST",
            &format!("/v1/tables/{table}/query"),
            token,
            body,
        )
        .await;
        out.extend(r["items"].as_array().unwrap().iter().cloned());
        match r["cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => return out,
        }
    }
}

/// Everything an admin sees of the app (times of deployment aside).
async fn snapshot(s: &Server, seeded: &Seeded) -> Value {
    let api = Api::new(&s.base);
    let get = |p: String| {
        let api = api.clone();
        async move {
            let r = api.call("GET", &p, Some(ADMIN_KEY), None).await;
            assert_eq!(r.status, 200, "GET {p}: {}", r.text);
            r.body
        }
    };
    let mut functions = get("/v1/functions".into()).await;
    for f in functions["items"].as_array_mut().into_iter().flatten() {
        f.as_object_mut().unwrap().remove("deployed_at");
    }
    let mut greet = get("/v1/functions/greet".into()).await;
    greet.as_object_mut().unwrap().remove("deployed_at");
    json!({
        "tables": get("/v1/tables".into()).await,
        "notes": all_pages(&api, ADMIN_KEY, "notes", json!({"order": [["_id", "asc"]], "limit": 20})).await,
        "users": get("/v1/admin/users?limit=100".into()).await,
        "settings": get("/v1/kv/settings".into()).await["items"],
        "alice_prefs": get(format!("/v1/kv/prefs?user={}", seeded.alice)).await["items"],
        "bob_prefs": get(format!("/v1/kv/prefs?user={}", seeded.bob)).await["items"],
        "topics": get("/v1/topics/rules".into()).await,
        "functions": functions,
        "greet": greet,
        "file": get(format!("/v1/files/{}", seeded.file)).await["name"],
    })
}

/// What the app's users get: logged in through the WeChat mock by their openids, their
/// own records by a filtered, ordered query paged by cursor, counts, their file, a
/// function, and the unique guard.
async fn answers(s: &Server, seeded: &Seeded) -> Value {
    let api = Api::new(&s.base);
    let (alice_t, alice) = s.login_as(&seeded.alice_openid).await;
    assert_eq!(alice["id"], json!(seeded.alice), "alice is the same user");
    assert_eq!(alice["groups"], json!(["editors", "hosts"]));
    let (bob_t, bob) = s.login_as(&seeded.bob_openid).await;
    assert_eq!(bob["id"], json!(seeded.bob), "bob is the same user");
    let q = json!({"where": [["score", "gte", 3]], "order": [["score", "desc"]], "limit": 4});
    let alice_page: Vec<Value> = all_pages(&api, &alice_t, "notes", q.clone())
        .await
        .iter()
        .map(|r| json!([r["_id"], r["score"], r["title"], r["_owner"]]))
        .collect();
    assert!(alice_page.len() > 4, "more than one page");
    assert!(
        alice_page.iter().all(|r| r[3] == json!(seeded.alice)),
        "her own only"
    );
    let bob_all = all_pages(&api, &bob_t, "notes", json!({"order": [["_id", "asc"]]})).await;
    assert_eq!(bob_all.len(), 3, "bob sees his 3");
    let count = |token: String, tag: &'static str| {
        let api = api.clone();
        async move {
            ok(
                &api,
                "POST",
                "/v1/tables/notes/query",
                &token,
                json!({"count": true, "where": [["tag", "eq", tag]], "limit": 1}),
            )
            .await["total"]
                .clone()
        }
    };
    let counts = json!([
        count(ADMIN_KEY.into(), "red").await,
        count(ADMIN_KEY.into(), "blue").await,
        count(alice_t.clone(), "red").await,
    ]);
    // The unique guard came along.
    let dup = api
        .call(
            "POST",
            "/v1/tables/notes/records",
            Some(&bob_t),
            Some(json!({"title": "copy", "slug": seeded.a_slug})),
        )
        .await;
    assert_eq!(dup.status, 409, "{}", dup.text);
    assert_eq!(dup.code(), "UNIQUE_VIOLATION");
    // Her file, byte for byte; not bob's to read.
    let f = ok(
        &api,
        "GET",
        &format!("/v1/files/{}", seeded.file),
        &alice_t,
        Value::Null,
    )
    .await;
    let bytes = reqwest::get(f["url"].as_str().unwrap())
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(bytes.as_ref(), PNG);
    let not_bobs = api
        .call(
            "GET",
            &format!("/v1/files/{}", seeded.file),
            Some(&bob_t),
            None,
        )
        .await;
    assert_eq!(not_bobs.status, 404, "{}", not_bobs.text);
    // Her key-value entry, and a function.
    let lang = ok(&api, "GET", "/v1/kv/prefs/lang", &alice_t, Value::Null).await;
    let greet = api
        .call(
            "POST",
            "/v1/fn/greet/hi",
            None,
            Some(json!({"args": ["云桥"]})),
        )
        .await;
    assert_eq!(greet.status, 200, "{}", greet.text);
    json!({"alice": alice_page, "counts": counts, "lang": lang["value"], "greet": greet.body})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_moves_from_the_embedded_store_to_aws_and_back() {
    if !common::emulators_for("Lambda") {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();

    // 1. Seeded on the embedded store.
    let mut local = Server::start().await;
    let seeded = seed(&local).await;
    let before = snapshot(&local, &seeded).await;
    let expected = answers(&local, &seeded).await;
    assert_eq!(expected["counts"], json!([7, 8, 4]), "{expected}");
    assert_eq!(expected["greet"], json!({"result": "你好, 云桥"}));
    let over_http = unpack(&get_archive(&Api::new(&local.base)).await);

    // 2. `yunqiao export` of the stopped server's data directory: the same archive.
    local.kill9().await;
    let data_dir = local.data_dir.to_str().unwrap().to_string();
    let (ok1, out, err) = yunqiao(
        dir,
        &["export", "--data-dir", &data_dir, "--out", "app.tar.gz"],
        &[],
    )
    .await;
    assert!(ok1, "{out}\n{err}");
    let exported = std::fs::read(dir.join("app.tar.gz")).unwrap();
    let by_cli = unpack(&exported);
    assert_eq!(
        by_cli.keys().collect::<Vec<_>>(),
        over_http.keys().collect::<Vec<_>>()
    );
    for (name, bytes) in &by_cli {
        if name != "manifest.json" {
            assert_eq!(bytes, &over_http[name], "{name}");
        }
    }
    let m: Value = serde_json::from_slice(&by_cli["manifest.json"]).unwrap();
    assert_eq!(m["format"], "yunqiao-export");
    assert_eq!(m["version"], 1);
    assert_eq!(
        m["counts"],
        json!({"tables": 1, "records": 15, "users": 2, "kv_namespaces": 2, "kv_entries": 3,
               "topics": 1, "functions": 1, "files": 1})
    );
    assert!(!by_cli.keys().any(|k| k.contains("session")), "no sessions");

    // 3. `yunqiao import` into the AWS face's DynamoDB table and S3 bucket.
    let aws = Server::start_lambda().await;
    let env = aws_env(&aws);
    let (ok2, out, err) = yunqiao(dir, &["import", "app.tar.gz"], &pairs(&env)).await;
    assert!(ok2, "{out}\n{err}");
    let report: Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
    assert_eq!(
        report["items"]["records"],
        json!({"created": 15, "changed": 0, "unchanged": 0})
    );
    assert_eq!(report["items"]["users"]["created"], 2);
    assert_eq!(report["items"]["files"]["created"], 1);
    aws.settle().await;
    assert_eq!(snapshot(&aws, &seeded).await, before, "the same app on AWS");
    assert_eq!(
        answers(&aws, &seeded).await,
        expected,
        "the same answers on AWS"
    );

    // 4. Twice: nothing changes (through the console's upload, on the AWS face).
    let again = post_archive(&Api::new(&aws.base), Some(ADMIN_KEY), "", exported.clone()).await;
    assert_eq!(again.status, 200, "{}", again.text);
    for (kind, r) in again.body["items"].as_object().unwrap() {
        assert_eq!(r["created"], 0, "{kind}: {r}");
        assert_eq!(r["changed"], 0, "{kind}: {r}");
    }
    assert_eq!(again.body["items"]["records"]["unchanged"], 15);
    assert_eq!(snapshot(&aws, &seeded).await, before);

    // 5. And back: the AWS face's download, imported into a fresh embedded store.
    let from_aws = get_archive(&Api::new(&aws.base)).await;
    std::fs::write(dir.join("from-aws.tar.gz"), &from_aws).unwrap();
    let back = dir.join("back");
    let back_s = back.to_str().unwrap();
    let (ok3, out, err) = yunqiao(
        dir,
        &["import", "from-aws.tar.gz", "--data-dir", back_s],
        &[],
    )
    .await;
    assert!(ok3, "{out}\n{err}");
    let home = Server::start_in(&back, &[]).await;
    assert_eq!(
        snapshot(&home, &seeded).await,
        before,
        "the same app back home"
    );
    assert_eq!(
        answers(&home, &seeded).await,
        expected,
        "the same answers back home"
    );

    // 6. An archive of another version: a clear error, and not even a store created.
    let mut v2: Vec<(&str, Vec<u8>)> = vec![("manifest.json", manifest(2))];
    v2.extend(
        by_cli
            .iter()
            .filter(|(k, _)| *k != "manifest.json")
            .map(|(k, v)| (k.as_str(), v.clone())),
    );
    std::fs::write(dir.join("v2.tar.gz"), pack(&v2)).unwrap();
    let (ok4, out, err) = yunqiao(dir, &["import", "v2.tar.gz", "--data-dir", "fresh"], &[]).await;
    assert!(!ok4, "{out}");
    assert!(
        err.contains("ARCHIVE_VERSION") && err.contains("format version 2"),
        "{err}"
    );
    assert!(err.contains("nothing was written"), "{err}");
    assert!(!dir.join("fresh").exists(), "no store was made");
}

/// A fresh face refuses what it cannot import, whole: nothing of the archive is written.
async fn a_wrong_version_or_a_refused_line_writes_nothing(s: Server) {
    let api = Api::new(&s.base);
    let schema = br#"{"name": "things", "def": {"fields": [{"name": "slug", "type": "string", "unique": true}]}}"#.to_vec();
    let user = br#"{"id": "01jf0b2a1b2c3d4e5f6g7h8j9k", "openid": "o-moved-in"}"#.to_vec();
    let rec = |id: &str, slug: &str| format!(r#"{{"_id": "{id}", "slug": "{slug}"}}"#);
    let two = format!(
        "{}\n{}\n",
        rec("01jf0b5k8v6d3x2q9w7m4n1c0a", "same"),
        rec("01jf0b5k8v6d3x2q9w7m4n1c0b", "same")
    );
    let cases: Vec<(&str, Entries, u16, &str)> = vec![
        (
            "another format version",
            vec![("manifest.json", manifest(2)), ("schemas.ndjson", schema.clone())],
            400,
            "ARCHIVE_VERSION",
        ),
        (
            "no manifest first",
            vec![("schemas.ndjson", schema.clone()), ("manifest.json", manifest(1))],
            400,
            "ARCHIVE_INVALID",
        ),
        (
            "a unique value twice",
            vec![
                ("manifest.json", manifest(1)),
                ("schemas.ndjson", schema.clone()),
                ("users.ndjson", user.clone()),
                ("tables/things.ndjson", two.into_bytes()),
            ],
            400,
            "ARCHIVE_INVALID",
        ),
        (
            "an unknown field",
            vec![
                ("manifest.json", manifest(1)),
                ("schemas.ndjson", schema.clone()),
                ("tables/things.ndjson", br#"{"_id": "01jf0b5k8v6d3x2q9w7m4n1c0a", "nope": 1}"#.to_vec()),
            ],
            400,
            "ARCHIVE_INVALID",
        ),
        (
            "an owner who is nobody",
            vec![
                ("manifest.json", manifest(1)),
                ("schemas.ndjson", schema.clone()),
                ("users.ndjson", user.clone()),
                ("tables/things.ndjson", br#"{"_id": "01jf0b5k8v6d3x2q9w7m4n1c0a", "_owner": "01jf0b2a1b2c3d4e5f6g7h8j9m"}"#.to_vec()),
            ],
            400,
            "ARCHIVE_INVALID",
        ),
        (
            "a truncated archive",
            vec![
                ("manifest.json", serde_json::to_vec(&json!({"format": "yunqiao-export", "version": 1, "counts": {"users": 2}})).unwrap()),
                ("users.ndjson", user.clone()),
            ],
            400,
            "ARCHIVE_INVALID",
        ),
        (
            "a file without its bytes",
            vec![
                ("manifest.json", manifest(1)),
                ("files.ndjson", br#"{"id": "01jf0c9z0y1x2w3v4t5s6r7q8p", "name": "a.txt", "size": 3, "content_type": "text/plain"}"#.to_vec()),
            ],
            400,
            "ARCHIVE_INVALID",
        ),
        (
            "an entry of no version",
            vec![("manifest.json", manifest(1)), ("groups.ndjson", b"{}".to_vec())],
            400,
            "ARCHIVE_INVALID",
        ),
        (
            "a file field naming no file",
            vec![
                ("manifest.json", manifest(1)),
                ("schemas.ndjson", br#"{"name": "pics", "def": {"fields": [{"name": "pic", "type": "file"}]}}"#.to_vec()),
                ("tables/pics.ndjson", br#"{"_id": "01jf0b5k8v6d3x2q9w7m4n1c0a", "pic": "01jf0c9z0y1x2w3v4t5s6r7q8p"}"#.to_vec()),
            ],
            400,
            "ARCHIVE_INVALID",
        ),
        ("not an archive", vec![], 400, "ARCHIVE_INVALID"),
    ];
    for (what, entries, status, code) in cases {
        let body = if entries.is_empty() {
            b"PK\x03\x04 not a tar".to_vec()
        } else {
            pack(&entries)
        };
        let r = post_archive(&api, Some(ADMIN_KEY), "", body).await;
        assert_eq!((r.status, r.code()), (status, code), "{what}: {}", r.text);
        assert!(!r.body["error"]["message"].as_str().unwrap().is_empty());
    }
    let r = post_archive(
        &api,
        Some(ADMIN_KEY),
        "",
        pack(&[("manifest.json", manifest(7))]),
    )
    .await;
    assert!(
        r.text.contains("format version 7") && r.text.contains("reads version 1"),
        "{}",
        r.text
    );
    // Nothing of any of them was written.
    let tables = api.call("GET", "/v1/tables", Some(ADMIN_KEY), None).await;
    assert_eq!(tables.body["items"], json!([]), "{}", tables.text);
    let users = api
        .call("GET", "/v1/admin/users", Some(ADMIN_KEY), None)
        .await;
    assert_eq!(users.body["items"], json!([]), "{}", users.text);
}

async fn import_is_for_admins_and_a_dry_run_writes_nothing(s: Server) {
    let api = Api::new(&s.base);
    let archive = pack(&[
        ("manifest.json", manifest(1)),
        ("schemas.ndjson", br#"{"name": "things", "def": {"fields": [{"name": "n", "type": "integer", "index": true}]}}"#.to_vec()),
        ("users.ndjson", br#"{"id": "01jf0b2a1b2c3d4e5f6g7h8j9k", "openid": "o-moved-in", "groups": ["admin"]}"#.to_vec()),
        ("tables/things.ndjson", b"{\"_id\": \"01jf0b5k8v6d3x2q9w7m4n1c0a\", \"n\": 1, \"_owner\": \"01jf0b2a1b2c3d4e5f6g7h8j9k\"}\n".to_vec()),
    ]);
    let anon = post_archive(&api, None, "", archive.clone()).await;
    assert_eq!(anon.status, 401, "{}", anon.text);
    let (user, _) = api.login("mock:mallory").await;
    let mallory = post_archive(&api, Some(&user), "", archive.clone()).await;
    assert_eq!(mallory.status, 403, "{}", mallory.text);
    let export = api.call("GET", "/v1/admin/export", Some(&user), None).await;
    assert_eq!(export.status, 403, "{}", export.text);

    let dry = post_archive(&api, Some(ADMIN_KEY), "?dry_run=true", archive.clone()).await;
    assert_eq!(dry.status, 200, "{}", dry.text);
    assert_eq!(dry.body["dry_run"], true);
    assert_eq!(dry.body["items"]["tables"]["created"], 1);
    assert_eq!(dry.body["items"]["records"]["created"], 1);
    let none = api
        .call("GET", "/v1/tables/things", Some(ADMIN_KEY), None)
        .await;
    assert_eq!(none.status, 404, "a dry run writes nothing: {}", none.text);

    let done = post_archive(&api, Some(ADMIN_KEY), "", archive.clone()).await;
    assert_eq!(done.status, 200, "{}", done.text);
    assert_eq!(done.body["items"]["users"]["created"], 1);
    s.settle().await;
    // The moved-in admin logs in by their openid and reads the record through its index.
    let (token, me) = s.login_as("o-moved-in").await;
    assert_eq!(me["id"], "01jf0b2a1b2c3d4e5f6g7h8j9k");
    let q = api
        .call(
            "POST",
            "/v1/tables/things/query",
            Some(&token),
            Some(json!({"where": [["n", "eq", 1]], "count": true})),
        )
        .await;
    assert_eq!(q.status, 200, "{}", q.text);
    assert_eq!(q.body["total"], 1);
    assert_eq!(q.body["items"][0]["_owner"], "01jf0b2a1b2c3d4e5f6g7h8j9k");
    let again = post_archive(&api, Some(ADMIN_KEY), "", archive).await;
    assert_eq!(
        again.body["items"]["records"]["unchanged"], 1,
        "{}",
        again.text
    );
    assert_eq!(
        again.body["items"]["users"]["unchanged"], 1,
        "{}",
        again.text
    );
}
