//! The query language of `POST /v1/tables/{t}/query`: parsing and checking against the
//! schema, evaluation on a record, and the key range an index can narrow a query to.
//!
//! Every condition is evaluated on every candidate record, so an index only ever narrows
//! what is read; it never decides what matches.

use std::cmp::Ordering;

use serde::Deserialize;
use serde_json::{Value, json};

use super::keys::{is_truncated, vkey};
use super::schema::{FieldType, Schema, parse_rfc3339};
use crate::clock::rfc3339;
use crate::error::{Code, Error, Result};

pub const DEFAULT_LIMIT: usize = 20;
pub const MAX_LIMIT: usize = 100;
pub const MAX_CONDITIONS: usize = 20;
pub const MAX_ANY: usize = 10;
pub const MAX_IN: usize = 100;
/// Page-number paging reads every row before the page: refuse pages that start later.
pub const MAX_PAGE_OFFSET: usize = 10_000;

/// The body of a query, as sent.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuerySpec {
    #[serde(default, rename = "where")]
    pub where_: Vec<Value>,
    #[serde(default)]
    pub any: Vec<Vec<Value>>,
    #[serde(default)]
    pub order: Vec<Value>,
    pub limit: Option<usize>,
    pub cursor: Option<String>,
    pub fields: Option<Vec<String>>,
    #[serde(default)]
    pub expand: Vec<String>,
    #[serde(default)]
    pub count: bool,
    pub page: Option<usize>,
    pub per_page: Option<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Gt,
    Gte,
    Lt,
    Lte,
    In,
    Nin,
    Prefix,
    Contains,
    Exists,
}

impl Op {
    fn parse(s: &str) -> Option<Op> {
        Some(match s {
            "eq" | "=" | "==" => Op::Eq,
            "ne" | "!=" => Op::Ne,
            "gt" | ">" => Op::Gt,
            "gte" | ">=" => Op::Gte,
            "lt" | "<" => Op::Lt,
            "lte" | "<=" => Op::Lte,
            "in" => Op::In,
            "nin" => Op::Nin,
            "prefix" => Op::Prefix,
            "contains" => Op::Contains,
            "exists" => Op::Exists,
            _ => return None,
        })
    }
}

/// One checked condition. `path[0]` is a field of the table (or a system field); further
/// segments walk into a json field.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    pub path: Vec<String>,
    pub op: Op,
    pub value: Value,
}

impl Condition {
    pub fn field(&self) -> &str {
        &self.path[0]
    }

    pub fn eq(field: &str, value: Value) -> Condition {
        Condition {
            path: vec![field.to_string()],
            op: Op::Eq,
            value,
        }
    }

    /// The part of the key range of `field`'s index this condition allows, as inclusive
    /// `(low, high)` bounds on sort keys; `None` when it does not narrow that index.
    pub fn bounds(&self, field: &str, kind: FieldType) -> Option<(String, String)> {
        if self.path.len() != 1 || self.path[0] != field {
            return None;
        }
        const TOP: &str = "~";
        let v = &self.value;
        let key = |v: &Value| (vkey(kind, Some(v)), is_truncated(kind, v));
        Some(match self.op {
            Op::Eq if v.is_null() => ("0.".into(), format!("0.{TOP}")),
            Op::Eq => match key(v) {
                (k, false) => (format!("{k}."), format!("{k}.{TOP}")),
                (k, true) => (k.clone(), format!("{k}{TOP}")),
            },
            Op::Gt => match key(v) {
                (k, false) => (format!("{k}.{TOP}"), TOP.into()),
                (k, true) => (k, TOP.into()),
            },
            Op::Gte => (key(v).0, TOP.into()),
            Op::Lt => ("1".into(), key(v).0),
            Op::Lte => match key(v) {
                (k, false) => ("1".into(), format!("{k}.{TOP}")),
                (k, true) => ("1".into(), format!("{k}{TOP}")),
            },
            Op::Prefix => {
                let k = vkey(kind, Some(v));
                (k.clone(), format!("{k}{TOP}"))
            }
            Op::Exists if v == &Value::Bool(true) => ("1".into(), TOP.into()),
            Op::Exists => ("0.".into(), format!("0.{TOP}")),
            _ => return None,
        })
    }

