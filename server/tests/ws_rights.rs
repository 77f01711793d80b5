//! Live sessions never outlive their rights, on every face: a group removal stops a
//! group topic at the next frame, a logout closes the session's sockets (and those of
//! the tokens it refreshed away), one user's sockets are limited, and the protocol's
//! size limit and close handshake behave as `docs/live-protocol.md` says.

mod common;

use std::time::Duration;

use common::ws::{Client, open, refused, send};
use common::{ADMIN_KEY, Api, Server};
use futures_util::StreamExt;
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

on_every_face!(
    a_group_removal_stops_group_topics_at_once,
    logout_closes_the_sessions_sockets,
    one_user_has_a_bounded_number_of_sockets,
    oversized_frames_are_answered_and_the_socket_stays,
    a_clients_close_is_answered_with_a_close,
);

/// Waits for the server to close the socket: a close frame or the end of the stream,
/// never a data frame.
async fn closed_by_server(c: &mut Client) {
    loop {
        match tokio::time::timeout(Duration::from_secs(15), c.ws.next()).await {
            Err(_) => panic!("the socket is still open after 15 s"),
            Ok(None) | Ok(Some(Err(_))) | Ok(Some(Ok(Message::Close(_)))) => return,
            Ok(Some(Ok(Message::Text(t)))) => {
                // The one frame a closing session may get first.
                let f: serde_json::Value = serde_json::from_str(&t).unwrap_or_default();
                assert_eq!(f["code"], "UNAUTHENTICATED", "unexpected frame {t}");
            }
            Ok(Some(Ok(_))) => {}
        }
    }
}

async fn a_group_removal_stops_group_topics_at_once(s: Server) {
    let api = Api::new(&s.base);
    let (alice_t, alice) = api.login("mock:alice").await;
    let (bob_t, bob) = api.login("mock:bob").await;
    api.set_groups(&alice, &["staff"]).await;
    api.set_groups(&bob, &["staff"]).await;
    let r = api
        .call(
            "PUT",
            "/v1/topics/rules/staff.*",
            Some(ADMIN_KEY),
            Some(json!({"subscribe": "group:staff", "publish": "group:staff"})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let mut a = Client::open(&s, &alice_t).await;
    let mut b = Client::open(&s, &bob_t).await;
    a.ok(json!({"type": "subscribe", "topic": "staff.news"}))
        .await;
    b.ok(json!({"type": "subscribe", "topic": "staff.news"}))
        .await;
    b.ok(json!({"type": "publish", "topic": "staff.news", "data": "one"}))
        .await;
    let e = a.next().await;
    assert_eq!(
        (e["type"].as_str(), &e["data"]),
        (Some("event"), &json!("one"))
    );
    assert_eq!(b.next().await["data"], "one");

    // Out of the group: the next publish reaches bob only, from users and the server.
    api.set_groups(&alice, &[]).await;
    b.ok(json!({"type": "publish", "topic": "staff.news", "data": "two"}))
        .await;
    assert_eq!(b.next().await["data"], "two");
    let r = api
        .call(
            "POST",
            "/v1/events/staff.news",
            Some(ADMIN_KEY),
            Some(json!({"data": "three"})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(b.next().await["data"], "three");
    a.quiet().await;
    // Nor can she come back, or resume what she missed.
    assert_eq!(
        a.refused(json!({"type": "subscribe", "topic": "staff.news", "since": 0}))
            .await,
        "FORBIDDEN"
    );
    a.quiet().await;
}

async fn logout_closes_the_sessions_sockets(s: Server) {
    let api = Api::new(&s.base);
    let (first, _) = api.login("mock:alice:1").await;
    let (second, _) = api.login("mock:alice:2").await;
    let mut a1 = Client::open(&s, &first).await;
    let mut a2 = Client::open(&s, &first).await;
    let mut other = Client::open(&s, &second).await;
    a1.ok(json!({"type": "subscribe", "topic": "room.1"})).await;

    let r = api
        .call("POST", "/v1/auth/logout", Some(&first), None)
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    closed_by_server(&mut a1).await;
    closed_by_server(&mut a2).await;
    // The other session's socket is untouched and hears the room no more from a1.
    other.quiet().await;
    assert_eq!(
        refused(&format!("{}?token={first}", s.ws_url)).await,
        401,
        "a logged-out token opens nothing"
    );

    // A token refreshed away (still in its grace period) ends with the new one's logout,
    // and so do its sockets.
    let r = api
        .call("POST", "/v1/auth/refresh", Some(&second), None)
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let third = r.body["token"].as_str().unwrap().to_string();
    let r = api.call("GET", "/v1/auth/me", Some(&second), None).await;
    assert_eq!(r.status, 200, "in its grace period: {}", r.text);
    let mut on_third = Client::open(&s, &third).await;
    on_third.quiet().await;
    let r = api
        .call("POST", "/v1/auth/logout", Some(&third), None)
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    for t in [&second, &third] {
        let r = api.call("GET", "/v1/auth/me", Some(t), None).await;
        assert_eq!(r.status, 401, "{}", r.text);
    }
    closed_by_server(&mut other).await;
    closed_by_server(&mut on_third).await;
}

async fn one_user_has_a_bounded_number_of_sockets(s: Server) {
    let api = Api::new(&s.base);
    let (alice, _) = api.login("mock:alice").await;
    let (bob, _) = api.login("mock:bob").await;
    let max = yunqiao_core::live::MAX_CONNECTIONS_PER_USER;
    let mut open_ones = Vec::new();
    for _ in 0..max {
        open_ones.push(Client::open(&s, &alice).await);
    }
    let url = format!("{}?token={alice}", s.ws_url);
    assert_eq!(refused(&url).await, 429);
    // Others are not affected; closing one makes room.
    let mut b = Client::open(&s, &bob).await;
    b.quiet().await;
    open_ones.pop().unwrap().close().await;
    let mut again = Client::open(&s, &alice).await;
    again.quiet().await;
    assert_eq!(refused(&url).await, 429);
}

async fn oversized_frames_are_answered_and_the_socket_stays(s: Server) {
    let api = Api::new(&s.base);
    let (t, _) = api.login("mock:big").await;
    let mut c = Client::open(&s, &t).await;
    for size in [33 * 1024, 70 * 1024, 120 * 1024] {
        let big =
            json!({"type": "publish", "topic": "room.big", "id": "b", "data": "x".repeat(size)});
        send(&mut c.ws, &big.to_string()).await;
        let e = c.next().await;
        assert_eq!(
            (e["type"].as_str(), e["code"].as_str()),
            (Some("error"), Some("FRAME_TOO_LARGE")),
            "{size} bytes"
        );
        c.quiet().await;
    }
}

async fn a_clients_close_is_answered_with_a_close(s: Server) {
    let api = Api::new(&s.base);
    let (t, _) = api.login("mock:closer").await;
    let mut ws = open(&s, &t).await;
    ws.close(Some(CloseFrame {
        code: CloseCode::Normal,
        reason: "bye".into(),
    }))
    .await
    .expect("close");
    let mut answered = None;
    while let Ok(Some(m)) = tokio::time::timeout(Duration::from_secs(10), ws.next()).await {
        match m {
            Ok(Message::Close(f)) => {
                answered = Some(f.map(|f| f.code));
                break;
            }
            Ok(_) => continue,
            Err(e) => panic!("the close was not answered: {e}"),
        }
    }
    assert_eq!(answered, Some(Some(CloseCode::Normal)));
}
