//! Property: after any interleaving of creates, updates (plain, `$inc` on indexed and
//! unindexed fields), deletes, batches and schema changes with back-fill, a table's index
//! entries, unique guards and counts equal a recomputation from its records.

use std::sync::Arc;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Map, Value, json};
use yunqiao_core::Code;
use yunqiao_core::auth::Caller;
use yunqiao_core::clock::ManualClock;
use yunqiao_core::tables::{BatchOp, TableDef, Tables};

use crate::Store;

fn def(v: Value) -> TableDef {
    serde_json::from_value(v).expect("table def")
}

fn random_record(rng: &mut StdRng) -> Map<String, Value> {
    let mut m = Map::new();
    if rng.gen_bool(0.8) {
        m.insert(
            "a".into(),
            json!(["x", "y", "z", "", "长字符串"][rng.gen_range(0..5)]),
        );
    }
    if rng.gen_bool(0.8) {
        m.insert("b".into(), json!(rng.gen_range(-3..4)));
    }
    if rng.gen_bool(0.5) {
        m.insert("u".into(), json!(format!("u{}", rng.gen_range(0..40))));
    }
    if rng.gen_bool(0.7) {
        m.insert("c".into(), json!(rng.gen_range(-2.0..2.0f64)));
    }
    m
}

fn random_patch(rng: &mut StdRng) -> Map<String, Value> {
    let mut m = Map::new();
    match rng.gen_range(0..5) {
        0 => {
            m.insert("b".into(), json!({"$inc": rng.gen_range(-2..3)}));
        }
        1 => {
            m.insert("c".into(), json!({"$inc": 1}));
        }
        2 => {
            m.insert("a".into(), Value::Null);
        }
        _ => {
            m = random_record(rng);
            if m.is_empty() {
                m.insert("a".into(), json!("x"));
            }
        }
    }
    m
}

/// Errors the workload may meet by design; anything else fails the property.
fn expected(e: &yunqiao_core::Error) -> bool {
    matches!(
        e.code,
        Code::UniqueViolation | Code::NotFound | Code::Conflict | Code::BatchTooLarge
    )
}

async fn worker(
    tables: Arc<Tables>,
    table: String,
    seed: u64,
    ops: usize,
    ids: Arc<tokio::sync::Mutex<Vec<String>>>,
) {
    let admin = Caller::AdminKey;
    let mut rng = StdRng::seed_from_u64(seed);
    for _ in 0..ops {
        let pick = {
            let ids = ids.lock().await;
            (!ids.is_empty()).then(|| ids[rng.gen_range(0..ids.len())].clone())
        };
        let res = match (rng.gen_range(0..10), pick) {
            (0..=3, _) | (_, None) => {
                match tables.create(&admin, &table, random_record(&mut rng)).await {
                    Ok(v) => {
                        ids.lock()
                            .await
                            .push(v["_id"].as_str().unwrap_or_default().to_string());
                        Ok(())
                    }
                    Err(e) => Err(e),
                }
            }
            (4..=6, Some(id)) => tables
                .update(&admin, &table, &id, random_patch(&mut rng), None)
                .await
                .map(|_| ()),
            (7, Some(id)) => tables.delete(&admin, &table, &id).await,
            (_, Some(id)) => {
                let ops = vec![
                    BatchOp::Create {
                        table: table.clone(),
                        data: random_record(&mut rng),
                    },
                    BatchOp::Update {
                        table: table.clone(),
                        id: id.clone(),
                        data: random_patch(&mut rng),
                        v: None,
                    },
                    BatchOp::Create {
                        table: table.clone(),
                        data: random_record(&mut rng),
                    },
                ];
                match tables.batch(&admin, ops).await {
                    Ok(r) => {
                        let mut ids = ids.lock().await;
                        ids.push(r[0]["_id"].as_str().unwrap_or_default().to_string());
                        ids.push(r[2]["_id"].as_str().unwrap_or_default().to_string());
                        Ok(())
                    }
                    Err(e) => Err(e),
                }
            }
        };
        if let Err(e) = res {
            assert!(expected(&e), "unexpected error in the workload: {e:?}");
        }
    }
}

