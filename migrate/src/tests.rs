//! Conversions of exports built here in LeanCloud's and CloudBase's formats, with the
//! tricky cases: pointers to missing rows, mixed types in one column, unicode, 10k rows,
//! a `_User` without `lc_weapp`, dates in every form, unreachable and reachable files,
//! a reviewed schema, broken input.

use std::collections::{BTreeMap, HashMap};
use std::io::Read;

use serde_json::{Map, Value, json};
use yunqiao_core::ids::is_id;
use yunqiao_core::tables::{FieldType, Schema};

use crate::{Converted, Fetch, NoFetch, Options, Plan, Source, convert};

fn export(files: &[(&str, String)]) -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    for (name, text) in files {
        std::fs::write(d.path().join(name), text).unwrap();
    }
    d
}

fn jsonl(rows: &[Value]) -> String {
    rows.iter().map(|r| format!("{r}\n")).collect()
}

fn opts() -> Options {
    Options {
        plan: None,
        now_ms: 1_700_000_000_000,
    }
}

fn run(source: Source, d: &tempfile::TempDir) -> Converted {
    convert(source, d.path(), &opts(), &NoFetch).unwrap()
}

fn table<'a>(c: &'a Converted, name: &str) -> &'a crate::TableOut {
    c.tables
        .iter()
        .find(|t| t.name == name)
        .unwrap_or_else(|| panic!("no table {name}"))
}

fn by_lc<'a>(c: &'a Converted, t: &str, lc: &str) -> &'a Map<String, Value> {
    table(c, t)
        .records
        .iter()
        .find(|r| r["lc_id"] == lc)
        .unwrap_or_else(|| panic!("no {lc} in {t}"))
}

fn field<'a>(c: &'a Converted, t: &str, f: &str) -> &'a yunqiao_core::tables::Field {
    table(c, t)
        .def
        .fields
        .iter()
        .find(|x| x.name == f)
        .unwrap_or_else(|| panic!("no field {t}.{f}"))
}

fn notes(c: &Converted, kind: &str) -> Vec<String> {
    c.report
        .notes_of(kind)
        .map(|n| format!("{}: {} {:?}", n.at, n.message, n.samples))
        .collect()
}

/// Every record is one the table's own schema accepts, with valid system fields.
fn all_valid(c: &Converted) {
    for t in &c.tables {
        let s = Schema::from_def(&t.name, &t.def).unwrap();
        for r in &t.records {
            assert!(is_id(r["_id"].as_str().unwrap()), "{r:?}");
            let fields: Map<String, Value> = r
                .iter()
                .filter(|(k, _)| !k.starts_with('_'))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            s.validate(&fields, true)
                .unwrap_or_else(|e| panic!("{}: {r:?}: {}", t.name, e.message));
            for k in ["_created", "_updated"] {
                if let Some(v) = r.get(k) {
                    assert!(
                        yunqiao_core::tables::schema::parse_rfc3339(v.as_str().unwrap()).is_some()
                    );
                }
            }
        }
    }
}

const ALICE_OPENID: &str = "oAlice_0123456789abcdefghijkl";
const BOB_OPENID: &str = "oBob_0123456789abcdefghijklmn";

fn users_jsonl() -> String {
    jsonl(&[
        json!({"objectId": "u0000000000000000000000a", "username": "alice", "nickName": "爱丽丝 🌸",
               "createdAt": "2025-01-01T00:00:00.000Z", "updatedAt": "2025-02-01T00:00:00.000Z",
               "authData": {"lc_weapp": {"openid": ALICE_OPENID, "unionid": "uAlice", "session_key": "SECRET-SK"}},
               "_hashed_password": "$2b$10$never-exported"}),
        json!({"objectId": "u0000000000000000000000b", "username": "bob",
               "createdAt": {"__type": "Date", "iso": "2025-01-02T00:00:00.000Z"},
               "authData": {"lc_weapp": {"openid": BOB_OPENID}}}),
        json!({"objectId": "u0000000000000000000000c", "username": "carol", "email": "c@example.com",
               "createdAt": "2025-01-03T00:00:00.000Z"}),
    ])
}

