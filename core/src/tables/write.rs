//! One transaction per logical write: the record, its index entries, its unique guards
//! and its counters change together or not at all.
//!
//! A record remembers the index keys it was written with (`_ix`: field → key) and its
//! unique guards (`_uq`: field → hash), so the entries to remove are known exactly even
//! after the schema changed — which is what makes back-fill and dropping indexes safe.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::attrs::{IX_ATTR, IXT_ATTR, UQ_ATTR, without_keys};
use super::keys::{COUNT_SHARDS, cnt_pk, ix_pk, ix_sk, rec_pk, scoped_key, unique_key, vkey};
use super::schema::{FieldType, Schema};
use crate::error::{Code, Error};
use crate::store::{Cond, Item, StoreError, Update, WriteOp};

pub fn sv_pk(t: &str) -> String {
    format!("{}{t}", crate::keys::SCHEMA_VERSION)
}

/// Writes the schema version into every copy, never moving one backwards.
pub fn version_copies(t: &str, v: i64) -> Vec<WriteOp> {
    (0..COUNT_SHARDS)
        .map(|k| {
            let item = Item::new(
                sv_pk(t),
                k.to_string(),
                json!({ "v": v }).as_object().cloned().unwrap_or_default(),
            );
            let cond = Cond::Or(vec![Cond::NotExists, Cond::Le("v".into(), json!(v))]);
            WriteOp::put(item, Some(cond))
        })
        .collect()
}

/// What a store operation of a transaction was for, to explain a failure.
#[derive(Debug, Clone)]
pub enum Part {
    /// The record of batch operation `n`.
    Record(usize),
    /// A unique guard of `field`, for batch operation `n`.
    Unique(usize, String),
    /// The check that the writer's schema is still the table's.
    Schema,
    Other,
}

#[derive(Default)]
pub struct Tx {
    pub ops: Vec<WriteOp>,
    pub parts: Vec<Part>,
    counters: BTreeMap<(String, String), i64>,
    shard: u32,
    guards: std::collections::BTreeSet<(String, String)>,
    checked: std::collections::BTreeSet<String>,
    /// Two operations of one batch claim (or move) the same unique value.
    pub clash: Option<(usize, String)>,
    /// What the transaction does to records, for change events once it commits.
    pub changes: Vec<super::changes::RecordChange>,
}

fn key_map(rec: &Map<String, Value>, attr: &str) -> Map<String, Value> {
    rec.get(attr)
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default()
}

/// The index keys and unique hashes the schema wants for this record.
pub fn desired_keys(
    schema: &Schema,
    rec: &Map<String, Value>,
) -> (Map<String, Value>, Map<String, Value>) {
    let mut ix = Map::new();
    for i in schema.indexes() {
        let k = vkey(i.kind, rec.get(&i.field));
        let k = match i.scope {
            Some(s) => scoped_key(&vkey(FieldType::String, rec.get(s.field())), &k),
            None => k,
        };
        ix.insert(i.name, json!(k));
    }
    let mut uq = Map::new();
    for f in schema.unique() {
        if let Some(v) = rec.get(&f.name).filter(|v| !v.is_null()) {
            uq.insert(f.name.clone(), json!(unique_key(v)));
        }
    }
    (ix, uq)
}

impl Tx {
    pub fn new() -> Tx {
        Tx {
            shard: rand::random::<u32>() % COUNT_SHARDS,
            ..Tx::default()
        }
    }

    fn push(&mut self, op: WriteOp, part: Part) {
        self.ops.push(op);
        self.parts.push(part);
    }

    fn count(&mut self, table: &str, what: String, delta: i64) {
        let sk = format!("{what}|{}", self.shard);
        *self.counters.entry((cnt_pk(table), sk)).or_default() += delta;
    }

    /// Every write carries a check that the schema it was computed with is still the
    /// table's, so a writer that loaded the schema before a change cannot undo the
    /// change's back-fill. The version is kept in `COUNT_SHARDS` copies, so concurrent
    /// transactions rarely meet on one item.
    fn check_schema(&mut self, schema: &Schema) {
        if self.checked.insert(schema.name.clone()) {
            let op = WriteOp::Check {
                pk: sv_pk(&schema.name),
                sk: self.shard.to_string(),
                cond: Cond::eq("v", schema.version),
            };
            self.push(op, Part::Schema);
        }
    }

