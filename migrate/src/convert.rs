//! An export, read → the archive's contents: users and groups first, then the plan
//! (inferred or reviewed), ids for every row, then every record converted and checked.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde_json::{Map, Value, json};
use yunqiao_core::auth::{valid_http_url, valid_nickname};
use yunqiao_core::clock::rfc3339;
use yunqiao_core::tables::{Field, FieldType, Schema, TableDef, schema::TableAclDef};

use crate::infer::{self, Stats, Target};
use crate::names::{derived_id, group_name, snake, unique};
use crate::report::{Notes, TableReport};
use crate::source::{Export, FileRef, OwnerRef, Row, Val};
use crate::{
    Converted, Fetch, FileOut, MigrateError, Options, Plan, Report, Result, Source, TableOut,
    TablePlan, UserOut, err,
};

/// Ref fields indexed per table at most (joins by pointer are common on LeanCloud); the
/// schema check may lower it.
const REF_INDEXES: usize = 4;
/// Errors listed when records do not fit their schema.
const ERRORS_SHOWN: usize = 20;

struct People {
    /// Source user key → yunqiao user id.
    ids: HashMap<String, String>,
    users: Vec<UserOut>,
    /// Source role name → group.
    groups: HashMap<String, String>,
}

fn people(source: Source, ex: &Export, notes: &mut Notes) -> People {
    let mut ids = HashMap::new();
    let mut by_openid: HashMap<String, usize> = HashMap::new();
    let mut users: Vec<UserOut> = Vec::new();
    let mut sorted: Vec<_> = ex.users.iter().collect();
    sorted.sort_by_key(|u| (u.created.unwrap_or(i64::MAX), u.key.clone()));
    for u in sorted {
        let Some(openid) = u.openid.clone().filter(|o| o.chars().count() <= 128) else {
            notes.add(
                "_User",
                "user_skipped",
                "no WeChat identity (authData.lc_weapp): not a user here; records they owned are imported without an owner",
                Some(&u.key),
            );
            continue;
        };
        if let Some(&i) = by_openid.get(&openid) {
            notes.add(
                "_User",
                "user_merged",
                "the same openid as an earlier user: merged into that user",
                Some(&u.key),
            );
            ids.insert(u.key.clone(), users[i].id.clone());
            continue;
        }
        let created = u.created.unwrap_or(0);
        let id = derived_id(created, &["wechat", &openid]);
        let nickname = u.nickname.clone().filter(|n| valid_nickname(n));
        let avatar_url = u.avatar_url.clone().filter(|a| valid_http_url(a));
        if u.avatar_url.is_some() && avatar_url.is_none() {
            notes.add(
                "_User.avatarUrl",
                "dropped",
                "not an http(s) URL",
                Some(&u.key),
            );
        }
        by_openid.insert(openid.clone(), users.len());
        ids.insert(u.key.clone(), id.clone());
        users.push(UserOut {
            id,
            openid,
            unionid: u.unionid.clone(),
            nickname,
            avatar_url,
            groups: Vec::new(),
            created_at: created,
            updated_at: u.updated.unwrap_or(created),
        });
    }
    let mut groups = HashMap::new();
    let index: HashMap<String, usize> = users
        .iter()
        .enumerate()
        .map(|(i, u)| (u.id.clone(), i))
        .collect();
    for r in &ex.roles {
        let Some(g) = group_name(&r.name) else {
            notes.add(
                "_Role",
                "unmapped",
                "a role name that is no group name (1 to 32 of a-z 0-9 _ -, starting with a letter): not imported",
                Some(&r.name),
            );
            continue;
        };
        if r.nested > 0 {
            notes.add(
                "_Role",
                "unmapped",
                "roles inside roles: groups do not nest; only direct members joined",
                Some(&r.name),
            );
        }
        for m in &r.members {
            match ids.get(m).and_then(|id| index.get(id)) {
                Some(&i) if !users[i].groups.contains(&g) => users[i].groups.push(g.clone()),
                Some(_) => {}
                None => notes.add(
                    "_Role",
                    "unmapped",
                    format!("a member of {g} is not a user here"),
                    Some(m),
                ),
            }
        }
        groups.insert(r.name.clone(), g);
    }
    let _ = source;
    People { ids, users, groups }
}