/// `ops` per worker per round (4 workers, 3 rounds).
pub async fn indexes_match_recomputation(store: Store, clock: ManualClock, ops: usize) {
    let tables = Arc::new(Tables::new(store, Arc::new(clock)));
    let admin = Caller::AdminKey;
    let table = format!("prop{}", rand::random::<u32>());
    let v1 = def(json!({"fields": [
        {"name": "a", "type": "string", "index": true},
        {"name": "b", "type": "integer", "index": true},
        {"name": "u", "type": "string", "unique": true},
        {"name": "c", "type": "number"}
    ], "acl": {"record": "rwd:r:r"}}));
    tables
        .put_schema(&admin, &table, &v1, false)
        .await
        .expect("schema v1");
    let ids = Arc::new(tokio::sync::Mutex::new(Vec::new()));
    let seed: u64 = std::env::var("YUNQIAO_PROPTEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    println!("tables property seed: {seed} (YUNQIAO_PROPTEST_SEED to replay)");
    let round = |n: u64| {
        let handles: Vec<_> = (0..4)
            .map(|w| {
                tokio::spawn(worker(
                    tables.clone(),
                    table.clone(),
                    seed.wrapping_add(n * 10 + w),
                    ops,
                    ids.clone(),
                ))
            })
            .collect();
        async move {
            for h in handles {
                h.await.expect("worker");
            }
        }
    };
    let check = |stage: &'static str, extra: &'static [&'static str]| {
        let tables = tables.clone();
        let table = table.clone();
        async move {
            let a = tables.audit_indexes(&table, extra).await.expect("audit");
            fn diff<T: Ord + Clone + std::fmt::Debug>(want: &[T], have: &[T]) -> String {
                let w: std::collections::BTreeSet<_> = want.iter().cloned().collect();
                let h: std::collections::BTreeSet<_> = have.iter().cloned().collect();
                let missing: Vec<_> = w.difference(&h).take(5).collect();
                let extra: Vec<_> = h.difference(&w).take(5).collect();
                format!(
                    "{} wanted, {} stored; missing {missing:?}; unexpected {extra:?}",
                    want.len(),
                    have.len()
                )
            }
            assert!(
                a.entries_have == a.entries_want,
                "{stage}: index entries: {}",
                diff(&a.entries_want, &a.entries_have)
            );
            assert!(
                a.uniques_have == a.uniques_want,
                "{stage}: unique guards: {}",
                diff(&a.uniques_want, &a.uniques_have)
            );
            let cw: Vec<_> = a.counts_want.iter().map(|(k, v)| (k.clone(), *v)).collect();
            let ch: Vec<_> = a.counts_have.iter().map(|(k, v)| (k.clone(), *v)).collect();
            assert!(
                a.counts_have == a.counts_want,
                "{stage}: counts: {}",
                diff(&cw, &ch)
            );
            assert!(
                !a.entries_want.is_empty(),
                "{stage}: the workload wrote records"
            );
        }
    };
    round(1).await;
    check("after the first workload", &[]).await;
    // Index c, stop indexing a: back-fill adds and removes entries while writers run.
    let v2 = def(json!({"fields": [
        {"name": "a", "type": "string"},
        {"name": "b", "type": "integer", "index": true},
        {"name": "u", "type": "string", "unique": true},
        {"name": "c", "type": "number", "index": true}
    ], "acl": {"record": "rwd:r:r"}}));
    let writers = round(2);
    let (_, change) = tokio::join!(writers, tables.put_schema(&admin, &table, &v2, false));
    let (_, _, report) = change.expect("schema v2");
    let report = report.expect("the change back-filled");
    assert!(report.done, "{report:?}");
    // Writers that loaded the old schema failed their version check and redid their
    // work: nothing is left for a second pass.
    check("after re-indexing under load", &["a"]).await;
    let (s, b) = tables.backfill(&admin, &table).await.expect("backfill");
    assert!(b.done && b.updated == 0 && s.pending.is_empty(), "{b:?}");
    round(3).await;
    check("after the last workload", &["a"]).await;
}