    /// Bounds on the primary key (`_id`), which is the sort key itself.
    pub fn id_bounds(&self) -> Option<(String, String)> {
        if self.path.len() != 1 || self.path[0] != "_id" {
            return None;
        }
        let s = self.value.as_str()?.to_string();
        const TOP: &str = "~";
        Some(match self.op {
            Op::Eq => (s.clone(), s),
            Op::Gt => (format!("{s}\u{0}"), TOP.into()),
            Op::Gte => (s, TOP.into()),
            Op::Lt | Op::Lte => (String::new(), s),
            Op::Prefix => (s.clone(), format!("{s}{TOP}")),
            _ => return None,
        })
    }

    pub fn matches(&self, rec: &serde_json::Map<String, Value>) -> bool {
        let mut cur = rec.get(&self.path[0]);
        for seg in &self.path[1..] {
            cur = cur.and_then(|v| v.get(seg.as_str()));
        }
        let present = cur.filter(|v| !v.is_null());
        match self.op {
            Op::Eq => equal(present, &self.value),
            Op::Ne => !equal(present, &self.value),
            Op::Gt => cmp(present, &self.value) == Some(Ordering::Greater),
            Op::Gte => matches!(
                cmp(present, &self.value),
                Some(Ordering::Greater | Ordering::Equal)
            ),
            Op::Lt => cmp(present, &self.value) == Some(Ordering::Less),
            Op::Lte => matches!(
                cmp(present, &self.value),
                Some(Ordering::Less | Ordering::Equal)
            ),
            Op::In => self
                .value
                .as_array()
                .is_some_and(|a| a.iter().any(|x| equal(present, x))),
            Op::Nin => !self
                .value
                .as_array()
                .is_some_and(|a| a.iter().any(|x| equal(present, x))),
            Op::Prefix => match (present, &self.value) {
                (Some(Value::String(s)), Value::String(p)) => s.starts_with(p.as_str()),
                _ => false,
            },
            Op::Contains => match present {
                Some(Value::Array(a)) => a.iter().any(|x| equal(Some(x), &self.value)),
                Some(Value::String(s)) => self.value.as_str().is_some_and(|p| s.contains(p)),
                _ => false,
            },
            Op::Exists => present.is_some() == (self.value == Value::Bool(true)),
        }
    }
}

fn equal(v: Option<&Value>, want: &Value) -> bool {
    match (v, want) {
        (None, Value::Null) => true,
        (None, _) | (Some(_), Value::Null) => false,
        (Some(a), b) => cmp(Some(a), b) == Some(Ordering::Equal) || a == b,
    }
}

fn cmp(v: Option<&Value>, want: &Value) -> Option<Ordering> {
    match (v?, want) {
        (Value::Number(a), Value::Number(b)) => match (a.as_i64(), b.as_i64()) {
            (Some(x), Some(y)) => Some(x.cmp(&y)),
            _ => a.as_f64()?.partial_cmp(&b.as_f64()?),
        },
        (Value::String(a), Value::String(b)) => Some(a.as_bytes().cmp(b.as_bytes())),
        (Value::Bool(a), Value::Bool(b)) => Some(a.cmp(b)),
        _ => None,
    }
}

fn bad(at: &str, msg: impl Into<String>) -> Error {
    Error::new(Code::InvalidQuery, msg).with_details(json!({ "field": at }))
}

