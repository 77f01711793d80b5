//! The ItemStore conformance suite. Every implementation runs exactly these checks, one
//! test per case ([`conformance_suite!`]); the store must be built on the [`ManualClock`]
//! passed in, so TTL can be tested by moving time. Every check works in partitions of its
//! own, so one DynamoDB table can be shared.

use std::sync::Arc;

use serde_json::{Value, json};
use yunqiao_core::clock::{Clock, ManualClock};
use yunqiao_core::store::{
    Attrs, Cond, Item, ItemStore, MAX_ITEM_BYTES, Query, SkRange, StoreError, Update, WriteOp,
    encode_cursor,
};

pub mod blobs;
pub mod tables;

pub type Store = Arc<dyn ItemStore>;

fn attrs(v: Value) -> Attrs {
    v.as_object().cloned().unwrap_or_default()
}

fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{prefix}-{nanos:x}-{}", N.fetch_add(1, Ordering::SeqCst))
}

/// A store opened for one case: the store, the [`ManualClock`] it was built on, and
/// whatever must outlive it (a temporary directory), dropped with it.
pub struct Opened {
    pub store: Store,
    pub clock: ManualClock,
    pub keep: Option<Box<dyn std::any::Any + Send>>,
}

impl Opened {
    pub fn new(store: Store, clock: ManualClock) -> Opened {
        Opened {
            store,
            clock,
            keep: None,
        }
    }

    /// Keeps `guard` (a temporary directory, say) alive as long as the store.
    pub fn keeping(mut self, guard: impl std::any::Any + Send) -> Opened {
        self.keep = Some(Box::new(guard));
        self
    }
}

/// Every case of the suite, as one test each: `conformance_suite!(open)` in a test file,
/// where `async fn open(case: &'static str) -> Option<Opened>` opens a fresh store for a
/// case (fresh, or sharing one with the others: every case works in partitions of its
/// own) and answers `None` when the store is not at hand (an emulator `make test` starts):
/// the case then passes as skipped, and `open` says so once.
#[macro_export]
macro_rules! conformance_suite {
    ($open:ident) => {
        $crate::conformance_suite!(@cases $open;
            get_put_and_round_trip, conditions, updates, deletes, query_ranges, cursor_paging,
            transactions, ttl, racing_conditional_writes, concurrent_increments,
            limits_and_bad_input);
    };
    (@cases $open:ident; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $case() {
                let Some(opened) = $open(stringify!($case)).await else { return };
                $crate::cases::$case(&opened).await;
            }
        )*
    };
}

/// The suite's cases, each on an [`Opened`] store: what [`conformance_suite!`] runs.
pub mod cases {
    use super::Opened;

    macro_rules! on_store {
        ($($case:ident),* $(,)?) => {
            $(
                pub async fn $case(o: &Opened) {
                    super::$case(&o.store).await
                }
            )*
        };
    }
    on_store!(
        get_put_and_round_trip,
        conditions,
        updates,
        deletes,
        query_ranges,
        cursor_paging,
        transactions,
        racing_conditional_writes,
        concurrent_increments,
        limits_and_bad_input,
    );

    pub async fn ttl(o: &Opened) {
        super::ttl(&o.store, &o.clock).await
    }
}

pub async fn get_put_and_round_trip(s: &Store) {
    let pk = unique("rt");
    assert_eq!(s.get(&pk, "x").await.unwrap(), None, "missing item");
    let doc = json!({
        "s": "héllo 云桥", "empty": "", "i": 42, "neg": -7, "big": 9_007_199_254_740_993i64,
        "f": 1.5, "t": true, "n": null,
        "arr": [1, "two", {"three": [3]}, [], {}], "obj": {"nested": {"deep": [false]}}
    });
    s.put(Item::new(&pk, "x", attrs(doc.clone())), None)
        .await
        .unwrap();
    let got = s.get(&pk, "x").await.unwrap().expect("put then get");
    assert_eq!(
        Value::Object(got.attrs),
        doc,
        "attributes round-trip exactly"
    );
    assert_eq!(got.expires_at, None);
    // Overwrite replaces all attributes.
    s.put(Item::new(&pk, "x", attrs(json!({"only": 1}))), None)
        .await
        .unwrap();
    let got = s.get(&pk, "x").await.unwrap().unwrap();
    assert_eq!(
        Value::Object(got.attrs),
        json!({"only": 1}),
        "put replaces the item"
    );
    assert_eq!(
        s.get(&pk, "y").await.unwrap(),
        None,
        "other sort key is absent"
    );
}

