//! Live connections: who is connected, and delivery to them through the [`Push`] port.
//!
//! The same service runs behind the local server's WebSocket route (an in-process push)
//! and behind API Gateway's WebSocket API (the `ws-*` Lambda functions, pushing with
//! `post_to_connection`). Connections are authenticated when they open, with the session
//! token as the `token` query parameter; a missing or bad token refuses the connection.
//!
//! # Frames (version 1)
//!
//! Every frame is one JSON object with a `type`. A client sends `{"type":"ping","id":..}`
//! and receives `{"type":"pong","id":..}`. A frame the server cannot read or does not
//! know is answered `{"type":"error","code":..,"message":..,"id":..}` with a stable code
//! (`INVALID_FRAME`, `UNKNOWN_FRAME`, `FRAME_TOO_LARGE`); the connection stays open.
//!
//! # Store layout
//!
//! * `conn#<connection id>` / `_` — `{user_id?, connected_at}` (epoch ms)
//! * `connu#<user id>` / `<connection id>` — the user's connections, for sending to a user
//!
//! Both expire a little after API Gateway's two-hour connection limit, so a connection
//! whose `$disconnect` never arrived does not linger. A push that finds the connection
//! gone (API Gateway's 410) deletes both records; that is not an error.

use std::sync::Arc;

use async_trait::async_trait;
use futures_util::StreamExt;
use serde_json::{Value, json};

use crate::auth::Caller;
use crate::clock::SharedClock;
use crate::store::{Item, ItemStore, Query, WriteOp};
use crate::{Code, Error, Result};

/// Frame protocol version, reported to clients in `hello`.
pub const PROTOCOL_VERSION: u32 = 1;
/// Largest frame a client may send, in bytes (API Gateway's own limit is 128 KiB).
pub const MAX_FRAME_BYTES: usize = 32 * 1024;
/// How long connection records outlive their start: API Gateway closes every connection
/// after two hours.
const CONNECTION_TTL_SECS: i64 = 2 * 3600 + 600;

/// Why a push did not arrive.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PushError {
    /// The connection no longer exists (API Gateway's 410 Gone).
    #[error("connection gone")]
    Gone,
    #[error("push failed: {0}")]
    Failed(String),
}

/// Sends one frame to one open connection.
#[async_trait]
pub trait Push: Send + Sync {
    async fn post(&self, connection_id: &str, data: &[u8]) -> std::result::Result<(), PushError>;
}

/// A push port for processes with no WebSocket side configured: every send fails.
pub struct NoPush;

#[async_trait]
impl Push for NoPush {
    async fn post(&self, _: &str, _: &[u8]) -> std::result::Result<(), PushError> {
        Err(PushError::Failed(
            "live channels are not configured here".into(),
        ))
    }
}

/// What a fan-out did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub sent: usize,
    /// Connections found gone; their records were deleted.
    pub gone: usize,
    pub failed: usize,
}

pub struct Live {
    store: Arc<dyn ItemStore>,
    clock: SharedClock,
    push: Arc<dyn Push>,
    /// Pushes in flight at once per fan-out.
    concurrency: usize,
}

fn conn_pk(id: &str) -> String {
    format!("conn#{id}")
}

fn user_pk(user_id: &str) -> String {
    format!("connu#{user_id}")
}

/// Connection ids come from the gateway; keep them to what a key and a URL path hold.
fn valid_connection_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'=' | b'+' | b'/' | b'.')
        })
}

impl Live {
    pub fn new(
        store: Arc<dyn ItemStore>,
        clock: SharedClock,
        push: Arc<dyn Push>,
        concurrency: usize,
    ) -> Self {
        Live {
            store,
            clock,
            push,
            concurrency: concurrency.max(1),
        }
    }

    /// Records an authenticated connection. Anonymous callers are refused: live channels
    /// carry the sender's identity.
    pub async fn connect(&self, connection_id: &str, caller: &Caller) -> Result<()> {
        if !valid_connection_id(connection_id) {
            return Err(Error::invalid("bad connection id"));
        }
        let user_id = match caller {
            Caller::Anonymous => {
                return Err(Error::new(
                    Code::Unauthenticated,
                    "live channels need a session token (?token=)",
                ));
            }
            Caller::User { user, .. } => Some(user.id.clone()),
            Caller::AdminKey => None,
        };
        let now = self.clock.now_ms();
        let expires = now / 1000 + CONNECTION_TTL_SECS;
        let mut attrs = serde_json::Map::new();
        attrs.insert("connected_at".into(), json!(now));
        let mut ops = Vec::with_capacity(2);
        if let Some(u) = &user_id {
            attrs.insert("user_id".into(), json!(u));
            let mut link = serde_json::Map::new();
            link.insert("connected_at".into(), json!(now));
            ops.push(WriteOp::put(
                Item::new(user_pk(u), connection_id, link).expiring_at(expires),
                None,
            ));
        }
        ops.push(WriteOp::put(
            Item::new(conn_pk(connection_id), "_", attrs).expiring_at(expires),
            None,
        ));
        self.store.transact(ops).await?;
        Ok(())
    }

    /// Forgets a connection (idempotent).
    pub async fn disconnect(&self, connection_id: &str) -> Result<()> {
        if !valid_connection_id(connection_id) {
            return Ok(());
        }
        let pk = conn_pk(connection_id);
        let mut ops = vec![WriteOp::Delete {
            pk: pk.clone(),
            sk: "_".into(),
            cond: None,
        }];
        if let Some(item) = self.store.get(&pk, "_").await?
            && let Some(u) = item.str("user_id")
        {
            ops.push(WriteOp::Delete {
                pk: user_pk(u),
                sk: connection_id.into(),
                cond: None,
            });
        }
        self.store.transact(ops).await?;
        Ok(())
    }

