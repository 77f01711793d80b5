//! Key-value storage: bucky's `setObject` / `getObject` / `removeObject` /
//! `isObjectExists`, over the item store.
//!
//! # Namespaces
//!
//! Keys live in namespaces that admins define (`PUT /v1/kv/{ns}`) with a read rule, a
//! write rule and a scope:
//!
//! * rules are `anyone`, `users`, `group:<name>` or `admins` (the tables' create rule,
//!   [`CreateRule`]); the defaults are `users` for both. Admins pass every rule. A caller
//!   a rule refuses gets 401 `UNAUTHENTICATED` when anonymous, else 403 `FORBIDDEN`.
//! * `scope: "shared"` (the default): one set of keys for everybody the rules let in.
//!   `scope: "user"`: every logged-in user has a private set of keys (the same key name
//!   means a different entry for each user); the rules still decide who may read and
//!   write their own keys, and anonymous callers get 401 whatever the rules say. Admins
//!   reach another user's keys with `?user=<id>` (the admin key has no keys of its own
//!   here, so it must name the user). The scope is fixed when the namespace is created.
//! * A namespace that is not defined is 404 `NOT_FOUND` for everybody, admins included
//!   (only `PUT /v1/kv/{ns}` creates it). Rules are read on every request, so a change
//!   applies at once on every server.
//! * Names are table names: 1 to 64 of `a-z 0-9 _`, starting with a letter.
//!
//! # Entries
//!
//! * Keys are 1 to [`MAX_KEY_BYTES`] bytes of printable ASCII (`!` to `~`) except `/` and
//!   `#` — no spaces, no control characters, nothing that needs care in a URL path besides
//!   percent-encoding of `?` and `%`. They sort by bytes, which is the listing order.
//! * A value is any JSON (`null` included) of at most [`MAX_VALUE_BYTES`] bytes as
//!   compact JSON (413 `ITEM_TOO_LARGE` beyond), nested at most 32 levels, with no empty
//!   object keys and numbers within DynamoDB's range (magnitude below 1e126), so that the
//!   embedded store and DynamoDB accept exactly the same values.
//! * Every write answers the stored entry `{key, value, _v, created_at, updated_at,
//!   expires_at?}` (times in RFC 3339 on the API and the host API). `_v`, the entry's
//!   version, is 1 on creation and bumped by every replacement — named as a record's is;
//!   a write given `_v` succeeds only while the entry is at that version (409 `CONFLICT`
//!   otherwise, with `details` `{"field": "_v", "current_v": n}` — `null` when absent), a
//!   create-only write only while the key is absent (409).
//! * `ttl` (1 to [`MAX_TTL_SECS`] seconds) makes the entry expire; each write sets the
//!   expiry afresh, so a write without `ttl` makes the entry permanent. Expiry is
//!   whole-second, rounded up: `expires_at` is the first whole second at least `ttl`
//!   seconds away, and from that instant the entry is absent to every read, listing and
//!   condition (the store hides it before its sweeper removes it).
//!
//! # Store layout
//!
//! * `kvns#<ns>` / `_` — a namespace's definition `{read, write, scope, v, created_at,
//!   updated_at}` (epoch ms); every request reads it (a partition per namespace: no hot
//!   partition shared by all namespaces)
//! * `kvns` / `<ns>` — the listing of namespaces, a copy of the definition written in the
//!   same transaction
//! * `kv#<ns>` / `<key>` — a shared-scope entry; `kv#<ns>#<user id>` / `<key>` — a
//!   user-scope entry. Attributes `{value, version, created_at, updated_at}` (epoch ms),
//!   expiry as the item's TTL. Partitions are matched exactly, and namespace names hold
//!   no `#`, so no namespace's or user's keys can be reached through another's.

pub mod dump;

use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value, json};

use crate::auth::Caller;
use crate::clock::SharedClock;
use crate::error::{Code, Error, Result};
use crate::ids;
use crate::store::{
    Cond, Item, ItemStore, Query, SkRange, StoreError, Update, WriteOp, decode_cursor,
};
use crate::tables::CreateRule;
use crate::tables::rules;

