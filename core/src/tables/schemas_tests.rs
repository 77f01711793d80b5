//! Schema changes on the in-memory store: versions, dropping only when asked, fixed
//! types, back-fills of defaults, indexes and unique values, and writers that loaded
//! the schema before a change.

use std::sync::Arc;

use serde_json::{Value, json};

use super::*;
use crate::test_support::{World, def, obj, user};

async fn put(w: &World, d: Value, drop: bool) -> Result<(Schema, bool, Option<Backfill>)> {
    w.tables
        .put_schema(&Caller::AdminKey, "notes", &def(d), drop)
        .await
}

async fn all(w: &World) -> Vec<Value> {
    let spec = serde_json::from_value(json!({"limit": 100, "order": [["_id", "asc"]]})).unwrap();
    w.tables
        .query(&Caller::AdminKey, "notes", spec)
        .await
        .unwrap()
        .items
}

#[tokio::test]
async fn tables_are_created_by_admins_and_each_change_is_a_version() {
    let w = World::new();
    let d = json!({"fields": [{"name": "t", "type": "string"}], "acl": {"record": "rwd:r:r"}});
    let e = w
        .tables
        .put_schema(&user("u1"), "notes", &def(d.clone()), false)
        .await
        .unwrap_err();
    assert_eq!(e.code, Code::Forbidden);
    let e = w
        .tables
        .put_schema(&Caller::AdminKey, "Bad-Name", &def(d.clone()), false)
        .await
        .unwrap_err();
    assert_eq!(e.code, Code::InvalidArgument);
    let (s, created, backfill) = put(&w, d.clone(), false).await.unwrap();
    assert_eq!((s.version, created, backfill.is_none()), (1, true, true));
    let (s, created, backfill) = put(&w, d.clone(), false).await.unwrap();
    assert_eq!((s.version, created), (2, false));
    assert!(backfill.is_none(), "nothing to reshape");
    let mut grown = d.clone();
    grown["fields"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "n", "type": "integer"}));
    let (s, _, _) = put(&w, grown, false).await.unwrap();
    assert_eq!(s.version, 3);
    assert_eq!(w.tables.schema("notes").await.unwrap().version, 3);
    let listed = w.tables.list_schemas(&Caller::AdminKey).await.unwrap();
    assert_eq!(
        listed.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(),
        ["notes"]
    );
    let e = w.tables.list_schemas(&user("u1")).await.unwrap_err();
    assert_eq!(e.code, Code::Forbidden);
}

#[tokio::test]
async fn fields_are_dropped_only_when_asked_and_types_never_change() {
    let w = World::new();
    put(&w, json!({"fields": [{"name": "t", "type": "string"}, {"name": "old", "type": "string", "index": true}], "acl": {"record": "rwd:r:r"}}), false)
        .await
        .unwrap();
    for i in 0..3 {
        w.tables
            .create(
                &user("u1"),
                "notes",
                obj(json!({"t": format!("t{i}"), "old": "x"})),
            )
            .await
            .unwrap();
    }
    let e = put(
        &w,
        json!({"fields": [{"name": "t", "type": "string"}], "acl": {"record": "rwd:r:r"}}),
        false,
    )
    .await
    .unwrap_err();
    assert_eq!(
        (e.code, &e.details["field"]),
        (Code::InvalidArgument, &json!("old"))
    );
    assert_eq!(
        w.tables.schema("notes").await.unwrap().version,
        1,
        "refused: unchanged"
    );
    let e = put(
        &w,
        json!({"fields": [{"name": "t", "type": "integer"}, {"name": "old", "type": "string"}]}),
        false,
    )
    .await
    .unwrap_err();
    assert_eq!(
        (e.code, &e.details["field"]),
        (Code::InvalidArgument, &json!("t"))
    );
    assert_eq!(w.tables.schema("notes").await.unwrap().version, 1);

    let (s, _, backfill) = put(
        &w,
        json!({"fields": [{"name": "t", "type": "string"}], "acl": {"record": "rwd:r:r"}}),
        true,
    )
    .await
    .unwrap();
    assert_eq!(s.version, 2);
    let b = backfill.expect("dropping reshapes the records");
    assert_eq!((b.done, b.scanned, b.updated), (true, 3, 3));
    assert!(
        all(&w).await.iter().all(|r| r.get("old").is_none()),
        "the field is gone from records"
    );
    // A field of the same name may come back, with another type: it starts empty.
    put(&w, json!({"fields": [{"name": "t", "type": "string"}, {"name": "old", "type": "integer"}], "acl": {"record": "rwd:r:r"}}), false)
        .await
        .unwrap();
    assert!(all(&w).await.iter().all(|r| r["old"].is_null()));
}

