//! Applying a project: all or nothing, over the in-memory store, with a store that can
//! be told to fail writes to one partition (what no check can foresee: an outage, a
//! concurrent change).

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use serde_json::json;

use super::*;
use crate::memory_store::MemoryStore;
use crate::store::{Item, ItemStore, Page, Query, StoreError, Update, WriteOp};

/// The memory store, failing every write that touches a partition starting with
/// `fail_on` (when set).
struct FlakyStore {
    inner: MemoryStore,
    fail_on: Mutex<Option<String>>,
}

impl FlakyStore {
    fn check(&self, pk: &str) -> std::result::Result<(), StoreError> {
        match &*self.fail_on.lock().unwrap_or_else(|e| e.into_inner()) {
            Some(p) if pk.starts_with(p.as_str()) => {
                Err(StoreError::Unavailable("injected".into()))
            }
            _ => Ok(()),
        }
    }
}

#[async_trait]
impl ItemStore for FlakyStore {
    async fn get(&self, pk: &str, sk: &str) -> std::result::Result<Option<Item>, StoreError> {
        self.inner.get(pk, sk).await
    }
    async fn put(
        &self,
        item: Item,
        cond: Option<crate::store::Cond>,
    ) -> std::result::Result<(), StoreError> {
        self.check(&item.pk)?;
        self.inner.put(item, cond).await
    }
    async fn update(
        &self,
        pk: &str,
        sk: &str,
        update: Update,
        cond: Option<crate::store::Cond>,
    ) -> std::result::Result<Item, StoreError> {
        self.check(pk)?;
        self.inner.update(pk, sk, update, cond).await
    }
    async fn delete(
        &self,
        pk: &str,
        sk: &str,
        cond: Option<crate::store::Cond>,
    ) -> std::result::Result<(), StoreError> {
        self.check(pk)?;
        self.inner.delete(pk, sk, cond).await
    }
    async fn query(&self, q: Query) -> std::result::Result<Page, StoreError> {
        self.inner.query(q).await
    }
    async fn transact(&self, ops: Vec<WriteOp>) -> std::result::Result<(), StoreError> {
        for op in &ops {
            self.check(op.key().0)?;
        }
        self.inner.transact(ops).await
    }
}

struct World {
    store: Arc<FlakyStore>,
    w: crate::test_support::World,
}

impl World {
    fn new() -> World {
        let mut flaky = None;
        let w = crate::test_support::World::over(|clock| {
            let s = Arc::new(FlakyStore {
                inner: MemoryStore::new(clock),
                fail_on: Mutex::new(None),
            });
            flaky = Some(s.clone());
            s
        });
        World {
            store: flaky.expect("the store was made"),
            w,
        }
    }

    fn applier(&self) -> Applier<'_> {
        Applier {
            tables: &self.w.tables,
            kv: &self.w.kv,
            live: &self.w.live,
            functions: &self.w.functions,
        }
    }

    async fn apply(&self, project: Value, drop: bool) -> Result<Applied> {
        let project: Project = serde_json::from_value(project).expect("a project");
        self.applier()
            .apply(
                &Caller::AdminKey,
                project,
                ApplyOptions {
                    dry_run: false,
                    drop,
                },
            )
            .await
    }

    async fn dry(&self, project: Value) -> Result<Applied> {
        let project: Project = serde_json::from_value(project).expect("a project");
        self.applier()
            .apply(
                &Caller::AdminKey,
                project,
                ApplyOptions {
                    dry_run: true,
                    drop: false,
                },
            )
            .await
    }

    /// Everything an apply can change, as one value to compare before and after.
    async fn state(&self) -> Value {
        let admin = Caller::AdminKey;
        let mut modules = Vec::new();
        for m in self.w.functions.list(&admin).await.expect("modules") {
            let name = m["name"].as_str().unwrap_or_default().to_string();
            let v = self
                .w
                .functions
                .get(&admin, &name, None)
                .await
                .expect("module");
            modules.push(json!([name, v["source"], v["exports"]]));
        }
        let tables: Vec<Value> = self
            .w
            .tables
            .list_schemas(&admin)
            .await
            .expect("tables")
            .into_iter()
            .map(|s| json!([s.name, s.to_def()]))
            .collect();
        let kv: Vec<Value> = self
            .w
            .kv
            .list_namespaces(&admin)
            .await
            .expect("namespaces")
            .into_iter()
            .map(|n| {
                json!([
                    n.name,
                    n.read.as_string(),
                    n.write.as_string(),
                    n.scope.as_str()
                ])
            })
            .collect();
        let topics: Vec<Value> = self
            .w
            .live
            .rules()
            .await
            .expect("rules")
            .into_iter()
            .map(|(p, r)| json!([p, r]))
            .collect();
        json!({"modules": modules, "tables": tables, "kv": kv, "topics": topics})
    }
}

fn outcomes(a: &Applied) -> Vec<(String, Outcome)> {
    a.items
        .iter()
        .map(|i| (format!("{} {}", i.kind.as_str(), i.name), i.outcome))
        .collect()
}

fn base_project() -> Value {
    json!({
        "functions": {"shop": {"source": "export function buy(){}\nexport function check(){}"}},
        "tables": {
            "orders": {
                "fields": [{"name": "item", "type": "string"}, {"name": "n", "type": "integer"}],
                "hooks": {"before_create": "shop.check"}
            }
        },
        "kv": {"carts": {"scope": "user"}},
        "topics": {"shop.*": {"subscribe": "users", "publish": "nobody"}}
    })
}