pub async fn conditions(s: &Store) {
    let pk = unique("cond");
    let put = |c: Option<Cond>, v: Value| s.put(Item::new(&pk, "a", attrs(v)), c);
    put(Some(Cond::NotExists), json!({"n": 1, "s": "m"}))
        .await
        .expect("NotExists on absent");
    assert_eq!(
        put(Some(Cond::NotExists), json!({})).await,
        Err(StoreError::ConditionFailed)
    );
    assert_eq!(
        s.put(Item::new(&pk, "b", Attrs::new()), Some(Cond::Exists))
            .await,
        Err(StoreError::ConditionFailed),
        "Exists on absent"
    );
    let cases: Vec<(Cond, bool)> = vec![
        (Cond::Exists, true),
        (Cond::eq("n", 1), true),
        (Cond::eq("n", 2), false),
        (Cond::eq("n", "1"), false),
        (Cond::Ne("n".into(), json!(2)), true),
        (Cond::Ne("missing".into(), json!(2)), true),
        (Cond::Lt("n".into(), json!(2)), true),
        (Cond::Le("n".into(), json!(1)), true),
        (Cond::Gt("n".into(), json!(1)), false),
        (Cond::Ge("n".into(), json!(1.0)), true),
        (Cond::Gt("s".into(), json!("a")), true),
        (Cond::Lt("s".into(), json!("a")), false),
        (Cond::Lt("n".into(), json!("z")), false),
        (Cond::AttrExists("s".into()), true),
        (Cond::AttrExists("zz".into()), false),
        (Cond::AttrNotExists("zz".into()), true),
        (Cond::And(vec![Cond::eq("n", 1), Cond::eq("s", "m")]), true),
        (Cond::And(vec![Cond::eq("n", 1), Cond::eq("s", "x")]), false),
        (Cond::Or(vec![Cond::eq("n", 9), Cond::eq("s", "m")]), true),
        (Cond::Not(Box::new(Cond::eq("n", 1))), false),
    ];
    for (i, (c, expect)) in cases.into_iter().enumerate() {
        // A check that passes must not change the item, so rewrite the same attributes.
        let r = put(Some(c.clone()), json!({"n": 1, "s": "m"})).await;
        assert_eq!(r.is_ok(), expect, "condition case {i}: {c:?} -> {r:?}");
        if !expect {
            assert_eq!(r, Err(StoreError::ConditionFailed), "case {i} error kind");
        }
    }
    let got = s.get(&pk, "a").await.unwrap().unwrap();
    assert_eq!(Value::Object(got.attrs), json!({"n": 1, "s": "m"}));
}

