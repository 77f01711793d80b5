//! Table schemas and the validation of record values against them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::acl::Acl;
use super::names::{valid_export_name, valid_module_name, valid_name};
use crate::clock::rfc3339;
use crate::error::{Code, Error, Result};
use crate::ids;

pub const MAX_FIELDS: usize = 200;
/// Each index costs every write an entry and a counter (see `keys`): keep a create well
/// inside one store transaction.
pub const MAX_INDEXES: usize = 10;
const DEFAULT_STRING_LENGTH: usize = 255;
const MAX_STRING_LENGTH: usize = 4096;
const DEFAULT_TEXT_LENGTH: usize = 65_536;
const MAX_TEXT_LENGTH: usize = 300_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FieldType {
    String,
    Text,
    Integer,
    Number,
    Boolean,
    Datetime,
    Json,
    Ref,
    File,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Field {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: FieldType,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub required: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<Value>,
    /// Longest string/text, in characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub length: Option<usize>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "whole_as_integer"
    )]
    pub min: Option<f64>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "whole_as_integer"
    )]
    pub max: Option<f64>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unique: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub index: bool,
    /// The table a `ref` field points into.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table: Option<String>,
    /// A `ref` field holding a list of record ids (XpmJS `inWhere`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub many: bool,
    /// Field ACL `owner:group:other` over `r w`; absent: the record ACL decides.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acl: Option<String>,
    /// `"text"`: what users write here passes WeChat's text check (`msg_sec_check`)
    /// first; a `risky` verdict refuses the write (string and text fields).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check: Option<ContentCheck>,
    /// What a `review` verdict of the check does: `allow` (the default) or `refuse`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub review: Option<ReviewPolicy>,
}

/// A field's content check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ContentCheck {
    Text,
}

/// What a `review` verdict does to a write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReviewPolicy {
    Allow,
    Refuse,
}

/// A bound is shown as it was most likely written: `0`, not `0.0`, for a whole number.
fn whole_as_integer<S: serde::Serializer>(
    v: &Option<f64>,
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    match v {
        Some(x) if x.fract() == 0.0 && x.abs() < 9.0e15 => s.serialize_some(&(*x as i64)),
        Some(x) => s.serialize_some(x),
        None => s.serialize_none(),
    }
}

/// Who may create records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CreateRule {
    Anyone,
    Users,
    Group(String),
    Admins,
}

impl CreateRule {
    pub fn parse(s: &str) -> Result<CreateRule> {
        Ok(match s {
            "anyone" => CreateRule::Anyone,
            "users" => CreateRule::Users,
            "admins" => CreateRule::Admins,
            _ => match s.strip_prefix("group:") {
                Some(g) if crate::auth::valid_group(g) => CreateRule::Group(g.to_string()),
                _ => {
                    return Err(Error::invalid_field(
                        "acl.create",
                        "create is one of anyone, users, group:<name>, admins",
                    ));
                }
            },
        })
    }

