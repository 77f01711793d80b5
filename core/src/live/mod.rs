//! Live channels: direct messages, presence, topics and table events over WebSockets.
//!
//! The same service runs behind the local server's WebSocket route (an in-process push)
//! and behind API Gateway's WebSocket API (the `ws-*` Lambda functions, pushing with
//! `post_to_connection`). Everything it knows is in the store, so any process (or
//! sandbox) can handle any frame. The frame protocol is `docs/live-protocol.md`.
//!
//! # Store layout
//!
//! * `conn#<connection>` / `_` — `{user_id?, session?, connected_at, rw, rn}` (`rw`/`rn`:
//!   the frame-rate window and count where the store counts them; `session`: the session
//!   the socket was opened with, checked on every frame)
//! * `connu#<user>` / `<connection>` — a user's connections `{session}`, for sending to
//!   a user and for closing a session's sockets at logout
//! * `online` / `<user>#<connection>` — everyone connected, for app-wide presence
//! * `csub#<connection>` / `<topic>` — a connection's subscriptions
//! * `sub#<topic>` / `<connection>` — a topic's subscribers `{user_id?, where?, presence?}`:
//!   fan-out reads exactly these; a table watch also keeps its own frame number `n`, the
//!   last topic position it numbered `p`, the position its subscribe covered `r`, and
//!   `gap` (the number up to which a resume on this connection answers `resync`)
//! * `sub#<topic>` / `~` — the topic's state `{seq, left_at, gap?}` (never expires)
//! * `log#<topic>` / `<seq, 20 digits>` — frames (table changes) kept for resumes, expiring after
//!   [`RETENTION_SECS`]
//! * `log#<topic>` / `r#<user or ->#<n, 20 digits>#<connection>` — where a table watch
//!   that ended at number `n` stopped `{p, where?}`, for a resume on a new connection
//! * `topicrule` / `<pattern>` — who may subscribe and publish
//!
//! Connection records expire a little after API Gateway's two-hour connection limit, so
//! a connection whose `$disconnect` never arrived does not linger. A push that finds the
//! connection gone (API Gateway's 410) deletes its records; that is not an error.

pub mod changes;
pub mod limits;
pub mod protocol;
mod pubsub;
pub mod topics;

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use futures_util::StreamExt;
use serde_json::{Map, Value, json};

use crate::auth::{Auth, Caller, SessionListener, User};
use crate::clock::SharedClock;
use crate::store::{Cond, Item, ItemStore, Query, SkRange, StoreError, Update, WriteOp};
use crate::tables::{ChangeListener, RecordChange, Tables};
use crate::{Code, Error, Result};
pub use limits::{RATE_LIMIT, RATE_WINDOW_SECS, RateLimiter};
pub use protocol::MAX_FRAME_BYTES;
use protocol::{Request, Target, error_frame};
use topics::{ResumePlan, Sub, Topic, TopicRule, TopicState};

/// Frame protocol version, reported by `hello`.
pub const PROTOCOL_VERSION: u32 = 1;
/// Largest frame the server pushes (API Gateway refuses more than 128 KiB). Events
/// published by the server are refused above it; a table event whose record would
/// exceed it carries only the record's `_id` and `truncated: true`.
pub const MAX_PUSH_BYTES: usize = 96 * 1024;
/// Most topics one connection may be subscribed to.
pub const MAX_TOPICS_PER_CONNECTION: usize = 50;
/// Most connections one user may have open at once (WeChat lets a mini-program open
/// five sockets; the rest is room for devices and tabs).
pub const MAX_CONNECTIONS_PER_USER: usize = 10;
/// How long frames are kept for resumes.
pub const RETENTION_SECS: i64 = 30 * 60;
/// Most frames one resume replays; further behind, the client re-fetches.
pub const MAX_REPLAY: u64 = 500;
/// Most users an `online` answer lists.
pub const MAX_ONLINE: usize = 100;
/// Tries at renumbering a table watch that frames keep numbering meanwhile, and at a
/// table resume that writes keep overtaking, before it answers `resync`.
const MAX_RENUMBER_TRIES: usize = 10;
/// Tries at a table resume while changes keep coming (each after a pause growing to
/// 64 ms: about 2 s in all): a steady stream of writes must not turn every resume into a
/// `resync`; past this, one does.
const MAX_RESUME_TRIES: usize = 40;
/// Most topic rules an app may set.
pub const MAX_RULES: usize = 200;
/// API Gateway closes a connection after 10 idle minutes and every connection after two
/// hours; the local server does the same, so clients see one behaviour.
pub const IDLE_TIMEOUT_SECS: u64 = 10 * 60;
pub const MAX_CONNECTION_SECS: u64 = 2 * 3600;
const CONNECTION_TTL_SECS: i64 = MAX_CONNECTION_SECS as i64 + 600;
const ONLINE_PK: &str = crate::keys::ONLINE;

