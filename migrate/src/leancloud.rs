//! LeanCloud's console export: one file per class (`<Class>.jsonl`, JSON Lines; a JSON
//! array is accepted too), optionally its schema (`<Class>.schema.json`, or all of them
//! in `schema.json`). Values in the REST form (`{"__type": "Pointer" | "Date" | "File" |
//! "GeoPoint" | "Relation", …}`) or plain (ISO strings in `createdAt`/`updatedAt`,
//! `{"className", "objectId"}` pointers, Mongo's `_p_<col>: "Class$id"`,
//! `{"$date": …}`), and ACLs as `ACL` objects or `_rperm`/`_wperm` lists.
//!
//! Special classes: `_User` (users; `authData.lc_weapp` holds the WeChat identity),
//! `_Role` (groups; members in its `users` column or `_Join:users:_Role.jsonl`), `_File`
//! (file records that `File` values may name by id). Other `_` classes are not mapped.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{Map, Value};

use crate::source::{
    Class, Export, FileRef, Hint, OwnerRef, Row, SrcRole, SrcUser, Val, data_files, date_of,
    plain_val, read_objects,
};
use crate::{Result, err};

pub fn read(dir: &Path) -> Result<Export> {
    let schemas = read_schemas(dir)?;
    let mut ex = Export::default();
    let mut role_rows = Vec::new();
    let mut joins: Vec<Map<String, Value>> = Vec::new();
    for (stem, path) in data_files(dir)? {
        let file = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or(&stem)
            .to_string();
        let objects = read_objects(&path)?;
        match stem.as_str() {
            "_User" => {
                for (i, o) in objects.iter().enumerate() {
                    ex.users.push(user_of(o, &file, i)?);
                }
            }
            "_Role" => role_rows = objects,
            "_File" => {
                for o in &objects {
                    if let Some(id) = o.get("objectId").and_then(Value::as_str) {
                        ex.files.insert(id.to_string(), file_of(o));
                    }
                }
            }
            "_Join:users:_Role" => joins = objects,
            s if s.starts_with('_') => ex.notes.push((
                s.to_string(),
                "unmapped".into(),
                format!("LeanCloud's {s} class has no yunqiao counterpart: not imported"),
            )),
            _ => {
                let hints = schemas.get(&stem).cloned().unwrap_or_default();
                let mut rows = Vec::with_capacity(objects.len());
                for (i, o) in objects.into_iter().enumerate() {
                    rows.push(row_of(o, &hints, &file, i, &mut ex.notes, &stem)?);
                }
                ex.classes.push(Class {
                    name: stem,
                    rows,
                    hints,
                    file,
                });
            }
        }
    }
    for o in &role_rows {
        let Some(id) = o.get("objectId").and_then(Value::as_str) else {
            return err("_Role: a row has no objectId");
        };
        let name = o
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let mut members = Vec::new();
        if let Some(Value::Array(us)) = o.get("users") {
            members.extend(us.iter().filter_map(pointer_id));
        }
        for j in &joins {
            if j.get("owningId").and_then(Value::as_str) == Some(id)
                && let Some(u) = j.get("relatedId").and_then(Value::as_str)
            {
                members.push(u.to_string());
            }
        }
        let nested = match o.get("roles") {
            Some(Value::Array(rs)) => rs.len(),
            _ => 0,
        };
        ex.roles.push(SrcRole {
            name,
            members,
            nested,
        });
    }
    Ok(ex)
}

/// The objectId a pointer (typed or plain) or a bare id string names.
fn pointer_id(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Object(m) => m
            .get("objectId")
            .and_then(Value::as_str)
            .map(str::to_string),
        _ => None,
    }
}

fn file_of(o: &Map<String, Value>) -> FileRef {
    let s = |k: &str| o.get(k).and_then(Value::as_str).map(str::to_string);
    FileRef {
        name: s("name").unwrap_or_else(|| "file".into()),
        url: s("url"),
        id: s("objectId").or_else(|| s("id")),
        mime: s("mime_type").or_else(|| {
            o.get("metaData")
                .and_then(|m| m.get("mime_type"))
                .and_then(Value::as_str)
                .map(str::to_string)
        }),
    }
}

