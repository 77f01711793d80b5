//! Login through the WeChat mock, sessions on the manual clock, profiles, phone numbers,
//! admin user management.

use serde_json::json;

use crate::support::{ADMIN_KEY, App};

#[tokio::test]
async fn login_me_and_single_use_codes() {
    let app = App::memory();
    let r = app
        .call(
            "POST",
            "/v1/auth/login",
            None,
            Some(json!({"code": "mock:alice:1"})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(!r.text.contains("session_key"), "never sent to a client");
    let token = r.body["token"].as_str().unwrap().to_string();
    assert_eq!(
        r.body["expires_at"], "2027-02-14T08:00:00.000Z",
        "30 days on the manual clock"
    );
    let user = r.body["user"].clone();
    let (_, again) = app.login("mock:alice:2").await;
    assert_eq!(again["id"], user["id"], "same openid, same user");
    let (_, bob) = app.login("mock:bob").await;
    assert_ne!(bob["id"], user["id"]);

    let me = app.call("GET", "/v1/auth/me", Some(&token), None).await;
    assert_eq!(me.status, 200, "{}", me.text);
    assert_eq!(me.body["id"], user["id"]);
    // The openid and unionid stay on the server (cloud functions read them).
    assert!(me.body.get("openid").is_none(), "{}", me.text);
    assert!(me.body.get("unionid").is_none(), "{}", me.text);

    let reused = app
        .call(
            "POST",
            "/v1/auth/login",
            None,
            Some(json!({"code": "mock:alice:1"})),
        )
        .await;
    assert_eq!((reused.status, reused.code()), (401, "INVALID_LOGIN_CODE"));
    assert_eq!(reused.body["error"]["details"]["wechat_errcode"], 40163);
    for (body, status, code) in [
        (json!({"code": "mock-error:45011"}), 429, "RATE_LIMITED"),
        (
            json!({"code": "mock-error:40226"}),
            403,
            "WECHAT_USER_BLOCKED",
        ),
        (json!({"code": ""}), 400, "INVALID_ARGUMENT"),
        (json!({"code": "mock:x", "extra": 1}), 400, "UNKNOWN_FIELD"),
        (json!({}), 400, "INVALID_BODY"),
    ] {
        let r = app
            .call("POST", "/v1/auth/login", None, Some(body.clone()))
            .await;
        assert_eq!((r.status, r.code()), (status, code), "{body}: {}", r.text);
    }
    for token in [
        None,
        Some("nope"),
        Some("yq_forged0000000000000000000000000000000000000"),
    ] {
        let r = app.call("GET", "/v1/auth/me", token, None).await;
        assert_eq!(r.status, 401, "{token:?}: {}", r.text);
    }
}

#[tokio::test]
async fn sessions_expire_on_the_clock_and_refresh_and_logout() {
    let app = App::memory();
    let (old, user) = app.login("mock:finn").await;
    // Just before the end of 30 days, the token still works; a refresh rotates it.
    app.clock.advance_ms(30 * 24 * 3600 * 1000 - 1000);
    assert_eq!(
        app.call("GET", "/v1/auth/me", Some(&old), None)
            .await
            .status,
        200
    );
    let r = app.call("POST", "/v1/auth/refresh", Some(&old), None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let new = r.body["token"].as_str().unwrap().to_string();
    assert_ne!(new, old);
    assert_eq!(r.body["user"]["id"], user["id"]);
    let again = app.call("POST", "/v1/auth/refresh", Some(&old), None).await;
    assert_eq!(
        (again.status, again.code()),
        (401, "INVALID_TOKEN"),
        "a token refreshes once"
    );
    // The old token's 30 days are over; the new one lives on.
    app.clock.advance_ms(2_000);
    let r = app.call("GET", "/v1/auth/me", Some(&old), None).await;
    assert_eq!(r.status, 401, "{}", r.text);
    assert_eq!(
        app.call("GET", "/v1/auth/me", Some(&new), None)
            .await
            .status,
        200
    );
    let r = app.call("POST", "/v1/auth/logout", Some(&new), None).await;
    assert_eq!(r.status, 204);
    let r = app.call("GET", "/v1/auth/me", Some(&new), None).await;
    assert_eq!((r.status, r.code()), (401, "INVALID_TOKEN"));
}

#[tokio::test]
async fn profiles_validate_and_merge_and_phones_bind() {
    let app = App::memory();
    let (t, _) = app.login("mock:dora").await;
    let r = app
        .call(
            "PATCH",
            "/v1/auth/me",
            Some(&t),
            Some(json!({"nickname": "朵拉", "avatar_url": "https://example.invalid/a.png", "profile": {"city": "杭州", "age": 7}})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["nickname"], "朵拉");
    let r = app
        .call(
            "PATCH",
            "/v1/auth/me",
            Some(&t),
            Some(json!({"profile": {"age": null, "lang": "zh"}})),
        )
        .await;
    assert_eq!(r.body["profile"], json!({"city": "杭州", "lang": "zh"}));
    assert_eq!(r.body["nickname"], "朵拉", "absent fields stay");
    let r = app
        .call(
            "PATCH",
            "/v1/auth/me",
            Some(&t),
            Some(json!({"nickname": "x".repeat(65)})),
        )
        .await;
    assert_eq!((r.status, r.code()), (400, "INVALID_ARGUMENT"));
    assert_eq!(r.body["error"]["details"]["field"], "nickname");
    let r = app
        .call(
            "PATCH",
            "/v1/auth/me",
            Some(&t),
            Some(json!({"nickname": 5})),
        )
        .await;
    assert_eq!((r.status, r.code()), (400, "INVALID_BODY"));

    let r = app
        .call(
            "POST",
            "/v1/auth/phone",
            Some(&t),
            Some(json!({"code": "mock-phone:13800138000:1"})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["phone"], "13800138000");
    let r = app
        .call(
            "POST",
            "/v1/auth/phone",
            Some(&t),
            Some(json!({"code": "mock-phone:13800138000:1"})),
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (400, "INVALID_ARGUMENT"),
        "phone codes are single-use"
    );
    let r = app
        .call(
            "POST",
            "/v1/auth/phone",
            None,
            Some(json!({"code": "mock-phone:1"})),
        )
        .await;
    assert_eq!(r.status, 401);
}

#[tokio::test]
async fn admins_list_users_and_set_groups() {
    let app = App::memory();
    let (alice, a) = app.login("mock:alice").await;
    app.login("mock:bob").await;
    let r = app.call("GET", "/v1/admin/users", Some(&alice), None).await;
    assert_eq!((r.status, r.code()), (403, "FORBIDDEN"));
    let r = app
        .call("GET", "/v1/admin/users", Some(ADMIN_KEY), None)
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["items"].as_array().unwrap().len(), 2);
    let path = format!("/v1/admin/users/{}", a["id"].as_str().unwrap());
    let r = app
        .call(
            "PATCH",
            &path,
            Some(ADMIN_KEY),
            Some(json!({"groups": ["staff"]})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["groups"], json!(["staff"]));
    let me = app.call("GET", "/v1/auth/me", Some(&alice), None).await;
    assert_eq!(me.body["groups"], json!(["staff"]));
    let r = app
        .call("GET", "/v1/admin/users/nope", Some(ADMIN_KEY), None)
        .await;
    assert_eq!((r.status, r.code()), (404, "NOT_FOUND"));
}