/// The plan a conversion infers: one table per class, one field per column.
fn infer_plan(source: Source, ex: &Export, notes: &mut Notes) -> Plan {
    let mut taken = BTreeSet::new();
    let tables: BTreeMap<String, String> = ex
        .classes
        .iter()
        .map(|c| (c.name.clone(), unique(&snake(&c.name), &mut taken)))
        .collect();
    let mut plans = Vec::new();
    for class in &ex.classes {
        let table = tables[&class.name].clone();
        if table != snake(&class.name) {
            notes.add(&class.name, "renamed", format!("table {table}"), None);
        }
        let mut stats: BTreeMap<&str, Stats> = BTreeMap::new();
        for row in &class.rows {
            for (col, v) in &row.values {
                let s = stats.entry(col.as_str()).or_default();
                if let Some(v) = v {
                    s.add(v);
                }
            }
        }
        for col in class.hints.keys() {
            stats.entry(col.as_str()).or_default();
        }
        let id_field = source.id_field();
        let mut fields_taken: BTreeSet<String> = [id_field.to_string()].into();
        let mut id = infer_field(id_field, FieldType::String);
        id.index = true;
        let mut fields = vec![id];
        let mut columns = BTreeMap::from([(id_column(source).to_string(), id_field.to_string())]);
        for (col, s) in &stats {
            let at = format!("{}.{col}", class.name);
            let name = unique(&snake(col), &mut fields_taken);
            let Some((f, why)) = infer::decide(&name, s, class.hints.get(*col), &tables) else {
                notes.add(
                    &at,
                    "dropped",
                    "always empty, and no schema says its type",
                    None,
                );
                continue;
            };
            if let Some((kind, why)) = why {
                notes.add(&at, kind, why, None);
            }
            if name != snake(col) || (name.starts_with("f_") && !col.starts_with("f_")) {
                notes.add(&at, "renamed", format!("field {name}"), None);
            }
            columns.insert(col.to_string(), name);
            fields.push(f);
        }
        let acl = table_acl(source, class.name.as_str(), &class.rows, notes);
        let mut def = TableDef {
            fields,
            acl,
            hooks: BTreeMap::new(),
        };
        index_refs(&table, &mut def);
        plans.push(TablePlan {
            name: table,
            from: class.name.clone(),
            columns,
            def,
        });
    }
    Plan {
        source,
        tables: plans,
    }
}

fn infer_field(name: &str, kind: FieldType) -> Field {
    serde_json::from_value(json!({"name": name, "type": kind})).unwrap_or_else(|_| unreachable!())
}

/// The source column holding a row's own id.
fn id_column(source: Source) -> &'static str {
    match source {
        Source::LeanCloud => "objectId",
        Source::CloudBase => "_id",
    }
}

/// Indexes the first ref fields, as many as the schema's transaction budget allows.
fn index_refs(table: &str, def: &mut TableDef) {
    let refs: Vec<usize> = def
        .fields
        .iter()
        .enumerate()
        .filter(|(_, f)| f.kind == FieldType::Ref && !f.many)
        .map(|(i, _)| i)
        .take(REF_INDEXES)
        .collect();
    for n in (0..=refs.len()).rev() {
        let mut d = def.clone();
        for &i in &refs[..n] {
            d.fields[i].index = true;
        }
        if Schema::from_def(table, &d).is_ok() {
            *def = d;
            return;
        }
    }
}

/// The table's record rule, from its rows' ACLs: public reads if every row was public,
/// group reads if every row named a role, else the owner only.
fn table_acl(source: Source, class: &str, rows: &[Row], notes: &mut Notes) -> TableAclDef {
    let record = match source {
        Source::CloudBase => {
            notes.add(
                class,
                "acl",
                "CloudBase's collection permission is not in the export: the rule is the owner's only (rwd:-:-); review it",
                None,
            );
            "rwd:-:-"
        }
        Source::LeanCloud => {
            let public = rows.iter().filter(|r| r.public_read).count();
            let roled = rows.iter().filter(|r| r.role.is_some()).count();
            if !rows.is_empty() && public == rows.len() {
                "rwd:r:r"
            } else if !rows.is_empty() && roled == rows.len() {
                "rwd:r:-"
            } else {
                if public > 0 {
                    notes.add(
                        class,
                        "acl",
                        format!(
                            "{public} of {} records were public: yunqiao's rule is per table, and the narrower one (rwd:-:-) was chosen; review it",
                            rows.len()
                        ),
                        None,
                    );
                }
                "rwd:-:-"
            }
        }
    };
    TableAclDef {
        record: Some(record.into()),
        create: Some("users".into()),
        group: None,
    }
}

