//! Batches on the in-memory store: all or nothing, unique clashes inside a batch, stale
//! versions and checks, rules per operation, and the limits.

use serde_json::{Value, json};

use super::*;
use crate::test_support::{World, obj, user};

fn ops(v: Value) -> Vec<BatchOp> {
    serde_json::from_value(v).expect("batch ops")
}

async fn shop() -> (World, String) {
    let w = World::new();
    w.table(
        "orders",
        json!({"fields": [{"name": "no", "type": "string", "unique": true}, {"name": "qty", "type": "integer", "min": 0}],
               "acl": {"record": "rwd:r:-"}}),
    )
    .await;
    w.table(
        "stock",
        json!({"fields": [{"name": "sku", "type": "string", "unique": true}, {"name": "left", "type": "integer", "min": 0}],
               "acl": {"record": "rwd:r:r", "create": "admins"}}),
    )
    .await;
    let tea = w
        .tables
        .create(
            &Caller::AdminKey,
            "stock",
            obj(json!({"sku": "tea", "left": 5})),
        )
        .await
        .unwrap();
    (w, tea["_id"].as_str().unwrap().to_string())
}

async fn count(w: &World, table: &str) -> u64 {
    let spec = serde_json::from_value(json!({"count": true, "limit": 1})).unwrap();
    w.tables
        .query(&Caller::AdminKey, table, spec)
        .await
        .unwrap()
        .total
        .unwrap()
}

#[tokio::test]
async fn a_batch_happens_as_a_whole() {
    let (w, sid) = shop().await;
    let milk = w
        .tables
        .create(
            &Caller::AdminKey,
            "stock",
            obj(json!({"sku": "milk", "left": 1})),
        )
        .await
        .unwrap();
    let mid = milk["_id"].as_str().unwrap();
    let r = w
        .tables
        .batch(
            &Caller::AdminKey,
            ops(json!([
                {"op": "create", "table": "orders", "data": {"no": "o1", "qty": 2}},
                {"op": "update", "table": "stock", "id": sid, "data": {"left": {"$inc": -2}}, "_v": 1},
                {"op": "check", "table": "stock", "id": mid, "_v": 1}
            ])),
        )
        .await
        .unwrap();
    assert_eq!(r[0]["no"], "o1");
    assert_eq!((&r[1]["left"], &r[1]["_v"]), (&json!(3), &json!(2)));
    assert_eq!(r[2], json!({"_id": mid, "checked": true}));
    assert_eq!(count(&w, "orders").await, 1);
    let order = r[0]["_id"].as_str().unwrap();
    let r = w
        .tables
        .batch(
            &Caller::AdminKey,
            ops(json!([{"op": "delete", "table": "orders", "id": order, "_v": 1}])),
        )
        .await
        .unwrap();
    assert_eq!(r[0], json!({"_id": order, "deleted": true}));
    assert_eq!(count(&w, "orders").await, 0);
}

#[tokio::test]
async fn a_refused_operation_refuses_the_batch() {
    let (w, sid) = shop().await;
    let bob = user("bob");
    let both = json!([
        {"op": "create", "table": "orders", "data": {"no": "o1", "qty": 2}},
        {"op": "update", "table": "stock", "id": sid, "data": {"left": 3}}
    ]);
    let e = w.tables.batch(&bob, ops(both)).await.unwrap_err();
    assert_eq!((e.code, &e.details["op"]), (Code::Forbidden, &json!(1)));
    assert_eq!(
        count(&w, "orders").await,
        0,
        "the first operation did not happen"
    );

    // Invalid data, a stale version, a bound: nothing happens, and the operation is named.
    for (second, code) in [
        (
            json!({"op": "update", "table": "stock", "id": sid, "data": {"left": 2}, "_v": 9}),
            Code::Conflict,
        ),
        (
            json!({"op": "update", "table": "stock", "id": sid, "data": {"left": -1}}),
            Code::InvalidArgument,
        ),
        (
            json!({"op": "update", "table": "stock", "id": sid, "data": {"_v": 4}}),
            Code::InvalidArgument,
        ),
        (
            json!({"op": "check", "table": "stock", "id": sid, "_v": 9}),
            Code::Conflict,
        ),
        (
            json!({"op": "check", "table": "stock", "id": "nope"}),
            Code::NotFound,
        ),
        (
            json!({"op": "create", "table": "nope", "data": {}}),
            Code::NotFound,
        ),
    ] {
        let batch = json!([
            {"op": "create", "table": "orders", "data": {"no": "o2", "qty": 1}},
            second
        ]);
        let e = w
            .tables
            .batch(&Caller::AdminKey, ops(batch))
            .await
            .unwrap_err();
        assert_eq!(e.code, code, "{second}: {e:?}");
        if code != Code::NotFound || second["op"] == "check" {
            assert_eq!(e.details["op"], 1, "{second}");
        }
        assert_eq!(count(&w, "orders").await, 0, "{second}");
    }
    let tea = w
        .tables
        .get(&Caller::AdminKey, "stock", &sid, &[])
        .await
        .unwrap();
    assert_eq!(
        (&tea["left"], &tea["_v"]),
        (&json!(5), &json!(1)),
        "stock untouched"
    );
}