/// Longest key, in bytes.
pub const MAX_KEY_BYTES: usize = 200;
/// Largest value, as compact JSON. With the key and bookkeeping an entry stays well inside
/// the store's 400,000-byte item limit.
pub const MAX_VALUE_BYTES: usize = 350_000;
/// Longest time to live: one year.
pub const MAX_TTL_SECS: i64 = 31_536_000;
pub const DEFAULT_LIST_LIMIT: usize = 20;
pub const MAX_LIST_LIMIT: usize = 100;
/// Deepest nesting of a value (DynamoDB's document limit).
const MAX_DEPTH: usize = 32;
/// DynamoDB numbers have a magnitude below 1e126 (and above 1e-130 unless zero).
const MAX_NUMBER: f64 = 1e126;
const MIN_NUMBER: f64 = 1e-130;
/// Attempts of an unconditional write that keeps losing races.
const MAX_RETRIES: usize = 10;
const LISTING_PK: &str = crate::keys::KV_NAMESPACES;

/// Whether keys are shared by everybody or private to each user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    Shared,
    User,
}

impl Scope {
    pub fn parse(s: &str) -> Result<Scope> {
        match s {
            "shared" => Ok(Scope::Shared),
            "user" => Ok(Scope::User),
            _ => Err(Error::invalid_field(
                "scope",
                "scope is \"shared\" or \"user\"",
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Shared => "shared",
            Scope::User => "user",
        }
    }
}

/// What an admin sends to `PUT /v1/kv/{ns}`. Absent rules are `users`; an absent scope is
/// `shared` for a new namespace and the current scope for an existing one.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NamespaceDef {
    #[serde(default)]
    pub read: Option<String>,
    #[serde(default)]
    pub write: Option<String>,
    #[serde(default)]
    pub scope: Option<String>,
}

/// A defined namespace.
#[derive(Debug, Clone, PartialEq)]
pub struct Namespace {
    pub name: String,
    pub read: CreateRule,
    pub write: CreateRule,
    pub scope: Scope,
    /// Bumped by every change of the definition.
    pub version: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Namespace {
    fn attrs(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("read".into(), json!(self.read.as_string()));
        m.insert("write".into(), json!(self.write.as_string()));
        m.insert("scope".into(), json!(self.scope.as_str()));
        m.insert("v".into(), json!(self.version));
        m.insert("created_at".into(), json!(self.created_at));
        m.insert("updated_at".into(), json!(self.updated_at));
        m
    }

    fn from_item(name: &str, item: &Item) -> Result<Namespace> {
        let corrupt = || Error::internal(format!("corrupt kv namespace {name}"));
        let rule = |a: &str| {
            item.str(a)
                .and_then(|s| CreateRule::parse(s).ok())
                .ok_or_else(corrupt)
        };
        let int = |a: &str| item.get(a).and_then(Value::as_i64).ok_or_else(corrupt);
        Ok(Namespace {
            name: name.to_string(),
            read: rule("read")?,
            write: rule("write")?,
            scope: item
                .str("scope")
                .and_then(|s| Scope::parse(s).ok())
                .ok_or_else(corrupt)?,
            version: int("v")?,
            created_at: int("created_at")?,
            updated_at: int("updated_at")?,
        })
    }
}

/// A stored entry; times in epoch milliseconds.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub key: String,
    pub value: Value,
    pub version: i64,
    pub created_at: i64,
    pub updated_at: i64,
    /// From this instant the entry is gone (a whole second).
    pub expires_at: Option<i64>,
}

impl Entry {
    fn from_item(item: &Item) -> Entry {
        let int = |a: &str| item.get(a).and_then(Value::as_i64).unwrap_or(0);
        Entry {
            key: item.sk.clone(),
            value: item.get("value").cloned().unwrap_or(Value::Null),
            version: int("version"),
            created_at: int("created_at"),
            updated_at: int("updated_at"),
            expires_at: item.expires_at.map(|s| s.saturating_mul(1000)),
        }
    }
}

/// A write of one key. `value` is `None` only when the body had no `value` at all
/// (`null` is a value).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PutEntry {
    #[serde(default, deserialize_with = "present")]
    pub value: Option<Value>,
    #[serde(default)]
    pub ttl: Option<i64>,
    /// Write only while the entry is at this version (`_v` on the wire, as a record's).
    #[serde(default, rename = "_v")]
    pub version: Option<i64>,
    /// Write only while the key is absent (`If-None-Match: *`).
    #[serde(skip)]
    pub create_only: bool,
}