#[tokio::test]
async fn a_project_applies_then_is_unchanged_and_a_dry_run_writes_nothing() {
    let w = World::new();
    let empty = w.state().await;
    let dry = w.dry(base_project()).await.expect("dry run");
    assert!(dry.dry_run);
    assert!(
        outcomes(&dry).iter().all(|(_, o)| *o == Outcome::Created),
        "{dry:?}"
    );
    assert_eq!(w.state().await, empty, "a dry run changes nothing");

    let first = w.apply(base_project(), false).await.expect("applied");
    assert_eq!(
        outcomes(&first),
        vec![
            ("function shop".to_string(), Outcome::Created),
            ("table orders".to_string(), Outcome::Created),
            ("kv carts".to_string(), Outcome::Created),
            ("topic shop.*".to_string(), Outcome::Created),
        ]
    );
    assert_eq!(first.items[0].version, Some(1));
    let again = w.apply(base_project(), false).await.expect("applied again");
    assert!(
        outcomes(&again)
            .iter()
            .all(|(_, o)| *o == Outcome::Unchanged),
        "{again:?}"
    );
    assert_eq!(
        again.items[0].version,
        Some(1),
        "no new version for the same module"
    );
}

#[tokio::test]
async fn every_refusal_is_answered_at_once_and_nothing_changes() {
    let w = World::new();
    w.apply(base_project(), false).await.expect("applied");
    let before = w.state().await;
    let bad = json!({
        "functions": {
            "shop": {"source": "export function buy(){}"},
            "broken": {"source": "syntax error"}
        },
        "tables": {
            // Drops `n` without `drop`, and a hook that names nothing.
            "orders": {"fields": [{"name": "item", "type": "string"}]},
            "refunds": {
                "fields": [{"name": "why", "type": "string"}],
                "hooks": {"after_create": "shop.refund"}
            }
        },
        "kv": {"carts": {"scope": "shared"}},
        "topics": {"bad pattern": {"subscribe": "users", "publish": "users"}}
    });
    let e = w.apply(bad.clone(), false).await.expect_err("refused");
    assert_eq!(e.code, Code::ProjectRefused);
    let refused: Vec<String> = e.details["refused"]
        .as_array()
        .expect("refused items")
        .iter()
        .map(|r| {
            format!(
                "{} {}",
                r["kind"].as_str().unwrap_or(""),
                r["name"].as_str().unwrap_or("")
            )
        })
        .collect();
    assert_eq!(
        refused,
        vec![
            "function broken",
            "table orders",
            "table refunds",
            "kv carts",
            "topic bad pattern"
        ]
    );
    assert_eq!(w.state().await, before, "a refused project changes nothing");
    // A dry run is refused the same way.
    assert_eq!(
        w.dry(bad).await.expect_err("refused").code,
        Code::ProjectRefused
    );
}

#[tokio::test]
async fn a_write_that_fails_midway_undoes_the_ones_before_it() {
    let w = World::new();
    w.apply(base_project(), false).await.expect("applied");
    let before = w.state().await;
    let changed = json!({
        "functions": {
            "shop": {"source": "export function buy(){}\nexport function check(){}\nexport function refund(){}"},
            "mail": {"source": "export function send(){}"}
        },
        "tables": {
            "orders": {
                "fields": [
                    {"name": "item", "type": "string"},
                    {"name": "n", "type": "integer"},
                    {"name": "note", "type": "string"}
                ],
                "hooks": {"before_create": "shop.check", "after_create": "shop.refund"}
            },
            "refunds": {"fields": [{"name": "why", "type": "string"}]}
        },
        "kv": {"carts": {"scope": "user", "read": "admins"}, "wishlists": {}},
        "topics": {"shop.*": {"subscribe": "nobody", "publish": "nobody"}, "mail.*": {"subscribe": "users", "publish": "users"}}
    });
    // Checks pass; the topic rules' partition then refuses every write.
    *w.store.fail_on.lock().expect("lock") = Some(crate::keys::TOPIC_RULES.to_string());
    let e = w
        .apply(changed.clone(), false)
        .await
        .expect_err("failed midway");
    assert_eq!(e.code, Code::StoreUnavailable);
    assert_eq!(
        e.details["item"],
        json!({"kind": "topic", "name": "mail.*"})
    );
    assert_eq!(
        e.details["undone"],
        json!([
            "kv wishlists",
            "kv carts",
            "table refunds",
            "table orders",
            "function shop",
            "function mail"
        ])
    );
    assert!(e.details.get("not_undone").is_none(), "{}", e.details);
    *w.store.fail_on.lock().expect("lock") = None;
    let after = w.state().await;
    assert_eq!(after, before, "everything as it was");
    // And the same project applies cleanly once the store is back.
    let ok = w.apply(changed, false).await.expect("applied");
    assert!(
        outcomes(&ok).iter().all(|(_, o)| *o != Outcome::Unchanged),
        "{ok:?}"
    );
}

#[tokio::test]
async fn a_table_written_to_meanwhile_is_kept_and_said_so() {
    let w = World::new();
    let project: Project = serde_json::from_value(json!({
        "tables": {"posts": {"fields": [{"name": "t", "type": "string"}], "acl": {"create": "users"}}}
    }))
    .expect("project");
    w.applier()
        .apply(&Caller::AdminKey, project, ApplyOptions::default())
        .await
        .expect("applied");
    w.w.tables
        .create(
            &Caller::AdminKey,
            "posts",
            serde_json::from_value(json!({"t": "x"})).expect("fields"),
        )
        .await
        .expect("a record");
    assert!(
        !w.w.tables.remove_new_table("posts").await.expect("checked"),
        "a table with records stays"
    );
    assert!(w.w.tables.schema("posts").await.is_ok());
}