#[tokio::test]
async fn new_defaults_and_indexes_are_back_filled() {
    let w = World::new();
    put(
        &w,
        json!({"fields": [{"name": "t", "type": "string"}], "acl": {"record": "rwd:r:r"}}),
        false,
    )
    .await
    .unwrap();
    for t in ["a", "b", "c", "b"] {
        w.tables
            .create(&user("u1"), "notes", obj(json!({"t": t})))
            .await
            .unwrap();
    }
    let (s, _, backfill) = put(
        &w,
        json!({"fields": [{"name": "t", "type": "string", "index": true}, {"name": "likes", "type": "integer", "default": 0}], "acl": {"record": "rwd:r:r"}}),
        false,
    )
    .await
    .unwrap();
    let b = backfill.unwrap();
    assert_eq!((b.done, b.scanned, b.updated), (true, 4, 4));
    assert!(
        s.pending.is_empty(),
        "the new index is ready once back-filled"
    );
    assert!(
        all(&w).await.iter().all(|r| r["likes"] == 0),
        "defaults filled in"
    );
    let spec = serde_json::from_value(json!({"where": [["t", "eq", "b"]], "count": true})).unwrap();
    let r = w.tables.query(&user("u2"), "notes", spec).await.unwrap();
    assert_eq!((r.items.len(), r.total), (2, Some(2)));
    assert!(
        r.scanned <= 2,
        "answered from the index: scanned {}",
        r.scanned
    );
}

#[tokio::test]
async fn a_unique_value_shared_by_existing_records_stops_the_back_fill_until_fixed() {
    let w = World::new();
    put(
        &w,
        json!({"fields": [{"name": "t", "type": "string"}], "acl": {"record": "rwd:r:r"}}),
        false,
    )
    .await
    .unwrap();
    let a = w
        .tables
        .create(&user("u1"), "notes", obj(json!({"t": "same"})))
        .await
        .unwrap();
    let b = w
        .tables
        .create(&user("u1"), "notes", obj(json!({"t": "same"})))
        .await
        .unwrap();
    let e = put(&w, json!({"fields": [{"name": "t", "type": "string", "unique": true}], "acl": {"record": "rwd:r:r"}}), false)
        .await
        .unwrap_err();
    assert_eq!(
        (e.code, &e.details["field"]),
        (Code::UniqueViolation, &json!("t"))
    );
    let clashing = e.details["record"].as_str().unwrap();
    assert!(clashing == a["_id"] || clashing == b["_id"]);
    let s = w.tables.fresh_schema("notes").await.unwrap();
    assert_eq!(s.pending, ["t"], "the index waits");
    // Fix the data, then continue.
    w.tables
        .update(
            &user("u1"),
            "notes",
            clashing,
            obj(json!({"t": "other"})),
            None,
        )
        .await
        .unwrap();
    let e = w.tables.backfill(&user("u1"), "notes").await.unwrap_err();
    assert_eq!(e.code, Code::Forbidden);
    let (s, b) = w.tables.backfill(&Caller::AdminKey, "notes").await.unwrap();
    assert!(b.done);
    assert!(s.pending.is_empty());
    let e = w
        .tables
        .create(&user("u2"), "notes", obj(json!({"t": "same"})))
        .await
        .unwrap_err();
    assert_eq!(e.code, Code::UniqueViolation, "held from now on");
}

#[tokio::test]
async fn a_writer_holding_an_older_schema_redoes_its_write_under_the_new_one() {
    let w = World::new();
    put(
        &w,
        json!({"fields": [{"name": "t", "type": "string"}], "acl": {"record": "rwd:r:r"}}),
        false,
    )
    .await
    .unwrap();
    // Another process's service, caching schemas until it writes them itself.
    let other = Arc::new(
        Tables::new(w.store.clone(), Arc::new(w.clock.clone()))
            .with_cache(crate::cache::Freshness::OwnWrites),
    );
    other
        .create(&user("u1"), "notes", obj(json!({"t": "before"})))
        .await
        .unwrap();
    assert_eq!(other.schema("notes").await.unwrap().version, 1);
    put(&w, json!({"fields": [{"name": "t", "type": "string"}, {"name": "likes", "type": "integer", "default": 7}], "acl": {"record": "rwd:r:r"}}), false)
        .await
        .unwrap();
    assert_eq!(
        other.schema("notes").await.unwrap().version,
        1,
        "still cached"
    );
    let r = other
        .create(&user("u1"), "notes", obj(json!({"t": "after"})))
        .await
        .unwrap();
    assert_eq!(
        r["likes"], 7,
        "the write noticed the change and took the new default"
    );
    assert_eq!(other.schema("notes").await.unwrap().version, 2);
    assert!(all(&w).await.iter().all(|r| r["likes"] == 7));
}