pub async fn updates(s: &Store) {
    let pk = unique("upd");
    assert_eq!(
        s.update(&pk, "a", Update::default().set("x", 1), None)
            .await,
        Err(StoreError::ConditionFailed),
        "update never creates"
    );
    // ...unless asked to: counters start from nothing, also inside transactions.
    let got = s
        .update(&pk, "ctr", Update::default().add("n", 2).upsert(), None)
        .await
        .unwrap();
    assert_eq!(got.attrs.get("n"), Some(&json!(2)));
    s.transact(vec![
        WriteOp::Update {
            pk: pk.clone(),
            sk: "ctr".into(),
            update: Update::default().add("n", -5).upsert(),
            cond: None,
        },
        WriteOp::Update {
            pk: pk.clone(),
            sk: "ctr2".into(),
            update: Update::default().add("n", 1).upsert(),
            cond: None,
        },
    ])
    .await
    .unwrap();
    assert_eq!(
        s.get(&pk, "ctr").await.unwrap().unwrap().attrs.get("n"),
        Some(&json!(-3))
    );
    assert_eq!(
        s.get(&pk, "ctr2").await.unwrap().unwrap().attrs.get("n"),
        Some(&json!(1))
    );
    s.put(
        Item::new(
            &pk,
            "a",
            attrs(json!({"n": 1, "f": 0.5, "gone": "x", "keep": [1]})),
        ),
        None,
    )
    .await
    .unwrap();
    let out = s
        .update(
            &pk,
            "a",
            Update::default()
                .set("s", "new")
                .remove("gone")
                .add("n", 2)
                .add("fresh", 5),
            Some(Cond::eq("n", 1)),
        )
        .await
        .unwrap();
    let expect = json!({"n": 3, "f": 0.5, "keep": [1], "s": "new", "fresh": 5});
    assert_eq!(
        Value::Object(out.attrs.clone()),
        expect,
        "update returns the new item"
    );
    assert_eq!(
        Value::Object(s.get(&pk, "a").await.unwrap().unwrap().attrs),
        expect
    );
    assert_eq!(
        s.update(
            &pk,
            "a",
            Update::default().set("s", "no"),
            Some(Cond::eq("n", 1))
        )
        .await,
        Err(StoreError::ConditionFailed),
        "stale condition"
    );
    let f = s
        .update(
            &pk,
            "a",
            Update::default().add("f", serde_json::Number::from_f64(0.25).unwrap()),
            None,
        )
        .await
        .unwrap();
    assert_eq!(f.attrs["f"], json!(0.75));
    assert!(
        matches!(
            s.update(&pk, "a", Update::default().add("s", 1), None)
                .await,
            Err(StoreError::Invalid(_))
        ),
        "adding to a string is invalid"
    );
    assert_eq!(
        s.get(&pk, "a").await.unwrap().unwrap().attrs["s"],
        json!("new"),
        "failed update changed nothing"
    );
    // Expiry can be set and cleared by an update.
    let far = 4_000_000_000;
    let t = s
        .update(
            &pk,
            "a",
            Update {
                expires_at: Some(Some(far)),
                ..Default::default()
            },
            None,
        )
        .await
        .unwrap();
    assert_eq!(t.expires_at, Some(far));
    let t = s
        .update(
            &pk,
            "a",
            Update {
                expires_at: Some(None),
                ..Default::default()
            },
            None,
        )
        .await
        .unwrap();
    assert_eq!(t.expires_at, None);
    assert_eq!(s.get(&pk, "a").await.unwrap().unwrap().expires_at, None);
}

pub async fn deletes(s: &Store) {
    let pk = unique("del");
    s.delete(&pk, "none", None)
        .await
        .expect("deleting an absent item is fine");
    assert_eq!(
        s.delete(&pk, "none", Some(Cond::Exists)).await,
        Err(StoreError::ConditionFailed)
    );
    s.put(Item::new(&pk, "a", attrs(json!({"v": 1}))), None)
        .await
        .unwrap();
    assert_eq!(
        s.delete(&pk, "a", Some(Cond::eq("v", 2))).await,
        Err(StoreError::ConditionFailed)
    );
    assert!(
        s.get(&pk, "a").await.unwrap().is_some(),
        "failed delete keeps the item"
    );
    s.delete(&pk, "a", Some(Cond::eq("v", 1))).await.unwrap();
    assert_eq!(s.get(&pk, "a").await.unwrap(), None);
}

async fn sks(s: &Store, q: Query) -> Vec<String> {
    s.query(q)
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|i| i.sk)
        .collect()
}