/// Why a push did not arrive.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PushError {
    /// The connection no longer exists (API Gateway's 410 Gone).
    #[error("connection gone")]
    Gone,
    #[error("push failed: {0}")]
    Failed(String),
}

/// Sends one frame to one open connection, or closes it.
#[async_trait]
pub trait Push: Send + Sync {
    async fn post(&self, connection_id: &str, data: &[u8]) -> std::result::Result<(), PushError>;
    /// Sends the same frame to many connections (a topic's fan-out); answers in the
    /// order given. By default `post` to each, at most `concurrency` at a time; a
    /// process that holds its sockets does it in one pass with one copy of the frame.
    async fn post_to_all(
        &self,
        connections: &[String],
        data: &[u8],
        concurrency: usize,
    ) -> Vec<std::result::Result<(), PushError>> {
        let mut done: Vec<(usize, std::result::Result<(), PushError>)> =
            futures_util::stream::iter(connections.iter().cloned().enumerate())
                .map(|(i, c)| async move { (i, self.post(&c, data).await) })
                .buffer_unordered(concurrency.max(1))
                .collect()
                .await;
        done.sort_by_key(|(i, _)| *i);
        done.into_iter().map(|(_, r)| r).collect()
    }
    /// Closes the connection from the server's side (its `$disconnect` follows).
    async fn close(&self, connection_id: &str) -> std::result::Result<(), PushError>;
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

    async fn close(&self, _: &str) -> std::result::Result<(), PushError> {
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

/// What a publish did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    /// `None` when nobody was subscribed or recently left: the frame went nowhere and
    /// was not kept.
    pub seq: Option<u64>,
    pub delivery: Delivery,
}

pub struct Live {
    store: Arc<dyn ItemStore>,
    clock: SharedClock,
    push: Arc<dyn Push>,
    auth: Arc<Auth>,
    tables: Arc<Tables>,
    limiter: RateLimiter,
    /// Pushes in flight at once per fan-out.
    concurrency: usize,
}

pub(super) fn conn_pk(id: &str) -> String {
    format!("{}{id}", crate::keys::CONNECTION)
}

pub(super) fn user_connections_pk(user_id: &str) -> String {
    format!("{}{user_id}", crate::keys::USER_CONNECTIONS)
}

/// Connection ids come from the gateway; keep them to what a key and a URL path hold.
pub(super) fn valid_connection_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'=' | b'+' | b'/' | b'.')
        })
}

pub(super) fn encode(frame: &Value) -> Vec<u8> {
    serde_json::to_vec(frame).unwrap_or_default()
}

/// A change frame too large to push carries only the record's id: the client fetches it.
pub(super) fn fit_change(mut f: Value) -> Value {
    if encode(&f).len() > MAX_PUSH_BYTES {
        f["record"] = json!({"_id": f["record"]["_id"].clone()});
        f["truncated"] = json!(true);
    }
    f
}

/// What others see of a user: never the openid, phone or groups.
pub fn public_profile(u: &User) -> Value {
    json!({"id": u.id, "nickname": u.nickname, "avatar_url": u.avatar_url})
}

pub(super) fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// The connection a frame came from, as far as a request needs it.
pub(super) struct Origin {
    connection: String,
    caller: Caller,
}

impl Origin {
    pub(super) fn user_id(&self) -> Option<&str> {
        self.caller.user().map(|u| u.id.as_str())
    }