fn present<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

/// A listing request.
#[derive(Debug, Clone, Default)]
pub struct ListParams {
    pub prefix: Option<String>,
    pub limit: Option<usize>,
    pub cursor: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ListPage {
    pub items: Vec<Entry>,
    /// Present when more follow; sent back unchanged for the next page.
    pub cursor: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
}

// ---- validation (pure) ------------------------------------------------------------

pub fn valid_key(k: &str) -> bool {
    !k.is_empty() && k.len() <= MAX_KEY_BYTES && k.bytes().all(key_byte)
}

fn key_byte(b: u8) -> bool {
    (0x21..=0x7e).contains(&b) && b != b'/' && b != b'#'
}

pub fn check_namespace_name(name: &str) -> Result<()> {
    if crate::tables::names::valid_name(name) {
        Ok(())
    } else {
        Err(Error::invalid_field(
            "namespace",
            "namespace names are 1 to 64 of a-z 0-9 _, starting with a letter",
        ))
    }
}

pub fn check_key(key: &str) -> Result<()> {
    if valid_key(key) {
        Ok(())
    } else {
        Err(Error::invalid_field(
            "key",
            format!(
                "keys are 1 to {MAX_KEY_BYTES} bytes of printable ASCII without spaces, '/' or '#'"
            ),
        ))
    }
}

pub fn check_ttl(ttl: i64) -> Result<()> {
    if (1..=MAX_TTL_SECS).contains(&ttl) {
        Ok(())
    } else {
        Err(Error::invalid_field(
            "ttl",
            format!("ttl is 1 to {MAX_TTL_SECS} seconds"),
        ))
    }
}

pub fn check_version(v: i64) -> Result<()> {
    if v >= 1 {
        Ok(())
    } else {
        Err(Error::invalid_field("_v", "_v is a positive integer"))
    }
}

/// Size, depth, object keys and number range of a value.
pub fn check_value(v: &Value) -> Result<()> {
    let size = serde_json::to_vec(v).map(|b| b.len()).unwrap_or(usize::MAX);
    if size > MAX_VALUE_BYTES {
        return Err(
            Error::new(Code::ItemTooLarge, "the value is too large").with_details(json!({
                "field": "value",
                "size": size,
                "limit": MAX_VALUE_BYTES,
            })),
        );
    }
    fn walk(v: &Value, depth: usize) -> std::result::Result<(), String> {
        if depth > MAX_DEPTH {
            return Err(format!("values nest at most {MAX_DEPTH} levels deep"));
        }
        match v {
            Value::Array(xs) => xs.iter().try_for_each(|x| walk(x, depth + 1)),
            Value::Object(m) => m.iter().try_for_each(|(k, x)| {
                if k.is_empty() {
                    return Err("object keys may not be empty".into());
                }
                walk(x, depth + 1)
            }),
            Value::Number(n) if n.is_f64() => {
                let a = n.as_f64().unwrap_or(0.0).abs();
                if a != 0.0 && !(MIN_NUMBER..MAX_NUMBER).contains(&a) {
                    return Err(
                        "numbers must have a magnitude between 1e-130 and 1e126 (or be 0)".into(),
                    );
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }
    walk(v, 1).map_err(|m| Error::invalid_field("value", m))
}

/// The store expiry (epoch seconds) of an entry written at `now_ms` with `ttl_secs`: the
/// first whole second at least `ttl_secs` away.
pub fn expiry_secs(now_ms: i64, ttl_secs: i64) -> i64 {
    (now_ms + ttl_secs * 1000 + 999).div_euclid(1000)
}

fn check_user_param(user: Option<&str>) -> Result<()> {
    match user {
        Some(u) if !ids::is_id(u) => Err(Error::invalid_field("user", "user is a user id")),
        _ => Ok(()),
    }
}

fn shared_pk(ns: &str) -> String {
    format!("{}{ns}", crate::keys::KV)
}

fn user_scoped_pk(ns: &str, user_id: &str) -> String {
    format!("{}{ns}#{user_id}", crate::keys::KV)
}

fn ns_pk(ns: &str) -> String {
    format!("{}{ns}", crate::keys::KV_NAMESPACE)
}

/// The partition a caller reaches in a namespace, after the namespace's rule for
/// `access`. `None`: the admin key listing a user-scoped namespace without naming a user
/// (it has no keys of its own there).
pub fn partition(
    ns: &Namespace,
    caller: &Caller,
    user: Option<&str>,
    access: Access,
) -> Result<Option<String>> {
    check_user_param(user)?;
    let rule = match access {
        Access::Read => &ns.read,
        Access::Write => &ns.write,
    };
    let verb = match access {
        Access::Read => "read",
        Access::Write => "write",
    };
    if !rules::passes(rule, caller) {
        return Err(match caller {
            Caller::Anonymous => Error::new(
                Code::Unauthenticated,
                format!("log in to {verb} keys in {:?}", ns.name),
            ),
            _ => Error::forbidden(format!("you may not {verb} keys in {:?}", ns.name)),
        });
    }
    match ns.scope {
        Scope::Shared => match user {
            Some(_) => Err(Error::invalid_field(
                "user",
                format!(
                    "{:?} is a shared namespace: user applies to user-scoped namespaces only",
                    ns.name
                ),
            )),
            None => Ok(Some(shared_pk(&ns.name))),
        },
        Scope::User => {
            let own = caller.user().map(|u| u.id.as_str());
            match (user, own) {
                (Some(u), _) if caller.is_admin() => Ok(Some(user_scoped_pk(&ns.name, u))),
                (Some(u), Some(me)) if u == me => Ok(Some(user_scoped_pk(&ns.name, me))),
                (Some(_), Some(_)) => Err(Error::forbidden("you may only reach your own keys")),
                (None, Some(me)) => Ok(Some(user_scoped_pk(&ns.name, me))),
                (_, None) if matches!(caller, Caller::Anonymous) => Err(Error::new(
                    Code::Unauthenticated,
                    format!("log in to use your keys in {:?}", ns.name),
                )),
                (_, None) => Ok(None),
            }
        }
    }
}

fn conflict(message: impl Into<String>, current: Option<i64>) -> Error {
    Error::new(Code::Conflict, message).with_details(json!({ "field": "_v", "current_v": current }))
}

/// A missing key (`details.key`), told apart from a missing namespace.
fn key_not_found(ns: &str, key: &str) -> Error {
    Error::not_found(format!("no key {key:?} in {ns:?}"))
        .with_details(serde_json::json!({ "key": key }))
}

/// The key-value service.
pub struct Kv {
    store: Arc<dyn ItemStore>,
    clock: SharedClock,
}

impl Kv {
    pub fn new(store: Arc<dyn ItemStore>, clock: SharedClock) -> Self {
        Kv { store, clock }
    }

    // ---- namespaces --------------------------------------------------------------

    /// Creates or changes a namespace (admins). Answers it and whether it was created.
    pub async fn put_namespace(
        &self,
        caller: &Caller,
        name: &str,
        def: &NamespaceDef,
    ) -> Result<(Namespace, bool)> {
        caller.require_admin()?;
        let (wanted, existing) = self.check_namespace(name, def).await?;
        let now = self.clock.now_ms();
        let (ns, cond) = match existing {
            None => (
                Namespace {
                    version: 1,
                    created_at: now,
                    updated_at: now,
                    ..wanted
                },
                Cond::NotExists,
            ),
            Some(old) => {
                let old_version = old.version;
                (
                    Namespace {
                        read: wanted.read,
                        write: wanted.write,
                        version: old_version + 1,
                        updated_at: now.max(old.updated_at),
                        ..old
                    },
                    Cond::eq("v", old_version),
                )
            }
        };
        let created = ns.version == 1;
        let ops = vec![
            WriteOp::put(Item::new(ns_pk(name), "_", ns.attrs()), Some(cond)),
            WriteOp::put(Item::new(LISTING_PK, name, ns.attrs()), None),
        ];
        match self.store.transact(ops).await {
            Ok(()) => Ok((ns, created)),
            Err(StoreError::TransactionCanceled { .. }) => Err(Error::new(
                Code::Conflict,
                "the namespace changed concurrently; retry",
            )),
            Err(e) => Err(e.into()),
        }
    }

    /// What [`Kv::put_namespace`] would do, without writing: refused as it would refuse,
    /// else the namespace as defined (version 0) and as it is now (`None`: new).
    pub async fn check_namespace(
        &self,
        name: &str,
        def: &NamespaceDef,
    ) -> Result<(Namespace, Option<Namespace>)> {
        check_namespace_name(name)?;
        let rule = |field: &str, s: Option<&str>| {
            CreateRule::parse(s.unwrap_or("users")).map_err(|_| {
                Error::invalid_field(
                    field,
                    format!("{field} is one of anyone, users, group:<name>, admins"),
                )
            })
        };
        let read = rule("read", def.read.as_deref())?;
        let write = rule("write", def.write.as_deref())?;
        let scope = def.scope.as_deref().map(Scope::parse).transpose()?;
        let existing = match self.store.get(&ns_pk(name), "_").await? {
            Some(item) => Some(Namespace::from_item(name, &item)?),
            None => None,
        };
        if let (Some(s), Some(old)) = (scope, &existing)
            && s != old.scope
        {
            return Err(Error::invalid_field(
                "scope",
                format!(
                    "the scope of a namespace is fixed when it is created (this one is {:?}); define a new namespace",
                    old.scope.as_str()
                ),
            ));
        }
        let wanted = Namespace {
            name: name.to_string(),
            read,
            write,
            scope: existing
                .as_ref()
                .map(|o| o.scope)
                .or(scope)
                .unwrap_or(Scope::Shared),
            version: 0,
            created_at: 0,
            updated_at: 0,
        };
        Ok((wanted, existing))
    }

    /// Undoes the creation of a namespace (an apply that failed after creating it, a
    /// moment before). Answers whether it was removed: a shared one that was written to
    /// meanwhile stays. (User-scoped values cannot be listed by namespace; any written in
    /// that moment stay in their partitions, unreachable until it is defined again.)
    pub(crate) async fn remove_new_namespace(&self, name: &str) -> Result<bool> {
        let values = self
            .store
            .query(Query::partition(shared_pk(name)).limit(1))
            .await?;
        if !values.items.is_empty() {
            return Ok(false);
        }
        let ops = vec![
            WriteOp::Delete {
                pk: ns_pk(name),
                sk: "_".into(),
                cond: Some(Cond::eq("v", 1)),
            },
            WriteOp::Delete {
                pk: LISTING_PK.into(),
                sk: name.into(),
                cond: None,
            },
        ];
        match self.store.transact(ops).await {
            Ok(()) => Ok(true),
            Err(StoreError::TransactionCanceled { .. } | StoreError::ConditionFailed) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// A namespace's definition, or 404.
    pub async fn namespace(&self, name: &str) -> Result<Namespace> {
        check_namespace_name(name)?;
        let item = self
            .store
            .get(&ns_pk(name), "_")
            .await?
            .ok_or_else(|| Error::not_found(format!("no kv namespace {name:?}")))?;
        Namespace::from_item(name, &item)
    }

    /// Every namespace, by name (admins).
    pub async fn list_namespaces(&self, caller: &Caller) -> Result<Vec<Namespace>> {
        caller.require_admin()?;
        let mut out = Vec::new();
        let mut cursor = None;
        loop {
            let page = self
                .store
                .query(Query::partition(LISTING_PK).limit(1000).after(cursor))
                .await?;
            for it in &page.items {
                out.push(Namespace::from_item(&it.sk, it)?);
            }
            match page.cursor {
                Some(c) => cursor = Some(c),
                None => return Ok(out),
            }
        }
    }

    async fn place(
        &self,
        caller: &Caller,
        ns: &str,
        user: Option<&str>,
        access: Access,
    ) -> Result<(Namespace, Option<String>)> {
        check_user_param(user)?;
        let ns = self.namespace(ns).await?;
        let pk = partition(&ns, caller, user, access)?;
        Ok((ns, pk))
    }

    async fn key_place(
        &self,
        caller: &Caller,
        ns: &str,
        key: &str,
        user: Option<&str>,
        access: Access,
    ) -> Result<String> {
        check_namespace_name(ns)?;
        check_key(key)?;
        let (_, pk) = self.place(caller, ns, user, access).await?;
        pk.ok_or_else(|| {
            Error::invalid_field(
                "user",
                "the admin key has no keys of its own in a user-scoped namespace: name the user with ?user=<id>",
            )
        })
    }

    // ---- entries -----------------------------------------------------------------

    /// `getObject`: the entry, or 404.
    pub async fn get(
        &self,
        caller: &Caller,
        ns: &str,
        key: &str,
        user: Option<&str>,
    ) -> Result<Entry> {
        let pk = self.key_place(caller, ns, key, user, Access::Read).await?;
        let item = self
            .store
            .get(&pk, key)
            .await?
            .ok_or_else(|| key_not_found(ns, key))?;
        Ok(Entry::from_item(&item))
    }

    /// `isObjectExists`.
    pub async fn exists(
        &self,
        caller: &Caller,
        ns: &str,
        key: &str,
        user: Option<&str>,
    ) -> Result<bool> {
        let pk = self.key_place(caller, ns, key, user, Access::Read).await?;
        Ok(self.store.get(&pk, key).await?.is_some())
    }

    /// `setObject`: creates or replaces the entry. Answers it and whether it was created.
    pub async fn put(
        &self,
        caller: &Caller,
        ns: &str,
        key: &str,
        user: Option<&str>,
        input: PutEntry,
    ) -> Result<(Entry, bool)> {
        let pk = self.key_place(caller, ns, key, user, Access::Write).await?;
        let value = input.value.ok_or_else(|| {
            Error::invalid_field("value", "value is required (any JSON, null included)")
        })?;
        check_value(&value)?;
        if let Some(t) = input.ttl {
            check_ttl(t)?;
        }
        if let Some(v) = input.version {
            check_version(v)?;
            if input.create_only {
                return Err(Error::invalid_field(
                    "_v",
                    "a create-only write (If-None-Match: *) takes no _v",
                ));
            }
        }
        for _ in 0..MAX_RETRIES {
            let now = self.clock.now_ms();
            let expires = input.ttl.map(|t| expiry_secs(now, t));
            if !input.create_only {
                // Replace: one conditional update, which keeps created_at.
                let update = Update {
                    set: vec![
                        ("value".into(), value.clone()),
                        ("updated_at".into(), json!(now)),
                    ],
                    add: vec![("version".into(), 1.into())],
                    expires_at: Some(expires),
                    ..Default::default()
                };
                let cond = match input.version {
                    Some(v) => Cond::eq("version", v),
                    None => Cond::Exists,
                };
                match self.store.update(&pk, key, update, Some(cond)).await {
                    Ok(item) => return Ok((Entry::from_item(&item), false)),
                    Err(StoreError::ConditionFailed) => {
                        if let Some(v) = input.version {
                            let current = self.current_version(&pk, key).await?;
                            return Err(conflict(
                                format!("{key:?} is not at version {v}; read it again and retry"),
                                current,
                            ));
                        }
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            // Create.
            let mut attrs = Map::new();
            attrs.insert("value".into(), value.clone());
            attrs.insert("version".into(), json!(1));
            attrs.insert("created_at".into(), json!(now));
            attrs.insert("updated_at".into(), json!(now));
            let mut item = Item::new(&pk, key, attrs);
            item.expires_at = expires;
            match self.store.put(item.clone(), Some(Cond::NotExists)).await {
                Ok(()) => return Ok((Entry::from_item(&item), true)),
                Err(StoreError::ConditionFailed) if input.create_only => {
                    let current = self.current_version(&pk, key).await?;
                    return Err(conflict(format!("{key:?} already exists"), current));
                }
                // Created concurrently: replace it.
                Err(StoreError::ConditionFailed) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(Error::new(
            Code::Conflict,
            "the key changed concurrently; retry",
        ))
    }

    /// `removeObject`: 404 when absent; with `version`, 409 unless at that version.
    pub async fn delete(
        &self,
        caller: &Caller,
        ns: &str,
        key: &str,
        user: Option<&str>,
        version: Option<i64>,
    ) -> Result<()> {
        if let Some(v) = version {
            check_version(v)?;
        }
        let pk = self.key_place(caller, ns, key, user, Access::Write).await?;
        let cond = match version {
            Some(v) => Cond::eq("version", v),
            None => Cond::Exists,
        };
        match self.store.delete(&pk, key, Some(cond)).await {
            Ok(()) => Ok(()),
            Err(StoreError::ConditionFailed) => {
                match (version, self.current_version(&pk, key).await?) {
                    (Some(v), Some(current)) => Err(conflict(
                        format!("{key:?} is not at version {v}; read it again and retry"),
                        Some(current),
                    )),
                    _ => Err(key_not_found(ns, key)),
                }
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Entries in key order, optionally under a prefix. Answers the namespace too (the
    /// API shows its definition to admins).
    pub async fn list(
        &self,
        caller: &Caller,
        ns: &str,
        user: Option<&str>,
        params: ListParams,
    ) -> Result<(Namespace, ListPage)> {
        check_namespace_name(ns)?;
        let prefix = params.prefix.unwrap_or_default();
        if prefix.len() > MAX_KEY_BYTES || !prefix.bytes().all(key_byte) {
            return Err(Error::invalid_field(
                "prefix",
                "a prefix is the start of a key: printable ASCII without spaces, '/' or '#'",
            ));
        }
        let limit = params.limit.unwrap_or(DEFAULT_LIST_LIMIT);
        if !(1..=MAX_LIST_LIMIT).contains(&limit) {
            return Err(Error::invalid_field(
                "limit",
                format!("limit is 1 to {MAX_LIST_LIMIT}"),
            ));
        }
        // A cursor is the last key answered: it must be a key under this prefix (a store
        // would refuse to start outside the range it reads).
        if let Some(c) = &params.cursor
            && !decode_cursor(c).is_ok_and(|k| valid_key(&k) && k.starts_with(&prefix))
        {
            return Err(Error::new(
                Code::InvalidCursor,
                "malformed cursor, or one for another prefix",
            )
            .with_details(json!({"field": "cursor"})));
        }
        let (ns, pk) = self.place(caller, ns, user, Access::Read).await?;
        let Some(pk) = pk else {
            return Ok((
                ns,
                ListPage {
                    items: vec![],
                    cursor: None,
                },
            ));
        };
        let range = if prefix.is_empty() {
            SkRange::All
        } else {
            SkRange::Prefix(prefix)
        };
        let page = self
            .store
            .query(
                Query::partition(pk)
                    .range(range)
                    .limit(limit)
                    .after(params.cursor),
            )
            .await?;
        Ok((
            ns,
            ListPage {
                items: page.items.iter().map(Entry::from_item).collect(),
                cursor: page.cursor,
            },
        ))
    }

    async fn current_version(&self, pk: &str, key: &str) -> Result<Option<i64>> {
        Ok(self
            .store
            .get(pk, key)
            .await?
            .map(|it| Entry::from_item(&it).version))
    }
}

#[cfg(test)]
mod tests;