fn blog() -> tempfile::TempDir {
    let acl_alice =
        json!({"u0000000000000000000000a": {"read": true, "write": true}, "*": {"read": true}});
    let posts = jsonl(&[
        json!({"objectId": "p0000000000000000000001", "title": "你好，世界 👋", "score": 5,
               "createdAt": "2025-07-02T07:58:45.609Z", "updatedAt": "2025-07-03T01:00:00.000Z",
               "publishedAt": {"__type": "Date", "iso": "2025-07-02T08:00:00.000Z"},
               "tags": ["中文", "emoji 😀"], "location": {"__type": "GeoPoint", "latitude": 31.23, "longitude": 121.47},
               "cover": {"__type": "File", "objectId": "f01", "name": "封面.png", "url": "http://127.0.0.1:9/cover.png"},
               "author": {"__type": "Pointer", "className": "_User", "objectId": "u0000000000000000000000a"},
               "ACL": acl_alice}),
        json!({"objectId": "p0000000000000000000002", "title": "second", "score": 4.5,
               "createdAt": "2025-07-04T00:00:00Z", "publishedAt": {"$date": "2025-07-04T00:00:00Z"},
               "author": {"__type": "Pointer", "className": "_User", "objectId": "u0000000000000000000000c"},
               "ACL": {"u0000000000000000000000c": {"read": true, "write": true}, "*": {"read": true}}}),
    ]);
    let comments = jsonl(&[
        // Typed pointer.
        json!({"objectId": "c1", "post": {"__type": "Pointer", "className": "Post", "objectId": "p0000000000000000000001"},
               "body": "第一", "extra": "text", "meta": {"k": 1},
               "createdAt": "2025-07-05T00:00:00.000Z", "ACL": {"u0000000000000000000000b": {"read": true, "write": true}}}),
        // Plain pointer form.
        json!({"objectId": "c2", "post": {"className": "Post", "objectId": "p0000000000000000000002"},
               "body": "second", "extra": 42, "meta": "plain",
               "createdAt": "2025-07-06T00:00:00.000Z", "_rperm": ["*"], "_wperm": ["u0000000000000000000000a"]}),
        // A pointer to a row that is not in the export.
        json!({"objectId": "c3", "post": {"__type": "Pointer", "className": "Post", "objectId": "gone"},
               "body": "orphan", "extra": true, "createdAt": "2025-07-07T00:00:00.000Z"}),
        // Mongo's pointer form.
        json!({"objectId": "c4", "_p_post": "Post$p0000000000000000000001", "body": "mongo form",
               "createdAt": "2025-07-08T00:00:00.000Z", "ACL": {"role:Moderators": {"read": true, "write": true}}}),
    ]);
    let roles = jsonl(&[
        json!({"objectId": "r1", "name": "Moderators", "users": [{"__type": "Pointer", "className": "_User", "objectId": "u0000000000000000000000a"}]}),
        json!({"objectId": "r2", "name": "管理员"}),
    ]);
    export(&[
        ("_User.jsonl", users_jsonl()),
        ("_Role.jsonl", roles),
        (
            "_Join:users:_Role.jsonl",
            jsonl(&[json!({"owningId": "r1", "relatedId": "u0000000000000000000000b"})]),
        ),
        ("Post.jsonl", posts),
        ("Comment.jsonl", comments),
        ("_Installation.jsonl", jsonl(&[json!({"objectId": "i1"})])),
    ])
}

