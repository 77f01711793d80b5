//! Table schemas: create and change (with back-fills), read, list.

use std::collections::BTreeSet;

use serde::Serialize;
use serde_json::{Map, Value, json};

use super::attrs::{IX_ATTR, UQ_ATTR};
use super::keys::rec_pk;
use super::records::*;
use super::rules;
use super::schema::{Schema, TableDef};
use super::write::{Tx, TxFailure, desired_keys, explain, unique_error, version_copies};
use crate::auth::Caller;
use crate::error::{Code, Error, Result};
use crate::store::{Cond, Item, Query, StoreError, Update, WriteOp};

/// How far a back-fill got.
#[derive(Debug, Clone, Serialize)]
pub struct Backfill {
    pub done: bool,
    pub scanned: usize,
    pub updated: usize,
}

/// How long a schema change back-fills inline before answering (API Gateway waits 30 s).
const BACKFILL_BUDGET_MS: i64 = 20_000;

impl Tables {
    /// Creates or changes a table. Dropping fields needs `allow_drop`, so a typo cannot
    /// hide data. A change that adds an index, a default or drops a field back-fills the
    /// existing records (inline, up to a time budget; [`Tables::backfill`] continues).
    pub async fn put_schema(
        &self,
        caller: &Caller,
        name: &str,
        def: &TableDef,
        allow_drop: bool,
    ) -> Result<(Schema, bool, Option<Backfill>)> {
        caller.require_admin()?;
        let r = self.change_schema(name, def, allow_drop).await;
        // Forgotten after the write: a read that cached the old one meanwhile is undone.
        self.schemas.forget(name);
        r
    }

    pub(super) async fn change_schema(
        &self,
        name: &str,
        def: &TableDef,
        allow_drop: bool,
    ) -> Result<(Schema, bool, Option<Backfill>)> {
        let mut schema = Schema::from_def(name, def)?;
        let existing = self.store.get(&schema_pk(name), "_").await?;
        let now = self.clock.now_ms();
        let Some(old) = existing else {
            schema.version = 1;
            let ops = vec![
                WriteOp::put(
                    Item::new(schema_pk(name), "_", schema_attrs(&schema, now, now)?),
                    Some(Cond::NotExists),
                ),
                WriteOp::put(Item::new(crate::keys::SCHEMAS, name, Map::new()), None),
            ]
            .into_iter()
            .chain(version_copies(name, 1))
            .collect();
            return match self.store.transact(ops).await {
                Ok(()) => Ok((schema, true, None)),
                Err(StoreError::TransactionCanceled { .. }) => Err(Error::new(
                    Code::Conflict,
                    "the table was created concurrently; retry",
                )),
                Err(e) => Err(e.into()),
            };
        };
        let old_schema = decode_schema(name, &old)?;
        let mut reshape = refuse_change(&old_schema, &schema, allow_drop)?;
        // Indexes the old schema did not have (ready or pending) wait for the back-fill;
        // a change of the record rule can add or drop scoped ones.
        let keyed = |s: &Schema| -> BTreeSet<(String, bool)> {
            s.indexes()
                .into_iter()
                .map(|i| {
                    let unique = s.field(&i.field).is_some_and(|(_, f)| f.unique);
                    (i.name, unique)
                })
                .collect()
        };
        let old_ix = keyed(&old_schema);
        let new_ix = keyed(&schema);
        let mut pending: Vec<String> = new_ix
            .iter()
            .filter(|k| !old_ix.contains(k) || old_schema.pending.contains(&k.0))
            .map(|k| k.0.clone())
            .collect();
        pending.sort();
        pending.dedup();
        reshape |= !pending.is_empty() || old_ix != new_ix;
        schema.pending = pending;
        schema.version = old_schema.version + 1;
        let created_at = old.get("created_at").and_then(Value::as_i64).unwrap_or(now);
        match self
            .store
            .put(
                Item::new(
                    schema_pk(name),
                    "_",
                    schema_attrs(&schema, created_at, now)?,
                ),
                Some(Cond::eq("v", old_schema.version)),
            )
            .await
        {
            Ok(()) => {}
            Err(StoreError::ConditionFailed) => {
                return Err(Error::new(
                    Code::Conflict,
                    "the table changed concurrently; retry",
                ));
            }
            Err(e) => return Err(e.into()),
        }
        // From here on, writers holding the old schema fail their version check and
        // redo their work under this one.
        match self
            .store
            .transact(version_copies(name, schema.version))
            .await
        {
            Ok(()) | Err(StoreError::TransactionCanceled { .. }) => {}
            Err(e) => return Err(e.into()),
        }
        if !reshape {
            return Ok((schema, false, None));
        }
        let report = self.run_backfill(&schema).await;
        self.schemas.forget(name);
        let schema = self.schema(name).await?;
        Ok((schema, false, Some(report?)))
    }