/// A reviewed plan, checked against the export.
fn check_plan(plan: &Plan, source: Source, ex: &Export, notes: &mut Notes) -> Result<Plan> {
    if plan.source != source {
        return err(format!(
            "the schema file is for {}, the export is from {}",
            plan.source.name(),
            source.name()
        ));
    }
    let mut names = BTreeSet::new();
    for t in &plan.tables {
        if !names.insert(t.name.clone()) {
            return err(format!("the schema file names table {} twice", t.name));
        }
        Schema::from_def(&t.name, &t.def)
            .map_err(|e| MigrateError(format!("table {}: {}: {}", t.name, e.message, e.details)))?;
        for (col, f) in &t.columns {
            if !t.def.fields.iter().any(|x| &x.name == f) {
                return err(format!(
                    "table {}: column {col} goes to field {f}, which the table does not have",
                    t.name
                ));
            }
        }
        if !ex.classes.iter().any(|c| c.name == t.from) {
            notes.add(
                &t.from,
                "unmapped",
                "in the schema file, not in the export",
                None,
            );
        }
    }
    for c in &ex.classes {
        let Some(t) = plan.tables.iter().find(|t| t.from == c.name) else {
            notes.add(
                &c.name,
                "dropped",
                "not in the schema file: not imported",
                None,
            );
            continue;
        };
        let cols: BTreeSet<&String> = c.rows.iter().flat_map(|r| r.values.keys()).collect();
        for col in cols {
            if !t.columns.contains_key(col) {
                notes.add(
                    &format!("{}.{col}", c.name),
                    "dropped",
                    "not in the schema file: not imported",
                    None,
                );
            }
        }
    }
    Ok(plan.clone())
}

struct Files<'a> {
    fetch: &'a dyn Fetch,
    known: &'a BTreeMap<String, FileRef>,
    source: Source,
    /// URL or source id → the file's id (`None`: not fetched).
    seen: HashMap<String, Option<String>>,
    out: Vec<FileOut>,
}

impl Files<'_> {
    fn file(
        &mut self,
        f: &FileRef,
        owner: Option<&str>,
        public: bool,
        created: i64,
        at: &str,
        notes: &mut Notes,
    ) -> Option<String> {
        let mut f = f.clone();
        if let Some(k) = f.id.as_ref().and_then(|id| self.known.get(id)) {
            f.url = f.url.or_else(|| k.url.clone());
            if f.name == "file" {
                f.name = k.name.clone();
            }
            f.mime = f.mime.or_else(|| k.mime.clone());
        }
        let key = f.url.clone().or_else(|| f.id.clone())?;
        if let Some(done) = self.seen.get(&key) {
            return done.clone();
        }
        let Some(url) = f.url.clone() else {
            notes.add(
                at,
                "file_not_fetched",
                "a file with no URL",
                f.id.as_deref(),
            );
            self.seen.insert(key, None);
            return None;
        };
        let id = match self.fetch.fetch(&url) {
            Ok(bytes) => {
                let id = derived_id(created, &[self.source.name(), "file", &key]);
                let content_type = yunqiao_core::files::sniff(&bytes)
                    .map(str::to_string)
                    .or(f.mime.clone())
                    .unwrap_or_else(|| by_extension(&f.name).into());
                self.out.push(FileOut {
                    id: id.clone(),
                    owner: owner.map(str::to_string),
                    name: f.name.clone(),
                    content_type,
                    size: bytes.len() as u64,
                    public,
                    created_at: created,
                    bytes,
                });
                Some(id)
            }
            Err(why) => {
                notes.add(
                    at,
                    "file_not_fetched",
                    format!("not reachable ({why}): the field is left empty"),
                    Some(&url),
                );
                None
            }
        };
        self.seen.insert(key, id.clone());
        id
    }
}

