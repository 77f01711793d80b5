//! API Gateway's WebSocket API: clients at `/{stage}`, the `$connect` / `$default` /
//! `$disconnect` functions called with `ApiGatewayWebsocketProxyRequest` events, and the
//! management API at `/{stage}/@connections/{id}`.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::WsRoutes;
use crate::runtime::{Functions, Outcome};

/// API Gateway's largest message.
const MAX_MESSAGE: usize = 128 * 1024;
/// API Gateway's frame size quota: a longer message comes in several frames; a larger
/// frame (or message) closes the connection with 1009.
const MAX_FRAME: usize = 32 * 1024;

struct Conn {
    tx: mpsc::UnboundedSender<Message>,
    connected_at: i64,
    last_active: i64,
    source_ip: String,
    user_agent: String,
}

struct WsApi {
    functions: Arc<Functions>,
    routes: WsRoutes,
    stage: String,
    domain: String,
    conns: Mutex<HashMap<String, Conn>>,
}

pub fn router(
    functions: Arc<Functions>,
    routes: WsRoutes,
    stage: String,
    domain: String,
) -> Router {
    let api = Arc::new(WsApi {
        functions,
        routes,
        stage: stage.clone(),
        domain,
        conns: Mutex::new(HashMap::new()),
    });
    Router::new()
        .route(&format!("/{stage}"), get(open))
        .route(
            &format!("/{stage}/@connections/{{id}}"),
            get(info).post(post).delete(close),
        )
        .with_state(api)
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Deep-merges `more` into `into`.
fn merge(into: &mut serde_json::Map<String, Value>, more: serde_json::Map<String, Value>) {
    for (k, v) in more {
        match (into.get_mut(&k), v) {
            (Some(Value::Object(a)), Value::Object(b)) => merge(a, b),
            (_, v) => {
                into.insert(k, v);
            }
        }
    }
}

/// API Gateway-like connection ids: 16 characters of base64.
fn connection_id() -> String {
    let b: [u8; 11] = rand::random();
    base64::engine::general_purpose::STANDARD.encode(b) + "="
}

impl WsApi {
    fn event(
        &self,
        conn: &str,
        connected_at: i64,
        route: &str,
        event_type: &str,
        extra: Value,
    ) -> Vec<u8> {
        let mut ev = json!({
            "requestContext": {
                "routeKey": route,
                "eventType": event_type,
                "extendedRequestId": format!("{:016x}", rand::random::<u64>()),
                "requestTime": "01/Jan/2026:00:00:00 +0000",
                "messageDirection": "IN",
                "stage": self.stage,
                "connectedAt": connected_at,
                "requestTimeEpoch": now_ms(),
                "identity": { "sourceIp": "127.0.0.1" },
                "requestId": format!("{:016x}", rand::random::<u64>()),
                "domainName": self.domain,
                "connectionId": conn,
                "apiId": "standinws",
            },
            "isBase64Encoded": false,
        });
        if let (Value::Object(ev), Value::Object(extra)) = (&mut ev, extra) {
            for (k, v) in extra {
                if k == "requestContext" {
                    if let (Some(Value::Object(rc)), Value::Object(more)) = (ev.get_mut(&k), v) {
                        merge(rc, more);
                    }
                } else {
                    ev.insert(k, v);
                }
            }
        }
        serde_json::to_vec(&ev).unwrap_or_default()
    }

    /// The `Sec-WebSocket-Protocol` header of a `$connect` function's response.
    fn subprotocol_of(out: &Outcome) -> Option<String> {
        let Outcome::Response(b) = out else {
            return None;
        };
        let v = serde_json::from_slice::<Value>(b).ok()?;
        v.get("headers")?
            .as_object()?
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("sec-websocket-protocol"))
            .and_then(|(_, v)| v.as_str())
            .map(str::to_string)
    }

    fn status_of(out: &Outcome) -> u16 {
        match out {
            Outcome::Response(b) => serde_json::from_slice::<Value>(b)
                .ok()
                .and_then(|v| v.get("statusCode").and_then(Value::as_u64))
                .map_or(200, |s| s as u16),
            Outcome::Error(_) => 500,
        }
    }
}

