//! The tables service and its records (create, get, update, delete), under the table
//! ACL; schemas, batches, queries and audits are in their own files.
//!
//! Store layout: see [`super::keys`]. Besides the records, a table has index entries,
//! unique guards and counters, always written in the record's own transaction
//! ([`super::write::Tx`]).
//!
//! Who may do what is decided in [`super::rules`].

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, OnceLock};

use serde::Serialize;
use serde_json::{Map, Number, Value, json};

use super::acl::{Perm, Role};
use super::attrs::{IX_ATTR, IXT_ATTR, UQ_ATTR};
use super::keys::rec_pk;
use super::rules::{self, not_found, visible};
use super::schema::{FieldType, Schema};
use super::write::{Tx, TxFailure, explain, unique_error};
use crate::auth::Caller;
use crate::clock::{SharedClock, rfc3339};
use crate::error::{Code, Error, Result};
use crate::ids;
use crate::store::{Cond, ItemStore, StoreError, Update};

/// The default scan limit ([`Tables::with_scan_limit`]): most candidate rows one query
/// request examines (past it the page ends early with a cursor to continue), and the
/// most records (that the caller may read) an unindexed query may scan.
pub const DEFAULT_SCAN_LIMIT: usize = 1000;
/// Retries of a read-modify-write that lost a race (no `_v` was given).
pub(super) const MAX_RETRIES: usize = 25;

pub struct Tables {
    pub(super) store: Arc<dyn ItemStore>,
    pub(super) clock: SharedClock,
    /// Seals query cursors (see [`super::reads`]).
    pub(super) cursor_key: OnceLock<Vec<u8>>,
    pub(super) listener: super::changes::Listener,
    /// See [`DEFAULT_SCAN_LIMIT`].
    pub(super) scan_limit: usize,
    pub(super) hooks: super::hooks::HookSlot,
    /// Schemas by table name (see [`crate::cache`]).
    pub(super) schemas: crate::cache::Cache<Schema>,
    /// What `file` fields point at; `None` without a blob store (see
    /// [`super::file_fields`]).
    pub(super) files: Option<Arc<dyn super::file_fields::FileRefs>>,
    /// WeChat's text check, for fields that ask for it (see [`super::checks`]).
    pub(super) wechat: OnceLock<Arc<crate::wechat::WxApi>>,
}

/// 409 for a write conditional on a version the record is no longer at.
pub(super) fn stale_version() -> Error {
    Error::new(
        Code::Conflict,
        "the record has changed since the version you sent",
    )
    .with_details(json!({ "field": "_v" }))
}

/// 409 when a read-modify-write kept losing races.
pub(super) fn too_busy() -> Error {
    Error::new(Code::Conflict, "the record is changing too fast; retry")
}

/// A patch: plain values (`null` removes), and operators.
#[derive(Default)]
pub(super) struct Patch {
    plain: Map<String, Value>,
    inc: Vec<(String, Number)>,
    append: Vec<(String, Vec<Value>)>,
    remove: Vec<(String, Vec<Value>)>,
}

impl Patch {
    pub(super) fn parse(schema: &Schema, input: Map<String, Value>) -> Result<Patch> {
        let mut p = Patch::default();
        for (k, v) in input {
            match v {
                Value::Object(m) if m.keys().any(|x| x.starts_with('$')) => {
                    let (op, arg) = match m.into_iter().next() {
                        Some(one) => one,
                        None => continue,
                    };
                    let Some((_, f)) = schema.field(&k) else {
                        return Err(
                            Error::new(Code::UnknownField, format!("unknown field {k:?}"))
                                .with_details(json!({ "field": k })),
                        );
                    };
                    let list = |arg: Value| match arg {
                        Value::Array(a) => a,
                        v => vec![v],
                    };
                    match (op.as_str(), arg) {
                        ("$inc", Value::Number(n)) => {
                            let ok = match f.kind {
                                FieldType::Integer => n.is_i64(),
                                FieldType::Number => true,
                                _ => false,
                            };
                            if !ok {
                                return Err(Error::invalid_field(
                                    &k,
                                    format!("{k} cannot be incremented by {n}"),
                                ));
                            }
                            p.inc.push((k, n));
                        }
                        ("$append", arg) if f.kind == FieldType::Json || f.many => {
                            p.append.push((k, list(arg)));
                        }
                        ("$remove", arg) if f.kind == FieldType::Json || f.many => {
                            p.remove.push((k, list(arg)));
                        }
                        _ => {
                            return Err(Error::invalid_field(
                                &k,
                                "operators are {\"$inc\": number} on numbers, {\"$append\": [..]} and {\"$remove\": [..]} on lists",
                            ));
                        }
                    }
                }
                v => {
                    p.plain.insert(k, v);
                }
            }
        }
        Ok(p)
    }

