//! One transaction per logical write: what [`Tx`] asks of the store, how a cancelled
//! transaction is explained, and, through [`super::Tables`], versions, stale writes,
//! increments and unique values on the in-memory store.

use serde_json::{Map, Value, json};

use super::*;
use crate::tables::keys::{ix_pk, rec_pk, uq_pk};
use crate::test_support::{World, def, obj, user};

fn schema() -> Schema {
    let mut s = Schema::from_def(
        "orders",
        &def(json!({"fields": [
            {"name": "no", "type": "string", "unique": true},
            {"name": "status", "type": "string", "index": true},
            {"name": "qty", "type": "integer"}
        ], "acl": {"record": "rwd:r:r"}})),
    )
    .unwrap();
    s.version = 3;
    s
}

fn keys_of(ops: &[WriteOp]) -> Vec<(String, String, &'static str)> {
    ops.iter()
        .map(|op| {
            let (pk, sk) = op.key();
            let kind = match op {
                WriteOp::Put { .. } => "put",
                WriteOp::Update { .. } => "update",
                WriteOp::Delete { .. } => "delete",
                WriteOp::Check { .. } => "check",
            };
            (pk.to_string(), sk.to_string(), kind)
        })
        .collect()
}

#[test]
fn a_create_writes_the_record_its_index_entries_guards_and_counts() {
    let s = schema();
    let mut tx = Tx::new();
    let mut rec = obj(json!({"no": "o1", "status": "open", "qty": 1, "_v": 1}));
    tx.change(0, &s, "r1", None, Some(&mut rec));
    assert!(
        rec.contains_key(IX_ATTR) && rec.contains_key(UQ_ATTR),
        "keys remembered"
    );
    assert_eq!(tx.changes.len(), 1);
    let (ops, parts) = tx.into_ops();
    let keys = keys_of(&ops);
    assert_eq!(
        keys[0],
        (sv_pk("orders"), keys[0].1.clone(), "check"),
        "the schema first"
    );
    assert!(matches!(&ops[0], WriteOp::Check { cond, .. } if *cond == Cond::eq("v", 3)));
    assert!(keys.contains(&(rec_pk("orders"), "r1".into(), "put")));
    assert!(
        keys.iter()
            .any(|k| k.0 == ix_pk("orders", "status") && k.2 == "put")
    );
    assert!(
        keys.iter()
            .any(|k| k.0 == uq_pk("orders", "no") && k.2 == "put")
    );
    assert!(
        !keys.iter().any(|k| k.0 == ix_pk("orders", "qty")),
        "unindexed fields have no entries"
    );
    // The record and the guard are conditional on being new; counters come last.
    let guard = parts
        .iter()
        .position(|p| matches!(p, Part::Unique(0, f) if f == "no"))
        .unwrap();
    assert!(matches!(
        &ops[guard],
        WriteOp::Put {
            cond: Some(Cond::NotExists),
            ..
        }
    ));
    let counters = ops
        .iter()
        .filter(|o| matches!(o, WriteOp::Update { .. }))
        .count();
    // Indexed: `_owner` (always), `no` (unique values are indexed), `status`.
    assert_eq!(counters, 4, "the table's count and one per indexed value");
    assert!(matches!(ops.last(), Some(WriteOp::Update { .. })));
}

