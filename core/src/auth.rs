//! WeChat login, users, sessions and admin access.
//!
//! Store layout (one item store, see `store.rs`):
//! * `user#<id>` / `_`      — the user (profile, groups, openid)
//! * `openid#<openid>` / `_` — unique openid → user id, written with the user in one transaction
//! * `users` / `<id>`       — the listing of all users, for admins
//! * `session#<sha256(token)>` / `_` — a session; the token itself is never stored. The
//!   item expires with the session (store TTL), so an expired token is simply absent.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::clock::SharedClock;
use crate::error::{Code, Error, Result};
use crate::ids;
use crate::store::{Cond, Item, ItemStore, Query, StoreError, Update, WriteOp};
use crate::wechat::{WeChat, WxApi, WxError};

pub mod dump;

pub const ADMIN_GROUP: &str = "admin";
const MAX_GROUPS: usize = 32;
const MAX_PROFILE_BYTES: usize = 8 * 1024;

#[derive(Debug, Clone)]
pub struct AuthConfig {
    pub session_ttl_secs: i64,
    /// How long a refreshed-away token keeps working, so that two tabs refreshing at
    /// once do not log each other out.
    pub refresh_grace_secs: i64,
    pub admin_key: Option<String>,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            session_ttl_secs: 30 * 24 * 3600,
            refresh_grace_secs: 60,
            admin_key: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct User {
    pub id: String,
    pub openid: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unionid: Option<String>,
    #[serde(default)]
    pub nickname: Option<String>,
    #[serde(default)]
    pub avatar_url: Option<String>,
    #[serde(default)]
    pub phone: Option<String>,
    #[serde(default)]
    pub groups: Vec<String>,
    #[serde(default)]
    pub profile: Map<String, Value>,
    pub created_at: i64,
    pub updated_at: i64,
    /// Version, bumped on every change (optimistic concurrency).
    #[serde(default)]
    pub v: i64,
}

impl User {
    pub fn in_group(&self, g: &str) -> bool {
        self.groups.iter().any(|x| x == g)
    }
}

/// Who is calling.
#[derive(Debug, Clone)]
pub enum Caller {
    Anonymous,
    User {
        /// Shared with the session cache: handing a caller on copies no profile.
        user: std::sync::Arc<User>,
        session: String,
    },
    /// Holder of the configured admin key.
    AdminKey,
}

#[cfg(test)]
impl Caller {
    /// A logged-in user with these groups, for tests.
    pub(crate) fn test_user(id: &str, groups: &[&str]) -> Caller {
        Caller::User {
            user: std::sync::Arc::new(User {
                id: id.into(),
                openid: format!("o-{id}"),
                unionid: None,
                nickname: None,
                avatar_url: None,
                phone: None,
                groups: groups.iter().map(|g| g.to_string()).collect(),
                profile: Map::new(),
                created_at: 0,
                updated_at: 0,
                v: 0,
            }),
            session: String::new(),
        }
    }
}

impl Caller {
    pub fn is_admin(&self) -> bool {
        match self {
            Caller::AdminKey => true,
            Caller::User { user, .. } => user.in_group(ADMIN_GROUP),
            Caller::Anonymous => false,
        }
    }

    /// The one admin check: 401 for anonymous callers, 403 for users outside `admin`.
    pub fn require_admin(&self) -> Result<()> {
        match self {
            Caller::Anonymous => Err(Error::new(
                Code::Unauthenticated,
                "admins only: log in or use the admin key",
            )),
            c if c.is_admin() => Ok(()),
            _ => Err(Error::forbidden("admins only")),
        }
    }

    pub fn user(&self) -> Option<&User> {
        match self {
            Caller::User { user, .. } => Some(user),
            _ => None,
        }
    }

    /// The caller as cloud functions and hooks see it: `{kind: "user", id, nickname,
    /// avatar_url, groups}`, `{kind: "anonymous"}` or `{kind: "admin"}`. Never the
    /// session, the openid or the phone.
    pub fn view(&self) -> Value {
        match self {
            Caller::Anonymous => serde_json::json!({"kind": "anonymous"}),
            Caller::AdminKey => serde_json::json!({"kind": "admin"}),
            Caller::User { user, .. } => serde_json::json!({
                "kind": "user", "id": user.id, "nickname": user.nickname,
                "avatar_url": user.avatar_url, "groups": user.groups,
            }),
        }
    }