#[test]
fn leancloud_classes_become_tables_users_and_rewritten_refs() {
    let d = blog();
    let c = run(Source::LeanCloud, &d);
    all_valid(&c);
    // Users: those with a WeChat identity, keyed by the same openid; carol is listed.
    assert_eq!(c.users.len(), 2);
    let alice = c.users.iter().find(|u| u.openid == ALICE_OPENID).unwrap();
    let bob = c.users.iter().find(|u| u.openid == BOB_OPENID).unwrap();
    assert_eq!(alice.unionid.as_deref(), Some("uAlice"));
    assert_eq!(alice.nickname.as_deref(), Some("爱丽丝 🌸"));
    assert_eq!(alice.created_at, 1_735_689_600_000);
    assert_eq!(bob.created_at, 1_735_776_000_000, "typed createdAt");
    let skipped = notes(&c, "user_skipped");
    assert!(
        skipped
            .iter()
            .any(|n| n.contains("u0000000000000000000000c")),
        "{skipped:?}"
    );
    // Roles → groups, members from the users column and the join class.
    assert_eq!(alice.groups, ["moderators"]);
    assert_eq!(bob.groups, ["moderators"]);
    assert!(
        notes(&c, "unmapped").iter().any(|n| n.contains("管理员")),
        "a role name that is no group name is listed"
    );
    assert!(
        notes(&c, "unmapped")
            .iter()
            .any(|n| n.starts_with("_Installation")),
        "{:?}",
        c.report.notes
    );
    // Tables and inferred types.
    assert_eq!(
        c.tables.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(),
        ["comment", "post"]
    );
    assert_eq!(field(&c, "post", "lc_id").kind, FieldType::String);
    assert!(field(&c, "post", "lc_id").index);
    assert_eq!(field(&c, "post", "title").kind, FieldType::String);
    assert_eq!(
        field(&c, "post", "score").kind,
        FieldType::Number,
        "5 and 4.5"
    );
    assert_eq!(field(&c, "post", "published_at").kind, FieldType::Datetime);
    assert_eq!(field(&c, "post", "tags").kind, FieldType::Json);
    assert_eq!(field(&c, "post", "location").kind, FieldType::Json);
    assert_eq!(field(&c, "post", "cover").kind, FieldType::File);
    assert_eq!(field(&c, "post", "author").kind, FieldType::String);
    let post_ref = field(&c, "comment", "post");
    assert_eq!(
        (post_ref.kind, post_ref.table.as_deref(), post_ref.index),
        (FieldType::Ref, Some("post"), true)
    );
    assert_eq!(field(&c, "comment", "extra").kind, FieldType::String);
    assert_eq!(field(&c, "comment", "meta").kind, FieldType::Json);
    let mixed = notes(&c, "mixed_types");
    assert!(
        mixed.iter().any(|n| n.starts_with("Comment.extra")),
        "{mixed:?}"
    );
    assert!(
        mixed.iter().any(|n| n.starts_with("Comment.meta")),
        "{mixed:?}"
    );
    assert!(
        mixed
            .iter()
            .any(|n| n.starts_with("Post.score: 1 integers and 1 numbers")),
        "{mixed:?}"
    );
    // Records: ids, owners, dates, unicode, rewritten references.
    let p1 = by_lc(&c, "post", "p0000000000000000000001");
    let p2 = by_lc(&c, "post", "p0000000000000000000002");
    assert_eq!(p1["title"], "你好，世界 👋");
    assert_eq!(p1["_owner"], json!(alice.id));
    assert_eq!(
        p1["author"],
        json!(alice.id),
        "a pointer to _User: the user id"
    );
    assert_eq!(p1["_created"], "2025-07-02T07:58:45.609Z");
    assert_eq!(p1["_updated"], "2025-07-03T01:00:00.000Z");
    assert_eq!(p1["published_at"], "2025-07-02T08:00:00.000Z");
    assert_eq!(p2["published_at"], "2025-07-04T00:00:00.000Z", "$date form");
    assert_eq!(p2["_updated"], p2["_created"], "no updatedAt: the creation");
    assert_eq!(p1["tags"], json!(["中文", "emoji 😀"]));
    assert_eq!(
        p1["location"],
        json!({"latitude": 31.23, "longitude": 121.47})
    );
    assert_eq!(p1["_v"], 1);
    assert!(p1.get("cover").is_none(), "the file was not fetched");
    assert_eq!(p2["_owner"], Value::Null, "carol is no user here");
    assert!(
        p2.get("author").is_none(),
        "a pointer to a user who is not here"
    );
    assert!(
        notes(&c, "owner")
            .iter()
            .any(|n| n.contains("p0000000000000000000002"))
    );
    let c1 = by_lc(&c, "comment", "c1");
    let c2 = by_lc(&c, "comment", "c2");
    let c3 = by_lc(&c, "comment", "c3");
    let c4 = by_lc(&c, "comment", "c4");
    assert_eq!(c1["post"], p1["_id"]);
    assert_eq!(c2["post"], p2["_id"], "the plain pointer form");
    assert_eq!(c4["post"], p1["_id"], "the _p_ form");
    assert!(c3.get("post").is_none(), "a pointer to a missing row");
    let missing = notes(&c, "missing_ref");
    assert!(
        missing
            .iter()
            .any(|n| n.starts_with("Comment.post") && n.contains("c3→gone")),
        "{missing:?}"
    );
    assert_eq!(c1["_owner"], json!(bob.id));
    assert_eq!(c2["_owner"], json!(alice.id), "_wperm form");
    assert_eq!(c3["_owner"], Value::Null, "no ACL: nobody's");
    assert_eq!(c4["_owner"], Value::Null);
    assert_eq!(c4["_group"], "moderators", "the ACL's one role");
    assert_eq!(c1["extra"], "text");
    assert_eq!(c2["extra"], "42");
    assert_eq!(c3["extra"], "true");
    assert_eq!(c1["meta"], json!({"k": 1}));
    assert_eq!(c2["meta"], json!(["plain"]));
    // Rules inferred from the ACLs.
    assert_eq!(table(&c, "post").def.acl.record.as_deref(), Some("rwd:r:r"));
    assert_eq!(
        table(&c, "comment").def.acl.record.as_deref(),
        Some("rwd:-:-")
    );
    assert!(notes(&c, "acl").iter().any(|n| n.starts_with("Comment")));
    // The file is listed with its URL.
    let files = notes(&c, "file_not_fetched");
    assert!(
        files
            .iter()
            .any(|n| n.contains("http://127.0.0.1:9/cover.png")),
        "{files:?}"
    );
    // Secrets and password hashes go nowhere.
    let everything = format!("{:?}{:?}{:?}{}", c.tables, c.users, c.plan, c.report);
    for secret in ["SECRET-SK", "never-exported", "c@example.com"] {
        assert!(!everything.contains(secret), "{secret}");
    }
}

