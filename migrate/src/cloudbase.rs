//! CloudBase's database export: one file per collection (`<collection>.json`, JSON
//! Lines — CloudBase writes one object a line, not an array; an array is accepted too),
//! `_id` (a string or `{"$oid"}`), dates as `{"$date": …}`, and the creator's `_openid`,
//! which becomes the record's owner and a user logging in with that openid.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

use crate::source::{
    Class, Export, OwnerRef, Row, SrcUser, data_files, object_id_time, plain_val, read_objects,
};
use crate::{Result, err};

pub fn read(dir: &Path) -> Result<Export> {
    let mut ex = Export::default();
    let mut users: BTreeMap<String, Option<i64>> = BTreeMap::new();
    for (stem, path) in data_files(dir)? {
        let file = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or(&stem)
            .to_string();
        let mut rows = Vec::new();
        let mut cloud_ids = 0usize;
        for (i, mut o) in read_objects(&path)?.into_iter().enumerate() {
            let old_id = match o.remove("_id") {
                Some(Value::String(s)) => s,
                Some(Value::Object(m)) => match m.get("$oid").and_then(Value::as_str) {
                    Some(s) => s.to_string(),
                    None => {
                        return err(format!("{file}: row {} has an _id of no known form", i + 1));
                    }
                },
                Some(Value::Number(n)) => n.to_string(),
                _ => return err(format!("{file}: row {} has no _id", i + 1)),
            };
            let owner = match o.remove("_openid") {
                Some(Value::String(s)) if !s.is_empty() => {
                    let t = object_id_time(&old_id);
                    let first = users.entry(s.clone()).or_insert(t);
                    if let Some(t) = t {
                        *first = Some(first.map_or(t, |f| f.min(t)));
                    }
                    OwnerRef::Openid(s)
                }
                _ => OwnerRef::None,
            };
            let mut values = BTreeMap::new();
            for (k, v) in o {
                if v.as_str().is_some_and(|s| s.starts_with("cloud://")) {
                    cloud_ids += 1;
                }
                values.insert(k, plain_val(&v));
            }
            rows.push(Row {
                created: object_id_time(&old_id),
                updated: None,
                old_id,
                owner,
                role: None,
                public_read: false,
                values,
            });
        }
        if cloud_ids > 0 {
            ex.notes.push((
                stem.clone(),
                "unmapped".into(),
                format!(
                    "{cloud_ids} values are CloudBase storage file ids (cloud://…): kept as text; their bytes are not in a database export"
                ),
            ));
        }
        ex.classes.push(Class {
            name: stem,
            rows,
            hints: BTreeMap::new(),
            file,
        });
    }
    ex.users = users
        .into_iter()
        .map(|(openid, created)| SrcUser {
            key: openid.clone(),
            openid: Some(openid),
            unionid: None,
            nickname: None,
            avatar_url: None,
            created,
            updated: created,
        })
        .collect();
    Ok(ex)
}
