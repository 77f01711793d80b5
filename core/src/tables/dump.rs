//! Records for export and import (`docs/export-format.md`): a table's records page by
//! page as the admin API shows them, and a record written back by its id through
//! [`Tx::change`], so its index entries, unique guards and counts are rebuilt exactly
//! as a create or an update would write them (never copied). No hook runs and no change
//! event goes out: an import restores data, it does not replay its history.

use serde_json::{Map, Value, json};

use super::Tables;
use super::attrs::without_keys;
use super::keys::rec_pk;
use super::schema::{Schema, parse_rfc3339};
use super::write::{Tx, TxFailure, explain, unique_error};
use crate::auth::valid_group;
use crate::clock::rfc3339;
use crate::error::{Code, Error, Result};
use crate::ids;
use crate::outcome::Outcome;
use crate::store::{MAX_TRANSACTION_OPS, Query};

/// Records one export page reads.
const PAGE: usize = 200;

/// The system fields a record line may carry besides its table's fields.
const SYSTEM: [&str; 6] = ["_id", "_owner", "_group", "_created", "_updated", "_v"];

/// The record a restored line writes and whether it is created or changed; `None` when
/// the stored record already is the line.
type RestoreWrite = Option<(Map<String, Value>, Outcome)>;

fn bad(field: &str, why: &str) -> Error {
    Error::invalid_field(field, why.to_string())
}

impl Tables {
    /// One page of a table's records in id order, as the admin API shows them
    /// (system fields included, internal keys left out).
    pub async fn dump_records(
        &self,
        table: &str,
        cursor: Option<String>,
    ) -> Result<(Vec<Map<String, Value>>, Option<String>)> {
        let page = self
            .store
            .query(Query::partition(rec_pk(table)).limit(PAGE).after(cursor))
            .await?;
        Ok((
            page.items
                .iter()
                .map(|it| without_keys(&it.attrs))
                .collect(),
            page.cursor,
        ))
    }

    /// Checks a record line against `schema` and answers the record as it will be
    /// stored: its fields validated as a create validates them (defaults applied), its
    /// system fields checked. `now` fills in missing times.
    pub fn check_restore(
        schema: &Schema,
        line: &Map<String, Value>,
        now: i64,
    ) -> Result<(String, Map<String, Value>)> {
        let id = match line.get("_id") {
            Some(Value::String(s)) if ids::is_id(s) => s.clone(),
            _ => {
                return Err(bad(
                    "_id",
                    "_id is a yunqiao id (26 of 0-9 a-z without i l o u)",
                ));
            }
        };
        let owner = match line.get("_owner") {
            None | Some(Value::Null) => Value::Null,
            Some(Value::String(s)) if ids::is_id(s) => json!(s),
            _ => return Err(bad("_owner", "_owner is a user id or null")),
        };
        let group = match line.get("_group") {
            None | Some(Value::Null) => Value::Null,
            Some(Value::String(s)) if valid_group(s) => json!(s),
            _ => return Err(bad("_group", "_group is a group name or null")),
        };
        let time = |k: &str| -> Result<String> {
            match line.get(k) {
                None | Some(Value::Null) => Ok(rfc3339(now)),
                Some(Value::String(s)) => parse_rfc3339(s)
                    .map(rfc3339)
                    .ok_or_else(|| bad(k, "a time is RFC 3339")),
                _ => Err(bad(k, "a time is RFC 3339")),
            }
        };
        let created = time("_created")?;
        let updated = time("_updated")?;
        let v = match line.get("_v") {
            None | Some(Value::Null) => 1,
            Some(v) => v
                .as_i64()
                .filter(|v| *v >= 1)
                .ok_or_else(|| bad("_v", "_v is an integer of at least 1"))?,
        };
        let mut fields = Map::new();
        for (k, val) in line {
            if SYSTEM.contains(&k.as_str()) {
                continue;
            }
            if k.starts_with('_') {
                return Err(
                    Error::new(Code::UnknownField, format!("unknown field {k:?}"))
                        .with_details(json!({ "field": k })),
                );
            }
            fields.insert(k.clone(), val.clone());
        }
        let mut rec = schema.validate(&fields, true)?;
        rec.insert("_id".into(), json!(id));
        rec.insert("_owner".into(), owner);
        rec.insert("_group".into(), group);
        rec.insert("_created".into(), json!(created));
        rec.insert("_updated".into(), json!(updated));
        rec.insert("_v".into(), json!(v));
        Ok((id, rec))
    }