/// Checks `[field, op, value]` against the schema; normalizes values of typed fields
/// (date-times to their stored form) so that comparisons and index keys agree.
pub fn parse_condition(schema: &Schema, at: &str, raw: &Value) -> Result<Condition> {
    let parts = raw
        .as_array()
        .filter(|a| a.len() == 3)
        .ok_or_else(|| bad(at, "a condition is [field, op, value]"))?;
    let (Some(path), Some(op)) = (parts[0].as_str(), parts[1].as_str()) else {
        return Err(bad(at, "a condition is [field, op, value]"));
    };
    let op = Op::parse(op).ok_or_else(|| {
        bad(
            at,
            format!("unknown operator {op:?}: eq ne gt gte lt lte in nin prefix contains exists"),
        )
    })?;
    let path: Vec<String> = path.split('.').map(str::to_string).collect();
    let field = path[0].as_str();
    let kind = schema
        .kind_of(field)
        .ok_or_else(|| bad(at, format!("unknown field {field:?}")))?;
    if path.len() > 1 && kind != FieldType::Json {
        return Err(bad(at, "only json fields have dotted paths"));
    }
    if path.iter().any(|s| s.is_empty() || s.len() > 64) {
        return Err(bad(at, "empty or overlong path segment"));
    }
    let many = schema.field(field).is_some_and(|(_, f)| f.many);
    let typed = path.len() == 1 && kind != FieldType::Json;
    let norm = |v: &Value| -> Result<Value> {
        if !typed || v.is_null() {
            return Ok(v.clone());
        }
        let ok = match kind {
            FieldType::Integer => v.is_i64(),
            FieldType::Number => v.is_number(),
            FieldType::Boolean => v.is_boolean(),
            FieldType::Datetime => {
                return v
                    .as_str()
                    .and_then(parse_rfc3339)
                    .map(|ms| Value::String(rfc3339(ms)))
                    .ok_or_else(|| bad(at, format!("{field} compares with RFC 3339 date-times")));
            }
            _ => v.is_string(),
        };
        if ok {
            Ok(v.clone())
        } else {
            Err(bad(at, format!("{field} cannot be compared with {v}")))
        }
    };
    let value = match op {
        Op::In | Op::Nin => {
            let list = parts[2]
                .as_array()
                .filter(|a| !a.is_empty() && a.len() <= MAX_IN)
                .ok_or_else(|| {
                    bad(
                        at,
                        format!("in and nin take a list of 1 to {MAX_IN} values"),
                    )
                })?;
            Value::Array(list.iter().map(norm).collect::<Result<_>>()?)
        }
        Op::Exists => match parts[2] {
            Value::Bool(_) => parts[2].clone(),
            _ => return Err(bad(at, "exists takes true or false")),
        },
        Op::Prefix => match &parts[2] {
            Value::String(_)
                if !typed
                    || matches!(
                        kind,
                        FieldType::String | FieldType::Text | FieldType::Ref | FieldType::File
                    ) =>
            {
                parts[2].clone()
            }
            _ => return Err(bad(at, "prefix applies to strings and takes a string")),
        },
        Op::Contains => {
            if typed && !(many || kind == FieldType::Text || kind == FieldType::String) {
                return Err(bad(at, "contains applies to lists, json and text"));
            }
            if many && !parts[2].is_string() {
                return Err(bad(at, "contains takes a record id here"));
            }
            parts[2].clone()
        }
        Op::Gt | Op::Gte | Op::Lt | Op::Lte if many || parts[2].is_null() => {
            return Err(bad(at, "this comparison needs a single value"));
        }
        _ if many => return Err(bad(at, "a many-ref field is matched with contains")),
        _ => norm(&parts[2])?,
    };
    Ok(Condition { path, op, value })
}