    /// The user a connection belongs to (`None` for the admin key), or `NOT_FOUND`.
    pub async fn connection_user(&self, connection_id: &str) -> Result<Option<String>> {
        if !valid_connection_id(connection_id) {
            return Err(Error::not_found("no such connection"));
        }
        let item = self
            .store
            .get(&conn_pk(connection_id), "_")
            .await?
            .ok_or_else(|| Error::not_found("no such connection"))?;
        Ok(item.str("user_id").map(str::to_string))
    }

    /// Handles one frame from a connection; replies go out through the push port.
    pub async fn on_frame(&self, connection_id: &str, frame: &[u8]) -> Result<Delivery> {
        let reply = match answer(frame) {
            Some(r) => r,
            None => return Ok(Delivery::default()),
        };
        let data = serde_json::to_vec(&reply).map_err(|e| Error::internal(e.to_string()))?;
        Ok(self.deliver(&[connection_id.to_string()], &data).await)
    }

    /// Every open connection of a user.
    pub async fn user_connections(&self, user_id: &str) -> Result<Vec<String>> {
        let mut out = Vec::new();
        let mut cursor = None;
        loop {
            let page = self
                .store
                .query(Query::partition(user_pk(user_id)).limit(100).after(cursor))
                .await?;
            out.extend(page.items.into_iter().map(|i| i.sk));
            match page.cursor {
                Some(c) => cursor = Some(c),
                None => return Ok(out),
            }
        }
    }

    /// Sends one frame to every connection of a user.
    pub async fn send_to_user(&self, user_id: &str, frame: &Value) -> Result<Delivery> {
        let conns = self.user_connections(user_id).await?;
        let data = serde_json::to_vec(frame).map_err(|e| Error::internal(e.to_string()))?;
        Ok(self.deliver(&conns, &data).await)
    }

    /// Pushes `data` to each connection, at most `concurrency` at a time. Connections found
    /// gone are forgotten.
    pub async fn deliver(&self, connections: &[String], data: &[u8]) -> Delivery {
        let results: Vec<(String, std::result::Result<(), PushError>)> =
            futures_util::stream::iter(connections.iter().cloned())
                .map(|c| async move {
                    let r = self.push.post(&c, data).await;
                    (c, r)
                })
                .buffer_unordered(self.concurrency)
                .collect()
                .await;
        let mut d = Delivery::default();
        for (c, r) in results {
            match r {
                Ok(()) => d.sent += 1,
                Err(PushError::Gone) => {
                    d.gone += 1;
                    if let Err(e) = self.disconnect(&c).await {
                        tracing::warn!(connection = %c, error = %e, "could not forget a gone connection");
                    }
                }
                Err(PushError::Failed(e)) => {
                    d.failed += 1;
                    tracing::warn!(connection = %c, error = %e, "push failed");
                }
            }
        }
        d
    }
}

fn error_frame(code: &str, message: &str, id: Option<&Value>) -> Value {
    let mut f = json!({"type": "error", "code": code, "message": message});
    if let Some(id) = id {
        f["id"] = id.clone();
    }
    f
}

/// The reply to a client frame, if any.
fn answer(frame: &[u8]) -> Option<Value> {
    if frame.len() > MAX_FRAME_BYTES {
        return Some(error_frame(
            "FRAME_TOO_LARGE",
            &format!("frames are at most {MAX_FRAME_BYTES} bytes"),
            None,
        ));
    }
    let Ok(Value::Object(f)) = serde_json::from_slice::<Value>(frame) else {
        return Some(error_frame(
            "INVALID_FRAME",
            "a frame is one JSON object with a \"type\"",
            None,
        ));
    };
    let id = f.get("id").filter(|v| v.is_string() || v.is_number());
    match f.get("type").and_then(Value::as_str) {
        Some("ping") => {
            let mut pong = json!({"type": "pong"});
            if let Some(id) = id {
                pong["id"] = id.clone();
            }
            Some(pong)
        }
        Some("pong") => None,
        Some(t) => Some(error_frame(
            "UNKNOWN_FRAME",
            &format!("unknown frame type {t:?}"),
            id,
        )),
        None => Some(error_frame(
            "INVALID_FRAME",
            "the frame has no \"type\"",
            id,
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_get_stable_answers() {
        assert_eq!(
            answer(br#"{"type":"ping","id":"7"}"#),
            Some(json!({"type":"pong","id":"7"}))
        );
        assert_eq!(answer(br#"{"type":"pong"}"#), None);
        assert_eq!(answer(b"nope").unwrap()["code"], "INVALID_FRAME");
        assert_eq!(answer(b"[1]").unwrap()["code"], "INVALID_FRAME");
        let u = answer(br#"{"type":"shout","id":3}"#).unwrap();
        assert_eq!(
            (u["code"].as_str(), u["id"].as_i64()),
            (Some("UNKNOWN_FRAME"), Some(3))
        );
        let big = vec![b' '; MAX_FRAME_BYTES + 1];
        assert_eq!(answer(&big).unwrap()["code"], "FRAME_TOO_LARGE");
    }

    #[test]
    fn connection_ids_are_checked() {
        assert!(valid_connection_id("L0SM9cOFvHcCIhw="));
        assert!(!valid_connection_id(""));
        assert!(!valid_connection_id("a#b"));
        assert!(valid_connection_id("a/b+c"));
        assert!(!valid_connection_id("a b"));
    }
}
