//! Cloud functions and hooks over HTTP, on every face: deploy (API and CLI), calls both
//! ways, caller rights and `db.admin()`, access rules, secrets, outbound hosts, runaway
//! code, before- and after-hooks. Process-level cases (SIGKILL mid-hook, two processes
//! sharing schedules) run where processes are ours.

mod common;

use std::time::Duration;

use common::{ADMIN_KEY, Api, Server};
use serde_json::{Value, json};
use yunqiao_core::tables::schema::parse_rfc3339;

/// A secret configured on every face; no answer and no log may ever contain it.
const SECRET: &str = "sk-live-7f3a9c1e5b2d4086";
/// The mock servers these tests fetch from are on 127.0.0.1: let modules list them.
const PRIVATE_HOSTS: (&str, &str) = ("YUNQIAO_FUNCTIONS_ALLOW_PRIVATE_HOSTS", "1");

macro_rules! on_every_face_with_secret {
    ($($name:ident),* $(,)?) => {
        mod embedded {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::Server::start_with(&[("YUNQIAO_SECRET_PAYMENT_KEY", super::SECRET), super::PRIVATE_HOSTS]).await).await
                }
            )*
        }
        mod dynamodb {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if !super::common::emulators_for("DynamoDB") {
                        return;
                    }
                    super::$name(super::Server::start_dynamodb_with(&[("YUNQIAO_SECRET_PAYMENT_KEY", super::SECRET), super::PRIVATE_HOSTS]).await).await
                }
            )*
        }
        mod lambda {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if !super::common::emulators_for("Lambda") {
                        return;
                    }
                    super::$name(super::Server::start_lambda_with(&[("YUNQIAO_SECRETS_JSON", &format!("{{\"PAYMENT_KEY\": \"{}\"}}", super::SECRET)), super::PRIVATE_HOSTS]).await).await
                }
            )*
        }
    };
}

on_every_face_with_secret!(
    modules_are_deployed_called_and_run_with_the_callers_rights,
    secrets_are_used_but_never_answered_or_logged,
    fetch_reaches_only_listed_hosts,
    runaway_code_gets_its_error_while_others_are_served,
    before_hooks_change_or_refuse_writes,
    after_hooks_run_once_per_committed_change,
    times_are_rfc3339_and_a_data_version_is_v,
);

const NOTES: &str = r#"
import { db, context, FunctionError } from "yunqiao";
export async function whoami() { return context.caller }
export async function add(a, b) { return a + b }
export async function main(data) { return { echo: data, kind: context.caller.kind } }
export async function write(text) { return db.table("notes").create({ text }) }
export async function read(id) { return db.table("notes").get(id) }
export async function readAsAdmin(id) { return db.admin().table("notes").get(id) }
export async function staffOnly() { return "staff" }
export async function full() { throw new FunctionError("ROOM_FULL", "the room is full", 409, { max: 2 }) }
export async function broken() { return null.x }
"#;