    /// Fields changed by an operator (relative to their current value).
    pub(super) fn relative(&self) -> impl Iterator<Item = &String> {
        self.inc
            .iter()
            .map(|x| &x.0)
            .chain(self.append.iter().map(|x| &x.0))
            .chain(self.remove.iter().map(|x| &x.0))
    }

    /// Every field the patch writes, for the field ACL.
    pub(super) fn touched(&self) -> Map<String, Value> {
        let mut m = self.plain.clone();
        for k in self.relative() {
            m.insert(k.clone(), Value::Null);
        }
        m
    }

    /// Applies to a copy of the record, checking every resulting value.
    pub(super) fn apply(
        &self,
        schema: &Schema,
        plain: &Map<String, Value>,
        rec: &Map<String, Value>,
    ) -> Result<Map<String, Value>> {
        let mut out = rec.clone();
        for (k, v) in plain {
            if v.is_null() {
                out.remove(k);
            } else {
                out.insert(k.clone(), v.clone());
            }
        }
        for (k, n) in &self.inc {
            let cur = out.get(k).cloned().unwrap_or(json!(0));
            let sum = match (cur.as_i64(), n.as_i64()) {
                (Some(a), Some(b)) => a.checked_add(b).map(Value::from),
                _ => Number::from_f64(cur.as_f64().unwrap_or(0.0) + n.as_f64().unwrap_or(0.0))
                    .map(Value::Number),
            }
            .ok_or_else(|| Error::invalid_field(k, format!("{k} would overflow")))?;
            out.insert(k.clone(), sum);
        }
        for (k, items) in &self.append {
            let mut list = match out.remove(k) {
                Some(Value::Array(a)) => a,
                None | Some(Value::Null) => Vec::new(),
                Some(_) => return Err(Error::invalid_field(k, format!("{k} is not a list"))),
            };
            let set = schema.field(k).is_some_and(|(_, f)| f.many);
            for x in items {
                if !(set && list.contains(x)) {
                    list.push(x.clone());
                }
            }
            out.insert(k.clone(), Value::Array(list));
        }
        for (k, items) in &self.remove {
            match out.get_mut(k) {
                Some(Value::Array(a)) => a.retain(|x| !items.contains(x)),
                None | Some(Value::Null) => {}
                Some(_) => return Err(Error::invalid_field(k, format!("{k} is not a list"))),
            }
        }
        // Re-check what operators produced (types, ranges, list sizes).
        for k in self.relative() {
            if let (Some((_, f)), Some(v)) = (schema.field(k), out.get(k)) {
                super::schema::check_value(f, v)
                    .map_err(|e| e.with_details(json!({ "field": k })))?;
            }
        }
        Ok(out)
    }
}

/// What a query answers.
#[derive(Debug, Clone, Serialize)]
pub struct QueryResult {
    pub items: Vec<Value>,
    /// Present when more may follow; send it back unchanged for the next page.
    pub cursor: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
    /// Candidate rows examined (index entries or records).
    pub scanned: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub page: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub per_page: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_page: Option<u64>,
}