    pub fn as_string(&self) -> String {
        match self {
            CreateRule::Anyone => "anyone".into(),
            CreateRule::Users => "users".into(),
            CreateRule::Group(g) => format!("group:{g}"),
            CreateRule::Admins => "admins".into(),
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableAclDef {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create: Option<String>,
    /// The `_group` of records created without one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
}

/// What an admin sends to `PUT /v1/tables/{table}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableDef {
    pub fields: Vec<Field>,
    #[serde(default)]
    pub acl: TableAclDef,
    /// Cloud-function hooks: `{"before_create": "<module>.<export>", …}`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub hooks: BTreeMap<String, String>,
}

/// The moments a table can run a hook.
pub const HOOK_EVENTS: [&str; 6] = [
    "before_create",
    "before_update",
    "before_delete",
    "after_create",
    "after_update",
    "after_delete",
];

/// `<module>.<export>`: the function a hook runs.
pub fn valid_hook_target(t: &str) -> bool {
    t.split_once('.')
        .is_some_and(|(m, e)| valid_module_name(m) && valid_export_name(e))
}

/// A validated schema, with its ACLs parsed.
#[derive(Debug, Clone)]
pub struct Schema {
    pub name: String,
    pub fields: Vec<Field>,
    pub record_acl: Acl,
    pub field_acls: Vec<Option<Acl>>,
    pub create: CreateRule,
    pub default_group: Option<String>,
    /// Indexed fields whose back-fill has not finished: writers maintain them, the
    /// planner does not use them yet.
    pub pending: Vec<String>,
    /// Bumped by every change of the definition.
    pub version: i64,
    /// Event (`before_create` …) → `<module>.<export>`.
    pub hooks: BTreeMap<String, String>,
}

/// Whose records a scoped index partition groups together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScopeKind {
    /// Entries keyed `<owner key>.<value key>.<id>`.
    Owner,
    /// Entries keyed `<group key>.<value key>.<id>`.
    Group,
}

impl ScopeKind {
    /// The system field whose value leads a scoped entry's key.
    pub fn field(self) -> &'static str {
        match self {
            ScopeKind::Owner => "_owner",
            ScopeKind::Group => "_group",
        }
    }

    /// The partition name of `field`'s entries in this scope (`_owner` and `_group` are
    /// their own scopes).
    pub fn index_name(self, field: &str) -> String {
        match (self, field) {
            (_, "_id") | (ScopeKind::Owner, "_owner") | (ScopeKind::Group, "_group") => {
                self.field().to_string()
            }
            (ScopeKind::Owner, f) => format!("{f}@o"),
            (ScopeKind::Group, f) => format!("{f}@g"),
        }
    }
}

/// One index partition of a table.
#[derive(Debug, Clone, PartialEq)]
pub struct IndexSpec {
    /// The partition's name (`ix#<table>#<name>`), also the key in a record's `_ix`.
    pub name: String,
    /// The field whose value orders the entries.
    pub field: String,
    pub kind: FieldType,
    pub scope: Option<ScopeKind>,
}

/// Most ids a `many` ref field holds.
pub const MAX_MANY_REFS: usize = 100;

/// Safe defaults: the owner does everything, nobody else sees anything.
pub const DEFAULT_RECORD_ACL: &str = "rwd:-:-";

