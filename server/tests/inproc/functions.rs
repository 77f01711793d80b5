//! Cloud functions: deploy, call with arguments under the caller's rights, errors.
//! They run in QuickJS worker processes (this package's `yunqiao` executable), as under
//! `yunqiao serve`; everything else is in-process.

use serde_json::{Value, json};

use crate::support::{ADMIN_KEY, App};

const NOTES: &str = r#"
import { db, context, FunctionError } from "yunqiao";
export async function add(a, b) { return a + b }
export async function main(data) { return { echo: data, kind: context.caller.kind } }
export async function write(text) { return db.table("notes").create({ text }) }
export async function staffOnly() { return "staff" }
export async function full() { throw new FunctionError("ROOM_FULL", "the room is full", 409, { max: 2 }) }
export async function broken() { return null.x }
"#;

async fn call(app: &App, token: Option<&str>, export: &str, args: Value) -> crate::support::Answer {
    app.call(
        "POST",
        &format!("/v1/fn/notes/{export}"),
        token,
        Some(json!({ "args": args })),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn modules_are_deployed_and_called_with_the_callers_rights() {
    let app = App::with_functions();
    app.put_table(
        "notes",
        json!({"fields": [{"name": "text", "type": "string"}], "acl": {"record": "rwd:r:r"}}),
    )
    .await;
    let (alice, a) = app.login("mock:alice").await;
    let body = json!({"source": NOTES, "exports": {"staffOnly": {"access": "group:staff"}, "main": {"access": "anyone"}}});
    let r = app
        .call(
            "PUT",
            "/v1/functions/notes",
            Some(&alice),
            Some(body.clone()),
        )
        .await;
    assert_eq!((r.status, r.code()), (403, "FORBIDDEN"));
    let r = app
        .call(
            "PUT",
            "/v1/functions/bad",
            Some(ADMIN_KEY),
            Some(json!({"source": "export async function f( {"})),
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (400, "FUNCTION_INVALID"),
        "{}",
        r.text
    );
    let r = app
        .call("PUT", "/v1/functions/notes", Some(ADMIN_KEY), Some(body))
        .await;
    assert!(r.status == 200 || r.status == 201, "{}", r.text);

    let r = call(&app, Some(&alice), "add", json!([2, 3])).await;
    assert_eq!(
        (r.status, &r.body["result"]),
        (200, &json!(5)),
        "{}",
        r.text
    );
    let r = app
        .call(
            "POST",
            "/v1/fn/notes",
            None,
            Some(json!({"data": {"x": 1}})),
        )
        .await;
    assert_eq!(r.status, 200, "main is open to anyone: {}", r.text);
    assert_eq!(
        r.body["result"],
        json!({"echo": {"x": 1}, "kind": "anonymous"})
    );
    let r = call(&app, None, "add", json!([1, 1])).await;
    assert_eq!(r.status, 401, "other exports need a user: {}", r.text);
    let r = call(&app, Some(&alice), "staffOnly", json!([])).await;
    assert_eq!((r.status, r.code()), (403, "FUNCTION_FORBIDDEN"));

    // A record written by a function is the caller's.
    let r = call(&app, Some(&alice), "write", json!(["from a function"])).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["result"]["_owner"], a["id"]);
    let path = format!(
        "/v1/tables/notes/records/{}",
        r.body["result"]["_id"].as_str().unwrap()
    );
    assert_eq!(
        app.call("GET", &path, Some(ADMIN_KEY), None).await.body["text"],
        "from a function"
    );

    let r = call(&app, Some(&alice), "full", json!([])).await;
    assert_eq!((r.status, r.code()), (409, "ROOM_FULL"), "{}", r.text);
    assert_eq!(r.body["error"]["details"], json!({"max": 2}));
    let r = call(&app, Some(&alice), "broken", json!([])).await;
    assert_eq!((r.status, r.code()), (500, "FUNCTION_FAILED"), "{}", r.text);
    let r = call(&app, Some(&alice), "nope", json!([])).await;
    assert_eq!((r.status, r.code()), (404, "NOT_FOUND"), "{}", r.text);
}
