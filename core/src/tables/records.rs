//! Schemas in the store, and record create/get/update/delete under the table ACL.
//!
//! Store layout:
//! * `schema#<table>` / `_` — the table definition (and `v`, `created_at`, `updated_at`)
//! * `schemas` / `<table>` — the listing of tables
//! * `rec#<table>#<id>` / `_` — a record: user fields beside `_id _owner _group _created
//!   _updated _v`. Its own partition, so no record is a hot key for another.
//!
//! Rules act as filters: an unreadable record is "not found"; unreadable fields are
//! absent; writing a field the caller may not write is a 403 naming the field.

use std::sync::Arc;

use serde_json::{Map, Number, Value, json};

use super::acl::{Perm, Role};
use super::schema::{CreateRule, Schema, TableDef};
use crate::auth::Caller;
use crate::clock::{SharedClock, rfc3339};
use crate::error::{Code, Error, Result};
use crate::ids;
use crate::store::{Cond, Item, ItemStore, Query, StoreError, Update, WriteOp};

pub const SYSTEM_FIELDS: [&str; 6] = ["_id", "_owner", "_group", "_created", "_updated", "_v"];

pub struct Tables {
    store: Arc<dyn ItemStore>,
    clock: SharedClock,
}

fn schema_pk(t: &str) -> String {
    format!("schema#{t}")
}

fn record_pk(t: &str, id: &str) -> String {
    format!("rec#{t}#{id}")
}

/// The caller's role for one record.
fn role(caller: &Caller, record: &Map<String, Value>) -> Role {
    let Some(user) = caller.user() else {
        return Role::Other;
    };
    if record.get("_owner").and_then(Value::as_str) == Some(user.id.as_str()) {
        return Role::Owner;
    }
    match record.get("_group").and_then(Value::as_str) {
        Some(g) if user.in_group(g) => Role::Group,
        _ => Role::Other,
    }
}

/// What a record looks like to this caller, or `None` when it may not read it.
pub fn visible(schema: &Schema, caller: &Caller, record: &Map<String, Value>) -> Option<Value> {
    if caller.is_admin() {
        return Some(Value::Object(record.clone()));
    }
    let r = role(caller, record);
    if !schema.record_acl.allows(r, Perm::Read) {
        return None;
    }
    let mut out = Map::new();
    for (k, v) in record {
        let readable = match schema.field(k) {
            Some((i, _)) => schema.field_acls[i].is_none_or(|a| a.allows(r, Perm::Read)),
            None => SYSTEM_FIELDS.contains(&k.as_str()),
        };
        if readable {
            out.insert(k.clone(), v.clone());
        }
    }
    Some(Value::Object(out))
}

fn check_field_writes(schema: &Schema, r: Role, fields: &Map<String, Value>) -> Result<()> {
    for k in fields.keys() {
        if let Some((i, _)) = schema.field(k)
            && schema.field_acls[i].is_some_and(|a| !a.allows(r, Perm::Write))
        {
            return Err(Error::forbidden(format!("you may not write field {k:?}"))
                .with_details(json!({ "field": k })));
        }
    }
    Ok(())
}

/// Splits a patch into plain values and `{"$inc": n}` increments.
type Increments = Vec<(String, Number)>;

fn split_patch(input: Map<String, Value>) -> Result<(Map<String, Value>, Increments)> {
    let mut plain = Map::new();
    let mut inc = Vec::new();
    for (k, v) in input {
        match v {
            Value::Object(m) if m.keys().any(|x| x.starts_with('$')) => {
                match (m.len(), m.get("$inc")) {
                    (1, Some(Value::Number(n))) => inc.push((k, n.clone())),
                    _ => {
                        return Err(Error::invalid_field(
                            &k,
                            "the only operator is {\"$inc\": number}",
                        ));
                    }
                }
            }
            v => {
                plain.insert(k, v);
            }
        }
    }
    Ok((plain, inc))
}

impl Tables {
    pub fn new(store: Arc<dyn ItemStore>, clock: SharedClock) -> Self {
        Tables { store, clock }
    }

