//! `yunqiao apply` (the CLI over `POST /v1/apply`), on every face: a plan first,
//! nothing changed when any item would be refused (every refusal named), `--dry-run`
//! changes nothing, `--drop` allows dropping fields, and applying again changes nothing.
//! (A write that fails midway is undone: `core/src/project_tests.rs`, where a store can
//! be made to fail.)

mod common;

use std::path::Path;
use std::process::Command;

use common::{ADMIN_KEY, Api, Server};
use serde_json::{Value, json};

fn apply(s: &Server, file: &Path, flags: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_yunqiao"))
        .arg("apply")
        .arg(file)
        .args(flags)
        .args(["--url", &s.base])
        .env("YUNQIAO_ADMIN_KEY", ADMIN_KEY)
        .env_remove("YUNQIAO_CONFIG")
        .output()
        .expect("run yunqiao apply");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn project(dir: &Path, fields: Value, source: &str) -> std::path::PathBuf {
    std::fs::write(dir.join("notes.js"), source).unwrap();
    let file = dir.join("yunqiao.json");
    std::fs::write(
        &file,
        json!({
            "functions": {"notes": {"file": "notes.js", "access": "users"}},
            "tables": {"notes": {"fields": fields, "acl": {"record": "rwd:r:-", "create": "users"}}},
            "kv": {"prefs": {"scope": "user"}},
            "topics": {"room.*": {"subscribe": "users", "publish": "users"}}
        })
        .to_string(),
    )
    .unwrap();
    file
}

async fn fields(api: &Api) -> Vec<String> {
    let r = api
        .call("GET", "/v1/tables/notes", Some(ADMIN_KEY), None)
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap().to_string())
        .collect()
}

async fn module_sha(api: &Api) -> Value {
    api.call("GET", "/v1/functions/notes", Some(ADMIN_KEY), None)
        .await
        .body["sha256"]
        .clone()
}

on_every_face!(apply_plans_first_and_changes_all_or_nothing);