    /// The sender as receivers see it, attached by the server.
    pub(super) fn sender(&self) -> Value {
        json!({
            "connection": self.connection,
            "user": self.caller.user().map(public_profile),
        })
    }
}

impl Live {
    pub fn new(
        store: Arc<dyn ItemStore>,
        clock: SharedClock,
        push: Arc<dyn Push>,
        auth: Arc<Auth>,
        tables: Arc<Tables>,
        limiter: RateLimiter,
        concurrency: usize,
    ) -> Arc<Self> {
        let live = Arc::new(Live {
            store,
            clock,
            push,
            auth,
            tables,
            limiter,
            concurrency: concurrency.max(1),
        });
        let listener: std::sync::Weak<dyn ChangeListener> = Arc::downgrade(&live) as _;
        live.tables.set_listener(listener);
        let sessions: std::sync::Weak<dyn SessionListener> = Arc::downgrade(&live) as _;
        live.auth.set_session_listener(sessions);
        live
    }

    pub(super) fn expiry(&self) -> i64 {
        self.clock.now_ms() / 1000 + CONNECTION_TTL_SECS
    }

    // ---- connections -----------------------------------------------------------------

    /// Records an authenticated connection and tells `presence` subscribers when it is
    /// the user's first. Anonymous callers are refused: live channels carry the sender's
    /// identity.
    pub async fn connect(&self, connection_id: &str, caller: &Caller) -> Result<()> {
        if !valid_connection_id(connection_id) {
            return Err(Error::invalid("bad connection id"));
        }
        let (user, session) = match caller {
            Caller::Anonymous => {
                return Err(Error::new(
                    Code::Unauthenticated,
                    "live channels need a session token (?token=)",
                ));
            }
            Caller::User { user, session } => (Some(user), Some(session)),
            Caller::AdminKey => (None, None),
        };
        let now = self.clock.now_ms();
        let expires = self.expiry();
        let mut attrs = Map::new();
        // The per-user limit: a slot claimed atomically (see `limits`).
        let slot = match user {
            Some(u) => Some(
                limits::claim_connection_slot(
                    self.store.as_ref(),
                    &u.id,
                    connection_id,
                    MAX_CONNECTIONS_PER_USER,
                    expires,
                )
                .await?,
            ),
            None => None,
        };
        if let Some(n) = slot {
            attrs.insert("slot".into(), json!(n));
        }
        attrs.insert("connected_at".into(), json!(now));
        attrs.insert(
            "kind".into(),
            json!(if user.is_some() { "user" } else { "admin" }),
        );
        let mut ops = Vec::with_capacity(3);
        if let (Some(u), Some(session)) = (user, session) {
            attrs.insert("user_id".into(), json!(u.id));
            attrs.insert("session".into(), json!(session));
            let link = obj(json!({"connected_at": now, "session": session}));
            ops.push(WriteOp::put(
                Item::new(user_connections_pk(&u.id), connection_id, link).expiring_at(expires),
                None,
            ));
            ops.push(WriteOp::put(
                Item::new(
                    ONLINE_PK,
                    format!("{}#{connection_id}", u.id),
                    obj(json!({"connected_at": now})),
                )
                .expiring_at(expires),
                None,
            ));
        }
        ops.push(WriteOp::put(
            Item::new(conn_pk(connection_id), "_", attrs).expiring_at(expires),
            None,
        ));
        if let Err(e) = self.store.transact(ops).await {
            if let (Some(u), Some(n)) = (user, slot) {
                let _ =
                    limits::release_connection_slot(self.store.as_ref(), &u.id, n, connection_id)
                        .await;
            }
            return Err(e.into());
        }
        if let Some(u) = user
            && self.user_connections(&u.id).await?.len() == 1
        {
            self.announce_presence(u, "online").await;
        }
        Ok(())
    }