#[test]
fn converting_twice_answers_the_same_ids() {
    let d = blog();
    let a = run(Source::LeanCloud, &d);
    let b = run(Source::LeanCloud, &d);
    let ids = |c: &Converted| -> Vec<Value> {
        c.tables
            .iter()
            .flat_map(|t| t.records.iter().map(|r| r["_id"].clone()))
            .chain(c.users.iter().map(|u| json!(u.id)))
            .collect()
    };
    assert_eq!(ids(&a), ids(&b));
    // Ids sort by the row's creation time.
    let p1 = by_lc(&a, "post", "p0000000000000000000001")["_id"].clone();
    let p2 = by_lc(&a, "post", "p0000000000000000000002")["_id"].clone();
    assert!(p1.as_str() < p2.as_str());
}

#[test]
fn a_json_array_export_reads_as_json_lines_do() {
    let rows = [
        json!({"objectId": "a1", "n": 1, "createdAt": "2025-01-01T00:00:00Z"}),
        json!({"objectId": "a2", "n": 2, "createdAt": "2025-01-02T00:00:00Z"}),
    ];
    let lines = run(Source::LeanCloud, &export(&[("Thing.jsonl", jsonl(&rows))]));
    let array = run(
        Source::LeanCloud,
        &export(&[("Thing.json", Value::Array(rows.to_vec()).to_string())]),
    );
    assert_eq!(
        table(&lines, "thing").records,
        table(&array, "thing").records
    );
    assert_eq!(field(&array, "thing", "n").kind, FieldType::Integer);
}

