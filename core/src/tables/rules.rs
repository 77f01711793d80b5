//! Who may do what with a table's records — every such decision, in one place: read,
//! write or delete a record; see or write a field; create in a table (and, by the same
//! rule, use a KV namespace); which records and fields a query may touch. Get, query
//! plans, batches, live delivery, hooks and cloud functions (through
//! [`super::Tables`]) and KV all ask this file. [`super::acl`] only parses the strings.
//!
//! Rules act as filters: an unreadable record is "not found" and never appears in a
//! query; unreadable fields are absent (and conditions see them as absent); writing a
//! field the caller may not write is a 403 naming the field. Admins pass every rule.

use serde_json::{Map, Value, json};

use super::acl::{Perm, Role};
use super::attrs::{IX_ATTR, IXT_ATTR, UQ_ATTR, without_keys};
use super::query::{Condition, Op};
use super::schema::{CreateRule, Schema, ScopeKind};
use crate::auth::Caller;
use crate::error::{Code, Error, Result};

/// Fields every record has; readable by whoever reads the record.
pub const SYSTEM_FIELDS: [&str; 6] = ["_id", "_owner", "_group", "_created", "_updated", "_v"];

// ---- callers ---------------------------------------------------------------------------

/// The caller's role for one record: its owner, a member of its group, or other.
/// Anonymous callers are always other.
pub fn role(caller: &Caller, record: &Map<String, Value>) -> Role {
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

/// Whether a table's create rule (or a KV namespace's read or write rule) lets `caller`
/// in.
pub fn passes(rule: &CreateRule, caller: &Caller) -> bool {
    caller.is_admin()
        || match rule {
            CreateRule::Anyone => true,
            CreateRule::Users => caller.user().is_some(),
            CreateRule::Group(g) => caller.user().is_some_and(|u| u.in_group(g)),
            CreateRule::Admins => false,
        }
}

/// Whether `caller` may put a record in group `g`: only its members may (so a group's
/// rights cannot be given to records by outsiders).
pub fn may_use_group(caller: &Caller, g: &str) -> bool {
    caller.is_admin() || caller.user().is_some_and(|u| u.in_group(g))
}

// ---- records ---------------------------------------------------------------------------

/// 404 for a record that is absent or that the caller may not read (the two look alike).
pub fn not_found(table: &str, id: &str) -> Error {
    Error::not_found(format!("no record {id:?} in {table:?}"))
}

/// Whether `caller` may read this record at all.
pub fn may_read(schema: &Schema, caller: &Caller, record: &Map<String, Value>) -> bool {
    caller.is_admin() || schema.record_acl.allows(role(caller, record), Perm::Read)
}

/// What a record looks like to this caller, or `None` when it may not read it.
pub fn visible(
    schema: &Schema,
    caller: &Caller,
    record: &Map<String, Value>,
) -> Option<Map<String, Value>> {
    if caller.is_admin() {
        return Some(without_keys(record));
    }
    let r = role(caller, record);
    if !schema.record_acl.allows(r, Perm::Read) {
        return None;
    }
    let mut out = Map::new();
    for (k, v) in record {
        if field_readable(schema, r, k) {
            out.insert(k.clone(), v.clone());
        }
    }
    Some(out)
}

/// [`visible`] of a record the caller may have: keeps what it may read, copies nothing.
pub fn into_visible(
    schema: &Schema,
    caller: &Caller,
    mut record: Map<String, Value>,
) -> Option<Map<String, Value>> {
    let r = if caller.is_admin() {
        None
    } else {
        let r = role(caller, &record);
        if !schema.record_acl.allows(r, Perm::Read) {
            return None;
        }
        Some(r)
    };
    record.retain(|k, _| match r {
        None => k != IX_ATTR && k != UQ_ATTR && k != IXT_ATTR,
        Some(r) => field_readable(schema, r, k),
    });
    Some(record)
}

/// Checks that the caller may `perm` (write or delete) this record; its role for it.
/// A record it may not even read is "not found".
pub fn authorize(
    schema: &Schema,
    caller: &Caller,
    record: &Map<String, Value>,
    perm: Perm,
    id: &str,
) -> Result<Role> {
    let r = role(caller, record);
    if caller.is_admin() || schema.record_acl.allows(r, perm) {
        return Ok(r);
    }
    if !may_read(schema, caller, record) {
        return Err(not_found(&schema.name, id));
    }
    Err(Error::forbidden(match perm {
        Perm::Delete => "you may not delete this record",
        _ => "you may not change this record",
    }))
}

// ---- fields ----------------------------------------------------------------------------

/// Whether a role may read field `k` of a record it may read (system fields: always;
/// internal attributes and stray fields: never).
pub fn field_readable(schema: &Schema, r: Role, k: &str) -> bool {
    match schema.field(k) {
        Some((i, _)) => schema.field_acls[i].is_none_or(|a| a.allows(r, Perm::Read)),
        None => SYSTEM_FIELDS.contains(&k),
    }
}

/// 403 naming the first of `fields` that `caller`, with role `r`, may not write.
pub fn check_field_writes(
    schema: &Schema,
    caller: &Caller,
    r: Role,
    fields: &Map<String, Value>,
) -> Result<()> {
    if caller.is_admin() {
        return Ok(());
    }
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

/// 403 for the first of `fields` changed relative to its value (`$inc` …) that the
/// caller may not read: an operator's outcome (a bound crossed, a list full) depends on
/// the current value, so only a reader of the field may apply one.
pub fn check_relative_writes<'a>(
    schema: &Schema,
    caller: &Caller,
    r: Role,
    fields: impl IntoIterator<Item = &'a String>,
) -> Result<()> {
    if caller.is_admin() {
        return Ok(());
    }
    for k in fields {
        if let Some((i, _)) = schema.field(k)
            && schema.field_acls[i].is_some_and(|a| !a.allows(r, Perm::Read))
        {
            return Err(Error::forbidden(format!(
                "you may not read field {k:?}, so you may not change it relative to its value; send a plain value"
            ))
            .with_details(json!({ "field": k })));
        }
    }
    Ok(())
}

/// Which of the schema's fields (in order) `caller` is shown when it reads the schema:
/// those some reader of its kind may read. `None`: the table is hidden from it.
pub fn fields_shown(schema: &Schema, caller: &Caller) -> Option<Vec<bool>> {
    if caller.is_admin() {
        return Some(vec![true; schema.fields.len()]);
    }
    let acl = schema.record_acl;
    let roles: &[Role] = match caller.user() {
        None if acl.other.read => &[Role::Other],
        None => return None,
        Some(_) => &[Role::Owner, Role::Group, Role::Other],
    };
    Some(
        schema
            .field_acls
            .iter()
            .map(|facl| {
                roles.iter().any(|r| {
                    acl.allows(*r, Perm::Read) && facl.is_none_or(|a| a.allows(*r, Perm::Read))
                })
            })
            .collect(),
    )
}

// ---- creating --------------------------------------------------------------------------

/// The rights a create needs whatever its field values: the table's create rule, the
/// `_group` asked for (and no other system field). The group to write.
pub fn create_rights(
    schema: &Schema,
    caller: &Caller,
    input: &Map<String, Value>,
) -> Result<Option<String>> {
    if !passes(&schema.create, caller) {
        return Err(match caller {
            Caller::Anonymous => Error::new(Code::Unauthenticated, "log in to create records here"),
            _ => Error::forbidden(format!("you may not create records in {:?}", schema.name)),
        });
    }
    let group = match input.get("_group") {
        None | Some(Value::Null) => schema.default_group.clone(),
        Some(Value::String(g)) => {
            if !may_use_group(caller, g) {
                return Err(Error::forbidden("_group must be a group you belong to")
                    .with_details(json!({"field": "_group"})));
            }
            Some(g.clone())
        }
        Some(_) => {
            return Err(Error::invalid_field(
                "_group",
                "_group must be a group name",
            ));
        }
    };
    if let Some(k) = input.keys().find(|k| k.starts_with('_') && *k != "_group") {
        return Err(Error::invalid_field(k, format!("{k} is a system field")));
    }
    Ok(group)
}

/// The creator of a record is its owner: the fields it sends are judged by the owner's
/// field rights.
pub fn check_create_fields(
    schema: &Schema,
    caller: &Caller,
    fields: &Map<String, Value>,
) -> Result<()> {
    check_field_writes(schema, caller, Role::Owner, fields)
}

// ---- queries ---------------------------------------------------------------------------

/// The records a caller's query may touch.
#[derive(Debug, Clone, PartialEq)]
pub enum Reach {
    /// Every record: admins, and tables whose rule lets anyone read.
    All,
    /// Only records of these owners and groups (never empty).
    Scopes(Vec<Scope>),
    /// None at all.
    Nothing,
}

/// One owner's or one group's records.
#[derive(Debug, Clone, PartialEq)]
pub struct Scope {
    pub kind: ScopeKind,
    /// The user id or group name.
    pub value: String,
}

impl Scope {
    /// The roles a reader of this scope has for its records.
    pub fn roles(&self) -> &'static [Role] {
        match self.kind {
            ScopeKind::Owner => &[Role::Owner],
            ScopeKind::Group => &[Role::Owner, Role::Group],
        }
    }

    /// Whether every record of the scope meets `c`.
    pub fn implies(&self, c: &Condition) -> bool {
        c.op == Op::Eq
            && c.path.len() == 1
            && c.field() == self.kind.field()
            && c.value.as_str() == Some(self.value.as_str())
    }

    /// Whether a record is in the scope.
    pub fn holds(&self, record: &Map<String, Value>) -> bool {
        record.get(self.kind.field()).and_then(Value::as_str) == Some(self.value.as_str())
    }
}

