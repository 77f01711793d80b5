//! Publishing events over HTTP, and topic rules.

use serde_json::json;

use crate::support::{ADMIN_KEY, App};

#[tokio::test]
async fn admins_publish_and_define_topic_rules() {
    let app = App::memory();
    let (alice, _) = app.login("mock:alice").await;
    let r = app
        .call(
            "POST",
            "/v1/events/room.1",
            Some(ADMIN_KEY),
            Some(json!({"data": {"n": 1}})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.body,
        json!({"topic": "room.1", "seq": null, "delivered": 0}),
        "nobody subscribed: not kept"
    );
    let r = app
        .call(
            "POST",
            "/v1/events/room.1",
            Some(&alice),
            Some(json!({"data": 1})),
        )
        .await;
    assert_eq!((r.status, r.code()), (403, "FORBIDDEN"));
    let r = app
        .call("POST", "/v1/events/room.1", None, Some(json!({"data": 1})))
        .await;
    assert_eq!(r.status, 401);
    for (path, body) in [
        ("/v1/events/table:notes", json!({"data": 1})),
        ("/v1/events/bad%20name", json!({"data": 1})),
        ("/v1/events/room.1", json!({"data": 1, "extra": true})),
    ] {
        let r = app.call("POST", path, Some(ADMIN_KEY), Some(body)).await;
        assert_eq!(r.status, 400, "{path}: {}", r.text);
    }
    let r = app
        .call(
            "POST",
            "/v1/events/room.1",
            Some(ADMIN_KEY),
            Some(json!({"data": "x".repeat(100 * 1024)})),
        )
        .await;
    assert_eq!((r.status, r.code()), (413, "BODY_TOO_LARGE"), "{}", r.text);

    let rule = json!({"subscribe": "users", "publish": "nobody"});
    let r = app
        .call(
            "PUT",
            "/v1/topics/rules/room.*",
            Some(&alice),
            Some(rule.clone()),
        )
        .await;
    assert_eq!((r.status, r.code()), (403, "FORBIDDEN"));
    let r = app
        .call(
            "PUT",
            "/v1/topics/rules/room.*",
            Some(ADMIN_KEY),
            Some(rule),
        )
        .await;
    assert!(r.status == 200 || r.status == 201, "{}", r.text);
    let r = app
        .call("GET", "/v1/topics/rules", Some(ADMIN_KEY), None)
        .await;
    assert_eq!(r.status, 200);
    assert!(
        r.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x == &json!({"pattern": "room.*", "subscribe": "users", "publish": "nobody"})),
        "{}",
        r.text
    );
    let r = app
        .call(
            "PUT",
            "/v1/topics/rules/room.*",
            Some(ADMIN_KEY),
            Some(json!({"subscribe": "everyone", "publish": "nobody"})),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
    let r = app
        .call("DELETE", "/v1/topics/rules/room.*", Some(ADMIN_KEY), None)
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
}