async fn apply_plans_first_and_changes_all_or_nothing(s: Server) {
    let api = Api::new(&s.base);
    let dir = tempfile::tempdir().unwrap();
    let two = json!([{"name": "title", "type": "string"}, {"name": "body", "type": "text"}]);
    let v1 = "export function count() { return 1 }\n";
    let file = project(dir.path(), two.clone(), v1);

    // A dry run on an empty server: the plan, and nothing made.
    let (ok, out) = apply(&s, &file, &["--dry-run"]);
    assert!(ok, "{out}");
    for line in [
        "function notes: would be created",
        "table notes: would be created",
        "kv prefs: would be created",
        "topic rule room.*: would be created",
        "dry run: nothing was changed",
    ] {
        assert!(out.contains(line), "{line:?} in {out}");
    }
    let r = api
        .call("GET", "/v1/tables/notes", Some(ADMIN_KEY), None)
        .await;
    assert_eq!(r.status, 404, "a dry run creates nothing");

    let (ok, out) = apply(&s, &file, &[]);
    assert!(ok, "{out}");
    assert!(out.contains("table notes: created"), "{out}");
    let sha1 = module_sha(&api).await;
    let (ok, out) = apply(&s, &file, &[]);
    assert!(ok, "{out}");
    assert_eq!(out.matches("unchanged").count(), 4, "applying again: {out}");

    // A new module version and a table losing a field: without --drop, refused before
    // anything changes (the module stays as it was).
    let file = project(
        dir.path(),
        json!([{"name": "title", "type": "string"}]),
        "export function count() { return 2 }\n",
    );
    let (ok, out) = apply(&s, &file, &[]);
    assert!(!ok, "{out}");
    assert!(out.contains("drops fields [\"body\"]"), "{out}");
    assert!(out.contains("nothing was changed"), "{out}");
    assert_eq!(module_sha(&api).await, sha1, "the module is untouched");
    assert_eq!(fields(&api).await, ["title", "body"]);

    let (ok, out) = apply(&s, &file, &["--dry-run", "--drop"]);
    assert!(ok, "{out}");
    assert!(out.contains("function notes: would change"), "{out}");
    assert!(out.contains("table notes: would change"), "{out}");
    assert_eq!(module_sha(&api).await, sha1);
    assert_eq!(fields(&api).await, ["title", "body"]);

    let (ok, out) = apply(&s, &file, &["--drop"]);
    assert!(ok, "{out}");
    assert!(out.contains("function notes: changed (version 2)"), "{out}");
    assert_eq!(fields(&api).await, ["title"]);
    assert_ne!(module_sha(&api).await, sha1);

    // A module that does not load, and a table whose hook names an export nobody has:
    // both refused, together, before anything changes (the table keeps its fields).
    std::fs::write(dir.path().join("notes.js"), "export function count( {\n").unwrap();
    std::fs::write(
        &file,
        json!({
            "functions": {"notes": {"file": "notes.js"}},
            "tables": {
                "notes": {"fields": [{"name": "title", "type": "string"}, {"name": "tags", "type": "json"}]},
                "later": {"fields": [{"name": "x", "type": "string"}], "hooks": {"before_create": "notes.missing"}}
            }
        })
        .to_string(),
    )
    .unwrap();
    let (ok, out) = apply(&s, &file, &[]);
    assert!(!ok, "{out}");
    assert!(
        out.contains("function notes: refused: the module does not load"),
        "{out}"
    );
    assert!(out.contains("table later: refused:"), "{out}");
    assert!(
        out.contains("2 item(s) refused; nothing was changed"),
        "{out}"
    );
    assert_eq!(fields(&api).await, ["title"], "the table is as it was");
    let r = api
        .call("GET", "/v1/tables/later", Some(ADMIN_KEY), None)
        .await;
    assert_eq!(r.status, 404, "nothing created: {}", r.text);

    // The API answers every refusal with its item and field.
    let r = api
        .call(
            "POST",
            "/v1/apply",
            Some(ADMIN_KEY),
            Some(json!({"tables": {"later": {"fields": [{"name": "x", "type": "string"}], "hooks": {"before_create": "notes.missing"}}}})),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(r.body["error"]["code"], "PROJECT_REFUSED");
    assert_eq!(
        r.body["error"]["details"]["refused"],
        json!([{"kind": "table", "name": "later", "code": "INVALID_ARGUMENT", "field": "hooks.before_create",
            "message": "the hook runs \"notes.missing\", but module \"notes\" exports no function \"missing\""}])
    );
    // Only admins apply; a malformed flag is a 400.
    let r = api.call("POST", "/v1/apply", None, Some(json!({}))).await;
    assert_eq!(r.status, 401, "{}", r.text);
    let r = api
        .call(
            "POST",
            "/v1/apply?dry_run=yes",
            Some(ADMIN_KEY),
            Some(json!({})),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(r.body["error"]["code"], "INVALID_ARGUMENT");
}

/// The repository's two example projects (会聊 and the functions example) share one
/// server without changing anything of each other: each applies as all `created` after
/// the other, and applying the first again changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_projects_do_not_trample_each_other() {
    let s = Server::start().await;
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let huiliao = root.join("examples/huiliao/yunqiao.json");
    let example = root.join("sdk/functions/example/yunqiao.json");
    let (ok, out) = apply(&s, &huiliao, &[]);
    assert!(ok, "{out}");
    let (ok, out) = apply(&s, &example, &[]);
    assert!(ok, "{out}");
    assert!(
        out.lines()
            .all(|l| l.ends_with("created") || l.contains("created (version")),
        "the example only adds: {out}"
    );
    let (ok, out) = apply(&s, &huiliao, &[]);
    assert!(ok, "{out}");
    assert!(
        out.lines().all(|l| l.ends_with("unchanged")),
        "会聊 is as it was: {out}"
    );
}
