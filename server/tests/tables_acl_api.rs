//! The ACL matrix: owner / group / other / anonymous / admin × read / write / delete ×
//! record and field × get / query / update / delete / expand, on both stores.

mod common;

use common::{ADMIN_KEY, Api, Server};
use serde_json::{Value, json};

on_every_face!(acl_matrix);

#[derive(Clone, Copy, Debug)]
struct Perms {
    r: bool,
    w: bool,
    d: bool,
}

fn perms(part: &str) -> Perms {
    Perms {
        r: part.contains('r'),
        w: part.contains('w'),
        d: part.contains('d'),
    }
}

async fn acl_matrix(s: Server) {
    let api = Api::new(&s.base);
    let (alice, alice_u) = api.login("mock:alice").await;
    let (bob, bob_u) = api.login("mock:bob").await;
    let (carol, _) = api.login("mock:carol").await;
    api.set_groups(&alice_u, &["team"]).await;
    api.set_groups(&bob_u, &["team"]).await;
    // role name, token, index of the ACL part that applies (owner 0, group 1, other 2)
    let roles: [(&str, Option<&str>, usize); 4] = [
        ("owner", Some(&alice), 0),
        ("group", Some(&bob), 1),
        ("other", Some(&carol), 2),
        ("anon", None, 2),
    ];
    for (ti, acl) in ["rwd:r:-", "rw:rwd:r", "r:r:rwd", "rwd:-:-"]
        .iter()
        .enumerate()
    {
        let t = format!("m{ti}");
        let refs = format!("refs{ti}");
        let r = api
            .call(
                "PUT",
                &format!("/v1/tables/{t}"),
                Some(ADMIN_KEY),
                Some(json!({
                    "fields": [
                        {"name": "k", "type": "string", "index": true},
                        {"name": "note", "type": "string"},
                        {"name": "secret", "type": "string", "acl": "rw:r:-"}
                    ],
                    "acl": {"record": acl, "create": "users"}
                })),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        let r = api
            .call(
                "PUT",
                &format!("/v1/tables/{refs}"),
                Some(ADMIN_KEY),
                Some(json!({
                    "fields": [{"name": "target", "type": "ref", "table": t}],
                    "acl": {"record": "rwd:r:r", "create": "users"}
                })),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        let parts: Vec<&str> = acl.split(':').collect();

        for (role, token, part) in roles {
            let p = perms(parts[part]);
            let ctx = format!("acl {acl}, {role}");
            // The owner creates one record per role, in group "team".
            let r = api
                .call(
                    "POST",
                    &format!("/v1/tables/{t}/records"),
                    Some(&alice),
                    Some(json!({"k": role, "note": "n", "secret": "s", "_group": "team"})),
                )
                .await;
            assert_eq!(r.status, 201, "{ctx}: {}", r.text);
            let id = r.body["_id"].as_str().unwrap().to_string();
            let path = format!("/v1/tables/{t}/records/{id}");
            let r = api
                .call(
                    "POST",
                    &format!("/v1/tables/{refs}/records"),
                    Some(ADMIN_KEY),
                    Some(json!({"target": id})),
                )
                .await;
            assert_eq!(r.status, 201, "{ctx}: {}", r.text);
            let ref_path = format!(
                "/v1/tables/{refs}/records/{}?expand=target",
                r.body["_id"].as_str().unwrap()
            );
            let secret_visible = role == "owner" || role == "group";

            // get
            let r = api.call("GET", &path, token, None).await;
            if p.r {
                assert_eq!(r.status, 200, "{ctx} get: {}", r.text);
                assert_eq!(r.body["note"], "n", "{ctx}");
                assert_eq!(
                    r.body.get("secret").is_some(),
                    secret_visible,
                    "{ctx} field read"
                );
            } else {
                assert_eq!((r.status, r.code()), (404, "NOT_FOUND"), "{ctx} get");
            }
            // query: the rule is a filter
            let r = api
                .call(
                    "POST",
                    &format!("/v1/tables/{t}/query"),
                    token,
                    Some(json!({"where": [["k", "eq", role]]})),
                )
                .await;
            assert_eq!(r.status, 200, "{ctx} query: {}", r.text);
            let items = r.body["items"].as_array().unwrap();
            assert_eq!(items.len(), usize::from(p.r), "{ctx} query");
            if p.r {
                assert_eq!(
                    items[0].get("secret").is_some(),
                    secret_visible,
                    "{ctx} query field"
                );
            }
            // A condition on a field the caller cannot read sees it as absent.
            let r = api
                .call(
                    "POST",
                    &format!("/v1/tables/{t}/query"),
                    token,
                    Some(json!({"where": [["k", "eq", role], ["secret", "eq", "s"]]})),
                )
                .await;
            assert_eq!(
                r.body["items"].as_array().unwrap().len(),
                usize::from(p.r && secret_visible),
                "{ctx} query on hidden field"
            );
            // expand
            let r = api.call("GET", &ref_path, token, None).await;
            assert_eq!(r.status, 200, "{ctx} ref: {}", r.text);
            if p.r {
                assert_eq!(r.body["target"]["_id"], json!(id), "{ctx} expand");
                assert_eq!(
                    r.body["target"].get("secret").is_some(),
                    secret_visible,
                    "{ctx} expand field"
                );
            } else {
                assert_eq!(r.body["target"], Value::Null, "{ctx} expand hides");
            }
            // update, record and field
            let denied = if p.r { 403 } else { 404 };
            let r = api
                .call("PATCH", &path, token, Some(json!({"note": "changed"})))
                .await;
            assert_eq!(
                r.status,
                if p.w { 200 } else { denied },
                "{ctx} update: {}",
                r.text
            );
            let r = api
                .call("PATCH", &path, token, Some(json!({"secret": "changed"})))
                .await;
            let want = match (p.w, role) {
                (true, "owner") => 200,
                (true, _) => 403,
                (false, _) => denied,
            };
            assert_eq!(r.status, want, "{ctx} field write: {}", r.text);
            if want == 403 && p.w {
                assert_eq!(r.body["error"]["details"]["field"], "secret", "{ctx}");
            }
            // delete
            let r = api.call("DELETE", &path, token, None).await;
            assert_eq!(
                r.status,
                if p.d { 204 } else { denied },
                "{ctx} delete: {}",
                r.text
            );
            let r = api.call("GET", &path, Some(ADMIN_KEY), None).await;
            assert_eq!(
                r.status,
                if p.d { 404 } else { 200 },
                "{ctx} delete took effect or not"
            );
            if !p.d {
                // Admins bypass record rules.
                let r = api
                    .call(
                        "PATCH",
                        &path,
                        Some(ADMIN_KEY),
                        Some(json!({"secret": "admin"})),
                    )
                    .await;
                assert_eq!(r.status, 200, "{ctx} admin: {}", r.text);
                let r = api.call("DELETE", &path, Some(ADMIN_KEY), None).await;
                assert_eq!(r.status, 204, "{ctx} admin delete");
            }
        }
        // A query never reaches another table: same key, other table, nothing.
        let r = api
            .call(
                "POST",
                &format!("/v1/tables/{refs}/query"),
                Some(ADMIN_KEY),
                Some(json!({"where": [["target", "exists", true]], "limit": 100})),
            )
            .await;
        for it in r.body["items"].as_array().unwrap() {
            assert!(it.get("k").is_none() && it.get("secret").is_none());
        }
    }
    // Anonymous callers cannot create in "users" tables; groups are checked on create.
    let r = api
        .call(
            "POST",
            "/v1/tables/m0/records",
            None,
            Some(json!({"k": "x"})),
        )
        .await;
    assert_eq!((r.status, r.code()), (401, "UNAUTHENTICATED"));
    let r = api
        .call(
            "POST",
            "/v1/tables/m0/records",
            Some(&carol),
            Some(json!({"k": "x", "_group": "team"})),
        )
        .await;
    assert_eq!(r.status, 403);
}