#[test]
fn an_update_moves_only_what_changed() {
    let s = schema();
    let mut old = obj(json!({"no": "o1", "status": "open", "qty": 1, "_v": 1}));
    Tx::new().change(0, &s, "r1", None, Some(&mut old));
    // qty only: the record, nothing else (and no counter moves).
    let mut new = old.clone();
    new.insert("qty".into(), json!(2));
    new.insert("_v".into(), json!(2));
    let mut tx = Tx::new();
    tx.change(0, &s, "r1", Some(&old), Some(&mut new));
    assert_eq!(tx.len_with_counters(), 2, "schema check and record");
    let (ops, _) = tx.into_ops();
    assert!(
        matches!(&ops[1], WriteOp::Put { cond: Some(Cond::And(c)), .. } if c[0] == Cond::Eq("_v".into(), json!(1)))
    );
    // status and no: the old entries go, the new ones come, the old guard is released
    // only if it is still this record's.
    let mut moved = old.clone();
    moved.insert("status".into(), json!("closed"));
    moved.insert("no".into(), json!("o2"));
    let mut tx = Tx::new();
    tx.change(0, &s, "r1", Some(&old), Some(&mut moved));
    let (ops, _) = tx.into_ops();
    let keys = keys_of(&ops);
    let ix = ix_pk("orders", "status");
    assert_eq!(
        keys.iter().filter(|k| k.0 == ix && k.2 == "delete").count(),
        1
    );
    assert_eq!(keys.iter().filter(|k| k.0 == ix && k.2 == "put").count(), 1);
    let release = ops
        .iter()
        .find(|o| matches!(o, WriteOp::Delete { pk, .. } if *pk == uq_pk("orders", "no")))
        .unwrap();
    assert!(matches!(release, WriteOp::Delete { cond: Some(c), .. } if *c == Cond::eq("id", "r1")));
    // Counts: status open -1, closed +1; no o1 -1, o2 +1.
    assert_eq!(
        ops.iter()
            .filter(|o| matches!(o, WriteOp::Update { .. }))
            .count(),
        4
    );
}

#[test]
fn two_records_of_one_transaction_claiming_one_value_clash() {
    let s = schema();
    let mut tx = Tx::new();
    let mut a = obj(json!({"no": "same", "_v": 1}));
    let mut b = obj(json!({"no": "same", "_v": 1}));
    tx.change(0, &s, "a", None, Some(&mut a));
    assert!(tx.clash.is_none());
    tx.change(1, &s, "b", None, Some(&mut b));
    assert_eq!(tx.clash, Some((1, "no".to_string())));
    // The schema is checked once per table, however many records.
    let (ops, _) = tx.into_ops();
    assert_eq!(
        ops.iter()
            .filter(|o| matches!(o, WriteOp::Check { .. }))
            .count(),
        1
    );
}

#[test]
fn cancelled_transactions_are_explained_in_terms_of_the_request() {
    let parts = vec![
        Part::Schema,
        Part::Record(0),
        Part::Unique(1, "no".into()),
        Part::Record(1),
        Part::Other,
    ];
    let canceled = |failed: Vec<usize>| StoreError::TransactionCanceled { failed };
    assert!(matches!(
        explain(canceled(vec![0, 1]), &parts),
        TxFailure::SchemaChanged
    ));
    assert!(
        matches!(
            explain(canceled(vec![3, 2]), &parts),
            TxFailure::Unique { op: 1, ref field } if field == "no"
        ),
        "a unique clash before a record's change"
    );
    assert!(matches!(
        explain(canceled(vec![3]), &parts),
        TxFailure::Changed(1)
    ));
    assert!(matches!(
        explain(StoreError::ConditionFailed, &parts[1..]),
        TxFailure::Changed(0)
    ));
    match explain(canceled(vec![4]), &parts) {
        TxFailure::Error(e) => assert_eq!(e.code, Code::Conflict),
        other => panic!("{other:?}"),
    }
    match explain(StoreError::Unavailable("down".into()), &parts) {
        TxFailure::Error(e) => assert_eq!(e.code, Code::StoreUnavailable),
        other => panic!("{other:?}"),
    }
    let e = unique_error("no");
    assert_eq!(
        (e.code, &e.details),
        (Code::UniqueViolation, &json!({"field": "no"}))
    );
}

async fn orders(w: &World) {
    w.table(
        "orders",
        json!({"fields": [
            {"name": "no", "type": "string", "unique": true},
            {"name": "qty", "type": "integer", "min": 0}
        ], "acl": {"record": "rwd:r:r"}}),
    )
    .await;
}