async fn open(
    State(api): State<Arc<WsApi>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Query(query): Query<BTreeMap<String, String>>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    let id = connection_id();
    let connected_at = now_ms();
    let mut hs = BTreeMap::new();
    for (k, v) in &headers {
        hs.insert(
            k.as_str().to_string(),
            String::from_utf8_lossy(v.as_bytes()).into_owned(),
        );
    }
    let multi_q: BTreeMap<_, _> = query
        .iter()
        .map(|(k, v)| (k.clone(), vec![v.clone()]))
        .collect();
    let multi_h: BTreeMap<_, _> = hs
        .iter()
        .map(|(k, v)| (k.clone(), vec![v.clone()]))
        .collect();
    let mut extra = json!({
        "headers": hs,
        "multiValueHeaders": multi_h,
        "requestContext": { "identity": { "sourceIp": peer.ip().to_string() } },
    });
    if !query.is_empty() {
        extra["queryStringParameters"] = json!(query);
        extra["multiValueQueryStringParameters"] = json!(multi_q);
    }
    let ev = api.event(&id, connected_at, "$connect", "CONNECT", extra);
    let out = api.functions.invoke(&api.routes.connect, ev).await;
    let status = WsApi::status_of(&out);
    if !(200..300).contains(&status) {
        // API Gateway answers the handshake with the function's status.
        return StatusCode::from_u16(status)
            .unwrap_or(StatusCode::FORBIDDEN)
            .into_response();
    }
    let user_agent = headers
        .get("user-agent")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    // API Gateway answers with the subprotocol the function's response names (none if it
    // names none: a browser that offered some then drops the socket).
    let ws = match WsApi::subprotocol_of(&out) {
        Some(p) => ws.protocols([p]),
        None => ws,
    };
    ws.max_message_size(MAX_MESSAGE)
        .max_frame_size(MAX_FRAME)
        .on_upgrade(move |socket| serve(socket, api, id, connected_at, peer, user_agent))
        .into_response()
}

async fn serve(
    socket: WebSocket,
    api: Arc<WsApi>,
    id: String,
    connected_at: i64,
    peer: SocketAddr,
    user_agent: String,
) {
    let (mut sink, mut stream) = socket.split();
    let (tx, mut rx) = mpsc::unbounded_channel::<Message>();
    if let Ok(mut c) = api.conns.lock() {
        c.insert(
            id.clone(),
            Conn {
                tx,
                connected_at,
                last_active: connected_at,
                source_ip: peer.ip().to_string(),
                user_agent,
            },
        );
    }
    let writer = tokio::spawn(async move {
        while let Some(m) = rx.recv().await {
            let closing = matches!(m, Message::Close(_));
            if sink.send(m).await.is_err() || closing {
                break;
            }
        }
        let _ = sink.close().await;
    });
    let mut close_code = 1006;
    while let Some(msg) = stream.next().await {
        let (body, b64) = match msg {
            Ok(Message::Text(t)) => (t.to_string(), false),
            Ok(Message::Binary(b)) => (base64::engine::general_purpose::STANDARD.encode(&b), true),
            Ok(Message::Close(f)) => {
                close_code = f.as_ref().map_or(1005, |f| f.code);
                // API Gateway answers a client's close frame with its own.
                if let Ok(c) = api.conns.lock()
                    && let Some(c) = c.get(&id)
                {
                    let _ = c.tx.send(Message::Close(f));
                }
                break;
            }
            Ok(_) => continue,
            Err(e) => {
                if matches!(
                    e.into_inner()
                        .downcast_ref::<tokio_tungstenite::tungstenite::Error>(),
                    Some(tokio_tungstenite::tungstenite::Error::Capacity(_))
                ) {
                    close_code = 1009;
                    if let Ok(c) = api.conns.lock()
                        && let Some(c) = c.get(&id)
                    {
                        let _ =
                            c.tx.send(Message::Close(Some(axum::extract::ws::CloseFrame {
                                code: 1009,
                                reason: "Message too big".into(),
                            })));
                    }
                }
                break;
            }
        };
        if let Ok(mut c) = api.conns.lock()
            && let Some(c) = c.get_mut(&id)
        {
            c.last_active = now_ms();
        }
        let ev = api.event(
            &id,
            connected_at,
            "$default",
            "MESSAGE",
            json!({
                "body": body,
                "isBase64Encoded": b64,
                "requestContext": { "messageId": format!("{:016x}", rand::random::<u64>()) },
            }),
        );
        if let Outcome::Error(e) = api.functions.invoke(&api.routes.default, ev).await {
            eprintln!("standin: $default failed: {e}");
        }
    }
    if let Ok(mut c) = api.conns.lock() {
        c.remove(&id);
    }
    // Its sender is gone with the entry: the writer sends what is queued (a close
    // reply) and ends.
    if tokio::time::timeout(std::time::Duration::from_secs(2), writer)
        .await
        .is_err()
    {
        eprintln!("standin: a socket writer did not finish");
    }
    {
        let ev = api.event(
            &id,
            connected_at,
            "$disconnect",
            "DISCONNECT",
            json!({
                "requestContext": {
                    "disconnectStatusCode": close_code,
                    "disconnectReason": "",
                },
            }),
        );
        if let Outcome::Error(e) = api.functions.invoke(&api.routes.disconnect, ev).await {
            eprintln!("standin: $disconnect failed: {e}");
        }
    }
}

