//! Queries, indexes, unique fields, counts, paging, expand and batches over HTTP — each
//! test runs against the embedded store and against DynamoDB (moto).

mod common;

use common::{ADMIN_KEY, Answer, Api, Server};
use serde_json::{Value, json};

on_every_face!(
    indexed_queries_read_only_what_they_return,
    cursors_are_signed_and_pages_cover_everything,
    operators_any_fields_and_bad_queries,
    unindexed_queries_on_big_tables_are_refused,
    unique_fields_hold_under_racing_creates,
    concurrent_increments_and_stale_versions,
    batches_are_all_or_nothing,
    schema_changes_backfill_indexes_defaults_and_drops,
    array_operators,
);

async fn put_table(api: &Api, name: &str, def: Value) {
    let r = api
        .call(
            "PUT",
            &format!("/v1/tables/{name}"),
            Some(ADMIN_KEY),
            Some(def),
        )
        .await;
    assert!(r.status == 201 || r.status == 200, "{}", r.text);
}

async fn create(api: &Api, token: &str, table: &str, data: Value) -> Value {
    let r = api
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

async fn query(api: &Api, token: Option<&str>, table: &str, q: Value) -> Answer {
    api.call("POST", &format!("/v1/tables/{table}/query"), token, Some(q))
        .await
}

fn ids(a: &Answer) -> Vec<String> {
    a.body["items"]
        .as_array()
        .unwrap_or(&vec![])
        .iter()
        .map(|i| i["_id"].as_str().unwrap().to_string())
        .collect()
}

/// Creates many records quickly through batches, with the admin key.
async fn bulk(api: &Api, table: &str, rows: Vec<Value>, per_batch: usize) -> Vec<String> {
    api.create_many(ADMIN_KEY, table, &rows, per_batch).await
}

fn posts_def() -> Value {
    json!({
        "fields": [
            {"name": "title", "type": "string", "index": true},
            {"name": "status", "type": "string", "index": true},
            {"name": "score", "type": "integer", "index": true},
            {"name": "price", "type": "number"},
            {"name": "at", "type": "datetime", "index": true},
            {"name": "meta", "type": "json"},
            {"name": "body", "type": "text"}
        ],
        "acl": {"record": "rwd:r:r", "create": "users"}
    })
}

async fn seed_posts(api: &Api) -> Vec<String> {
    put_table(api, "posts", posts_def()).await;
    let rows = (0..30)
        .map(|i| {
            json!({
                "title": format!("post {i:02}"),
                "status": if i % 3 == 0 { "open" } else { "closed" },
                "score": (i * 7) % 31,
                "price": i as f64 / 4.0,
                "at": format!("2026-11-{:02}T08:00:00+08:00", 1 + i % 28),
                "meta": {"color": if i % 2 == 0 { "red" } else { "blue" }, "tags": [format!("t{}", i % 5)]},
                "body": format!("body of post {i}")
            })
        })
        .collect();
    bulk(api, "posts", rows, 8).await
}

async fn indexed_queries_read_only_what_they_return(s: Server) {
    let api = Api::new(&s.base);
    let all = seed_posts(&api).await;
    let (alice, _) = api.login("mock:alice").await;

    // Equality + newest first: the status index, backwards.
    let r = query(
        &api,
        Some(&alice),
        "posts",
        json!({"where": [["status", "eq", "open"]], "order": [["_id", "desc"]], "limit": 4}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    // Ids sort by creation time (to the millisecond; a batch shares one).
    let mut want: Vec<String> = all
        .iter()
        .enumerate()
        .filter(|(i, _)| i % 3 == 0)
        .map(|(_, id)| id.clone())
        .collect();
    want.sort();
    let want: Vec<String> = want.into_iter().rev().take(4).collect();
    assert_eq!(ids(&r), want);
    assert_eq!(
        r.body["scanned"], 4,
        "reads only what it returns: {}",
        r.text
    );
    assert!(r.body["cursor"].is_string());

    // Range + order on one index.
    let r = query(&api, Some(&alice), "posts", json!({"where": [["score", "gte", 10], ["score", "lt", 20]], "order": [["score", "desc"]], "limit": 100})).await;
    let scores: Vec<i64> = r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["score"].as_i64().unwrap())
        .collect();
    let mut want: Vec<i64> = (0..30)
        .map(|i| (i * 7) % 31)
        .filter(|s| (10..20).contains(s))
        .collect();
    want.sort_by(|a, b| b.cmp(a));
    assert_eq!(scores, want);
    assert_eq!(r.body["scanned"], want.len());
    assert!(r.body["cursor"].is_null(), "no cursor when nothing follows");

    // Date-times compare as instants whatever their offset.
    let r = query(&api, Some(&alice), "posts", json!({"where": [["at", "lt", "2026-11-03T00:00:00Z"]], "order": [["at", "asc"]], "limit": 100})).await;
    let ats: Vec<&str> = r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["at"].as_str().unwrap())
        .collect();
    assert_eq!(ats.len(), 4, "{}", r.text);
    assert!(ats.windows(2).all(|w| w[0] <= w[1]));
    assert_eq!(ats[0], "2026-11-01T00:00:00.000Z");

    // Maintained counts: whole table and one indexed equality.
    let r = query(
        &api,
        Some(&alice),
        "posts",
        json!({"count": true, "limit": 1}),
    )
    .await;
    assert_eq!(r.body["total"], 30, "{}", r.text);
    let r = query(
        &api,
        Some(&alice),
        "posts",
        json!({"count": true, "where": [["status", "eq", "open"]], "limit": 1}),
    )
    .await;
    assert_eq!(r.body["total"], 10);
    let r = query(
        &api,
        Some(&alice),
        "posts",
        json!({"count": true, "where": [["price", "gt", 1]]}),
    )
    .await;
    assert_eq!((r.status, r.code()), (400, "COUNT_UNAVAILABLE"));

    // Page numbers on top of the same reads.
    let r = query(
        &api,
        None,
        "posts",
        json!({"page": 2, "per_page": 7, "order": [["_id", "asc"]]}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let mut sorted = all.clone();
    sorted.sort();
    assert_eq!(ids(&r), sorted[7..14].to_vec());
    assert_eq!(
        (r.body["total"].clone(), r.body["last_page"].clone()),
        (json!(30), json!(5))
    );
    let r = query(&api, None, "posts", json!({"page": 0})).await;
    assert_eq!((r.status, r.code()), (400, "INVALID_QUERY"));
    let r = query(&api, None, "posts", json!({"page": 1, "cursor": "x"})).await;
    assert_eq!((r.status, r.code()), (400, "INVALID_QUERY"));

    // Ordering needs an index.
    let r = query(
        &api,
        Some(&alice),
        "posts",
        json!({"order": [["price", "asc"]]}),
    )
    .await;
    assert_eq!((r.status, r.code()), (400, "INDEX_REQUIRED"));
    assert_eq!(r.body["error"]["details"]["field"], "price");
}

async fn cursors_are_signed_and_pages_cover_everything(s: Server) {
    let api = Api::new(&s.base);
    let all = seed_posts(&api).await;
    let q = json!({"where": [["status", "eq", "closed"]], "order": [["_id", "asc"]], "limit": 6});
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..10 {
        let mut body = q.clone();
        if let Some(c) = &cursor {
            body["cursor"] = json!(c);
        }
        let r = query(&api, None, "posts", body).await;
        assert_eq!(r.status, 200, "{}", r.text);
        seen.extend(ids(&r));
        match r.body["cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    let mut want: Vec<String> = all
        .iter()
        .enumerate()
        .filter(|(i, _)| i % 3 != 0)
        .map(|(_, id)| id.clone())
        .collect();
    want.sort();
    assert_eq!(seen, want, "every row once, in order");

    let r = query(&api, None, "posts", q.clone()).await;
    let c = r.body["cursor"].as_str().unwrap().to_string();
    // Tampered, truncated, extended and garbage cursors.
    let mut tampered = c.clone().into_bytes();
    let mid = tampered.len() / 2;
    tampered[mid] = if tampered[mid] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    for bad in [
        tampered,
        c[..c.len() - 4].to_string(),
        format!("{c}AAAA"),
        "garbage".to_string(),
    ] {
        let mut b = q.clone();
        b["cursor"] = json!(bad);
        let r = query(&api, None, "posts", b).await;
        assert_eq!((r.status, r.code()), (400, "INVALID_CURSOR"), "{bad}");
    }
    let mut other =
        json!({"where": [["status", "eq", "open"]], "order": [["_id", "asc"]], "limit": 6});
    other["cursor"] = json!(c);
    let r = query(&api, None, "posts", other).await;
    assert_eq!(
        (r.status, r.code()),
        (400, "INVALID_CURSOR"),
        "a cursor is bound to its query"
    );
}

async fn operators_any_fields_and_bad_queries(s: Server) {
    let api = Api::new(&s.base);
    seed_posts(&api).await;
    let count = |r: &Answer| r.body["items"].as_array().map_or(0, Vec::len);
    let q = |w: Value| json!({"where": w, "limit": 100});
    let cases = [
        (json!([["score", "in", [0, 7, 14]]]), 3),
        (json!([["score", "nin", [0, 7, 14]]]), 27),
        (json!([["title", "prefix", "post 1"]]), 10),
        (json!([["body", "contains", "post 2"]]), 11),
        (json!([["meta.color", "eq", "red"]]), 15),
        (json!([["meta.tags", "contains", "t1"]]), 6),
        (json!([["meta.size", "exists", false]]), 30),
        (json!([["status", "ne", "open"]]), 20),
        (json!([["price", "gte", 2.5], ["price", "lte", 3]]), 3),
        (
            json!([["status", "eq", "open"], ["meta.color", "eq", "red"]]),
            5,
        ),
    ];
    for (w, n) in cases {
        let r = query(&api, None, "posts", q(w.clone())).await;
        assert_eq!((r.status, count(&r)), (200, n), "{w}: {}", r.text);
    }
    // any: at least one list holds (XpmJS orWhere).
    let r = query(
        &api,
        None,
        "posts",
        json!({"any": [[["score", "eq", 0]], [["title", "eq", "post 01"]]], "limit": 100}),
    )
    .await;
    assert_eq!(count(&r), 2, "{}", r.text);
    // fields: only these (and _id).
    let r = query(
        &api,
        None,
        "posts",
        json!({"fields": ["title"], "limit": 1}),
    )
    .await;
    let item = r.body["items"][0].as_object().unwrap();
    let mut keys: Vec<&str> = item.keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(keys, ["_id", "title"]);
    // Malformed queries: 4xx with stable codes, never a 5xx.
    for (body, code) in [
        (json!({"where": [["nope", "eq", 1]]}), "INVALID_QUERY"),
        (json!({"where": [["score", "like", 1]]}), "INVALID_QUERY"),
        (json!({"where": [["score", "eq", "high"]]}), "INVALID_QUERY"),
        (json!({"where": [["score", "in", "x"]]}), "INVALID_QUERY"),
        (json!({"where": "score = 1"}), "INVALID_BODY"),
        (
            json!({"where": [["at", "gt", "yesterday"]]}),
            "INVALID_QUERY",
        ),
        (json!({"order": [["score", "sideways"]]}), "INVALID_QUERY"),
        (json!({"limit": 0}), "INVALID_QUERY"),
        (json!({"limit": 1000}), "INVALID_QUERY"),
        (json!({"fields": ["nope"]}), "INVALID_QUERY"),
        (json!({"expand": ["title"]}), "INVALID_QUERY"),
        (json!({"cursor": 5}), "INVALID_BODY"),
        (json!({"select": "*"}), "UNKNOWN_FIELD"),
    ] {
        let r = query(&api, None, "posts", body.clone()).await;
        assert_eq!((r.status, r.code()), (400, code), "{body}: {}", r.text);
    }
    let r = query(&api, None, "nope", json!({})).await;
    assert_eq!(r.status, 404);
}

async fn unindexed_queries_on_big_tables_are_refused(s: Server) {
    let api = Api::new(&s.base);
    put_table(&api, "logs", json!({"fields": [{"name": "n", "type": "integer"}, {"name": "k", "type": "string", "index": true}], "acl": {"record": "r:r:r"}})).await;
    // Just past the scan limit (small on the emulator faces, so the fixture is too).
    let total = s.scan_limit + 5;
    let rows: Vec<Value> = (0..total)
        .map(|i| json!({"n": i, "k": format!("k{}", i % 10)}))
        .collect();
    bulk(&api, "logs", rows, 25).await;
    let k3 = (0..total).filter(|i| i % 10 == 3).count();
    let k3_high = (0..total)
        .filter(|i| i % 10 == 3 && *i >= total / 2)
        .count();
    let r = query(&api, None, "logs", json!({"where": [["n", "eq", 5]]})).await;
    assert_eq!((r.status, r.code()), (400, "INDEX_REQUIRED"), "{}", r.text);
    assert_eq!(
        r.body["error"]["details"]["field"], "n",
        "names the index to add"
    );
    // Narrowed by an index, the rest is a bounded scan that reports its size.
    let r = query(
        &api,
        None,
        "logs",
        json!({"where": [["k", "eq", "k3"], ["n", "gte", total / 2]], "limit": 100}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["items"].as_array().unwrap().len(), k3_high);
    assert_eq!(r.body["scanned"], k3, "the k3 entries, and nothing else");
    // Listing needs no index.
    let r = query(&api, None, "logs", json!({"limit": 5, "count": true})).await;
    assert_eq!((r.status, r.body["total"].clone()), (200, json!(total)));
    assert_eq!(r.body["scanned"], 5);
}

async fn unique_fields_hold_under_racing_creates(s: Server) {
    let api = Api::new(&s.base);
    put_table(&api, "members", json!({"fields": [{"name": "email", "type": "string", "unique": true}, {"name": "nick", "type": "string"}], "acl": {"record": "rwd:r:r"}})).await;
    let (alice, _) = api.login("mock:alice").await;
    let racers = (0..12).map(|i| {
        let api = api.clone();
        let t = alice.clone();
        async move {
            api.call(
                "POST",
                "/v1/tables/members/records",
                Some(&t),
                Some(json!({"email": "a@x.cn", "nick": format!("n{i}")})),
            )
            .await
        }
    });
    let answers = futures_join(racers).await;
    let won: Vec<&Answer> = answers.iter().filter(|a| a.status == 201).collect();
    assert_eq!(won.len(), 1, "exactly one racing create wins");
    for a in answers.iter().filter(|a| a.status != 201) {
        assert_eq!(
            (a.status, a.code()),
            (409, "UNIQUE_VIOLATION"),
            "{}",
            a.text
        );
        assert_eq!(a.body["error"]["details"]["field"], "email");
    }
    let first = won[0].body["_id"].as_str().unwrap().to_string();
    let second = create(&api, &alice, "members", json!({"email": "b@x.cn"})).await;
    let second = second["_id"].as_str().unwrap();
    let path = format!("/v1/tables/members/records/{second}");
    let r = api
        .call(
            "PATCH",
            &path,
            Some(&alice),
            Some(json!({"email": "a@x.cn"})),
        )
        .await;
    assert_eq!((r.status, r.code()), (409, "UNIQUE_VIOLATION"));
    // Changing a value frees the old one; deleting frees it too.
    let r = api
        .call(
            "PATCH",
            &format!("/v1/tables/members/records/{first}"),
            Some(&alice),
            Some(json!({"email": "c@x.cn"})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = api
        .call(
            "PATCH",
            &path,
            Some(&alice),
            Some(json!({"email": "a@x.cn"})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = api.call("DELETE", &path, Some(&alice), None).await;
    assert_eq!(r.status, 204);
    create(&api, &alice, "members", json!({"email": "a@x.cn"})).await;
    let r = query(
        &api,
        None,
        "members",
        json!({"where": [["email", "eq", "a@x.cn"]]}),
    )
    .await;
    assert_eq!(r.body["items"].as_array().unwrap().len(), 1);
}

async fn futures_join<F: std::future::Future<Output = Answer> + Send + 'static>(
    fs: impl Iterator<Item = F>,
) -> Vec<Answer> {
    let handles: Vec<_> = fs.map(tokio::spawn).collect();
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}

async fn concurrent_increments_and_stale_versions(s: Server) {
    let api = Api::new(&s.base);
    put_table(
        &api,
        "counters",
        json!({"fields": [
        {"name": "hits", "type": "integer", "min": 0},
        {"name": "rank", "type": "integer", "index": true},
        {"name": "label", "type": "string"}
    ], "acl": {"record": "rwd:rw:rw", "create": "users"}}),
    )
    .await;
    let (alice, _) = api.login("mock:alice").await;
    let rec = create(&api, &alice, "counters", json!({"hits": 0, "rank": 0})).await;
    let id = rec["_id"].as_str().unwrap().to_string();
    let path = format!("/v1/tables/counters/records/{id}");
    let incs = (0..100).map(|_| {
        let api = api.clone();
        let (t, p) = (alice.clone(), path.clone());
        async move {
            api.call("PATCH", &p, Some(&t), Some(json!({"hits": {"$inc": 1}})))
                .await
        }
    });
    for a in futures_join(incs).await {
        assert_eq!(a.status, 200, "{}", a.text);
    }
    // An indexed field is read-modify-write with retries: still exact.
    let incs = (0..20).map(|_| {
        let api = api.clone();
        let (t, p) = (alice.clone(), path.clone());
        async move {
            api.call("PATCH", &p, Some(&t), Some(json!({"rank": {"$inc": 1}})))
                .await
        }
    });
    for a in futures_join(incs).await {
        assert_eq!(a.status, 200, "{}", a.text);
    }
    let r = api.call("GET", &path, Some(&alice), None).await;
    assert_eq!(r.body["hits"], 100);
    assert_eq!(r.body["rank"], 20);
    assert_eq!(r.body["_v"], 121);
    let r = query(
        &api,
        Some(&alice),
        "counters",
        json!({"where": [["rank", "eq", 20]], "count": true}),
    )
    .await;
    assert_eq!(
        (ids(&r), r.body["total"].clone()),
        (vec![id.clone()], json!(1)),
        "the index followed"
    );
    // Bounds hold for increments too.
    let r = api
        .call(
            "PATCH",
            &path,
            Some(&alice),
            Some(json!({"hits": {"$inc": -101}})),
        )
        .await;
    assert_eq!(
        (r.status, r.body["error"]["details"]["field"].clone()),
        (400, json!("hits")),
        "{}",
        r.text
    );
    // Stale versions.
    let r = api
        .call(
            "PATCH",
            &path,
            Some(&alice),
            Some(json!({"label": "x", "_v": 3})),
        )
        .await;
    assert_eq!((r.status, r.code()), (409, "CONFLICT"));
    let r = api
        .call(
            "PATCH",
            &path,
            Some(&alice),
            Some(json!({"label": "x", "_v": 121})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let stale = api
        .http
        .patch(s.url(&path))
        .bearer_auth(&alice)
        .header("if-match", "121")
        .json(&json!({"label": "y"}))
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status().as_u16(), 409);
}

async fn batches_are_all_or_nothing(s: Server) {
    let api = Api::new(&s.base);
    put_table(&api, "orders", json!({"fields": [{"name": "no", "type": "string", "unique": true}, {"name": "qty", "type": "integer", "min": 0}], "acl": {"record": "rwd:r:-"}})).await;
    put_table(&api, "stock", json!({"fields": [{"name": "sku", "type": "string", "unique": true}, {"name": "left", "type": "integer", "min": 0}], "acl": {"record": "rwd:r:r", "create": "admins"}})).await;
    let (alice, _) = api.login("mock:alice").await;
    let (bob, _) = api.login("mock:bob").await;
    let item = create(&api, ADMIN_KEY, "stock", json!({"sku": "tea", "left": 5})).await;
    let sid = item["_id"].as_str().unwrap();
    let total = |api: Api, t: &'static str| async move {
        query(&api, Some(ADMIN_KEY), t, json!({"count": true, "limit": 1}))
            .await
            .body["total"]
            .as_u64()
            .unwrap()
    };
    // Bob may not change stock: the whole batch fails, the order is not created.
    let ops = json!({"ops": [
        {"op": "create", "table": "orders", "data": {"no": "o1", "qty": 2}},
        {"op": "update", "table": "stock", "id": sid, "data": {"left": 3}, "_v": 1}
    ]});
    let r = api
        .call("POST", "/v1/batch", Some(&bob), Some(ops.clone()))
        .await;
    assert_eq!((r.status, r.code()), (403, "FORBIDDEN"), "{}", r.text);
    assert_eq!(r.body["error"]["details"]["op"], 1);
    assert_eq!(total(api.clone(), "orders").await, 0);
    // The admin's succeeds as a whole.
    let r = api
        .call("POST", "/v1/batch", Some(ADMIN_KEY), Some(ops.clone()))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["results"][1]["left"], 3);
    // Stale version on one op: nothing happens.
    let r = api
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
    assert_eq!((r.status, r.code()), (409, "CONFLICT"));
    assert_eq!(total(api.clone(), "orders").await, 1);
    // A unique clash inside the batch: nothing happens.
    let r = api
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
    assert_eq!(total(api.clone(), "orders").await, 1);
    // Two creates claiming one unique value inside a batch.
    let r = api
        .call(
            "POST",
            "/v1/batch",
            Some(&alice),
            Some(json!({"ops": [
                {"op": "create", "table": "orders", "data": {"no": "o9", "qty": 1}},
                {"op": "create", "table": "orders", "data": {"no": "o9", "qty": 1}}
            ]})),
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (409, "UNIQUE_VIOLATION"),
        "{}",
        r.text
    );
    assert_eq!(total(api.clone(), "orders").await, 1);
    // A check holds the batch to a version.
    let r = api
        .call(
            "POST",
            "/v1/batch",
            Some(&alice),
            Some(json!({"ops": [
                {"op": "check", "table": "stock", "id": sid, "_v": 2},
                {"op": "create", "table": "orders", "data": {"no": "o4", "qty": 1}}
            ]})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = api
        .call(
            "POST",
            "/v1/batch",
            Some(&alice),
            Some(json!({"ops": [
                {"op": "check", "table": "stock", "id": sid, "_v": 1},
                {"op": "create", "table": "orders", "data": {"no": "o5", "qty": 1}}
            ]})),
        )
        .await;
    assert_eq!((r.status, r.code()), (409, "CONFLICT"));
    assert_eq!(total(api.clone(), "orders").await, 2);
    // Malformed batches.
    let many: Vec<Value> = (0..101)
        .map(|i| json!({"op": "create", "table": "orders", "data": {"no": format!("m{i}")}}))
        .collect();
    for (body, status, code) in [
        (json!({"ops": []}), 400, "BATCH_TOO_LARGE"),
        (json!({"ops": many}), 400, "BATCH_TOO_LARGE"),
        (
            json!({"ops": [{"op": "upsert", "table": "orders"}]}),
            400,
            "INVALID_BODY",
        ),
        (
            json!({"ops": [{"op": "delete", "table": "orders"}]}),
            400,
            "INVALID_BODY",
        ),
        (
            json!({"ops": [{"op": "delete", "table": "nope", "id": sid}]}),
            404,
            "NOT_FOUND",
        ),
        (
            json!({"ops": [{"op": "check", "table": "stock", "id": sid}, {"op": "delete", "table": "stock", "id": sid}]}),
            400,
            "INVALID_ARGUMENT",
        ),
    ] {
        let r = api
            .call("POST", "/v1/batch", Some(ADMIN_KEY), Some(body.clone()))
            .await;
        assert_eq!((r.status, r.code()), (status, code), "{body}: {}", r.text);
    }
    // 100 creates need more than 100 store writes (records, index entries, counters).
    let big: Vec<Value> = (0..60)
        .map(|i| json!({"op": "create", "table": "orders", "data": {"no": format!("b{i}")}}))
        .collect();
    let r = api
        .call(
            "POST",
            "/v1/batch",
            Some(ADMIN_KEY),
            Some(json!({"ops": big})),
        )
        .await;
    assert_eq!((r.status, r.code()), (400, "BATCH_TOO_LARGE"), "{}", r.text);
    assert_eq!(total(api.clone(), "orders").await, 2);
}

async fn schema_changes_backfill_indexes_defaults_and_drops(s: Server) {
    let api = Api::new(&s.base);
    put_table(&api, "items", json!({"fields": [{"name": "kind", "type": "string"}, {"name": "old", "type": "string"}], "acl": {"record": "rwd:r:r"}})).await;
    let rows: Vec<Value> = (0..45)
        .map(|i| json!({"kind": format!("k{}", i % 3), "old": "x"}))
        .collect();
    let all = bulk(&api, "items", rows, 15).await;
    let r = query(&api, None, "items", json!({"order": [["kind", "asc"]]})).await;
    assert_eq!(r.code(), "INDEX_REQUIRED");
    // Add an index and a field with a default; drop a field.
    let r = api
        .call(
            "PUT",
            "/v1/tables/items?drop=true",
            Some(ADMIN_KEY),
            Some(json!({"fields": [
        {"name": "kind", "type": "string", "index": true},
        {"name": "stars", "type": "integer", "default": 3}
    ], "acl": {"record": "rwd:r:r"}})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["backfill"]["done"], true);
    assert_eq!(r.body["backfill"]["updated"], 45);
    assert_eq!(r.body["pending_indexes"], json!([]));
    let r = query(&api, None, "items", json!({"where": [["kind", "eq", "k1"]], "order": [["_id", "asc"]], "limit": 100, "count": true})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let mut want: Vec<String> = all
        .iter()
        .enumerate()
        .filter(|(i, _)| i % 3 == 1)
        .map(|(_, id)| id.clone())
        .collect();
    want.sort();
    assert_eq!(ids(&r), want);
    assert_eq!(
        (r.body["total"].clone(), r.body["scanned"].clone()),
        (json!(15), json!(15))
    );
    let rec = &r.body["items"][0];
    assert_eq!(rec["stars"], 3, "the default was back-filled");
    assert!(rec.get("old").is_none(), "the dropped field is gone");
    // A unique index over duplicates stops, names the field, and resumes once fixed.
    let r = api
        .call(
            "PUT",
            "/v1/tables/items",
            Some(ADMIN_KEY),
            Some(json!({"fields": [
        {"name": "kind", "type": "string", "index": true, "unique": true},
        {"name": "stars", "type": "integer", "default": 3}
    ], "acl": {"record": "rwd:r:r"}})),
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (409, "UNIQUE_VIOLATION"),
        "{}",
        r.text
    );
    let t = api
        .call("GET", "/v1/tables/items", Some(ADMIN_KEY), None)
        .await;
    assert_eq!(t.body["pending_indexes"], json!(["kind"]));
    let r = query(
        &api,
        None,
        "items",
        json!({"where": [["kind", "eq", "k1"]], "count": true}),
    )
    .await;
    assert_eq!(
        r.code(),
        "COUNT_UNAVAILABLE",
        "a pending index serves nothing yet"
    );
    for (i, id) in all.iter().enumerate() {
        let r = api
            .call(
                "PATCH",
                &format!("/v1/tables/items/records/{id}"),
                Some(ADMIN_KEY),
                Some(json!({"kind": format!("u{i}")})),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
    }
    let r = api
        .call("POST", "/v1/tables/items/backfill", Some(ADMIN_KEY), None)
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["pending_indexes"], json!([]));
    let r = api
        .call(
            "POST",
            "/v1/tables/items/records",
            Some(ADMIN_KEY),
            Some(json!({"kind": "u7"})),
        )
        .await;
    assert_eq!((r.status, r.code()), (409, "UNIQUE_VIOLATION"));
}

async fn array_operators(s: Server) {
    let api = Api::new(&s.base);
    put_table(
        &api,
        "tags",
        json!({"fields": [{"name": "name", "type": "string"}], "acl": {"record": "rwd:r:r"}}),
    )
    .await;
    put_table(
        &api,
        "notes",
        json!({"fields": [
        {"name": "labels", "type": "json"},
        {"name": "tags", "type": "ref", "table": "tags", "many": true},
        {"name": "n", "type": "integer"}
    ], "acl": {"record": "rwd:r:r"}}),
    )
    .await;
    let (alice, _) = api.login("mock:alice").await;
    let t1 = create(&api, &alice, "tags", json!({"name": "one"})).await["_id"]
        .as_str()
        .unwrap()
        .to_string();
    let t2 = create(&api, &alice, "tags", json!({"name": "two"})).await["_id"]
        .as_str()
        .unwrap()
        .to_string();
    let note = create(
        &api,
        &alice,
        "notes",
        json!({"labels": ["a"], "tags": [t1]}),
    )
    .await;
    let path = format!("/v1/tables/notes/records/{}", note["_id"].as_str().unwrap());
    let r = api
        .call(
            "PATCH",
            &path,
            Some(&alice),
            Some(json!({"labels": {"$append": ["b", "c"]}, "tags": {"$append": [t1, t2]}})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["labels"], json!(["a", "b", "c"]));
    assert_eq!(r.body["tags"], json!([t1, t2]), "refs are a set");
    let r = api
        .call(
            "PATCH",
            &path,
            Some(&alice),
            Some(json!({"labels": {"$remove": "b"}, "tags": {"$remove": [t1]}})),
        )
        .await;
    assert_eq!(r.body["labels"], json!(["a", "c"]));
    assert_eq!(r.body["tags"], json!([t2]));
    let r = api
        .call("GET", &format!("{path}?expand=tags"), Some(&alice), None)
        .await;
    assert_eq!(r.body["tags"][0]["name"], "two");
    let r = query(
        &api,
        None,
        "notes",
        json!({"where": [["tags", "contains", t2]], "expand": ["tags"]}),
    )
    .await;
    assert_eq!(r.body["items"][0]["tags"][0]["name"], "two", "{}", r.text);
    for bad in [
        json!({"labels": [1e300]}),
        json!({"n": {"$append": [1]}}),
        json!({"labels": {"$inc": 1}}),
        json!({"tags": {"$append": ["not-an-id"]}}),
        json!({"labels": {"$pop": 1}}),
    ] {
        let r = api
            .call("PATCH", &path, Some(&alice), Some(bad.clone()))
            .await;
        assert_eq!(r.status, 400, "{bad}: {}", r.text);
    }
}
