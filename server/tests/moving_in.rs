//! Moving in (issue 25 item 3), end to end on every face: a LeanCloud-shaped and a
//! CloudBase-shaped export, converted (`yunqiao_migrate`) and imported into a fresh
//! server (`POST /v1/admin/import`, the archive of docs/export-format.md); then a user
//! logging in through the WeChat mock with a migrated openid reads and writes their own
//! records under the table rules, and nobody else's. Importing again changes nothing.

mod common;

use common::{ADMIN_KEY, Answer, Api, Server};
use serde_json::{Value, json};
use yunqiao_migrate::{Converted, NoFetch, Options, Source};

on_every_face!(
    leancloud_users_find_their_records_theirs,
    cloudbase_users_find_their_records_theirs,
);

const ALICE: &str = "oMovedAlice_0123456789abcdefg";
const BOB: &str = "oMovedBob_0123456789abcdefghi";

fn jsonl(rows: &[Value]) -> String {
    rows.iter().map(|r| format!("{r}\n")).collect()
}

fn convert(source: Source, files: &[(&str, String)]) -> (Converted, Vec<u8>) {
    let d = tempfile::tempdir().unwrap();
    for (name, text) in files {
        std::fs::write(d.path().join(name), text).unwrap();
    }
    let opts = Options {
        plan: None,
        now_ms: 1_764_000_000_000,
    };
    let c = yunqiao_migrate::convert(source, d.path(), &opts, &NoFetch).unwrap();
    let bytes =
        yunqiao_migrate::archive::write(&c, Vec::new(), "2026-12-03T12:00:00.000Z").unwrap();
    (c, bytes)
}

async fn import(s: &Server, archive: &[u8]) -> Answer {
    let r = reqwest::Client::new()
        .post(s.url("/v1/admin/import"))
        .bearer_auth(ADMIN_KEY)
        .header("content-type", "application/gzip")
        .body(archive.to_vec())
        .send()
        .await
        .unwrap();
    Answer::from(r).await
}

fn record<'a>(
    c: &'a Converted,
    table: &str,
    key: &str,
    old: &str,
) -> &'a serde_json::Map<String, Value> {
    c.tables
        .iter()
        .find(|t| t.name == table)
        .unwrap()
        .records
        .iter()
        .find(|r| r[key] == old)
        .unwrap()
}