async fn modules_are_deployed_called_and_run_with_the_callers_rights(s: Server) {
    let api = Api::new(&s.base);
    let (alice, alice_user) = api.login("mock:alice").await;
    let (bob, _) = api.login("mock:bob").await;
    let body = json!({"source": NOTES, "exports": {"staffOnly": {"access": "group:staff"}, "main": {"access": "anyone"}}});

    // Only admins deploy, and only modules that load.
    let r = api
        .call(
            "PUT",
            "/v1/functions/notes",
            Some(&alice),
            Some(body.clone()),
        )
        .await;
    assert_eq!((r.status, r.code()), (403, "FORBIDDEN"));
    let r = api
        .deploy("notes", json!({"source": "export async function f( {"}))
        .await;
    assert_eq!(
        (r.status, r.code()),
        (400, "FUNCTION_INVALID"),
        "{}",
        r.text
    );
    let r = api
        .deploy(
            "notes",
            json!({"source": NOTES, "exports": {"nope": {"access": "anyone"}}}),
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (400, "INVALID_ARGUMENT"),
        "{}",
        r.text
    );
    let r = api
        .deploy("notes", json!({"source": NOTES, "timeout_ms": 0}))
        .await;
    assert_eq!(
        (r.status, r.code()),
        (400, "INVALID_ARGUMENT"),
        "{}",
        r.text
    );
    let r = api.deploy("notes", body.clone()).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["version"], 1);
    let names: Vec<&str> = r.body["exports"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["name"].as_str())
        .collect();
    assert!(
        names.contains(&"whoami") && names.contains(&"readAsAdmin"),
        "{names:?}"
    );

    // Both call shapes; the caller is the session's, whatever the body says.
    let r = api
        .call_fn(Some(&alice), "notes", "add", json!([2, 3]))
        .await;
    assert_eq!(
        (r.status, &r.body),
        (200, &json!({"result": 5})),
        "{}",
        r.text
    );
    let r = api
        .call(
            "POST",
            "/v1/fn/notes",
            None,
            Some(json!({"data": {"x": 1}})),
        )
        .await;
    assert_eq!(
        r.body,
        json!({"result": {"echo": {"x": 1}, "kind": "anonymous"}}),
        "{}",
        r.text
    );
    let r = api
        .call_fn(
            Some(&alice),
            "notes",
            "whoami",
            json!([{"kind": "admin", "id": "forged"}]),
        )
        .await;
    assert_eq!(r.body["result"]["id"], alice_user["id"]);
    assert_eq!(r.body["result"]["kind"], "user");
    // Server code knows the caller's openid (the module chose to answer it here).
    assert!(
        r.body["result"]["openid"]
            .as_str()
            .is_some_and(|o| o.starts_with('o')),
        "the openid inside functions: {}",
        r.text
    );
    assert!(
        r.body["result"]["unionid"]
            .as_str()
            .is_some_and(|u| u.starts_with('u')),
        "the unionid too: {}",
        r.text
    );

    // Access: users by default, a group-only export, unknown names.
    let r = api.call_fn(None, "notes", "whoami", json!([])).await;
    assert_eq!((r.status, r.code()), (401, "UNAUTHENTICATED"));
    let r = api
        .call_fn(Some(&alice), "notes", "staffOnly", json!([]))
        .await;
    assert_eq!((r.status, r.code()), (403, "FUNCTION_FORBIDDEN"));
    api.set_groups(&alice_user, &["staff"]).await;
    s.settle().await;
    let r = api
        .call_fn(Some(&alice), "notes", "staffOnly", json!([]))
        .await;
    assert_eq!(
        (r.status, &r.body["result"]),
        (200, &json!("staff")),
        "a group change counts"
    );
    let r = api
        .call_fn(Some(&alice), "notes", "nothing", json!([]))
        .await;
    assert_eq!((r.status, r.code()), (404, "NOT_FOUND"));
    let r = api.call_fn(Some(&alice), "nomodule", "x", json!([])).await;
    assert_eq!((r.status, r.code()), (404, "NOT_FOUND"));

    // db with the caller's rights; db.admin() sees everything.
    let r = api
        .call("PUT", "/v1/tables/notes", Some(ADMIN_KEY), Some(json!({"fields": [{"name": "text", "type": "string"}], "acl": {"record": "rwd:-:-"}})))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let r = api
        .call_fn(Some(&alice), "notes", "write", json!(["alice's"]))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let id = r.body["result"]["_id"].as_str().unwrap().to_string();
    assert_eq!(r.body["result"]["_owner"], alice_user["id"]);
    let r = api
        .call_fn(Some(&alice), "notes", "read", json!([id]))
        .await;
    assert_eq!(r.body["result"]["text"], "alice's");
    let r = api.call_fn(Some(&bob), "notes", "read", json!([id])).await;
    assert_eq!(
        (r.status, r.code()),
        (404, "NOT_FOUND"),
        "bob reads through the same rules"
    );
    let r = api
        .call_fn(Some(&bob), "notes", "readAsAdmin", json!([id]))
        .await;
    assert_eq!(
        (r.status, &r.body["result"]["text"]),
        (200, &json!("alice's"))
    );

    // Errors are answers.
    let r = api.call_fn(Some(&bob), "notes", "full", json!([])).await;
    assert_eq!((r.status, r.code()), (409, "ROOM_FULL"));
    assert_eq!(r.body["error"]["details"], json!({"max": 2}));
    let r = api.call_fn(Some(&bob), "notes", "broken", json!([])).await;
    assert_eq!((r.status, r.code()), (500, "FUNCTION_FAILED"));
    let rid = r.body["error"]["details"]["request_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        !r.text.contains("null") || !r.text.contains("property"),
        "no stack or exception text: {}",
        r.text
    );

    // Logs: the failure with its stack, for admins only.
    let r = api
        .call("GET", "/v1/functions/notes/logs", Some(&bob), None)
        .await;
    assert_eq!(r.status, 403);
    let r = api
        .call(
            "GET",
            "/v1/functions/notes/logs?limit=100",
            Some(ADMIN_KEY),
            None,
        )
        .await;
    let failed = r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["request_id"] == json!(rid))
        .cloned()
        .expect("the failure is logged");
    assert_eq!(failed["outcome"], "FUNCTION_FAILED");
    assert!(
        failed["error"].as_str().unwrap().contains("broken"),
        "with the stack: {failed}"
    );

    // A new version through the CLI; versions kept; delete.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("notes.js"),
        NOTES.replace("return a + b", "return a * b"),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("notes.json"),
        json!({"exports": {"staffOnly": {"access": "group:staff"}, "main": {"access": "anyone"}}})
            .to_string(),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("tiny.js"),
        "export async function ping() { return 'pong' }",
    )
    .unwrap();
    std::fs::write(dir.path().join("tiny.json"), r#"{"access": "anyone"}"#).unwrap();
    let cli = |d: &std::path::Path| {
        std::process::Command::new(env!("CARGO_BIN_EXE_yunqiao"))
            .args(["functions", "deploy"])
            .arg(d)
            .args(["--url", &s.base])
            .env("YUNQIAO_ADMIN_KEY", ADMIN_KEY)
            .output()
            .unwrap()
    };
    let out = cli(dir.path());
    let report = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{report}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        report.contains("notes: changed (version 2") && report.contains("tiny: created (version 1"),
        "{report}"
    );
    s.settle().await;
    let r = api
        .call_fn(Some(&alice), "notes", "add", json!([2, 3]))
        .await;
    assert_eq!(r.body["result"], 6, "the new version runs at once");
    let r = api.call_fn(None, "tiny", "ping", json!([])).await;
    assert_eq!(r.body["result"], "pong");
    let out = cli(dir.path());
    let report = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        report.contains("notes: unchanged (version 2") && report.contains("tiny: unchanged"),
        "idempotent: {report}"
    );
    std::fs::write(dir.path().join("bad.js"), "export function (").unwrap();
    let out = cli(dir.path());
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("bad: FAILED"),
        "a clear report per module"
    );
    let r = api
        .call("GET", "/v1/functions/notes/versions", Some(ADMIN_KEY), None)
        .await;
    assert_eq!(r.body["items"].as_array().unwrap().len(), 2);
    let r = api
        .call(
            "GET",
            "/v1/functions/notes?version=1",
            Some(ADMIN_KEY),
            None,
        )
        .await;
    assert!(r.body["source"].as_str().unwrap().contains("a + b"));
    let r = api
        .call("GET", "/v1/functions", Some(ADMIN_KEY), None)
        .await;
    assert_eq!(r.body["items"].as_array().unwrap().len(), 2, "{}", r.text);
    let r = api
        .call("DELETE", "/v1/functions/tiny", Some(ADMIN_KEY), None)
        .await;
    assert_eq!(r.status, 204);
    s.settle().await;
    let r = api.call_fn(None, "tiny", "ping", json!([])).await;
    assert_eq!(r.status, 404);
}

