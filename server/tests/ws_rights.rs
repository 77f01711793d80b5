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
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{CloseCode, Data, OpCode};

/// API Gateway's WebSocket frame size quota: longer messages come in several frames.
const GATEWAY_FRAME: usize = 32 * 1024;

/// Sends `text` as one message in frames of at most `frame` bytes, as API Gateway
/// wants messages over 32 KiB.
async fn send_fragmented(c: &mut Client, text: &str, frame: usize) {
    use futures_util::SinkExt;
    let bytes = text.as_bytes();
    let chunks: Vec<&[u8]> = bytes.chunks(frame).collect();
    for (i, chunk) in chunks.iter().enumerate() {
        let op = if i == 0 { Data::Text } else { Data::Continue };
        let f = Frame::message(chunk.to_vec(), OpCode::Data(op), i + 1 == chunks.len());
        c.ws.send(Message::Frame(f)).await.expect("send a frame");
    }
}

/// The close code the server closed the socket with (data frames before it skipped).
async fn close_code(c: &mut Client) -> Option<CloseCode> {
    loop {
        match tokio::time::timeout(Duration::from_secs(15), c.ws.next()).await {
            Err(_) => panic!("the socket is still open after 15 s"),
            Ok(Some(Ok(Message::Close(f)))) => return f.map(|f| f.code),
            Ok(None) | Ok(Some(Err(_))) => return None,
            Ok(Some(Ok(_))) => {}
        }
    }
}

on_every_face!(
    a_group_removal_stops_group_topics_at_once,
    logout_closes_the_sessions_sockets,
    one_user_has_a_bounded_number_of_sockets,
    concurrent_handshakes_of_one_user_stay_within_the_limit,
    oversized_frames_are_answered_and_the_socket_stays,
    frames_and_messages_over_the_gateways_limits_close_with_1009,
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

async fn concurrent_handshakes_of_one_user_stay_within_the_limit(s: Server) {
    let api = Api::new(&s.base);
    let (alice, _) = api.login("mock:crowd").await;
    let max = yunqiao_core::live::MAX_CONNECTIONS_PER_USER;
    let url = format!("{}?token={alice}", s.ws_url);
    let tries: Vec<_> = (0..100)
        .map(|_| {
            let url = url.clone();
            tokio::spawn(async move { tokio_tungstenite::connect_async(url).await })
        })
        .collect();
    let (mut open_ones, mut refused_ones) = (Vec::new(), 0);
    for t in tries {
        match t.await.unwrap() {
            Ok((ws, _)) => open_ones.push(ws),
            Err(tokio_tungstenite::tungstenite::Error::Http(r)) => {
                assert_eq!(r.status().as_u16(), 429, "the documented refusal");
                refused_ones += 1;
            }
            Err(e) => panic!("a handshake failed otherwise: {e}"),
        }
    }
    assert!(
        (1..=max).contains(&open_ones.len()),
        "{} sockets open, {refused_ones} refused; the limit is {max}",
        open_ones.len()
    );
    assert_eq!(open_ones.len() + refused_ones, 100);
    // The slots are really held: nothing more opens until one closes.
    let held = open_ones.len();
    for _ in held..max {
        open_ones.push(open(&s, &alice).await);
    }
    assert_eq!(refused(&url).await, 429);
    let mut first = open_ones.remove(0);
    first.close(None).await.expect("close");
    while let Ok(Some(Ok(_))) = tokio::time::timeout(Duration::from_secs(10), first.next()).await {}
    // `$disconnect` may arrive a moment after the close on the Lambda face.
    let mut again = None;
    for _ in 0..50 {
        if let Ok((ws, _)) = tokio_tungstenite::connect_async(&url).await {
            again = Some(ws);
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(again.is_some(), "a closed socket frees its slot");
    assert_eq!(refused(&url).await, 429);
}

async fn frames_and_messages_over_the_gateways_limits_close_with_1009(s: Server) {
    let api = Api::new(&s.base);
    let (t, _) = api.login("mock:huge").await;
    // One frame over 32 KiB.
    let mut c = Client::open(&s, &t).await;
    c.quiet().await;
    let big = json!({"type": "publish", "topic": "room.big", "data": "x".repeat(40 * 1024)});
    send(&mut c.ws, &big.to_string()).await;
    assert_eq!(close_code(&mut c).await, Some(CloseCode::Size));
    // A message over 128 KiB, in frames the gateway accepts.
    let mut c = Client::open(&s, &t).await;
    c.quiet().await;
    let huge = json!({"type": "publish", "topic": "room.big", "data": "x".repeat(130 * 1024)});
    send_fragmented(&mut c, &huge.to_string(), GATEWAY_FRAME).await;
    assert_eq!(close_code(&mut c).await, Some(CloseCode::Size));
}

async fn oversized_frames_are_answered_and_the_socket_stays(s: Server) {
    let api = Api::new(&s.base);
    let (t, _) = api.login("mock:big").await;
    let mut c = Client::open(&s, &t).await;
    for size in [33 * 1024, 70 * 1024, 120 * 1024] {
        let big =
            json!({"type": "publish", "topic": "room.big", "id": "b", "data": "x".repeat(size)});
        send_fragmented(&mut c, &big.to_string(), GATEWAY_FRAME).await;
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