pub async fn query_ranges(s: &Store) {
    let pk = unique("qr");
    let other = unique("qr-other");
    let keys = ["a", "a#1", "a#2", "a#3", "b", "b#1", "c", "Z"];
    for k in keys {
        s.put(Item::new(&pk, k, attrs(json!({"k": k}))), None)
            .await
            .unwrap();
        s.put(Item::new(&other, k, Attrs::new()), None)
            .await
            .unwrap();
    }
    let q = || Query::partition(&pk);
    assert_eq!(
        sks(s, q()).await,
        ["Z", "a", "a#1", "a#2", "a#3", "b", "b#1", "c"],
        "byte order"
    );
    assert_eq!(
        sks(s, q().backwards()).await,
        ["c", "b#1", "b", "a#3", "a#2", "a#1", "a", "Z"]
    );
    assert_eq!(
        sks(s, q().range(SkRange::Prefix("a#".into()))).await,
        ["a#1", "a#2", "a#3"]
    );
    assert_eq!(
        sks(s, q().range(SkRange::Prefix("a#".into())).backwards()).await,
        ["a#3", "a#2", "a#1"]
    );
    assert_eq!(sks(s, q().range(SkRange::Eq("b".into()))).await, ["b"]);
    assert_eq!(
        sks(s, q().range(SkRange::Between("a#2".into(), "b".into()))).await,
        ["a#2", "a#3", "b"]
    );
    assert_eq!(
        sks(s, q().range(SkRange::Lt("a#1".into()))).await,
        ["Z", "a"]
    );
    assert_eq!(
        sks(s, q().range(SkRange::Le("a#1".into()))).await,
        ["Z", "a", "a#1"]
    );
    assert_eq!(
        sks(s, q().range(SkRange::Gt("b".into()))).await,
        ["b#1", "c"]
    );
    assert_eq!(
        sks(s, q().range(SkRange::Ge("b".into())).backwards()).await,
        ["c", "b#1", "b"]
    );
    assert_eq!(
        sks(s, q().range(SkRange::Prefix("zz".into()))).await,
        Vec::<String>::new()
    );
    assert_eq!(
        sks(s, Query::partition(unique("empty"))).await,
        Vec::<String>::new()
    );
    let page = s.query(q().limit(3)).await.unwrap();
    assert_eq!(page.items.len(), 3);
    assert_eq!(
        page.items[1].attrs["k"],
        json!("a"),
        "items carry their attributes"
    );
    assert!(page.cursor.is_some(), "more follow");
    let all = s.query(q().limit(8)).await.unwrap();
    assert_eq!(all.items.len(), 8);
    assert_eq!(all.cursor, None, "no cursor when nothing follows");
}

pub async fn cursor_paging(s: &Store) {
    let pk = unique("page");
    let n: usize = 137;
    let mut expected: Vec<String> = (0..n).map(|i| format!("k{i:04}")).collect();
    let ops: Vec<WriteOp> = expected
        .iter()
        .map(|k| WriteOp::put(Item::new(&pk, k, attrs(json!({"k": k}))), None))
        .collect();
    for chunk in ops.chunks(25) {
        s.transact(chunk.to_vec()).await.unwrap();
    }
    for forward in [true, false] {
        for limit in [1usize, 7, 50, 137, 500] {
            let mut got = Vec::new();
            let mut cursor = None;
            let mut pages = 0;
            loop {
                let mut q = Query::partition(&pk).limit(limit).after(cursor.clone());
                q.forward = forward;
                let page = s.query(q).await.unwrap();
                pages += 1;
                assert!(page.items.len() <= limit);
                got.extend(page.items.into_iter().map(|i| i.sk));
                match page.cursor {
                    Some(c) => cursor = Some(c),
                    None => break,
                }
                assert!(pages <= n + 1, "paging does not terminate");
            }
            let mut want = expected.clone();
            if !forward {
                want.reverse();
            }
            assert_eq!(got, want, "paging forward={forward} limit={limit}");
            assert_eq!(
                pages,
                n.div_ceil(limit),
                "pages forward={forward} limit={limit}"
            );
        }
    }
    // A cursor within a range keeps to the range.
    let page = s
        .query(
            Query::partition(&pk)
                .range(SkRange::Prefix("k00".into()))
                .limit(60),
        )
        .await
        .unwrap();
    assert_eq!(page.items.len(), 60);
    let rest = s
        .query(
            Query::partition(&pk)
                .range(SkRange::Prefix("k00".into()))
                .limit(60)
                .after(page.cursor),
        )
        .await
        .unwrap();
    assert_eq!(rest.items.len(), 40);
    assert_eq!(rest.cursor, None);
    // A cursor made from any sort key resumes after it.
    let resumed = sks(
        s,
        Query::partition(&pk)
            .limit(2)
            .after(Some(encode_cursor("k0100"))),
    )
    .await;
    assert_eq!(resumed, ["k0101", "k0102"]);
    expected.clear();
    assert!(matches!(
        s.query(Query::partition(&pk).after(Some("not a cursor!".into())))
            .await,
        Err(StoreError::Invalid(_))
    ));
}

