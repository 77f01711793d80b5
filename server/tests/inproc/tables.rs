//! Tables: definitions, record CRUD, queries with conditions and order, batches, and the
//! rules refusing another user.

use serde_json::{Value, json};

use crate::support::{ADMIN_KEY, App};

async fn create(app: &App, token: &str, table: &str, data: Value) -> Value {
    let r = app
        .call(
            "POST",
            &format!("/v1/tables/{table}/records"),
            Some(token),
            Some(data),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    r.body
}

async fn query(app: &App, token: Option<&str>, table: &str, q: Value) -> crate::support::Answer {
    app.call("POST", &format!("/v1/tables/{table}/query"), token, Some(q))
        .await
}

async fn total(app: &App, table: &str) -> u64 {
    let r = query(
        app,
        Some(ADMIN_KEY),
        table,
        json!({"count": true, "limit": 1}),
    )
    .await;
    r.body["total"].as_u64().expect("a count")
}

#[tokio::test]
async fn definitions_are_admin_only_and_changes_are_safe() {
    let app = App::memory();
    let (alice, _) = app.login("mock:alice").await;
    let def = json!({"fields": [{"name": "title", "type": "string", "required": true}], "acl": {"record": "rwd:r:r"}});
    let r = app
        .call("PUT", "/v1/tables/posts", None, Some(def.clone()))
        .await;
    assert_eq!((r.status, r.code()), (401, "UNAUTHENTICATED"));
    let r = app
        .call("PUT", "/v1/tables/posts", Some(&alice), Some(def.clone()))
        .await;
    assert_eq!((r.status, r.code()), (403, "FORBIDDEN"));
    let r = app
        .call(
            "PUT",
            "/v1/tables/posts",
            Some(ADMIN_KEY),
            Some(def.clone()),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["acl"]["create"], "users", "defaults are filled in");
    let r = app
        .call("PUT", "/v1/tables/posts", Some(ADMIN_KEY), Some(def))
        .await;
    assert_eq!(r.status, 200, "the same definition again");
    let r = app
        .call(
            "PUT",
            "/v1/tables/posts",
            Some(ADMIN_KEY),
            Some(json!({"fields": []})),
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (400, "INVALID_ARGUMENT"),
        "dropping needs the flag"
    );
    assert_eq!(r.body["error"]["details"]["field"], "title");
    let r = app
        .call(
            "PUT",
            "/v1/tables/posts",
            Some(ADMIN_KEY),
            Some(json!({"fields": [{"name": "title", "type": "integer"}]})),
        )
        .await;
    assert_eq!(r.status, 400, "types do not change");
    let r = app
        .call(
            "PUT",
            "/v1/tables/posts?drop=true",
            Some(ADMIN_KEY),
            Some(json!({"fields": []})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = app.call("GET", "/v1/tables", Some(ADMIN_KEY), None).await;
    assert_eq!(r.body["items"].as_array().unwrap().len(), 1);
    let r = app.call("GET", "/v1/tables/nope", None, None).await;
    assert_eq!((r.status, r.code()), (404, "NOT_FOUND"));
}

#[tokio::test]
async fn records_are_created_read_updated_and_deleted_under_the_rules() {
    let app = App::embedded();
    app.put_table(
        "notes",
        json!({"fields": [
            {"name": "title", "type": "string", "required": true, "length": 20},
            {"name": "likes", "type": "integer", "default": 0}
        ], "acl": {"record": "rwd:r:r"}}),
    )
    .await;
    let (alice, a) = app.login("mock:alice").await;
    let (bob, _) = app.login("mock:bob").await;
    let r = app
        .call(
            "POST",
            "/v1/tables/notes/records",
            None,
            Some(json!({"title": "x"})),
        )
        .await;
    assert_eq!((r.status, r.code()), (401, "UNAUTHENTICATED"));
    let rec = create(&app, &alice, "notes", json!({"title": "hello"})).await;
    assert_eq!(
        (
            rec["_owner"].clone(),
            rec["likes"].clone(),
            rec["_v"].clone()
        ),
        (a["id"].clone(), json!(0), json!(1))
    );
    assert_eq!(
        rec["_created"], "2027-01-15T08:00:00.000Z",
        "the manual clock's time"
    );
    let path = format!("/v1/tables/notes/records/{}", rec["_id"].as_str().unwrap());

    let r = app.call("GET", &path, Some(&bob), None).await;
    assert_eq!(
        (r.status, r.body["title"].clone()),
        (200, json!("hello")),
        "others read"
    );
    let r = app
        .call("PATCH", &path, Some(&bob), Some(json!({"title": "mine"})))
        .await;
    assert_eq!((r.status, r.code()), (403, "FORBIDDEN"), "but do not write");
    let r = app.call("DELETE", &path, Some(&bob), None).await;
    assert_eq!((r.status, r.code()), (403, "FORBIDDEN"), "nor delete");

    app.clock.advance_ms(5_000);
    let r = app
        .call(
            "PATCH",
            &path,
            Some(&alice),
            Some(json!({"title": "edited", "likes": {"$inc": 2}})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        (
            r.body["title"].clone(),
            r.body["likes"].clone(),
            r.body["_v"].clone()
        ),
        (json!("edited"), json!(2), json!(2))
    );
    assert_eq!(r.body["_updated"], "2027-01-15T08:00:05.000Z");
    let r = app
        .call(
            "PATCH",
            &path,
            Some(&alice),
            Some(json!({"title": "late", "_v": 1})),
        )
        .await;
    assert_eq!((r.status, r.code()), (409, "CONFLICT"), "a stale version");
    let r = app
        .send(
            "PATCH",
            &path,
            Some(&alice),
            &[("if-match", "1")],
            Some(json!({"title": "late"})),
        )
        .await;
    assert_eq!(r.status, 409, "a stale If-Match");
    for (b, field) in [
        (json!({"title": "x".repeat(21)}), "title"),
        (json!({"likes": "many"}), "likes"),
        (json!({"_owner": "me"}), "_owner"),
        (json!({"nope": 1}), "nope"),
    ] {
        let r = app
            .call("PATCH", &path, Some(&alice), Some(b.clone()))
            .await;
        assert_eq!(r.status, 400, "{b}: {}", r.text);
        assert_eq!(r.body["error"]["details"]["field"], field, "{b}");
    }
    let r = app.call("DELETE", &path, Some(&alice), None).await;
    assert_eq!(r.status, 204, "{}", r.text);
    let r = app.call("GET", &path, Some(&alice), None).await;
    assert_eq!((r.status, r.code()), (404, "NOT_FOUND"));
}

#[tokio::test]
async fn queries_filter_order_count_and_page() {
    let app = App::memory();
    app.put_table(
        "posts",
        json!({"fields": [
            {"name": "status", "type": "string", "index": true},
            {"name": "score", "type": "integer", "index": true}
        ], "acl": {"record": "rwd:r:r"}}),
    )
    .await;
    let (alice, _) = app.login("mock:alice").await;
    for i in 0..12 {
        let status = if i % 3 == 0 { "closed" } else { "open" };
        create(&app, &alice, "posts", json!({"status": status, "score": i})).await;
    }
    let r = query(&app, Some(&alice), "posts", json!({"where": [["score", "gte", 3], ["score", "lt", 7]], "order": [["score", "desc"]], "limit": 100})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let scores: Vec<i64> = r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["score"].as_i64().unwrap())
        .collect();
    assert_eq!(scores, [6, 5, 4, 3]);
    let r = query(
        &app,
        Some(&alice),
        "posts",
        json!({"count": true, "where": [["status", "eq", "open"]], "limit": 1}),
    )
    .await;
    assert_eq!(r.body["total"], 8, "{}", r.text);
    // Paging by cursor gives every row once, in order.
    let mut seen = Vec::new();
    let mut q =
        json!({"where": [["status", "eq", "open"]], "order": [["score", "asc"]], "limit": 3});
    loop {
        let r = query(&app, None, "posts", q.clone()).await;
        assert_eq!(r.status, 200, "{}", r.text);
        seen.extend(
            r.body["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x["score"].as_i64().unwrap()),
        );
        match r.body["cursor"].as_str() {
            Some(c) => q["cursor"] = json!(c),
            None => break,
        }
    }
    assert_eq!(seen, [1, 2, 4, 5, 7, 8, 10, 11]);
    for (q, code) in [
        (json!({"where": [["nope", "eq", 1]]}), "INVALID_QUERY"),
        (json!({"where": [["score", "like", 1]]}), "INVALID_QUERY"),
        (json!({"order": [["score", "sideways"]]}), "INVALID_QUERY"),
        (json!({"where": "score = 1"}), "INVALID_BODY"),
    ] {
        let r = query(&app, Some(&alice), "posts", q.clone()).await;
        assert_eq!((r.status, r.code()), (400, code), "{q}: {}", r.text);
    }
}

#[tokio::test]
async fn batches_are_all_or_nothing() {
    let app = App::memory();
    app.put_table("orders", json!({"fields": [{"name": "no", "type": "string", "unique": true}, {"name": "qty", "type": "integer", "min": 0}], "acl": {"record": "rwd:r:-"}})).await;
    app.put_table("stock", json!({"fields": [{"name": "sku", "type": "string", "unique": true}, {"name": "left", "type": "integer", "min": 0}], "acl": {"record": "rwd:r:r", "create": "admins"}})).await;
    let (alice, _) = app.login("mock:alice").await;
    let (bob, _) = app.login("mock:bob").await;
    let item = create(&app, ADMIN_KEY, "stock", json!({"sku": "tea", "left": 5})).await;
    let sid = item["_id"].as_str().unwrap();
    let ops = json!({"ops": [
        {"op": "create", "table": "orders", "data": {"no": "o1", "qty": 2}},
        {"op": "update", "table": "stock", "id": sid, "data": {"left": 3}, "_v": 1}
    ]});
    let r = app
        .call("POST", "/v1/batch", Some(&bob), Some(ops.clone()))
        .await;
    assert_eq!((r.status, r.code()), (403, "FORBIDDEN"), "{}", r.text);
    assert_eq!(r.body["error"]["details"]["op"], 1);
    assert_eq!(
        total(&app, "orders").await,
        0,
        "nothing of a refused batch happens"
    );
    let r = app
        .call("POST", "/v1/batch", Some(ADMIN_KEY), Some(ops))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["results"][1]["left"], 3);
    let r = app
        .call(
            "POST",
            "/v1/batch",
            Some(&alice),
            Some(json!({"ops": [
                {"op": "create", "table": "orders", "data": {"no": "o3", "qty": 1}},
                {"op": "create", "table": "orders", "data": {"no": "o1", "qty": 1}}
            ]})),
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (409, "UNIQUE_VIOLATION"),
        "{}",
        r.text
    );
    assert_eq!(r.body["error"]["details"]["op"], 1);
    let r = app
        .call(
            "POST",
            "/v1/batch",
            Some(ADMIN_KEY),
            Some(json!({"ops": [
                {"op": "create", "table": "orders", "data": {"no": "o2", "qty": 1}},
                {"op": "update", "table": "stock", "id": sid, "data": {"left": 2}, "_v": 1}
            ]})),
        )
        .await;
    assert_eq!((r.status, r.code()), (409, "CONFLICT"), "a stale version");
    assert_eq!(total(&app, "orders").await, 1);
    let r = app
        .call("POST", "/v1/batch", Some(&alice), Some(json!({"ops": []})))
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
}
