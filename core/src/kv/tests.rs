//! Unit tests of the key-value service.

use super::*;
use crate::store::encode_cursor;

const ALICE: &str = "01hx0000000000000000000001";
const BOB: &str = "01hx0000000000000000000002";

fn ns(read: &str, write: &str, scope: Scope) -> Namespace {
    Namespace {
        name: "prefs".into(),
        read: CreateRule::parse(read).unwrap(),
        write: CreateRule::parse(write).unwrap(),
        scope,
        version: 1,
        created_at: 0,
        updated_at: 0,
    }
}

fn code(r: Result<impl std::fmt::Debug>) -> &'static str {
    r.expect_err("an error").code.as_str()
}

#[test]
fn keys() {
    assert!(ids::is_id(ALICE) && ids::is_id(BOB));
    for ok in [
        "a",
        "user:1",
        "a.b-c_d~e!$&'()*+,;=@[]{}|^`\"<>?%\\",
        "A",
        "0",
    ] {
        assert!(valid_key(ok), "{ok:?}");
    }
    assert!(valid_key(&"k".repeat(MAX_KEY_BYTES)));
    for bad in ["", "a b", "a/b", "a#b", "é", "a\tb", "a\0", "\x7f"] {
        assert!(!valid_key(bad), "{bad:?}");
    }
    assert!(!valid_key(&"k".repeat(MAX_KEY_BYTES + 1)));
    assert_eq!(code(check_key("a/b")), "INVALID_ARGUMENT");
}

#[test]
fn namespace_names() {
    assert!(check_namespace_name("prefs_2").is_ok());
    for bad in ["", "Prefs", "2prefs", "a-b", "a#b", &"a".repeat(65)] {
        assert_eq!(
            code(check_namespace_name(bad)),
            "INVALID_ARGUMENT",
            "{bad:?}"
        );
    }
}

#[test]
fn ttl_and_version_ranges() {
    assert!(check_ttl(1).is_ok() && check_ttl(MAX_TTL_SECS).is_ok());
    for bad in [0, -1, MAX_TTL_SECS + 1, i64::MAX] {
        assert!(check_ttl(bad).is_err(), "{bad}");
    }
    assert!(check_version(1).is_ok());
    assert!(check_version(0).is_err() && check_version(-3).is_err());
}

#[test]
fn values() {
    for ok in [
        json!(null),
        json!(0),
        json!(1.5e125),
        json!(-1e-129),
        json!(u64::MAX),
        json!({"a": [1, "x", {"b": null}]}),
        json!(""),
    ] {
        assert!(check_value(&ok).is_ok(), "{ok}");
    }
    let big = json!("x".repeat(MAX_VALUE_BYTES));
    let e = check_value(&big).unwrap_err();
    assert_eq!(
        (e.code, e.details["limit"].clone()),
        (Code::ItemTooLarge, json!(MAX_VALUE_BYTES))
    );
    assert!(
        check_value(&json!("x".repeat(MAX_VALUE_BYTES - 2))).is_ok(),
        "quotes count"
    );
    let mut deep = json!(1);
    for _ in 0..MAX_DEPTH - 1 {
        deep = json!([deep]);
    }
    assert!(check_value(&deep).is_ok());
    assert_eq!(code(check_value(&json!([deep]))), "INVALID_ARGUMENT");
    assert_eq!(code(check_value(&json!({"": 1}))), "INVALID_ARGUMENT");
    assert_eq!(code(check_value(&json!([1e200]))), "INVALID_ARGUMENT");
    assert_eq!(code(check_value(&json!(1e-200))), "INVALID_ARGUMENT");
}

#[test]
fn expiry_rounds_up_to_whole_seconds() {
    assert_eq!(expiry_secs(1_000_000, 60), 1_060);
    assert_eq!(expiry_secs(1_000_001, 60), 1_061);
    assert_eq!(expiry_secs(1_000_999, 1), 1_002);
}

