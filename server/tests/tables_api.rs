//! Table schemas and record CRUD under ACLs, over HTTP against `yunqiao serve`.

mod common;

on_every_face!(
    schemas_are_admin_only_validated_and_safe_to_change,
    records_follow_owner_group_other_rules,
    unreadable_records_are_not_found_and_increments_are_atomic,
    a_path_that_is_not_utf8_is_the_json_error,
);

use common::{ADMIN_KEY, Api, Server};
use serde_json::{Value, json};

async fn user(api: &Api, name: &str, groups: &[&str]) -> String {
    let (token, u) = api.login(&format!("mock:{name}")).await;
    if !groups.is_empty() {
        let path = format!("/v1/admin/users/{}", u["id"].as_str().unwrap());
        let r = api
            .call(
                "PATCH",
                &path,
                Some(ADMIN_KEY),
                Some(json!({"groups": groups})),
            )
            .await;
        assert_eq!(r.status, 200);
    }
    token
}

async fn schemas_are_admin_only_validated_and_safe_to_change(s: Server) {
    let api = Api::new(&s.base);
    let alice = user(&api, "alice", &[]).await;
    let def = json!({"fields": [{"name": "title", "type": "string", "required": true}], "acl": {"record": "rwd:r:r"}});
    let r = api
        .call("PUT", "/v1/tables/posts", None, Some(def.clone()))
        .await;
    assert_eq!((r.status, r.code()), (401, "UNAUTHENTICATED"));
    let r = api
        .call("PUT", "/v1/tables/posts", Some(&alice), Some(def.clone()))
        .await;
    assert_eq!((r.status, r.code()), (403, "FORBIDDEN"));
    let r = api
        .call(
            "PUT",
            "/v1/tables/posts",
            Some(ADMIN_KEY),
            Some(def.clone()),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["acl"]["create"], "users", "defaults are filled in");
    let r = api
        .call(
            "PUT",
            "/v1/tables/posts",
            Some(ADMIN_KEY),
            Some(def.clone()),
        )
        .await;
    assert_eq!(r.status, 200);
    let r = api
        .call(
            "PUT",
            "/v1/tables/posts",
            Some(ADMIN_KEY),
            Some(json!({"fields": []})),
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (400, "INVALID_ARGUMENT"),
        "dropping needs the flag"
    );
    assert_eq!(r.body["error"]["details"]["field"], "title");
    let r = api
        .call(
            "PUT",
            "/v1/tables/posts",
            Some(ADMIN_KEY),
            Some(json!({"fields": [{"name": "title", "type": "integer"}]})),
        )
        .await;
    assert_eq!(r.status, 400, "types do not change");
    let bad = [
        ("/v1/tables/Bad-Name", json!({"fields": []})),
        (
            "/v1/tables/t",
            json!({"fields": [{"name": "x", "type": "nope"}]}),
        ),
        (
            "/v1/tables/t",
            json!({"fields": [{"name": "x", "type": "string", "length": 0}]}),
        ),
        (
            "/v1/tables/t",
            json!({"fields": [], "acl": {"record": "rwx:-:-"}}),
        ),
        ("/v1/tables/t", json!({"fields": [], "extra": 1})),
    ];
    for (path, body) in bad {
        let r = api
            .call("PUT", path, Some(ADMIN_KEY), Some(body.clone()))
            .await;
        assert_eq!(r.status, 400, "{path} {body}: {}", r.text);
    }
    let r = api.call("GET", "/v1/tables", Some(ADMIN_KEY), None).await;
    assert_eq!(r.body["items"].as_array().unwrap().len(), 1);
    let r = api.call("GET", "/v1/tables/posts", None, None).await;
    assert_eq!(r.body["fields"][0]["name"], "title");
    let r = api.call("GET", "/v1/tables/nope", None, None).await;
    assert_eq!((r.status, r.code()), (404, "NOT_FOUND"));
    let r = api
        .call(
            "PUT",
            "/v1/tables/posts?drop=true",
            Some(ADMIN_KEY),
            Some(json!({"fields": []})),
        )
        .await;
    assert_eq!(r.status, 200);
}

