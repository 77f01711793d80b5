//! Live channels over real WebSockets, on every face: `yunqiao serve`'s `/v1/ws`, and the
//! WebSocket API (stand-in) calling the `ws-*` Lambda functions.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{ADMIN_KEY, Api, Server};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::{self, Message};
use yunqiao_core::live::{Delivery, Live};
use yunqiao_core::store::{Item, ItemStore};

on_every_face!(live_channels_need_a_session_and_answer_frames);

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The HTTP status a refused handshake got.
async fn refused(url: &str) -> u16 {
    match tokio_tungstenite::connect_async(url).await {
        Err(tungstenite::Error::Http(r)) => r.status().as_u16(),
        Err(e) => panic!("{url}: expected an HTTP refusal, got {e}"),
        Ok(_) => panic!("{url}: the connection was accepted"),
    }
}

async fn open(s: &Server, token: &str) -> Socket {
    let (ws, _) = tokio_tungstenite::connect_async(format!("{}?token={token}", s.ws_url))
        .await
        .expect("connect");
    ws
}

async fn next_frame(ws: &mut Socket) -> Value {
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

async fn send(ws: &mut Socket, text: &str) {
    ws.send(Message::Text(text.into())).await.expect("send");
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
    let live = Live::new(store.clone(), clock, Arc::new(push), 8);

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