impl Schema {
    pub fn from_def(name: &str, def: &TableDef) -> Result<Schema> {
        if !valid_name(name) {
            return Err(Error::invalid_field(
                "table",
                "table names are 1 to 64 of a-z 0-9 _, starting with a letter",
            ));
        }
        if def.fields.len() > MAX_FIELDS {
            return Err(Error::invalid_field(
                "fields",
                format!("at most {MAX_FIELDS} fields"),
            ));
        }
        let mut seen = std::collections::HashSet::new();
        let mut field_acls = Vec::with_capacity(def.fields.len());
        for f in &def.fields {
            let at = |what: &str| format!("fields.{}.{what}", f.name);
            if !valid_name(&f.name) {
                return Err(Error::invalid_field(
                    "fields",
                    format!(
                        "invalid field name {:?}: 1 to 64 of a-z 0-9 _, starting with a letter",
                        f.name
                    ),
                ));
            }
            if !seen.insert(f.name.as_str()) {
                return Err(Error::invalid_field(
                    "fields",
                    format!("field {:?} appears twice", f.name),
                ));
            }
            let textual = matches!(f.kind, FieldType::String | FieldType::Text);
            if f.length.is_some() && !textual {
                return Err(Error::invalid_field(
                    &at("length"),
                    "length applies to string and text fields",
                ));
            }
            if let Some(l) = f.length {
                let cap = if f.kind == FieldType::String {
                    MAX_STRING_LENGTH
                } else {
                    MAX_TEXT_LENGTH
                };
                if l == 0 || l > cap {
                    return Err(Error::invalid_field(
                        &at("length"),
                        format!("length is 1 to {cap}"),
                    ));
                }
            }
            if f.check.is_some() && !textual {
                return Err(Error::invalid_field(
                    &at("check"),
                    "check applies to string and text fields",
                ));
            }
            if f.review.is_some() && f.check.is_none() {
                return Err(Error::invalid_field(
                    &at("review"),
                    "review says what a check's review verdict does: give check too",
                ));
            }
            let numeric = matches!(f.kind, FieldType::Integer | FieldType::Number);
            if (f.min.is_some() || f.max.is_some()) && !numeric {
                return Err(Error::invalid_field(
                    &at("min"),
                    "min and max apply to integer and number fields",
                ));
            }
            if let (Some(lo), Some(hi)) = (f.min, f.max)
                && lo > hi
            {
                return Err(Error::invalid_field(&at("min"), "min is above max"));
            }
            if (f.unique || f.index)
                && (matches!(f.kind, FieldType::Json | FieldType::Text) || f.many)
            {
                return Err(Error::invalid_field(
                    &at("index"),
                    "json, text and many-ref fields cannot be indexed or unique",
                ));
            }
            if f.many && f.kind != FieldType::Ref {
                return Err(Error::invalid_field(
                    &at("many"),
                    "only ref fields hold many",
                ));
            }
            match (&f.kind, &f.table) {
                (FieldType::Ref, Some(t)) if valid_name(t) => {}
                (FieldType::Ref, _) => {
                    return Err(Error::invalid_field(
                        &at("table"),
                        "a ref field names the table it points into",
                    ));
                }
                (_, Some(_)) => {
                    return Err(Error::invalid_field(
                        &at("table"),
                        "only ref fields name a table",
                    ));
                }
                _ => {}
            }
            let acl = match &f.acl {
                Some(s) => {
                    Some(Acl::parse_field(s).map_err(|m| Error::invalid_field(&at("acl"), m))?)
                }
                None => None,
            };
            field_acls.push(acl);
            if let Some(d) = &f.default {
                check_value(f, d).map_err(|e| Error::invalid_field(&at("default"), e.message))?;
            }
        }
        let indexes = def.fields.iter().filter(|f| f.index || f.unique).count();
        if indexes > MAX_INDEXES {
            return Err(Error::invalid_field(
                "fields",
                format!("at most {MAX_INDEXES} indexed or unique fields per table"),
            ));
        }
        let record_acl = Acl::parse_record(def.acl.record.as_deref().unwrap_or(DEFAULT_RECORD_ACL))
            .map_err(|m| Error::invalid_field("acl.record", m))?;
        // Readers are nested (whoever reads as "other" also reads as group member and
        // owner), so what a caller may read is exactly: its own records, its groups'
        // records, or all — the sets the index scopes are built from.
        if (record_acl.other.read && !record_acl.group.read)
            || (record_acl.group.read && !record_acl.owner.read)
        {
            return Err(Error::invalid_field(
                "acl.record",
                "read rights must nest: whoever may read as other may read as group, and the group's readers include the owner (e.g. \"rwd:r:-\")",
            ));
        }
        let create = CreateRule::parse(def.acl.create.as_deref().unwrap_or("users"))?;
        if let Some(g) = &def.acl.group
            && !crate::auth::valid_group(g)
        {
            return Err(Error::invalid_field("acl.group", "invalid group name"));
        }
        for (event, target) in &def.hooks {
            if !HOOK_EVENTS.contains(&event.as_str()) {
                return Err(Error::invalid_field(
                    &format!("hooks.{event}"),
                    format!("hooks are {}", HOOK_EVENTS.join(", ")),
                ));
            }
            if !valid_hook_target(target) {
                return Err(Error::invalid_field(
                    &format!("hooks.{event}"),
                    "a hook names a cloud function as \"<module>.<export>\"",
                ));
            }
        }
        let schema = Schema {
            hooks: def.hooks.clone(),
            name: name.to_string(),
            fields: def.fields.clone(),
            record_acl,
            field_acls,
            create,
            default_group: def.acl.group.clone(),
            pending: Vec::new(),
            version: 0,
        };
        // A change of every indexed value of one record must fit one transaction: the
        // record, the schema check and an outbox item, per index an entry out, one in and two counter
        // changes, per unique field a guard out and one in.
        let partitions = schema.indexes().len();
        let uniques = schema.unique().len();
        if 3 + 4 * partitions + 2 * uniques > crate::store::MAX_TRANSACTION_OPS {
            return Err(Error::invalid_field(
                "fields",
                format!(
                    "too many indexed fields for this read rule: a table that hides records from some readers keeps each index per owner and per group too ({partitions} index partitions, {uniques} unique fields)"
                ),
            ));
        }
        Ok(schema)
    }

