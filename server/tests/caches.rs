//! Sessions, users, schemas and function modules are cached per process. What a process
//! changes itself counts at once; on the Lambda face, where another function's sandbox
//! made the change, within the stated bound (`Freshness::SHARED`, one second).

mod common;

/// Every face, the Lambda one with its real cache bound (the stand-in's default for
/// other tests is no caching).
macro_rules! on_every_face_cached {
    ($($name:ident),* $(,)?) => {
        mod embedded {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() { super::$name(super::Server::start().await).await }
            )*
        }
        mod dynamodb {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if !super::common::emulators_for("DynamoDB") {
                        return;
                    }
                    super::$name(super::Server::start_dynamodb().await).await
                }
            )*
        }
        mod lambda {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if !super::common::emulators_for("Lambda") {
                        return;
                    }
                    super::$name(super::Server::start_lambda_with(&[("YUNQIAO_CACHE_BOUND_MS", "1000")]).await).await
                }
            )*
        }
    };
}

on_every_face_cached!(
    changes_count_at_once_or_within_the_bound,
    patch_is_tunnelled_through_post_for_wx,
);

use common::{ADMIN_KEY, Api, Server};
use serde_json::json;

async fn changes_count_at_once_or_within_the_bound(s: Server) {
    let api = Api::new(&s.base);
    let (alice, alice_user) = api.login("mock:alice").await;
    let (bob, bob_user) = api.login("mock:bob").await;
    let def = |record: &str| json!({"fields": [{"name": "text", "type": "string"}], "acl": {"record": record}});
    let r = api
        .call(
            "PUT",
            "/v1/tables/memo",
            Some(ADMIN_KEY),
            Some(def("rwd:r:r")),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let r = api
        .call(
            "POST",
            "/v1/tables/memo/records",
            Some(&alice),
            Some(json!({"text": "hi"})),
        )
        .await;
    let id = r.body["_id"].as_str().unwrap().to_string();
    let path = format!("/v1/tables/memo/records/{id}");
    // Warm every cache: the session, the user, the schema.
    for _ in 0..3 {
        assert_eq!(api.call("GET", &path, Some(&bob), None).await.status, 200);
    }

    // A rule change.
    let r = api
        .call(
            "PUT",
            "/v1/tables/memo",
            Some(ADMIN_KEY),
            Some(def("rwd:r:-")),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    s.settle().await;
    let r = api.call("GET", &path, Some(&bob), None).await;
    assert_eq!(
        r.status, 404,
        "the new rule hides alice's memo from bob: {}",
        r.text
    );

    // A group change, in and out.
    let m =
        json!({"source": "export async function hi() { return 'team' }", "access": "group:team"});
    assert_eq!(
        api.call("PUT", "/v1/functions/team", Some(ADMIN_KEY), Some(m))
            .await
            .status,
        201
    );
    let team = || {
        api.call(
            "POST",
            "/v1/fn/team/hi",
            Some(&bob),
            Some(json!({"args": []})),
        )
    };
    assert_eq!(team().await.status, 403);
    api.set_groups(&bob_user, &["team"]).await;
    s.settle().await;
    assert_eq!(team().await.status, 200, "bob's session sees his new group");
    let r = api.call("GET", "/v1/auth/me", Some(&bob), None).await;
    assert_eq!(r.body["groups"], json!(["team"]), "{}", r.text);
    api.set_groups(&bob_user, &[]).await;
    s.settle().await;
    assert_eq!(team().await.status, 403, "and sees it gone");
    let _ = alice_user;

    // A logout.
    let r = api.call("POST", "/v1/auth/logout", Some(&bob), None).await;
    assert_eq!(r.status, 204, "{}", r.text);
    s.settle().await;
    let r = api.call("GET", &path, Some(&bob), None).await;
    assert_eq!((r.status, r.code()), (401, "INVALID_TOKEN"), "{}", r.text);
    let r = api.call("GET", "/v1/auth/me", Some(&bob), None).await;
    assert_eq!(r.status, 401);

    // A new version of a function module.
    let v1 = json!({"source": "export async function v() { return 1 }", "access": "anyone"});
    let v2 = json!({"source": "export async function v() { return 2 }", "access": "anyone"});
    assert_eq!(
        api.call("PUT", "/v1/functions/ver", Some(ADMIN_KEY), Some(v1))
            .await
            .status,
        201
    );
    let call = || api.call("POST", "/v1/fn/ver/v", None, Some(json!({"args": []})));
    assert_eq!(call().await.body["result"], 1);
    assert_eq!(
        api.call("PUT", "/v1/functions/ver", Some(ADMIN_KEY), Some(v2))
            .await
            .status,
        200
    );
    s.settle().await;
    assert_eq!(call().await.body["result"], 2);
}

/// wx.request has no PATCH: `POST` with `X-HTTP-Method-Override: PATCH` is a PATCH, and
/// only PATCH is tunnelled.
async fn patch_is_tunnelled_through_post_for_wx(s: Server) {
    let api = Api::new(&s.base);
    let (alice, _) = api.login("mock:alice").await;
    let r = api
        .http
        .post(format!("{}/v1/auth/me", s.base))
        .bearer_auth(&alice)
        .header("x-http-method-override", "PATCH")
        .json(&json!({"nickname": "小明"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = api.call("GET", "/v1/auth/me", Some(&alice), None).await;
    assert_eq!(r.body["nickname"], "小明");
    let r = api
        .http
        .post(format!("{}/v1/auth/me", s.base))
        .bearer_auth(&alice)
        .header("x-http-method-override", "DELETE")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405, "other methods are not tunnelled");
}