async fn secrets_are_used_but_never_answered_or_logged(s: Server) {
    let api = Api::new(&s.base);
    let (alice, _) = api.login("mock:alice").await;
    let src = r#"
import { secrets } from "yunqiao";
export async function sign(order) {
  const key = await secrets.get("PAYMENT_KEY");
  console.log("signing with", key);
  return { order, keyLength: key.length, prefix: key.slice(0, 3) };
}
export async function leak() { throw new Error("key=" + await secrets.get("PAYMENT_KEY")) }
export async function refuse() { throw new FunctionError("BAD_KEY", "bad " + await secrets.get("PAYMENT_KEY")) }
export async function other() { return secrets.get("OTHER") }
"#;
    let r = api
        .deploy("pay", json!({"source": src, "secrets": ["PAYMENT_KEY"]}))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert!(!r.text.contains(SECRET));
    let r = api
        .call_fn(Some(&alice), "pay", "sign", json!(["o1"]))
        .await;
    assert_eq!(
        r.body["result"],
        json!({"order": "o1", "keyLength": SECRET.len(), "prefix": "sk-"}),
        "{}",
        r.text
    );
    let mut answers = vec![r.text.clone()];
    for export in ["leak", "refuse"] {
        let r = api.call_fn(Some(&alice), "pay", export, json!([])).await;
        assert!(r.status >= 400, "{}", r.text);
        answers.push(r.text);
    }
    let r = api.call_fn(Some(&alice), "pay", "other", json!([])).await;
    assert_eq!(
        (r.status, r.code()),
        (403, "FORBIDDEN"),
        "only listed secrets: {}",
        r.text
    );
    for path in [
        "/v1/functions/pay/logs",
        "/v1/functions/pay",
        "/v1/functions",
    ] {
        let r = api.call("GET", path, Some(ADMIN_KEY), None).await;
        assert_eq!(r.status, 200);
        answers.push(r.text);
    }
    for a in &answers {
        assert!(!a.contains(SECRET), "the secret leaked: {a}");
    }
    let logs = api
        .call("GET", "/v1/functions/pay/logs", Some(ADMIN_KEY), None)
        .await;
    assert!(logs.text.contains("signing with [secret]"), "{}", logs.text);
}

/// A tiny HTTP server on 127.0.0.1 that answers every request with its method and path.
async fn echo_server() -> (String, tokio::task::JoinHandle<()>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap().to_string();
    let task = tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = l.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                let n = sock.read(&mut buf).await.unwrap_or(0);
                let req = String::from_utf8_lossy(&buf[..n]).to_string();
                let line = req.lines().next().unwrap_or("").to_string();
                let body = json!({"line": line}).to_string();
                let resp = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = sock.write_all(resp.as_bytes()).await;
            });
        }
    });
    (addr, task)
}

async fn fetch_reaches_only_listed_hosts(s: Server) {
    let api = Api::new(&s.base);
    let (alice, _) = api.login("mock:alice").await;
    let (allowed, _a) = echo_server().await;
    let (other, _b) = echo_server().await;
    let src = r#"
import { http } from "yunqiao";
export async function get(url) {
  try {
    const r = await http.fetch(url, { method: "POST", body: { q: 1 } });
    return { status: r.status, body: await r.json() };
  } catch (e) { return { code: e.code, status: e.status } }
}
"#;
    // Metadata and link-local addresses never, whatever the server allows; nor names
    // that are no DNS name.
    for bad in [
        "169.254.169.254",
        "169.254.169.254:80",
        "metadata.google.internal",
        "..",
        "-",
    ] {
        let r = api
            .deploy("net", json!({"source": src, "hosts": [bad]}))
            .await;
        assert_eq!(
            (r.status, r.code(), &r.body["error"]["details"]["field"]),
            (400, "INVALID_ARGUMENT", &json!("hosts")),
            "{bad}: {}",
            r.text
        );
    }
    let r = api
        .deploy("net", json!({"source": src, "hosts": [allowed]}))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let r = api
        .call_fn(
            Some(&alice),
            "net",
            "get",
            json!([format!("http://{allowed}/hello?x=1")]),
        )
        .await;
    assert_eq!(r.body["result"]["status"], 200, "{}", r.text);
    assert_eq!(r.body["result"]["body"]["line"], "POST /hello?x=1 HTTP/1.1");
    for url in [
        format!("http://{other}/"),
        "http://169.254.169.254/latest/meta-data/".to_string(),
        "https://example.com/".to_string(),
    ] {
        let r = api.call_fn(Some(&alice), "net", "get", json!([url])).await;
        assert_eq!(
            r.body["result"],
            json!({"code": "FORBIDDEN", "status": 403}),
            "{url}: {}",
            r.text
        );
    }
    let r = api
        .call_fn(
            Some(&alice),
            "net",
            "get",
            json!([format!("http://user@{allowed}/")]),
        )
        .await;
    assert_eq!(r.body["result"]["code"], "INVALID_ARGUMENT", "{}", r.text);
    let r = api
        .call_fn(Some(&alice), "net", "get", json!(["file:///etc/passwd"]))
        .await;
    assert_eq!(r.body["result"]["code"], "INVALID_ARGUMENT", "{}", r.text);
}