/// Whose records `caller` may read in `schema`'s table, narrowed by equalities on
/// `_owner` and `_group` in `conds` (which must still be checked on every record).
pub fn reach(schema: &Schema, caller: &Caller, conds: &[Condition]) -> Reach {
    let acl = schema.record_acl;
    if caller.is_admin() || acl.other.read {
        return Reach::All;
    }
    let Some(user) = caller.user() else {
        return Reach::Nothing;
    };
    let mut scopes = Vec::new();
    if acl.owner.read {
        scopes.push(Scope {
            kind: ScopeKind::Owner,
            value: user.id.clone(),
        });
    }
    if acl.group.read {
        scopes.extend(user.groups.iter().map(|g| Scope {
            kind: ScopeKind::Group,
            value: g.clone(),
        }));
    }
    for c in conds {
        if c.op != Op::Eq || c.path.len() != 1 {
            continue;
        }
        let kind = match c.field() {
            "_owner" => ScopeKind::Owner,
            "_group" => ScopeKind::Group,
            _ => continue,
        };
        // A scope of this kind with this value holds every matching readable record;
        // scopes of this kind with other values hold none.
        if let Some(s) = scopes.iter().find(|s| s.implies(c)).cloned() {
            scopes = vec![s];
        } else {
            scopes.retain(|s| s.kind != kind);
        }
    }
    if scopes.is_empty() {
        Reach::Nothing
    } else {
        Reach::Scopes(scopes)
    }
}

/// Whether every caller who can read a record can also read `field` (so that an index
/// on it, a count of it or an order by it reveals nothing hidden).
pub fn field_open(schema: &Schema, caller: &Caller, field: &str) -> bool {
    readable_by(
        schema,
        caller,
        field,
        &[Role::Owner, Role::Group, Role::Other],
    )
}

/// Whether every one of `roles` that may read a record may read its `field`.
pub fn readable_by(schema: &Schema, caller: &Caller, field: &str, roles: &[Role]) -> bool {
    if caller.is_admin() {
        return true;
    }
    let Some((i, _)) = schema.field(field) else {
        return true;
    };
    let Some(facl) = schema.field_acls[i] else {
        return true;
    };
    roles
        .iter()
        .all(|r| !schema.record_acl.allows(*r, Perm::Read) || facl.allows(*r, Perm::Read))
}

#[cfg(test)]
#[path = "rules_tests.rs"]
mod tests;
