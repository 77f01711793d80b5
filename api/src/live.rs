//! `GET /v1/ws`: live channels on the local server. Each socket is registered in the
//! [`LocalHub`], which is the push port here; in AWS the WebSocket API and the `ws-*`
//! functions play the same part (see `yunqiao_core::live`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use axum::extract::ws::{Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;
use serde::Deserialize;
use tokio::sync::mpsc;
use yunqiao_core::live::{IDLE_TIMEOUT_SECS, MAX_CONNECTION_SECS, Push, PushError};

use crate::error::{ApiResult, error};
use crate::{ApiRouter, AppState};

/// Frames queued for one socket before it counts as too slow and is closed: a client
/// that stops reading must not hold the server's memory.
pub const OUTBOX_FRAMES: usize = 1024;

/// API Gateway's WebSocket message limit: a larger message closes the socket with 1009.
pub const MAX_MESSAGE_BYTES: usize = 128 * 1024;
/// API Gateway's WebSocket frame limit: a larger frame closes the socket with 1009 (a
/// longer message must come in several frames).
pub const MAX_WIRE_FRAME_BYTES: usize = 32 * 1024;
/// The close code for a frame or message over the limits ("message too big").
pub const CLOSE_TOO_BIG: u16 = 1009;

/// Whether a WebSocket read failed on a frame or message over the limits.
fn too_big(e: axum::Error) -> bool {
    matches!(
        e.into_inner()
            .downcast_ref::<tokio_tungstenite::tungstenite::Error>(),
        Some(tokio_tungstenite::tungstenite::Error::Capacity(_))
    )
}

/// Open local sockets by connection id.
#[derive(Default)]
pub struct LocalHub {
    sockets: Mutex<HashMap<String, mpsc::Sender<Bytes>>>,
}

impl LocalHub {
    fn register(&self, id: &str) -> mpsc::Receiver<Bytes> {
        let (tx, rx) = mpsc::channel(OUTBOX_FRAMES);
        if let Ok(mut m) = self.sockets.lock() {
            m.insert(id.to_string(), tx);
        }
        rx
    }

    fn unregister(&self, id: &str) {
        if let Ok(mut m) = self.sockets.lock() {
            m.remove(id);
        }
    }
}

/// Queues a frame for a socket. A full queue means the client is not reading: the
/// caller drops the sender, which ends the socket's loop once it has sent what is
/// queued; the connection then closes and is forgotten as usual.
fn queue(tx: &mpsc::Sender<Bytes>, frame: Bytes) -> Result<(), PushError> {
    match tx.try_send(frame) {
        Ok(()) => Ok(()),
        Err(mpsc::error::TrySendError::Closed(_)) => Err(PushError::Gone),
        Err(mpsc::error::TrySendError::Full(_)) => Err(PushError::Failed(
            "the client is not reading; closing".into(),
        )),
    }
}

#[async_trait]
impl Push for LocalHub {
    async fn post(&self, connection_id: &str, data: &[u8]) -> Result<(), PushError> {
        let tx = self
            .sockets
            .lock()
            .map_err(|_| PushError::Failed("hub poisoned".into()))?
            .get(connection_id)
            .cloned();
        let Some(tx) = tx else {
            return Err(PushError::Gone);
        };
        let r = queue(&tx, Bytes::copy_from_slice(data));
        if matches!(r, Err(PushError::Failed(_))) {
            self.unregister(connection_id);
        }
        r
    }

    /// One lock and one copy of the frame for the whole fan-out.
    async fn post_to_all(
        &self,
        connections: &[String],
        data: &[u8],
        _concurrency: usize,
    ) -> Vec<Result<(), PushError>> {
        let frame = Bytes::copy_from_slice(data);
        let Ok(mut sockets) = self.sockets.lock() else {
            return connections
                .iter()
                .map(|_| Err(PushError::Failed("hub poisoned".into())))
                .collect();
        };
        connections
            .iter()
            .map(|c| {
                let Some(tx) = sockets.get(c) else {
                    return Err(PushError::Gone);
                };
                let r = queue(tx, frame.clone());
                if matches!(r, Err(PushError::Failed(_))) {
                    sockets.remove(c);
                }
                r
            })
            .collect()
    }