    /// Adds the writes that take record `id` of `schema`'s table from `old` to `new`
    /// (`None`: absent). `new` gets its `_ix`/`_uq` filled in. The record write is
    /// conditional on `old`'s `_v`, so a concurrent change cancels the transaction.
    pub fn change(
        &mut self,
        n: usize,
        schema: &Schema,
        id: &str,
        old: Option<&Map<String, Value>>,
        new: Option<&mut Map<String, Value>>,
    ) {
        self.check_schema(schema);
        let t = schema.name.as_str();
        if old.is_some() || new.is_some() {
            self.changes.push(super::changes::RecordChange {
                table: t.to_string(),
                id: id.to_string(),
                before: old.map(without_keys),
                after: new.as_deref().map(without_keys),
            });
        }
        let (old_ix, old_uq) = match old {
            Some(o) => (key_map(o, IX_ATTR), key_map(o, UQ_ATTR)),
            None => (Map::new(), Map::new()),
        };
        let (new_ix, new_uq) = match &new {
            Some(r) => desired_keys(schema, r),
            None => (Map::new(), Map::new()),
        };
        let old_v = old
            .and_then(|o| o.get("_v"))
            .cloned()
            .unwrap_or(Value::Null);
        let keys_changed = old_ix != new_ix || old_uq != new_uq;
        // The version and the key token: a back-fill changes keys without a new `_v`.
        let unchanged = Cond::And(vec![
            Cond::Eq("_v".into(), old_v.clone()),
            match old.and_then(|o| o.get(IXT_ATTR)) {
                Some(t) => Cond::Eq(IXT_ATTR.into(), t.clone()),
                None => Cond::AttrNotExists(IXT_ATTR.into()),
            },
        ]);
        let token = match old.and_then(|o| o.get(IXT_ATTR)) {
            Some(t) if !keys_changed => t.clone(),
            _ => json!(format!("{:x}", rand::random::<u64>())),
        };
        match (old, new) {
            (None, Some(rec)) => {
                rec.insert(IX_ATTR.into(), Value::Object(new_ix.clone()));
                rec.insert(UQ_ATTR.into(), Value::Object(new_uq.clone()));
                rec.insert(IXT_ATTR.into(), token.clone());
                let item = Item::new(rec_pk(t), id, rec.clone());
                self.push(WriteOp::put(item, Some(Cond::NotExists)), Part::Record(n));
                self.count(t, "*".into(), 1);
            }
            (Some(_), Some(rec)) => {
                rec.insert(IX_ATTR.into(), Value::Object(new_ix.clone()));
                rec.insert(UQ_ATTR.into(), Value::Object(new_uq.clone()));
                rec.insert(IXT_ATTR.into(), token.clone());
                let item = Item::new(rec_pk(t), id, rec.clone());
                let cond = unchanged.clone();
                self.push(WriteOp::put(item, Some(cond)), Part::Record(n));
            }
            (Some(_), None) => {
                self.push(
                    WriteOp::Delete {
                        pk: rec_pk(t),
                        sk: id.to_string(),
                        cond: Some(unchanged.clone()),
                    },
                    Part::Record(n),
                );
                self.count(t, "*".into(), -1);
            }
            (None, None) => return,
        }
        // Index entries and per-value counts.
        for (f, k) in &old_ix {
            let Some(k) = k.as_str() else { continue };
            if new_ix.get(f).and_then(Value::as_str) == Some(k) {
                continue;
            }
            self.push(
                WriteOp::Delete {
                    pk: ix_pk(t, f),
                    sk: ix_sk(k, id),
                    cond: None,
                },
                Part::Other,
            );
            self.count(t, format!("{f}|{k}"), -1);
        }
        for (f, k) in &new_ix {
            let Some(k) = k.as_str() else { continue };
            if old_ix.get(f).and_then(Value::as_str) == Some(k) {
                continue;
            }
            let item = Item::new(
                ix_pk(t, f),
                ix_sk(k, id),
                json!({"id": id}).as_object().cloned().unwrap_or_default(),
            );
            self.push(WriteOp::put(item, None), Part::Other);
            self.count(t, format!("{f}|{k}"), 1);
        }
        // Unique guards: a new value must be free; an old one is released only if ours.
        for (f, h) in &old_uq {
            let Some(h) = h.as_str() else { continue };
            if new_uq.get(f).and_then(Value::as_str) == Some(h) {
                continue;
            }
            if !self
                .guards
                .insert((super::keys::uq_pk(t, f), h.to_string()))
            {
                self.clash.get_or_insert((n, f.clone()));
                continue;
            }
            self.push(
                WriteOp::Delete {
                    pk: super::keys::uq_pk(t, f),
                    sk: h.to_string(),
                    cond: Some(Cond::eq("id", id)),
                },
                Part::Other,
            );
        }
        for (f, h) in &new_uq {
            let Some(h) = h.as_str() else { continue };
            if old_uq.get(f).and_then(Value::as_str) == Some(h) {
                continue;
            }
            if !self
                .guards
                .insert((super::keys::uq_pk(t, f), h.to_string()))
            {
                self.clash.get_or_insert((n, f.clone()));
                continue;
            }
            let item = Item::new(
                super::keys::uq_pk(t, f),
                h,
                json!({"id": id}).as_object().cloned().unwrap_or_default(),
            );
            self.push(
                WriteOp::put(item, Some(Cond::NotExists)),
                Part::Unique(n, f.clone()),
            );
        }
    }

