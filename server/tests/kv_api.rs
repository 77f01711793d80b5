//! Key-value storage (`/v1/kv`) over HTTP against `yunqiao serve`, on both stores.

mod common;

on_every_face!(
    namespaces_are_admin_defined_and_validated,
    namespace_rules_decide_who_reads_and_writes,
    user_scope_keeps_each_users_keys_private,
    versions_and_create_only_writes_conflict_when_stale,
    concurrent_writes_keep_every_version_and_one_create_wins,
    ttl_is_stored_honored_and_cleared,
    head_answers_existence_without_a_body,
    listing_pages_with_prefix_and_cursor,
    malformed_inputs_get_stable_4xx_codes,
);

use common::{ADMIN_KEY, Answer, Api, Server};
use serde_json::{Value, json};
use yunqiao_core::tables::schema::parse_rfc3339;

async fn user(api: &Api, name: &str, groups: &[&str]) -> (String, String) {
    let (token, u) = api.login(&format!("mock:{name}")).await;
    let id = u["id"].as_str().unwrap().to_string();
    if !groups.is_empty() {
        let r = api
            .call(
                "PATCH",
                &format!("/v1/admin/users/{id}"),
                Some(ADMIN_KEY),
                Some(json!({"groups": groups})),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
    }
    (token, id)
}

async fn define(api: &Api, ns: &str, def: Value) -> Answer {
    let r = api
        .call("PUT", &format!("/v1/kv/{ns}"), Some(ADMIN_KEY), Some(def))
        .await;
    assert!(
        r.status == 200 || r.status == 201,
        "define {ns}: {}",
        r.text
    );
    r
}

/// A request with extra headers.
async fn send(
    api: &Api,
    method: &str,
    path: &str,
    token: Option<&str>,
    headers: &[(&str, &str)],
    body: Option<Value>,
) -> Answer {
    let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut req = api.http.request(m, format!("{}{path}", api.base));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    Answer::from(req.send().await.expect("request")).await
}

/// A request with a raw body.
async fn raw(
    api: &Api,
    method: &str,
    path: &str,
    content_type: Option<&str>,
    body: &str,
) -> Answer {
    let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut req = api
        .http
        .request(m, format!("{}{path}", api.base))
        .bearer_auth(ADMIN_KEY)
        .body(body.to_string());
    if let Some(ct) = content_type {
        req = req.header("content-type", ct);
    }
    Answer::from(req.send().await.expect("request")).await
}

fn ms(v: &Value) -> i64 {
    parse_rfc3339(v.as_str().unwrap_or_else(|| panic!("a time: {v}")))
        .unwrap_or_else(|| panic!("RFC 3339: {v}"))
}

fn keys(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["key"].as_str().unwrap().to_string())
        .collect()
}

