//! What both sources become before conversion: classes of rows whose values are typed
//! ([`Val`]), owners, groups and users; and reading an export's files.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};
use yunqiao_core::tables::schema::parse_rfc3339;

use crate::{Result, err};

/// A value of a source column, its type recognised.
#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    /// Epoch milliseconds.
    Date(i64),
    /// A reference to a row of `class`.
    Pointer {
        class: String,
        id: String,
    },
    File(FileRef),
    /// Objects, arrays, GeoPoints, Relations: kept as JSON (nested typed values are
    /// converted when written, see `convert::plain_json`).
    Json(Value),
}

#[derive(Debug, Clone, PartialEq)]
pub struct FileRef {
    pub name: String,
    pub url: Option<String>,
    /// The source's id of the file, where it has one.
    pub id: Option<String>,
    pub mime: Option<String>,
}

/// Who owns a row in the source.
#[derive(Debug, Clone, PartialEq)]
pub enum OwnerRef {
    None,
    /// A LeanCloud `_User` objectId.
    LcUser(String),
    /// A WeChat openid (CloudBase `_openid`).
    Openid(String),
}

#[derive(Debug, Clone)]
pub struct Row {
    pub old_id: String,
    pub created: Option<i64>,
    pub updated: Option<i64>,
    pub owner: OwnerRef,
    /// A source role (LeanCloud) that the row's ACL names, mapped to a group later.
    pub role: Option<String>,
    pub public_read: bool,
    /// Column → value; `None`: null.
    pub values: BTreeMap<String, Option<Val>>,
}

/// A column's type as the source's own schema declares it.
#[derive(Debug, Clone, PartialEq)]
pub enum Hint {
    String,
    Number,
    Boolean,
    Date,
    Pointer(String),
    File,
    Json,
}

#[derive(Debug, Clone)]
pub struct Class {
    pub name: String,
    pub rows: Vec<Row>,
    pub hints: BTreeMap<String, Hint>,
    /// The source file, for messages.
    pub file: String,
}

/// A source user (LeanCloud `_User` row, or an openid seen on CloudBase records).
#[derive(Debug, Clone)]
pub struct SrcUser {
    /// The source's key of the user: LeanCloud objectId, or the openid.
    pub key: String,
    pub openid: Option<String>,
    pub unionid: Option<String>,
    pub nickname: Option<String>,
    pub avatar_url: Option<String>,
    pub created: Option<i64>,
    pub updated: Option<i64>,
}

/// A source role: its name and members (source user keys).
#[derive(Debug, Clone)]
pub struct SrcRole {
    pub name: String,
    pub members: Vec<String>,
    /// Roles inside this one (not mapped: groups do not nest).
    pub nested: usize,
}

/// An export, read.
#[derive(Debug, Default)]
pub struct Export {
    pub classes: Vec<Class>,
    pub users: Vec<SrcUser>,
    pub roles: Vec<SrcRole>,
    /// Files known by id outside any row (LeanCloud `_File`): id → file.
    pub files: BTreeMap<String, FileRef>,
    /// What reading found that cannot be mapped: (where, message).
    pub notes: Vec<(String, String, String)>,
}

/// The data files of an export directory, sorted: `*.jsonl`, `*.ndjson`, `*.json`
/// (schemas, `*.schema.json` and `schema.json`, apart).
pub fn data_files(dir: &Path) -> Result<Vec<(String, PathBuf)>> {
    let rd = std::fs::read_dir(dir)
        .map_err(|e| crate::MigrateError(format!("cannot read {}: {e}", dir.display())))?;
    let mut out = Vec::new();
    for entry in rd {
        let entry = entry.map_err(|e| crate::MigrateError(format!("{}: {e}", dir.display())))?;
        let path = entry.path();
        if !path.is_file() {
            continue;
        }
        let Some(fname) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if fname.ends_with(".schema.json") || fname == "schema.json" || fname.starts_with('.') {
            continue;
        }
        let stem = [".jsonl", ".ndjson", ".json"]
            .iter()
            .find_map(|ext| fname.strip_suffix(ext));
        if let Some(stem) = stem {
            out.push((stem.to_string(), path.clone()));
        }
    }
    out.sort();
    let mut seen = std::collections::BTreeSet::new();
    for (stem, p) in &out {
        if !seen.insert(stem.clone()) {
            return err(format!(
                "two files hold {stem:?} ({}): keep one",
                p.display()
            ));
        }
    }
    Ok(out)
}

/// The objects of one export file: JSON Lines (one object a line), or one JSON array.
pub fn read_objects(path: &Path) -> Result<Vec<Map<String, Value>>> {
    let shown = path.display();
    let bytes = std::fs::read(path)
        .map_err(|e| crate::MigrateError(format!("cannot read {shown}: {e}")))?;
    let text = std::str::from_utf8(&bytes)
        .map_err(|e| crate::MigrateError(format!("{shown}: not UTF-8 ({e})")))?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if text.trim_start().starts_with('[') {
        let v: Value = serde_json::from_str(text)
            .map_err(|e| crate::MigrateError(format!("{shown}: not a JSON array: {e}")))?;
        let Value::Array(items) = v else {
            return err(format!("{shown}: not a JSON array"));
        };
        return items
            .into_iter()
            .enumerate()
            .map(|(i, v)| match v {
                Value::Object(m) => Ok(m),
                _ => err(format!("{shown}: item {} is not an object", i + 1)),
            })
            .collect();
    }
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        match serde_json::from_str::<Value>(line) {
            Ok(Value::Object(m)) => out.push(m),
            Ok(_) => return err(format!("{shown}:{}: not a JSON object", i + 1)),
            Err(e) => return err(format!("{shown}:{}: {e}", i + 1)),
        }
    }
    Ok(out)
}

/// A date in any form the sources write: `{"__type": "Date", "iso"}`, `{"$date": ISO |
/// ms | {"$numberLong": "ms"}}`, or (`plain`) an RFC 3339 string.
pub fn date_of(v: &Value, plain: bool) -> Option<i64> {
    match v {
        Value::String(s) if plain => parse_rfc3339(s),
        Value::Object(m) => {
            if m.get("__type").and_then(Value::as_str) == Some("Date") {
                return m.get("iso").and_then(Value::as_str).and_then(parse_rfc3339);
            }
            if m.len() != 1 {
                return None;
            }
            match m.get("$date")? {
                Value::String(s) => parse_rfc3339(s),
                Value::Number(n) => n.as_i64(),
                Value::Object(inner) if inner.len() == 1 => inner
                    .get("$numberLong")
                    .and_then(Value::as_str)
                    .and_then(|s| s.parse().ok()),
                _ => None,
            }
        }
        _ => None,
    }
}

/// A scalar or JSON value, typed (the forms both sources share).
pub fn plain_val(v: &Value) -> Option<Val> {
    Some(match v {
        Value::Null => return None,
        Value::Bool(b) => Val::Bool(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => Val::Int(i),
            None => Val::Float(n.as_f64().unwrap_or(0.0)),
        },
        Value::String(s) => Val::Str(s.clone()),
        other => match date_of(other, false) {
            Some(ms) => Val::Date(ms),
            None => Val::Json(other.clone()),
        },
    })
}

/// The creation time a Mongo-style ObjectId (24 hex digits) carries, in milliseconds.
pub fn object_id_time(id: &str) -> Option<i64> {
    if id.len() != 24 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    i64::from_str_radix(&id[..8], 16).ok().map(|s| s * 1000)
}