pub async fn transactions(s: &Store) {
    let pk = unique("tx");
    s.put(Item::new(&pk, "guard", attrs(json!({"v": 1}))), None)
        .await
        .unwrap();
    s.put(Item::new(&pk, "gone", attrs(json!({"v": 1}))), None)
        .await
        .unwrap();
    s.put(Item::new(&pk, "counter", attrs(json!({"n": 10}))), None)
        .await
        .unwrap();
    let ops = |guard_v: i64| {
        vec![
            WriteOp::put(
                Item::new(&pk, "new", attrs(json!({"x": 1}))),
                Some(Cond::NotExists),
            ),
            WriteOp::Update {
                pk: pk.clone(),
                sk: "counter".into(),
                update: Update::default().add("n", 5),
                cond: None,
            },
            WriteOp::Delete {
                pk: pk.clone(),
                sk: "gone".into(),
                cond: Some(Cond::Exists),
            },
            WriteOp::Check {
                pk: pk.clone(),
                sk: "guard".into(),
                cond: Cond::eq("v", guard_v),
            },
        ]
    };
    assert_eq!(
        s.transact(ops(2)).await,
        Err(StoreError::TransactionCanceled { failed: vec![3] }),
        "failed check cancels the transaction"
    );
    assert_eq!(s.get(&pk, "new").await.unwrap(), None, "nothing applied");
    assert_eq!(
        s.get(&pk, "counter").await.unwrap().unwrap().attrs["n"],
        json!(10)
    );
    assert!(s.get(&pk, "gone").await.unwrap().is_some());
    s.transact(ops(1)).await.unwrap();
    assert!(s.get(&pk, "new").await.unwrap().is_some());
    assert_eq!(
        s.get(&pk, "counter").await.unwrap().unwrap().attrs["n"],
        json!(15)
    );
    assert_eq!(s.get(&pk, "gone").await.unwrap(), None);
    // Several failures are all reported.
    let r = s
        .transact(vec![
            WriteOp::put(Item::new(&pk, "new", Attrs::new()), Some(Cond::NotExists)),
            WriteOp::put(Item::new(&pk, "fresh", Attrs::new()), Some(Cond::NotExists)),
            WriteOp::Check {
                pk: pk.clone(),
                sk: "nope".into(),
                cond: Cond::Exists,
            },
        ])
        .await;
    assert_eq!(
        r,
        Err(StoreError::TransactionCanceled { failed: vec![0, 2] })
    );
    assert_eq!(s.get(&pk, "fresh").await.unwrap(), None);
    // Update of an absent item inside a transaction fails it.
    let r = s
        .transact(vec![
            WriteOp::put(Item::new(&pk, "fresh", Attrs::new()), None),
            WriteOp::Update {
                pk: pk.clone(),
                sk: "absent".into(),
                update: Update::default().set("a", 1),
                cond: None,
            },
        ])
        .await;
    assert_eq!(r, Err(StoreError::TransactionCanceled { failed: vec![1] }));
    assert_eq!(s.get(&pk, "fresh").await.unwrap(), None);
    // The full 100 operations commit together.
    let hundred: Vec<WriteOp> = (0..100)
        .map(|i| {
            WriteOp::put(
                Item::new(&pk, format!("h{i:03}"), attrs(json!({"i": i}))),
                Some(Cond::NotExists),
            )
        })
        .collect();
    s.transact(hundred.clone()).await.unwrap();
    let page = s
        .query(
            Query::partition(&pk)
                .range(SkRange::Prefix("h".into()))
                .limit(1000),
        )
        .await
        .unwrap();
    assert_eq!(page.items.len(), 100);
    assert!(matches!(
        s.transact(hundred.clone()).await,
        Err(StoreError::TransactionCanceled { .. })
    ));
    let mut too_many = hundred;
    too_many.push(WriteOp::put(Item::new(&pk, "h999", Attrs::new()), None));
    assert!(matches!(
        s.transact(too_many).await,
        Err(StoreError::Invalid(_))
    ));
    let dup = vec![
        WriteOp::put(Item::new(&pk, "d", Attrs::new()), None),
        WriteOp::Delete {
            pk: pk.clone(),
            sk: "d".into(),
            cond: None,
        },
    ];
    assert!(matches!(s.transact(dup).await, Err(StoreError::Invalid(_))));
    assert_eq!(s.get(&pk, "d").await.unwrap(), None);
}