    /// Creates or changes a table. Dropping fields needs `allow_drop`, so a typo cannot
    /// hide data. Answers the schema and whether the table is new.
    pub async fn put_schema(
        &self,
        caller: &Caller,
        name: &str,
        def: &TableDef,
        allow_drop: bool,
    ) -> Result<(Schema, bool)> {
        caller.require_admin()?;
        let schema = Schema::from_def(name, def)?;
        let existing = self.store.get(&schema_pk(name), "_").await?;
        let now = self.clock.now_ms();
        let mut attrs = match serde_json::to_value(schema.to_def()) {
            Ok(Value::Object(m)) => m,
            _ => return Err(Error::internal("cannot encode schema")),
        };
        attrs.insert("updated_at".into(), json!(now));
        let Some(old) = existing else {
            attrs.insert("created_at".into(), json!(now));
            attrs.insert("v".into(), json!(1));
            let ops = vec![
                WriteOp::put(
                    Item::new(schema_pk(name), "_", attrs),
                    Some(Cond::NotExists),
                ),
                WriteOp::put(Item::new("schemas", name, Map::new()), None),
            ];
            return match self.store.transact(ops).await {
                Ok(()) => Ok((schema, true)),
                Err(StoreError::TransactionCanceled { .. }) => Err(Error::new(
                    Code::Conflict,
                    "the table was created concurrently; retry",
                )),
                Err(e) => Err(e.into()),
            };
        };
        let old_def = self.decode(name, &old)?;
        let dropped: Vec<&str> = old_def
            .fields
            .iter()
            .filter(|f| schema.field(&f.name).is_none())
            .map(|f| f.name.as_str())
            .collect();
        if !dropped.is_empty() && !allow_drop {
            return Err(Error::invalid_field(
                dropped[0],
                format!("this change drops fields {dropped:?}; send ?drop=true to drop them"),
            ));
        }
        for f in &schema.fields {
            if let Some((_, o)) = old_def.field(&f.name)
                && o.kind != f.kind
            {
                return Err(Error::invalid_field(
                    &f.name,
                    "a field's type cannot change; add a new field",
                ));
            }
        }
        let v = old.get("v").and_then(Value::as_i64).unwrap_or(0);
        attrs.insert(
            "created_at".into(),
            old.get("created_at").cloned().unwrap_or(json!(now)),
        );
        attrs.insert("v".into(), json!(v + 1));
        match self
            .store
            .put(
                Item::new(schema_pk(name), "_", attrs),
                Some(Cond::eq("v", v)),
            )
            .await
        {
            Ok(()) => Ok((schema, false)),
            Err(StoreError::ConditionFailed) => Err(Error::new(
                Code::Conflict,
                "the table changed concurrently; retry",
            )),
            Err(e) => Err(e.into()),
        }
    }

    fn decode(&self, name: &str, item: &Item) -> Result<Schema> {
        let mut attrs = item.attrs.clone();
        for k in ["v", "created_at", "updated_at"] {
            attrs.remove(k);
        }
        let def: TableDef = serde_json::from_value(Value::Object(attrs))
            .map_err(|e| Error::internal(format!("corrupt schema {name}: {e}")))?;
        Schema::from_def(name, &def)
    }

    pub async fn schema(&self, name: &str) -> Result<Schema> {
        if !super::schema::valid_name(name) {
            return Err(Error::not_found(format!("no table {name:?}")));
        }
        let item = self
            .store
            .get(&schema_pk(name), "_")
            .await?
            .ok_or_else(|| Error::not_found(format!("no table {name:?}")))?;
        self.decode(name, &item)
    }

    pub async fn list_schemas(&self, caller: &Caller) -> Result<Vec<Schema>> {
        caller.require_admin()?;
        let mut out = Vec::new();
        let mut cursor = None;
        loop {
            let page = self
                .store
                .query(Query::partition("schemas").limit(1000).after(cursor))
                .await?;
            for it in &page.items {
                out.push(self.schema(&it.sk).await?);
            }
            match page.cursor {
                Some(c) => cursor = Some(c),
                None => return Ok(out),
            }
        }
    }

    pub async fn create(
        &self,
        caller: &Caller,
        table: &str,
        mut input: Map<String, Value>,
    ) -> Result<Value> {
        let schema = self.schema(table).await?;
        let allowed = match &schema.create {
            CreateRule::Anyone => true,
            CreateRule::Users => caller.user().is_some() || caller.is_admin(),
            CreateRule::Group(g) => {
                caller.is_admin() || caller.user().is_some_and(|u| u.in_group(g))
            }
            CreateRule::Admins => caller.is_admin(),
        };
        if !allowed {
            return Err(match caller {
                Caller::Anonymous => {
                    Error::new(Code::Unauthenticated, "log in to create records here")
                }
                _ => Error::forbidden(format!("you may not create records in {table:?}")),
            });
        }
        let group = match input.remove("_group") {
            None | Some(Value::Null) => schema.default_group.clone(),
            Some(Value::String(g)) => {
                if !(caller.is_admin() || caller.user().is_some_and(|u| u.in_group(&g))) {
                    return Err(Error::forbidden("_group must be a group you belong to")
                        .with_details(json!({"field": "_group"})));
                }
                Some(g)
            }
            Some(_) => {
                return Err(Error::invalid_field(
                    "_group",
                    "_group must be a group name",
                ));
            }
        };
        if let Some(k) = input.keys().find(|k| k.starts_with('_')) {
            return Err(Error::invalid_field(k, format!("{k} is a system field")));
        }
        let fields = schema.validate(&input, true)?;
        if !caller.is_admin() {
            check_field_writes(&schema, Role::Owner, &input)?;
        }
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
        self.store
            .put(
                Item::new(record_pk(table, &id), "_", rec.clone()),
                Some(Cond::NotExists),
            )
            .await?;
        // The creator sees what the rules let them see of their own record.
        Ok(visible(&schema, caller, &rec).unwrap_or_else(|| json!({ "_id": id })))
    }

