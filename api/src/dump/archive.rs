//! Reading an export archive (`docs/export-format.md`) into memory, every line parsed
//! and checked for its shape, before anything is written.

use std::collections::{BTreeMap, HashMap};
use std::io::Read;

use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};
use yunqiao_core::auth::dump::UserLine;
use yunqiao_core::files::dump::FileLine;
use yunqiao_core::functions::ModuleInput;
use yunqiao_core::kv::NamespaceDef;
use yunqiao_core::kv::dump::EntryLine;
use yunqiao_core::live::topics::TopicRule;
use yunqiao_core::tables::TableDef;
use yunqiao_core::{Code, Error, Result};

use super::{FORMAT, VERSION};

/// An archive, read whole.
#[derive(Default)]
pub struct Archive {
    pub manifest: Map<String, Value>,
    pub schemas: Vec<(String, TableDef)>,
    /// Records by table, in the order of their entry.
    pub tables: BTreeMap<String, Vec<Map<String, Value>>>,
    pub users: Vec<UserLine>,
    pub namespaces: Vec<(String, NamespaceDef)>,
    pub kv: BTreeMap<String, Vec<EntryLine>>,
    pub topics: Vec<(String, TopicRule)>,
    /// Module settings lines (`source` filled in from `functions/<name>.js`).
    pub functions: Vec<(String, Map<String, Value>)>,
    pub sources: HashMap<String, String>,
    pub files: Vec<FileLine>,
    pub blobs: HashMap<String, Vec<u8>>,
}

pub fn invalid(entry: &str, line: Option<usize>, message: impl Into<String>) -> Error {
    let message = message.into();
    let mut details = json!({ "entry": entry });
    if let Some(n) = line {
        details["line"] = json!(n);
    }
    let place = match line {
        Some(n) => format!("{entry}, line {n}"),
        None => entry.to_string(),
    };
    Error::new(Code::ArchiveInvalid, format!("{place}: {message}")).with_details(details)
}

/// A domain refusal of one line, said as where it is in the archive.
pub fn refused(entry: &str, line: usize, e: &Error) -> Error {
    let mut err = invalid(
        entry,
        Some(line),
        format!("{} ({})", e.message, e.code.as_str()),
    );
    if let Some(f) = e.details.get("field") {
        err.details["field"] = f.clone();
    }
    err.details["code"] = json!(e.code.as_str());
    err
}

/// An error of a write, told where in the archive its line is (its code kept).
pub fn located(entry: &str, line: usize, e: Error) -> Error {
    let mut e = e;
    e.message = format!("{entry}, line {line}: {}", e.message);
    if !e.details.is_object() {
        e.details = json!({});
    }
    e.details["entry"] = json!(entry);
    e.details["line"] = json!(line);
    e
}