    /// Adds a write that belongs to no record (an outbox item).
    pub fn push_op(&mut self, op: WriteOp) {
        self.push(op, Part::Other);
    }

    /// Holds the transaction to record `sk` of `pk` meeting `cond` (batch `check`).
    pub fn push_check(&mut self, n: usize, pk: String, sk: String, cond: Cond) {
        self.push(WriteOp::Check { pk, sk, cond }, Part::Record(n));
    }

    /// Every store operation, counters last.
    pub fn into_ops(mut self) -> (Vec<WriteOp>, Vec<Part>) {
        for ((pk, sk), d) in std::mem::take(&mut self.counters) {
            if d != 0 {
                self.push(
                    WriteOp::Update {
                        pk,
                        sk,
                        update: Update::default().add("n", d).upsert(),
                        cond: None,
                    },
                    Part::Other,
                );
            }
        }
        (self.ops, self.parts)
    }

    pub fn len_with_counters(&self) -> usize {
        self.ops.len() + self.counters.values().filter(|d| **d != 0).count()
    }
}

/// Why a transaction was canceled, in terms of the request.
#[derive(Debug)]
pub enum TxFailure {
    /// The table's schema changed since the writer loaded it: reload and redo.
    SchemaChanged,
    /// A record changed (or appeared/disappeared) since it was read: batch op `n`.
    Changed(usize),
    Unique {
        op: usize,
        field: String,
    },
    Error(Error),
}

pub fn explain(e: StoreError, parts: &[Part]) -> TxFailure {
    let failed = match e {
        StoreError::TransactionCanceled { failed } => failed,
        StoreError::ConditionFailed => vec![0],
        e => return TxFailure::Error(e.into()),
    };
    if failed
        .iter()
        .any(|i| matches!(parts.get(*i), Some(Part::Schema)))
    {
        return TxFailure::SchemaChanged;
    }
    for i in &failed {
        if let Some(Part::Unique(op, field)) = parts.get(*i) {
            return TxFailure::Unique {
                op: *op,
                field: field.clone(),
            };
        }
    }
    for i in &failed {
        if let Some(Part::Record(op)) = parts.get(*i) {
            return TxFailure::Changed(*op);
        }
    }
    TxFailure::Error(Error::new(
        Code::Conflict,
        "a concurrent change interfered; retry",
    ))
}

pub fn unique_error(field: &str) -> Error {
    Error::new(
        Code::UniqueViolation,
        format!("another record already has this {field}"),
    )
    .with_details(json!({ "field": field }))
}

#[cfg(test)]
#[path = "write_tests.rs"]
mod tests;