#[tokio::test]
async fn versions_advance_and_stale_writes_conflict() {
    let w = World::new();
    orders(&w).await;
    let alice = user("alice");
    let r = w
        .tables
        .create(&alice, "orders", obj(json!({"no": "o1", "qty": 1})))
        .await
        .unwrap();
    let id = r["_id"].as_str().unwrap().to_string();
    assert_eq!(r["_v"], 1);
    w.clock.advance_ms(1_000);
    let r = w
        .tables
        .update(&alice, "orders", &id, obj(json!({"qty": 2})), Some(1))
        .await
        .unwrap();
    assert_eq!((&r["_v"], &r["qty"]), (&json!(2), &json!(2)));
    assert_eq!(
        r["_updated"],
        crate::clock::rfc3339(crate::test_support::START_MS + 1_000)
    );
    let e = w
        .tables
        .update(&alice, "orders", &id, obj(json!({"qty": 3})), Some(1))
        .await
        .unwrap_err();
    assert_eq!(e.code, Code::Conflict);
    let got = w.tables.get(&alice, "orders", &id, &[]).await.unwrap();
    assert_eq!(
        (&got["_v"], &got["qty"]),
        (&json!(2), &json!(2)),
        "nothing of a stale write"
    );
    let e = w
        .tables
        .update(&user("bob"), "orders", &id, obj(json!({"qty": 3})), None)
        .await
        .unwrap_err();
    assert_eq!(e.code, Code::Forbidden);
}

#[tokio::test]
async fn concurrent_increments_all_count_and_bounds_hold() {
    let w = World::new();
    orders(&w).await;
    let alice = user("alice");
    let r = w
        .tables
        .create(&alice, "orders", obj(json!({"no": "o1", "qty": 0})))
        .await
        .unwrap();
    let id = r["_id"].as_str().unwrap().to_string();
    let incs = (0..10).map(|_| {
        let (t, a, id) = (w.tables.clone(), alice.clone(), id.clone());
        tokio::spawn(async move {
            t.update(&a, "orders", &id, obj(json!({"qty": {"$inc": 1}})), None)
                .await
        })
    });
    for h in futures_util::future::join_all(incs).await {
        h.unwrap().unwrap();
    }
    let got = w.tables.get(&alice, "orders", &id, &[]).await.unwrap();
    assert_eq!((&got["qty"], &got["_v"]), (&json!(10), &json!(11)));
    let e = w
        .tables
        .update(
            &alice,
            "orders",
            &id,
            obj(json!({"qty": {"$inc": -11}})),
            None,
        )
        .await
        .unwrap_err();
    assert_eq!(
        (e.code, &e.details["field"]),
        (Code::InvalidArgument, &json!("qty"))
    );
    assert_eq!(
        w.tables.get(&alice, "orders", &id, &[]).await.unwrap()["qty"],
        10
    );
}

#[tokio::test]
async fn unique_values_are_claimed_moved_and_released() {
    let w = World::new();
    orders(&w).await;
    let alice = user("alice");
    let a = w
        .tables
        .create(&alice, "orders", obj(json!({"no": "o1"})))
        .await
        .unwrap();
    let e = w
        .tables
        .create(&alice, "orders", obj(json!({"no": "o1"})))
        .await
        .unwrap_err();
    assert_eq!(
        (e.code, &e.details["field"]),
        (Code::UniqueViolation, &json!("no"))
    );
    let a_id = a["_id"].as_str().unwrap();
    w.tables
        .update(&alice, "orders", a_id, obj(json!({"no": "o2"})), None)
        .await
        .unwrap();
    let b = w
        .tables
        .create(&alice, "orders", obj(json!({"no": "o1"})))
        .await
        .unwrap();
    let e = w
        .tables
        .update(
            &alice,
            "orders",
            b["_id"].as_str().unwrap(),
            obj(json!({"no": "o2"})),
            None,
        )
        .await
        .unwrap_err();
    assert_eq!(e.code, Code::UniqueViolation);
    w.tables.delete(&alice, "orders", a_id).await.unwrap();
    w.tables
        .create(&alice, "orders", obj(json!({"no": "o2"})))
        .await
        .unwrap();
    // A missing value claims nothing.
    w.tables.create(&alice, "orders", Map::new()).await.unwrap();
    w.tables
        .create(&alice, "orders", obj(json!({"no": Value::Null})))
        .await
        .unwrap();
}