#[test]
fn put_body_tells_null_from_absent() {
    let p: PutEntry = serde_json::from_str(r#"{"value": null}"#).unwrap();
    assert_eq!(p.value, Some(Value::Null));
    let p: PutEntry = serde_json::from_str(r#"{"ttl": 5}"#).unwrap();
    assert_eq!((p.value, p.ttl), (None, Some(5)));
    assert!(serde_json::from_str::<PutEntry>(r#"{"value": 1, "create_only": true}"#).is_err());
    // The version a write is conditional on is `_v`, as a record's; `version` is refused.
    let p: PutEntry = serde_json::from_str(r#"{"value": 1, "_v": 2}"#).unwrap();
    assert_eq!(p.version, Some(2));
    assert!(serde_json::from_str::<PutEntry>(r#"{"value": 1, "version": 2}"#).is_err());
    assert!(serde_json::from_str::<NamespaceDef>(r#"{"reed": "users"}"#).is_err());
}

#[test]
fn rules() {
    let anon = Caller::Anonymous;
    let alice = Caller::test_user(ALICE, &[]);
    let editor = Caller::test_user(BOB, &["editors"]);
    let admin = Caller::AdminKey;
    let admin_user = Caller::test_user(BOB, &["admin"]);
    let cases = [
        ("anyone", [true, true, true, true, true]),
        ("users", [false, true, true, true, true]),
        ("group:editors", [false, false, true, true, true]),
        ("admins", [false, false, false, true, true]),
    ];
    for (rule, want) in cases {
        let r = CreateRule::parse(rule).unwrap();
        let got = [&anon, &alice, &editor, &admin, &admin_user].map(|c| rules::passes(&r, c));
        assert_eq!(got, want, "{rule}");
    }
}

#[test]
fn partitions_follow_rules_and_scope() {
    let shared = ns("anyone", "group:editors", Scope::Shared);
    let anon = Caller::Anonymous;
    let alice = Caller::test_user(ALICE, &[]);
    assert_eq!(
        partition(&shared, &anon, None, Access::Read).unwrap(),
        Some("kv#prefs".into())
    );
    assert_eq!(
        code(partition(&shared, &anon, None, Access::Write)),
        "UNAUTHENTICATED"
    );
    assert_eq!(
        code(partition(&shared, &alice, None, Access::Write)),
        "FORBIDDEN"
    );
    assert_eq!(
        code(partition(
            &shared,
            &Caller::AdminKey,
            Some(ALICE),
            Access::Read
        )),
        "INVALID_ARGUMENT",
        "user is for user scope"
    );

    let private = ns("anyone", "users", Scope::User);
    assert_eq!(
        code(partition(&private, &anon, None, Access::Read)),
        "UNAUTHENTICATED",
        "anonymous callers have no keys of their own"
    );
    assert_eq!(
        partition(&private, &alice, None, Access::Read).unwrap(),
        Some(format!("kv#prefs#{ALICE}"))
    );
    assert_eq!(
        partition(&private, &alice, Some(ALICE), Access::Write).unwrap(),
        Some(format!("kv#prefs#{ALICE}"))
    );
    assert_eq!(
        code(partition(&private, &alice, Some(BOB), Access::Read)),
        "FORBIDDEN"
    );
    assert_eq!(
        code(partition(&private, &alice, Some("nope"), Access::Read)),
        "INVALID_ARGUMENT"
    );
    assert_eq!(
        partition(&private, &Caller::AdminKey, Some(BOB), Access::Write).unwrap(),
        Some(format!("kv#prefs#{BOB}"))
    );
    assert_eq!(
        partition(&private, &Caller::AdminKey, None, Access::Read).unwrap(),
        None
    );
    let admin_user = Caller::test_user(BOB, &["admin"]);
    assert_eq!(
        partition(&private, &admin_user, None, Access::Read).unwrap(),
        Some(format!("kv#prefs#{BOB}"))
    );
    assert_eq!(
        partition(&private, &admin_user, Some(ALICE), Access::Read).unwrap(),
        Some(format!("kv#prefs#{ALICE}"))
    );
}

#[test]
fn namespaces_round_trip_through_items() {
    let n = ns("group:editors", "admins", Scope::User);
    let item = Item::new(ns_pk("prefs"), "_", n.attrs());
    assert_eq!(Namespace::from_item("prefs", &item).unwrap(), n);
    assert_eq!(item.str("read"), Some("group:editors"));
    assert_eq!(item.str("scope"), Some("user"));
    let broken = Item::new(ns_pk("prefs"), "_", Map::new());
    assert_eq!(code(Namespace::from_item("prefs", &broken)), "INTERNAL");
}

#[test]
fn entries_show_expiry_in_milliseconds() {
    let mut attrs = Map::new();
    attrs.insert("value".into(), json!({"a": 1}));
    attrs.insert("version".into(), json!(3));
    attrs.insert("created_at".into(), json!(10));
    attrs.insert("updated_at".into(), json!(20));
    let e = Entry::from_item(&Item::new("kv#p", "k", attrs).expiring_at(1_061));
    assert_eq!(
        e,
        Entry {
            key: "k".into(),
            value: json!({"a": 1}),
            version: 3,
            created_at: 10,
            updated_at: 20,
            expires_at: Some(1_061_000),
        }
    );
}

/// A store that is never reached: input errors come before any store access.
struct NoStore;

#[async_trait::async_trait]
impl ItemStore for NoStore {
    async fn get(&self, _: &str, _: &str) -> Result<Option<Item>, StoreError> {
        Err(StoreError::Unavailable("not reached".into()))
    }
    async fn put(&self, _: Item, _: Option<Cond>) -> Result<(), StoreError> {
        Err(StoreError::Unavailable("not reached".into()))
    }
    async fn update(
        &self,
        _: &str,
        _: &str,
        _: Update,
        _: Option<Cond>,
    ) -> Result<Item, StoreError> {
        Err(StoreError::Unavailable("not reached".into()))
    }
    async fn delete(&self, _: &str, _: &str, _: Option<Cond>) -> Result<(), StoreError> {
        Err(StoreError::Unavailable("not reached".into()))
    }
    async fn query(&self, _: Query) -> Result<crate::store::Page, StoreError> {
        Err(StoreError::Unavailable("not reached".into()))
    }
    async fn transact(&self, _: Vec<WriteOp>) -> Result<(), StoreError> {
        Err(StoreError::Unavailable("not reached".into()))
    }
}

#[tokio::test]
async fn bad_input_is_refused_before_the_store() {
    let kv = Kv::new(
        Arc::new(NoStore),
        Arc::new(crate::clock::ManualClock::at(1_000)),
    );
    let alice = Caller::test_user(ALICE, &[]);
    let admin = Caller::AdminKey;
    fn list(prefix: Option<&str>, limit: Option<usize>, cursor: Option<String>) -> ListParams {
        ListParams {
            prefix: prefix.map(str::to_string),
            limit,
            cursor,
        }
    }
    let cases: Vec<(Result<(Namespace, ListPage)>, &str)> = vec![
        (
            kv.list(&alice, "Bad", None, list(None, None, None)).await,
            "INVALID_ARGUMENT",
        ),
        (
            kv.list(&alice, "p", None, list(Some("a b"), None, None))
                .await,
            "INVALID_ARGUMENT",
        ),
        (
            kv.list(&alice, "p", None, list(None, Some(0), None)).await,
            "INVALID_ARGUMENT",
        ),
        (
            kv.list(
                &alice,
                "p",
                None,
                list(None, Some(MAX_LIST_LIMIT + 1), None),
            )
            .await,
            "INVALID_ARGUMENT",
        ),
        (
            kv.list(&alice, "p", None, list(None, None, Some("***".into())))
                .await,
            "INVALID_CURSOR",
        ),
        (
            kv.list(
                &alice,
                "p",
                None,
                list(Some("b"), None, Some(encode_cursor("a1"))),
            )
            .await,
            "INVALID_CURSOR",
        ),
        (
            kv.list(&alice, "p", Some("x"), list(None, None, None))
                .await,
            "INVALID_ARGUMENT",
        ),
    ];
    for (i, (r, want)) in cases.into_iter().enumerate() {
        assert_eq!(r.expect_err("refused").code.as_str(), want, "case {i}");
    }
    assert_eq!(
        code(kv.get(&alice, "p", "a/b", None).await),
        "INVALID_ARGUMENT"
    );
    assert_eq!(
        code(kv.exists(&alice, "p-q", "a", None).await),
        "INVALID_ARGUMENT"
    );
    assert_eq!(
        code(kv.delete(&alice, "p", "a", None, Some(0)).await),
        "INVALID_ARGUMENT"
    );
    let def = NamespaceDef {
        read: Some("everyone".into()),
        ..Default::default()
    };
    let e = kv.put_namespace(&admin, "p", &def).await.unwrap_err();
    assert_eq!(
        (e.code.as_str(), e.details["field"].as_str()),
        ("INVALID_ARGUMENT", Some("read"))
    );
    let def = NamespaceDef {
        scope: Some("global".into()),
        ..Default::default()
    };
    assert_eq!(
        code(kv.put_namespace(&admin, "p", &def).await),
        "INVALID_ARGUMENT"
    );
    assert_eq!(
        code(
            kv.put_namespace(&alice, "p", &NamespaceDef::default())
                .await
        ),
        "FORBIDDEN"
    );
    assert_eq!(
        code(
            kv.put_namespace(&Caller::Anonymous, "p", &NamespaceDef::default())
                .await
        ),
        "UNAUTHENTICATED"
    );
    assert_eq!(code(kv.list_namespaces(&alice).await), "FORBIDDEN");
}