async fn records_follow_owner_group_other_rules(s: Server) {
    let api = Api::new(&s.base);
    let owner = user(&api, "owner", &["staff"]).await;
    let member = user(&api, "member", &["staff"]).await;
    let other = user(&api, "other", &[]).await;
    let def = json!({
        "fields": [
            {"name": "title", "type": "string", "required": true, "length": 20},
            {"name": "secret", "type": "string", "acl": "rw:-:-"},
            {"name": "likes", "type": "integer", "default": 0}
        ],
        "acl": {"record": "rwd:rw:r", "create": "group:staff", "group": "staff"}
    });
    assert_eq!(
        api.call("PUT", "/v1/tables/notes", Some(ADMIN_KEY), Some(def))
            .await
            .status,
        201
    );

    // create: group:staff only
    let body = json!({"title": "hello", "secret": "s3"});
    let r = api
        .call(
            "POST",
            "/v1/tables/notes/records",
            Some(&other),
            Some(body.clone()),
        )
        .await;
    assert_eq!((r.status, r.code()), (403, "FORBIDDEN"));
    let r = api
        .call("POST", "/v1/tables/notes/records", None, Some(body.clone()))
        .await;
    assert_eq!((r.status, r.code()), (401, "UNAUTHENTICATED"));
    let r = api
        .call(
            "POST",
            "/v1/tables/notes/records",
            Some(&owner),
            Some(body.clone()),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let rec = r.body.clone();
    for f in ["_id", "_owner", "_group", "_created", "_updated", "_v"] {
        assert!(rec.get(f).is_some(), "{f} in {rec}");
    }
    assert_eq!(rec["_group"], "staff");
    assert_eq!(rec["likes"], 0, "default applied");
    assert_eq!(rec["secret"], "s3", "the owner reads the owner-only field");
    let id = rec["_id"].as_str().unwrap();
    let path = format!("/v1/tables/notes/records/{id}");

    // read: owner all, group without the owner-only field, other likewise, anonymous likewise
    let g = api.call("GET", &path, Some(&member), None).await;
    assert_eq!(g.status, 200);
    assert!(
        g.body.get("secret").is_none(),
        "field rule hides secret from the group"
    );
    assert_eq!(g.body["title"], "hello");
    let o = api.call("GET", &path, Some(&other), None).await;
    assert_eq!(o.status, 200);
    assert!(o.body.get("secret").is_none());
    assert_eq!(
        api.call("GET", &path, None, None).await.status,
        200,
        "other includes anonymous"
    );

    // write: group may write title but not secret; other may not write
    let r = api
        .call(
            "PATCH",
            &path,
            Some(&member),
            Some(json!({"title": "edited"})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["_v"], 2);
    let r = api
        .call("PATCH", &path, Some(&member), Some(json!({"secret": "x"})))
        .await;
    assert_eq!((r.status, r.code()), (403, "FORBIDDEN"));
    assert_eq!(r.body["error"]["details"]["field"], "secret");
    let r = api
        .call("PATCH", &path, Some(&other), Some(json!({"title": "x"})))
        .await;
    assert_eq!((r.status, r.code()), (403, "FORBIDDEN"));
    let r = api
        .call("PATCH", &path, None, Some(json!({"title": "x"})))
        .await;
    assert_eq!(r.status, 403);

    // validation names the field; system fields cannot be written
    for (b, field) in [
        (json!({"title": "x".repeat(21)}), "title"),
        (json!({"likes": "many"}), "likes"),
        (json!({"_owner": "me"}), "_owner"),
        (json!({"nope": 1}), "nope"),
    ] {
        let r = api
            .call("PATCH", &path, Some(&owner), Some(b.clone()))
            .await;
        assert!(r.status == 400, "{b}: {}", r.text);
        assert_eq!(r.body["error"]["details"]["field"], field, "{b}");
    }

    // optimistic concurrency: stale _v and If-Match
    let r = api
        .call(
            "PATCH",
            &path,
            Some(&owner),
            Some(json!({"title": "a", "_v": 1})),
        )
        .await;
    assert_eq!((r.status, r.code()), (409, "CONFLICT"));
    let r = common::Answer::from(
        api.http
            .patch(s.url(&path))
            .bearer_auth(&owner)
            .header("if-match", "\"2\"")
            .json(&json!({"title": "b"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["_v"], 3);

    // delete: group and other may not; owner may
    let r = api.call("DELETE", &path, Some(&member), None).await;
    assert_eq!((r.status, r.code()), (403, "FORBIDDEN"));
    assert_eq!(
        api.call("DELETE", &path, Some(&other), None).await.status,
        403
    );
    assert_eq!(
        api.call("DELETE", &path, Some(&owner), None).await.status,
        204
    );
    assert_eq!(api.call("GET", &path, Some(&owner), None).await.status, 404);
    assert_eq!(
        api.call(
            "GET",
            "/v1/tables/notes/records/not-an-id",
            Some(&owner),
            None
        )
        .await
        .status,
        404
    );
}

async fn unreadable_records_are_not_found_and_increments_are_atomic(s: Server) {
    let api = Api::new(&s.base);
    let owner = user(&api, "o", &[]).await;
    let other = user(&api, "x", &[]).await;
    let def = json!({"fields": [{"name": "n", "type": "integer", "default": 0}], "acl": {"record": "rwd:-:-"}});
    assert_eq!(
        api.call("PUT", "/v1/tables/counters", Some(ADMIN_KEY), Some(def))
            .await
            .status,
        201
    );
    let r = api
        .call(
            "POST",
            "/v1/tables/counters/records",
            Some(&owner),
            Some(json!({})),
        )
        .await;
    let path = format!(
        "/v1/tables/counters/records/{}",
        r.body["_id"].as_str().unwrap()
    );
    let r = api.call("GET", &path, Some(&other), None).await;
    assert_eq!(
        (r.status, r.code()),
        (404, "NOT_FOUND"),
        "no existence leak"
    );
    assert_eq!(
        api.call("PATCH", &path, Some(&other), Some(json!({"n": 5})))
            .await
            .status,
        404
    );
    assert_eq!(
        api.call("DELETE", &path, Some(&other), None).await.status,
        404
    );
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let api = api.clone();
        let (path, owner) = (path.clone(), owner.clone());
        tasks.push(tokio::spawn(async move {
            api.call(
                "PATCH",
                &path,
                Some(&owner),
                Some(json!({"n": {"$inc": 1}})),
            )
            .await
            .status
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), 200);
    }
    let r = api.call("GET", &path, Some(&owner), None).await;
    assert_eq!(r.body["n"], 20, "no increment lost");
    assert_eq!(r.body["_v"], 21);
    let r = api
        .call(
            "PATCH",
            &path,
            Some(&owner),
            Some(json!({"n": {"$inc": 1.5}})),
        )
        .await;
    assert_eq!(r.status, 400);
    let r = api
        .call(
            "PATCH",
            &path,
            Some(&owner),
            Some(json!({"n": {"$set": 1}})),
        )
        .await;
    assert_eq!(r.status, 400);
    let admin = api.call("GET", &path, Some(ADMIN_KEY), None).await;
    assert_eq!(admin.status, 200, "admins bypass record rules");
    let _: Value = admin.body;
}

/// Path segments go through the project's extractor: a percent-encoded segment that is
/// not UTF-8 is the one JSON error body, not axum's plain-text rejection.
async fn a_path_that_is_not_utf8_is_the_json_error(s: Server) {
    let api = Api::new(&s.base);
    let def = json!({"fields": [{"name": "title", "type": "string"}]});
    let cases = [
        ("PUT", "/v1/tables/%FF", Some(def)),
        ("GET", "/v1/tables/%FF", None),
        (
            "POST",
            "/v1/tables/%FF/records",
            Some(json!({"title": "x"})),
        ),
        ("POST", "/v1/tables/%FF/query", Some(json!({}))),
        ("POST", "/v1/tables/%FF/backfill", None),
        ("GET", "/v1/tables/posts/records/%FF", None),
        (
            "PATCH",
            "/v1/tables/posts/records/%FF",
            Some(json!({"title": "y"})),
        ),
        ("DELETE", "/v1/tables/posts/records/%FF", None),
        ("GET", "/v1/admin/users/%FF", None),
        ("PATCH", "/v1/admin/users/%FF", Some(json!({"groups": []}))),
    ];
    for (method, path, body) in cases {
        let r = api.call(method, path, Some(ADMIN_KEY), body).await;
        assert_eq!(
            (r.status, r.code()),
            (400, "INVALID_ARGUMENT"),
            "{method} {path}: {}",
            r.text
        );
    }
}
