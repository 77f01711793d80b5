//! Import's grouped restore: many records a transaction, keys rebuilt as a create
//! writes them, a second run unchanged, and a group with a taken unique value written
//! not at all (the line-by-line path then names the line).

use serde_json::{Map, Value, json};

use crate::auth::Caller;
use crate::error::Code;
use crate::ids;
use crate::outcome::Outcome;
use crate::test_support::{World, obj};

async fn posts() -> World {
    let w = World::new();
    w.table(
        "posts",
        json!({"fields": [{"name": "slug", "type": "string", "unique": true},
                          {"name": "title", "type": "string", "index": true},
                          {"name": "n", "type": "integer"}],
               "acl": {"record": "rwd:r:r"}}),
    )
    .await;
    w
}

fn line(i: i64, slug: &str) -> Map<String, Value> {
    obj(
        json!({"_id": ids::new_id(1_764_576_000_000 + i), "slug": slug, "title": format!("标题 {}", i % 7), "n": i}),
    )
}

/// Restores `lines` as the importer does; answers each group's size.
async fn restore(w: &World, lines: &[Map<String, Value>]) -> Vec<usize> {
    let mut groups = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let outcomes = w
            .tables
            .restore_group("posts", &lines[i..])
            .await
            .unwrap()
            .expect("a group");
        assert!(!outcomes.is_empty());
        i += outcomes.len();
        groups.push(outcomes.len());
    }
    groups
}

async fn count(w: &World, spec: Value) -> u64 {
    let mut spec = spec;
    spec["count"] = json!(true);
    w.tables
        .query(
            &Caller::AdminKey,
            "posts",
            serde_json::from_value(spec).unwrap(),
        )
        .await
        .unwrap()
        .total
        .unwrap()
}

#[tokio::test]
async fn records_are_restored_many_a_transaction_with_their_keys_rebuilt() {
    let w = posts().await;
    let lines: Vec<_> = (0..250).map(|i| line(i, &format!("s{i}"))).collect();
    let groups = restore(&w, &lines).await;
    assert_eq!(groups.iter().sum::<usize>(), 250);
    assert!(
        groups.len() > 2,
        "the store's transaction limit splits them: {groups:?}"
    );
    assert!(
        groups[0] > 1,
        "more than one record a transaction: {groups:?}"
    );
    assert_eq!(count(&w, json!({"limit": 1})).await, 250);
    assert_eq!(
        count(
            &w,
            json!({"where": [["title", "eq", "标题 3"]], "limit": 1})
        )
        .await,
        (0..250).filter(|i| i % 7 == 3).count() as u64,
        "the index was rebuilt"
    );
    let dup = w
        .tables
        .create(&Caller::AdminKey, "posts", obj(json!({"slug": "s42"})))
        .await
        .unwrap_err();
    assert_eq!(
        dup.code,
        Code::UniqueViolation,
        "the unique guard was rebuilt"
    );

    // Again: every line unchanged, nothing written.
    let again = w
        .tables
        .restore_group("posts", &lines)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again.len(), 250);
    assert!(again.iter().all(|o| *o == Outcome::Unchanged));
    assert_eq!(count(&w, json!({"limit": 1})).await, 250);
}

#[tokio::test]
async fn a_group_with_a_taken_unique_value_writes_nothing() {
    let w = posts().await;
    w.tables
        .create(&Caller::AdminKey, "posts", obj(json!({"slug": "taken"})))
        .await
        .unwrap();
    let lines = vec![line(1, "a"), line(2, "taken"), line(3, "c")];
    assert!(
        w.tables
            .restore_group("posts", &lines)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        count(&w, json!({"limit": 1})).await,
        1,
        "nothing of the group"
    );
    // Line by line: the first goes in, the second is refused by name.
    assert_eq!(
        w.tables.restore_record("posts", &lines[0]).await.unwrap(),
        Outcome::Created
    );
    let e = w
        .tables
        .restore_record("posts", &lines[1])
        .await
        .unwrap_err();
    assert_eq!(e.code, Code::UniqueViolation);
    // The same id twice in one group goes line by line too.
    let first = line(5, "x");
    let mut second = first.clone();
    second.insert("slug".into(), json!("y"));
    let twice = vec![first, second];
    assert!(
        w.tables
            .restore_group("posts", &twice)
            .await
            .unwrap()
            .is_none()
    );
}