/// `[field, "asc"|"desc"]`.
pub fn parse_order(schema: &Schema, raw: &[Value]) -> Result<Option<(String, bool)>> {
    let mut out = Vec::new();
    for (i, o) in raw.iter().enumerate() {
        let at = format!("order.{i}");
        let parts = o
            .as_array()
            .filter(|a| a.len() == 2 || a.len() == 1)
            .ok_or_else(|| bad(&at, "an order is [field, \"asc\"|\"desc\"]"))?;
        let f = parts[0]
            .as_str()
            .ok_or_else(|| bad(&at, "an order is [field, \"asc\"|\"desc\"]"))?;
        if schema.kind_of(f).is_none() {
            return Err(bad(&at, format!("unknown field {f:?}")));
        }
        let desc = match parts.get(1).and_then(Value::as_str) {
            None | Some("asc") => false,
            Some("desc") => true,
            Some(_) => return Err(bad(&at, "direction is asc or desc")),
        };
        out.push((f.to_string(), desc));
    }
    match out.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some(one.clone())),
        // Index keys end with the id, so ties are already ordered by `_id`.
        [first, (id, d)] if id == "_id" && *d == first.1 => Ok(Some(first.clone())),
        _ => Err(bad(
            "order",
            "order by one field (optionally followed by _id in the same direction)",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tables::TableDef;

    fn schema() -> Schema {
        let def: TableDef = serde_json::from_value(json!({"fields": [
            {"name": "title", "type": "string", "index": true},
            {"name": "n", "type": "integer", "index": true},
            {"name": "x", "type": "number"},
            {"name": "at", "type": "datetime"},
            {"name": "meta", "type": "json"},
            {"name": "tags", "type": "ref", "table": "tags", "many": true}
        ]}))
        .unwrap();
        Schema::from_def("t", &def).unwrap()
    }

    fn cond(v: Value) -> Result<Condition> {
        parse_condition(&schema(), "where.0", &v)
    }

    #[test]
    fn conditions_are_checked_and_normalized() {
        let c = cond(json!(["at", "gt", "2026-01-01T08:00:00+08:00"])).unwrap();
        assert_eq!(c.value, json!("2026-01-01T00:00:00.000Z"));
        for bad in [
            json!(["nope", "eq", 1]),
            json!(["n", "eq", "one"]),
            json!(["n", "eq", 1.5]),
            json!(["n", "like", 1]),
            json!(["title.x", "eq", 1]),
            json!(["n", "in", []]),
            json!(["n", "exists", 1]),
            json!(["n", "prefix", "1"]),
            json!(["tags", "eq", "x"]),
            json!(["at", "gt", "yesterday"]),
            json!(["n", "eq"]),
            json!("n = 1"),
        ] {
            let e = cond(bad.clone()).unwrap_err();
            assert_eq!(e.code, Code::InvalidQuery, "{bad}");
            assert_eq!(e.details["field"], "where.0");
        }
        assert!(cond(json!(["meta.color.shade", "eq", "red"])).is_ok());
    }

    #[test]
    fn evaluation() {
        let rec = json!({"title": "hello", "n": 5, "x": 2.5, "meta": {"color": "red", "tags": ["a", "b"]}, "none": null});
        let rec = rec.as_object().unwrap();
        let t = |v: Value| cond(v).unwrap().matches(rec);
        assert!(t(json!(["n", "eq", 5])));
        assert!(t(json!(["x", "gt", 2])));
        assert!(t(json!(["x", "lte", 2.5])));
        assert!(!t(json!(["x", "lt", 2.5])));
        assert!(t(json!(["n", "in", [1, 5]])));
        assert!(t(json!(["n", "nin", [1, 2]])));
        assert!(t(json!(["title", "prefix", "he"])));
        assert!(t(json!(["title", "contains", "ell"])));
        assert!(t(json!(["meta.color", "eq", "red"])));
        assert!(t(json!(["meta.tags", "contains", "b"])));
        assert!(t(json!(["meta.size", "exists", false])));
        assert!(t(json!(["at", "eq", null])));
        assert!(t(json!(["at", "ne", "2026-01-01T00:00:00Z"])));
        assert!(!t(json!(["title", "gt", "z"])));
        assert!(
            !t(json!(["meta.color", "gt", 1])),
            "mixed types never compare"
        );
    }

    #[test]
    fn bounds_cover_exactly_the_matching_keys() {
        use crate::tables::keys::ix_sk;
        let s = schema();
        let ks: Vec<(i64, String)> = (-3..=3)
            .map(|n| {
                (
                    n,
                    ix_sk(&vkey(FieldType::Integer, Some(&json!(n))), "01ABC"),
                )
            })
            .chain([(i64::MIN, ix_sk("0", "01ABC"))])
            .collect();
        for op in ["eq", "gt", "gte", "lt", "lte"] {
            for v in -4..=4 {
                let c = parse_condition(&s, "w", &json!(["n", op, v])).unwrap();
                let (lo, hi) = c.bounds("n", FieldType::Integer).unwrap();
                for (n, k) in &ks {
                    let rec = if *n == i64::MIN {
                        json!({})
                    } else {
                        json!({ "n": n })
                    };
                    let inside = *k >= lo && *k <= hi;
                    assert_eq!(
                        inside,
                        c.matches(rec.as_object().unwrap()),
                        "{op} {v} vs {n}"
                    );
                }
            }
        }
        let c = parse_condition(&s, "w", &json!(["title", "prefix", "ab"])).unwrap();
        let (lo, hi) = c.bounds("title", FieldType::String).unwrap();
        for (t, inside) in [("ab", true), ("abc", true), ("a", false), ("ac", false)] {
            let k = ix_sk(&vkey(FieldType::String, Some(&json!(t))), "01ABC");
            assert_eq!(k >= lo && k <= hi, inside, "{t}");
        }
    }
}
