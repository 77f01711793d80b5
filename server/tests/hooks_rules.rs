//! A table's rules are judged before its before-hooks run, on every face and every write
//! path (single writes, batches): a write refused by the create rule, the record's or a
//! field's rights, or the batch's size runs no hook. The hooks here write a row to
//! another table as admin, so a hook that ran leaves a trace even when the write it
//! guarded is refused.

mod common;

use common::{ADMIN_KEY, Answer, Api, Server};
use serde_json::{Value, json};

on_every_face!(refused_writes_run_no_hook);

const GUARD: &str = r#"
import { db } from "yunqiao";
async function trace(what) { await db.admin().table("trail").create({ what }) }
export async function beforeCreate(e) { await trace("create"); return e.data }
export async function beforeUpdate(e) { await trace("update"); return e.data }
export async function beforeDelete(e) { await trace("delete") }
"#;

/// A write that must be refused: method, path, token, body, status, code.
type Refusal<'a> = (&'a str, String, Option<&'a str>, Value, u16, &'a str);

async fn admin(api: &Api, method: &str, path: &str, body: Value) -> Answer {
    let r = api.call(method, path, Some(ADMIN_KEY), Some(body)).await;
    assert!(r.status < 300, "{method} {path}: {}", r.text);
    r
}

/// What the hooks have written so far.
async fn traces(api: &Api) -> Vec<String> {
    let r = admin(api, "POST", "/v1/tables/trail/query", json!({"limit": 100})).await;
    let mut out: Vec<String> = r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["what"].as_str().unwrap_or("").to_string())
        .collect();
    out.sort();
    out
}

async fn count(api: &Api, table: &str) -> usize {
    let path = format!("/v1/tables/{table}/query");
    let r = admin(api, "POST", &path, json!({"limit": 100})).await;
    r.body["items"].as_array().unwrap().len()
}

async fn refused_writes_run_no_hook(s: Server) {
    let api = Api::new(&s.base);
    let (alice, _) = api.login("mock:alice").await;
    let (bob, _) = api.login("mock:bob").await;
    admin(
        &api,
        "PUT",
        "/v1/functions/guard",
        json!({"source": GUARD, "access": "nobody"}),
    )
    .await;
    admin(
        &api,
        "PUT",
        "/v1/tables/trail",
        json!({"fields": [{"name": "what", "type": "string"}], "acl": {"record": "rwd:-:-"}}),
    )
    .await;
    admin(
        &api,
        "PUT",
        "/v1/tables/guarded",
        json!({
            "fields": [{"name": "title", "type": "string"},
                       {"name": "stamp", "type": "string", "acl": "r:r:r"}],
            "acl": {"record": "rwd:r:r", "create": "users"},
            "hooks": {"before_create": "guard.beforeCreate", "before_update": "guard.beforeUpdate",
                      "before_delete": "guard.beforeDelete"},
        }),
    )
    .await;
    s.settle().await;

    // The hook runs for a write the rules allow: its trace is how the rest can tell.
    let r = api
        .call(
            "POST",
            "/v1/tables/guarded/records",
            Some(&alice),
            Some(json!({"title": "mine"})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.body["_id"].as_str().unwrap().to_string();
    assert_eq!(traces(&api).await, ["create"]);
    let rec = format!("/v1/tables/guarded/records/{id}");

    let create = json!({"title": "anon"});
    let refusals: Vec<Refusal> = vec![
        // An anonymous create in a `create: users` table.
        (
            "POST",
            "/v1/tables/guarded/records".into(),
            None,
            create.clone(),
            401,
            "UNAUTHENTICATED",
        ),
        (
            "POST",
            "/v1/batch".into(),
            None,
            json!({"ops": [{"op": "create", "table": "guarded", "data": create}]}),
            401,
            "UNAUTHENTICATED",
        ),
        // A field nobody but admins may write.
        (
            "POST",
            "/v1/tables/guarded/records".into(),
            Some(&alice),
            json!({"title": "x", "stamp": "forged"}),
            403,
            "FORBIDDEN",
        ),
        (
            "PATCH",
            rec.clone(),
            Some(&alice),
            json!({"stamp": "forged"}),
            403,
            "FORBIDDEN",
        ),
        // Bob may read Alice's record but not change or delete it.
        (
            "PATCH",
            rec.clone(),
            Some(&bob),
            json!({"title": "bob's now"}),
            403,
            "FORBIDDEN",
        ),
        (
            "DELETE",
            rec.clone(),
            Some(&bob),
            Value::Null,
            403,
            "FORBIDDEN",
        ),
        (
            "POST",
            "/v1/batch".into(),
            Some(&bob),
            json!({"ops": [{"op": "update", "table": "guarded", "id": id, "data": {"title": "b"}}]}),
            403,
            "FORBIDDEN",
        ),
        (
            "POST",
            "/v1/batch".into(),
            Some(&bob),
            json!({"ops": [{"op": "delete", "table": "guarded", "id": id}]}),
            403,
            "FORBIDDEN",
        ),
        // A later operation the caller may not do refuses the batch before the earlier
        // operations' hooks run.
        (
            "POST",
            "/v1/batch".into(),
            Some(&bob),
            json!({"ops": [{"op": "create", "table": "guarded", "data": {"title": "ok"}},
                           {"op": "delete", "table": "guarded", "id": id}]}),
            403,
            "FORBIDDEN",
        ),
        // A record named twice.
        (
            "POST",
            "/v1/batch".into(),
            Some(&alice),
            json!({"ops": [{"op": "update", "table": "guarded", "id": id, "data": {"title": "1"}},
                           {"op": "update", "table": "guarded", "id": id, "data": {"title": "2"}}]}),
            400,
            "INVALID_ARGUMENT",
        ),
        // More store writes than one transaction holds (each create is at least a
        // record, an index entry and counters), with fewer operations than the limit.
        (
            "POST",
            "/v1/batch".into(),
            Some(&alice),
            json!({"ops": (0..60)
                .map(|i| json!({"op": "create", "table": "guarded", "data": {"title": format!("t{i}")}}))
                .collect::<Vec<_>>()}),
            400,
            "BATCH_TOO_LARGE",
        ),
    ];
    for (method, path, token, body, status, code) in refusals {
        let body = (!body.is_null()).then_some(body.clone());
        let r = api.call(method, &path, token, body.clone()).await;
        assert_eq!(
            (r.status, r.code()),
            (status, code),
            "{method} {path} {body:?}: {}",
            r.text
        );
        assert_eq!(
            traces(&api).await,
            ["create"],
            "{method} {path} {body:?} ran a hook"
        );
    }
    assert_eq!(count(&api, "guarded").await, 1, "a refused write was made");

    // The rules still hold after the hooks: allowed writes run them and land.
    let r = api
        .call("PATCH", &rec, Some(&alice), Some(json!({"title": "new"})))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = api.call("DELETE", &rec, Some(&alice), None).await;
    assert_eq!(r.status, 204, "{}", r.text);
    assert_eq!(traces(&api).await, ["create", "delete", "update"]);
}