fn by_extension(name: &str) -> &'static str {
    let ext = name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
    match ext.as_deref() {
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("png") => "image/png",
        Some("gif") => "image/gif",
        Some("webp") => "image/webp",
        Some("mp3") => "audio/mpeg",
        Some("mp4") => "video/mp4",
        Some("pdf") => "application/pdf",
        Some("txt") => "text/plain",
        _ => "application/octet-stream",
    }
}

/// What conversion needs to resolve references.
struct Refs<'a> {
    /// (class, old id) → record id.
    ids: HashMap<(&'a str, &'a str), String>,
    /// class → table.
    tables: BTreeMap<String, String>,
    people: &'a People,
}

impl Refs<'_> {
    /// The new value a pointer becomes, `None` when it points at nothing here.
    fn pointer(&self, class: &str, id: &str) -> Option<String> {
        match infer::target(class, &self.tables) {
            Target::Table(_) => self.ids.get(&(class, id)).cloned(),
            Target::User => self.people.ids.get(id).cloned(),
            Target::Role => None,
            Target::File => None,
            Target::Absent => Some(id.to_string()),
        }
    }

    /// JSON with typed values made plain: dates as RFC 3339, pointers as the new id.
    fn plain_json(&self, v: &Value) -> Value {
        match v {
            Value::Object(m) => {
                if let Some(ms) = crate::source::date_of(v, false) {
                    return json!(rfc3339(ms));
                }
                match m.get("__type").and_then(Value::as_str) {
                    Some("Pointer") => {
                        let c = m.get("className").and_then(Value::as_str).unwrap_or("");
                        let id = m.get("objectId").and_then(Value::as_str).unwrap_or("");
                        return self.pointer(c, id).map_or(Value::Null, Value::String);
                    }
                    Some("File") => return m.get("url").cloned().unwrap_or(Value::Null),
                    Some("GeoPoint") => {
                        return json!({"latitude": m.get("latitude"), "longitude": m.get("longitude")});
                    }
                    _ => {}
                }
                Value::Object(
                    m.iter()
                        .map(|(k, x)| (k.clone(), self.plain_json(x)))
                        .collect(),
                )
            }
            Value::Array(a) => Value::Array(a.iter().map(|x| self.plain_json(x)).collect()),
            other => other.clone(),
        }
    }
}

fn text_of(v: &Val, refs: &Refs) -> String {
    match v {
        Val::Bool(b) => b.to_string(),
        Val::Int(i) => i.to_string(),
        Val::Float(x) => x.to_string(),
        Val::Str(s) => s.clone(),
        Val::Date(ms) => rfc3339(*ms),
        Val::Pointer { class, id } => refs.pointer(class, id).unwrap_or_else(|| id.clone()),
        Val::File(f) => f.url.clone().unwrap_or_else(|| f.name.clone()),
        Val::Json(j) => refs.plain_json(j).to_string(),
    }
}

/// Per-row context of a value's conversion.
struct At<'a> {
    col: &'a str,
    old_id: &'a str,
    owner: Option<&'a str>,
    public: bool,
    created: i64,
}