fn user_of(o: &Map<String, Value>, file: &str, i: usize) -> Result<SrcUser> {
    let Some(id) = o.get("objectId").and_then(Value::as_str) else {
        return err(format!("{file}: row {} has no objectId", i + 1));
    };
    let weapp = o.get("authData").and_then(|a| a.get("lc_weapp"));
    let s = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_string);
    let text = |keys: &[&str]| keys.iter().find_map(|k| s(o.get(*k)));
    Ok(SrcUser {
        key: id.to_string(),
        openid: s(weapp.and_then(|w| w.get("openid"))).filter(|x| !x.is_empty()),
        unionid: s(weapp.and_then(|w| w.get("unionid"))).filter(|x| !x.is_empty()),
        nickname: text(&["nickName", "nickname"]),
        avatar_url: text(&["avatarUrl", "avatar"]),
        created: o.get("createdAt").and_then(|v| date_of(v, true)),
        updated: o.get("updatedAt").and_then(|v| date_of(v, true)),
    })
}

fn row_of(
    mut o: Map<String, Value>,
    hints: &BTreeMap<String, Hint>,
    file: &str,
    i: usize,
    notes: &mut Vec<(String, String, String)>,
    class: &str,
) -> Result<Row> {
    let Some(Value::String(old_id)) = o.remove("objectId") else {
        return err(format!("{file}: row {} has no objectId", i + 1));
    };
    let created = o.remove("createdAt").and_then(|v| date_of(&v, true));
    let updated = o.remove("updatedAt").and_then(|v| date_of(&v, true));
    let (owner, role, public_read) =
        acl_of(o.remove("ACL"), o.remove("_rperm"), o.remove("_wperm"));
    let mut values = BTreeMap::new();
    for (k, v) in o {
        if let Some(col) = k.strip_prefix("_p_") {
            // Mongo's pointer form: "Class$objectId".
            let val = v
                .as_str()
                .and_then(|s| s.split_once('$'))
                .map(|(c, id)| Val::Pointer {
                    class: c.to_string(),
                    id: id.to_string(),
                });
            values.insert(col.to_string(), val);
            continue;
        }
        if k.starts_with('_') {
            let at = format!("{class}.{k}");
            if !notes.iter().any(|n| n.0 == at) {
                notes.push((
                    at,
                    "dropped".into(),
                    "an internal column of LeanCloud: not imported".into(),
                ));
            }
            continue;
        }
        let val = val_of(&v, hints.get(&k));
        values.insert(k, val);
    }
    Ok(Row {
        old_id,
        created,
        updated,
        owner,
        role,
        public_read,
        values,
    })
}

/// A record's owner (the one user who may write it), its role (the one role named) and
/// whether everyone may read it. No ACL at all: LeanCloud's default, public.
fn acl_of(
    acl: Option<Value>,
    rperm: Option<Value>,
    wperm: Option<Value>,
) -> (OwnerRef, Option<String>, bool) {
    let mut writers = Vec::new();
    let mut roles = Vec::new();
    let mut public_read = false;
    let strings = |v: &Option<Value>| -> Vec<String> {
        v.as_ref()
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    };
    match (&acl, &rperm, &wperm) {
        (Some(Value::Object(m)), _, _) => {
            for (who, rights) in m {
                let flag = |r: &str| rights.get(r).and_then(Value::as_bool) == Some(true);
                if who == "*" {
                    public_read |= flag("read");
                } else if let Some(role) = who.strip_prefix("role:") {
                    if flag("read") || flag("write") {
                        roles.push(role.to_string());
                    }
                } else if flag("write") {
                    writers.push(who.clone());
                }
            }
        }
        (_, Some(_), _) | (_, _, Some(_)) => {
            let (r, w) = (strings(&rperm), strings(&wperm));
            public_read = r.iter().any(|x| x == "*");
            for who in r.iter().chain(&w) {
                if let Some(role) = who.strip_prefix("role:")
                    && !roles.contains(&role.to_string())
                {
                    roles.push(role.to_string());
                }
            }
            writers = w
                .into_iter()
                .filter(|x| x != "*" && !x.starts_with("role:"))
                .collect();
        }
        _ => public_read = true,
    }
    let owner = match writers.as_slice() {
        [one] => OwnerRef::LcUser(one.clone()),
        _ => OwnerRef::None,
    };
    let role = match roles.as_slice() {
        [one] => Some(one.clone()),
        _ => None,
    };
    (owner, role, public_read)
}