fn name_ok(n: &str) -> bool {
    !n.is_empty()
        && n.len() <= 64
        && n.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

/// Each non-empty line of an NDJSON entry, parsed as `T`.
fn lines<T: DeserializeOwned>(entry: &str, bytes: &[u8]) -> Result<Vec<(usize, T)>> {
    let text = std::str::from_utf8(bytes).map_err(|_| invalid(entry, None, "not UTF-8"))?;
    let mut out = Vec::new();
    for (i, l) in text.split('\n').enumerate() {
        let l = l.strip_suffix('\r').unwrap_or(l);
        if l.trim().is_empty() {
            continue;
        }
        let v: T = serde_json::from_str(l)
            .map_err(|e| invalid(entry, Some(i + 1), format!("not a valid line: {e}")))?;
        out.push((i + 1, v));
    }
    Ok(out)
}

fn object_lines(entry: &str, bytes: &[u8]) -> Result<Vec<(usize, Map<String, Value>)>> {
    lines::<Map<String, Value>>(entry, bytes)
}

/// Takes the string `key` out of a line.
fn take_name(entry: &str, n: usize, m: &mut Map<String, Value>, key: &str) -> Result<String> {
    match m.remove(key) {
        Some(Value::String(s)) => Ok(s),
        _ => Err(invalid(
            entry,
            Some(n),
            format!("{key} is required (a string)"),
        )),
    }
}

fn parse<T: DeserializeOwned>(entry: &str, n: usize, v: Value) -> Result<T> {
    serde_json::from_value(v).map_err(|e| invalid(entry, Some(n), format!("{e}")))
}

/// Checks the manifest: the format and the version this server reads.
fn check_manifest(bytes: &[u8]) -> Result<Map<String, Value>> {
    let m: Map<String, Value> = serde_json::from_slice(bytes)
        .map_err(|e| invalid("manifest.json", None, format!("not a JSON object: {e}")))?;
    if m.get("format").and_then(Value::as_str) != Some(FORMAT) {
        return Err(invalid(
            "manifest.json",
            None,
            format!("format must be {FORMAT:?}: this is no yunqiao export"),
        ));
    }
    match m.get("version").and_then(Value::as_i64) {
        Some(VERSION) => Ok(m),
        other => {
            let v = m.get("version").cloned().unwrap_or(Value::Null);
            Err(Error::new(
                Code::ArchiveVersion,
                format!(
                    "this archive is format version {}; this yunqiao reads version {VERSION}",
                    other.map_or_else(|| v.to_string(), |n| n.to_string())
                ),
            )
            .with_details(json!({"version": v, "supported": [VERSION]})))
        }
    }
}

/// Reads a gzip'd tar whole. `max_bytes` bounds what it unpacks to (a small archive
/// cannot expand into gigabytes).
pub fn read(input: impl Read, max_bytes: u64) -> Result<Archive> {
    let gz = flate2::read::GzDecoder::new(input);
    let mut tar = tar::Archive::new(gz);
    let mut a = Archive::default();
    let mut total: u64 = 0;
    let mut first = true;
    let entries = tar
        .entries()
        .map_err(|e| invalid("(archive)", None, format!("not a gzip'd tar: {e}")))?;
    for entry in entries {
        let mut entry =
            entry.map_err(|e| invalid("(archive)", None, format!("not a gzip'd tar: {e}")))?;
        let kind = entry.header().entry_type();
        let path = entry
            .path()
            .ok()
            .and_then(|p| p.to_str().map(str::to_string))
            .ok_or_else(|| invalid("(archive)", None, "an entry name is not UTF-8"))?;
        let name = path.strip_prefix("./").unwrap_or(&path).to_string();
        if kind.is_dir() {
            continue;
        }
        if !(kind.is_file() || kind == tar::EntryType::Continuous) {
            return Err(invalid(&name, None, "only regular files are read"));
        }
        if name
            .split('/')
            .any(|p| p.is_empty() || p == "." || p == "..")
        {
            return Err(invalid(&name, None, "not a relative path"));
        }
        let size = entry.header().size().unwrap_or(u64::MAX);
        total = total.saturating_add(size);
        if total > max_bytes {
            return Err(Error::new(
                Code::BodyTooLarge,
                format!("the archive unpacks to more than {max_bytes} bytes"),
            ));
        }
        let mut bytes = Vec::with_capacity(size.min(1 << 20) as usize);
        (&mut entry)
            .take(size)
            .read_to_end(&mut bytes)
            .map_err(|e| invalid(&name, None, format!("unreadable: {e}")))?;
        if first {
            if name != "manifest.json" {
                return Err(invalid(
                    &name,
                    None,
                    "the first entry must be manifest.json",
                ));
            }
            a.manifest = check_manifest(&bytes)?;
            first = false;
            continue;
        }
        add(&mut a, &name, &bytes)?;
    }
    if first {
        return Err(invalid(
            "manifest.json",
            None,
            "missing: the archive is empty",
        ));
    }
    for (name, _) in &a.functions {
        if !a.sources.contains_key(name) {
            return Err(invalid(
                &format!("functions/{name}.js"),
                None,
                "missing: every module of functions.ndjson has its source",
            ));
        }
    }
    for name in a.sources.keys() {
        if !a.functions.iter().any(|(n, _)| n == name) {
            return Err(invalid(
                &format!("functions/{name}.js"),
                None,
                "a source with no line in functions.ndjson",
            ));
        }
    }
    check_counts(&a)?;
    Ok(a)
}

fn add(a: &mut Archive, name: &str, bytes: &[u8]) -> Result<()> {
    let dup = || invalid(name, None, "appears twice");
    match name {
        "manifest.json" => return Err(dup()),
        "schemas.ndjson" => {
            for (n, mut m) in object_lines(name, bytes)? {
                let t = take_name(name, n, &mut m, "name")?;
                let def = m
                    .remove("def")
                    .ok_or_else(|| invalid(name, Some(n), "def is required"))?;
                if let Some(k) = m.keys().next() {
                    return Err(invalid(name, Some(n), format!("unknown key {k:?}")));
                }
                a.schemas.push((t, parse(name, n, def)?));
            }
        }
        "users.ndjson" => {
            a.users = lines::<UserLine>(name, bytes)?
                .into_iter()
                .map(|(_, u)| u)
                .collect();
        }
        "kv.ndjson" => {
            for (n, mut m) in object_lines(name, bytes)? {
                let ns = take_name(name, n, &mut m, "name")?;
                a.namespaces.push((ns, parse(name, n, Value::Object(m))?));
            }
        }
        "topics.ndjson" => {
            for (n, mut m) in object_lines(name, bytes)? {
                let p = take_name(name, n, &mut m, "pattern")?;
                a.topics.push((p, parse(name, n, Value::Object(m))?));
            }
        }
        "functions.ndjson" => {
            for (n, mut m) in object_lines(name, bytes)? {
                let f = take_name(name, n, &mut m, "name")?;
                if m.contains_key("source") {
                    return Err(invalid(name, Some(n), "the source is functions/<name>.js"));
                }
                // Its shape now; the source joins it later.
                m.insert("source".into(), json!(""));
                parse::<ModuleInput>(name, n, Value::Object(m.clone()))?;
                m.remove("source");
                a.functions.push((f, m));
            }
        }
        "files.ndjson" => {
            for (n, f) in lines::<FileLine>(name, bytes)? {
                let _ = n;
                a.files.push(f);
            }
        }
        _ => {
            if let Some(t) = name
                .strip_prefix("tables/")
                .and_then(|r| r.strip_suffix(".ndjson"))
                && name_ok(t)
            {
                if a.tables.contains_key(t) {
                    return Err(dup());
                }
                let recs = object_lines(name, bytes)?
                    .into_iter()
                    .map(|(_, m)| m)
                    .collect();
                a.tables.insert(t.to_string(), recs);
            } else if let Some(ns) = name
                .strip_prefix("kv/")
                .and_then(|r| r.strip_suffix(".ndjson"))
                && name_ok(ns)
            {
                if a.kv.contains_key(ns) {
                    return Err(dup());
                }
                let es = lines::<EntryLine>(name, bytes)?
                    .into_iter()
                    .map(|(_, e)| e)
                    .collect();
                a.kv.insert(ns.to_string(), es);
            } else if let Some(m) = name
                .strip_prefix("functions/")
                .and_then(|r| r.strip_suffix(".js"))
                && name_ok(m)
            {
                let src = String::from_utf8(bytes.to_vec())
                    .map_err(|_| invalid(name, None, "a source is UTF-8"))?;
                if a.sources.insert(m.to_string(), src).is_some() {
                    return Err(dup());
                }
            } else if let Some(id) = name.strip_prefix("blobs/")
                && yunqiao_core::ids::is_id(id)
            {
                if a.blobs.insert(id.to_string(), bytes.to_vec()).is_some() {
                    return Err(dup());
                }
            } else {
                return Err(invalid(name, None, "not an entry of format version 1"));
            }
        }
    }
    Ok(())
}

/// The manifest's counts, where given, against what the archive holds.
fn check_counts(a: &Archive) -> Result<()> {
    let Some(counts) = a.manifest.get("counts") else {
        return Ok(());
    };
    let Some(counts) = counts.as_object() else {
        return Err(invalid("manifest.json", None, "counts is an object"));
    };
    let held: [(&str, usize); 8] = [
        ("tables", a.schemas.len()),
        ("records", a.tables.values().map(Vec::len).sum()),
        ("users", a.users.len()),
        ("kv_namespaces", a.namespaces.len()),
        ("kv_entries", a.kv.values().map(Vec::len).sum()),
        ("topics", a.topics.len()),
        ("functions", a.functions.len()),
        ("files", a.files.len()),
    ];
    for (k, v) in counts {
        let Some((_, have)) = held.iter().find(|(n, _)| n == k) else {
            return Err(invalid(
                "manifest.json",
                None,
                format!("unknown count {k:?}"),
            ));
        };
        if v.as_u64() != Some(*have as u64) {
            return Err(invalid(
                "manifest.json",
                None,
                format!("counts.{k} is {v} but the archive holds {have}: is it truncated?"),
            ));
        }
    }
    Ok(())
}