impl Tables {
    pub fn new(store: Arc<dyn ItemStore>, clock: SharedClock) -> Self {
        Tables {
            store,
            clock,
            cursor_key: OnceLock::new(),
            listener: Default::default(),
            scan_limit: DEFAULT_SCAN_LIMIT,
            hooks: Default::default(),
            schemas: crate::cache::Cache::new(crate::cache::Freshness::None, 1024),
            files: None,
            wechat: OnceLock::new(),
        }
    }

    /// Where `file` fields find their files (the files service).
    pub fn with_files(mut self, files: Arc<dyn super::file_fields::FileRefs>) -> Self {
        self.files = Some(files);
        self
    }

    /// Caches schemas: `OwnWrites` where this process is the store's only writer,
    /// `Bounded` where others write too.
    pub fn with_cache(mut self, f: crate::cache::Freshness) -> Self {
        self.schemas = crate::cache::Cache::new(f, 1024);
        self
    }

    /// Sets the scan limit (at least 10): operators trade query reach for bounded work;
    /// the tests use a small one so fixtures past it stay small on emulators.
    pub fn with_scan_limit(mut self, n: usize) -> Self {
        self.scan_limit = n.max(10);
        self
    }

    /// Who hears about committed record changes (the live-channel service).
    pub fn set_listener(&self, l: std::sync::Weak<dyn super::changes::ChangeListener>) {
        self.listener.set(l);
    }

    /// Who runs the tables' hooks (the cloud-function service).
    pub fn set_hooks(&self, r: std::sync::Weak<dyn super::hooks::HookRunner>) {
        self.hooks.set(r);
    }

    /// The one way a record write reaches the store: the after-hook outbox items of the
    /// transaction's changes join it, `fits` judges it whole (a batch's size limit), it
    /// commits, then the change events and the after-hooks go out. A failure says why in
    /// the request's terms (an outbox or `fits` error is [`TxFailure::Error`]).
    pub(super) async fn commit(
        &self,
        mut tx: Tx,
        schemas: &HashMap<String, Schema>,
        caller: &Caller,
        depth: u8,
        fits: impl FnOnce(&Tx) -> Result<()>,
    ) -> std::result::Result<(), TxFailure> {
        let items = super::hooks::outbox_items(
            |t| schemas.get(t),
            &tx.changes,
            caller,
            depth,
            self.clock.now_ms(),
        )
        .map_err(TxFailure::Error)?;
        let outbox: Vec<String> = items
            .into_iter()
            .map(|(id, op)| {
                tx.push_op(op);
                id
            })
            .collect();
        fits(&tx).map_err(TxFailure::Error)?;
        let changes = std::mem::take(&mut tx.changes);
        let (ops, parts) = tx.into_ops();
        self.store
            .transact(ops)
            .await
            .map_err(|e| explain(e, &parts))?;
        self.listener.notify(changes).await;
        self.hooks.committed(outbox).await;
        Ok(())
    }

    /// [`Tables::commit`] of one record of `schema` going from `old` to `new` (`None`:
    /// absent); `new` gets its index keys filled in.
    async fn commit_one(
        &self,
        schema: &Schema,
        id: &str,
        old: Option<&Map<String, Value>>,
        new: Option<&mut Map<String, Value>>,
        caller: &Caller,
        depth: u8,
    ) -> std::result::Result<(), TxFailure> {
        let mut tx = Tx::new();
        tx.change(0, schema, id, old, new);
        let schemas = HashMap::from([(schema.name.clone(), schema.clone())]);
        self.commit(tx, &schemas, caller, depth, |_| Ok(())).await
    }

    // ---- records -------------------------------------------------------------------

    /// Everything about a create that can be judged before its before-hook runs (the
    /// hook's answer is judged again in full): an anonymous write to a `create: users`
    /// table never reaches a hook, which may write as admin or call out.
    pub(super) fn create_precheck(
        &self,
        caller: &Caller,
        schema: &Schema,
        input: &Map<String, Value>,
    ) -> Result<()> {
        rules::create_rights(schema, caller, input)?;
        rules::check_create_fields(schema, caller, input)
    }