    /// Every index partition of the table, each with one entry per record: `_owner`,
    /// every `index`/`unique` field, and — when the record rule hides records from some
    /// readers — the same fields again per owner (`<f>@o`) and per group (`<f>@g`, with
    /// `_group` itself), so a reader's query reads only entries of records it may read.
    pub fn indexes(&self) -> Vec<IndexSpec> {
        let plain = |field: &str, kind| IndexSpec {
            name: field.to_string(),
            field: field.to_string(),
            kind,
            scope: None,
        };
        let mut out = vec![plain("_owner", FieldType::String)];
        let declared: Vec<&Field> = self.fields.iter().filter(|f| f.index || f.unique).collect();
        out.extend(declared.iter().map(|f| plain(&f.name, f.kind)));
        let acl = self.record_acl;
        if acl.other.read {
            return out;
        }
        if acl.group.read {
            out.push(plain("_group", FieldType::String));
        }
        for (on, scope) in [
            (acl.owner.read, ScopeKind::Owner),
            (acl.group.read, ScopeKind::Group),
        ] {
            if on {
                out.extend(declared.iter().map(|f| IndexSpec {
                    name: scope.index_name(&f.name),
                    field: f.name.clone(),
                    kind: f.kind,
                    scope: Some(scope),
                }));
            }
        }
        out
    }

    /// `(partition name, type)` of every index (see [`Schema::indexes`]).
    pub fn indexed(&self) -> Vec<(String, FieldType)> {
        self.indexes()
            .into_iter()
            .map(|i| (i.name, i.kind))
            .collect()
    }

    pub fn unique(&self) -> Vec<&Field> {
        self.fields.iter().filter(|f| f.unique).collect()
    }

    /// An index the planner may use (by partition name, see [`Schema::indexes`]):
    /// declared (or a system one) and back-filled.
    pub fn ready_index(&self, name: &str) -> Option<FieldType> {
        if self.pending.iter().any(|p| p == name) {
            return None;
        }
        self.indexed()
            .into_iter()
            .find(|(n, _)| n == name)
            .map(|(_, k)| k)
    }

    /// The type of a top-level field, system fields included.
    pub fn kind_of(&self, field: &str) -> Option<FieldType> {
        match field {
            "_id" | "_owner" | "_group" => Some(FieldType::String),
            "_created" | "_updated" => Some(FieldType::Datetime),
            "_v" => Some(FieldType::Integer),
            _ => self.field(field).map(|(_, f)| f.kind),
        }
    }

    /// The definition as it is stored and shown, with defaults filled in.
    pub fn to_def(&self) -> TableDef {
        TableDef {
            fields: self.fields.clone(),
            acl: TableAclDef {
                record: Some(self.record_acl.to_string()),
                create: Some(self.create.as_string()),
                group: self.default_group.clone(),
            },
            hooks: self.hooks.clone(),
        }
    }

    /// The hook for `event`, if the table has one.
    pub fn hook(&self, event: &str) -> Option<&str> {
        self.hooks.get(event).map(String::as_str)
    }