/// The management API's errors, as the AWS SDK reads them (`x-amzn-ErrorType`).
fn aws_error(status: StatusCode, kind: &str, msg: &str) -> Response {
    (
        status,
        [
            ("x-amzn-errortype", kind.to_string()),
            ("content-type", "application/json".to_string()),
        ],
        json!({ "message": msg }).to_string(),
    )
        .into_response()
}

/// Management calls come from AWS SDKs: they are SigV4-signed.
fn unsigned(headers: &HeaderMap) -> Option<Response> {
    let signed = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("AWS4-HMAC-SHA256 Credential="));
    (!signed).then(|| {
        aws_error(
            StatusCode::FORBIDDEN,
            "ForbiddenException",
            "Missing Authentication Token",
        )
    })
}

fn gone() -> Response {
    aws_error(StatusCode::GONE, "GoneException", "Gone")
}

async fn post(
    State(api): State<Arc<WsApi>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(r) = unsigned(&headers) {
        return r;
    }
    if body.len() > MAX_MESSAGE {
        return aws_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "PayloadTooLargeException",
            "Message too long",
        );
    }
    let msg = match String::from_utf8(body.to_vec()) {
        Ok(t) => Message::Text(t.into()),
        Err(e) => Message::Binary(e.into_bytes().into()),
    };
    let sent = api
        .conns
        .lock()
        .ok()
        .and_then(|c| c.get(&id).map(|c| c.tx.send(msg).is_ok()));
    match sent {
        Some(true) => StatusCode::OK.into_response(),
        _ => gone(),
    }
}

async fn info(
    State(api): State<Arc<WsApi>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Some(r) = unsigned(&headers) {
        return r;
    }
    let conns = match api.conns.lock() {
        Ok(c) => c,
        Err(_) => return gone(),
    };
    let Some(c) = conns.get(&id) else {
        return gone();
    };
    let body = json!({
        "connectedAt": c.connected_at / 1000,
        "lastActiveAt": c.last_active / 1000,
        "identity": { "sourceIp": c.source_ip, "userAgent": c.user_agent },
    });
    (
        StatusCode::OK,
        [("content-type", "application/json")],
        body.to_string(),
    )
        .into_response()
}

async fn close(
    State(api): State<Arc<WsApi>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Some(r) = unsigned(&headers) {
        return r;
    }
    let tx = api
        .conns
        .lock()
        .ok()
        .and_then(|c| c.get(&id).map(|c| c.tx.clone()));
    match tx {
        Some(tx) => {
            let _ = tx.send(Message::Close(Some(CloseFrame {
                code: 1000,
                reason: "".into(),
            })));
            StatusCode::NO_CONTENT.into_response()
        }
        None => gone(),
    }
}