/// One column value, typed; `None` is null.
fn val_of(v: &Value, hint: Option<&Hint>) -> Option<Val> {
    if let Value::Object(m) = v {
        match m.get("__type").and_then(Value::as_str) {
            Some("Date") => return date_of(v, false).map(Val::Date),
            Some("Pointer") => {
                let class = m.get("className").and_then(Value::as_str);
                let id = m.get("objectId").and_then(Value::as_str);
                if let (Some(c), Some(id)) = (class, id) {
                    return Some(Val::Pointer {
                        class: c.into(),
                        id: id.into(),
                    });
                }
            }
            Some("File") => return Some(Val::File(file_of(m))),
            Some("GeoPoint") => {
                let mut g = Map::new();
                for k in ["latitude", "longitude"] {
                    g.insert(k.into(), m.get(k).cloned().unwrap_or(Value::Null));
                }
                return Some(Val::Json(Value::Object(g)));
            }
            _ => {}
        }
        // The plain pointer form.
        if m.len() == 2
            && let (Some(c), Some(id)) = (
                m.get("className").and_then(Value::as_str),
                m.get("objectId").and_then(Value::as_str),
            )
        {
            return Some(Val::Pointer {
                class: c.into(),
                id: id.into(),
            });
        }
    }
    match (hint, v) {
        (Some(Hint::Pointer(class)), Value::String(id)) => Some(Val::Pointer {
            class: class.clone(),
            id: id.clone(),
        }),
        (Some(Hint::Date), Value::String(_)) => {
            date_of(v, true).map(Val::Date).or_else(|| plain_val(v))
        }
        (Some(Hint::File), Value::String(id)) => Some(Val::File(FileRef {
            name: "file".into(),
            url: None,
            id: Some(id.clone()),
            mime: None,
        })),
        _ => plain_val(v),
    }
}

/// Column hints per class, from `<Class>.schema.json` files or one `schema.json`.
fn read_schemas(dir: &Path) -> Result<BTreeMap<String, BTreeMap<String, Hint>>> {
    let mut out = BTreeMap::new();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return err(format!("cannot read {}", dir.display()));
    };
    let mut paths: Vec<_> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for p in paths {
        let Some(fname) = p.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        let single = fname.strip_suffix(".schema.json");
        if single.is_none() && fname != "schema.json" {
            continue;
        }
        let text = std::fs::read_to_string(&p)
            .map_err(|e| crate::MigrateError(format!("{}: {e}", p.display())))?;
        let v: Value = serde_json::from_str(&text)
            .map_err(|e| crate::MigrateError(format!("{}: {e}", p.display())))?;
        let entries: Vec<Value> = match (single, v) {
            (Some(class), Value::Object(mut m)) => {
                m.entry("className")
                    .or_insert_with(|| Value::String(class.to_string()));
                vec![Value::Object(m)]
            }
            (_, Value::Array(a)) => a,
            (_, Value::Object(mut m)) => match m.remove("results") {
                Some(Value::Array(a)) => a,
                _ => m
                    .into_iter()
                    .map(
                        |(class, fields)| serde_json::json!({"className": class, "fields": fields}),
                    )
                    .collect(),
            },
            _ => return err(format!("{}: not a schema", p.display())),
        };
        for e in entries {
            let Some(class) = e.get("className").and_then(Value::as_str) else {
                continue;
            };
            let fields = e.get("fields").or_else(|| e.get("schema"));
            let Some(Value::Object(fields)) = fields else {
                continue;
            };
            let hints: BTreeMap<String, Hint> = fields
                .iter()
                .filter_map(|(col, spec)| hint_of(spec).map(|h| (col.clone(), h)))
                .collect();
            out.insert(class.to_string(), hints);
        }
    }
    Ok(out)
}

fn hint_of(spec: &Value) -> Option<Hint> {
    let t = spec.get("type").and_then(Value::as_str).or(spec.as_str())?;
    Some(match t {
        "String" => Hint::String,
        "Number" => Hint::Number,
        "Boolean" => Hint::Boolean,
        "Date" => Hint::Date,
        "File" => Hint::File,
        "Pointer" => Hint::Pointer(
            spec.get("className")
                .or_else(|| spec.get("targetClass"))
                .and_then(Value::as_str)?
                .to_string(),
        ),
        "Object" | "Array" | "GeoPoint" | "Relation" => Hint::Json,
        _ => return None,
    })
}
