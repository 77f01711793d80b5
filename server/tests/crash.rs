//! Kill -9 the server during a write load; every acknowledged write must be there after
//! a restart, and no transaction may be half applied.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{ADMIN_KEY, Api, Server};
use serde_json::json;

#[derive(Default)]
struct Acked {
    /// name → (token, user id, highest acknowledged counter, highest attempted)
    users: HashMap<String, (String, String, i64, i64)>,
    /// logins sent whose answer never came
    unacked_logins: Vec<String>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_kill_9() {
    let tmp = tempfile::tempdir().unwrap();
    let mut server = Server::start_in(tmp.path(), &[]).await;
    let api = Api::new(&server.base);
    let acked = Arc::new(Mutex::new(Acked::default()));
    let mut workers = Vec::new();
    for w in 0..8 {
        let api = api.clone();
        let acked = acked.clone();
        workers.push(tokio::spawn(async move {
            for round in 0.. {
                let name = format!("w{w}r{round}");
                let login = api
                    .http
                    .post(format!("{}/v1/auth/login", api.base))
                    .json(&json!({"code": format!("mock:{name}")}))
                    .send()
                    .await;
                let Ok(resp) = login else {
                    acked.lock().unwrap().unacked_logins.push(name);
                    return;
                };
                let Ok(body) = resp.json::<serde_json::Value>().await else {
                    acked.lock().unwrap().unacked_logins.push(name);
                    return;
                };
                let token = body["token"].as_str().unwrap().to_string();
                let id = body["user"]["id"].as_str().unwrap().to_string();
                acked
                    .lock()
                    .unwrap()
                    .users
                    .insert(name.clone(), (token.clone(), id, 0, 0));
                for n in 1..=5i64 {
                    acked.lock().unwrap().users.get_mut(&name).unwrap().3 = n;
                    let r = api
                        .http
                        .patch(format!("{}/v1/auth/me", api.base))
                        .bearer_auth(&token)
                        .json(&json!({"profile": {"n": n}}))
                        .send()
                        .await;
                    match r {
                        Ok(r) if r.status() == 200 => {
                            acked.lock().unwrap().users.get_mut(&name).unwrap().2 = n
                        }
                        _ => return,
                    }
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    server.kill9().await;
    for w in workers {
        w.await.unwrap();
    }
    let acked = Arc::try_unwrap(acked).ok().unwrap().into_inner().unwrap();
    assert!(
        acked.users.len() >= 10,
        "the load produced too few writes to mean anything: {}",
        acked.users.len()
    );

    let server = Server::start_in(tmp.path(), &[]).await;
    let api = Api::new(&server.base);
    let mut checked_writes = 0;
    for (name, (token, id, n_acked, n_tried)) in &acked.users {
        let me = api.call("GET", "/v1/auth/me", Some(token), None).await;
        assert_eq!(me.status, 200, "session of {name} lost: {}", me.text);
        assert_eq!(&me.body["id"], id);
        let n = me.body["profile"]["n"].as_i64().unwrap_or(0);
        assert!(
            n >= *n_acked && n <= *n_tried,
            "{name}: acknowledged {n_acked}, tried {n_tried}, found {n}"
        );
        checked_writes += 1 + n_acked;
        // The openid index written in the same transaction as the user still finds it.
        let (_, again) = api.login(&format!("mock:{name}:after")).await;
        assert_eq!(
            &again["id"], id,
            "{name}: login after the crash found another user"
        );
    }
    // Every listed user is whole (user item, openid index and listing went in together).
    let mut cursor: Option<String> = None;
    let mut listed = 0;
    loop {
        let q = cursor
            .as_ref()
            .map(|c| format!("&cursor={c}"))
            .unwrap_or_default();
        let r = api
            .call(
                "GET",
                &format!("/v1/admin/users?limit=100{q}"),
                Some(ADMIN_KEY),
                None,
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        listed += r.body["items"].as_array().unwrap().len();
        match r.body["cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    assert!(
        listed >= acked.users.len() && listed <= acked.users.len() + acked.unacked_logins.len()
    );
    println!(
        "crash test: {} users and {checked_writes} acknowledged writes checked after kill -9",
        acked.users.len()
    );
}
