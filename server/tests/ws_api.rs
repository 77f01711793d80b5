//! Live channels over real WebSockets, on every face: `yunqiao serve`'s `/v1/ws`, and the
//! WebSocket API (stand-in) calling the `ws-*` Lambda functions.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::ws::{Client, next_frame, open, refused, send};
use common::{ADMIN_KEY, Api, Server};
use serde_json::{Value, json};
use yunqiao_core::live::Delivery;
use yunqiao_core::store::{Item, ItemStore};

on_every_face!(
    live_channels_need_a_session_and_answer_frames,
    two_users_chat,
    presence_follows_connections_and_subscriptions,
    topics_fan_out_to_their_subscribers,
    table_events_follow_the_acl_and_the_filter,
    resume_after_a_dropped_connection_misses_nothing,
    forbidden_subscribe_and_publish_are_refused,
    limits_answer_with_clear_errors,
);

async fn two_users_chat(s: Server) {
    let api = Api::new(&s.base);
    let (alice_t, alice) = api.login("mock:alice").await;
    let (bob_t, bob) = api.login("mock:bob").await;
    let r = api
        .call(
            "PATCH",
            "/v1/auth/me",
            Some(&alice_t),
            Some(json!({"nickname": "Alice"})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let mut a = Client::open(&s, &alice_t).await;
    let mut b = Client::open(&s, &bob_t).await;

    let hello = a.ok(json!({"type": "hello"})).await;
    assert_eq!(hello["version"], 1);
    assert_eq!(hello["user"]["id"], alice["id"]);
    assert!(
        hello["user"].get("openid").is_none(),
        "profiles are public fields only"
    );
    let a_conn = hello["connection"].as_str().unwrap().to_string();

    // The sender is what the server says, whatever the frame claims.
    let ack = a
        .ok(
            json!({"type": "send", "to": {"user": bob["id"]}, "cmd": "chat",
                   "body": {"text": "hi bob"}, "from": {"user": {"id": "someone-else"}}}),
        )
        .await;
    assert_eq!(ack["delivered"], 1);
    let m = b.next().await;
    assert_eq!(m["type"], "message");
    assert_eq!(m["cmd"], "chat");
    assert_eq!(m["body"], json!({"text": "hi bob"}));
    assert_eq!(m["from"]["user"]["id"], alice["id"]);
    assert_eq!(m["from"]["user"]["nickname"], "Alice");
    assert_eq!(m["from"]["connection"], json!(a_conn));
    assert!(m["from"]["user"].get("openid").is_none());

    // A reply to the sender's connection.
    let ack = b
        .ok(json!({"type": "send", "to": {"connection": a_conn}, "cmd": "chat", "body": "hi alice"}))
        .await;
    assert_eq!(ack["delivered"], 1);
    let m = a.next().await;
    assert_eq!(
        (m["body"].as_str(), m["from"]["user"]["id"].as_str()),
        (Some("hi alice"), bob["id"].as_str())
    );

    // Every connection of a user hears a message to the user.
    let mut b2 = Client::open(&s, &bob_t).await;
    let ack = a
        .ok(json!({"type": "send", "to": {"user": bob["id"]}, "cmd": "ding"}))
        .await;
    assert_eq!(ack["delivered"], 2);
    assert_eq!(b.next().await["cmd"], "ding");
    assert_eq!(b2.next().await["cmd"], "ding");

    // Nobody there: nothing delivered, no error.
    let ack = a
        .ok(json!({"type": "send", "to": {"user": "nobody-here"}, "cmd": "x"}))
        .await;
    assert_eq!(ack["delivered"], 0);
    let ack = a
        .ok(json!({"type": "send", "to": {"connection": "Unkn0wn="}, "cmd": "x"}))
        .await;
    assert_eq!(ack["delivered"], 0);
    a.quiet().await;
    b.quiet().await;

    // Admins can turn direct messages off with the `direct` rule.
    let r = api
        .call(
            "PUT",
            "/v1/topics/rules/direct",
            Some(ADMIN_KEY),
            Some(json!({"subscribe": "users", "publish": "nobody"})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        a.refused(json!({"type": "send", "to": {"user": bob["id"]}, "cmd": "chat"}))
            .await,
        "FORBIDDEN"
    );
    b.quiet().await;
}

async fn presence_follows_connections_and_subscriptions(s: Server) {
    let api = Api::new(&s.base);
    let (alice_t, alice) = api.login("mock:alice").await;
    let (bob_t, bob) = api.login("mock:bob").await;
    let (carol_t, carol) = api.login("mock:carol").await;
    let mut b = Client::open(&s, &bob_t).await;
    b.ok(json!({"type": "subscribe", "topic": "presence"}))
        .await;

    let a = Client::open(&s, &alice_t).await;
    let p = b.next().await;
    assert_eq!(
        (p["type"].as_str(), p["state"].as_str(), &p["user"]["id"]),
        (Some("presence"), Some("online"), &alice["id"])
    );
    let online = b.ok(json!({"type": "online"})).await;
    let mut ids: Vec<&str> = online["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["id"].as_str().unwrap())
        .collect();
    ids.sort();
    let mut want = vec![alice["id"].as_str().unwrap(), bob["id"].as_str().unwrap()];
    want.sort();
    assert_eq!(ids, want);
    assert_eq!(online["more"], false);

    // A second connection of an online user is not news; closing the last one is.
    let a2 = Client::open(&s, &alice_t).await;
    b.quiet().await;
    a2.close().await;
    b.quiet().await;
    a.close().await;
    let p = b.next().await;
    assert_eq!(
        (p["state"].as_str(), &p["user"]["id"]),
        (Some("offline"), &alice["id"])
    );

    // Presence on a topic, for subscribers who ask for it.
    b.ok(json!({"type": "subscribe", "topic": "room.p", "presence": true}))
        .await;
    let mut c = Client::open(&s, &carol_t).await;
    let p = b.next().await;
    assert_eq!(
        (p["state"].as_str(), &p["user"]["id"]),
        (Some("online"), &carol["id"])
    );
    c.ok(json!({"type": "subscribe", "topic": "room.p"})).await;
    let p = b.next().await;
    assert_eq!(
        (p["topic"].as_str(), p["state"].as_str(), &p["user"]["id"]),
        (Some("room.p"), Some("join"), &carol["id"])
    );
    let here = b.ok(json!({"type": "online", "topic": "room.p"})).await;
    assert_eq!(here["users"].as_array().unwrap().len(), 2);
    c.ok(json!({"type": "unsubscribe", "topic": "room.p"}))
        .await;
    let p = b.next().await;
    assert_eq!(
        (p["state"].as_str(), &p["user"]["id"]),
        (Some("leave"), &carol["id"])
    );
    let here = b.ok(json!({"type": "online", "topic": "room.p"})).await;
    assert_eq!(
        here["users"],
        json!([{"id": bob["id"], "nickname": null, "avatar_url": null}])
    );

    // Dropping the connection leaves its topics too.
    c.ok(json!({"type": "subscribe", "topic": "room.p"})).await;
    assert_eq!(b.next().await["state"], "join");
    c.close().await;
    let mut states = [b.next().await, b.next().await];
    states.sort_by_key(|f| f["topic"].as_str().unwrap_or_default().to_string());
    assert_eq!(
        states
            .iter()
            .map(|f| (f["topic"].as_str().unwrap(), f["state"].as_str().unwrap()))
            .collect::<Vec<_>>(),
        vec![("presence", "offline"), ("room.p", "leave")]
    );
    b.quiet().await;
}

async fn topics_fan_out_to_their_subscribers(s: Server) {
    let api = Api::new(&s.base);
    let mut clients = Vec::new();
    for name in ["alice", "bob", "carol"] {
        let (t, _) = api.login(&format!("mock:{name}")).await;
        let mut c = Client::open(&s, &t).await;
        let ack = c.ok(json!({"type": "subscribe", "topic": "room.1"})).await;
        assert_eq!(ack["topic"], "room.1");
        clients.push((t, c));
    }
    let alice_t = clients[0].0.clone();
    let ack = clients[0]
        .1
        .ok(json!({"type": "publish", "topic": "room.1", "data": {"text": "hello room"}}))
        .await;
    assert_eq!(ack["delivered"], 3);
    let seq = ack["seq"].as_u64().expect("a sequence number");
    for (_, c) in clients.iter_mut() {
        let e = c.next().await;
        assert_eq!(e["type"], "event");
        assert_eq!(e["topic"], "room.1");
        assert_eq!(e["seq"], seq);
        assert_eq!(e["data"], json!({"text": "hello room"}));
        assert!(e["from"]["user"]["id"].is_string());
    }

    // The server publishes too (admins, cloud functions).
    let r = api
        .call(
            "POST",
            "/v1/events/room.1",
            Some(ADMIN_KEY),
            Some(json!({"data": {"n": 1}})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["delivered"], 3);
    assert_eq!(r.body["seq"], seq + 1);
    for (_, c) in clients.iter_mut() {
        let e = c.next().await;
        assert_eq!(
            (e["seq"].as_u64(), &e["data"], &e["from"]),
            (Some(seq + 1), &json!({"n": 1}), &Value::Null)
        );
    }
    let r = api
        .call(
            "POST",
            "/v1/events/room.1",
            Some(&alice_t),
            Some(json!({"data": 1})),
        )
        .await;
    assert_eq!((r.status, r.code()), (403, "FORBIDDEN"));
    let r = api
        .call("POST", "/v1/events/room.1", None, Some(json!({"data": 1})))
        .await;
    assert_eq!(r.status, 401);
    for (path, body) in [
        ("/v1/events/table:notes", json!({"data": 1})),
        ("/v1/events/bad%20name", json!({"data": 1})),
        ("/v1/events/room.1", json!({"data": 1, "extra": true})),
    ] {
        let r = api.call("POST", path, Some(ADMIN_KEY), Some(body)).await;
        assert_eq!(r.status, 400, "{path}: {}", r.text);
    }

    // Larger than a WebSocket frame may be on API Gateway.
    let big = json!({"data": "x".repeat(100 * 1024)});
    let r = api
        .call("POST", "/v1/events/room.1", Some(ADMIN_KEY), Some(big))
        .await;
    assert_eq!((r.status, r.code()), (413, "BODY_TOO_LARGE"), "{}", r.text);

    // Publishers racing for the topic's next number (one commit each when uncontended,
    // number then log when another took it): every publish gets its own number, and
    // every subscriber hears each once under it.
    let before = seq + 1;
    let racing = (0..12).map(|i| {
        let api = Api::new(&s.base);
        async move {
            api.call(
                "POST",
                "/v1/events/room.1",
                Some(ADMIN_KEY),
                Some(json!({"data": {"race": i}})),
            )
            .await
        }
    });
    let mut numbers: Vec<u64> = futures_util::future::join_all(racing)
        .await
        .into_iter()
        .map(|r| {
            assert_eq!(r.status, 200, "{}", r.text);
            r.body["seq"].as_u64().expect("a number")
        })
        .collect();
    numbers.sort_unstable();
    assert_eq!(numbers, (before + 1..=before + 12).collect::<Vec<_>>());
    for (_, c) in clients.iter_mut() {
        let mut heard = Vec::new();
        for _ in 0..12 {
            let e = c.next().await;
            heard.push((e["seq"].as_u64().expect("seq"), e["data"]["race"].as_u64()));
        }
        heard.sort_unstable();
        assert_eq!(
            heard.iter().map(|h| h.0).collect::<Vec<_>>(),
            numbers,
            "each number heard once"
        );
        c.quiet().await;
    }

    // Unsubscribed connections hear nothing more.
    let (_, mut carol) = clients.pop().unwrap();
    carol
        .ok(json!({"type": "unsubscribe", "topic": "room.1"}))
        .await;
    let ack = clients[1]
        .1
        .ok(json!({"type": "publish", "topic": "room.1", "data": 2}))
        .await;
    assert_eq!(ack["delivered"], 2);
    carol.quiet().await;
    for (_, c) in clients.iter_mut() {
        assert_eq!(c.next().await["data"], 2);
        c.quiet().await;
    }
}

async fn table_events_follow_the_acl_and_the_filter(s: Server) {
    let api = Api::new(&s.base);
    let (alice_t, alice) = api.login("mock:alice").await;
    let (bob_t, bob) = api.login("mock:bob").await;
    let (carol_t, _) = api.login("mock:carol").await;
    api.set_groups(&alice, &["team"]).await;
    api.set_groups(&bob, &["team"]).await;
    let r = api
        .call(
            "PUT",
            "/v1/tables/notes",
            Some(ADMIN_KEY),
            Some(json!({
                "fields": [
                    {"name": "status", "type": "string"},
                    {"name": "secret", "type": "string", "acl": "rw:-:-"}
                ],
                "acl": {"record": "rwd:r:-", "create": "users"}
            })),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);

    let mut b = Client::open(&s, &bob_t).await;
    let mut c = Client::open(&s, &carol_t).await;
    let ack = b
        .ok(json!({"type": "subscribe", "topic": "table:notes", "where": {"status": "open"}}))
        .await;
    assert_eq!(ack["seq"], 0);
    c.ok(json!({"type": "subscribe", "topic": "table:notes"}))
        .await;
    assert_eq!(
        b.refused(json!({"type": "subscribe", "topic": "table:nope"}))
            .await,
        "NOT_FOUND"
    );
    assert_eq!(
        b.refused(json!({"type": "subscribe", "topic": "table:notes", "where": {"nope": 1}}))
            .await,
        "INVALID_ARGUMENT"
    );

    let create = |body: Value| {
        let api = &api;
        let t = alice_t.clone();
        async move {
            let r = api
                .call("POST", "/v1/tables/notes/records", Some(&t), Some(body))
                .await;
            assert_eq!(r.status, 201, "{}", r.text);
            r.body["_id"].as_str().unwrap().to_string()
        }
    };
    let patch = |id: String, body: Value| {
        let api = &api;
        let t = alice_t.clone();
        async move {
            let r = api
                .call(
                    "PATCH",
                    &format!("/v1/tables/notes/records/{id}"),
                    Some(&t),
                    Some(body),
                )
                .await;
            assert_eq!(r.status, 200, "{}", r.text);
        }
    };

    let id = create(json!({"status": "open", "secret": "s3", "_group": "team"})).await;
    let e = b.next().await;
    assert_eq!(
        (e["type"].as_str(), e["op"].as_str(), e["topic"].as_str()),
        (Some("change"), Some("create"), Some("table:notes"))
    );
    assert_eq!(e["record"]["_id"], json!(id));
    assert_eq!(e["record"]["status"], "open");
    assert!(
        e["record"].get("secret").is_none(),
        "a field bob may not read: {e}"
    );
    assert!(e["seq"].as_u64().is_some());

    patch(id.clone(), json!({"status": "closed"})).await;
    let e = b.next().await;
    assert_eq!(
        (e["op"].as_str(), &e["record"]),
        (Some("leave"), &json!({"_id": id}))
    );
    patch(id.clone(), json!({"status": "closed", "secret": "x"})).await;
    patch(id.clone(), json!({"status": "open"})).await;
    let e = b.next().await;
    assert_eq!(
        (e["op"].as_str(), e["record"]["status"].as_str()),
        (Some("enter"), Some("open"))
    );
    patch(id.clone(), json!({"secret": "y"})).await;
    assert_eq!(b.next().await["op"], "update");

    // A record bob may not read never reaches him.
    let private = create(json!({"status": "open"})).await;
    b.quiet().await;
    let r = api
        .call(
            "DELETE",
            &format!("/v1/tables/notes/records/{private}"),
            Some(&alice_t),
            None,
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    b.quiet().await;

    // Rules are checked when the event is delivered: out of the group, out of the news.
    api.set_groups(&bob, &[]).await;
    patch(id.clone(), json!({"status": "open", "secret": "z"})).await;
    b.quiet().await;
    api.set_groups(&bob, &["team"]).await;
    let r = api
        .call(
            "DELETE",
            &format!("/v1/tables/notes/records/{id}"),
            Some(&alice_t),
            None,
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    let e = b.next().await;
    assert_eq!(
        (e["op"].as_str(), &e["record"]),
        (Some("delete"), &json!({"_id": id}))
    );
    b.quiet().await;

    // Carol is in no group: she subscribed, and heard nothing.
    c.quiet().await;

    // Batches announce each record they change.
    let r = api
        .call(
            "POST",
            "/v1/batch",
            Some(&alice_t),
            Some(json!({"ops": [
                {"op": "create", "table": "notes", "data": {"status": "open", "_group": "team"}},
                {"op": "create", "table": "notes", "data": {"status": "closed", "_group": "team"}}
            ]})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let e = b.next().await;
    assert_eq!(
        (e["op"].as_str(), e["record"]["status"].as_str()),
        (Some("create"), Some("open"))
    );
    b.quiet().await;
}

async fn resume_after_a_dropped_connection_misses_nothing(s: Server) {
    let api = Api::new(&s.base);
    let (alice_t, _) = api.login("mock:alice").await;
    let (bob_t, _) = api.login("mock:bob").await;
    let mut a = Client::open(&s, &alice_t).await;
    let mut b = Client::open(&s, &bob_t).await;
    let ack = b.ok(json!({"type": "subscribe", "topic": "room.r"})).await;
    assert_eq!(ack["seq"], 0);
    a.ok(json!({"type": "publish", "topic": "room.r", "data": "e1"}))
        .await;
    let e = b.next().await;
    assert_eq!(
        (e["seq"].as_u64(), e["data"].as_str()),
        (Some(1), Some("e1"))
    );
    let last_seen = 1;

    // Bob's connection drops; the room goes on.
    b.close().await;
    for n in 2..=4 {
        let ack = a
            .ok(json!({"type": "publish", "topic": "room.r", "data": format!("e{n}")}))
            .await;
        assert_eq!(
            (ack["seq"].as_u64(), ack["delivered"].as_u64()),
            (Some(n), Some(0))
        );
    }
    let r = api
        .call(
            "POST",
            "/v1/events/room.r",
            Some(ADMIN_KEY),
            Some(json!({"data": "e5"})),
        )
        .await;
    assert_eq!(r.body["seq"], 5, "{}", r.text);

    // Back, with the last number seen: the missed frames, in order, then the ack.
    let mut b = Client::open(&s, &bob_t).await;
    let ack = b
        .ok(json!({"type": "subscribe", "topic": "room.r", "since": last_seen}))
        .await;
    assert_eq!(
        (ack["replayed"].as_u64(), ack["seq"].as_u64()),
        (Some(4), Some(5))
    );
    assert!(ack.get("resync").is_none());
    for n in 2..=5u64 {
        let e = b.next().await;
        assert_eq!(
            (e["type"].as_str(), e["seq"].as_u64(), e["data"].as_str()),
            (Some("event"), Some(n), Some(format!("e{n}").as_str()))
        );
    }
    a.ok(json!({"type": "publish", "topic": "room.r", "data": "e6"}))
        .await;
    assert_eq!(b.next().await["seq"], 6);
    let ack = b
        .ok(json!({"type": "subscribe", "topic": "room.r", "since": 6}))
        .await;
    assert_eq!(ack["replayed"], 0);
    b.quiet().await;

    // Frames nobody was there to keep, and numbers from the future: re-fetch.
    let ack = a
        .ok(json!({"type": "publish", "topic": "room.cold", "data": "lost"}))
        .await;
    assert_eq!(
        (ack["seq"].clone(), ack["delivered"].as_u64()),
        (Value::Null, Some(0))
    );
    let ack = b
        .ok(json!({"type": "subscribe", "topic": "room.cold", "since": 0}))
        .await;
    assert_eq!(ack["resync"], true);
    let ack = b
        .ok(json!({"type": "subscribe", "topic": "room.r", "since": 99}))
        .await;
    assert_eq!(ack["resync"], true);
    b.quiet().await;

    // Table events resume too, judged by the rules at replay, numbered by the watch
    // itself (a topic-wide number would count the writes it may not see).
    let r = api
        .call(
            "PUT",
            "/v1/tables/log",
            Some(ADMIN_KEY),
            Some(json!({
                "fields": [{"name": "n", "type": "integer"}],
                "acl": {"record": "rwd:r:r", "create": "users"}
            })),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let log = |n: i64| {
        let api = &api;
        let t = alice_t.clone();
        async move {
            let r = api
                .call(
                    "POST",
                    "/v1/tables/log/records",
                    Some(&t),
                    Some(json!({"n": n})),
                )
                .await;
            assert_eq!(r.status, 201, "{}", r.text);
        }
    };
    let ack = b
        .ok(json!({"type": "subscribe", "topic": "table:log", "where": {"n": 2}}))
        .await;
    assert_eq!(ack["seq"], 0);
    log(2).await;
    assert_eq!(b.next().await["seq"], 1);
    // On the same connection, a resume from the watch's own number misses nothing.
    let ack = b
        .ok(json!({"type": "subscribe", "topic": "table:log", "where": {"n": 2}, "since": 1}))
        .await;
    assert_eq!(
        (ack["replayed"].as_u64(), ack["seq"].as_u64()),
        (Some(0), Some(1))
    );
    b.close().await;
    for n in 1..=3 {
        log(n).await;
    }
    let mut b = Client::open(&s, &bob_t).await;
    let ack = b
        .ok(json!({"type": "subscribe", "topic": "table:log", "where": {"n": 2}, "since": 1}))
        .await;
    assert_eq!(
        (ack["replayed"].as_u64(), ack["seq"].as_u64()),
        (Some(1), Some(2))
    );
    let e = b.next().await;
    assert_eq!(
        (
            e["op"].as_str(),
            e["record"]["n"].as_i64(),
            e["seq"].as_u64()
        ),
        (Some("create"), Some(2), Some(2))
    );
    log(2).await;
    assert_eq!(b.next().await["seq"], 3);
    b.quiet().await;
    // A number no watch of this user stopped at (or another filter) cannot be placed:
    // resync, and numbering goes on from there; asked again, still resync.
    let mut c = Client::open(&s, &bob_t).await;
    for _ in 0..2 {
        let ack = c
            .ok(json!({"type": "subscribe", "topic": "table:log", "where": {"n": 3}, "since": 2}))
            .await;
        assert_eq!(
            (ack["resync"].as_bool(), ack["seq"].as_u64()),
            (Some(true), Some(2))
        );
    }
    log(3).await;
    assert_eq!(c.next().await["seq"], 3);
}

async fn forbidden_subscribe_and_publish_are_refused(s: Server) {
    let api = Api::new(&s.base);
    let (alice_t, alice) = api.login("mock:alice").await;
    let (bob_t, bob) = api.login("mock:bob").await;
    api.set_groups(&alice, &["staff"]).await;
    let users = json!({"subscribe": "users", "publish": "users"});
    for (pattern, key, rule, status) in [
        (
            "staff.*",
            ADMIN_KEY,
            json!({"subscribe": "group:staff", "publish": "nobody"}),
            200,
        ),
        (
            "inbox.*",
            ADMIN_KEY,
            json!({"subscribe": "owner", "publish": "users"}),
            200,
        ),
        ("x.*", bob_t.as_str(), users.clone(), 403),
        ("a%20b", ADMIN_KEY, users.clone(), 400),
        (
            "ok",
            ADMIN_KEY,
            json!({"subscribe": "everyone", "publish": "users"}),
            400,
        ),
        ("ok", ADMIN_KEY, json!({"subscribe": "users"}), 400),
    ] {
        let path = format!("/v1/topics/rules/{pattern}");
        let r = api.call("PUT", &path, Some(key), Some(rule)).await;
        assert_eq!(r.status, status, "{pattern}: {}", r.text);
    }
    let r = api
        .call("GET", "/v1/topics/rules", Some(ADMIN_KEY), None)
        .await;
    assert_eq!(
        r.body["items"].as_array().map(Vec::len),
        Some(2),
        "{}",
        r.text
    );

    let mut a = Client::open(&s, &alice_t).await;
    let mut b = Client::open(&s, &bob_t).await;
    assert_eq!(
        b.refused(json!({"type": "subscribe", "topic": "staff.news"}))
            .await,
        "FORBIDDEN"
    );
    a.ok(json!({"type": "subscribe", "topic": "staff.news"}))
        .await;
    assert_eq!(
        a.refused(json!({"type": "publish", "topic": "staff.news", "data": 1}))
            .await,
        "FORBIDDEN"
    );
    let r = api
        .call(
            "POST",
            "/v1/events/staff.news",
            Some(ADMIN_KEY),
            Some(json!({"data": "memo"})),
        )
        .await;
    assert_eq!(r.body["delivered"], 1, "{}", r.text);
    assert_eq!(a.next().await["data"], "memo");

    let alice_inbox = format!("inbox.{}", alice["id"].as_str().unwrap());
    let bob_inbox = format!("inbox.{}", bob["id"].as_str().unwrap());
    assert_eq!(
        b.refused(json!({"type": "subscribe", "topic": alice_inbox}))
            .await,
        "FORBIDDEN"
    );
    b.ok(json!({"type": "subscribe", "topic": bob_inbox})).await;
    a.ok(json!({"type": "publish", "topic": bob_inbox, "data": "for bob"}))
        .await;
    assert_eq!(b.next().await["data"], "for bob");

    assert_eq!(
        b.refused(json!({"type": "publish", "topic": "presence", "data": 1}))
            .await,
        "FORBIDDEN"
    );
    assert_eq!(
        b.refused(json!({"type": "publish", "topic": "table:notes", "data": 1}))
            .await,
        "FORBIDDEN"
    );
    for bad in ["a b", "direct", "", "table:Nope", ".x"] {
        assert_eq!(
            b.refused(json!({"type": "subscribe", "topic": bad})).await,
            "INVALID_ARGUMENT",
            "{bad:?}"
        );
    }

    let r = api
        .call("DELETE", "/v1/topics/rules/staff.*", Some(ADMIN_KEY), None)
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    let r = api
        .call("DELETE", "/v1/topics/rules/staff.*", Some(ADMIN_KEY), None)
        .await;
    assert_eq!(r.status, 404);
    b.ok(json!({"type": "subscribe", "topic": "staff.news"}))
        .await;
    a.quiet().await;
    b.quiet().await;
}

async fn limits_answer_with_clear_errors(s: Server) {
    let api = Api::new(&s.base);
    let (t, _) = api.login("mock:busy").await;
    let mut c = Client::open(&s, &t).await;
    // Over 32 KiB: in several frames, as API Gateway wants (one larger frame closes the
    // socket with 1009; see ws_rights.rs).
    let big = json!({"type": "publish", "topic": "room.big", "data": "x".repeat(40 * 1024)});
    let big = big.to_string();
    for (i, chunk) in big.as_bytes().chunks(16 * 1024).enumerate() {
        use futures_util::SinkExt;
        use tokio_tungstenite::tungstenite::protocol::frame::Frame;
        use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
        let op = if i == 0 { Data::Text } else { Data::Continue };
        let last = (i + 1) * 16 * 1024 >= big.len();
        c.ws.send(tokio_tungstenite::tungstenite::Message::Frame(
            Frame::message(chunk.to_vec(), OpCode::Data(op), last),
        ))
        .await
        .unwrap();
    }
    assert_eq!(c.next().await["code"], "FRAME_TOO_LARGE");

    for n in 0..50 {
        c.ok(json!({"type": "subscribe", "topic": format!("room.{n}")}))
            .await;
    }
    assert_eq!(
        c.refused(json!({"type": "subscribe", "topic": "room.50"}))
            .await,
        "TOO_MANY_TOPICS"
    );
    // Subscribing again to a topic is not another topic; leaving one makes room.
    c.ok(json!({"type": "subscribe", "topic": "room.7"})).await;
    c.ok(json!({"type": "unsubscribe", "topic": "room.7"}))
        .await;
    c.ok(json!({"type": "subscribe", "topic": "room.50"})).await;

    // A burst past the frame rate: some frames are refused, the connection stays.
    let mut r = Client::open(&s, &t).await;
    let n = 300;
    for i in 0..n {
        send(&mut r.ws, &json!({"type": "ping", "id": i}).to_string()).await;
    }
    let (mut pongs, mut limited) = (0, 0);
    while pongs + limited < n {
        let f = r.next().await;
        match (f["type"].as_str(), f["code"].as_str()) {
            (Some("pong"), _) => pongs += 1,
            (Some("error"), Some("RATE_LIMITED")) => limited += 1,
            _ => panic!("unexpected {f}"),
        }
    }
    assert!(
        limited > 0 && pongs >= 100,
        "{pongs} pongs, {limited} refused"
    );
}

async fn live_channels_need_a_session_and_answer_frames(s: Server) {
    let api = Api::new(&s.base);
    assert_eq!(refused(&s.ws_url).await, 401, "no token");
    assert_eq!(
        refused(&format!("{}?token=yq_forged", s.ws_url)).await,
        401,
        "bad token"
    );
    let (token, _) = api.login("mock:wsuser").await;
    let mut ws = open(&s, &token).await;
    send(&mut ws, r#"{"type":"ping","id":"p1"}"#).await;
    assert_eq!(
        next_frame(&mut ws).await,
        json!({"type": "pong", "id": "p1"})
    );
    send(&mut ws, "not json").await;
    let e = next_frame(&mut ws).await;
    assert_eq!(
        (e["type"].as_str(), e["code"].as_str()),
        (Some("error"), Some("INVALID_FRAME"))
    );
    send(&mut ws, r#"{"type":"shout","id":9}"#).await;
    let e = next_frame(&mut ws).await;
    assert_eq!(e["code"], "UNKNOWN_FRAME");
    assert_eq!(e["id"], 9, "errors carry the request's id");
    // The connection survives errors.
    send(&mut ws, r#"{"type":"ping","id":2}"#).await;
    assert_eq!(next_frame(&mut ws).await["id"], 2);

    // The admin key may open a channel too; an ended session may not.
    let mut admin = open(&s, ADMIN_KEY).await;
    send(&mut admin, r#"{"type":"ping"}"#).await;
    assert_eq!(next_frame(&mut admin).await, json!({"type": "pong"}));
    let out = api
        .call("POST", "/v1/auth/logout", Some(&token), None)
        .await;
    assert_eq!(out.status, 204, "{}", out.text);
    assert_eq!(refused(&format!("{}?token={token}", s.ws_url)).await, 401);
}

/// A connection whose `$disconnect` never arrived: the first push to it meets API
/// Gateway's 410, and its records are deleted; closing a socket deletes its records
/// through `$disconnect`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gone_connections_are_forgotten() {
    if !common::emulators_for("Lambda") {
        return;
    }
    let s = Server::start_lambda().await;
    let face = s.lambda.as_ref().unwrap();
    let api = Api::new(&s.base);
    let (token, user) = api.login("mock:stale").await;
    let uid = user["id"].as_str().unwrap().to_string();
    let mut ws = open(&s, &token).await;

    // The domain, as a function in the same deployment would build it.
    let clock: yunqiao_core::clock::SharedClock = Arc::new(yunqiao_core::clock::SystemClock);
    let store: Arc<dyn ItemStore> = Arc::new(
        yunqiao_aws::DynamoStore::connect(
            &yunqiao_aws::DynamoConfig {
                table: face.table.clone(),
                region: "us-east-1".into(),
                endpoint: Some(face.dynamodb_endpoint.clone()),
            },
            clock.clone(),
        )
        .await,
    );
    let sdk = yunqiao_aws::sdk_config("us-east-1", None).await;
    let push = yunqiao_aws::ApiGatewayPush::new(&sdk, &face.standin.management_url);
    let wechat = yunqiao_wechat::WeChatClient::new(
        yunqiao_wechat::WeChatConfig {
            api_base: "http://127.0.0.1:9".into(),
            appid: "wx-test".into(),
            secret: "unused".into(),
        },
        clock.clone(),
    )
    .unwrap();
    let state = yunqiao_api::AppState::builder()
        .store(store.clone(), yunqiao_api::StoreWriters::Several)
        .wechat(Arc::new(wechat))
        .clock(clock)
        .sockets(yunqiao_api::Sockets::Remote(Arc::new(push)))
        .build(&yunqiao_config::Config::default())
        .unwrap();
    let live = state.live.clone();

    let conns = live.user_connections(&uid).await.unwrap();
    assert_eq!(conns.len(), 1, "$connect recorded the connection");
    let stale = "St4leConnecti0n=";
    let mut attrs = serde_json::Map::new();
    attrs.insert("user_id".into(), json!(uid));
    attrs.insert("connected_at".into(), json!(0));
    store
        .put(Item::new(format!("conn#{stale}"), "_", attrs.clone()), None)
        .await
        .unwrap();
    store
        .put(Item::new(format!("connu#{uid}"), stale, attrs), None)
        .await
        .unwrap();
    assert_eq!(live.user_connections(&uid).await.unwrap().len(), 2);

    let d = live
        .send_to_user(&uid, &json!({"type": "note", "text": "hi"}))
        .await
        .unwrap();
    assert_eq!(
        d,
        Delivery {
            sent: 1,
            gone: 1,
            failed: 0
        }
    );
    assert_eq!(next_frame(&mut ws).await["text"], "hi");
    assert!(
        store
            .get(&format!("conn#{stale}"), "_")
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(live.user_connections(&uid).await.unwrap(), conns);

    ws.close(None).await.unwrap();
    let mut left = conns.len();
    for _ in 0..100 {
        left = live.user_connections(&uid).await.unwrap().len();
        if left == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(left, 0, "$disconnect deleted the connection's records");
    assert!(
        store
            .get(&format!("conn#{}", conns[0]), "_")
            .await
            .unwrap()
            .is_none()
    );
}