async fn ids_of(api: &Api, token: &str, table: &str) -> Vec<String> {
    let r = api
        .call(
            "POST",
            &format!("/v1/tables/{table}/query"),
            Some(token),
            Some(json!({"limit": 100})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let mut ids: Vec<String> = r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["_id"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    ids
}

async fn leancloud_users_find_their_records_theirs(s: Server) {
    let api = Api::new(&s.base);
    let (c, archive) = convert(
        Source::LeanCloud,
        &[
            (
                "_User.jsonl",
                jsonl(&[
                    json!({"objectId": "u1", "nickName": "爱丽丝", "createdAt": "2025-01-01T00:00:00Z",
                           "authData": {"lc_weapp": {"openid": ALICE}}}),
                    json!({"objectId": "u2", "createdAt": "2025-01-02T00:00:00Z",
                           "authData": {"lc_weapp": {"openid": BOB}}}),
                    json!({"objectId": "u3", "username": "no-wechat", "createdAt": "2025-01-03T00:00:00Z"}),
                ]),
            ),
            (
                "Post.jsonl",
                jsonl(&[
                    json!({"objectId": "p1", "title": "你好 👋", "createdAt": "2025-07-02T07:58:45.609Z",
                           "ACL": {"u1": {"read": true, "write": true}, "*": {"read": true}}}),
                    json!({"objectId": "p2", "title": "Bob's", "createdAt": "2025-07-03T00:00:00Z",
                           "ACL": {"u2": {"read": true, "write": true}, "*": {"read": true}}}),
                ]),
            ),
            (
                "Comment.jsonl",
                jsonl(&[
                    json!({"objectId": "c1", "body": "mine", "createdAt": "2025-07-04T00:00:00Z",
                           "post": {"__type": "Pointer", "className": "Post", "objectId": "p2"},
                           "ACL": {"u1": {"read": true, "write": true}}}),
                    json!({"objectId": "c2", "body": "his", "createdAt": "2025-07-05T00:00:00Z",
                           "post": {"__type": "Pointer", "className": "Post", "objectId": "p1"},
                           "ACL": {"u2": {"read": true, "write": true}}}),
                    json!({"objectId": "c3", "body": "orphan", "createdAt": "2025-07-06T00:00:00Z",
                           "post": {"__type": "Pointer", "className": "Post", "objectId": "gone"},
                           "ACL": {"u3": {"read": true, "write": true}}}),
                ]),
            ),
        ],
    );
    let r = import(&s, &archive).await;
    assert_eq!(r.status, 200, "{}", r.text);

    let (alice, me) = s.login_as(ALICE).await;
    let alice_id = c
        .users
        .iter()
        .find(|u| u.openid == ALICE)
        .unwrap()
        .id
        .clone();
    assert_eq!(
        me["id"],
        json!(alice_id),
        "the migrated user, not a new one"
    );
    assert_eq!(me["nickname"], "爱丽丝");
    let (bob, _) = s.login_as(BOB).await;
    let p1 = record(&c, "post", "lc_id", "p1")["_id"]
        .as_str()
        .unwrap()
        .to_string();
    let p2 = record(&c, "post", "lc_id", "p2")["_id"]
        .as_str()
        .unwrap()
        .to_string();
    let c1 = record(&c, "comment", "lc_id", "c1")["_id"]
        .as_str()
        .unwrap()
        .to_string();
    let c2 = record(&c, "comment", "lc_id", "c2")["_id"]
        .as_str()
        .unwrap()
        .to_string();

    // Posts: everyone reads (every post was public), only the owner writes.
    let r = api
        .call(
            "GET",
            &format!("/v1/tables/post/records/{p1}"),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["title"], "你好 👋");
    assert_eq!(r.body["_owner"], json!(alice_id));
    assert_eq!(r.body["_created"], "2025-07-02T07:58:45.609Z");
    let r = api
        .call(
            "PATCH",
            &format!("/v1/tables/post/records/{p1}"),
            Some(&alice),
            Some(json!({"title": "改过了 ✍️"})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["title"], "改过了 ✍️");
    let r = api
        .call(
            "PATCH",
            &format!("/v1/tables/post/records/{p2}"),
            Some(&alice),
            Some(json!({"title": "not mine"})),
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.text);
    // Comments were private to their writer: each sees their own only, and the
    // reference was rewritten to the new post id.
    assert_eq!(ids_of(&api, &alice, "comment").await, vec![c1.clone()]);
    assert_eq!(ids_of(&api, &bob, "comment").await, vec![c2.clone()]);
    let r = api
        .call(
            "GET",
            &format!("/v1/tables/comment/records/{c1}"),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(r.body["post"], json!(p2));
    let r = api
        .call(
            "GET",
            &format!("/v1/tables/comment/records/{c2}"),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(r.status, 404, "{}", r.text);
    // A new comment by a migrated user is theirs, and refers to migrated posts.
    let r = api
        .call(
            "POST",
            "/v1/tables/comment/records",
            Some(&alice),
            Some(json!({"body": "新的 🎉", "post": p1})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["_owner"], json!(alice_id));
    assert_eq!(ids_of(&api, &alice, "comment").await.len(), 2);
    // The orphan comment's owner (no WeChat identity) is nobody's: the admin sees it.
    let orphan = record(&c, "comment", "lc_id", "c3");
    assert!(orphan.get("post").is_none());
    let r = api
        .call(
            "GET",
            &format!(
                "/v1/tables/comment/records/{}",
                orphan["_id"].as_str().unwrap()
            ),
            Some(ADMIN_KEY),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["_owner"], Value::Null);

    // Importing the same archive again creates nothing new (the ids are the same); the
    // one record changed since returns to its exported state.
    let r = import(&s, &archive).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let items = &r.body["items"];
    assert_eq!(items["records"]["created"], 0, "{}", r.text);
    assert_eq!(items["records"]["changed"], 1, "{}", r.text);
    assert_eq!(items["records"]["unchanged"], 4, "{}", r.text);
    assert_eq!(items["users"]["created"], 0, "{}", r.text);
    let r = api
        .call(
            "POST",
            "/v1/tables/post/query",
            Some(ADMIN_KEY),
            Some(json!({"count": true, "limit": 1})),
        )
        .await;
    assert_eq!(r.body["total"], 2, "{}", r.text);
    let r = api
        .call("GET", "/v1/admin/users?limit=100", Some(ADMIN_KEY), None)
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let users = r.body["items"].as_array().unwrap();
    assert_eq!(users.len(), 2, "{}", r.text);
}

async fn cloudbase_users_find_their_records_theirs(s: Server) {
    let api = Api::new(&s.base);
    let (c, archive) = convert(
        Source::CloudBase,
        &[(
            "todos.json",
            jsonl(&[
                json!({"_id": "5f1e0a000000000000000001", "_openid": ALICE, "title": "买菜 🥬",
                       "due": {"$date": "2025-08-01T10:00:00.000Z"}, "done": false}),
                json!({"_id": {"$oid": "5f1e0b000000000000000002"}, "_openid": BOB, "title": "写代码",
                       "due": {"$date": 1754042400000_i64}, "done": true}),
            ]),
        )],
    );
    let r = import(&s, &archive).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let (alice, me) = s.login_as(ALICE).await;
    let (bob, _) = s.login_as(BOB).await;
    let mine = record(&c, "todos", "cb_id", "5f1e0a000000000000000001");
    assert_eq!(me["id"], mine["_owner"]);
    let mine = mine["_id"].as_str().unwrap().to_string();
    let his = record(&c, "todos", "cb_id", "5f1e0b000000000000000002")["_id"]
        .as_str()
        .unwrap()
        .to_string();
    // Owner-only (CloudBase's permission is not in the export): each their own.
    assert_eq!(ids_of(&api, &alice, "todos").await, vec![mine.clone()]);
    assert_eq!(ids_of(&api, &bob, "todos").await, vec![his.clone()]);
    let r = api
        .call(
            "GET",
            &format!("/v1/tables/todos/records/{mine}"),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["title"], "买菜 🥬");
    assert_eq!(r.body["due"], "2025-08-01T10:00:00.000Z");
    let r = api
        .call(
            "PATCH",
            &format!("/v1/tables/todos/records/{mine}"),
            Some(&alice),
            Some(json!({"done": true})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["done"], true);
    let r = api
        .call(
            "PATCH",
            &format!("/v1/tables/todos/records/{his}"),
            Some(&alice),
            Some(json!({"done": false})),
        )
        .await;
    assert!(r.status == 403 || r.status == 404, "{}", r.text);
    let r = api
        .call(
            "POST",
            "/v1/tables/todos/records",
            Some(&bob),
            Some(json!({"title": "new", "due": "2026-01-01T00:00:00Z"})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(ids_of(&api, &bob, "todos").await.len(), 2);
}