#[tokio::test]
async fn unique_values_clash_with_the_table_and_inside_the_batch() {
    let (w, _) = shop().await;
    let alice = user("alice");
    w.tables
        .create(&alice, "orders", obj(json!({"no": "o1", "qty": 1})))
        .await
        .unwrap();
    let e = w
        .tables
        .batch(
            &alice,
            ops(json!([
                {"op": "create", "table": "orders", "data": {"no": "o3", "qty": 1}},
                {"op": "create", "table": "orders", "data": {"no": "o1", "qty": 1}}
            ])),
        )
        .await
        .unwrap_err();
    assert_eq!(
        (e.code, &e.details["op"], &e.details["field"]),
        (Code::UniqueViolation, &json!(1), &json!("no"))
    );
    let e = w
        .tables
        .batch(
            &alice,
            ops(json!([
                {"op": "create", "table": "orders", "data": {"no": "o9", "qty": 1}},
                {"op": "create", "table": "orders", "data": {"no": "o9", "qty": 1}}
            ])),
        )
        .await
        .unwrap_err();
    assert_eq!(
        (e.code, &e.details["op"]),
        (Code::UniqueViolation, &json!(1)),
        "two claims in one batch"
    );
    assert_eq!(count(&w, "orders").await, 1);
    // Swapping a value between two records inside one batch is one claim each way.
    let o1 = w
        .tables
        .create(&alice, "orders", obj(json!({"no": "a"})))
        .await
        .unwrap();
    let e = w
        .tables
        .batch(
            &alice,
            ops(json!([
                {"op": "update", "table": "orders", "id": o1["_id"], "data": {"no": "b"}},
                {"op": "create", "table": "orders", "data": {"no": "a"}}
            ])),
        )
        .await
        .unwrap_err();
    assert_eq!(
        e.code,
        Code::UniqueViolation,
        "a released value is not free inside the batch"
    );
}

#[tokio::test]
async fn a_batch_has_limits() {
    let (w, sid) = shop().await;
    let e = w.tables.batch(&Caller::AdminKey, vec![]).await.unwrap_err();
    assert_eq!(e.code, Code::BatchTooLarge);
    let many: Vec<Value> = (0..=MAX_TRANSACTION_OPS)
        .map(|i| json!({"op": "create", "table": "orders", "data": {"no": format!("o{i}")}}))
        .collect();
    let e = w
        .tables
        .batch(&Caller::AdminKey, ops(json!(many)))
        .await
        .unwrap_err();
    assert_eq!(e.code, Code::BatchTooLarge);
    // Fewer operations than the limit, but more store writes (guards, index entries,
    // counters) than a transaction holds.
    let heavy: Vec<Value> = (0..30)
        .map(|i| json!({"op": "create", "table": "orders", "data": {"no": format!("o{i}")}}))
        .collect();
    let e = w
        .tables
        .batch(&Caller::AdminKey, ops(json!(heavy)))
        .await
        .unwrap_err();
    assert_eq!(e.code, Code::BatchTooLarge, "{e:?}");
    assert!(e.message.contains("store writes"), "{}", e.message);
    let e = w
        .tables
        .batch(
            &Caller::AdminKey,
            ops(json!([
                {"op": "check", "table": "stock", "id": sid},
                {"op": "update", "table": "stock", "id": sid, "data": {"left": 1}}
            ])),
        )
        .await
        .unwrap_err();
    assert_eq!(
        (e.code, &e.details["op"]),
        (Code::InvalidArgument, &json!(1)),
        "a record appears twice"
    );
    assert_eq!(count(&w, "orders").await, 0);
}