    pub fn field(&self, name: &str) -> Option<(usize, &Field)> {
        self.fields.iter().enumerate().find(|(_, f)| f.name == name)
    }

    /// Validates user fields for a create (`full`: defaults and required apply) or a
    /// patch. System fields (`_...`) are not accepted here. Answers the normalized values;
    /// `null` in a patch means "remove".
    pub fn validate(&self, input: &Map<String, Value>, full: bool) -> Result<Map<String, Value>> {
        let mut out = Map::new();
        for (k, v) in input {
            let Some((_, f)) = self.field(k) else {
                return Err(
                    Error::new(Code::UnknownField, format!("unknown field {k:?}"))
                        .with_details(json!({ "field": k })),
                );
            };
            if v.is_null() {
                if f.required {
                    return Err(Error::invalid_field(k, format!("{k} is required")));
                }
                if !full {
                    out.insert(k.clone(), Value::Null);
                }
                continue;
            }
            out.insert(
                k.clone(),
                check_value(f, v).map_err(|e| e.with_details(json!({ "field": k })))?,
            );
        }
        if full {
            for f in &self.fields {
                if out.contains_key(&f.name) {
                    continue;
                }
                if let Some(d) = &f.default {
                    out.insert(f.name.clone(), check_value(f, d)?);
                } else if f.required {
                    return Err(Error::invalid_field(
                        &f.name,
                        format!("{} is required", f.name),
                    ));
                }
            }
        }
        Ok(out)
    }
}

fn type_error(f: &Field, want: &str) -> Error {
    Error::invalid_field(&f.name, format!("{} must be {want}", f.name))
}

/// Checks one non-null value against its field; answers the normalized value.
pub fn check_value(f: &Field, v: &Value) -> Result<Value> {
    let in_range = |x: f64| -> Result<()> {
        if f.min.is_some_and(|m| x < m) || f.max.is_some_and(|m| x > m) {
            return Err(Error::invalid_field(
                &f.name,
                format!(
                    "{} must be within [{}, {}]",
                    f.name,
                    fmt_bound(f.min),
                    fmt_bound(f.max)
                ),
            ));
        }
        Ok(())
    };
    match f.kind {
        FieldType::String | FieldType::Text => {
            let s = v.as_str().ok_or_else(|| type_error(f, "a string"))?;
            let cap = f.length.unwrap_or(if f.kind == FieldType::String {
                DEFAULT_STRING_LENGTH
            } else {
                DEFAULT_TEXT_LENGTH
            });
            if s.chars().count() > cap {
                return Err(Error::invalid_field(
                    &f.name,
                    format!("{} is limited to {cap} characters", f.name),
                ));
            }
            Ok(v.clone())
        }
        FieldType::Integer => {
            let n = v.as_i64().ok_or_else(|| type_error(f, "an integer"))?;
            in_range(n as f64)?;
            Ok(v.clone())
        }
        FieldType::Number => {
            let n = v
                .as_f64()
                .filter(|n| n.is_finite())
                .ok_or_else(|| type_error(f, "a number"))?;
            in_range(n)?;
            Ok(v.clone())
        }
        FieldType::Boolean => v
            .as_bool()
            .map(Value::Bool)
            .ok_or_else(|| type_error(f, "true or false")),
        FieldType::Datetime => {
            let ms = v
                .as_str()
                .and_then(parse_rfc3339)
                .ok_or_else(|| type_error(f, "an RFC 3339 date-time"))?;
            Ok(Value::String(rfc3339(ms)))
        }
        FieldType::Json => match v {
            Value::Object(_) | Value::Array(_) => Ok(v.clone()),
            _ => Err(type_error(f, "an object or an array")),
        },
        FieldType::Ref if f.many => match v.as_array() {
            Some(a)
                if a.len() <= MAX_MANY_REFS
                    && a.iter().all(|x| x.as_str().is_some_and(ids::is_id)) =>
            {
                Ok(v.clone())
            }
            _ => Err(type_error(
                f,
                &format!("a list of at most {MAX_MANY_REFS} record ids"),
            )),
        },
        FieldType::Ref => match v.as_str() {
            Some(id) if ids::is_id(id) => Ok(v.clone()),
            _ => Err(type_error(f, "a record id")),
        },
        FieldType::File => match v.as_str() {
            Some(id) if !id.is_empty() && id.len() <= 512 => Ok(v.clone()),
            _ => Err(type_error(f, "a file id")),
        },
    }
}