    /// Write rights on every field a patch sends, and read rights on those it changes
    /// relative to their value (`$inc` …), judged on the raw input before a before-hook
    /// runs; [`Tables::checked_patch`] judges the hook's answer.
    pub(super) fn patch_precheck(
        caller: &Caller,
        schema: &Schema,
        r: Role,
        input: &Map<String, Value>,
    ) -> Result<()> {
        rules::check_field_writes(schema, caller, r, input)?;
        let relative = input.iter().filter(|(_, v)| {
            v.as_object()
                .is_some_and(|m| m.keys().any(|x| x.starts_with('$')))
        });
        rules::check_relative_writes(schema, caller, r, relative.map(|(k, _)| k))
    }

    pub(super) fn prepare_create(
        &self,
        caller: &Caller,
        schema: &Schema,
        mut input: Map<String, Value>,
    ) -> Result<(String, Map<String, Value>)> {
        let group = rules::create_rights(schema, caller, &input)?;
        input.remove("_group");
        let fields = schema.validate(&input, true)?;
        rules::check_create_fields(schema, caller, &input)?;
        let now = self.clock.now_ms();
        let id = ids::new_id(now);
        let mut rec = fields;
        rec.insert("_id".into(), json!(id));
        rec.insert(
            "_owner".into(),
            caller.user().map_or(Value::Null, |u| json!(u.id)),
        );
        rec.insert("_group".into(), group.map_or(Value::Null, Value::String));
        rec.insert("_created".into(), json!(rfc3339(now)));
        rec.insert("_updated".into(), json!(rfc3339(now)));
        rec.insert("_v".into(), json!(1));
        Ok((id, rec))
    }

    pub async fn create(
        &self,
        caller: &Caller,
        table: &str,
        input: Map<String, Value>,
    ) -> Result<Value> {
        self.create_at(caller, table, input, 0).await
    }

    /// [`Tables::create`] from a hook `depth` hooks deep.
    pub async fn create_at(
        &self,
        caller: &Caller,
        table: &str,
        mut input: Map<String, Value>,
        depth: u8,
    ) -> Result<Value> {
        let first = self.schema(table).await?;
        if first.hook("before_create").is_some() {
            self.create_precheck(caller, &first, &input)?;
            let mut event = Map::new();
            event.insert("data".into(), Value::Object(input.clone()));
            if let Some(data) = self
                .hooks
                .before(&first, "create", caller, depth, event)
                .await?
            {
                input = data;
            }
        }
        self.check_texts(caller, &first, &input).await?;
        let mut attempt = 0;
        let mut usable = HashSet::new();
        let (schema, id, rec) = loop {
            attempt += 1;
            let schema = if attempt == 1 {
                first.clone()
            } else {
                self.fresh_schema(table).await?
            };
            let (id, mut rec) = self.prepare_create(caller, &schema, input.clone())?;
            super::file_fields::check_usable(
                self.files.as_deref(),
                caller,
                &schema,
                &input,
                &rec,
                &mut usable,
            )
            .await?;
            match self
                .commit_one(&schema, &id, None, Some(&mut rec), caller, depth)
                .await
            {
                Ok(()) => break (schema, id, rec),
                Err(TxFailure::SchemaChanged) if attempt < MAX_RETRIES => continue,
                Err(TxFailure::Unique { field, .. }) => return Err(unique_error(&field)),
                Err(TxFailure::Changed(_) | TxFailure::SchemaChanged) => {
                    return Err(Error::new(Code::Conflict, "the table is changing; retry"));
                }
                Err(TxFailure::Error(e)) => return Err(e),
            }
        };
        // The creator sees what the rules let them see of their own record.
        Ok(Value::Object(
            visible(&schema, caller, &rec).unwrap_or_else(|| {
                let mut m = Map::new();
                m.insert("_id".into(), json!(id));
                m
            }),
        ))
    }

