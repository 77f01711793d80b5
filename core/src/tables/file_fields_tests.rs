//! `file` fields through [`super::super::Tables`] with a files area that knows three
//! files: alice's private `a-private`, bob's public `b-public`, and alice's `pending`.

use std::sync::Arc;

use serde_json::{Value, json};

use super::*;
use crate::clock::{ManualClock, SharedClock};
use crate::memory_store::MemoryStore;
use crate::tables::{BatchOp, QuerySpec, Tables};
use crate::test_support::{START_MS, def, obj, user};

struct ThreeFiles;

fn owner(id: &str) -> Option<&'static str> {
    match id {
        "a-private" | "pending" => Some("alice"),
        "b-public" => Some("bob"),
        _ => None,
    }
}

fn refused(id: &str) -> Error {
    Error::new(Code::FileNotUsable, format!("{id} is not usable"))
}

#[async_trait::async_trait]
impl FileRefs for ThreeFiles {
    async fn check_usable(&self, caller: &Caller, id: &str) -> Result<()> {
        let Some(o) = owner(id) else {
            return Err(refused(id));
        };
        let mine = caller.user().is_some_and(|u| u.id == o) || caller.is_admin();
        if id == "pending" || !(id == "b-public" || mine) {
            return Err(refused(id));
        }
        Ok(())
    }

    async fn view(&self, caller: &Caller, id: &str) -> Result<Option<Value>> {
        let Some(o) = owner(id) else {
            return Ok(None);
        };
        let mine = caller.user().is_some_and(|u| u.id == o);
        Ok((id == "b-public" || mine).then(|| json!({"id": id, "url": format!("https://f/{id}")})))
    }
}

async fn tables() -> Tables {
    let clock: SharedClock = Arc::new(ManualClock::at(START_MS));
    let t = Tables::new(Arc::new(MemoryStore::new(clock.clone())), clock)
        .with_files(Arc::new(ThreeFiles));
    t.put_schema(
        &Caller::AdminKey,
        "posts",
        &def(json!({"fields": [
            {"name": "title", "type": "string"},
            {"name": "photo", "type": "file"}
        ], "acl": {"record": "rwd:r:r", "create": "users"}})),
        false,
    )
    .await
    .expect("schema");
    t
}

fn code(r: Result<Value>) -> (Code, Value) {
    let e = r.expect_err("refused");
    (e.code, e.details.clone())
}

#[tokio::test]
async fn a_file_field_takes_only_files_the_writer_may_use() {
    let t = tables().await;
    let (alice, bob) = (user("alice"), user("bob"));
    // Own (private) and public files.
    let a = t
        .create(&alice, "posts", obj(json!({"photo": "a-private"})))
        .await
        .expect("own");
    t.create(&bob, "posts", obj(json!({"photo": "b-public"})))
        .await
        .expect("public");
    t.create(&alice, "posts", obj(json!({"photo": "b-public"})))
        .await
        .expect("someone else's public file");
    // Someone else's private file, a pending one, a missing one.
    for (who, id) in [(&bob, "a-private"), (&alice, "pending"), (&alice, "nope")] {
        let (c, details) = code(t.create(who, "posts", obj(json!({"photo": id}))).await);
        assert_eq!(c, Code::FileNotUsable, "{id}");
        assert_eq!(details["field"], "photo");
        assert_eq!(details["file"], id);
    }
    // Updates: the file a patch sets is checked, whoever's record it is.
    let b = t
        .create(&bob, "posts", obj(json!({"title": "t"})))
        .await
        .expect("created");
    let bid = b["_id"].as_str().unwrap();
    let (c, _) = code(
        t.update(&bob, "posts", bid, obj(json!({"photo": "a-private"})), None)
            .await,
    );
    assert_eq!(c, Code::FileNotUsable);
    t.update(&bob, "posts", bid, obj(json!({"photo": "b-public"})), None)
        .await
        .expect("public");
    // A change that leaves the field alone does not check it again; null removes it.
    let aid = a["_id"].as_str().unwrap();
    t.update(&alice, "posts", aid, obj(json!({"title": "x"})), None)
        .await
        .expect("untouched");
    t.update(&alice, "posts", aid, obj(json!({"photo": null})), None)
        .await
        .expect("removed");
    // Admins may use any ready file.
    t.create(
        &Caller::AdminKey,
        "posts",
        obj(json!({"photo": "a-private"})),
    )
    .await
    .expect("admin");
    // Batches, per operation.
    let e = t
        .batch(
            &bob,
            vec![
                BatchOp::Create {
                    table: "posts".into(),
                    data: obj(json!({"photo": "b-public"})),
                },
                BatchOp::Update {
                    table: "posts".into(),
                    id: bid.into(),
                    data: obj(json!({"photo": "a-private"})),
                    v: None,
                },
            ],
        )
        .await
        .expect_err("refused");
    assert_eq!(e.code, Code::FileNotUsable);
    let (c, _) = code(
        t.batch(
            &bob,
            vec![BatchOp::Create {
                table: "posts".into(),
                data: obj(json!({"photo": "pending"})),
            }],
        )
        .await
        .map(Value::from),
    );
    assert_eq!(c, Code::FileNotUsable);
    // Not a string at all is the schema's business.
    let (c, _) = code(t.create(&bob, "posts", obj(json!({"photo": 7}))).await);
    assert_eq!(c, Code::InvalidArgument);
}

