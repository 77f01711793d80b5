//! Live-channel clients over real WebSockets, for the acceptance tests.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::{self, Message};

use super::Server;

pub type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The HTTP status a refused handshake got.
pub async fn refused(url: &str) -> u16 {
    match tokio_tungstenite::connect_async(url).await {
        Err(tungstenite::Error::Http(r)) => r.status().as_u16(),
        Err(e) => panic!("{url}: expected an HTTP refusal, got {e}"),
        Ok(_) => panic!("{url}: the connection was accepted"),
    }
}

pub async fn open(s: &Server, token: &str) -> Socket {
    let (ws, _) = tokio_tungstenite::connect_async(format!("{}?token={token}", s.ws_url))
        .await
        .expect("connect");
    ws
}

pub async fn next_frame(ws: &mut Socket) -> Value {
    loop {
        let m = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("a frame within 10 s")
            .expect("socket open")
            .expect("frame");
        match m {
            Message::Text(t) => return serde_json::from_str(&t).expect("JSON frame"),
            Message::Binary(b) => return serde_json::from_slice(&b).expect("JSON frame"),
            _ => continue,
        }
    }
}

pub async fn send(ws: &mut Socket, text: &str) {
    ws.send(Message::Text(text.into())).await.expect("send");
}

/// A live-channel client: requests get ids and wait for their answer; frames that come
/// in between are kept, in order, for [`Client::next`].
pub struct Client {
    pub ws: Socket,
    pub backlog: std::collections::VecDeque<Value>,
    pub ids: u64,
}

impl Client {
    pub async fn open(s: &Server, token: &str) -> Client {
        Client {
            ws: open(s, token).await,
            backlog: Default::default(),
            ids: 0,
        }
    }

    /// Sends a request and returns its answer (`ack`, `pong` or `error`).
    pub async fn req(&mut self, mut frame: Value) -> Value {
        self.ids += 1;
        let id = format!("r{}", self.ids);
        frame["id"] = json!(id);
        send(&mut self.ws, &frame.to_string()).await;
        loop {
            let f = next_frame(&mut self.ws).await;
            if f["id"] == json!(id) {
                return f;
            }
            self.backlog.push_back(f);
        }
    }

    /// An answer that must be an `ack`.
    pub async fn ok(&mut self, frame: Value) -> Value {
        let a = self.req(frame.clone()).await;
        assert_eq!(a["type"], "ack", "{frame} was answered {a}");
        a
    }

    /// The error code a request is answered with.
    pub async fn refused(&mut self, frame: Value) -> String {
        let a = self.req(frame.clone()).await;
        assert_eq!(a["type"], "error", "{frame} was answered {a}");
        a["code"].as_str().unwrap_or_default().to_string()
    }

    pub async fn next(&mut self) -> Value {
        match self.backlog.pop_front() {
            Some(f) => f,
            None => next_frame(&mut self.ws).await,
        }
    }

    /// Asserts nothing arrived: a ping's pong is the first frame after everything sent
    /// to this client before it.
    pub async fn quiet(&mut self) {
        assert!(
            self.backlog.is_empty(),
            "unexpected frames: {:?}",
            self.backlog
        );
        let pong = self.req(json!({"type": "ping"})).await;
        assert_eq!(pong["type"], "pong");
        assert!(
            self.backlog.is_empty(),
            "unexpected frames: {:?}",
            self.backlog
        );
    }

    pub async fn close(mut self) {
        self.ws.close(None).await.expect("close");
        // Wait for the server's side of the close, so `$disconnect` has been handled
        // before the test goes on.
        while let Ok(Some(Ok(_))) =
            tokio::time::timeout(Duration::from_secs(10), self.ws.next()).await
        {}
    }
}
