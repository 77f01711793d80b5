//! Batches: creates, updates, deletes and checks across tables in one transaction.

use std::collections::{BTreeSet, HashMap};

use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::acl::Perm;
use super::keys::rec_pk;
use super::records::*;
use super::schema::Schema;
use super::write::{Tx, TxFailure, explain, unique_error};
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
        let at = |i: usize, e: Error| {
            let mut d = match e.details.clone() {
                Value::Object(m) => m,
                _ => Map::new(),
            };
            d.insert("op".into(), json!(i));
            e.with_details(Value::Object(d))
        };
        for (i, op) in ops.iter_mut().enumerate() {
            self.batch_before_hook(caller, &schemas, op, depth)
                .await
                .map_err(|e| at(i, e))?;
        }
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
                                self.authorize(caller, schema, &rec, Perm::Write, id)?;
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
                            self.authorize(caller, schema, &rec, Perm::Delete, id)?;
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
                            if visible(schema, caller, &rec).is_none() {
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
            let outbox = self.add_outbox(&mut tx, &schemas, caller, depth)?;
            if tx.len_with_counters() > MAX_TRANSACTION_OPS {
                return Err(Error::new(
                    Code::BatchTooLarge,
                    format!(
                        "with its after-hooks this batch needs more than {MAX_TRANSACTION_OPS} store writes"
                    ),
                ));
            }
            let changes = std::mem::take(&mut tx.changes);
            let (ops_, parts) = tx.into_ops();
            match self.store.transact(ops_).await {
                Ok(()) => {
                    self.committed(changes, outbox).await;
                    return Ok(results);
                }
                Err(e) => match explain(e, &parts) {
                    TxFailure::Changed(i) if client_v.get(i).copied().unwrap_or(false) => {
                        return Err(at(i, stale_version()));
                    }
                    TxFailure::Changed(_) => continue 'attempt,
                    TxFailure::SchemaChanged => {
                        for (name, sc) in schemas.iter_mut() {
                            *sc = self.fresh_schema(name).await?;
                        }
                        continue 'attempt;
                    }
                    TxFailure::Unique { op, field } => return Err(at(op, unique_error(&field))),
                    TxFailure::Error(e) => return Err(e),
                },
            }
        }
        Err(too_busy())
    }

    /// A batch operation's before-hook, if its table has one: may replace its data.
    pub(super) async fn batch_before_hook(
        &self,
        caller: &Caller,
        schemas: &HashMap<String, Schema>,
        op: &mut BatchOp,
        depth: u8,
    ) -> Result<()> {
        let mut event = Map::new();
        let (schema, kind, data) = match op {
            BatchOp::Create { table, data } => (&schemas[table.as_str()], "create", Some(data)),
            BatchOp::Update {
                table, id, data, ..
            } => {
                event.insert("id".into(), json!(id));
                (&schemas[table.as_str()], "update", Some(data))
            }
            BatchOp::Delete { table, id, .. } => {
                event.insert("id".into(), json!(id));
                (&schemas[table.as_str()], "delete", None)
            }
            BatchOp::Check { .. } => return Ok(()),
        };
        if schema.hook(&format!("before_{kind}")).is_none() {
            return Ok(());
        }
        if let Some(id) = event.get("id").and_then(Value::as_str).map(str::to_string) {
            let rec = self.load(schema, &id).await?;
            let perm = if kind == "delete" {
                Perm::Delete
            } else {
                Perm::Write
            };
            self.authorize(caller, schema, &rec, perm, &id)?;
            event.insert(
                "old".into(),
                Value::Object(super::changes::without_keys(&rec)),
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