    /// [`Caller::view`] with a user's `openid` and `unionid` (`null` when WeChat gave
    /// none): what server code (cloud functions' `context.caller`) sees. Never put in an
    /// answer by the server itself.
    pub fn server_view(&self) -> Value {
        let mut v = self.view();
        if let Caller::User { user, .. } = self {
            v["openid"] = serde_json::json!(user.openid);
            v["unionid"] = serde_json::json!(user.unionid);
        }
        v
    }
}

#[derive(Debug, Clone)]
pub struct Login {
    pub token: String,
    pub expires_at: i64,
    pub user: User,
}

/// A profile change; absent fields stay, `null` clears, `profile` keys merge (`null`
/// removes a key).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfilePatch {
    #[serde(default, deserialize_with = "double_option")]
    pub nickname: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    pub avatar_url: Option<Option<String>>,
    /// A file to show as the avatar (a ready, public image of the user's own):
    /// `avatar_url` becomes its stable URL, `<origin>/v1/files/<id>/content`. `null`
    /// clears the avatar, as `avatar_url: null` does. Not with `avatar_url`.
    #[serde(default, deserialize_with = "double_option")]
    pub avatar_file: Option<Option<String>>,
    #[serde(default)]
    pub profile: Option<Map<String, Value>>,
}

/// What profiles need of the files area (which depends on this module, not the
/// reverse): a file a user may show as their avatar.
#[async_trait::async_trait]
pub trait AvatarFiles: Send + Sync {
    /// The path of `file_id`'s bytes (`/v1/files/<id>/content`) when it is a ready,
    /// public image that `user_id` owns; else 400 `FILE_NOT_USABLE`.
    async fn avatar_path(&self, user_id: &str, file_id: &str) -> Result<String>;
}

fn double_option<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

pub struct Auth {
    store: Arc<dyn ItemStore>,
    /// WeChat's login and server API, with the app's shared access token.
    wechat: Arc<WxApi>,
    clock: SharedClock,
    cfg: AuthConfig,
    ended: std::sync::OnceLock<std::sync::Weak<dyn SessionListener>>,
    /// Session key → (user id, expires at ms); see [`crate::cache`].
    sessions: crate::cache::Cache<(String, i64)>,
    /// Users as sessions see them.
    users: crate::cache::Cache<std::sync::Arc<User>>,
    /// Files as avatars; `None` where there are no files (then `avatar_file` is refused).
    avatars: Option<Arc<dyn AvatarFiles>>,
}

/// Hears about sessions that ended by logout (the live-channel service closes their
/// sockets).
#[async_trait::async_trait]
pub trait SessionListener: Send + Sync {
    /// `sessions` are session keys (as in [`Caller::User`]) of `user_id` that no longer
    /// exist.
    async fn sessions_ended(&self, user_id: &str, sessions: &[String]);
}

/// Sessions a refreshed session remembers having replaced (each still in its grace
/// period), so that logging out ends them too.
const MAX_REPLACED: usize = 4;

/// Bidirectional formatting characters: in a name they reorder what is shown around it.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// A display name: 1 to 64 characters, not only spaces, no control or bidi characters.
/// Whether a configured admin key may be used: at least 16 characters, and not a
/// documentation placeholder pasted as is (`replace-me-…`, `changeme`, one repeated
/// character). Both faces refuse to start with such a key.
pub fn check_admin_key(key: &str) -> std::result::Result<(), String> {
    if key.chars().count() < 16 {
        return Err("the admin key must be at least 16 characters".into());
    }
    let lower = key.to_ascii_lowercase();
    let placeholder = [
        "replace-me",
        "replace_me",
        "changeme",
        "change-me",
        "your-admin-key",
    ]
    .iter()
    .any(|p| lower.contains(p));
    let mut chars = key.chars();
    let first = chars.next();
    if placeholder || chars.all(|c| Some(c) == first) {
        return Err(
            "the admin key is a placeholder; generate one with `openssl rand -hex 32`".into(),
        );
    }
    Ok(())
}

pub fn valid_nickname(n: &str) -> bool {
    !n.trim().is_empty()
        && n.chars().count() <= 64
        && !n.chars().any(|c| c.is_control() || is_bidi_control(c))
}