    /// Dropping the socket's sender ends its loop once what is queued has gone out; the
    /// socket then closes with a close frame and is forgotten as usual.
    async fn close(&self, connection_id: &str) -> Result<(), PushError> {
        let had = self
            .sockets
            .lock()
            .map_err(|_| PushError::Failed("hub poisoned".into()))?
            .remove(connection_id)
            .is_some();
        if had { Ok(()) } else { Err(PushError::Gone) }
    }
}

/// The upgrade is no HTTP exchange OpenAPI can describe: docs/live-protocol.md does.
pub fn router() -> ApiRouter {
    ApiRouter::new().undocumented("/v1/ws", get(open))
}

#[derive(Deserialize)]
pub struct TokenQuery {
    token: Option<String>,
}

/// The subprotocol a client names to send its token in `Sec-WebSocket-Protocol` rather
/// than in the URL (browsers cannot set `Authorization` on a socket): it offers
/// `yunqiao.v1, bearer.<token>` and the server picks `yunqiao.v1`.
pub const SUBPROTOCOL: &str = "yunqiao.v1";

/// The subprotocols a client offered, in its order.
fn offered_protocols(headers: &axum::http::HeaderMap) -> impl Iterator<Item = &str> {
    headers
        .get_all(axum::http::header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
}

/// The `bearer.<token>` a client offered among its subprotocols (the AWS face's
/// `$connect` reads it the same way).
pub fn protocol_token(headers: &axum::http::HeaderMap) -> Option<String> {
    offered_protocols(headers)
        .find_map(|p| p.strip_prefix("bearer.").map(str::to_string))
        .filter(|t| !t.is_empty())
}

/// Whether the client offered [`SUBPROTOCOL`]: the answer must then name it, or
/// browsers drop the socket.
pub fn offers_subprotocol(headers: &axum::http::HeaderMap) -> bool {
    offered_protocols(headers).any(|p| p == SUBPROTOCOL)
}

/// Opens a live channel; the session token comes as `?token=` (mini-programs' sockets
/// cannot always set headers) or as the subprotocol `bearer.<token>` beside
/// [`SUBPROTOCOL`] (the console: no token in a URL). A missing or bad token is refused
/// before the upgrade.
pub async fn open(
    State(s): State<AppState>,
    Query(q): Query<TokenQuery>,
    headers: axum::http::HeaderMap,
    ws: WebSocketUpgrade,
) -> ApiResult<Response> {
    let token = q.token.or_else(|| protocol_token(&headers));
    let Some(hub) = s.hub.clone() else {
        return Err(error(
            yunqiao_core::Code::NotFound,
            "live channels are served by the WebSocket API here",
        ));
    };
    let caller = s.auth.authenticate_fresh(token.as_deref()).await?;
    let id = yunqiao_core::ids::new_id(s.auth.clock().now_ms());
    // In the hub before its records exist, so a push in between is queued, not taken
    // for a gone connection.
    let outbox = hub.register(&id);
    if let Err(e) = s.live.connect(&id, &caller).await {
        hub.unregister(&id);
        return Err(e.into());
    }
    let (failed_s, failed_hub, failed_id) = (s.clone(), hub.clone(), id.clone());
    Ok(ws
        .protocols([SUBPROTOCOL])
        // As on API Gateway: frames up to 32 KiB, messages up to 128 KiB reach the
        // domain, which answers FRAME_TOO_LARGE above MAX_FRAME_BYTES and keeps the
        // connection; a larger frame or message closes it with 1009.
        .max_message_size(MAX_MESSAGE_BYTES)
        .max_frame_size(MAX_WIRE_FRAME_BYTES)
        .on_failed_upgrade(move |_| {
            failed_hub.unregister(&failed_id);
            tokio::spawn(async move {
                let _ = failed_s.live.disconnect(&failed_id).await;
            });
        })
        .on_upgrade(move |socket| serve(socket, s, hub, id, outbox))
        .into_response())
}

/// Closes like API Gateway: after [`IDLE_TIMEOUT_SECS`] without a client frame, and
/// after [`MAX_CONNECTION_SECS`] in any case, so clients written against one face keep
/// working on the other.
async fn serve(
    mut socket: WebSocket,
    s: AppState,
    hub: Arc<LocalHub>,
    id: String,
    mut outbox: mpsc::Receiver<Bytes>,
) {
    let lifetime = tokio::time::sleep(Duration::from_secs(MAX_CONNECTION_SECS));
    tokio::pin!(lifetime);
    let idle = Duration::from_secs(IDLE_TIMEOUT_SECS);
    // One idle timer, moved on when the client is heard (not one per loop turn: a
    // fan-out's frames would each register and cancel a timer per socket).
    let idle_timer = tokio::time::sleep(idle);
    tokio::pin!(idle_timer);
    let mut close_code = 1000;
    loop {
        tokio::select! {
            _ = &mut lifetime => break,
            _ = &mut idle_timer => break,
            out = outbox.recv() => match out {
                Some(data) => {
                    let msg = match Utf8Bytes::try_from(data.clone()) {
                        Ok(t) => Message::Text(t),
                        Err(_) => Message::Binary(data),
                    };
                    if socket.send(msg).await.is_err() {
                        break;
                    }
                }
                None => break,
            },
            inc = socket.recv() => match inc {
                Some(Ok(m @ (Message::Text(_) | Message::Binary(_)))) => {
                    idle_timer.as_mut().reset(tokio::time::Instant::now() + idle);
                    if let Err(e) = s.live.on_frame(&id, &m.into_data()).await {
                        tracing::warn!(connection = %id, error = %e, "frame failed");
                    }
                }
                Some(Ok(Message::Close(_))) => {
                    // The close reply is queued by the WebSocket layer and written by the
                    // next read, which then ends the stream.
                    let _ = tokio::time::timeout(Duration::from_secs(2), socket.recv()).await;
                    break;
                }
                Some(Err(e)) => {
                    if too_big(e) {
                        close_code = CLOSE_TOO_BIG;
                    }
                    break;
                }
                None => break,
                // WebSocket-level pings count as activity, as on API Gateway.
                Some(Ok(_)) => idle_timer.as_mut().reset(tokio::time::Instant::now() + idle),
            },
        }
    }
    let _ = socket
        .send(Message::Close(Some(axum::extract::ws::CloseFrame {
            code: close_code,
            reason: if close_code == CLOSE_TOO_BIG {
                "message too big".into()
            } else {
                "".into()
            },
        })))
        .await;
    hub.unregister(&id);
    if let Err(e) = s.live.disconnect(&id).await {
        tracing::warn!(connection = %id, error = %e, "could not forget a closed connection");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_client_that_stops_reading_is_cut_off_not_buffered_forever() {
        let hub = LocalHub::default();
        let mut outbox = hub.register("c1");
        for _ in 0..OUTBOX_FRAMES {
            assert_eq!(hub.post("c1", b"{}").await, Ok(()));
        }
        assert!(matches!(
            hub.post("c1", b"{}").await,
            Err(PushError::Failed(_))
        ));
        // Out of the hub: what was queued still goes out, then the socket's loop ends.
        assert_eq!(hub.post("c1", b"{}").await, Err(PushError::Gone));
        let mut queued = 0;
        while outbox.recv().await.is_some() {
            queued += 1;
        }
        assert_eq!(queued, OUTBOX_FRAMES);
        assert_eq!(hub.post("nobody", b"{}").await, Err(PushError::Gone));
    }
}
