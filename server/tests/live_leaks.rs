//! A table watcher's answers depend only on what it may read, on every face: the same
//! visible writes with and without hidden writes around them give the same transcript —
//! every frame and every field (acks, sequence numbers, change frames, resume answers),
//! with record ids and times replaced by their order of appearance.

mod common;

use std::collections::HashMap;

use common::ws::Client;
use common::{ADMIN_KEY, Api, Server};
use serde_json::{Value, json};

on_every_face!(hidden_writes_change_no_live_answer);

/// Ids and times in the order they first appear, so two runs compare equal.
#[derive(Default)]
struct Names(HashMap<String, String>);

impl Names {
    fn name(&mut self, v: &Value) -> Value {
        let Some(s) = v.as_str() else {
            return v.clone();
        };
        let n = self.0.len();
        json!(
            self.0
                .entry(s.to_string())
                .or_insert_with(|| format!("#{n}"))
                .clone()
        )
    }

    /// The frame as the transcript keeps it: the request id (numbered per connection,
    /// so not the same for two tables) and the topic name go; ids and times are named.
    fn frame(&mut self, f: &Value) -> Value {
        let mut f = f.clone();
        if let Some(m) = f.as_object_mut() {
            m.remove("id");
            m.remove("topic");
        }
        if let Some(r) = f.get_mut("record").and_then(Value::as_object_mut) {
            for k in ["_id", "_created", "_updated"] {
                if let Some(v) = r.get(k).cloned() {
                    r.insert(k.into(), self.name(&v));
                }
            }
        }
        f
    }
}

struct Writer<'a> {
    api: &'a Api,
    token: String,
    table: String,
}

impl Writer<'_> {
    async fn create(&self, data: Value) -> String {
        let path = format!("/v1/tables/{}/records", self.table);
        let r = self
            .api
            .call("POST", &path, Some(&self.token), Some(data))
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        r.body["_id"].as_str().unwrap().to_string()
    }

    async fn patch(&self, id: &str, data: Value) {
        let path = format!("/v1/tables/{}/records/{id}", self.table);
        let r = self
            .api
            .call("PATCH", &path, Some(&self.token), Some(data))
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
    }

    async fn delete(&self, id: &str) {
        let path = format!("/v1/tables/{}/records/{id}", self.table);
        let r = self
            .api
            .call("DELETE", &path, Some(&self.token), None)
            .await;
        assert_eq!(r.status, 204, "{}", r.text);
    }

    /// Writes the watcher may not see: records outside its group, changed and deleted,
    /// singly and in a batch.
    async fn hidden(&self) {
        let id = self.create(json!({"title": "private"})).await;
        self.patch(&id, json!({"title": "still private"})).await;
        let ops: Vec<Value> = (0..3)
            .map(|i| json!({"op": "create", "table": self.table, "data": {"title": format!("p{i}")}}))
            .collect();
        let r = self
            .api
            .call(
                "POST",
                "/v1/batch",
                Some(&self.token),
                Some(json!({"ops": ops})),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        self.delete(&id).await;
    }
}

/// The watcher's transcript of one table, with hidden writes around every visible one
/// when `noisy`.
async fn transcript(
    s: &Server,
    api: &Api,
    alice: &str,
    mallory: &str,
    table: &str,
    noisy: bool,
) -> Vec<Value> {
    let def = json!({
        "fields": [{"name": "title", "type": "string"}],
        "acl": {"record": "rwd:r:-", "create": "users"}
    });
    let path = format!("/v1/tables/{table}");
    let r = api.call("PUT", &path, Some(ADMIN_KEY), Some(def)).await;
    assert_eq!(r.status, 201, "{}", r.text);
    s.settle().await;
    let w = Writer {
        api,
        token: alice.to_string(),
        table: table.to_string(),
    };
    let topic = format!("table:{table}");
    let mut names = Names::default();
    let mut out = Vec::new();
    let mut m = Client::open(s, mallory).await;
    let got = |m: &mut Client, out: &mut Vec<Value>, names: &mut Names| {
        assert!(
            m.backlog.iter().all(|f| f["topic"] == json!(topic)),
            "{:?}",
            m.backlog
        );
        out.extend(m.backlog.drain(..).map(|f| names.frame(&f)));
    };
    if noisy {
        w.hidden().await;
    }
    let ack = m.req(json!({"type": "subscribe", "topic": topic})).await;
    out.push(names.frame(&ack));
    let shared = json!({"title": "shared", "_group": "team"});
    let a = w.create(shared.clone()).await;
    if noisy {
        w.hidden().await;
    }
    w.patch(&a, json!({"title": "shared, changed"})).await;
    if noisy {
        w.hidden().await;
    }
    let b = w.create(shared.clone()).await;
    w.delete(&a).await;
    // Frames pushed before a ping's pong came before it.
    m.req(json!({"type": "ping"})).await;
    got(&mut m, &mut out, &mut names);
    let last = out
        .last()
        .and_then(|f| f["seq"].as_u64())
        .expect("a numbered frame");
    // The same connection resumes from its last number; then a new one does.
    let ack = m
        .req(json!({"type": "subscribe", "topic": topic, "since": last}))
        .await;
    out.push(names.frame(&ack));
    m.close().await;
    if noisy {
        w.hidden().await;
    }
    w.patch(&b, json!({"title": "changed while away"})).await;
    // A new connection resumes: what changed while away comes first, then the ack.
    let mut m = Client::open(s, mallory).await;
    let ack = m
        .req(json!({"type": "subscribe", "topic": topic, "since": last}))
        .await;
    got(&mut m, &mut out, &mut names);
    out.push(names.frame(&ack));
    if noisy {
        w.hidden().await;
    }
    w.delete(&b).await;
    // Frames pushed before a ping's pong came before it.
    m.req(json!({"type": "ping"})).await;
    got(&mut m, &mut out, &mut names);
    m.close().await;
    out
}

async fn hidden_writes_change_no_live_answer(s: Server) {
    let api = Api::new(&s.base);
    let (alice, alice_user) = api.login("mock:alice").await;
    let (mallory, mallory_user) = api.login("mock:mallory").await;
    api.set_groups(&alice_user, &["team"]).await;
    api.set_groups(&mallory_user, &["team"]).await;
    let quiet = transcript(&s, &api, &alice, &mallory, "quiet", false).await;
    let noisy = transcript(&s, &api, &alice, &mallory, "noisy", true).await;
    // The run saw something: its acks and changes, numbered by the watch itself.
    let seen: Vec<(Option<&str>, Option<u64>)> = quiet
        .iter()
        .map(|f| (f["op"].as_str().or(f["type"].as_str()), f["seq"].as_u64()))
        .collect();
    assert_eq!(
        seen,
        [
            (Some("ack"), Some(0)),
            (Some("create"), Some(1)),
            (Some("update"), Some(2)),
            (Some("create"), Some(3)),
            (Some("delete"), Some(4)),
            (Some("ack"), Some(4)),
            (Some("update"), Some(5)),
            (Some("ack"), Some(5)),
            (Some("delete"), Some(6)),
        ],
        "{quiet:#?}"
    );
    assert_eq!(quiet, noisy, "hidden writes changed what the watcher got");
}