/// An `http(s)://host…` URL of at most 1024 bytes with no spaces or control characters.
pub fn valid_http_url(u: &str) -> bool {
    let rest = u
        .strip_prefix("https://")
        .or_else(|| u.strip_prefix("http://"));
    let Some(rest) = rest else {
        return false;
    };
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    u.len() <= 1024
        && !host.is_empty()
        && !host.starts_with(':')
        && !host.contains('@')
        && !u
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || is_bidi_control(c))
}

fn user_pk(id: &str) -> String {
    format!("{}{id}", crate::keys::USER)
}

fn session_pk(token: &str) -> String {
    format!("{}{}", crate::keys::SESSION, ids::token_hash(token))
}

fn to_attrs<T: Serialize>(v: &T) -> Result<Map<String, Value>> {
    match serde_json::to_value(v) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(Error::internal("cannot encode record")),
    }
}

fn user_from(item: &Item) -> Result<User> {
    serde_json::from_value(Value::Object(item.attrs.clone()))
        .map_err(|e| Error::internal(format!("corrupt user record {}: {e}", item.pk)))
}

impl Auth {
    pub fn new(
        store: Arc<dyn ItemStore>,
        wechat: Arc<dyn WeChat>,
        clock: SharedClock,
        cfg: AuthConfig,
    ) -> Self {
        Auth {
            wechat: Arc::new(WxApi::new(wechat, store.clone(), clock.clone())),
            store,
            clock,
            cfg,
            ended: std::sync::OnceLock::new(),
            sessions: crate::cache::Cache::new(crate::cache::Freshness::None, 10_000),
            users: crate::cache::Cache::new(crate::cache::Freshness::None, 10_000),
            avatars: None,
        }
    }

    /// Where `avatar_file` finds its files (the files service).
    pub fn with_avatars(mut self, avatars: Arc<dyn AvatarFiles>) -> Self {
        self.avatars = Some(avatars);
        self
    }

    /// WeChat's server API with the app's access token (text checks, subscribe
    /// messages, cloud functions' `wechat` module).
    pub fn wechat(&self) -> &Arc<WxApi> {
        &self.wechat
    }

    /// Caches sessions and users (see [`crate::cache`]).
    pub fn with_cache(mut self, f: crate::cache::Freshness) -> Self {
        self.sessions = crate::cache::Cache::new(f, 10_000);
        self.users = crate::cache::Cache::new(f, 10_000);
        self
    }

    /// Who hears about sessions ended by logout.
    pub fn set_session_listener(&self, l: std::sync::Weak<dyn SessionListener>) {
        let _ = self.ended.set(l);
    }

    /// Whether a session (a key as in [`Caller::User`]) still exists and has not
    /// expired: open sockets check it on every frame.
    pub async fn session_alive(&self, session: &str) -> Result<bool> {
        Ok(self.store.get(session, "_").await?.is_some_and(|s| {
            s.get("expires_at").and_then(Value::as_i64).unwrap_or(0) > self.clock.now_ms()
        }))
    }

    pub fn store(&self) -> &Arc<dyn ItemStore> {
        &self.store
    }

    pub fn clock(&self) -> &SharedClock {
        &self.clock
    }

    /// Exchanges a `wx.login()` code for a session; creates the user on first login.
    pub async fn login(&self, code: &str) -> Result<Login> {
        if code.is_empty() || code.len() > 256 {
            return Err(Error::invalid_field(
                "code",
                "code must be 1 to 256 characters",
            ));
        }
        let wx = self.wechat.code_to_session(code).await?;
        let user = self
            .find_or_create_user(&wx.openid, wx.unionid.as_deref())
            .await?;
        let (token, expires_at) = self.new_session(&user.id, &wx.session_key, None).await?;
        Ok(Login {
            token,
            expires_at,
            user,
        })
    }