/// One value for its field: `Ok(None)` leaves the field empty (noted), `Err` is a value
/// that the (reviewed) field cannot hold.
fn value_for(
    v: &Val,
    f: &Field,
    refs: &Refs,
    files: &mut Files,
    at: &At,
    notes: &mut Notes,
) -> std::result::Result<Option<Value>, String> {
    let bad = || Err(format!("{} cannot hold {v:?}", type_word(f.kind)));
    Ok(Some(match (f.kind, v) {
        (FieldType::Ref, Val::Pointer { class, id }) => match refs.pointer(class, id) {
            Some(new) => json!(new),
            None => {
                notes.add(
                    at.col,
                    "missing_ref",
                    format!("points to a {class} row that is not in the export: left empty"),
                    Some(&format!("{}→{id}", at.old_id)),
                );
                return Ok(None);
            }
        },
        (FieldType::Ref, _) => return bad(),
        (FieldType::String | FieldType::Text, Val::Pointer { class, id }) => {
            match refs.pointer(class, id) {
                Some(new) => json!(new),
                None => {
                    notes.add(
                        at.col,
                        "missing_ref",
                        format!("points to a {class} that is not here: left empty"),
                        Some(&format!("{}→{id}", at.old_id)),
                    );
                    return Ok(None);
                }
            }
        }
        (FieldType::String | FieldType::Text, v) => {
            let s = text_of(v, refs);
            let cap = f.length.unwrap_or(if f.kind == FieldType::Text {
                infer::MAX_TEXT_CHARS
            } else {
                255
            });
            if s.chars().count() > cap {
                notes.add(
                    at.col,
                    "unmapped",
                    format!("longer than {cap} characters: left empty"),
                    Some(at.old_id),
                );
                return Ok(None);
            }
            json!(s)
        }
        (FieldType::Integer, Val::Int(i)) => json!(i),
        (FieldType::Integer, Val::Float(x)) if x.fract() == 0.0 && x.abs() < 9.0e15 => {
            json!(*x as i64)
        }
        (FieldType::Number, Val::Int(i)) => json!(i),
        (FieldType::Number, Val::Float(x)) => json!(x),
        (FieldType::Boolean, Val::Bool(b)) => json!(b),
        (FieldType::Datetime, Val::Date(ms)) => json!(rfc3339(*ms)),
        (FieldType::Datetime, Val::Str(s)) => {
            match yunqiao_core::tables::schema::parse_rfc3339(s) {
                Some(ms) => json!(rfc3339(ms)),
                None => return bad(),
            }
        }
        (FieldType::File, Val::File(file)) => {
            return Ok(files
                .file(file, at.owner, at.public, at.created, at.col, notes)
                .map(Value::String));
        }
        (FieldType::File, Val::Pointer { class, id }) if class == "_File" => {
            let file = FileRef {
                name: "file".into(),
                url: None,
                id: Some(id.clone()),
                mime: None,
            };
            return Ok(files
                .file(&file, at.owner, at.public, at.created, at.col, notes)
                .map(Value::String));
        }
        (FieldType::Json, Val::Json(j)) => match refs.plain_json(j) {
            j @ (Value::Object(_) | Value::Array(_)) => j,
            scalar => json!([scalar]),
        },
        (FieldType::Json, v) => {
            let one = match v {
                Val::Pointer { class, id } => {
                    refs.pointer(class, id).map_or(Value::Null, Value::String)
                }
                Val::Date(ms) => json!(rfc3339(*ms)),
                Val::Bool(b) => json!(b),
                Val::Int(i) => json!(i),
                Val::Float(x) => json!(x),
                other => json!(text_of(other, refs)),
            };
            json!([one])
        }
        _ => return bad(),
    }))
}