    pub(super) async fn load(&self, schema: &Schema, id: &str) -> Result<Map<String, Value>> {
        if !ids::is_id(id) {
            return Err(not_found(&schema.name, id));
        }
        Ok(self
            .store
            .get(&rec_pk(&schema.name), id)
            .await?
            .ok_or_else(|| not_found(&schema.name, id))?
            .attrs)
    }

    pub async fn get(
        &self,
        caller: &Caller,
        table: &str,
        id: &str,
        expand: &[String],
    ) -> Result<Value> {
        let schema = self.schema(table).await?;
        let rec = self.load(&schema, id).await?;
        let mut out = vec![Value::Object(
            rules::into_visible(&schema, caller, rec).ok_or_else(|| not_found(table, id))?,
        )];
        self.expand(caller, &schema, &mut out, expand).await?;
        Ok(out.pop().unwrap_or(Value::Null))
    }

    /// The new version of a record after a patch (full read-modify-write).
    pub(super) fn prepare_update(
        &self,
        caller: &Caller,
        schema: &Schema,
        id: &str,
        rec: &Map<String, Value>,
        input: Map<String, Value>,
    ) -> Result<Map<String, Value>> {
        let (patch, plain) = self.checked_patch(caller, schema, id, rec, input)?;
        self.updated(schema, rec, &patch, &plain)
    }

    /// A patch the caller may apply to this record: parsed, with its plain values
    /// validated against the schema and every field it touches checked against the ACL.
    pub(super) fn checked_patch(
        &self,
        caller: &Caller,
        schema: &Schema,
        id: &str,
        rec: &Map<String, Value>,
        input: Map<String, Value>,
    ) -> Result<(Patch, Map<String, Value>)> {
        let r = rules::authorize(schema, caller, rec, Perm::Write, id)?;
        let patch = Patch::parse(schema, input)?;
        let plain = schema.validate(&patch.plain, false)?;
        rules::check_field_writes(schema, caller, r, &patch.touched())?;
        rules::check_relative_writes(schema, caller, r, patch.relative())?;
        Ok((patch, plain))
    }

    /// The record after a checked patch, at its next version.
    pub(super) fn updated(
        &self,
        schema: &Schema,
        rec: &Map<String, Value>,
        patch: &Patch,
        plain: &Map<String, Value>,
    ) -> Result<Map<String, Value>> {
        let mut new = patch.apply(schema, plain, rec)?;
        let v = rec.get("_v").and_then(Value::as_i64).unwrap_or(0);
        new.insert("_v".into(), json!(v + 1));
        new.insert("_updated".into(), json!(rfc3339(self.clock.now_ms())));
        Ok(new)
    }

    /// Applies a patch; with `expected_v`, only to that version (409 otherwise).
    pub async fn update(
        &self,
        caller: &Caller,
        table: &str,
        id: &str,
        input: Map<String, Value>,
        expected_v: Option<i64>,
    ) -> Result<Value> {
        self.update_at(caller, table, id, input, expected_v, 0)
            .await
    }