    /// What writing `line` over `old` would do: `None` when equal to the stored record
    /// (and its keys as the schema wants them now), else the record to write and
    /// whether it is created or changed.
    fn restore_plan(
        schema: &Schema,
        line: &Map<String, Value>,
        old: Option<&Map<String, Value>>,
        now: i64,
    ) -> Result<(String, RestoreWrite)> {
        let (id, mut rec) = Self::check_restore(schema, line, now)?;
        let Some(o) = old else {
            return Ok((id, Some((rec, Outcome::Created))));
        };
        // What the line leaves out stays as it is (so importing it twice is idempotent).
        for k in ["_created", "_updated", "_v"] {
            if line.get(k).is_none_or(Value::is_null)
                && let Some(v) = o.get(k)
            {
                rec.insert(k.into(), v.clone());
            }
        }
        // Unchanged also needs the keys the schema wants now (a back-fill).
        let (ix, uq) = super::write::desired_keys(schema, &rec);
        if without_keys(o) == rec
            && o.get(super::attrs::IX_ATTR) == Some(&Value::Object(ix))
            && o.get(super::attrs::UQ_ATTR) == Some(&Value::Object(uq))
        {
            return Ok((id, None));
        }
        Ok((id, Some((rec, Outcome::Changed))))
    }

    /// Writes the first lines of `lines` (one table's) in one transaction, as many as
    /// the store's transaction takes, and answers their outcomes (how many lines were
    /// written is their number). An import of many records pays one commit per group,
    /// not one per record. `None` when the group cannot be written as one (a refused
    /// line, an id twice, a unique value taken, a concurrent change): the caller then
    /// writes those lines one by one with [`Tables::restore_record`], which names the
    /// line that fails.
    pub async fn restore_group(
        &self,
        table: &str,
        lines: &[Map<String, Value>],
    ) -> Result<Option<Vec<Outcome>>> {
        let schema = self.schema(table).await?;
        let now = self.clock.now_ms();
        let mut tx = Tx::new();
        let mut outcomes = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for (n, line) in lines.iter().enumerate() {
            let Some(Value::String(id)) = line
                .get("_id")
                .filter(|v| v.as_str().is_some_and(ids::is_id))
            else {
                return Ok(None);
            };
            if !seen.insert(id.clone()) {
                return Ok(None);
            }
            let old = self.store.get(&rec_pk(table), id).await?.map(|it| it.attrs);
            let Ok((id, plan)) = Self::restore_plan(&schema, line, old.as_ref(), now) else {
                return Ok(None);
            };
            let Some((mut rec, outcome)) = plan else {
                outcomes.push(Outcome::Unchanged);
                continue;
            };
            // This record's own writes, to see whether the group still has room for them.
            let mut alone = Tx::new();
            alone.change(0, &schema, &id, old.as_ref(), Some(&mut rec.clone()));
            if tx.len_with_counters() + alone.len_with_counters() > MAX_TRANSACTION_OPS {
                if outcomes.is_empty() {
                    return Ok(None);
                }
                break;
            }
            tx.change(n, &schema, &id, old.as_ref(), Some(&mut rec));
            outcomes.push(outcome);
        }
        if tx.len_with_counters() == 0 {
            return Ok(Some(outcomes));
        }
        let (ops, _) = tx.into_ops();
        match self.store.transact(ops).await {
            Ok(()) => Ok(Some(outcomes)),
            Err(_) => Ok(None),
        }
    }

    /// Writes a record line by its id (import): created, changed, or left alone when
    /// equal to the stored record. A unique value another record holds is refused
    /// (`UNIQUE_VIOLATION`).
    pub async fn restore_record(&self, table: &str, line: &Map<String, Value>) -> Result<Outcome> {
        let mut schema = self.schema(table).await?;
        for attempt in 1..=super::records::MAX_RETRIES {
            if attempt > 1 {
                schema = self.fresh_schema(table).await?;
            }
            let (id, _) = Self::check_restore(&schema, line, self.clock.now_ms())?;
            let old = self
                .store
                .get(&rec_pk(table), &id)
                .await?
                .map(|it| it.attrs);
            let (id, plan) = Self::restore_plan(&schema, line, old.as_ref(), self.clock.now_ms())?;
            let Some((mut rec, outcome)) = plan else {
                return Ok(Outcome::Unchanged);
            };
            let mut tx = Tx::new();
            tx.change(0, &schema, &id, old.as_ref(), Some(&mut rec));
            let (ops, parts) = tx.into_ops();
            match self
                .store
                .transact(ops)
                .await
                .map_err(|e| explain(e, &parts))
            {
                Ok(()) => return Ok(outcome),
                Err(TxFailure::Unique { field, .. }) => {
                    return Err(
                        unique_error(&field).with_details(json!({"field": field, "id": id}))
                    );
                }
                Err(TxFailure::SchemaChanged | TxFailure::Changed(_)) => continue,
                Err(TxFailure::Error(e)) => return Err(e),
            }
        }
        Err(Error::new(
            Code::Conflict,
            "the table kept changing during the import; retry",
        ))
    }
}

#[cfg(test)]
#[path = "dump_tests.rs"]
mod tests;