    /// Forgets a connection (idempotent): its subscriptions go, their topics' presence
    /// subscribers hear it leave, and `presence` hears the user go offline with their
    /// last connection.
    pub async fn disconnect(&self, connection_id: &str) -> Result<()> {
        let Some(forgotten) = self.forget(connection_id).await? else {
            return Ok(());
        };
        let Some(uid) = forgotten.user_id else {
            return Ok(());
        };
        let user = match self.auth.get_user(&uid).await {
            Ok(u) => u,
            Err(_) => return Ok(()),
        };
        for t in &forgotten.presence_topics {
            self.topic_presence(t, connection_id, &user, "leave").await;
        }
        if self.user_connections(&uid).await?.is_empty() {
            self.announce_presence(&user, "offline").await;
        }
        Ok(())
    }

    /// Deletes a connection's records; what it was, if it was anything.
    pub(super) async fn forget(&self, connection_id: &str) -> Result<Option<Forgotten>> {
        self.limiter.forget(connection_id);
        if !valid_connection_id(connection_id) {
            return Ok(None);
        }
        let pk = conn_pk(connection_id);
        let Some(item) = self.store.get(&pk, "_").await? else {
            return Ok(None);
        };
        let user_id = item.str("user_id").map(str::to_string);
        let mut presence_topics = Vec::new();
        for topic in self.connection_topics(connection_id).await? {
            if self.drop_subscription(connection_id, &topic).await? {
                presence_topics.push(topic);
            }
        }
        let mut ops = vec![WriteOp::Delete {
            pk,
            sk: "_".into(),
            cond: None,
        }];
        if let Some(u) = &user_id {
            ops.push(WriteOp::Delete {
                pk: user_connections_pk(u),
                sk: connection_id.into(),
                cond: None,
            });
            ops.push(WriteOp::Delete {
                pk: ONLINE_PK.into(),
                sk: format!("{u}#{connection_id}"),
                cond: None,
            });
        }
        self.store.transact(ops).await?;
        if let (Some(u), Some(n)) = (&user_id, item.get("slot").and_then(Value::as_u64)) {
            limits::release_connection_slot(self.store.as_ref(), u, n, connection_id).await?;
        }
        Ok(Some(Forgotten {
            user_id,
            presence_topics,
        }))
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

    pub(super) async fn all_keys(&self, pk: String) -> Result<Vec<Item>> {
        let mut out = Vec::new();
        let mut cursor = None;
        loop {
            let page = self
                .store
                .query(Query::partition(pk.clone()).limit(1000).after(cursor))
                .await?;
            out.extend(page.items);
            match page.cursor {
                Some(c) => cursor = Some(c),
                None => return Ok(out),
            }
        }
    }

    /// Every open connection of a user.
    pub async fn user_connections(&self, user_id: &str) -> Result<Vec<String>> {
        Ok(self
            .all_keys(user_connections_pk(user_id))
            .await?
            .into_iter()
            .map(|i| i.sk)
            .collect())
    }

    pub(super) async fn connection_topics(&self, connection_id: &str) -> Result<Vec<String>> {
        Ok(self
            .all_keys(topics::conn_subs_pk(connection_id))
            .await?
            .into_iter()
            .map(|i| i.sk)
            .collect())
    }

    /// Sends one frame to every connection of a user.
    pub async fn send_to_user(&self, user_id: &str, frame: &Value) -> Result<Delivery> {
        let conns = self.user_connections(user_id).await?;
        Ok(self.deliver(&conns, &encode(frame)).await)
    }

    // ---- frames ----------------------------------------------------------------------

    /// Handles one frame from a connection; the answers go back through the push port,
    /// in order, ending with the `ack` (or `pong`, or `error`) that carries the frame's
    /// `id`.
    pub async fn on_frame(&self, connection_id: &str, frame: &[u8]) -> Result<Delivery> {
        let now = self.clock.now_ms() / 1000;
        let admitted = self
            .limiter
            .admit(
                self.store.as_ref(),
                &conn_pk(connection_id),
                connection_id,
                now,
            )
            .await?;
        let replies = match admitted {
            limits::Admit::Limited => vec![error_frame(
                Code::RateLimited.as_str(),
                &format!(
                    "at most {RATE_LIMIT} frames per {RATE_WINDOW_SECS} seconds on one connection"
                ),
                protocol::parse(frame).ok().and_then(|(id, _)| id).as_ref(),
            )],
            limits::Admit::Open(conn) => match protocol::parse(frame) {
                Err(refusal) => vec![refusal],
                Ok((id, req)) if !self.session_holds(&conn, &req).await? => {
                    // Logged out (or expired) while the socket was open: say so and close.
                    let f = error_frame(
                        Code::Unauthenticated.as_str(),
                        "the session this connection was opened with has ended; log in again",
                        id.as_ref(),
                    );
                    self.deliver(&[connection_id.to_string()], &encode(&f))
                        .await;
                    let _ = self.push.close(connection_id).await;
                    return Ok(Delivery::default());
                }
                Ok((id, req)) => {
                    let user_id = match conn.str("kind") {
                        // Connections recorded before `kind` existed: by their user.
                        Some("admin") => None,
                        _ => conn.str("user_id").map(str::to_string),
                    };
                    match self.handle(connection_id, user_id, req).await {
                        Ok(mut frames) => {
                            if let (Some(id), Some(last)) = (id, frames.last_mut()) {
                                last["id"] = id;
                            }
                            frames
                        }
                        Err(e) => vec![error_frame(e.code_str(), &e.message, id.as_ref())],
                    }
                }
            },
        };
        let mut d = Delivery::default();
        for f in replies {
            let one = self
                .deliver(&[connection_id.to_string()], &encode(&f))
                .await;
            d.sent += one.sent;
            d.gone += one.gone;
            d.failed += one.failed;
            if one.sent == 0 {
                break;
            }
        }
        Ok(d)
    }

    /// Whether the connection's session still stands (pings cost no store read).
    pub(super) async fn session_holds(&self, conn: &Item, req: &Request) -> Result<bool> {
        if matches!(req, Request::Ping | Request::Pong) {
            return Ok(true);
        }
        match conn.str("session") {
            Some(s) => self.auth.session_alive(s).await,
            // The admin key has no session; a user connection always has one.
            None => Ok(conn.str("user_id").is_none()),
        }
    }

    pub(super) async fn caller_for(&self, user_id: Option<&str>) -> Result<Caller> {
        match user_id {
            None => Ok(Caller::AdminKey),
            Some(u) => match self.auth.get_user(u).await {
                Ok(user) => Ok(Caller::User {
                    user: std::sync::Arc::new(user),
                    session: String::new(),
                }),
                Err(e) if e.code == Code::NotFound => Err(Error::new(
                    Code::Unauthenticated,
                    "this connection's user no longer exists",
                )),
                Err(e) => Err(e),
            },
        }
    }

    /// The frames answering one request; the last is the reply.
    pub(super) async fn handle(
        &self,
        connection: &str,
        user_id: Option<String>,
        req: Request,
    ) -> Result<Vec<Value>> {
        match req {
            Request::Ping => return Ok(vec![json!({"type": "pong"})]),
            Request::Pong => return Ok(vec![]),
            _ => {}
        }
        let from = Origin {
            connection: connection.to_string(),
            caller: self.caller_for(user_id.as_deref()).await?,
        };
        match req {
            Request::Ping | Request::Pong => Ok(vec![]),
            Request::Hello => Ok(vec![json!({
                "type": "ack",
                "version": PROTOCOL_VERSION,
                "connection": connection,
                "user": from.caller.user().map(public_profile),
                "limits": {
                    "frame_bytes": MAX_FRAME_BYTES,
                    "topics": MAX_TOPICS_PER_CONNECTION,
                    "frames": RATE_LIMIT,
                    "per_seconds": RATE_WINDOW_SECS,
                    "idle_seconds": IDLE_TIMEOUT_SECS,
                    "connection_seconds": MAX_CONNECTION_SECS,
                },
                "retention_seconds": RETENTION_SECS,
            })]),
            Request::Send { to, cmd, body } => {
                let d = self.send(&from, to, cmd, body).await?;
                Ok(vec![json!({"type": "ack", "delivered": d.sent})])
            }
            Request::Subscribe {
                topic,
                since,
                filter,
                presence,
            } => self.subscribe(&from, &topic, since, filter, presence).await,
            Request::Unsubscribe { topic } => {
                self.unsubscribe(&from, &topic).await?;
                Ok(vec![json!({"type": "ack", "topic": topic})])
            }
            Request::Publish { topic, data } => {
                let p = self.publish_from(&from, &topic, data).await?;
                Ok(vec![json!({
                    "type": "ack",
                    "topic": topic,
                    "seq": p.seq,
                    "delivered": p.delivery.sent,
                })])
            }
            Request::Online { topic } => {
                let (users, more) = self.online(&from.caller, topic.as_deref()).await?;
                Ok(vec![json!({"type": "ack", "users": users, "more": more})])
            }
        }
    }

    // ---- direct messages -------------------------------------------------------------

    pub(super) async fn send(
        &self,
        from: &Origin,
        to: Target,
        cmd: String,
        body: Value,
    ) -> Result<Delivery> {
        let rules = self.rules().await?;
        if !topics::rule_for(topics::DIRECT, &rules)
            .publish
            .allows(&from.caller, topics::DIRECT)
        {
            return Err(Error::forbidden("you may not send direct messages"));
        }
        let conns = match to {
            Target::User(u) => self.user_connections(&u).await?,
            Target::Connection(c) => {
                if valid_connection_id(&c) && self.store.get(&conn_pk(&c), "_").await?.is_some() {
                    vec![c]
                } else {
                    vec![]
                }
            }
        };
        let frame = json!({"type": "message", "cmd": cmd, "body": body, "from": from.sender()});
        Ok(self.deliver(&conns, &encode(&frame)).await)
    }

    // ---- presence --------------------------------------------------------------------

    /// Tells `presence` subscribers that a user came online or went offline.
    pub(super) async fn announce_presence(&self, user: &User, state: &str) {
        let frame = json!({
            "type": "presence",
            "topic": topics::PRESENCE,
            "state": state,
            "user": public_profile(user),
        });
        match self.subscribers(topics::PRESENCE).await {
            Ok((subs, _)) => {
                let conns: Vec<String> = subs.into_iter().map(|s| s.connection).collect();
                self.deliver(&conns, &encode(&frame)).await;
            }
            Err(e) => tracing::warn!(error = %e, "presence not announced"),
        }
    }

    /// Tells a topic's presence subscribers (but not the connection itself) that a
    /// connection joined or left.
    pub(super) async fn topic_presence(
        &self,
        topic: &str,
        connection: &str,
        user: &User,
        state: &str,
    ) {
        let frame = json!({
            "type": "presence",
            "topic": topic,
            "state": state,
            "user": public_profile(user),
            "connection": connection,
        });
        match self.subscribers(topic).await {
            Ok((subs, _)) => {
                let conns: Vec<String> = subs
                    .into_iter()
                    .filter(|s| s.presence && s.connection != connection)
                    .map(|s| s.connection)
                    .collect();
                self.deliver(&conns, &encode(&frame)).await;
            }
            Err(e) => tracing::warn!(error = %e, topic, "presence not announced"),
        }
    }

    /// Who is online: app-wide (under the `presence` rule) or subscribed to a topic
    /// (under its subscribe rule). Public profiles, at most [`MAX_ONLINE`].
    pub async fn online(&self, caller: &Caller, topic: Option<&str>) -> Result<(Vec<Value>, bool)> {
        let topic_name = topic.unwrap_or(topics::PRESENCE);
        match topics::parse(topic_name)? {
            Topic::Table(_) => {
                return Err(Error::invalid_field("topic", "tables have no presence"));
            }
            Topic::Plain(_) | Topic::Presence => {
                if !self
                    .rule(topic_name)
                    .await?
                    .subscribe
                    .allows(caller, topic_name)
                {
                    return Err(Error::forbidden(format!(
                        "you may not see who is on {topic_name:?}"
                    )));
                }
            }
        }
        let mut ids: Vec<String> = match topic {
            None => self
                .all_keys(ONLINE_PK.into())
                .await?
                .into_iter()
                .filter_map(|i| i.sk.split_once('#').map(|(u, _)| u.to_string()))
                .collect(),
            Some(t) => self
                .subscribers(t)
                .await?
                .0
                .into_iter()
                .filter_map(|s| s.user_id)
                .collect(),
        };
        ids.sort();
        ids.dedup();
        let more = ids.len() > MAX_ONLINE;
        let mut users = Vec::new();
        for id in ids.into_iter().take(MAX_ONLINE) {
            if let Ok(u) = self.auth.get_user(&id).await {
                users.push(public_profile(&u));
            }
        }
        Ok((users, more))
    }

    // ---- delivery --------------------------------------------------------------------

    /// Pushes `data` to each connection, at most `concurrency` at a time. Connections found
    /// gone are forgotten.
    pub async fn deliver(&self, connections: &[String], data: &[u8]) -> Delivery {
        let results = self
            .push
            .post_to_all(connections, data, self.concurrency)
            .await;
        self.tally(connections.iter().cloned().zip(results).collect())
            .await
    }

    pub(super) async fn tally(
        &self,
        results: Vec<(String, std::result::Result<(), PushError>)>,
    ) -> Delivery {
        let mut d = Delivery::default();
        for (c, r) in results {
            match r {
                Ok(()) => d.sent += 1,
                Err(PushError::Gone) => {
                    d.gone += 1;
                    if let Err(e) = self.forget(&c).await {
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

    /// Turns one committed record change into `change` frames for the table's
    /// subscribers, each judged by the table's rules for that subscriber now.
    ///
    /// The change is logged under the topic's next position (for resumes), but frames
    /// carry the watch's own numbers (`seq` 1, 2, …; see [`Live::number`]): a topic-wide
    /// number would grow with every write a subscriber may not see, and so tell it how
    /// many there were.
    pub(super) async fn table_changed(&self, change: RecordChange) -> Result<Delivery> {
        let topic = format!("{}{}", topics::TABLE_PREFIX, change.table);
        let (subs, pos) = self
            .sequenced(
                &topic,
                |_| json!({"id": change.id, "before": change.before, "after": change.after}),
            )
            .await?;
        if subs.is_empty() {
            return Ok(Delivery::default());
        }
        let schema = self.tables.schema(&change.table).await?;
        let mut callers: HashMap<Option<String>, Option<Caller>> = HashMap::new();
        let mut frames = Vec::new();
        for sub in subs {
            if !callers.contains_key(&sub.user_id) {
                let c = self.caller_for(sub.user_id.as_deref()).await.ok();
                callers.insert(sub.user_id.clone(), c);
            }
            let Some(Some(caller)) = callers.get(&sub.user_id) else {
                continue;
            };
            if let Some(f) = changes::change_frame(
                &schema,
                caller,
                sub.filter.as_ref(),
                &change.id,
                change.before.as_ref(),
                change.after.as_ref(),
            ) {
                frames.push((sub, f));
            }
        }
        let pk = topics::sub_pk(&topic);
        let pk = pk.as_str();
        let results: Vec<_> = futures_util::stream::iter(frames)
            .map(|(c, mut f)| async move {
                let r = match self.number(pk, &c, pos).await {
                    Ok(Some(n)) => {
                        f["seq"] = json!(n);
                        Some(self.push.post(&c.connection, &encode(&fit_change(f))).await)
                    }
                    // Unsubscribed since, or its subscribe replayed this change.
                    Ok(None) => None,
                    Err(e) => Some(Err(PushError::Failed(e.to_string()))),
                };
                (c.connection, r)
            })
            .buffer_unordered(self.concurrency)
            .collect()
            .await;
        Ok(self
            .tally(
                results
                    .into_iter()
                    .filter_map(|(c, r)| r.map(|r| (c, r)))
                    .collect(),
            )
            .await)
    }

    /// The watch's next number for the change at topic position `pos`: one conditional
    /// write on its record, from the number and positions its record had when the
    /// subscribers were read (read again if another change numbered it meanwhile). `None`
    /// when it is gone or its subscribe covered the change (positions up to `r`).
    ///
    /// `p` is the highest position numbered; the ring (`h<m mod WATCH_RING>` =
    /// `[m, p]`) lets a resume start from any of the latest numbers.
    pub(super) async fn number(
        &self,
        pk: &str,
        sub: &Sub,
        pos: Option<u64>,
    ) -> std::result::Result<Option<u64>, StoreError> {
        let Some(q) = pos else {
            // Not logged (cannot happen with subscribers): numbered, not resumable.
            let upd = Update::default().add("n", 1);
            return match self
                .store
                .update(pk, &sub.connection, upd, Some(Cond::Exists))
                .await
            {
                Ok(item) => Ok(item.get("n").and_then(Value::as_u64)),
                Err(StoreError::ConditionFailed) => Ok(None),
                Err(e) => Err(e),
            };
        };
        let (mut n, mut p, mut r) = (sub.n, sub.p, sub.r);
        for _ in 0..MAX_RENUMBER_TRIES {
            if q <= r {
                return Ok(None);
            }
            let (next, high) = (n + 1, p.max(q));
            let upd = Update::default()
                .set("n", next)
                .set("p", high)
                .set(&topics::ring_attr(next), json!([next, high]));
            let cond = Cond::And(vec![Cond::Exists, same_count("n", n), same_count("p", p)]);
            match self
                .store
                .update(pk, &sub.connection, upd, Some(cond))
                .await
            {
                Ok(_) => return Ok(Some(next)),
                Err(StoreError::ConditionFailed) => {
                    let Some(item) = self.store.get(pk, &sub.connection).await? else {
                        return Ok(None);
                    };
                    let now = Sub::from_item(&item);
                    (n, p, r) = (now.n, now.p, now.r);
                }
                Err(e) => return Err(e),
            }
        }
        Err(StoreError::Invalid(
            "a watch kept changing while its frame was numbered".into(),
        ))
    }
}

/// Counter `attr` is at `n` (an absent counter, or item, is at 0).
pub(super) fn same_count(attr: &str, n: u64) -> Cond {
    let is = Cond::eq(attr, n);
    if n == 0 {
        Cond::Or(vec![is, Cond::AttrNotExists(attr.into())])
    } else {
        is
    }
}

pub(super) struct Forgotten {
    user_id: Option<String>,
    /// Topics whose presence subscribers should hear this connection leave.
    presence_topics: Vec<String>,
}

#[async_trait]
impl SessionListener for Live {
    async fn sessions_ended(&self, user_id: &str, sessions: &[String]) {
        let links = match self.all_keys(user_connections_pk(user_id)).await {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(error = %e, "could not list the connections of a logged-out session");
                return;
            }
        };
        for link in links {
            if link
                .str("session")
                .is_some_and(|s| sessions.iter().any(|x| x == s))
            {
                let conn = link.sk;
                if let Err(e) = self.push.close(&conn).await {
                    tracing::warn!(connection = %conn, error = %e, "could not close a logged-out connection");
                }
                // Its records go now; the socket's own disconnect finds nothing left.
                if let Err(e) = self.disconnect(&conn).await {
                    tracing::warn!(connection = %conn, error = %e, "could not forget a logged-out connection");
                }
            }
        }
    }
}

#[async_trait]
impl ChangeListener for Live {
    async fn records_changed(&self, changes: Vec<RecordChange>) {
        for c in changes {
            let table = c.table.clone();
            if let Err(e) = self.table_changed(c).await {
                tracing::warn!(table, error = %e, "table event not delivered");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oversized_change_frames_carry_only_the_id() {
        let small = json!({"type": "change", "record": {"_id": "r1", "t": "x"}});
        assert_eq!(fit_change(small.clone()), small);
        let big =
            json!({"type": "change", "record": {"_id": "r1", "t": "x".repeat(MAX_PUSH_BYTES)}});
        assert_eq!(
            fit_change(big),
            json!({"type": "change", "record": {"_id": "r1"}, "truncated": true})
        );
    }

    #[test]
    fn connection_ids_are_checked() {
        assert!(valid_connection_id("L0SM9cOFvHcCIhw="));
        assert!(!valid_connection_id(""));
        assert!(!valid_connection_id("a#b"));
        assert!(valid_connection_id("a/b+c"));
        assert!(!valid_connection_id("a b"));
        assert!(!valid_connection_id("~"));
    }
}