    /// [`Tables::update`] from a hook `depth` hooks deep.
    pub async fn update_at(
        &self,
        caller: &Caller,
        table: &str,
        id: &str,
        mut input: Map<String, Value>,
        expected_v: Option<i64>,
        depth: u8,
    ) -> Result<Value> {
        let mut schema = self.schema(table).await?;
        let body_v = match input.remove("_v") {
            None => None,
            Some(v) => Some(
                v.as_i64()
                    .ok_or_else(|| Error::invalid_field("_v", "_v must be an integer"))?,
            ),
        };
        let expected_v = expected_v.or(body_v);
        if let Some(k) = input.keys().find(|k| k.starts_with('_')) {
            return Err(Error::invalid_field(k, format!("{k} is a system field")));
        }
        if input.is_empty() {
            return Err(Error::invalid("nothing to change"));
        }
        if schema.hook("before_update").is_some() {
            // Rights first: a caller who may not make this change never runs the hook.
            let rec = self.load(&schema, id).await?;
            let r = rules::authorize(&schema, caller, &rec, Perm::Write, id)?;
            Self::patch_precheck(caller, &schema, r, &input)?;
            if let Some(v) = expected_v
                && rec.get("_v").and_then(Value::as_i64) != Some(v)
            {
                return Err(stale_version());
            }
            let mut event = Map::new();
            event.insert("id".into(), json!(id));
            event.insert("data".into(), Value::Object(input.clone()));
            event.insert(
                "old".into(),
                Value::Object(super::attrs::without_keys(&rec)),
            );
            if let Some(data) = self
                .hooks
                .before(&schema, "update", caller, depth, event)
                .await?
            {
                if let Some(k) = data.keys().find(|k| k.starts_with('_')) {
                    return Err(Error::invalid_field(k, format!("{k} is a system field")));
                }
                input = data;
            }
        }
        self.check_texts(caller, &schema, &input).await?;
        let has_after = schema.hook("after_update").is_some();
        let mut usable = HashSet::new();
        for _ in 0..MAX_RETRIES {
            let rec = self.load(&schema, id).await?;
            if let Some(v) = expected_v
                && rec.get("_v").and_then(Value::as_i64) != Some(v)
            {
                rules::authorize(&schema, caller, &rec, Perm::Write, id)?;
                return Err(stale_version());
            }
            let (patch, plain) = self.checked_patch(caller, &schema, id, &rec, input.clone())?;
            super::file_fields::check_usable(
                self.files.as_deref(),
                caller,
                &schema,
                &plain,
                &plain,
                &mut usable,
            )
            .await?;
            // The single-item fast path has no room for an outbox item.
            if !has_after
                && let Some(out) = self
                    .try_atomic_update(caller, &schema, id, &rec, &patch, &plain, expected_v)
                    .await?
            {
                return Ok(out);
            }
            let mut new = self.updated(&schema, &rec, &patch, &plain)?;
            match self
                .commit_one(&schema, id, Some(&rec), Some(&mut new), caller, depth)
                .await
            {
                Ok(()) => {
                    return Ok(Value::Object(
                        visible(&schema, caller, &new).unwrap_or_default(),
                    ));
                }
                Err(TxFailure::SchemaChanged) => schema = self.fresh_schema(table).await?,
                Err(TxFailure::Changed(_)) if expected_v.is_some() => return Err(stale_version()),
                Err(TxFailure::Changed(_)) => continue,
                Err(TxFailure::Unique { field, .. }) => return Err(unique_error(&field)),
                Err(TxFailure::Error(e)) => return Err(e),
            }
        }
        Err(too_busy())
    }