async fn namespaces_are_admin_defined_and_validated(s: Server) {
    let api = Api::new(&s.base);
    let (alice, _) = user(&api, "alice", &[]).await;
    let r = api.call("PUT", "/v1/kv/notes", None, Some(json!({}))).await;
    assert_eq!((r.status, r.code()), (401, "UNAUTHENTICATED"));
    let r = api
        .call("PUT", "/v1/kv/notes", Some(&alice), Some(json!({})))
        .await;
    assert_eq!((r.status, r.code()), (403, "FORBIDDEN"));
    let r = define(&api, "notes", json!({})).await;
    assert_eq!(r.status, 201);
    assert_eq!(
        (
            &r.body["name"],
            &r.body["read"],
            &r.body["write"],
            &r.body["scope"],
            &r.body["version"]
        ),
        (
            &json!("notes"),
            &json!("users"),
            &json!("users"),
            &json!("shared"),
            &json!(1)
        ),
        "defaults are filled in"
    );
    let r = define(
        &api,
        "notes",
        json!({"read": "anyone", "write": "group:editors"}),
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        (&r.body["read"], &r.body["version"]),
        (&json!("anyone"), &json!(2))
    );
    assert_eq!(
        r.body["scope"], "shared",
        "an absent scope keeps the current one"
    );
    let r = api
        .call(
            "PUT",
            "/v1/kv/notes",
            Some(ADMIN_KEY),
            Some(json!({"scope": "user"})),
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (400, "INVALID_ARGUMENT"),
        "the scope is fixed"
    );
    assert_eq!(r.body["error"]["details"]["field"], "scope");
    for (body, field) in [
        (json!({"read": "everyone"}), "read"),
        (json!({"write": "group:Bad Name"}), "write"),
        (json!({"scope": "global"}), "scope"),
    ] {
        let r = api
            .call("PUT", "/v1/kv/other", Some(ADMIN_KEY), Some(body.clone()))
            .await;
        assert_eq!((r.status, r.code()), (400, "INVALID_ARGUMENT"), "{body}");
        assert_eq!(r.body["error"]["details"]["field"], field);
    }
    let r = api
        .call(
            "PUT",
            "/v1/kv/other",
            Some(ADMIN_KEY),
            Some(json!({"reed": "users"})),
        )
        .await;
    assert_eq!((r.status, r.code()), (400, "UNKNOWN_FIELD"));
    for body in [
        json!({"read": 5}),
        json!(["users", "users"]),
        json!("users"),
    ] {
        let r = api
            .call("PUT", "/v1/kv/other", Some(ADMIN_KEY), Some(body.clone()))
            .await;
        assert_eq!((r.status, r.code()), (400, "INVALID_BODY"), "{body}");
    }
    for bad in ["Notes", "1notes", "no-tes", &"n".repeat(65)] {
        let r = api
            .call(
                "PUT",
                &format!("/v1/kv/{bad}"),
                Some(ADMIN_KEY),
                Some(json!({})),
            )
            .await;
        assert_eq!((r.status, r.code()), (400, "INVALID_ARGUMENT"), "{bad}");
        assert_eq!(r.body["error"]["details"]["field"], "namespace");
    }
    define(&api, "prefs", json!({"scope": "user", "read": "admins"})).await;

    let r = api.call("GET", "/v1/kv", Some(ADMIN_KEY), None).await;
    assert_eq!(r.status, 200);
    let names: Vec<&str> = r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["notes", "prefs"]);
    assert_eq!(r.body["items"][1]["read"], "admins");
    assert_eq!(r.body["items"][1]["scope"], "user");
    let r = api.call("GET", "/v1/kv", Some(&alice), None).await;
    assert_eq!((r.status, r.code()), (403, "FORBIDDEN"));
    let r = api.call("GET", "/v1/kv", None, None).await;
    assert_eq!((r.status, r.code()), (401, "UNAUTHENTICATED"));

    // The namespace itself: its definition for admins, a page of keys for every reader.
    let r = api.call("GET", "/v1/kv/notes", Some(ADMIN_KEY), None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        (&r.body["read"], &r.body["write"]),
        (&json!("anyone"), &json!("group:editors"))
    );
    assert_eq!(r.body["items"], json!([]));
    let r = api.call("GET", "/v1/kv/notes", Some(&alice), None).await;
    assert_eq!(r.status, 200);
    assert!(
        r.body.get("read").is_none(),
        "rules are shown to admins only"
    );
    assert_eq!(r.body["items"], json!([]));

    // Undefined namespaces are absent for everybody.
    for token in [None, Some(alice.as_str()), Some(ADMIN_KEY)] {
        for (method, path) in [
            ("GET", "/v1/kv/nope"),
            ("GET", "/v1/kv/nope/k"),
            ("PUT", "/v1/kv/nope/k"),
            ("DELETE", "/v1/kv/nope/k"),
        ] {
            let body = (method == "PUT").then(|| json!({"value": 1}));
            let r = api.call(method, path, token, body).await;
            assert_eq!(
                (r.status, r.code()),
                (404, "NOT_FOUND"),
                "{method} {path} {token:?}"
            );
        }
    }

    let r = api.call("GET", "/v1/openapi.json", None, None).await;
    for p in ["/v1/kv", "/v1/kv/{ns}", "/v1/kv/{ns}/{key}"] {
        assert!(r.body["paths"].get(p).is_some(), "{p} documented");
    }
    assert!(r.body["paths"]["/v1/kv/{ns}/{key}"]["head"].is_object());
}

async fn namespace_rules_decide_who_reads_and_writes(s: Server) {
    let api = Api::new(&s.base);
    let (alice, _) = user(&api, "alice", &[]).await;
    let (eve, _) = user(&api, "eve", &["editors"]).await;
    let (root, _) = user(&api, "root", &["admin"]).await;
    let rules = ["anyone", "users", "group:editors", "admins"];
    // Who each rule lets in: anonymous, a user, a group member, the admin key, an admin user.
    let allowed = |rule: &str| -> [bool; 5] {
        match rule {
            "anyone" => [true; 5],
            "users" => [false, true, true, true, true],
            "group:editors" => [false, false, true, true, true],
            _ => [false, false, false, true, true],
        }
    };
    let callers: [Option<&str>; 5] = [None, Some(&alice), Some(&eve), Some(ADMIN_KEY), Some(&root)];
    for (i, read) in rules.iter().enumerate() {
        let write = rules[3 - i];
        let ns = format!("ns{i}");
        define(&api, &ns, json!({"read": read, "write": write})).await;
        let r = api
            .call(
                "PUT",
                &format!("/v1/kv/{ns}/k"),
                Some(ADMIN_KEY),
                Some(json!({"value": i})),
            )
            .await;
        assert_eq!(r.status, 201);
        for (c, token) in callers.iter().enumerate() {
            let denied = if token.is_none() {
                (401, "UNAUTHENTICATED")
            } else {
                (403, "FORBIDDEN")
            };
            let who = format!("{ns} read={read} write={write} caller#{c}");
            let r = api
                .call("GET", &format!("/v1/kv/{ns}/k"), *token, None)
                .await;
            if allowed(read)[c] {
                assert_eq!((r.status, &r.body["value"]), (200, &json!(i)), "GET {who}");
            } else {
                assert_eq!((r.status, r.code()), denied, "GET {who}");
            }
            let r = send(&api, "HEAD", &format!("/v1/kv/{ns}/k"), *token, &[], None).await;
            assert_eq!(
                r.status,
                if allowed(read)[c] { 200 } else { denied.0 },
                "HEAD {who}"
            );
            let r = api.call("GET", &format!("/v1/kv/{ns}"), *token, None).await;
            if allowed(read)[c] {
                assert_eq!(
                    (r.status, keys(&r.body)),
                    (200, vec!["k".to_string()]),
                    "list {who}"
                );
            } else {
                assert_eq!((r.status, r.code()), denied, "list {who}");
            }
            let key = format!("w{c}");
            let r = api
                .call(
                    "PUT",
                    &format!("/v1/kv/{ns}/{key}"),
                    *token,
                    Some(json!({"value": c})),
                )
                .await;
            if allowed(write)[c] {
                assert_eq!(r.status, 201, "PUT {who}: {}", r.text);
                let r = api
                    .call("DELETE", &format!("/v1/kv/{ns}/{key}"), *token, None)
                    .await;
                assert_eq!(r.status, 204, "DELETE {who}");
            } else {
                assert_eq!((r.status, r.code()), denied, "PUT {who}");
                let r = api
                    .call("DELETE", &format!("/v1/kv/{ns}/k"), *token, None)
                    .await;
                assert_eq!((r.status, r.code()), denied, "DELETE {who}");
            }
        }
    }
    // A rule change applies at once.
    define(&api, "ns3", json!({"read": "anyone", "write": "admins"})).await;
    let r = api.call("GET", "/v1/kv/ns3/k", None, None).await;
    assert_eq!(r.status, 200);
    let r = api
        .call(
            "PUT",
            "/v1/kv/ns3/k",
            Some(&alice),
            Some(json!({"value": 1})),
        )
        .await;
    assert_eq!((r.status, r.code()), (403, "FORBIDDEN"));
}