pub async fn ttl(s: &Store, clock: &ManualClock) {
    let pk = unique("ttl");
    let now = clock.now_secs();
    s.put(
        Item::new(&pk, "short", attrs(json!({"v": 1}))).expiring_at(now + 10),
        None,
    )
    .await
    .unwrap();
    s.put(
        Item::new(&pk, "long", attrs(json!({"v": 2}))).expiring_at(now + 1000),
        None,
    )
    .await
    .unwrap();
    s.put(Item::new(&pk, "forever", attrs(json!({"v": 3}))), None)
        .await
        .unwrap();
    let got = s
        .get(&pk, "short")
        .await
        .unwrap()
        .expect("visible before expiry");
    assert_eq!(got.expires_at, Some(now + 10));
    assert_eq!(
        sks(s, Query::partition(&pk)).await,
        ["forever", "long", "short"]
    );
    clock.advance_ms(10_000);
    assert_eq!(
        s.get(&pk, "short").await.unwrap(),
        None,
        "invisible at its expiry second"
    );
    assert_eq!(sks(s, Query::partition(&pk)).await, ["forever", "long"]);
    assert_eq!(
        sks(s, Query::partition(&pk).backwards().limit(1)).await,
        ["long"]
    );
    let p = s.query(Query::partition(&pk).limit(2)).await.unwrap();
    assert_eq!(p.cursor, None, "an expired item does not make a cursor");
    // Conditions see an expired item as absent.
    assert_eq!(
        s.update(&pk, "short", Update::default().set("v", 9), None)
            .await,
        Err(StoreError::ConditionFailed)
    );
    assert_eq!(
        s.delete(&pk, "short", Some(Cond::Exists)).await,
        Err(StoreError::ConditionFailed)
    );
    assert_eq!(
        s.put(
            Item::new(&pk, "short", Attrs::new()),
            Some(Cond::eq("v", 1))
        )
        .await,
        Err(StoreError::ConditionFailed)
    );
    s.put(
        Item::new(&pk, "short", attrs(json!({"v": 4}))),
        Some(Cond::NotExists),
    )
    .await
    .expect("an expired item can be replaced as if absent");
    let got = s.get(&pk, "short").await.unwrap().unwrap();
    assert_eq!(got.attrs["v"], json!(4));
    assert_eq!(got.expires_at, None);
    let r = s
        .transact(vec![WriteOp::Check {
            pk: pk.clone(),
            sk: "long".into(),
            cond: Cond::Exists,
        }])
        .await;
    assert_eq!(r, Ok(()));
    clock.advance_ms(1_000_000);
    let r = s
        .transact(vec![WriteOp::Check {
            pk: pk.clone(),
            sk: "long".into(),
            cond: Cond::Exists,
        }])
        .await;
    assert_eq!(r, Err(StoreError::TransactionCanceled { failed: vec![0] }));
}