#[tokio::test]
async fn without_files_a_file_field_takes_nothing() {
    let clock: SharedClock = Arc::new(ManualClock::at(START_MS));
    let t = Tables::new(Arc::new(MemoryStore::new(clock.clone())), clock);
    t.put_schema(
        &Caller::AdminKey,
        "posts",
        &def(json!({"fields": [{"name": "photo", "type": "file"}], "acl": {"record": "rwd:r:r", "create": "users"}})),
        false,
    )
    .await
    .expect("schema");
    let (c, _) = code(
        t.create(&user("alice"), "posts", obj(json!({"photo": "a-private"})))
            .await,
    );
    assert_eq!(c, Code::FileNotUsable);
}

#[tokio::test]
async fn expand_adds_files_as_the_reader_may_see_them() {
    let t = tables().await;
    let (alice, bob) = (user("alice"), user("bob"));
    let a = t
        .create(
            &alice,
            "posts",
            obj(json!({"title": "a", "photo": "a-private"})),
        )
        .await
        .expect("own");
    t.create(
        &bob,
        "posts",
        obj(json!({"title": "b", "photo": "b-public"})),
    )
    .await
    .expect("public");
    t.create(&bob, "posts", obj(json!({"title": "c"})))
        .await
        .expect("none");
    let aid = a["_id"].as_str().unwrap();
    let expand = vec!["photo".to_string()];
    let own = t.get(&alice, "posts", aid, &expand).await.expect("read");
    assert_eq!(own["photo"], "a-private", "the id stays");
    assert_eq!(own["_expand"]["photo"]["url"], "https://f/a-private");
    let other = t.get(&bob, "posts", aid, &expand).await.expect("read");
    assert_eq!(other["_expand"], json!({"photo": null}));
    // Without expand, nothing is added.
    let plain = t.get(&alice, "posts", aid, &[]).await.expect("read");
    assert!(plain.get("_expand").is_none());

    let page = t
        .query(
            &bob,
            "posts",
            QuerySpec {
                expand: expand.clone(),
                ..Default::default()
            },
        )
        .await
        .expect("query");
    let by_title = |title: &str| {
        page.items
            .iter()
            .find(|r| r["title"] == title)
            .cloned()
            .expect("listed")
    };
    assert_eq!(by_title("a")["_expand"]["photo"], Value::Null);
    assert_eq!(by_title("b")["_expand"]["photo"]["id"], "b-public");
    assert_eq!(by_title("c")["_expand"], json!({"photo": null}));

    // Only ref and file fields expand.
    let e = t
        .get(&alice, "posts", aid, &["title".to_string()])
        .await
        .expect_err("not expandable");
    assert_eq!(e.code, Code::InvalidQuery);
}