#[test]
fn ten_thousand_rows_with_chained_pointers() {
    let mut rows = Vec::new();
    for i in 0..10_000 {
        let mut r = json!({"objectId": format!("{:024x}", i + 1), "seq": i, "name": format!("第{i}条 ✨"),
                           "createdAt": format!("2025-03-01T00:00:{:02}.{:03}Z", (i / 1000) % 60, i % 1000)});
        if i > 0 {
            r["prev"] = json!({"__type": "Pointer", "className": "Item", "objectId": format!("{:024x}", i)});
        }
        rows.push(r);
    }
    let c = run(Source::LeanCloud, &export(&[("Item.jsonl", jsonl(&rows))]));
    let t = table(&c, "item");
    assert_eq!(t.records.len(), 10_000);
    assert_eq!(c.report.tables[0].records, 10_000);
    let by_old: HashMap<&str, &Map<String, Value>> = t
        .records
        .iter()
        .map(|r| (r["lc_id"].as_str().unwrap(), r))
        .collect();
    assert_eq!(by_old.len(), 10_000);
    let ids: std::collections::HashSet<&str> = t
        .records
        .iter()
        .map(|r| r["_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 10_000, "ids are distinct");
    for i in 1..10_000usize {
        let r = by_old[format!("{:024x}", i + 1).as_str()];
        let prev = by_old[format!("{:024x}", i).as_str()];
        assert_eq!(r["prev"], prev["_id"], "row {i}");
        assert_eq!(r["seq"], json!(i));
    }
    assert!(c.report.notes_of("missing_ref").next().is_none());
    all_valid(&c);
}

#[test]
fn cloudbase_collections_with_openids_and_dollar_dates() {
    let a = "oCB_alice_0123456789abcdefghi";
    let b = "oCB_bob_0123456789abcdefghijk";
    let rows = jsonl(&[
        json!({"_id": "5f1e0a000000000000000001", "_openid": a, "title": "买菜 🥬", "done": false,
               "due": {"$date": "2025-08-01T10:00:00.000Z"}, "photo": "cloud://env-1.abcd/photos/1.jpg"}),
        json!({"_id": {"$oid": "5f1e0b000000000000000002"}, "_openid": b, "title": "写代码", "done": true,
               "due": {"$date": 1754042400000_i64}}),
        json!({"_id": "custom-id-3", "_openid": a, "title": "long ago",
               "due": {"$date": {"$numberLong": "1754042400000"}}, "n": 1}),
        json!({"_id": "custom-id-4", "title": "nobody's", "n": 2.5}),
    ]);
    let c = run(Source::CloudBase, &export(&[("todos.json", rows)]));
    all_valid(&c);
    let t = table(&c, "todos");
    assert_eq!(t.records.len(), 4);
    assert_eq!(field(&c, "todos", "cb_id").kind, FieldType::String);
    assert_eq!(field(&c, "todos", "due").kind, FieldType::Datetime);
    assert_eq!(field(&c, "todos", "done").kind, FieldType::Boolean);
    assert_eq!(field(&c, "todos", "n").kind, FieldType::Number);
    assert_eq!(c.users.len(), 2);
    let ua = c.users.iter().find(|u| u.openid == a).unwrap();
    let ub = c.users.iter().find(|u| u.openid == b).unwrap();
    let rec = |id: &str| t.records.iter().find(|r| r["cb_id"] == id).unwrap();
    assert_eq!(rec("5f1e0a000000000000000001")["_owner"], json!(ua.id));
    assert_eq!(rec("5f1e0b000000000000000002")["_owner"], json!(ub.id));
    assert_eq!(rec("custom-id-3")["_owner"], json!(ua.id));
    assert_eq!(rec("custom-id-4")["_owner"], Value::Null);
    assert_eq!(rec("5f1e0a000000000000000001")["title"], "买菜 🥬");
    assert_eq!(
        rec("5f1e0a000000000000000001")["due"],
        "2025-08-01T10:00:00.000Z"
    );
    assert_eq!(
        rec("5f1e0b000000000000000002")["due"],
        "2025-08-01T10:00:00.000Z"
    );
    assert_eq!(rec("custom-id-3")["due"], "2025-08-01T10:00:00.000Z");
    // An ObjectId _id carries its creation time; others have none.
    assert_eq!(
        rec("5f1e0a000000000000000001")["_created"],
        "2020-07-26T22:56:00.000Z"
    );
    assert!(
        rec("custom-id-4").get("_created").is_none(),
        "no time of its own: the import's (and the same archive each time)"
    );
    assert_eq!(
        ua.created_at, 1_595_804_160_000,
        "the earliest of their records"
    );
    assert_eq!(t.def.acl.record.as_deref(), Some("rwd:-:-"));
    assert!(notes(&c, "acl").iter().any(|n| n.starts_with("todos")));
    assert!(
        notes(&c, "unmapped").iter().any(|n| n.contains("cloud://")),
        "{:?}",
        c.report.notes
    );
}

#[test]
fn a_reviewed_schema_renames_retypes_and_drops() {
    let d = blog();
    let c = run(Source::LeanCloud, &d);
    let mut plan: Value = serde_json::to_value(&c.plan).unwrap();
    let post = plan["tables"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|t| t["name"] == "post")
        .unwrap();
    // title → headline (text, indexed? no: text cannot be), score → string, tags dropped.
    post["columns"]["title"] = json!("headline");
    post["columns"].as_object_mut().unwrap().remove("tags");
    let fields = post["def"]["fields"].as_array_mut().unwrap();
    fields.retain(|f| f["name"] != "tags");
    for f in fields.iter_mut() {
        if f["name"] == "title" {
            f["name"] = json!("headline");
            f["type"] = json!("text");
        }
        if f["name"] == "score" {
            f["type"] = json!("string");
        }
    }
    post["def"]["acl"]["record"] = json!("rwd:r:-");
    let plan: Plan = serde_json::from_value(plan).unwrap();
    let again = convert(
        Source::LeanCloud,
        d.path(),
        &Options {
            plan: Some(plan.clone()),
            now_ms: 0,
        },
        &NoFetch,
    )
    .unwrap();
    all_valid(&again);
    let p1 = by_lc(&again, "post", "p0000000000000000000001");
    let p2 = by_lc(&again, "post", "p0000000000000000000002");
    assert_eq!(p1["headline"], "你好，世界 👋");
    assert_eq!(p1["score"], "5");
    assert_eq!(p2["score"], "4.5");
    assert!(p1.get("tags").is_none());
    assert!(
        notes(&again, "dropped")
            .iter()
            .any(|n| n.starts_with("Post.tags"))
    );
    assert_eq!(
        table(&again, "post").def.acl.record.as_deref(),
        Some("rwd:r:-")
    );
    // A field retyped to what its values are not: nothing is converted, every row named.
    let mut bad = plan.clone();
    for t in &mut bad.tables {
        for f in &mut t.def.fields {
            if f.name == "headline" {
                f.kind = FieldType::Integer;
            }
        }
    }
    let e = convert(
        Source::LeanCloud,
        d.path(),
        &Options {
            plan: Some(bad),
            now_ms: 0,
        },
        &NoFetch,
    )
    .unwrap_err();
    assert!(e.0.contains("nothing was converted"), "{e}");
    assert!(
        e.0.contains("p0000000000000000000001") && e.0.contains("p0000000000000000000002"),
        "{e}"
    );
    // A schema file for the other source, or naming a field the table lacks.
    let mut other = plan.clone();
    other.source = Source::CloudBase;
    assert!(
        convert(
            Source::LeanCloud,
            d.path(),
            &Options {
                plan: Some(other),
                now_ms: 0
            },
            &NoFetch
        )
        .is_err()
    );
    let mut dangling = plan;
    dangling.tables[0]
        .columns
        .insert("x".into(), "no_such_field".into());
    let e = convert(
        Source::LeanCloud,
        d.path(),
        &Options {
            plan: Some(dangling),
            now_ms: 0,
        },
        &NoFetch,
    )
    .unwrap_err();
    assert!(e.0.contains("no_such_field"), "{e}");
}

/// Answers bytes for the URLs it knows.
struct Urls(BTreeMap<String, Vec<u8>>);

impl Fetch for Urls {
    fn fetch(&self, url: &str) -> Result<Vec<u8>, String> {
        self.0.get(url).cloned().ok_or_else(|| "404".into())
    }
}

const PNG: &[u8] = &[
    0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, b'I', b'H', b'D', b'R', 0, 0, 0,
    1, 0, 0, 0, 1, 8, 6, 0, 0, 0, 0x1f, 0x15, 0xc4, 0x89,
];

#[test]
fn files_are_fetched_where_reachable_and_listed_where_not() {
    let rows = jsonl(&[
        json!({"objectId": "a1", "pic": {"__type": "File", "name": "猫.png", "url": "https://files.example/cat.png"},
               "ACL": {"u0000000000000000000000a": {"write": true, "read": true}}, "createdAt": "2025-01-05T00:00:00Z"}),
        // The same file from another row: one file.
        json!({"objectId": "a2", "pic": {"__type": "File", "name": "猫.png", "url": "https://files.example/cat.png"}}),
        // Known by id only, through _File.
        json!({"objectId": "a3", "pic": {"__type": "File", "id": "f9"}}),
        json!({"objectId": "a4", "pic": {"__type": "File", "name": "gone.jpg", "url": "https://files.example/gone.jpg"}}),
    ]);
    let d = export(&[
        ("_User.jsonl", users_jsonl()),
        ("Album.jsonl", rows),
        (
            "_File.jsonl",
            jsonl(&[
                json!({"objectId": "f9", "name": "note.txt", "url": "https://files.example/note.txt", "mime_type": "text/plain"}),
            ]),
        ),
    ]);
    let fetch = Urls(BTreeMap::from([
        ("https://files.example/cat.png".to_string(), PNG.to_vec()),
        (
            "https://files.example/note.txt".to_string(),
            "你好".as_bytes().to_vec(),
        ),
    ]));
    let c = convert(Source::LeanCloud, d.path(), &opts(), &fetch).unwrap();
    all_valid(&c);
    assert_eq!(c.files.len(), 2);
    let cat = c.files.iter().find(|f| f.name == "猫.png").unwrap();
    assert_eq!(
        (cat.content_type.as_str(), cat.size),
        ("image/png", PNG.len() as u64)
    );
    assert_eq!(cat.bytes, PNG);
    let alice = c.users.iter().find(|u| u.openid == ALICE_OPENID).unwrap();
    assert_eq!(cat.owner.as_deref(), Some(alice.id.as_str()));
    let note = c.files.iter().find(|f| f.name == "note.txt").unwrap();
    assert_eq!(note.content_type, "text/plain");
    assert!(is_id(&cat.id) && is_id(&note.id));
    assert_eq!(by_lc(&c, "album", "a1")["pic"], json!(cat.id));
    assert_eq!(by_lc(&c, "album", "a2")["pic"], json!(cat.id));
    assert_eq!(by_lc(&c, "album", "a3")["pic"], json!(note.id));
    assert!(by_lc(&c, "album", "a4").get("pic").is_none());
    let listed = notes(&c, "file_not_fetched");
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert!(listed[0].contains("https://files.example/gone.jpg"));
    assert_eq!(c.report.files, 2);
}

#[test]
fn schema_files_type_columns_the_values_leave_open() {
    let rows = jsonl(&[
        json!({"objectId": "a1", "owner": "u0000000000000000000000a", "when": "2025-05-05T05:05:05Z", "empty": null}),
        json!({"objectId": "a2", "owner": "u0000000000000000000000b"}),
    ]);
    let schema = json!({"fields": {
        "owner": {"type": "Pointer", "className": "_User"},
        "when": {"type": "Date"},
        "empty": {"type": "Number"},
        "never": {"type": "Boolean"}}});
    let d = export(&[
        ("_User.jsonl", users_jsonl()),
        ("Task.jsonl", rows),
        ("Task.schema.json", schema.to_string()),
    ]);
    let c = run(Source::LeanCloud, &d);
    all_valid(&c);
    assert_eq!(field(&c, "task", "owner").kind, FieldType::String);
    assert_eq!(field(&c, "task", "when").kind, FieldType::Datetime);
    assert_eq!(field(&c, "task", "empty").kind, FieldType::Number);
    assert_eq!(field(&c, "task", "never").kind, FieldType::Boolean);
    let alice = c.users.iter().find(|u| u.openid == ALICE_OPENID).unwrap();
    assert_eq!(by_lc(&c, "task", "a1")["owner"], json!(alice.id));
    assert_eq!(by_lc(&c, "task", "a1")["when"], "2025-05-05T05:05:05.000Z");
}

#[test]
fn broken_exports_are_refused_with_where() {
    let bad_line = export(&[(
        "Post.jsonl",
        "{\"objectId\": \"a\"}\n{\"objectId\": \n".to_string(),
    )]);
    let e = convert(Source::LeanCloud, bad_line.path(), &opts(), &NoFetch).unwrap_err();
    assert!(e.0.contains("Post.jsonl:2"), "{e}");
    let no_id = export(&[("Post.jsonl", "{\"title\": \"x\"}\n".to_string())]);
    let e = convert(Source::LeanCloud, no_id.path(), &opts(), &NoFetch).unwrap_err();
    assert!(e.0.contains("objectId"), "{e}");
    let twice = export(&[(
        "Post.jsonl",
        "{\"objectId\": \"a\"}\n{\"objectId\": \"a\"}\n".to_string(),
    )]);
    let e = convert(Source::LeanCloud, twice.path(), &opts(), &NoFetch).unwrap_err();
    assert!(e.0.contains("twice"), "{e}");
    let not_object = export(&[("todos.json", "[1, 2]".to_string())]);
    assert!(convert(Source::CloudBase, not_object.path(), &opts(), &NoFetch).is_err());
    let no_id = export(&[("todos.json", "{\"a\": 1}\n".to_string())]);
    assert!(convert(Source::CloudBase, no_id.path(), &opts(), &NoFetch).is_err());
    let latin1 = tempfile::tempdir().unwrap();
    std::fs::write(latin1.path().join("t.json"), b"{\"_id\": \"\xe9\"}\n").unwrap();
    assert!(convert(Source::CloudBase, latin1.path(), &opts(), &NoFetch).is_err());
    assert!(
        convert(
            Source::CloudBase,
            std::path::Path::new("/nonexistent/dir"),
            &opts(),
            &NoFetch
        )
        .is_err()
    );
}

#[test]
fn names_become_valid_and_distinct() {
    use crate::names::{snake, unique};
    assert_eq!(snake("TodoItem"), "todo_item");
    assert_eq!(snake("authorName"), "author_name");
    assert_eq!(snake("URL"), "url");
    assert_eq!(snake("2fa"), "f_2fa");
    assert_eq!(snake("my-field.x"), "my_field_x");
    let cn = snake("标题");
    assert!(cn.starts_with("f_") && cn.len() == 10, "{cn}");
    assert_ne!(snake("标题"), snake("内容"));
    let mut taken = Default::default();
    assert_eq!(unique("a", &mut taken), "a");
    assert_eq!(unique("a", &mut taken), "a_2");
    // Two columns that snake to the same name both survive.
    let rows = jsonl(&[json!({"objectId": "a", "userName": "x", "user_name": "y", "标题": "z"})]);
    let c = run(Source::LeanCloud, &export(&[("Thing.jsonl", rows)]));
    let names: Vec<&str> = table(&c, "thing")
        .def
        .fields
        .iter()
        .map(|f| f.name.as_str())
        .collect();
    assert!(
        names.contains(&"user_name") && names.contains(&"user_name_2"),
        "{names:?}"
    );
    all_valid(&c);
}

/// The archive holds what the conversion answered, in the export format's layout.
#[test]
fn the_archive_follows_the_export_format() {
    let d = blog();
    let c = run(Source::LeanCloud, &d);
    let bytes = crate::archive::write(&c, Vec::new(), "2026-12-03T12:00:00.000Z").unwrap();
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(bytes.as_slice()));
    let mut entries: Vec<(String, Vec<u8>)> = Vec::new();
    for e in tar.entries().unwrap() {
        let mut e = e.unwrap();
        let name = e.path().unwrap().to_string_lossy().into_owned();
        let mut b = Vec::new();
        e.read_to_end(&mut b).unwrap();
        entries.push((name, b));
    }
    assert_eq!(entries[0].0, "manifest.json", "the manifest comes first");
    let manifest: Value = serde_json::from_slice(&entries[0].1).unwrap();
    assert_eq!(manifest["format"], "yunqiao-export");
    assert_eq!(manifest["version"], 1);
    assert_eq!(manifest["source"]["face"], "leancloud");
    assert_eq!(
        manifest["counts"],
        json!({"tables": 2, "records": 6, "users": 2, "files": 0})
    );
    let get = |n: &str| -> Vec<Value> {
        let (_, b) = entries.iter().find(|(x, _)| x == n).unwrap();
        std::str::from_utf8(b)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    let schemas = get("schemas.ndjson");
    assert_eq!(schemas.len(), 2);
    for s in &schemas {
        let def: yunqiao_core::tables::TableDef = serde_json::from_value(s["def"].clone()).unwrap();
        Schema::from_def(s["name"].as_str().unwrap(), &def).unwrap();
    }
    let posts = get("tables/post.ndjson");
    assert_eq!(posts.len(), 2);
    assert!(posts.iter().any(|p| p["title"] == "你好，世界 👋"));
    let users = get("users.ndjson");
    assert_eq!(users.len(), 2);
    for u in &users {
        assert!(is_id(u["id"].as_str().unwrap()));
        assert!(u["created_at"].is_i64());
    }
    assert!(get("files.ndjson").is_empty());
}