    async fn find_or_create_user(&self, openid: &str, unionid: Option<&str>) -> Result<User> {
        let index_pk = format!("{}{openid}", crate::keys::OPENID);
        // Two first logins may race; the loser of the create finds the winner's user.
        for _ in 0..3 {
            if let Some(ix) = self.store.get(&index_pk, "_").await? {
                let id = ix.str("user_id").unwrap_or_default().to_string();
                let mut user = self.get_user(&id).await?;
                if unionid.is_some() && user.unionid.as_deref() != unionid {
                    user = self
                        .modify_user(&id, |u| {
                            u.unionid = unionid.map(str::to_string);
                            Ok(())
                        })
                        .await?;
                }
                return Ok(user);
            }
            let now = self.clock.now_ms();
            let user = User {
                id: ids::new_id(now),
                openid: openid.to_string(),
                unionid: unionid.map(str::to_string),
                nickname: None,
                avatar_url: None,
                phone: None,
                groups: vec![],
                profile: Map::new(),
                created_at: now,
                updated_at: now,
                v: 1,
            };
            let mut ix = Map::new();
            ix.insert("user_id".into(), json!(user.id));
            let mut listing = Map::new();
            listing.insert("created_at".into(), json!(now));
            let ops = vec![
                WriteOp::put(Item::new(&index_pk, "_", ix), Some(Cond::NotExists)),
                WriteOp::put(
                    Item::new(user_pk(&user.id), "_", to_attrs(&user)?),
                    Some(Cond::NotExists),
                ),
                WriteOp::put(
                    Item::new(crate::keys::USERS, &user.id, listing),
                    Some(Cond::NotExists),
                ),
            ];
            match self.store.transact(ops).await {
                Ok(()) => {
                    tracing::info!(user_id = %user.id, "new user");
                    return Ok(user);
                }
                Err(StoreError::TransactionCanceled { .. }) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(Error::new(
            Code::Conflict,
            "could not create the user; retry",
        ))
    }

    /// `replacing`: the session being refreshed (its key and its item, as read).
    async fn new_session(
        &self,
        user_id: &str,
        session_key: &str,
        replacing: Option<(&str, &Item)>,
    ) -> Result<(String, i64)> {
        let now = self.clock.now_ms();
        let expires_at = now + self.cfg.session_ttl_secs * 1000;
        let token = ids::new_token();
        let mut attrs = Map::new();
        attrs.insert("user_id".into(), json!(user_id));
        attrs.insert("created_at".into(), json!(now));
        attrs.insert("expires_at".into(), json!(expires_at));
        attrs.insert("session_key".into(), json!(session_key));
        let mut ops = vec![];
        if let Some((old, before)) = replacing {
            // Logging out of the new session ends the ones it replaced (in their grace).
            let mut replaced = vec![json!(old)];
            if let Some(list) = before.get("replaces").and_then(Value::as_array) {
                replaced.extend(list.iter().take(MAX_REPLACED - 1).cloned());
            }
            attrs.insert("replaces".into(), Value::Array(replaced));
        }
        let item =
            Item::new(session_pk(&token), "_", attrs).expiring_at(expires_at.div_euclid(1000) + 1);
        ops.push(WriteOp::put(item, Some(Cond::NotExists)));
        if let Some((old, before)) = replacing {
            let old_expires_at = before
                .get("expires_at")
                .and_then(Value::as_i64)
                .unwrap_or(0);
            // The old token ends after the grace period, never later than it would have.
            let grace_ms = (now + self.cfg.refresh_grace_secs * 1000).min(old_expires_at);
            ops.push(WriteOp::Update {
                pk: old.to_string(),
                sk: "_".into(),
                update: Update {
                    set: vec![
                        ("expires_at".into(), json!(grace_ms)),
                        ("refreshed".into(), json!(true)),
                    ],
                    expires_at: Some(Some(grace_ms.div_euclid(1000) + 1)),
                    ..Default::default()
                },
                // A session may be refreshed once; the grace window is not extended.
                cond: Some(Cond::AttrNotExists("refreshed".into())),
            });
        }
        match self.store.transact(ops).await {
            Ok(()) => Ok((token, expires_at)),
            Err(StoreError::TransactionCanceled { .. }) if replacing.is_some() => Err(Error::new(
                Code::InvalidToken,
                "this session was already refreshed or has ended",
            )),
            Err(e) => Err(e.into()),
        }
    }

    /// Resolves an `Authorization: Bearer` value.
    /// Who a bearer token is, read from the store whatever the caches hold: for opening
    /// a socket, which then lives for hours.
    pub async fn authenticate_fresh(&self, bearer: Option<&str>) -> Result<Caller> {
        self.identify(bearer, false).await
    }

    /// Who a bearer token is; sessions and users may come from the cache.
    pub async fn authenticate(&self, bearer: Option<&str>) -> Result<Caller> {
        self.identify(bearer, true).await
    }

    async fn identify(&self, bearer: Option<&str>, cached: bool) -> Result<Caller> {
        let Some(token) = bearer else {
            return Ok(Caller::Anonymous);
        };
        if let Some(key) = &self.cfg.admin_key
            && ids::secret_eq(token, key)
        {
            return Ok(Caller::AdminKey);
        }
        let invalid = || Error::new(Code::InvalidToken, "the token is invalid or has expired");
        if !token.starts_with("yq_") || token.len() > 128 {
            return Err(invalid());
        }
        let session_pk = session_pk(token);
        let now = self.clock.now_ms();
        let (user_id, expires_at) = match self.sessions.get(&session_pk, now).filter(|_| cached) {
            Some(s) => s,
            None => {
                let session = self
                    .store
                    .get(&session_pk, "_")
                    .await?
                    .ok_or_else(invalid)?;
                let user_id = session.str("user_id").ok_or_else(invalid)?.to_string();
                let expires_at = session
                    .get("expires_at")
                    .and_then(Value::as_i64)
                    .unwrap_or(0);
                self.sessions
                    .put(&session_pk, (user_id.clone(), expires_at), now);
                (user_id, expires_at)
            }
        };
        // The store hides items past their TTL second; this is the millisecond check.
        if expires_at <= now {
            return Err(invalid());
        }
        let user = match self.users.get(&user_id, now).filter(|_| cached) {
            Some(u) => u,
            None => {
                let u = std::sync::Arc::new(self.get_user(&user_id).await.map_err(|_| invalid())?);
                self.users.put(&user_id, u.clone(), now);
                u
            }
        };
        Ok(Caller::User {
            user,
            session: session_pk,
        })
    }

    /// Ends the caller's session, the sessions it replaced by refreshing, and (through
    /// the session listener) every socket opened with any of them.
    pub async fn logout(&self, caller: &Caller) -> Result<()> {
        let Caller::User { session, user } = caller else {
            return Err(Error::new(Code::Unauthenticated, "log in first"));
        };
        let mut ended = vec![session.clone()];
        if let Some(item) = self.store.get(session, "_").await? {
            ended.extend(
                item.get("replaces")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .filter(|s| s.starts_with(crate::keys::SESSION))
                    .map(str::to_string),
            );
        }
        let ops = ended
            .iter()
            .map(|s| WriteOp::Delete {
                pk: s.clone(),
                sk: "_".into(),
                cond: None,
            })
            .collect();
        let r = self.store.transact(ops).await;
        for s in &ended {
            self.sessions.forget(s);
        }
        r?;
        if let Some(l) = self.ended.get().and_then(std::sync::Weak::upgrade) {
            l.sessions_ended(&user.id, &ended).await;
        }
        Ok(())
    }

    /// Issues a new token for the caller's session; the old token keeps working for the
    /// grace period and then ends.
    pub async fn refresh(&self, caller: &Caller) -> Result<Login> {
        let Caller::User { user, session } = caller else {
            return Err(Error::new(Code::Unauthenticated, "log in first"));
        };
        let old = self
            .store
            .get(session, "_")
            .await?
            .ok_or_else(|| Error::new(Code::InvalidToken, "the session has ended"))?;
        let key = old.str("session_key").unwrap_or_default().to_string();
        let r = self
            .new_session(&user.id, &key, Some((session.as_str(), &old)))
            .await;
        // The old session now ends sooner.
        self.sessions.forget(session);
        let (token, expires_at) = r?;
        Ok(Login {
            token,
            expires_at,
            user: (**user).clone(),
        })
    }

    pub async fn get_user(&self, id: &str) -> Result<User> {
        if !ids::is_id(id) {
            return Err(Error::not_found("no such user"));
        }
        let item = self
            .store
            .get(&user_pk(id), "_")
            .await?
            .ok_or_else(|| Error::not_found("no such user"))?;
        user_from(&item)
    }

    /// Read-modify-write of a user under optimistic concurrency, retried on conflict.
    async fn modify_user(&self, id: &str, f: impl Fn(&mut User) -> Result<()>) -> Result<User> {
        for _ in 0..5 {
            let mut user = self.get_user(id).await?;
            let v = user.v;
            f(&mut user)?;
            user.v = v + 1;
            user.updated_at = self.clock.now_ms().max(user.updated_at);
            let item = Item::new(user_pk(id), "_", to_attrs(&user)?);
            let r = self.store.put(item, Some(Cond::eq("v", v))).await;
            // Whatever happened, the next session check reads the user again.
            self.users.forget(id);
            match r {
                Ok(()) => return Ok(user),
                Err(StoreError::ConditionFailed) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(Error::new(
            Code::Conflict,
            "the user changed concurrently; retry",
        ))
    }

    /// Changes a user's profile. `origin` is where clients reach this server
    /// (`https://api.example.com`): an `avatar_file` becomes a URL under it.
    pub async fn update_profile(
        &self,
        user_id: &str,
        mut patch: ProfilePatch,
        origin: &str,
    ) -> Result<User> {
        if let Some(file) = patch.avatar_file.take() {
            if patch.avatar_url.is_some() {
                return Err(Error::invalid_field(
                    "avatar_file",
                    "send avatar_url or avatar_file, not both",
                ));
            }
            patch.avatar_url = Some(match file {
                None => None,
                Some(id) => {
                    let avatars = self.avatars.as_ref().ok_or_else(|| {
                        Error::new(
                            Code::FileNotUsable,
                            "files are not set up on this server (no blob store configured)",
                        )
                        .with_details(json!({"field": "avatar_file"}))
                    })?;
                    let path = avatars.avatar_path(user_id, &id).await.map_err(|e| {
                        let details = json!({"field": "avatar_file", "file": id});
                        e.with_details(details)
                    })?;
                    let url = format!("{}{path}", origin.trim_end_matches('/'));
                    if !valid_http_url(&url) {
                        return Err(Error::invalid_field(
                            "avatar_file",
                            "this server does not know its own http(s) address: set files.public_url",
                        ));
                    }
                    Some(url)
                }
            });
        }
        if let Some(Some(n)) = &patch.nickname
            && !valid_nickname(n)
        {
            return Err(Error::invalid_field(
                "nickname",
                "nickname must be 1 to 64 characters, without control or bidirectional-formatting characters",
            ));
        }
        if let Some(Some(a)) = &patch.avatar_url
            && !valid_http_url(a)
        {
            return Err(Error::invalid_field(
                "avatar_url",
                "avatar_url must be an http(s) URL of at most 1024 characters",
            ));
        }
        if let Some(p) = &patch.profile
            && p.keys().any(|k| k.is_empty() || k.len() > 64)
        {
            return Err(Error::invalid_field(
                "profile",
                "profile keys are 1 to 64 characters",
            ));
        }
        self.modify_user(user_id, |u| {
            if let Some(n) = &patch.nickname {
                u.nickname = n.clone();
            }
            if let Some(a) = &patch.avatar_url {
                u.avatar_url = a.clone();
            }
            if let Some(p) = &patch.profile {
                for (k, v) in p {
                    if v.is_null() {
                        u.profile.remove(k);
                    } else {
                        u.profile.insert(k.clone(), v.clone());
                    }
                }
                let size = serde_json::to_vec(&u.profile)
                    .map(|b| b.len())
                    .unwrap_or(usize::MAX);
                if size > MAX_PROFILE_BYTES {
                    return Err(Error::invalid_field(
                        "profile",
                        "profile is limited to 8 KiB",
                    ));
                }
            }
            Ok(())
        })
        .await
    }

    /// Binds the phone number WeChat returns for a `getPhoneNumber` code.
    pub async fn bind_phone(&self, user_id: &str, code: &str) -> Result<User> {
        if code.is_empty() || code.len() > 256 {
            return Err(Error::invalid_field(
                "code",
                "code must be 1 to 256 characters",
            ));
        }
        let phone = self.wechat.phone_number(code).await.map_err(|e| match e {
            WxError::Api {
                errcode: 40029,
                errmsg,
            } => Error::invalid_field("code", "the phone code is invalid or expired").with_details(
                json!({"field": "code", "wechat_errcode": 40029, "wechat_errmsg": errmsg}),
            ),
            e => e.into(),
        })?;
        self.modify_user(user_id, |u| {
            u.phone = Some(phone.phone_number.clone());
            Ok(())
        })
        .await
    }

    /// A user's whole record (admins; others see public profiles).
    pub async fn user_for_admin(&self, caller: &Caller, id: &str) -> Result<User> {
        caller.require_admin()?;
        self.get_user(id).await
    }

    /// Every user, oldest first (admins).
    pub async fn list_users(
        &self,
        caller: &Caller,
        limit: usize,
        cursor: Option<String>,
    ) -> Result<(Vec<User>, Option<String>)> {
        caller.require_admin()?;
        let page = self
            .store
            .query(
                Query::partition(crate::keys::USERS)
                    .limit(limit.clamp(1, 100))
                    .after(cursor),
            )
            .await?;
        let mut users = Vec::with_capacity(page.items.len());
        for it in &page.items {
            users.push(self.get_user(&it.sk).await?);
        }
        Ok((users, page.cursor))
    }

    /// Sets a user's groups (admins only).
    pub async fn set_groups(
        &self,
        caller: &Caller,
        user_id: &str,
        groups: Vec<String>,
    ) -> Result<User> {
        caller.require_admin()?;
        if groups.len() > MAX_GROUPS {
            return Err(Error::invalid_field(
                "groups",
                format!("at most {MAX_GROUPS} groups"),
            ));
        }
        for g in &groups {
            if !valid_group(g) {
                return Err(Error::invalid_field(
                    "groups",
                    format!(
                        "invalid group name {g:?}: 1 to 32 of a-z 0-9 _ -, starting with a letter"
                    ),
                ));
            }
        }
        let mut groups = groups;
        groups.sort();
        groups.dedup();
        self.modify_user(user_id, |u| {
            u.groups = groups.clone();
            Ok(())
        })
        .await
    }

    /// Adds a user to a group, or (`join: false`) takes them out (admins only).
    pub async fn change_group(
        &self,
        caller: &Caller,
        user_id: &str,
        group: &str,
        join: bool,
    ) -> Result<User> {
        caller.require_admin()?;
        if !valid_group(group) {
            return Err(Error::invalid_field("group", "invalid group name"));
        }
        self.modify_user(user_id, |u| {
            if join {
                if !u.in_group(group) {
                    if u.groups.len() >= MAX_GROUPS {
                        return Err(Error::invalid_field(
                            "groups",
                            format!("at most {MAX_GROUPS} groups"),
                        ));
                    }
                    u.groups.push(group.to_string());
                    u.groups.sort();
                }
            } else {
                u.groups.retain(|g| g != group);
            }
            Ok(())
        })
        .await
    }
}

pub fn valid_group(g: &str) -> bool {
    let b = g.as_bytes();
    !b.is_empty()
        && b.len() <= 32
        && b[0].is_ascii_lowercase()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'_' || *c == b'-')
}

#[cfg(test)]
mod admin_key_tests {
    use super::check_admin_key;

    #[test]
    fn placeholders_and_short_keys_are_refused() {
        for bad in [
            "short",
            "replace-me-with-the-output-of-openssl-rand-hex-32",
            "REPLACE-ME-0123456789abcdef",
            "changeme-changeme-changeme",
            "aaaaaaaaaaaaaaaaaaaaaaaa",
        ] {
            assert!(check_admin_key(bad).is_err(), "{bad}");
        }
        assert!(check_admin_key("3f9c2b7e41d08a6c5e1f2a9b7c4d6e80").is_ok());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_names() {
        assert!(valid_group("admin"));
        assert!(valid_group("team-a_1"));
        assert!(!valid_group(""));
        assert!(!valid_group("Admin"));
        assert!(!valid_group("1abc"));
        assert!(!valid_group(&"a".repeat(33)));
    }

    #[test]
    fn patch_distinguishes_absent_and_null() {
        let p: ProfilePatch = serde_json::from_str(r#"{"nickname": null}"#).unwrap();
        assert_eq!(p.nickname, Some(None));
        assert_eq!(p.avatar_url, None);
        assert!(serde_json::from_str::<ProfilePatch>(r#"{"groups": ["admin"]}"#).is_err());
    }
}
