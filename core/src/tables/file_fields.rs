//! `file` fields: a record holds a file's id. A write takes only a file the writer may
//! use (ready, and its own or public; admins: any ready file), on every write path
//! (records, batches, cloud functions' `db.*`, hooks' writes); a read with `expand`
//! adds the file as the reader may see it under `_expand`.
//!
//! The files area is reached through [`FileRefs`], which the files service provides
//! (wired by the API): the tables never import it.

use std::collections::{BTreeSet, HashMap, HashSet};

use serde_json::{Map, Value, json};

use super::schema::{FieldType, Schema};
use crate::auth::Caller;
use crate::error::{Code, Error, Result};

/// What the tables need of the files area.
#[async_trait::async_trait]
pub trait FileRefs: Send + Sync {
    /// `Ok` when `caller` may store `id` in a `file` field; else 400 `FILE_NOT_USABLE`.
    async fn check_usable(&self, caller: &Caller, id: &str) -> Result<()>;

    /// The file as `caller` may see it (the API's `FileInfo`), `None` when it may not
    /// read it or the file is gone.
    async fn view(&self, caller: &Caller, id: &str) -> Result<Option<Value>>;
}

/// The key under which a record's expanded files are added.
pub const EXPAND_KEY: &str = "_expand";

fn no_files(field: &str) -> Error {
    Error::new(
        Code::FileNotUsable,
        "files are not set up on this server (no blob store configured)",
    )
    .with_details(json!({ "field": field }))
}

/// Every `file` field that `sent` (what the writer sent) sets holds, in `rec` (the
/// record as it will be written), a file `caller` may use. `checked` holds the ids
/// already found usable in this request.
pub(super) async fn check_usable(
    files: Option<&dyn FileRefs>,
    caller: &Caller,
    schema: &Schema,
    sent: &Map<String, Value>,
    rec: &Map<String, Value>,
    checked: &mut HashSet<String>,
) -> Result<()> {
    for name in sent.keys() {
        if !schema
            .field(name)
            .is_some_and(|(_, f)| f.kind == FieldType::File)
        {
            continue;
        }
        let Some(id) = rec.get(name).and_then(Value::as_str) else {
            continue;
        };
        if checked.contains(id) {
            continue;
        }
        let files = files.ok_or_else(|| no_files(name))?;
        files.check_usable(caller, id).await.map_err(|e| {
            if e.code == Code::FileNotUsable {
                e.with_details(json!({ "field": name, "file": id }))
            } else {
                e
            }
        })?;
        checked.insert(id.to_string());
    }
    Ok(())
}

/// Adds `_expand: {field: file | null}` to each record of `items` for the `file`
/// fields `fields` (their index in `expand`, their name; `null`: no file, or one the
/// caller may not read), reading at most `max` files.
pub(super) async fn expand(
    files: Option<&dyn FileRefs>,
    caller: &Caller,
    items: &mut [Value],
    fields: &[(usize, &str)],
    max: usize,
) -> Result<()> {
    if fields.is_empty() {
        return Ok(());
    }
    let mut ids: BTreeSet<&str> = BTreeSet::new();
    for it in items.iter() {
        for (_, name) in fields {
            if let Some(id) = it.get(*name).and_then(Value::as_str) {
                ids.insert(id);
            }
        }
    }
    if ids.len() > max {
        return Err(Error::new(
            Code::InvalidQuery,
            format!(
                "expanding would read {} files; the limit is {max} per request",
                ids.len()
            ),
        )
        .with_details(json!({"field": format!("expand.{}", fields[0].0)})));
    }
    let mut found: HashMap<String, Value> = HashMap::new();
    if let Some(files) = files {
        let reads = ids
            .iter()
            .map(|id| async move { (*id, files.view(caller, id).await) });
        for (id, got) in futures_util::future::join_all(reads).await {
            if let Some(v) = got? {
                found.insert(id.to_string(), v);
            }
        }
    }
    for it in items.iter_mut() {
        let Some(rec) = it.as_object_mut() else {
            continue;
        };
        let mut expanded = Map::new();
        for (_, name) in fields {
            let v = rec
                .get(*name)
                .and_then(Value::as_str)
                .and_then(|id| found.get(id))
                .cloned()
                .unwrap_or(Value::Null);
            expanded.insert(name.to_string(), v);
        }
        rec.insert(EXPAND_KEY.into(), Value::Object(expanded));
    }
    Ok(())
}

#[cfg(test)]
#[path = "file_fields_tests.rs"]
mod tests;