    /// What [`Tables::put_schema`] would do, without writing anything: refused as it
    /// would refuse, else the new schema and the table as it is now (`None`: new).
    pub async fn check_schema(
        &self,
        name: &str,
        def: &TableDef,
        allow_drop: bool,
    ) -> Result<(Schema, Option<Schema>)> {
        let schema = Schema::from_def(name, def)?;
        let Some(old) = self.store.get(&schema_pk(name), "_").await? else {
            return Ok((schema, None));
        };
        let old = decode_schema(name, &old)?;
        refuse_change(&old, &schema, allow_drop)?;
        Ok((schema, Some(old)))
    }

    /// Undoes the creation of a table nobody has written to yet (an apply that failed
    /// after creating it). Answers whether it was removed: a table with records, or one
    /// changed since its creation, stays.
    pub(crate) async fn remove_new_table(&self, name: &str) -> Result<bool> {
        let records = self
            .store
            .query(Query::partition(rec_pk(name)).limit(1))
            .await?;
        if !records.items.is_empty() {
            return Ok(false);
        }
        let mut ops = vec![
            WriteOp::Delete {
                pk: schema_pk(name),
                sk: "_".into(),
                cond: Some(Cond::eq("v", 1)),
            },
            WriteOp::Delete {
                pk: crate::keys::SCHEMAS.into(),
                sk: name.into(),
                cond: None,
            },
        ];
        ops.extend(version_copies(name, 1).into_iter().map(|op| match op {
            WriteOp::Put { item, .. } => WriteOp::Delete {
                pk: item.pk,
                sk: item.sk,
                cond: None,
            },
            other => other,
        }));
        let r = self.store.transact(ops).await;
        self.schemas.forget(name);
        match r {
            Ok(()) => Ok(true),
            Err(StoreError::TransactionCanceled { .. } | StoreError::ConditionFailed) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Continues an unfinished back-fill (admins).
    pub async fn backfill(&self, caller: &Caller, name: &str) -> Result<(Schema, Backfill)> {
        caller.require_admin()?;
        let schema = self.fresh_schema(name).await?;
        let report = self.run_backfill(&schema).await;
        self.schemas.forget(name);
        Ok((self.schema(name).await?, report?))
    }

    /// Brings every record to the schema: defaults of new fields, dropped fields removed,
    /// index entries, unique guards and counts added or removed. Each record is its own
    /// transaction, conditional on its version, so writers never wait and never lose.
    pub(super) async fn run_backfill(&self, schema: &Schema) -> Result<Backfill> {
        let deadline = self.clock.now_ms() + BACKFILL_BUDGET_MS;
        let mut report = Backfill {
            done: false,
            scanned: 0,
            updated: 0,
        };
        let mut cursor = None;
        loop {
            if self.clock.now_ms() > deadline {
                return Ok(report);
            }
            let page = self
                .store
                .query(
                    Query::partition(rec_pk(&schema.name))
                        .limit(100)
                        .after(cursor),
                )
                .await?;
            for item in page.items {
                report.scanned += 1;
                let mut rec = item.attrs;
                for _ in 0..MAX_RETRIES {
                    let Some(mut new) = migrate(schema, &rec) else {
                        break;
                    };
                    let mut tx = Tx::new();
                    tx.change(0, schema, &item.sk, Some(&rec), Some(&mut new));
                    let (ops, parts) = tx.into_ops();
                    match self.store.transact(ops).await {
                        Ok(()) => {
                            report.updated += 1;
                            break;
                        }
                        Err(e) => match explain(e, &parts) {
                            // A newer change runs its own back-fill.
                            TxFailure::SchemaChanged => return Ok(report),
                            TxFailure::Changed(_) => {
                                match self.store.get(&rec_pk(&schema.name), &item.sk).await? {
                                    Some(it) => rec = it.attrs,
                                    None => break,
                                }
                            }
                            TxFailure::Unique { field, .. } => {
                                return Err(unique_error(&field).with_details(json!({
                                    "field": field,
                                    "record": item.sk,
                                    "message": "existing records share this value; fix them and continue with POST /v1/tables/{table}/backfill",
                                })));
                            }
                            TxFailure::Error(e) => return Err(e),
                        },
                    }
                }
            }
            match page.cursor {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        report.done = true;
        if !schema.pending.is_empty() {
            let upd = Update::default().remove("pending");
            match self
                .store
                .update(
                    &schema_pk(&schema.name),
                    "_",
                    upd,
                    Some(Cond::eq("v", schema.version)),
                )
                .await
            {
                // A newer change runs its own back-fill.
                Ok(_) | Err(StoreError::ConditionFailed) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(report)
    }

    /// A table's schema, from the cache when it is fresh.
    pub async fn schema(&self, name: &str) -> Result<Schema> {
        if !super::names::valid_name(name) {
            return Err(Error::not_found(format!("no table {name:?}")));
        }
        let now = self.clock.now_ms();
        if let Some(s) = self.schemas.get(name, now) {
            return Ok(s);
        }
        let item = self
            .store
            .get(&schema_pk(name), "_")
            .await?
            .ok_or_else(|| Error::not_found(format!("no table {name:?}")))?;
        let s = decode_schema(name, &item)?;
        self.schemas.put(name, s.clone(), now);
        Ok(s)
    }

    /// The schema as stored now: after a write found the cached one outdated.
    pub async fn fresh_schema(&self, name: &str) -> Result<Schema> {
        self.schemas.forget(name);
        self.schema(name).await
    }

    /// A table's schema as `caller` may see it, and whether that is all of it. Admins
    /// see everything; others only tables they could read records of, only the fields
    /// some reader of their kind may read, and no rules (`acl`s, pending indexes).
    pub async fn schema_for(&self, caller: &Caller, name: &str) -> Result<(Schema, bool)> {
        if caller.is_admin() {
            // Admins read back what they just changed, whichever process changed it.
            return Ok((self.fresh_schema(name).await?, true));
        }
        let schema = self.schema(name).await?;
        let keep = rules::fields_shown(&schema, caller)
            .ok_or_else(|| Error::not_found(format!("no table {name:?}")))?;
        let mut out = schema.clone();
        out.fields = schema
            .fields
            .iter()
            .zip(&keep)
            .filter(|(_, k)| **k)
            .map(|(f, _)| {
                let mut f = f.clone();
                f.acl = None;
                f
            })
            .collect();
        out.field_acls = vec![None; out.fields.len()];
        out.pending.clear();
        out.hooks.clear();
        Ok((out, false))
    }

    pub async fn list_schemas(&self, caller: &Caller) -> Result<Vec<Schema>> {
        caller.require_admin()?;
        let mut out = Vec::new();
        for it in self.read_partition(crate::keys::SCHEMAS).await? {
            out.push(self.fresh_schema(&it.sk).await?);
        }
        Ok(out)
    }

    /// Every item of a partition (admin listings, audits).
    pub(super) async fn read_partition(&self, pk: &str) -> Result<Vec<Item>> {
        let mut out = Vec::new();
        let mut cursor = None;
        loop {
            let page = self
                .store
                .query(Query::partition(pk).limit(1000).after(cursor))
                .await?;
            out.extend(page.items);
            match page.cursor {
                Some(c) => cursor = Some(c),
                None => return Ok(out),
            }
        }
    }
}

/// The record as the current schema wants it, or `None` when it already is.
pub(super) fn migrate(schema: &Schema, rec: &Map<String, Value>) -> Option<Map<String, Value>> {
    let mut new = rec.clone();
    let mut data_changed = false;
    for f in &schema.fields {
        if !new.contains_key(&f.name)
            && let Some(d) = &f.default
            && let Ok(v) = super::schema::check_value(f, d)
        {
            new.insert(f.name.clone(), v);
            data_changed = true;
        }
    }
    let before = new.len();
    new.retain(|k, _| k.starts_with('_') || schema.field(k).is_some());
    data_changed |= new.len() != before;
    let (ix, uq) = desired_keys(schema, &new);
    let keys_changed = rec.get(IX_ATTR) != Some(&Value::Object(ix))
        || rec.get(UQ_ATTR) != Some(&Value::Object(uq));
    if !data_changed && !keys_changed {
        return None;
    }
    if data_changed {
        let v = rec.get("_v").and_then(Value::as_i64).unwrap_or(0);
        new.insert("_v".into(), json!(v + 1));
    }
    Some(new)
}

/// Refuses a change a table cannot take: dropping fields without `allow_drop`, or
/// changing a field's type. Answers whether existing records must be reshaped (a field
/// dropped, or a new one with a default).
fn refuse_change(old: &Schema, new: &Schema, allow_drop: bool) -> Result<bool> {
    let dropped: Vec<&str> = old
        .fields
        .iter()
        .filter(|f| new.field(&f.name).is_none())
        .map(|f| f.name.as_str())
        .collect();
    if !dropped.is_empty() && !allow_drop {
        return Err(Error::invalid_field(
            dropped[0],
            format!("this change drops fields {dropped:?}; send ?drop=true to drop them"),
        ));
    }
    let mut reshape = !dropped.is_empty();
    for f in &new.fields {
        match old.field(&f.name) {
            Some((_, o)) if o.kind != f.kind || o.many != f.many => {
                return Err(Error::invalid_field(
                    &f.name,
                    "a field's type cannot change; add a new field",
                ));
            }
            Some(_) => {}
            None => reshape |= f.default.is_some(),
        }
    }
    Ok(reshape)
}

pub(super) fn schema_pk(t: &str) -> String {
    format!("{}{t}", crate::keys::SCHEMA)
}

pub(super) fn schema_attrs(
    schema: &Schema,
    created_at: i64,
    now: i64,
) -> Result<Map<String, Value>> {
    let mut attrs = match serde_json::to_value(schema.to_def()) {
        Ok(Value::Object(m)) => m,
        _ => return Err(Error::internal("cannot encode schema")),
    };
    attrs.insert("created_at".into(), json!(created_at));
    attrs.insert("updated_at".into(), json!(now));
    attrs.insert("v".into(), json!(schema.version));
    if !schema.pending.is_empty() {
        attrs.insert("pending".into(), json!(schema.pending));
    }
    Ok(attrs)
}

pub(super) fn decode_schema(name: &str, item: &Item) -> Result<Schema> {
    let mut attrs = item.attrs.clone();
    let version = attrs.remove("v").and_then(|v| v.as_i64()).unwrap_or(1);
    let pending: Vec<String> = attrs
        .remove("pending")
        .and_then(|p| serde_json::from_value(p).ok())
        .unwrap_or_default();
    for k in ["created_at", "updated_at"] {
        attrs.remove(k);
    }
    let def: TableDef = serde_json::from_value(Value::Object(attrs))
        .map_err(|e| Error::internal(format!("corrupt schema {name}: {e}")))?;
    let mut s = Schema::from_def(name, &def)?;
    s.version = version;
    s.pending = pending;
    Ok(s)
}

#[cfg(test)]
#[path = "schemas_tests.rs"]
mod tests;
