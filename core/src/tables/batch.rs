//! Batches: creates, updates, deletes and checks across tables in one transaction.

use std::collections::{BTreeSet, HashMap, HashSet};

use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::acl::Perm;
use super::keys::rec_pk;
use super::records::*;
use super::rules::{self, not_found, visible};
use super::schema::Schema;
use super::write::{Tx, TxFailure, unique_error};
use crate::auth::Caller;
use crate::error::{Code, Error, Result};
use crate::store::{Cond, MAX_TRANSACTION_OPS};

/// A batch operation (`POST /v1/batch`).
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase", deny_unknown_fields)]
pub enum BatchOp {
    Create {
        table: String,
        data: Map<String, Value>,
    },
    Update {
        table: String,
        id: String,
        data: Map<String, Value>,
        #[serde(rename = "_v")]
        v: Option<i64>,
    },
    Delete {
        table: String,
        id: String,
        #[serde(rename = "_v")]
        v: Option<i64>,
    },
    /// Holds the batch to a record existing (and at version `_v`, if given).
    Check {
        table: String,
        id: String,
        #[serde(rename = "_v")]
        v: Option<i64>,
    },
}

impl Tables {
    /// Runs creates, updates, deletes and checks across tables as one transaction: all
    /// happen or none. Each is checked against its table's ACL first.
    pub async fn batch(&self, caller: &Caller, ops: Vec<BatchOp>) -> Result<Vec<Value>> {
        self.batch_at(caller, ops, 0).await
    }

