//! Login, sessions, profiles and admin user management over HTTP, on every face.

mod common;

on_every_face!(
    login_creates_users_once_and_never_leaks_the_session_key,
    wechat_errors_and_bad_logins_get_stable_codes,
    tokens_forged_malformed_or_missing_are_refused,
    profile_updates_validate_and_merge,
    phone_binding_through_the_mock,
    refresh_rotates_with_grace_and_logout_ends_the_session,
    admins_list_users_and_set_groups,
    routes_errors_request_ids_and_openapi,
);

use common::{ADMIN_KEY, Api, Server};
use serde_json::json;

async fn login_creates_users_once_and_never_leaks_the_session_key(s: Server) {
    let api = Api::new(&s.base);
    let r = api
        .call(
            "POST",
            "/v1/auth/login",
            None,
            Some(json!({"code": "mock:alice:1"})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(
        !r.text.contains("session_key"),
        "session_key must never reach a client"
    );
    let token = r.body["token"].as_str().unwrap();
    assert!(token.len() >= 46);
    assert!(r.body["expires_at"].as_str().unwrap().ends_with('Z'));
    let user = &r.body["user"];
    let (_, again) = api.login("mock:alice:2").await;
    assert_eq!(again["id"], user["id"], "same openid, same user");
    let (_, bob) = api.login("mock:bob").await;
    assert_ne!(bob["id"], user["id"]);
    let me = api.call("GET", "/v1/auth/me", Some(token), None).await;
    assert_eq!(me.status, 200);
    assert_eq!(me.body["id"], user["id"]);
    // The openid and unionid stay on the server (cloud functions read them).
    assert!(me.body.get("openid").is_none(), "{}", me.text);
    assert!(me.body.get("unionid").is_none(), "{}", me.text);
}

async fn wechat_errors_and_bad_logins_get_stable_codes(s: Server) {
    let api = Api::new(&s.base);
    let cases = [
        (
            json!({"code": "mock-error:40029"}),
            401,
            "INVALID_LOGIN_CODE",
        ),
        (json!({"code": "not-a-code"}), 401, "INVALID_LOGIN_CODE"),
        (json!({"code": "mock-error:45011"}), 429, "RATE_LIMITED"),
        (
            json!({"code": "mock-error:40226"}),
            403,
            "WECHAT_USER_BLOCKED",
        ),
        (json!({"code": ""}), 400, "INVALID_ARGUMENT"),
        (json!({"code": 5}), 400, "INVALID_BODY"),
        (json!({}), 400, "INVALID_BODY"),
        (json!({"code": "mock:x", "extra": 1}), 400, "UNKNOWN_FIELD"),
        (json!([1, 2]), 400, "INVALID_BODY"),
    ];
    for (body, status, code) in cases {
        let r = api
            .call("POST", "/v1/auth/login", None, Some(body.clone()))
            .await;
        assert_eq!((r.status, r.code()), (status, code), "{body}: {}", r.text);
        assert!(
            r.body["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty())
        );
    }
    api.login("mock:carol:1").await;
    let reused = api
        .call(
            "POST",
            "/v1/auth/login",
            None,
            Some(json!({"code": "mock:carol:1"})),
        )
        .await;
    assert_eq!(
        (reused.status, reused.code()),
        (401, "INVALID_LOGIN_CODE"),
        "codes are single-use"
    );
    assert_eq!(reused.body["error"]["details"]["wechat_errcode"], 40163);

    let raw = |body: &'static str, ctype: Option<&'static str>| {
        let mut req = api.http.post(s.url("/v1/auth/login")).body(body);
        if let Some(c) = ctype {
            req = req.header("content-type", c);
        }
        req
    };
    let r = common::Answer::from(
        raw("{\"code\":", Some("application/json"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((r.status, r.code()), (400, "MALFORMED_JSON"));
    // JSON is read as JSON without a content type and with curl's default one; other
    // types are refused.
    for (i, ct) in [None, Some("application/x-www-form-urlencoded")]
        .into_iter()
        .enumerate()
    {
        let body: &'static str = if i == 0 {
            "{\"code\":\"mock:z:1\"}"
        } else {
            "{\"code\":\"mock:z:2\"}"
        };
        let r = common::Answer::from(raw(body, ct).send().await.unwrap()).await;
        assert_eq!(r.status, 200, "{ct:?}: {}", r.text);
    }
    let r = common::Answer::from(
        raw("{\"code\":\"mock:z:3\"}", Some("application/xml"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((r.status, r.code()), (415, "UNSUPPORTED_MEDIA_TYPE"));
    let big = format!("{{\"code\":\"{}\"}}", "x".repeat(2 * 1024 * 1024));
    let r = common::Answer::from(
        api.http
            .post(s.url("/v1/auth/login"))
            .header("content-type", "application/json")
            .body(big)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((r.status, r.code()), (413, "BODY_TOO_LARGE"));
}

async fn tokens_forged_malformed_or_missing_are_refused(s: Server) {
    let api = Api::new(&s.base);
    let r = api.call("GET", "/v1/auth/me", None, None).await;
    assert_eq!((r.status, r.code()), (401, "UNAUTHENTICATED"));
    let forged = format!("yq_{}", "A".repeat(43));
    for t in [forged.as_str(), "garbage", "yq_"] {
        let r = api.call("GET", "/v1/auth/me", Some(t), None).await;
        assert_eq!((r.status, r.code()), (401, "INVALID_TOKEN"), "{t}");
    }
    let r = common::Answer::from(
        api.http
            .get(s.url("/v1/auth/me"))
            .header("authorization", "Basic abc")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((r.status, r.code()), (401, "INVALID_TOKEN"));
}

async fn profile_updates_validate_and_merge(s: Server) {
    let api = Api::new(&s.base);
    let (t, _) = api.login("mock:dora").await;
    let r = api
        .call("PATCH", "/v1/auth/me", Some(&t), Some(json!({
            "nickname": "朵拉", "avatar_url": "https://example.invalid/a.png", "profile": {"city": "杭州", "age": 7}
        })))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["nickname"], "朵拉");
    let r = api
        .call(
            "PATCH",
            "/v1/auth/me",
            Some(&t),
            Some(json!({"profile": {"age": null, "lang": "zh"}})),
        )
        .await;
    assert_eq!(r.body["profile"], json!({"city": "杭州", "lang": "zh"}));
    assert_eq!(r.body["nickname"], "朵拉", "absent fields stay");
    let r = api
        .call(
            "PATCH",
            "/v1/auth/me",
            Some(&t),
            Some(json!({"nickname": null})),
        )
        .await;
    assert_eq!(r.body["nickname"], serde_json::Value::Null);
    let bad = [
        (
            json!({"nickname": ""}),
            "INVALID_ARGUMENT",
            Some("nickname"),
        ),
        (
            json!({"nickname": "x".repeat(65)}),
            "INVALID_ARGUMENT",
            Some("nickname"),
        ),
        (
            json!({"avatar_url": "javascript:alert(1)"}),
            "INVALID_ARGUMENT",
            Some("avatar_url"),
        ),
        (
            json!({"profile": {"big": "x".repeat(9000)}}),
            "INVALID_ARGUMENT",
            Some("profile"),
        ),
        (json!({"groups": ["admin"]}), "UNKNOWN_FIELD", None),
        (json!({"nickname": 5}), "INVALID_BODY", None),
    ];
    for (body, code, field) in bad {
        let r = api
            .call("PATCH", "/v1/auth/me", Some(&t), Some(body.clone()))
            .await;
        assert_eq!((r.status, r.code()), (400, code), "{body}");
        if let Some(f) = field {
            assert_eq!(r.body["error"]["details"]["field"], f);
        }
    }
    let me = api.call("GET", "/v1/auth/me", Some(&t), None).await;
    assert_eq!(
        me.body["groups"],
        json!([]),
        "users cannot grant themselves groups"
    );
    assert_eq!(
        me.body["profile"],
        json!({"city": "杭州", "lang": "zh"}),
        "failed patches changed nothing"
    );
}

async fn phone_binding_through_the_mock(s: Server) {
    let api = Api::new(&s.base);
    let (t, _) = api.login("mock:erin").await;
    let code = s
        .mock_post_ok("/mock/phone-code", json!({"phone": "13800138000"}))
        .await;
    let r = api
        .call(
            "POST",
            "/v1/auth/phone",
            Some(&t),
            Some(json!({"code": code["code"]})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["phone"], "13800138000");
    let r = api
        .call(
            "POST",
            "/v1/auth/phone",
            Some(&t),
            Some(json!({"code": code["code"]})),
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (400, "INVALID_ARGUMENT"),
        "phone codes are single-use"
    );
    assert_eq!(r.body["error"]["details"]["field"], "code");
    let r = api
        .call(
            "POST",
            "/v1/auth/phone",
            None,
            Some(json!({"code": "mock-phone:1"})),
        )
        .await;
    assert_eq!(r.status, 401);
}

async fn refresh_rotates_with_grace_and_logout_ends_the_session(s: Server) {
    let api = Api::new(&s.base);
    let (old, user) = api.login("mock:finn").await;
    let r = api.call("POST", "/v1/auth/refresh", Some(&old), None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let new = r.body["token"].as_str().unwrap().to_string();
    assert_ne!(new, old);
    assert_eq!(r.body["user"]["id"], user["id"]);
    assert_eq!(
        api.call("GET", "/v1/auth/me", Some(&new), None)
            .await
            .status,
        200
    );
    assert_eq!(
        api.call("GET", "/v1/auth/me", Some(&old), None)
            .await
            .status,
        200,
        "grace period"
    );
    let again = api.call("POST", "/v1/auth/refresh", Some(&old), None).await;
    assert_eq!(
        (again.status, again.code()),
        (401, "INVALID_TOKEN"),
        "a token refreshes once"
    );
    let r = api.call("POST", "/v1/auth/logout", Some(&new), None).await;
    assert_eq!(r.status, 204);
    let r = api.call("GET", "/v1/auth/me", Some(&new), None).await;
    assert_eq!((r.status, r.code()), (401, "INVALID_TOKEN"));
}

async fn admins_list_users_and_set_groups(s: Server) {
    let api = Api::new(&s.base);
    let (alice, a) = api.login("mock:alice").await;
    let (_, b) = api.login("mock:bob").await;
    let (_, c) = api.login("mock:cat").await;
    let r = api.call("GET", "/v1/admin/users", None, None).await;
    assert_eq!((r.status, r.code()), (401, "UNAUTHENTICATED"));
    let r = api.call("GET", "/v1/admin/users", Some(&alice), None).await;
    assert_eq!((r.status, r.code()), (403, "FORBIDDEN"));
    let r = api
        .call(
            "GET",
            "/v1/admin/users",
            Some("wrong-admin-key-000000"),
            None,
        )
        .await;
    assert_eq!((r.status, r.code()), (401, "INVALID_TOKEN"));

    let r = api
        .call("GET", "/v1/admin/users?limit=2", Some(ADMIN_KEY), None)
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let ids: Vec<_> = r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["id"].clone())
        .collect();
    assert_eq!(ids, [a["id"].clone(), b["id"].clone()], "oldest first");
    let cursor = r.body["cursor"].as_str().unwrap();
    let r = api
        .call(
            "GET",
            &format!("/v1/admin/users?limit=2&cursor={cursor}"),
            Some(ADMIN_KEY),
            None,
        )
        .await;
    assert_eq!(r.body["items"][0]["id"], c["id"]);
    assert!(r.body.get("cursor").is_none());
    for q in ["limit=0", "limit=abc", "limit=101", "cursor=%%%"] {
        let r = api
            .call(
                "GET",
                &format!("/v1/admin/users?{q}"),
                Some(ADMIN_KEY),
                None,
            )
            .await;
        assert_eq!(
            (r.status, r.code()),
            (400, "INVALID_ARGUMENT"),
            "{q}: {}",
            r.text
        );
    }

    let path = format!("/v1/admin/users/{}", a["id"].as_str().unwrap());
    let r = api
        .call(
            "PATCH",
            &path,
            Some(ADMIN_KEY),
            Some(json!({"groups": ["admin", "staff", "staff"]})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["groups"], json!(["admin", "staff"]));
    let r = api.call("GET", "/v1/admin/users", Some(&alice), None).await;
    assert_eq!(r.status, 200, "a user in the admin group is an admin");
    let r = api.call("GET", "/v1/auth/me", Some(&alice), None).await;
    assert_eq!(r.body["groups"], json!(["admin", "staff"]));
    for bad in [
        json!({"groups": ["Bad Name"]}),
        json!({"groups": "admin"}),
        json!({"groups": [], "x": 1}),
    ] {
        let r = api
            .call("PATCH", &path, Some(ADMIN_KEY), Some(bad.clone()))
            .await;
        assert_eq!(r.status, 400, "{bad}");
    }
    let r = api
        .call(
            "PATCH",
            "/v1/admin/users/01aaaaaaaaaaaaaaaaaaaaaaaa",
            Some(ADMIN_KEY),
            Some(json!({"groups": []})),
        )
        .await;
    assert_eq!((r.status, r.code()), (404, "NOT_FOUND"));
    let r = api
        .call("GET", "/v1/admin/users/nope", Some(ADMIN_KEY), None)
        .await;
    assert_eq!((r.status, r.code()), (404, "NOT_FOUND"));
}

async fn routes_errors_request_ids_and_openapi(s: Server) {
    let api = Api::new(&s.base);
    let r = api.call("GET", "/v1/health", None, None).await;
    assert_eq!(r.body["status"], "ok");
    assert!(r.headers.get("x-request-id").is_some());
    let r = common::Answer::from(
        api.http
            .get(s.url("/v1/health"))
            .header("x-request-id", "trace-me-123")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.headers["x-request-id"], "trace-me-123");
    // A client's id that is long or not plain is not taken: the server makes its own.
    for bad in [
        "x".repeat(8 * 1024),
        "x".repeat(65),
        "a b".into(),
        "id\"<script>".into(),
        "évé".into(),
    ] {
        let r = common::Answer::from(
            api.http
                .get(s.url("/v1/health"))
                .header("x-request-id", bad.as_bytes())
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.text);
        let id = r.headers["x-request-id"].to_str().unwrap();
        assert_ne!(id, bad);
        assert!(
            (1..=64).contains(&id.len())
                && id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-')),
            "{id}"
        );
    }
    let longest = "A.b_c-9".repeat(9) + "z";
    let r = common::Answer::from(
        api.http
            .get(s.url("/v1/health"))
            .header("x-request-id", &longest)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        r.headers["x-request-id"],
        longest.as_str(),
        "64 plain characters are kept"
    );
    let r = api.call("GET", "/v1/nothing-here", None, None).await;
    assert_eq!((r.status, r.code()), (404, "NOT_FOUND"));
    let r = api.call("DELETE", "/v1/health", None, None).await;
    assert_eq!((r.status, r.code()), (405, "METHOD_NOT_ALLOWED"));
    let r = api.call("GET", "/v1/openapi.json", None, None).await;
    assert_eq!(r.status, 200);
    assert!(r.body["openapi"].as_str().unwrap().starts_with("3."));
    for p in [
        "/v1/auth/login",
        "/v1/auth/me",
        "/v1/auth/refresh",
        "/v1/admin/users/{id}",
        "/v1/health",
    ] {
        assert!(r.body["paths"].get(p).is_some(), "{p} documented");
    }
    assert!(r.body["components"]["securitySchemes"]["bearer"].is_object());
}