pub async fn racing_conditional_writes(s: &Store) {
    let pk = unique("race");
    let racers = 16;
    let mut tasks = Vec::new();
    for i in 0..racers {
        let s = s.clone();
        let pk = pk.clone();
        tasks.push(tokio::spawn(async move {
            s.put(
                Item::new(&pk, "one", attrs(json!({"winner": i}))),
                Some(Cond::NotExists),
            )
            .await
        }));
    }
    let mut winners = Vec::new();
    for (i, t) in tasks.into_iter().enumerate() {
        match t.await.unwrap() {
            Ok(()) => winners.push(i),
            Err(StoreError::ConditionFailed) => {}
            Err(e) => panic!("racer {i}: unexpected {e:?}"),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one create wins: {winners:?}");
    let got = s.get(&pk, "one").await.unwrap().unwrap();
    assert_eq!(got.attrs["winner"], json!(winners[0]));
    // Compare-and-set on a version: exactly one of the racers moves it from 1 to 2.
    s.put(Item::new(&pk, "cas", attrs(json!({"v": 1}))), None)
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for i in 0..racers {
        let s = s.clone();
        let pk = pk.clone();
        tasks.push(tokio::spawn(async move {
            s.update(
                &pk,
                "cas",
                Update::default().set("v", 2).set("by", i),
                Some(Cond::eq("v", 1)),
            )
            .await
            .is_ok()
        }));
    }
    let mut ok = 0;
    for t in tasks {
        ok += usize::from(t.await.unwrap());
    }
    assert_eq!(ok, 1, "exactly one compare-and-set wins");
    // The same race through transactions.
    let mut tasks = Vec::new();
    for i in 0..racers {
        let s = s.clone();
        let pk = pk.clone();
        tasks.push(tokio::spawn(async move {
            s.transact(vec![
                WriteOp::put(
                    Item::new(&pk, "tx-one", attrs(json!({"i": i}))),
                    Some(Cond::NotExists),
                ),
                WriteOp::put(Item::new(&pk, format!("tx-side-{i}"), Attrs::new()), None),
            ])
            .await
        }));
    }
    let mut ok = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(()) => ok += 1,
            Err(StoreError::TransactionCanceled { .. }) => {}
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
    assert_eq!(ok, 1, "exactly one transaction wins");
    let sides = s
        .query(Query::partition(&pk).range(SkRange::Prefix("tx-side-".into())))
        .await
        .unwrap();
    assert_eq!(sides.items.len(), 1, "losing transactions wrote nothing");
}

pub async fn concurrent_increments(s: &Store) {
    let pk = unique("inc");
    s.put(Item::new(&pk, "c", attrs(json!({"n": 0}))), None)
        .await
        .unwrap();
    let n = 50;
    let mut tasks = Vec::new();
    for _ in 0..n {
        let s = s.clone();
        let pk = pk.clone();
        tasks.push(tokio::spawn(async move {
            s.update(&pk, "c", Update::default().add("n", 1), None)
                .await
        }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    assert_eq!(
        s.get(&pk, "c").await.unwrap().unwrap().attrs["n"],
        json!(n),
        "no increment lost"
    );
}

pub async fn limits_and_bad_input(s: &Store) {
    let pk = unique("lim");
    // Numbers outside DynamoDB's range are refused the same way by every store.
    for n in [json!(1e200), json!({"deep": [1e-200]})] {
        assert!(
            matches!(
                s.put(Item::new(&pk, "num", attrs(json!({ "n": n }))), None)
                    .await,
                Err(StoreError::Invalid(_))
            ),
            "{n}"
        );
    }
    let big = Item::new(&pk, "big", attrs(json!({"b": "x".repeat(MAX_ITEM_BYTES)})));
    assert!(matches!(
        s.put(big, None).await,
        Err(StoreError::ItemTooLarge { .. })
    ));
    s.put(
        Item::new(
            &pk,
            "grow",
            attrs(json!({"b": "x".repeat(MAX_ITEM_BYTES / 2)})),
        ),
        None,
    )
    .await
    .unwrap();
    let grow = Update::default().set("c", "y".repeat(MAX_ITEM_BYTES * 3 / 4));
    assert!(matches!(
        s.update(&pk, "grow", grow, None).await,
        Err(StoreError::ItemTooLarge { .. })
    ));
    assert!(
        s.get(&pk, "grow")
            .await
            .unwrap()
            .unwrap()
            .attrs
            .get("c")
            .is_none()
    );
    assert!(matches!(s.get("", "x").await, Err(StoreError::Invalid(_))));
    assert!(matches!(
        s.put(Item::new("", "x", Attrs::new()), None).await,
        Err(StoreError::Invalid(_))
    ));
    assert!(matches!(
        s.get(&"p".repeat(2000), "x").await,
        Err(StoreError::Invalid(_))
    ));
    assert!(matches!(
        s.query(Query::partition(&pk).limit(0)).await,
        Err(StoreError::Invalid(_))
    ));
    assert!(matches!(
        s.query(Query::partition(&pk).limit(100_000)).await,
        Err(StoreError::Invalid(_))
    ));
    assert!(matches!(
        s.update(&pk, "grow", Update::default(), None).await,
        Err(StoreError::Invalid(_))
    ));
    assert!(matches!(
        s.put(Item::new(&pk, "x", attrs(json!({"": 1}))), None)
            .await,
        Err(StoreError::Invalid(_))
    ));
}