async fn runaway_code_gets_its_error_while_others_are_served(s: Server) {
    let api = Api::new(&s.base);
    let (alice, _) = api.login("mock:alice").await;
    let src = r#"
export async function spin() { for (;;) {} }
export async function bomb() { const b = new Uint8Array(200 * 1024 * 1024); b[0] = 1; return b.length }
export async function grow() { const a = []; for (;;) a.push({ n: a.length, s: "x".repeat(100) }) }
export async function deep() { const f = (n) => f(n + 1) + 1; return f(0) }
export async function huge() { return "x".repeat(3 * 1024 * 1024) }
export async function ping() { return "pong" }
"#;
    let r = api
        .deploy(
            "wild",
            json!({"source": src, "timeout_ms": 8000, "memory_mb": 32}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let spinning = {
        let api = api.clone();
        let alice = alice.clone();
        tokio::spawn(async move { api.call_fn(Some(&alice), "wild", "spin", json!([])).await })
    };
    // While it spins, everyone else is served: built-in routes and other functions.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let r = api.call_fn(Some(&alice), "wild", "ping", json!([])).await;
    assert_eq!(r.body["result"], "pong", "{}", r.text);
    let r = api.call("GET", "/v1/auth/me", Some(&alice), None).await;
    assert_eq!(r.status, 200);
    assert!(
        !spinning.is_finished(),
        "the loop runs until its time limit"
    );
    let r = spinning.await.unwrap();
    assert_eq!(
        (r.status, r.code()),
        (504, "FUNCTION_TIMEOUT"),
        "{}",
        r.text
    );
    for (export, status, code) in [
        ("bomb", 500, "FUNCTION_OUT_OF_MEMORY"),
        ("grow", 500, "FUNCTION_OUT_OF_MEMORY"),
        ("deep", 500, "FUNCTION_STACK_OVERFLOW"),
        ("huge", 500, "FUNCTION_RESULT_TOO_LARGE"),
    ] {
        let r = api.call_fn(Some(&alice), "wild", export, json!([])).await;
        assert_eq!((r.status, r.code()), (status, code), "{export}: {}", r.text);
    }
    let r = api.call_fn(Some(&alice), "wild", "ping", json!([])).await;
    assert_eq!(r.body["result"], "pong", "still serving");
}

async fn before_hooks_change_or_refuse_writes(s: Server) {
    let api = Api::new(&s.base);
    let (alice, alice_user) = api.login("mock:alice").await;
    let src = r#"
import { FunctionError } from "yunqiao";
export async function beforeCreate(e) {
  if (e.data.title.includes("spam")) throw new FunctionError("SPAM", "no spam here", 422);
  return { ...e.data, title: e.data.title.trim(), slug: e.data.title.trim().toLowerCase().replace(/ +/g, "-"), by: e.caller.id };
}
export async function beforeUpdate(e) {
  if (e.old.locked) throw new FunctionError("LOCKED", "this post is locked", 409);
  return e.data;
}
export async function beforeDelete(e) {
  if (e.old.title === "keep") throw new FunctionError("KEEP", "kept");
}
"#;
    let r = api
        .deploy("posts", json!({"source": src, "access": "nobody"}))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let def = json!({
        "fields": [{"name": "title", "type": "string"}, {"name": "slug", "type": "string"},
                   {"name": "by", "type": "string"}, {"name": "locked", "type": "boolean"}],
        "acl": {"record": "rwd:r:r"},
        "hooks": {"before_create": "posts.beforeCreate", "before_update": "posts.beforeUpdate", "before_delete": "posts.beforeDelete"},
    });
    let r = api
        .call("PUT", "/v1/tables/posts", Some(ADMIN_KEY), Some(def))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["hooks"]["before_create"], "posts.beforeCreate");
    let r = api
        .call("GET", "/v1/tables/posts", Some(&alice), None)
        .await;
    assert!(
        r.body.get("hooks").is_none_or(|h| h == &json!({})),
        "hooks are for admins: {}",
        r.text
    );
    let r = api
        .call(
            "PUT",
            "/v1/tables/bad",
            Some(ADMIN_KEY),
            Some(json!({"fields": [], "hooks": {"on_read": "posts.x"}})),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.text);

    let r = api
        .call(
            "POST",
            "/v1/tables/posts/records",
            Some(&alice),
            Some(json!({"title": "  Hello World "})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(
        (&r.body["title"], &r.body["slug"], &r.body["by"]),
        (
            &json!("Hello World"),
            &json!("hello-world"),
            &alice_user["id"]
        )
    );
    let id = r.body["_id"].as_str().unwrap().to_string();
    let r = api
        .call(
            "POST",
            "/v1/tables/posts/records",
            Some(&alice),
            Some(json!({"title": "buy spam"})),
        )
        .await;
    assert_eq!((r.status, r.code()), (422, "SPAM"), "{}", r.text);
    // Hook exports with "nobody" cannot be called directly.
    let r = api
        .call_fn(
            Some(&alice),
            "posts",
            "beforeCreate",
            json!([{"data": {"title": "x"}}]),
        )
        .await;
    assert_eq!((r.status, r.code()), (403, "FUNCTION_FORBIDDEN"));

    let r = api
        .call(
            "PATCH",
            &format!("/v1/tables/posts/records/{id}"),
            Some(&alice),
            Some(json!({"locked": true})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = api
        .call(
            "PATCH",
            &format!("/v1/tables/posts/records/{id}"),
            Some(&alice),
            Some(json!({"title": "changed"})),
        )
        .await;
    assert_eq!((r.status, r.code()), (409, "LOCKED"), "{}", r.text);

    // Batches run the hooks per record: one refusal and nothing is written.
    let r = api
        .call(
            "POST",
            "/v1/batch",
            Some(&alice),
            Some(json!({"ops": [
                {"op": "create", "table": "posts", "data": {"title": "A b"}},
                {"op": "create", "table": "posts", "data": {"title": "spam b"}},
            ]})),
        )
        .await;
    assert_eq!((r.status, r.code()), (422, "SPAM"), "{}", r.text);
    let r = api
        .call(
            "POST",
            "/v1/batch",
            Some(&alice),
            Some(json!({"ops": [
                {"op": "create", "table": "posts", "data": {"title": "A b"}},
                {"op": "create", "table": "posts", "data": {"title": "keep"}},
            ]})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["results"][0]["slug"], "a-b");
    let keep = r.body["results"][1]["_id"].as_str().unwrap().to_string();
    let r = api
        .call(
            "POST",
            "/v1/tables/posts/query",
            Some(&alice),
            Some(json!({"limit": 100})),
        )
        .await;
    assert_eq!(
        r.body["items"].as_array().unwrap().len(),
        3,
        "the refused batch wrote nothing: {}",
        r.text
    );
    let r = api
        .call(
            "DELETE",
            &format!("/v1/tables/posts/records/{keep}"),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!((r.status, r.code()), (400, "KEEP"));
    let r = api
        .call(
            "DELETE",
            &format!("/v1/tables/posts/records/{id}"),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(r.status, 204);

    // Hooks whose writes fire hooks stop at a fixed depth, with a clear error.
    let src = r#"
import { db } from "yunqiao";
export async function again(e) { await db.admin().table("echo").create({ n: (e.data.n ?? 0) + 1 }); return e.data }
"#;
    assert_eq!(
        api.deploy("echo", json!({"source": src, "access": "nobody"}))
            .await
            .status,
        201
    );
    let r = api
        .call("PUT", "/v1/tables/echo", Some(ADMIN_KEY), Some(json!({"fields": [{"name": "n", "type": "integer"}], "acl": {"record": "rwd:r:r"}, "hooks": {"before_create": "echo.again"}})))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let r = api
        .call(
            "POST",
            "/v1/tables/echo/records",
            Some(&alice),
            Some(json!({"n": 0})),
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (500, "HOOK_DEPTH_EXCEEDED"),
        "{}",
        r.text
    );
    let r = api
        .call(
            "POST",
            "/v1/tables/echo/query",
            Some(ADMIN_KEY),
            Some(json!({})),
        )
        .await;
    assert_eq!(
        r.body["items"],
        json!([]),
        "nothing of the chain was written"
    );
}

const COUNTER: &str = r#"
import { db } from "yunqiao";
export async function created(e) {
  await db.admin().table("seen").create({ source: e.record_id, op: e.op, event: e.id, who: e.caller.id ?? null, title: e.record.title });
}
export async function deleted(e) {
  await db.admin().table("seen").create({ source: e.record_id, op: e.op, event: e.id, who: e.caller.id ?? null, title: e.old.title });
}
"#;

async fn setup_counted_table(api: &Api, module_src: &str) {
    // A generous limit: a hook that times out after its write is run again (the emulated
    // DynamoDB is slow under 20 concurrent writers).
    setup_counted_table_limited(api, module_src, 25_000).await
}

/// The same with the hook's time limit: a killed run's lease is that limit and a few
/// seconds more, so a test that waits for its recovery keeps it short.
async fn setup_counted_table_limited(api: &Api, module_src: &str, timeout_ms: u64) {
    let r = api
        .deploy(
            "count",
            json!({"source": module_src, "access": "nobody", "timeout_ms": timeout_ms}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let seen = json!({"fields": [{"name": "source", "type": "string", "index": true}, {"name": "op", "type": "string"},
        {"name": "event", "type": "string"}, {"name": "who", "type": "string"}, {"name": "title", "type": "string"}],
        "acl": {"record": "rwd:r:-"}});
    assert_eq!(
        api.call("PUT", "/v1/tables/seen", Some(ADMIN_KEY), Some(seen))
            .await
            .status,
        201
    );
    let items = json!({"fields": [{"name": "title", "type": "string"}], "acl": {"record": "rwd:r:r"},
        "hooks": {"after_create": "count.created", "after_delete": "count.deleted"}});
    let r = api
        .call("PUT", "/v1/tables/items", Some(ADMIN_KEY), Some(items))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
}

/// Every record of `seen`, waiting (up to a minute) until there are `n` and the outbox
/// is empty.
async fn seen_when(api: &Api, n: usize) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let r = api
            .call(
                "POST",
                "/v1/tables/seen/query",
                Some(ADMIN_KEY),
                Some(json!({"limit": 100})),
            )
            .await;
        let items = r.body["items"].as_array().cloned().unwrap_or_default();
        let outbox = api
            .call("GET", "/v1/functions/outbox", Some(ADMIN_KEY), None)
            .await;
        let waiting = outbox.body["items"].as_array().map_or(0, |a| a.len());
        if (items.len() >= n && waiting == 0) || tokio::time::Instant::now() > deadline {
            return items;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn after_hooks_run_once_per_committed_change(s: Server) {
    let api = Api::new(&s.base);
    let (alice, alice_user) = api.login("mock:alice").await;
    setup_counted_table(&api, COUNTER).await;
    let mut writes = Vec::new();
    for i in 0..20 {
        let api = api.clone();
        let alice = alice.clone();
        writes.push(tokio::spawn(async move {
            api.call(
                "POST",
                "/v1/tables/items/records",
                Some(&alice),
                Some(json!({"title": format!("t{i}")})),
            )
            .await
        }));
    }
    let mut ids = Vec::new();
    for w in writes {
        let r = w.await.unwrap();
        assert_eq!(r.status, 201, "{}", r.text);
        ids.push(r.body["_id"].as_str().unwrap().to_string());
    }
    // A batch fires one per record; a refused write fires none.
    let r = api
        .call(
            "POST",
            "/v1/batch",
            Some(&alice),
            Some(json!({"ops": [
                {"op": "create", "table": "items", "data": {"title": "b1"}},
                {"op": "delete", "table": "items", "id": ids[0]},
            ]})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = api
        .call(
            "POST",
            "/v1/tables/items/records",
            Some(&alice),
            Some(json!({"title": 5})),
        )
        .await;
    assert_eq!(r.status, 400);
    let seen = seen_when(&api, 22).await;
    assert_eq!(seen.len(), 22, "one run per committed change: {seen:?}");
    let mut keys: Vec<(String, String)> = seen
        .iter()
        .map(|r| {
            (
                r["source"].as_str().unwrap().to_string(),
                r["op"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), 22, "no change ran twice");
    for id in &ids {
        assert!(keys.contains(&(id.clone(), "create".into())), "{id} ran");
    }
    assert!(keys.contains(&(ids[0].clone(), "delete".into())));
    assert!(
        seen.iter().all(|r| r["who"] == alice_user["id"]),
        "hooks see the caller"
    );
    let deleted = seen.iter().find(|r| r["op"] == "delete").unwrap();
    assert_eq!(deleted["title"], "t0", "the old record");
}

// ---- process-level: crash between commit and hook, schedules across processes -------

/// Without the server allowing private hosts, a module may not list the server itself or
/// its network; a 7-field cron is refused too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_hosts_and_seven_field_crons_are_refused_at_deploy() {
    let s = Server::start().await;
    let api = Api::new(&s.base);
    let src = "export async function f() { return 1 }";
    for bad in [
        "localhost",
        "localhost:8787",
        "127.0.0.1",
        "10.1.2.3:80",
        "192.168.0.1",
    ] {
        let r = api
            .deploy("near", json!({"source": src, "hosts": [bad]}))
            .await;
        assert_eq!(
            (r.status, r.code(), &r.body["error"]["details"]["field"]),
            (400, "INVALID_ARGUMENT", &json!("hosts")),
            "{bad}: {}",
            r.text
        );
    }
    let r = api.deploy("near",
        json!({"source": src, "access": "nobody", "exports": {"f": {"schedule": "0 0 0 1 1 * 2030"}}}),
    )
    .await;
    assert_eq!(
        (r.status, &r.body["error"]["details"]["field"]),
        (400, &json!("exports.f.schedule")),
        "{}",
        r.text
    );
    let r = api
        .deploy(
            "near",
            json!({"source": src, "hosts": ["api.example.com:443"]}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_after_hook_runs_once_after_sigkill_mid_run() {
    let tmp = tempfile::tempdir().unwrap();
    let mut server = Server::start_in(tmp.path(), &[]).await;
    let api = Api::new(&server.base);
    let (alice, _) = api.login("mock:alice").await;
    // The hook works for a while before its one write: a kill lands in the middle.
    let slow = COUNTER.replace(
        "export async function created(e) {",
        "export async function created(e) {\n  const until = Date.now() + 1500; while (Date.now() < until) {}",
    );
    // Its run (1.5 s of work) has 6 s; the restarted server takes it up once the lease
    // (6 s and the slack) has passed.
    setup_counted_table_limited(&api, &slow, 6_000).await;
    let r = api
        .call(
            "POST",
            "/v1/tables/items/records",
            Some(&alice),
            Some(json!({"title": "crash"})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.body["_id"].as_str().unwrap().to_string();
    tokio::time::sleep(Duration::from_millis(300)).await;
    server.kill9().await;
    let server = Server::start_in(tmp.path(), &[]).await;
    let api = Api::new(&server.base);
    let seen = seen_when(&api, 1).await;
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0]["source"], json!(id));
    // And it stays once: nothing is left to run again.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(seen_when(&api, 1).await.len(), 1);
}

const TICKS: &str = r#"
import { db } from "yunqiao";
export async function everyTwo(e) {
  if (typeof e.scheduled_at !== "string") throw new Error(`scheduled_at is ${e.scheduled_at}`);
  await db.admin().table("ticks").create({ at: Date.parse(e.scheduled_at) });
}
"#;

async fn setup_ticks(api: &Api, schedule: &str) {
    let r = api.deploy("clock", json!({"source": TICKS, "access": "nobody", "exports": {"everyTwo": {"schedule": schedule}}})).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["exports"][0]["schedule"], schedule);
    let r = api
        .call("PUT", "/v1/tables/ticks", Some(ADMIN_KEY), Some(json!({"fields": [{"name": "at", "type": "integer"}], "acl": {"record": "rwd:-:-"}})))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
}

async fn ticks(api: &Api) -> Vec<i64> {
    let r = api
        .call(
            "POST",
            "/v1/tables/ticks/query",
            Some(ADMIN_KEY),
            Some(json!({"limit": 100})),
        )
        .await;
    r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["at"].as_i64())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schedule_fires_once_per_tick_with_two_processes_on_one_store() {
    if !common::emulators_for("DynamoDB") {
        return;
    }
    let (endpoint, table) = Server::fresh_dynamodb();
    let one = Server::start_on_table(&endpoint, &table, &[]).await;
    let two = Server::start_on_table(&endpoint, &table, &[]).await;
    let api = Api::new(&one.base);
    setup_ticks(&api, "*/2 * * * * *").await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    let mut seen = ticks(&api).await;
    while seen.len() < 4 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(500)).await;
        seen = ticks(&api).await;
    }
    drop(two);
    assert!(seen.len() >= 4, "the schedule ran: {seen:?}");
    let mut distinct = seen.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), seen.len(), "each tick ran once: {seen:?}");
    assert!(
        distinct.iter().all(|t| t % 2000 == 0),
        "ticks fall on the schedule: {distinct:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lambda_dispatcher_claims_each_tick_once() {
    if !common::emulators_for("Lambda") {
        return;
    }
    let s = Server::start_lambda().await;
    let face = s.lambda.as_ref().unwrap();
    assert_eq!(
        face.scheduled,
        vec!["yq-schedule".to_string()],
        "EventBridge invokes the dispatcher"
    );
    let api = Api::new(&s.base);
    setup_ticks(&api, "* * * * *").await;
    // EventBridge may deliver twice and sandboxes overlap: three dispatches at once.
    let (a, b, c) = tokio::join!(
        face.fire_schedules(),
        face.fire_schedules(),
        face.fire_schedules()
    );
    let claimed: i64 = [a, b, c]
        .into_iter()
        .map(|r| r.expect("dispatch")[0]["claimed"].as_i64().unwrap_or(0))
        .sum();
    let seen = ticks(&api).await;
    let mut distinct = seen.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), seen.len(), "each tick ran once: {seen:?}");
    assert_eq!(seen.len() as i64, claimed, "a run for every claim");
    assert!(
        (1..=2).contains(&seen.len()),
        "this minute's tick (and the next, at a boundary): {seen:?}"
    );
}

/// A time the API or the host API answers: RFC 3339, UTC, with milliseconds.
fn time(v: &Value) -> i64 {
    let s = v
        .as_str()
        .unwrap_or_else(|| panic!("a time is a string: {v}"));
    assert!(
        s.ends_with('Z') && s.len() == 24,
        "UTC with milliseconds: {s}"
    );
    parse_rfc3339(s).unwrap_or_else(|| panic!("RFC 3339: {s}"))
}

const STAMPS: &str = r#"
import { db, kv } from "yunqiao";
export async function entries() {
  const first = await kv("stamps").set("k", 1, { ttl: 60 });
  const second = await kv("stamps").set("k", 2, { _v: first._v });
  let stale = null;
  try { await kv("stamps").set("k", 3, { _v: first._v }) } catch (e) { stale = { code: e.code, details: e.details } }
  const listed = (await kv("stamps").list()).items;
  return { first, second, stale, listed };
}
export async function oldNames(id) {
  const tries = [
    () => kv("stamps").set("k", 9, { v: 2 }),
    () => kv("stamps").set("k", 9, { version: 2 }),
    () => kv("stamps").remove("k", { v: 2 }),
    () => db.table("stamped").update(id, { text: "x" }, { v: 1 }),
    () => db.table("stamped").update(id, { text: "x" }, { version: 1 }),
    () => db.table("stamped").remove(id, { v: 1 }),
  ];
  const out = [];
  for (const f of tries) {
    try { await f(); out.push("written") } catch (e) { out.push(`${e.name}: ${e.message}`) }
  }
  return out;
}
export async function conditional(id) {
  const out = {};
  const rec = await db.table("stamped").update(id, { text: "b" }, { _v: 1 });
  out.updated = rec._v;
  try { await db.table("stamped").update(id, { text: "c" }, { _v: 1 }) } catch (e) { out.staleUpdate = e.code }
  try { await db.table("stamped").remove(id, { _v: 1 }) } catch (e) { out.staleRemove = e.code }
  try { await kv("stamps").remove("k", { _v: 1 }) } catch (e) { out.staleKvRemove = [e.code, e.details.current_v] }
  out.kvRemoved = await kv("stamps").remove("k", { _v: 2 });
  out.removed = await db.table("stamped").remove(id, { _v: rec._v });
  return out;
}
export async function failing() { throw new Error("always") }
"#;

/// One time format and one name for a data version, on the API and the host API: times
/// are RFC 3339 strings (module views, versions, logs, the outbox, key-value entries),
/// and a key-value entry's version is `_v` like a record's — the old option names are
/// refused, never read as unconditional writes.
async fn times_are_rfc3339_and_a_data_version_is_v(s: Server) {
    let api = Api::new(&s.base);
    let (alice, _) = api.login("mock:alice").await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let r = api.deploy("stamps",
        json!({"source": STAMPS, "access": "users", "exports": {"failing": {"access": "nobody"}}}),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let deployed = time(&r.body["deployed_at"]);
    assert!(
        (now - 60_000..now + 60_000).contains(&deployed),
        "deployed now: {}",
        r.text
    );
    let r = api
        .call("GET", "/v1/functions/stamps", Some(ADMIN_KEY), None)
        .await;
    assert_eq!(time(&r.body["deployed_at"]), deployed, "{}", r.text);
    let r = api
        .call("GET", "/v1/functions", Some(ADMIN_KEY), None)
        .await;
    assert_eq!(time(&r.body["items"][0]["deployed_at"]), deployed);
    let r = api
        .call(
            "GET",
            "/v1/functions/stamps/versions",
            Some(ADMIN_KEY),
            None,
        )
        .await;
    assert_eq!(
        (
            time(&r.body["items"][0]["deployed_at"]),
            &r.body["items"][0]["version"]
        ),
        (deployed, &json!(1)),
        "a module's deploy number stays `version`: {}",
        r.text
    );

    // Key-value entries in the host API: `_v`, RFC 3339 times, `current_v` on conflict.
    let r = api
        .call("PUT", "/v1/kv/stamps", Some(ADMIN_KEY), Some(json!({})))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let r = api
        .call_fn(Some(&alice), "stamps", "entries", json!([]))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let out = &r.body["result"];
    let (first, second) = (&out["first"], &out["second"]);
    assert_eq!(
        (&first["_v"], &second["_v"]),
        (&json!(1), &json!(2)),
        "{out}"
    );
    assert!(first.get("version").is_none(), "{out}");
    assert!(time(&first["updated_at"]) >= deployed);
    assert_eq!(time(&first["created_at"]), time(&second["created_at"]));
    assert!(
        time(&first["expires_at"]) > time(&first["updated_at"]),
        "a ttl entry's expiry: {out}"
    );
    assert_eq!(second["expires_at"], Value::Null, "rewritten without ttl");
    assert_eq!(
        out["stale"],
        json!({"code": "CONFLICT", "details": {"field": "_v", "current_v": 2}})
    );
    assert_eq!(out["listed"][0]["_v"], 2, "{out}");
    time(&out["listed"][0]["updated_at"]);

    // The old option names: refused before anything is written.
    let r = api
        .call("PUT", "/v1/tables/stamped", Some(ADMIN_KEY), Some(json!({"fields": [{"name": "text", "type": "string"}], "acl": {"record": "rwd:-:-"}})))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let r = api
        .call(
            "POST",
            "/v1/tables/stamped/records",
            Some(&alice),
            Some(json!({"text": "a"})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.body["_id"].as_str().unwrap().to_string();
    let r = api
        .call_fn(Some(&alice), "stamps", "oldNames", json!([id]))
        .await;
    let refused = json!("TypeError: the version option is _v (v and version were renamed)");
    assert_eq!(r.body["result"], json!(vec![refused; 6]), "{}", r.text);
    let r = api.call("GET", "/v1/kv/stamps/k", Some(&alice), None).await;
    assert_eq!((&r.body["value"], &r.body["_v"]), (&json!(2), &json!(2)));
    let r = api
        .call(
            "GET",
            &format!("/v1/tables/stamped/records/{id}"),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!((&r.body["text"], &r.body["_v"]), (&json!("a"), &json!(1)));

    // `_v` makes updates and removes conditional, for records and entries alike.
    let r = api
        .call_fn(Some(&alice), "stamps", "conditional", json!([id]))
        .await;
    assert_eq!(
        r.body["result"],
        json!({"updated": 2, "staleUpdate": "CONFLICT", "staleRemove": "CONFLICT",
            "staleKvRemove": ["CONFLICT", 2], "kvRemoved": {"deleted": true}, "removed": {"deleted": true}}),
        "{}",
        r.text
    );

    // Logs and the outbox.
    let r = api
        .call("GET", "/v1/functions/stamps/logs", Some(ADMIN_KEY), None)
        .await;
    let logs = r.body["items"].as_array().cloned().unwrap_or_default();
    assert!(logs.len() >= 3, "{}", r.text);
    for l in &logs {
        assert!(time(&l["at"]) >= deployed, "{l}");
        assert!(
            l["duration_ms"].is_number(),
            "a duration stays a number: {l}"
        );
    }
    let r = api
        .call(
            "PUT",
            "/v1/tables/hooked",
            Some(ADMIN_KEY),
            Some(json!({"fields": [{"name": "text", "type": "string"}],
            "acl": {"record": "rwd:-:-"}, "hooks": {"after_create": "stamps.failing"}})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    s.settle().await;
    let r = api
        .call(
            "POST",
            "/v1/tables/hooked/records",
            Some(&alice),
            Some(json!({"text": "a"})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let item = loop {
        let r = api
            .call("GET", "/v1/functions/outbox", Some(ADMIN_KEY), None)
            .await;
        let failed = r.body["items"].as_array().and_then(|a| {
            a.iter()
                .find(|i| i["attempts"].as_i64() >= Some(1))
                .cloned()
        });
        if let Some(i) = failed {
            break i;
        }
        assert!(tokio::time::Instant::now() < deadline, "{}", r.text);
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(time(&item["next_at"]) > deployed, "retried later: {item}");
}