    /// [`Tables::batch`] from a hook `depth` hooks deep. Before-hooks run per operation,
    /// in order, before the transaction; after-hooks get one outbox item per change.
    pub async fn batch_at(
        &self,
        caller: &Caller,
        mut ops: Vec<BatchOp>,
        depth: u8,
    ) -> Result<Vec<Value>> {
        if ops.is_empty() {
            return Err(Error::new(
                Code::BatchTooLarge,
                "a batch holds at least one operation",
            ));
        }
        if ops.len() > MAX_TRANSACTION_OPS {
            return Err(Error::new(
                Code::BatchTooLarge,
                format!("a batch holds at most {MAX_TRANSACTION_OPS} operations"),
            ));
        }
        let mut schemas: HashMap<String, Schema> = HashMap::new();
        for op in &ops {
            let t = match op {
                BatchOp::Create { table, .. }
                | BatchOp::Update { table, .. }
                | BatchOp::Delete { table, .. }
                | BatchOp::Check { table, .. } => table,
            };
            if !schemas.contains_key(t) {
                schemas.insert(t.clone(), self.schema(t).await?);
            }
        }
        let at = op_error;
        if ops.iter().any(|op| before_hook(&schemas, op).is_some()) {
            // Everything that does not depend on what the hooks answer is judged before
            // any of them runs: a batch that is refused anyway runs no hook.
            let mut loaded = self.batch_precheck(caller, &schemas, &ops).await?;
            for (i, op) in ops.iter_mut().enumerate() {
                let rec = loaded.get_mut(i).and_then(Option::take);
                self.batch_before_hook(caller, &schemas, op, rec, depth)
                    .await
                    .map_err(|e| at(i, e))?;
            }
        }
        for (i, op) in ops.iter().enumerate() {
            if let BatchOp::Create { table, data } | BatchOp::Update { table, data, .. } = op {
                self.check_texts(caller, &schemas[table], data)
                    .await
                    .map_err(|e| at(i, e))?;
            }
        }
        let mut usable = HashSet::new();
        'attempt: for _ in 0..MAX_RETRIES {
            let mut tx = Tx::new();
            let mut results = Vec::with_capacity(ops.len());
            let mut client_v = vec![false; ops.len()];
            let mut seen = BTreeSet::new();
            for (i, op) in ops.iter().enumerate() {
                let one = async {
                    match op {
                        BatchOp::Create { table, data } => {
                            let schema = &schemas[table];
                            let (id, mut rec) =
                                self.prepare_create(caller, schema, data.clone())?;
                            super::file_fields::check_usable(
                                self.files.as_deref(),
                                caller,
                                schema,
                                data,
                                &rec,
                                &mut usable,
                            )
                            .await?;
                            tx.change(i, schema, &id, None, Some(&mut rec));
                            Ok(Value::Object(
                                visible(schema, caller, &rec).unwrap_or_default(),
                            ))
                        }
                        BatchOp::Update { table, id, data, v } => {
                            let schema = &schemas[table];
                            if !seen.insert((table.clone(), id.clone())) {
                                return Err(Error::invalid("a record appears twice in the batch"));
                            }
                            let rec = self.load(schema, id).await?;
                            if v.is_some_and(|v| rec.get("_v").and_then(Value::as_i64) != Some(v)) {
                                rules::authorize(schema, caller, &rec, Perm::Write, id)?;
                                return Err(stale_version());
                            }
                            if let Some(k) = data.keys().find(|k| k.starts_with('_')) {
                                return Err(Error::invalid_field(
                                    k,
                                    format!("{k} is a system field"),
                                ));
                            }
                            let mut new =
                                self.prepare_update(caller, schema, id, &rec, data.clone())?;
                            super::file_fields::check_usable(
                                self.files.as_deref(),
                                caller,
                                schema,
                                data,
                                &new,
                                &mut usable,
                            )
                            .await?;
                            tx.change(i, schema, id, Some(&rec), Some(&mut new));
                            client_v[i] = v.is_some();
                            Ok(Value::Object(
                                visible(schema, caller, &new).unwrap_or_default(),
                            ))
                        }
                        BatchOp::Delete { table, id, v } => {
                            let schema = &schemas[table];
                            if !seen.insert((table.clone(), id.clone())) {
                                return Err(Error::invalid("a record appears twice in the batch"));
                            }
                            let rec = self.load(schema, id).await?;
                            rules::authorize(schema, caller, &rec, Perm::Delete, id)?;
                            if v.is_some_and(|v| rec.get("_v").and_then(Value::as_i64) != Some(v)) {
                                return Err(stale_version());
                            }
                            tx.change(i, schema, id, Some(&rec), None);
                            client_v[i] = v.is_some();
                            Ok(json!({"_id": id, "deleted": true}))
                        }
                        BatchOp::Check { table, id, v } => {
                            let schema = &schemas[table];
                            if !seen.insert((table.clone(), id.clone())) {
                                return Err(Error::invalid("a record appears twice in the batch"));
                            }
                            let rec = self.load(schema, id).await?;
                            if !rules::may_read(schema, caller, &rec) {
                                return Err(not_found(table, id));
                            }
                            let cur = rec.get("_v").cloned().unwrap_or(Value::Null);
                            if v.is_some_and(|v| cur.as_i64() != Some(v)) {
                                return Err(stale_version());
                            }
                            tx.push_check(i, rec_pk(table), id.clone(), Cond::Eq("_v".into(), cur));
                            client_v[i] = v.is_some();
                            Ok(json!({"_id": id, "checked": true}))
                        }
                    }
                }
                .await
                .map_err(|e| at(i, e))?;
                results.push(one);
            }
            if let Some((op, field)) = tx.clash.take() {
                return Err(at(op, unique_error(&field)));
            }
            let n = tx.len_with_counters();
            if n > MAX_TRANSACTION_OPS {
                return Err(Error::new(
                    Code::BatchTooLarge,
                    format!(
                        "this batch needs {n} store writes (records, index entries, unique guards, counters); the limit is {MAX_TRANSACTION_OPS}"
                    ),
                ));
            }
            // After-hooks add an outbox item each.
            let fits = |tx: &Tx| {
                if tx.len_with_counters() > MAX_TRANSACTION_OPS {
                    return Err(Error::new(
                        Code::BatchTooLarge,
                        format!(
                            "with its after-hooks this batch needs more than {MAX_TRANSACTION_OPS} store writes"
                        ),
                    ));
                }
                Ok(())
            };
            match self.commit(tx, &schemas, caller, depth, fits).await {
                Ok(()) => return Ok(results),
                Err(TxFailure::Changed(i)) if client_v.get(i).copied().unwrap_or(false) => {
                    return Err(at(i, stale_version()));
                }
                Err(TxFailure::Changed(_)) => continue 'attempt,
                Err(TxFailure::SchemaChanged) => {
                    for (name, sc) in schemas.iter_mut() {
                        *sc = self.fresh_schema(name).await?;
                    }
                    continue 'attempt;
                }
                Err(TxFailure::Unique { op, field }) => return Err(at(op, unique_error(&field))),
                Err(TxFailure::Error(e)) => return Err(e),
            }
        }
        Err(too_busy())
    }

    /// The rights, shape and size of a batch as sent, judged before any before-hook runs
    /// (the transaction judges them again with what the hooks answered): each
    /// operation's create rule or record rights and field rights, records named twice,
    /// system fields, stale versions, and the fewest store writes the batch can take.
    /// The records read, by operation, for the hooks' events.
    async fn batch_precheck(
        &self,
        caller: &Caller,
        schemas: &HashMap<String, Schema>,
        ops: &[BatchOp],
    ) -> Result<Vec<Option<Map<String, Value>>>> {
        let at = op_error;
        let mut loaded = Vec::with_capacity(ops.len());
        let mut seen = BTreeSet::new();
        // Store writes the batch needs whatever the hooks answer: one per record and per
        // after-hook, one schema check per table written, a count per table whose record
        // count changes, an index entry per index of a new or deleted record.
        let mut writes = 0;
        let mut written = BTreeSet::new();
        let mut net: HashMap<&str, i64> = HashMap::new();
        for (i, op) in ops.iter().enumerate() {
            let (table, id, after) = match op {
                BatchOp::Create { table, .. } => (table, None, "after_create"),
                BatchOp::Update { table, id, .. } => (table, Some(id), "after_update"),
                BatchOp::Delete { table, id, .. } => (table, Some(id), "after_delete"),
                BatchOp::Check { table, id, .. } => (table, Some(id), ""),
            };
            let schema = &schemas[table.as_str()];
            if let Some(id) = id
                && !seen.insert((table.clone(), id.clone()))
            {
                return Err(at(i, Error::invalid("a record appears twice in the batch")));
            }
            writes += 1;
            if !matches!(op, BatchOp::Check { .. }) {
                written.insert(table.as_str());
                writes += usize::from(schema.hook(after).is_some());
            }
            let rec = match op {
                BatchOp::Create { data, .. } => {
                    self.create_precheck(caller, schema, data)
                        .map_err(|e| at(i, e))?;
                    *net.entry(table).or_default() += 1;
                    writes += schema.indexes().len();
                    None
                }
                BatchOp::Update { id, data, v, .. } => {
                    let rec = self.load(schema, id).await.map_err(|e| at(i, e))?;
                    let r = rules::authorize(schema, caller, &rec, Perm::Write, id)
                        .map_err(|e| at(i, e))?;
                    if v.is_some_and(|v| rec.get("_v").and_then(Value::as_i64) != Some(v)) {
                        return Err(at(i, stale_version()));
                    }
                    if let Some(k) = data.keys().find(|k| k.starts_with('_')) {
                        return Err(at(
                            i,
                            Error::invalid_field(k, format!("{k} is a system field")),
                        ));
                    }
                    Self::patch_precheck(caller, schema, r, data).map_err(|e| at(i, e))?;
                    Some(rec)
                }
                BatchOp::Delete { id, v, .. } => {
                    let rec = self.load(schema, id).await.map_err(|e| at(i, e))?;
                    rules::authorize(schema, caller, &rec, Perm::Delete, id)
                        .map_err(|e| at(i, e))?;
                    if v.is_some_and(|v| rec.get("_v").and_then(Value::as_i64) != Some(v)) {
                        return Err(at(i, stale_version()));
                    }
                    *net.entry(table).or_default() -= 1;
                    writes += rec
                        .get(super::attrs::IX_ATTR)
                        .and_then(Value::as_object)
                        .map_or(0, Map::len);
                    Some(rec)
                }
                BatchOp::Check { id, v, .. } => {
                    let rec = self.load(schema, id).await.map_err(|e| at(i, e))?;
                    if !rules::may_read(schema, caller, &rec) {
                        return Err(at(i, not_found(table, id)));
                    }
                    if v.is_some_and(|v| rec.get("_v").and_then(Value::as_i64) != Some(v)) {
                        return Err(at(i, stale_version()));
                    }
                    None
                }
            };
            loaded.push(rec);
        }
        writes += written.len() + net.values().filter(|n| **n != 0).count();
        if writes > MAX_TRANSACTION_OPS {
            return Err(Error::new(
                Code::BatchTooLarge,
                format!(
                    "this batch needs at least {writes} store writes (records, index entries, counters, after-hooks); the limit is {MAX_TRANSACTION_OPS}"
                ),
            ));
        }
        Ok(loaded)
    }

    /// A batch operation's before-hook, if its table has one: may replace its data.
    /// `rec`: the record it names, read (and its rights checked) by the precheck.
    pub(super) async fn batch_before_hook(
        &self,
        caller: &Caller,
        schemas: &HashMap<String, Schema>,
        op: &mut BatchOp,
        rec: Option<Map<String, Value>>,
        depth: u8,
    ) -> Result<()> {
        let Some(kind) = before_hook(schemas, op) else {
            return Ok(());
        };
        let mut event = Map::new();
        let (schema, data) = match op {
            BatchOp::Create { table, data } => (&schemas[table.as_str()], Some(data)),
            BatchOp::Update {
                table, id, data, ..
            } => {
                event.insert("id".into(), json!(id));
                (&schemas[table.as_str()], Some(data))
            }
            BatchOp::Delete { table, id, .. } => {
                event.insert("id".into(), json!(id));
                (&schemas[table.as_str()], None)
            }
            BatchOp::Check { .. } => return Ok(()),
        };
        if let Some(rec) = rec {
            event.insert(
                "old".into(),
                Value::Object(super::attrs::without_keys(&rec)),
            );
        }
        if let Some(d) = &data {
            event.insert("data".into(), Value::Object((*d).clone()));
        }
        if let Some(new) = self
            .hooks
            .before(schema, kind, caller, depth, event)
            .await?
            && let Some(d) = data
        {
            if let Some(k) = new.keys().find(|k| k.starts_with('_')) {
                return Err(Error::invalid_field(k, format!("{k} is a system field")));
            }
            *d = new;
        }
        Ok(())
    }
}

/// The kind of before-hook (`create`, `update`, `delete`) an operation runs, if its table
/// has one.
fn before_hook(schemas: &HashMap<String, Schema>, op: &BatchOp) -> Option<&'static str> {
    let (table, kind) = match op {
        BatchOp::Create { table, .. } => (table, "create"),
        BatchOp::Update { table, .. } => (table, "update"),
        BatchOp::Delete { table, .. } => (table, "delete"),
        BatchOp::Check { .. } => return None,
    };
    let schema = schemas.get(table.as_str())?;
    schema.hook(&format!("before_{kind}")).map(|_| kind)
}

/// An error of batch operation `i`: its details name the operation.
fn op_error(i: usize, e: Error) -> Error {
    let mut d = match e.details.clone() {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    d.insert("op".into(), json!(i));
    e.with_details(Value::Object(d))
}

#[cfg(test)]
#[path = "batch_tests.rs"]
mod tests;