async fn user_scope_keeps_each_users_keys_private(s: Server) {
    let api = Api::new(&s.base);
    let (alice, alice_id) = user(&api, "alice", &[]).await;
    let (bob, bob_id) = user(&api, "bob", &[]).await;
    let (carol, _) = user(&api, "carol", &[]).await;
    define(&api, "prefs", json!({"scope": "user"})).await;
    define(
        &api,
        "scratch",
        json!({"scope": "user", "read": "anyone", "write": "anyone"}),
    )
    .await;
    define(&api, "board", json!({"read": "anyone"})).await;

    let r = api
        .call(
            "PUT",
            "/v1/kv/prefs/theme",
            Some(&alice),
            Some(json!({"value": "dark"})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let r = api
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
    api.call(
        "PUT",
        "/v1/kv/prefs/lang",
        Some(&alice),
        Some(json!({"value": "zh"})),
    )
    .await;

    let r = api
        .call("GET", "/v1/kv/prefs/theme", Some(&alice), None)
        .await;
    assert_eq!(r.body["value"], "dark");
    let r = api
        .call("GET", "/v1/kv/prefs/theme", Some(&bob), None)
        .await;
    assert_eq!(r.body["value"], "light");
    let r = api
        .call("GET", "/v1/kv/prefs/theme", Some(&carol), None)
        .await;
    assert_eq!((r.status, r.code()), (404, "NOT_FOUND"));
    let r = send(&api, "HEAD", "/v1/kv/prefs/lang", Some(&bob), &[], None).await;
    assert_eq!(r.status, 404, "alice's key is not bob's");
    let r = api.call("GET", "/v1/kv/prefs", Some(&alice), None).await;
    assert_eq!(keys(&r.body), ["lang", "theme"]);
    let r = api.call("GET", "/v1/kv/prefs", Some(&bob), None).await;
    assert_eq!(keys(&r.body), ["theme"]);
    let r = api
        .call("DELETE", "/v1/kv/prefs/lang", Some(&bob), None)
        .await;
    assert_eq!(r.status, 404, "bob cannot delete alice's key");

    // Naming another user is for admins.
    let r = api
        .call(
            "GET",
            &format!("/v1/kv/prefs/theme?user={bob_id}"),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!((r.status, r.code()), (403, "FORBIDDEN"));
    let r = api
        .call(
            "GET",
            &format!("/v1/kv/prefs/theme?user={alice_id}"),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(r.body["value"], "dark", "naming yourself is fine");
    let r = api
        .call("GET", "/v1/kv/prefs/theme?user=nobody", Some(&alice), None)
        .await;
    assert_eq!((r.status, r.code()), (400, "INVALID_ARGUMENT"));
    assert_eq!(r.body["error"]["details"]["field"], "user");

    // Anonymous callers have no keys, whatever the rules.
    for path in ["/v1/kv/prefs/theme", "/v1/kv/scratch/x", "/v1/kv/scratch"] {
        let r = api.call("GET", path, None, None).await;
        assert_eq!((r.status, r.code()), (401, "UNAUTHENTICATED"), "{path}");
    }
    let r = api
        .call("PUT", "/v1/kv/scratch/x", None, Some(json!({"value": 1})))
        .await;
    assert_eq!((r.status, r.code()), (401, "UNAUTHENTICATED"));

    // The admin key names the user; it has no keys of its own here.
    let r = api
        .call("GET", "/v1/kv/prefs/theme", Some(ADMIN_KEY), None)
        .await;
    assert_eq!((r.status, r.code()), (400, "INVALID_ARGUMENT"));
    assert_eq!(r.body["error"]["details"]["field"], "user");
    let r = api
        .call(
            "GET",
            &format!("/v1/kv/prefs/theme?user={bob_id}"),
            Some(ADMIN_KEY),
            None,
        )
        .await;
    assert_eq!(r.body["value"], "light");
    let r = api.call("GET", "/v1/kv/prefs", Some(ADMIN_KEY), None).await;
    assert_eq!(
        (r.status, &r.body["scope"], &r.body["items"]),
        (200, &json!("user"), &json!([]))
    );
    let r = api
        .call(
            "GET",
            &format!("/v1/kv/prefs?user={alice_id}"),
            Some(ADMIN_KEY),
            None,
        )
        .await;
    assert_eq!(keys(&r.body), ["lang", "theme"]);
    let r = api
        .call(
            "PUT",
            &format!("/v1/kv/prefs/theme?user={bob_id}"),
            Some(ADMIN_KEY),
            Some(json!({"value": "blue"})),
        )
        .await;
    assert_eq!((r.status, r.body["_v"].as_i64()), (200, Some(2)));
    let r = api
        .call("GET", "/v1/kv/prefs/theme", Some(&bob), None)
        .await;
    assert_eq!(r.body["value"], "blue");
    let r = api
        .call("GET", "/v1/kv/prefs/theme", Some(&alice), None)
        .await;
    assert_eq!(r.body["value"], "dark", "alice's entry untouched");
    let r = api
        .call(
            "DELETE",
            &format!("/v1/kv/prefs/theme?user={bob_id}"),
            Some(ADMIN_KEY),
            None,
        )
        .await;
    assert_eq!(r.status, 204);
    let r = api
        .call("GET", "/v1/kv/prefs/theme", Some(&bob), None)
        .await;
    assert_eq!(r.status, 404);
    let r = api
        .call("GET", "/v1/kv/prefs/theme", Some(&alice), None)
        .await;
    assert_eq!(r.status, 200);

    // `user` is for user-scoped namespaces only.
    let r = api
        .call(
            "GET",
            &format!("/v1/kv/board/x?user={bob_id}"),
            Some(ADMIN_KEY),
            None,
        )
        .await;
    assert_eq!((r.status, r.code()), (400, "INVALID_ARGUMENT"));
}

async fn versions_and_create_only_writes_conflict_when_stale(s: Server) {
    let api = Api::new(&s.base);
    let (alice, _) = user(&api, "alice", &[]).await;
    define(&api, "docs", json!({})).await;
    let path = "/v1/kv/docs/readme";
    let r = api
        .call("PUT", path, Some(&alice), Some(json!({"value": {"t": 1}})))
        .await;
    assert_eq!((r.status, r.body["_v"].as_i64()), (201, Some(1)));
    assert_eq!(r.headers["etag"], "\"1\"");
    assert_eq!(r.body["key"], "readme");
    assert!(r.body.get("expires_at").is_none());
    let created_at = r.body["created_at"].clone();
    let r = api
        .call("PUT", path, Some(&alice), Some(json!({"value": {"t": 2}})))
        .await;
    assert_eq!((r.status, r.body["_v"].as_i64()), (200, Some(2)));
    assert_eq!(
        r.body["created_at"], created_at,
        "a replacement keeps created_at"
    );
    assert!(ms(&r.body["updated_at"]) >= ms(&created_at));

    let r = api
        .call(
            "PUT",
            path,
            Some(&alice),
            Some(json!({"value": 3, "_v": 1})),
        )
        .await;
    assert_eq!((r.status, r.code()), (409, "CONFLICT"));
    assert_eq!(
        r.body["error"]["details"],
        json!({"field": "_v", "current_v": 2}),
        "named as a record's conflict is"
    );
    // The version was `version` before it was `_v`: the old name is refused, never read
    // as an unconditional write.
    let r = api
        .call(
            "PUT",
            path,
            Some(&alice),
            Some(json!({"value": 3, "version": 1})),
        )
        .await;
    assert_eq!((r.status, r.code()), (400, "UNKNOWN_FIELD"), "{}", r.text);
    let message = r.body["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("`version`") && message.contains("`_v`"),
        "the refusal names the old field and the new one: {message}"
    );
    let r = api.call("GET", path, Some(&alice), None).await;
    assert_eq!(
        (&r.body["value"], &r.body["_v"]),
        (&json!({"t": 2}), &json!(2))
    );
    assert!(
        r.body.get("version").is_none(),
        "the entry's version is _v: {}",
        r.text
    );
    assert_eq!(r.headers["etag"], "\"2\"");
    let r = api
        .call(
            "PUT",
            path,
            Some(&alice),
            Some(json!({"value": 3, "_v": 2})),
        )
        .await;
    assert_eq!((r.status, r.body["_v"].as_i64()), (200, Some(3)));
    let r = send(
        &api,
        "PUT",
        path,
        Some(&alice),
        &[("if-match", "\"3\"")],
        Some(json!({"value": 4})),
    )
    .await;
    assert_eq!(
        (r.status, r.body["_v"].as_i64()),
        (200, Some(4)),
        "{}",
        r.text
    );
    let r = send(
        &api,
        "PUT",
        path,
        Some(&alice),
        &[("if-match", "3")],
        Some(json!({"value": 5})),
    )
    .await;
    assert_eq!((r.status, r.code()), (409, "CONFLICT"));
    let r = send(
        &api,
        "PUT",
        path,
        Some(&alice),
        &[("if-match", "4")],
        Some(json!({"value": 5, "_v": 3})),
    )
    .await;
    assert_eq!(
        (r.status, r.code()),
        (400, "INVALID_ARGUMENT"),
        "contradicting versions"
    );
    let r = send(
        &api,
        "PUT",
        path,
        Some(&alice),
        &[("if-match", "soon")],
        Some(json!({"value": 5})),
    )
    .await;
    assert_eq!((r.status, r.code()), (400, "INVALID_ARGUMENT"));
    for v in [json!(0), json!(-1)] {
        let r = api
            .call(
                "PUT",
                path,
                Some(&alice),
                Some(json!({"value": 5, "_v": v})),
            )
            .await;
        assert_eq!(
            (r.status, r.code()),
            (400, "INVALID_ARGUMENT"),
            "version {v}"
        );
    }
    let r = api
        .call(
            "PUT",
            "/v1/kv/docs/absent",
            Some(&alice),
            Some(json!({"value": 1, "_v": 1})),
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (409, "CONFLICT"),
        "a version needs the entry"
    );
    assert_eq!(r.body["error"]["details"]["current_v"], Value::Null);

    // Create only.
    let star = [("if-none-match", "*")];
    let r = send(
        &api,
        "PUT",
        path,
        Some(&alice),
        &star,
        Some(json!({"value": 6})),
    )
    .await;
    assert_eq!((r.status, r.code()), (409, "CONFLICT"));
    assert_eq!(r.body["error"]["details"]["current_v"], 4);
    let r = send(
        &api,
        "PUT",
        "/v1/kv/docs/fresh",
        Some(&alice),
        &star,
        Some(json!({"value": 6})),
    )
    .await;
    assert_eq!((r.status, r.body["_v"].as_i64()), (201, Some(1)));
    let r = send(
        &api,
        "PUT",
        "/v1/kv/docs/fresh2",
        Some(&alice),
        &[("if-none-match", "\"1\"")],
        Some(json!({"value": 6})),
    )
    .await;
    assert_eq!((r.status, r.code()), (400, "INVALID_ARGUMENT"));
    let r = send(
        &api,
        "PUT",
        "/v1/kv/docs/fresh2",
        Some(&alice),
        &star,
        Some(json!({"value": 6, "_v": 1})),
    )
    .await;
    assert_eq!((r.status, r.code()), (400, "INVALID_ARGUMENT"));

    // Conditional deletes.
    let r = send(
        &api,
        "DELETE",
        path,
        Some(&alice),
        &[("if-match", "3")],
        None,
    )
    .await;
    assert_eq!((r.status, r.code()), (409, "CONFLICT"));
    assert_eq!(r.body["error"]["details"]["current_v"], 4);
    let r = send(
        &api,
        "DELETE",
        path,
        Some(&alice),
        &[("if-match", "4")],
        None,
    )
    .await;
    assert_eq!((r.status, r.text.as_str()), (204, ""));
    let r = api.call("DELETE", path, Some(&alice), None).await;
    assert_eq!((r.status, r.code()), (404, "NOT_FOUND"));
    let r = send(
        &api,
        "DELETE",
        path,
        Some(&alice),
        &[("if-match", "4")],
        None,
    )
    .await;
    assert_eq!((r.status, r.code()), (404, "NOT_FOUND"));
    let r = api
        .call("PUT", path, Some(&alice), Some(json!({"value": null})))
        .await;
    assert_eq!(
        (r.status, r.body["_v"].as_i64(), &r.body["value"]),
        (201, Some(1), &Value::Null),
        "re-created from version 1; null is a value"
    );
    let r = api.call("GET", path, Some(&alice), None).await;
    assert_eq!((r.status, &r.body["value"]), (200, &Value::Null));
}

async fn concurrent_writes_keep_every_version_and_one_create_wins(s: Server) {
    let api = Api::new(&s.base);
    let (alice, _) = user(&api, "alice", &[]).await;
    define(&api, "race", json!({})).await;
    let mut tasks = Vec::new();
    for i in 0..8 {
        let (api, alice) = (api.clone(), alice.clone());
        tasks.push(tokio::spawn(async move {
            send(
                &api,
                "PUT",
                "/v1/kv/race/once",
                Some(&alice),
                &[("if-none-match", "*")],
                Some(json!({"value": i})),
            )
            .await
            .status
        }));
    }
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    statuses.sort();
    assert_eq!(statuses, [201, 409, 409, 409, 409, 409, 409, 409]);

    let mut tasks = Vec::new();
    for i in 0..8 {
        let (api, alice) = (api.clone(), alice.clone());
        tasks.push(tokio::spawn(async move {
            let r = api
                .call(
                    "PUT",
                    "/v1/kv/race/many",
                    Some(&alice),
                    Some(json!({"value": i})),
                )
                .await;
            (r.status, r.body["_v"].as_i64().unwrap_or(0))
        }));
    }
    let mut versions = Vec::new();
    for t in tasks {
        let (status, v) = t.await.unwrap();
        assert!(status == 200 || status == 201, "{status}");
        versions.push(v);
    }
    versions.sort();
    assert_eq!(
        versions,
        (1..=8).collect::<Vec<_>>(),
        "every write got its own version"
    );
    let r = api
        .call("GET", "/v1/kv/race/many", Some(&alice), None)
        .await;
    assert_eq!(r.body["_v"], 8);
}

async fn ttl_is_stored_honored_and_cleared(s: Server) {
    let api = Api::new(&s.base);
    let (alice, _) = user(&api, "alice", &[]).await;
    define(&api, "cache", json!({})).await;
    let r = api
        .call(
            "PUT",
            "/v1/kv/cache/token",
            Some(&alice),
            Some(json!({"value": "t", "ttl": 3600})),
        )
        .await;
    assert_eq!(r.status, 201);
    let (written, expires) = (ms(&r.body["updated_at"]), ms(&r.body["expires_at"]));
    let lifetime = expires - written;
    assert!(
        (3_600_000..=3_601_000).contains(&lifetime),
        "expires_at ≈ now + ttl: {lifetime} ms"
    );
    assert_eq!(expires % 1000, 0, "whole seconds");
    let r = api
        .call("GET", "/v1/kv/cache/token", Some(&alice), None)
        .await;
    assert_eq!(ms(&r.body["expires_at"]), expires);
    let r = api.call("GET", "/v1/kv/cache", Some(&alice), None).await;
    assert_eq!(ms(&r.body["items"][0]["expires_at"]), expires);
    // A write without ttl makes the entry permanent.
    let r = api
        .call(
            "PUT",
            "/v1/kv/cache/token",
            Some(&alice),
            Some(json!({"value": "t2"})),
        )
        .await;
    assert_eq!(r.status, 200);
    assert!(r.body.get("expires_at").is_none(), "{}", r.text);
    let r = api
        .call("GET", "/v1/kv/cache/token", Some(&alice), None)
        .await;
    assert!(r.body.get("expires_at").is_none());

    // A short ttl is honoured: the entry is gone for reads, listings and conditions.
    let r = api
        .call(
            "PUT",
            "/v1/kv/cache/blink",
            Some(&alice),
            Some(json!({"value": 1, "ttl": 1})),
        )
        .await;
    assert_eq!(r.status, 201);
    let expires = ms(&r.body["expires_at"]);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    tokio::time::sleep(std::time::Duration::from_millis(
        (expires - now).max(0) as u64 + 150,
    ))
    .await;
    let r = api
        .call("GET", "/v1/kv/cache/blink", Some(&alice), None)
        .await;
    assert_eq!((r.status, r.code()), (404, "NOT_FOUND"));
    let r = send(&api, "HEAD", "/v1/kv/cache/blink", Some(&alice), &[], None).await;
    assert_eq!(r.status, 404);
    let r = api.call("GET", "/v1/kv/cache", Some(&alice), None).await;
    assert_eq!(keys(&r.body), ["token"]);
    let r = send(
        &api,
        "PUT",
        "/v1/kv/cache/blink",
        Some(&alice),
        &[("if-none-match", "*")],
        Some(json!({"value": 2})),
    )
    .await;
    assert_eq!(
        (r.status, r.body["_v"].as_i64()),
        (201, Some(1)),
        "an expired key is absent"
    );

    for ttl in [json!(0), json!(-5), json!(31_536_001)] {
        let r = api
            .call(
                "PUT",
                "/v1/kv/cache/x",
                Some(&alice),
                Some(json!({"value": 1, "ttl": ttl})),
            )
            .await;
        assert_eq!((r.status, r.code()), (400, "INVALID_ARGUMENT"), "ttl {ttl}");
        assert_eq!(r.body["error"]["details"]["field"], "ttl");
    }
    for ttl in [json!("60"), json!(1.5)] {
        let r = api
            .call(
                "PUT",
                "/v1/kv/cache/x",
                Some(&alice),
                Some(json!({"value": 1, "ttl": ttl})),
            )
            .await;
        assert_eq!((r.status, r.code()), (400, "INVALID_BODY"), "ttl {ttl}");
    }
    let r = api
        .call(
            "PUT",
            "/v1/kv/cache/x",
            Some(&alice),
            Some(json!({"value": 1, "ttl": 31_536_000})),
        )
        .await;
    assert_eq!(r.status, 201, "a year is allowed");
}

async fn head_answers_existence_without_a_body(s: Server) {
    let api = Api::new(&s.base);
    let (alice, _) = user(&api, "alice", &[]).await;
    define(&api, "flags", json!({"read": "anyone"})).await;
    let r = send(&api, "HEAD", "/v1/kv/flags/seen", Some(&alice), &[], None).await;
    assert_eq!((r.status, r.text.as_str()), (404, ""));
    api.call(
        "PUT",
        "/v1/kv/flags/seen",
        Some(&alice),
        Some(json!({"value": true})),
    )
    .await;
    let r = send(&api, "HEAD", "/v1/kv/flags/seen", Some(&alice), &[], None).await;
    assert_eq!((r.status, r.text.as_str()), (200, ""));
    let r = send(&api, "HEAD", "/v1/kv/flags/seen", None, &[], None).await;
    assert_eq!(r.status, 200, "the read rule applies");
    let r = send(&api, "HEAD", "/v1/kv/flags/a%20b", Some(&alice), &[], None).await;
    assert_eq!((r.status, r.text.as_str()), (400, ""));
    let r = send(&api, "HEAD", "/v1/kv/nope/seen", Some(&alice), &[], None).await;
    assert_eq!(r.status, 404);
    api.call("DELETE", "/v1/kv/flags/seen", Some(&alice), None)
        .await;
    let r = send(&api, "HEAD", "/v1/kv/flags/seen", Some(&alice), &[], None).await;
    assert_eq!(r.status, 404);
}

async fn listing_pages_with_prefix_and_cursor(s: Server) {
    let api = Api::new(&s.base);
    let (alice, _) = user(&api, "alice", &[]).await;
    define(&api, "items", json!({})).await;
    let mut want = Vec::new();
    for i in 0..25 {
        let key = format!("item:{i:02}");
        let r = api
            .call(
                "PUT",
                &format!("/v1/kv/items/{key}"),
                Some(&alice),
                Some(json!({"value": {"n": i}})),
            )
            .await;
        assert_eq!(r.status, 201);
        want.push(key);
    }
    for key in ["other:1", "ite", "itez"] {
        api.call(
            "PUT",
            &format!("/v1/kv/items/{key}"),
            Some(&alice),
            Some(json!({"value": 0})),
        )
        .await;
    }
    let mut got = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut path = "/v1/kv/items?prefix=item:&limit=10".to_string();
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let r = api.call("GET", &path, Some(&alice), None).await;
        assert_eq!(r.status, 200, "{}", r.text);
        pages += 1;
        for e in r.body["items"].as_array().unwrap() {
            let n: usize = e["key"].as_str().unwrap()[5..].parse().unwrap();
            assert_eq!(e["value"], json!({"n": n}), "values are listed");
            assert_eq!(e["_v"], 1);
        }
        got.extend(keys(&r.body));
        match r.body["cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    assert_eq!(
        (got, pages),
        (want, 3),
        "every key once, in order, and no empty last page"
    );

    let r = api.call("GET", "/v1/kv/items", Some(&alice), None).await;
    assert_eq!(
        r.body["items"].as_array().unwrap().len(),
        20,
        "20 by default"
    );
    assert_eq!(keys(&r.body)[..2], ["ite", "item:00"]);
    let c = r.body["cursor"].as_str().unwrap().to_string();
    let r = api
        .call(
            "GET",
            &format!("/v1/kv/items?cursor={c}"),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(
        keys(&r.body),
        [
            "item:19", "item:20", "item:21", "item:22", "item:23", "item:24", "itez", "other:1"
        ]
    );
    assert!(r.body.get("cursor").is_none());
    let r = api
        .call("GET", "/v1/kv/items?prefix=zzz", Some(&alice), None)
        .await;
    assert_eq!((r.status, &r.body["items"]), (200, &json!([])));

    let r = api
        .call(
            "GET",
            "/v1/kv/items?prefix=item:&limit=2",
            Some(&alice),
            None,
        )
        .await;
    let item_cursor = r.body["cursor"].as_str().unwrap().to_string();
    for (query, code, field) in [
        ("limit=0", "INVALID_ARGUMENT", "limit"),
        ("limit=101", "INVALID_ARGUMENT", "limit"),
        ("limit=ten", "INVALID_ARGUMENT", "limit"),
        ("prefix=a%20b", "INVALID_ARGUMENT", "prefix"),
        ("prefix=a/b", "INVALID_ARGUMENT", "prefix"),
        ("cursor=***", "INVALID_CURSOR", "cursor"),
        ("cursor=", "INVALID_CURSOR", "cursor"),
        (
            &format!("prefix=other&cursor={item_cursor}"),
            "INVALID_CURSOR",
            "cursor",
        ),
    ] {
        let r = api
            .call("GET", &format!("/v1/kv/items?{query}"), Some(&alice), None)
            .await;
        assert_eq!((r.status, r.code()), (400, code), "{query}: {}", r.text);
        assert_eq!(r.body["error"]["details"]["field"], field, "{query}");
    }
}

async fn malformed_inputs_get_stable_4xx_codes(s: Server) {
    let api = Api::new(&s.base);
    define(&api, "box", json!({})).await;
    let admin = Some(ADMIN_KEY);
    let ok = Some(json!({"value": 1}));
    for (path, field) in [
        ("/v1/kv/Box/k", "namespace"),
        ("/v1/kv/b-x/k", "namespace"),
        ("/v1/kv/box/a%20b", "key"),
        ("/v1/kv/box/a%2Fb", "key"),
        ("/v1/kv/box/a%23b", "key"),
        ("/v1/kv/box/%E4%BA%91", "key"),
        ("/v1/kv/box/a%09b", "key"),
    ] {
        for method in ["GET", "PUT", "DELETE"] {
            let body = (method == "PUT").then(|| json!({"value": 1}));
            let r = api.call(method, path, admin, body).await;
            assert_eq!(
                (r.status, r.code()),
                (400, "INVALID_ARGUMENT"),
                "{method} {path}: {}",
                r.text
            );
            assert_eq!(
                r.body["error"]["details"]["field"], field,
                "{method} {path}"
            );
        }
    }
    let long = "k".repeat(201);
    let r = api
        .call("PUT", &format!("/v1/kv/box/{long}"), admin, ok.clone())
        .await;
    assert_eq!((r.status, r.code()), (400, "INVALID_ARGUMENT"));
    let r = api
        .call(
            "PUT",
            &format!("/v1/kv/box/{}", &long[1..]),
            admin,
            ok.clone(),
        )
        .await;
    assert_eq!(r.status, 201, "200 bytes is fine");
    let r = api.call("PUT", "/v1/kv/box/%FF", admin, ok.clone()).await;
    assert_eq!(
        (r.status, r.code()),
        (400, "INVALID_ARGUMENT"),
        "not UTF-8: {}",
        r.text
    );
    let r = api.call("GET", "/v1/kv/box/", admin, None).await;
    assert_eq!((r.status, r.code()), (404, "NOT_FOUND"), "no empty key");
    let r = api
        .call("PUT", "/v1/kv/box/odd!$&'()*+,;=@:~.-_", admin, ok.clone())
        .await;
    assert_eq!(
        (r.status, &r.body["key"]),
        (201, &json!("odd!$&'()*+,;=@:~.-_"))
    );
    let r = api.call("GET", "/v1/kv/box/q%3Fx%25", admin, None).await;
    assert_eq!(r.status, 404, "percent-encoded ? and % are key characters");

    // Values.
    let big = json!({"value": "x".repeat(350_001)});
    let r = api.call("PUT", "/v1/kv/box/big", admin, Some(big)).await;
    assert_eq!((r.status, r.code()), (413, "ITEM_TOO_LARGE"));
    assert_eq!(r.body["error"]["details"]["limit"], 350_000);
    let r = api
        .call(
            "PUT",
            "/v1/kv/box/big",
            admin,
            Some(json!({"value": "x".repeat(349_998)})),
        )
        .await;
    assert_eq!(r.status, 201, "exactly the limit is fine: {}", r.text);
    let r = api.call("GET", "/v1/kv/box/big", admin, None).await;
    assert_eq!(r.body["value"].as_str().map(str::len), Some(349_998));
    let r = api
        .call(
            "PUT",
            "/v1/kv/box/huge",
            admin,
            Some(json!({"value": "x".repeat(1_100_000)})),
        )
        .await;
    assert_eq!((r.status, r.code()), (413, "BODY_TOO_LARGE"));
    let mut deep = json!(1);
    for _ in 0..40 {
        deep = json!([deep]);
    }
    for value in [deep, json!({"": 1}), json!([1e200])] {
        let r = api
            .call("PUT", "/v1/kv/box/v", admin, Some(json!({"value": value})))
            .await;
        assert_eq!(
            (r.status, r.code()),
            (400, "INVALID_ARGUMENT"),
            "{}",
            r.text
        );
        assert_eq!(r.body["error"]["details"]["field"], "value");
    }
    let r = api
        .call(
            "PUT",
            "/v1/kv/box/v",
            admin,
            Some(json!({"value": {"a": [1, 2.5, "三", true, null, {}]}})),
        )
        .await;
    assert_eq!(r.status, 201);
    let r = api.call("GET", "/v1/kv/box/v", admin, None).await;
    assert_eq!(
        r.body["value"],
        json!({"a": [1, 2.5, "三", true, null, {}]}),
        "JSON round-trips"
    );

    // Bodies.
    let r = api
        .call("PUT", "/v1/kv/box/v", admin, Some(json!({"ttl": 5})))
        .await;
    assert_eq!((r.status, r.code()), (400, "INVALID_ARGUMENT"));
    assert_eq!(r.body["error"]["details"]["field"], "value");
    let r = api
        .call(
            "PUT",
            "/v1/kv/box/v",
            admin,
            Some(json!({"value": 1, "expire": 5})),
        )
        .await;
    assert_eq!((r.status, r.code()), (400, "UNKNOWN_FIELD"));
    let r = api
        .call("PUT", "/v1/kv/box/v", admin, Some(json!([1])))
        .await;
    assert_eq!((r.status, r.code()), (400, "INVALID_BODY"));
    let r = raw(
        &api,
        "PUT",
        "/v1/kv/box/v",
        Some("application/json"),
        "{\"value\": ",
    )
    .await;
    assert_eq!((r.status, r.code()), (400, "MALFORMED_JSON"));
    let r = raw(
        &api,
        "PUT",
        "/v1/kv/box/v",
        Some("multipart/form-data; boundary=x"),
        "{\"value\": 1}",
    )
    .await;
    assert_eq!((r.status, r.code()), (415, "UNSUPPORTED_MEDIA_TYPE"));
    let r = raw(&api, "PUT", "/v1/kv/box/v", None, "{\"value\": 1}").await;
    assert_eq!(r.status, 200, "no content type: read as JSON: {}", r.text);
    let r = raw(&api, "PUT", "/v1/kv", Some("application/json"), "{}").await;
    assert_eq!((r.status, r.code()), (405, "METHOD_NOT_ALLOWED"));
    let r = raw(&api, "POST", "/v1/kv/box/v", Some("application/json"), "{}").await;
    assert_eq!((r.status, r.code()), (405, "METHOD_NOT_ALLOWED"));
    let r = raw(&api, "PUT", "/v1/kv/box", Some("application/json"), "{").await;
    assert_eq!((r.status, r.code()), (400, "MALFORMED_JSON"));
}