    /// A patch that touches no indexed or unique field and uses only `$inc` is one
    /// conditional store update: concurrent increments never retry. `Ok(None)`: not
    /// eligible (or lost a race on the record's shape) — take the read-modify-write path.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn try_atomic_update(
        &self,
        caller: &Caller,
        schema: &Schema,
        id: &str,
        rec: &Map<String, Value>,
        patch: &Patch,
        plain: &Map<String, Value>,
        expected_v: Option<i64>,
    ) -> Result<Option<Value>> {
        // Fields with keys — by this schema or by the record's own (older) keys.
        let mut indexed: Vec<String> = schema.indexed().into_iter().map(|(f, _)| f).collect();
        for attr in [IX_ATTR, UQ_ATTR] {
            if let Some(m) = rec.get(attr).and_then(Value::as_object) {
                indexed.extend(m.keys().cloned());
            }
        }
        if !patch.append.is_empty()
            || !patch.remove.is_empty()
            || patch.touched().keys().any(|k| indexed.contains(k))
        {
            return Ok(None);
        }
        let mut upd = Update::default();
        let mut conds: Vec<Cond> = expected_v.map(|v| Cond::eq("_v", v)).into_iter().collect();
        // The record's keys are what we saw (a back-fill may add some at any time).
        conds.push(match rec.get(IXT_ATTR) {
            Some(t) => Cond::Eq(IXT_ATTR.into(), t.clone()),
            None => Cond::AttrNotExists(IXT_ATTR.into()),
        });
        for (k, v) in plain.clone() {
            if v.is_null() {
                upd.remove.push(k);
            } else {
                upd.set.push((k, v));
            }
        }
        for (k, n) in &patch.inc {
            let Some((_, f)) = schema.field(k) else {
                continue;
            };
            let d = n.as_f64().unwrap_or(0.0);
            // The bounds hold after adding `n` iff the current value is within the
            // bounds shifted by `n`. An absent value counts as 0: the result is `n`, which
            // may itself be out of bounds (then the record must have a value).
            let mut c = Vec::new();
            if let Some(max) = f.max {
                c.push(Cond::Le(k.clone(), json!(max - d)));
            }
            if let Some(min) = f.min {
                c.push(Cond::Ge(k.clone(), json!(min - d)));
            }
            if !c.is_empty() {
                let absent_ok = f.max.is_none_or(|m| d <= m) && f.min.is_none_or(|m| d >= m);
                conds.push(if absent_ok {
                    Cond::Or(vec![Cond::AttrNotExists(k.clone()), Cond::And(c)])
                } else {
                    Cond::And(c)
                });
            }
        }
        upd.add = patch.inc.clone();
        upd.add.push(("_v".into(), Number::from(1)));
        upd.set
            .push(("_updated".into(), json!(rfc3339(self.clock.now_ms()))));
        let cond = (!conds.is_empty()).then_some(Cond::And(conds));
        match self
            .store
            .update(&rec_pk(&schema.name), id, upd, cond)
            .await
        {
            Ok(item) => {
                let change = super::changes::RecordChange {
                    table: schema.name.clone(),
                    id: id.to_string(),
                    before: Some(super::attrs::without_keys(rec)),
                    after: Some(super::attrs::without_keys(&item.attrs)),
                };
                self.listener.notify(vec![change]).await;
                Ok(Some(Value::Object(
                    visible(schema, caller, &item.attrs).unwrap_or_default(),
                )))
            }
            // Gone, stale or out of bounds: the read-modify-write path says which.
            Err(StoreError::ConditionFailed) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn delete(&self, caller: &Caller, table: &str, id: &str) -> Result<()> {
        self.delete_at(caller, table, id, 0).await
    }

    /// [`Tables::delete`] from a hook `depth` hooks deep.
    pub async fn delete_at(&self, caller: &Caller, table: &str, id: &str, depth: u8) -> Result<()> {
        let mut schema = self.schema(table).await?;
        if schema.hook("before_delete").is_some() {
            let rec = self.load(&schema, id).await?;
            rules::authorize(&schema, caller, &rec, Perm::Delete, id)?;
            let mut event = Map::new();
            event.insert("id".into(), json!(id));
            event.insert(
                "old".into(),
                Value::Object(super::attrs::without_keys(&rec)),
            );
            self.hooks
                .before(&schema, "delete", caller, depth, event)
                .await?;
        }
        for _ in 0..MAX_RETRIES {
            let rec = self.load(&schema, id).await?;
            rules::authorize(&schema, caller, &rec, Perm::Delete, id)?;
            match self
                .commit_one(&schema, id, Some(&rec), None, caller, depth)
                .await
            {
                Ok(()) => return Ok(()),
                Err(TxFailure::SchemaChanged) => schema = self.fresh_schema(table).await?,
                Err(TxFailure::Changed(_)) => continue,
                Err(TxFailure::Unique { field, .. }) => return Err(unique_error(&field)),
                Err(TxFailure::Error(e)) => return Err(e),
            }
        }
        Err(too_busy())
    }
}
