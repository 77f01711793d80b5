//! Key-value storage: namespaces, reads and writes under their rules, versions, user
//! scope and TTLs on the manual clock.

use serde_json::json;

use crate::support::{ADMIN_KEY, App};

#[tokio::test]
async fn namespaces_rules_versions_and_ttl() {
    let app = App::memory();
    let (alice, _) = app.login("mock:alice").await;
    let (bob, _) = app.login("mock:bob").await;
    let r = app
        .call("PUT", "/v1/kv/docs", Some(&alice), Some(json!({})))
        .await;
    assert_eq!(
        (r.status, r.code()),
        (403, "FORBIDDEN"),
        "only admins define"
    );
    let r = app
        .call("PUT", "/v1/kv/docs", Some(ADMIN_KEY), Some(json!({})))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(
        (&r.body["read"], &r.body["write"], &r.body["scope"]),
        (&json!("users"), &json!("users"), &json!("shared"))
    );
    let r = app
        .call(
            "PUT",
            "/v1/kv/docs",
            Some(ADMIN_KEY),
            Some(json!({"reed": "users"})),
        )
        .await;
    assert_eq!((r.status, r.code()), (400, "UNKNOWN_FIELD"));

    let path = "/v1/kv/docs/readme";
    let r = app.call("PUT", path, None, Some(json!({"value": 1}))).await;
    assert_eq!((r.status, r.code()), (401, "UNAUTHENTICATED"));
    let r = app
        .call("PUT", path, Some(&alice), Some(json!({"value": {"t": 1}})))
        .await;
    assert_eq!(
        (r.status, r.body["_v"].as_i64()),
        (201, Some(1)),
        "{}",
        r.text
    );
    assert_eq!(r.headers["etag"], "\"1\"");
    let r = app
        .call("PUT", path, Some(&bob), Some(json!({"value": {"t": 2}})))
        .await;
    assert_eq!((r.status, r.body["_v"].as_i64()), (200, Some(2)));
    let r = app
        .call(
            "PUT",
            path,
            Some(&alice),
            Some(json!({"value": 3, "_v": 1})),
        )
        .await;
    assert_eq!((r.status, r.code()), (409, "CONFLICT"));
    assert_eq!(r.body["error"]["details"]["current_v"], 2);
    let r = app
        .send(
            "PUT",
            path,
            Some(&alice),
            &[("if-none-match", "*")],
            Some(json!({"value": 3})),
        )
        .await;
    assert_eq!(r.status, 409, "create-only on an existing key: {}", r.text);
    let r = app.call("GET", path, Some(&alice), None).await;
    assert_eq!(
        (&r.body["value"], &r.body["_v"]),
        (&json!({"t": 2}), &json!(2))
    );
    let r = app.call("GET", path, None, None).await;
    assert_eq!(r.status, 401, "users only");
    let r = app.call("GET", "/v1/kv/docs", Some(&alice), None).await;
    assert_eq!(r.body["items"][0]["key"], "readme", "{}", r.text);

    // A TTL runs on the manual clock.
    let r = app
        .call(
            "PUT",
            "/v1/kv/docs/tmp",
            Some(&alice),
            Some(json!({"value": "t", "ttl": 10})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["expires_at"], "2027-01-15T08:00:10.000Z");
    app.clock.advance_ms(9_000);
    assert_eq!(
        app.call("GET", "/v1/kv/docs/tmp", Some(&alice), None)
            .await
            .status,
        200
    );
    app.clock.advance_ms(2_000);
    let r = app.call("GET", "/v1/kv/docs/tmp", Some(&alice), None).await;
    assert_eq!((r.status, r.code()), (404, "NOT_FOUND"), "expired");

    let r = app.call("DELETE", path, Some(&bob), None).await;
    assert_eq!(r.status, 204, "{}", r.text);
    let r = app.call("GET", path, Some(&alice), None).await;
    assert_eq!((r.status, r.code()), (404, "NOT_FOUND"));
    let r = app.call("GET", "/v1/kv/nope/k", Some(&alice), None).await;
    assert_eq!(r.status, 404, "no such namespace");
}

#[tokio::test]
async fn rules_refuse_other_users_and_user_scope_keeps_keys_apart() {
    let app = App::embedded();
    let (alice, _) = app.login("mock:alice").await;
    let (bob, _) = app.login("mock:bob").await;
    let (eve, e) = app.login("mock:eve").await;
    let r = app
        .call(
            "PATCH",
            &format!("/v1/admin/users/{}", e["id"].as_str().unwrap()),
            Some(ADMIN_KEY),
            Some(json!({"groups": ["editors"]})),
        )
        .await;
    assert_eq!(r.status, 200);
    app.call(
        "PUT",
        "/v1/kv/board",
        Some(ADMIN_KEY),
        Some(json!({"read": "anyone", "write": "group:editors"})),
    )
    .await;
    let r = app
        .call(
            "PUT",
            "/v1/kv/board/news",
            Some(&alice),
            Some(json!({"value": "x"})),
        )
        .await;
    assert_eq!((r.status, r.code()), (403, "FORBIDDEN"));
    let r = app
        .call(
            "PUT",
            "/v1/kv/board/news",
            Some(&eve),
            Some(json!({"value": "hi"})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let r = app.call("GET", "/v1/kv/board/news", None, None).await;
    assert_eq!(
        (r.status, &r.body["value"]),
        (200, &json!("hi")),
        "anyone reads"
    );

    app.call(
        "PUT",
        "/v1/kv/prefs",
        Some(ADMIN_KEY),
        Some(json!({"scope": "user"})),
    )
    .await;
    let r = app
        .call(
            "PUT",
            "/v1/kv/prefs/theme",
            Some(&alice),
            Some(json!({"value": "dark"})),
        )
        .await;
    assert_eq!(r.status, 201);
    let r = app
        .call(
            "PUT",
            "/v1/kv/prefs/theme",
            Some(&bob),
            Some(json!({"value": "light"})),
        )
        .await;
    assert_eq!(
        (r.status, r.body["_v"].as_i64()),
        (201, Some(1)),
        "bob's own key"
    );
    assert_eq!(
        app.call("GET", "/v1/kv/prefs/theme", Some(&alice), None)
            .await
            .body["value"],
        "dark"
    );
    assert_eq!(
        app.call("GET", "/v1/kv/prefs/theme", Some(&bob), None)
            .await
            .body["value"],
        "light"
    );
    let r = app
        .call("GET", "/v1/kv/prefs/theme", Some(&eve), None)
        .await;
    assert_eq!((r.status, r.code()), (404, "NOT_FOUND"));
}