    async fn load(&self, table: &str, id: &str) -> Result<(Schema, Map<String, Value>)> {
        let schema = self.schema(table).await?;
        let not_found = || Error::not_found(format!("no record {id:?} in {table:?}"));
        if !ids::is_id(id) {
            return Err(not_found());
        }
        let item = self
            .store
            .get(&record_pk(table, id), "_")
            .await?
            .ok_or_else(not_found)?;
        Ok((schema, item.attrs))
    }

    pub async fn get(&self, caller: &Caller, table: &str, id: &str) -> Result<Value> {
        let (schema, rec) = self.load(table, id).await?;
        visible(&schema, caller, &rec)
            .ok_or_else(|| Error::not_found(format!("no record {id:?} in {table:?}")))
    }

    /// Applies a patch; with `expected_v`, only to that version (409 otherwise).
    pub async fn update(
        &self,
        caller: &Caller,
        table: &str,
        id: &str,
        mut input: Map<String, Value>,
        expected_v: Option<i64>,
    ) -> Result<Value> {
        let (schema, rec) = self.load(table, id).await?;
        let r = role(caller, &rec);
        let admin = caller.is_admin();
        if !admin && !schema.record_acl.allows(r, Perm::Write) {
            if visible(&schema, caller, &rec).is_none() {
                return Err(Error::not_found(format!("no record {id:?} in {table:?}")));
            }
            return Err(Error::forbidden("you may not change this record"));
        }
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
        let (plain, inc) = split_patch(input)?;
        let mut checked = schema.validate(&plain, false)?;
        for (k, n) in &inc {
            let (_, f) = schema.field(k).ok_or_else(|| {
                Error::new(Code::UnknownField, format!("unknown field {k:?}"))
                    .with_details(json!({ "field": k }))
            })?;
            let kind_ok = match f.kind {
                super::FieldType::Integer => n.is_i64(),
                super::FieldType::Number => true,
                _ => false,
            };
            if !kind_ok {
                return Err(Error::invalid_field(
                    k,
                    format!("{k} cannot be incremented by {n}"),
                ));
            }
            checked.insert(k.clone(), Value::Null);
        }
        if !admin {
            check_field_writes(&schema, r, &checked)?;
        }
        for (k, _) in &inc {
            checked.remove(k);
        }
        let mut upd = Update::default();
        for (k, v) in checked {
            if v.is_null() {
                upd.remove.push(k);
            } else {
                upd.set.push((k, v));
            }
        }
        upd.add = inc;
        upd.add.push(("_v".into(), Number::from(1)));
        upd.set
            .push(("_updated".into(), json!(rfc3339(self.clock.now_ms()))));
        let cond = expected_v.map(|v| Cond::eq("_v", v));
        let out = match self
            .store
            .update(&record_pk(table, id), "_", upd, cond)
            .await
        {
            Ok(item) => item,
            Err(StoreError::ConditionFailed) if expected_v.is_some() => {
                return Err(Error::new(
                    Code::Conflict,
                    "the record has changed since version you sent",
                )
                .with_details(json!({ "field": "_v" })));
            }
            Err(StoreError::ConditionFailed) => {
                return Err(Error::not_found(format!("no record {id:?} in {table:?}")));
            }
            Err(e) => return Err(e.into()),
        };
        Ok(visible(&schema, caller, &out.attrs).unwrap_or_else(|| json!({ "_id": id })))
    }

    pub async fn delete(&self, caller: &Caller, table: &str, id: &str) -> Result<()> {
        let (schema, rec) = self.load(table, id).await?;
        let r = role(caller, &rec);
        if !caller.is_admin() && !schema.record_acl.allows(r, Perm::Delete) {
            if visible(&schema, caller, &rec).is_none() {
                return Err(Error::not_found(format!("no record {id:?} in {table:?}")));
            }
            return Err(Error::forbidden("you may not delete this record"));
        }
        let v = rec.get("_v").cloned().unwrap_or(Value::Null);
        self.store
            .delete(&record_pk(table, id), "_", Some(Cond::Eq("_v".into(), v)))
            .await
            .map_err(|e| match e {
                StoreError::ConditionFailed => {
                    Error::new(Code::Conflict, "the record changed while deleting; retry")
                }
                e => e.into(),
            })
    }
}