fn fmt_bound(b: Option<f64>) -> String {
    b.map(|x| x.to_string()).unwrap_or_else(|| "∞".into())
}

/// Parses `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)` into epoch milliseconds.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't' | b' ')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let t = s.get(r)?;
        t.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| t.parse().ok())?
    };
    let (y, mo, d, h, mi, sec) = (
        num(0..4)?,
        num(5..7)?,
        num(8..10)?,
        num(11..13)?,
        num(14..16)?,
        num(17..19)?,
    );
    let mut i = 19;
    let mut ms = 0i64;
    if b.get(i) == Some(&b'.') {
        let start = i + 1;
        i = start;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == start {
            return None;
        }
        let frac = &s[start..i.min(start + 3)];
        ms = frac.parse::<i64>().ok()? * 10i64.pow(3 - frac.len() as u32);
    }
    let offset_min = match b.get(i)? {
        b'Z' | b'z' if i + 1 == b.len() => 0,
        sign @ (b'+' | b'-') if i + 6 == b.len() && b[i + 3] == b':' => {
            let m = num(i + 1..i + 3)? * 60 + num(i + 4..i + 6)?;
            if *sign == b'+' { m } else { -m }
        }
        _ => return None,
    };
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let dim = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if !(1..=12).contains(&mo)
        || d < 1
        || d > dim[(mo - 1) as usize]
        || h > 23
        || mi > 59
        || sec > 60
    {
        return None;
    }
    // Days from civil (H. Hinnant).
    let (yy, mm) = if mo <= 2 {
        (y - 1, mo + 9)
    } else {
        (y, mo - 3)
    };
    let era = yy.div_euclid(400);
    let yoe = yy - era * 400;
    let doy = (153 * mm + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(((days * 86_400 + h * 3600 + mi * 60 + sec.min(59)) - offset_min * 60) * 1000 + ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn def(v: Value) -> TableDef {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn schemas_validate_names_types_and_acls() {
        let s = Schema::from_def(
            "posts",
            &def(json!({
                "fields": [
                    {"name": "title", "type": "string", "required": true, "length": 10, "index": true},
                    {"name": "score", "type": "integer", "min": 0, "max": 100, "default": 5},
                    {"name": "secret", "type": "text", "acl": "rw:-:-"},
                    {"name": "author", "type": "ref", "table": "people"}
                ],
                "acl": {"record": "rwd:r:r", "create": "group:editors"}
            })),
        )
        .unwrap();
        assert_eq!(s.record_acl.to_string(), "rwd:r:r");
        assert_eq!(s.create, CreateRule::Group("editors".into()));
        assert_eq!(s.to_def().acl.record.as_deref(), Some("rwd:r:r"));
        // Bounds come back as written: whole numbers as integers.
        let shown = serde_json::to_value(s.to_def()).unwrap();
        let score = &shown["fields"][1];
        assert_eq!(
            (score["min"].as_i64(), score["max"].as_i64()),
            (Some(0), Some(100))
        );
        assert_eq!(
            serde_json::to_string(&score["min"]).unwrap(),
            "0",
            "not 0.0"
        );
        let bad = [
            json!({"fields": [{"name": "Title", "type": "string"}]}),
            json!({"fields": [{"name": "a", "type": "string"}, {"name": "a", "type": "text"}]}),
            json!({"fields": [{"name": "a", "type": "integer", "length": 3}]}),
            json!({"fields": [{"name": "a", "type": "integer", "min": 5, "max": 1}]}),
            json!({"fields": [{"name": "a", "type": "json", "index": true}]}),
            json!({"fields": [{"name": "a", "type": "ref"}]}),
            json!({"fields": [{"name": "a", "type": "string", "acl": "rwd:r:-"}]}),
            json!({"fields": [{"name": "a", "type": "integer", "default": "x"}]}),
            json!({"fields": [], "acl": {"record": "rwx:-:-"}}),
            json!({"fields": [], "acl": {"create": "everybody"}}),
        ];
        for b in bad {
            let e = Schema::from_def("t", &def(b.clone())).unwrap_err();
            assert_eq!(e.code, Code::InvalidArgument, "{b}");
            assert!(
                e.details.get("field").is_some(),
                "{b}: error names the field"
            );
        }
        assert!(Schema::from_def("_t", &def(json!({"fields": []}))).is_err());
        assert!(
            serde_json::from_value::<TableDef>(json!({"fields": [{"name": "a", "type": "blob"}]}))
                .is_err()
        );
    }

    #[test]
    fn records_validate_against_the_schema() {
        let s = Schema::from_def(
            "t",
            &def(json!({"fields": [
                {"name": "title", "type": "string", "required": true, "length": 5},
                {"name": "n", "type": "integer", "min": 0, "default": 1},
                {"name": "x", "type": "number"},
                {"name": "ok", "type": "boolean"},
                {"name": "at", "type": "datetime"},
                {"name": "meta", "type": "json"},
                {"name": "who", "type": "ref", "table": "people"}
            ]})),
        )
        .unwrap();
        let v = s
            .validate(
                json!({"title": "hi", "at": "2026-11-21T09:30:00+08:00"})
                    .as_object()
                    .unwrap(),
                true,
            )
            .unwrap();
        assert_eq!(
            Value::Object(v),
            json!({"title": "hi", "n": 1, "at": "2026-11-21T01:30:00.000Z"})
        );
        let fails = [
            (json!({}), "title"),
            (json!({"title": "toolong"}), "title"),
            (json!({"title": 5}), "title"),
            (json!({"title": "a", "n": 1.5}), "n"),
            (json!({"title": "a", "n": -1}), "n"),
            (json!({"title": "a", "ok": "yes"}), "ok"),
            (json!({"title": "a", "at": "yesterday"}), "at"),
            (json!({"title": "a", "meta": 3}), "meta"),
            (json!({"title": "a", "who": "someone"}), "who"),
            (json!({"title": "a", "nope": 1}), "nope"),
            (json!({"title": null}), "title"),
        ];
        for (input, field) in fails {
            let e = s.validate(input.as_object().unwrap(), true).unwrap_err();
            assert_eq!(e.details["field"], field, "{input}");
        }
        let patch = s
            .validate(json!({"x": null, "n": 3}).as_object().unwrap(), false)
            .unwrap();
        assert_eq!(
            Value::Object(patch),
            json!({"x": null, "n": 3}),
            "patches carry removals and no defaults"
        );
    }

    #[test]
    fn rfc3339_parsing() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_rfc3339("2016-10-24T13:03:07.5Z"),
            Some(1_477_314_187_500)
        );
        assert_eq!(
            parse_rfc3339("2016-10-24T21:03:07+08:00"),
            Some(1_477_314_187_000)
        );
        assert_eq!(
            parse_rfc3339("2000-02-29T00:00:00.123456Z"),
            Some(951_782_400_123)
        );
        for bad in [
            "2001-02-29T00:00:00Z",
            "2020-13-01T00:00:00Z",
            "2020-01-01",
            "2020-01-01T00:00:00",
            "2020-01-01T00:00:00.Z",
            "２020-01-01T00:00:00Z",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }
}