fn type_word(k: FieldType) -> String {
    serde_json::to_value(k)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// A row's creation time: its own, or the one its ObjectId-shaped id carries.
fn created_of(row: &Row) -> Option<i64> {
    row.created
        .or_else(|| crate::source::object_id_time(&row.old_id))
}

pub fn run(source: Source, ex: Export, opts: &Options, fetch: &dyn Fetch) -> Result<Converted> {
    let mut notes = Notes::default();
    for (at, kind, msg) in &ex.notes {
        notes.add(at, kind, msg.clone(), None);
    }
    let people = people(source, &ex, &mut notes);
    let plan = match &opts.plan {
        Some(p) => check_plan(p, source, &ex, &mut notes)?,
        None => infer_plan(source, &ex, &mut notes),
    };
    let tables: BTreeMap<String, String> = plan
        .tables
        .iter()
        .map(|t| (t.from.clone(), t.name.clone()))
        .collect();
    let mut ids = HashMap::new();
    for c in &ex.classes {
        if !tables.contains_key(&c.name) {
            continue;
        }
        for r in &c.rows {
            let id = derived_id(
                created_of(r).unwrap_or(0),
                &[source.name(), &c.name, &r.old_id],
            );
            if ids
                .insert((c.name.as_str(), r.old_id.as_str()), id)
                .is_some()
            {
                return err(format!("{}: objectId {} appears twice", c.file, r.old_id));
            }
        }
    }
    let refs = Refs {
        ids,
        tables,
        people: &people,
    };
    let mut files = Files {
        fetch,
        known: &ex.files,
        source,
        seen: HashMap::new(),
        out: Vec::new(),
    };
    let mut out_tables = Vec::new();
    let mut reports = Vec::new();
    let mut errors: Vec<String> = Vec::new();
    let id_col = id_column(source);
    for t in &plan.tables {
        let Some(class) = ex.classes.iter().find(|c| c.name == t.from) else {
            continue;
        };
        let schema = Schema::from_def(&t.name, &t.def)
            .map_err(|e| MigrateError(format!("table {}: {}", t.name, e.message)))?;
        let mut records = Vec::with_capacity(class.rows.len());
        for row in &class.rows {
            let owner = match &row.owner {
                OwnerRef::None => None,
                OwnerRef::LcUser(k) | OwnerRef::Openid(k) => {
                    let id = people.ids.get(k).cloned();
                    if id.is_none() {
                        notes.add(
                            &class.name,
                            "owner",
                            "its owner is not a user here: imported without an owner",
                            Some(&row.old_id),
                        );
                    }
                    id
                }
            };
            let group = row
                .role
                .as_ref()
                .and_then(|r| people.groups.get(r))
                .cloned();
            // A row with no creation time of its own (nor an ObjectId's) has none in
            // the archive either: the import time then, and the same archive again
            // is the same records.
            let known = created_of(row);
            let created = known.unwrap_or(opts.now_ms);
            let mut fields = Map::new();
            if let Some(f) = t.columns.get(id_col) {
                fields.insert(f.clone(), json!(row.old_id));
            }
            for (col, v) in &row.values {
                let (Some(fname), Some(v)) = (t.columns.get(col), v) else {
                    continue;
                };
                let Some((_, f)) = schema.field(fname) else {
                    continue;
                };
                let at_col = format!("{}.{col}", class.name);
                let at = At {
                    col: &at_col,
                    old_id: &row.old_id,
                    owner: owner.as_deref(),
                    public: row.public_read,
                    created,
                };
                match value_for(v, f, &refs, &mut files, &at, &mut notes) {
                    Ok(Some(x)) => {
                        fields.insert(fname.clone(), x);
                    }
                    Ok(None) => {}
                    Err(why) => {
                        if errors.len() < ERRORS_SHOWN {
                            errors.push(format!("{} {}: {col}: {why}", class.name, row.old_id));
                        }
                    }
                }
            }
            let mut rec = match schema.validate(&fields, true) {
                Ok(r) => r,
                Err(e) => {
                    if errors.len() < ERRORS_SHOWN {
                        errors.push(format!("{} {}: {}", class.name, row.old_id, e.message));
                    }
                    continue;
                }
            };
            let id = refs.ids[&(class.name.as_str(), row.old_id.as_str())].clone();
            rec.insert("_id".into(), json!(id));
            rec.insert("_owner".into(), owner.map_or(Value::Null, Value::String));
            rec.insert("_group".into(), group.map_or(Value::Null, Value::String));
            if let Some(c) = known {
                rec.insert("_created".into(), json!(rfc3339(c)));
            }
            if let Some(u) = row.updated.or(known) {
                rec.insert("_updated".into(), json!(rfc3339(u)));
            }
            rec.insert("_v".into(), json!(1));
            records.push(rec);
        }
        reports.push(TableReport {
            name: t.name.clone(),
            from: t.from.clone(),
            records: records.len(),
            fields: t.def.fields.len(),
        });
        out_tables.push(TableOut {
            name: t.name.clone(),
            def: t.def.clone(),
            records,
        });
    }
    if !errors.is_empty() {
        return err(format!(
            "values that do not fit their field (nothing was converted):\n  {}",
            errors.join("\n  ")
        ));
    }
    let mut groups = BTreeMap::new();
    for u in &people.users {
        for g in &u.groups {
            *groups.entry(g.clone()).or_insert(0) += 1;
        }
    }
    let report = Report {
        source: source.name().into(),
        tables: reports,
        users: people.users.len(),
        groups,
        files: files.out.len(),
        notes: notes.into_vec(),
    };
    Ok(Converted {
        plan,
        tables: out_tables,
        users: people.users,
        files: files.out,
        report,
    })
}
