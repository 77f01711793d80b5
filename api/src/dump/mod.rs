//! Export and import of everything an app owns, as the archive of
//! `docs/export-format.md`: `yunqiao export` / `yunqiao import` (on the store the
//! configuration names) and `GET /v1/admin/export` / `POST /v1/admin/import` (for small
//! apps) both run these two functions on the domain services, so an archive moves an
//! app between the embedded store and DynamoDB + S3 either way.
//!
//! Import reads the whole archive and checks every line (with the domain's own checks,
//! against the archive's schemas or the target's) before it writes anything; then it
//! writes the project part (modules, tables, KV namespaces, topic rules) as one apply,
//! then users, files, KV entries and records, each an upsert by its id through the
//! domain, which rebuilds index entries, unique guards and counts.

mod archive;
pub mod routes;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{Read, Write};

use serde::Serialize;
use serde_json::{Map, Value, json};
use yunqiao_core::auth::dump::UserLine;
use yunqiao_core::auth::{Caller, User};
use yunqiao_core::files::dump::FileLine;
use yunqiao_core::kv::NamespaceDef;
use yunqiao_core::kv::dump::EntryLine;
use yunqiao_core::project::{Applier, ApplyOptions, Outcome, Project};
use yunqiao_core::tables::Tables;
use yunqiao_core::tables::schema::Schema;
use yunqiao_core::{Code, Error, Result};

pub use archive::Archive;

use crate::Services;

/// The archive's `format`.
pub const FORMAT: &str = "yunqiao-export";
/// The one format version this server writes and reads.
pub const VERSION: i64 = 1;

/// How an import runs.
#[derive(Debug, Clone, Copy)]
pub struct ImportOptions {
    /// Check everything and answer the report of what would happen; write nothing.
    pub dry_run: bool,
    /// The most bytes the archive may unpack to.
    pub max_unpacked_bytes: u64,
}

impl Default for ImportOptions {
    fn default() -> Self {
        ImportOptions {
            dry_run: false,
            max_unpacked_bytes: u64::MAX,
        }
    }
}

/// Items of one kind an import created, changed and found as they were.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct KindReport {
    pub created: u64,
    pub changed: u64,
    pub unchanged: u64,
}

impl KindReport {
    fn add(&mut self, o: Outcome) {
        match o {
            Outcome::Created => self.created += 1,
            Outcome::Changed => self.changed += 1,
            Outcome::Unchanged => self.unchanged += 1,
        }
    }
}

/// What an import did (or, dry, would do — then only the project part is told apart;
/// every other item counts as `created`).
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct ImportReport {
    pub dry_run: bool,
    /// By kind: `functions`, `tables`, `kv_namespaces`, `topics`, `users`, `files`,
    /// `kv_entries`, `records`.
    pub items: BTreeMap<String, KindReport>,
    /// The archive manifest's `source`.
    #[schema(value_type = BTreeMap<String, Value>)]
    pub source: Value,
}

/// What an export wrote.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ExportReport {
    pub counts: BTreeMap<String, u64>,
    pub bytes: u64,
}

/// Told what a long export or import is doing (the CLI's progress bars).
pub trait Progress: Send + Sync {
    /// A new phase of `total` steps (0: unknown).
    fn phase(&self, name: &str, total: u64);
    fn step(&self, n: u64);
    fn done(&self) {}
}

/// No progress shown.
pub struct Quiet;

impl Progress for Quiet {
    fn phase(&self, _: &str, _: u64) {}
    fn step(&self, _: u64) {}
}

fn admin() -> Caller {
    Caller::AdminKey
}

// ---- export ------------------------------------------------------------------------

fn ndjson<T: Serialize>(lines: &[T]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    for l in lines {
        serde_json::to_writer(&mut out, l).map_err(|e| Error::internal(e.to_string()))?;
        out.push(b'\n');
    }
    Ok(out)
}

fn append(tar: &mut tar::Builder<impl Write>, name: &str, bytes: &[u8], mtime: u64) -> Result<()> {
    let mut h = tar::Header::new_ustar();
    h.set_size(bytes.len() as u64);
    h.set_mode(0o644);
    h.set_mtime(mtime);
    h.set_entry_type(tar::EntryType::Regular);
    tar.append_data(&mut h, name, bytes)
        .map_err(|e| Error::internal(format!("cannot write the archive: {e}")))
}

/// Writes the archive of everything the app owns to `out` (gzip'd tar). `source` goes
/// into the manifest (`{"face": …, "store": …}`).
pub async fn export_archive(
    s: &Services,
    out: impl Write,
    source: Value,
    progress: &dyn Progress,
) -> Result<ExportReport> {
    let a = admin();
    let now = s.auth.clock().now_ms();
    // The project part.
    let schemas = s.tables.list_schemas(&a).await?;
    let schema_lines: Vec<Value> = schemas
        .iter()
        .map(|sc| json!({"name": sc.name, "def": sc.to_def()}))
        .collect();
    let topics: Vec<Value> = s
        .live
        .list_rules(&a)
        .await?
        .into_iter()
        .map(|(p, r)| json!({"pattern": p, "subscribe": r.subscribe, "publish": r.publish}))
        .collect();
    let mut functions = Vec::new();
    let mut sources = Vec::new();
    for (name, settings, source) in s.functions.dump_modules().await? {
        let mut line = Map::new();
        line.insert("name".into(), json!(name));
        if let Value::Object(m) = settings {
            line.extend(m.into_iter().filter(|(_, v)| !v.is_null()));
        }
        functions.push(Value::Object(line));
        sources.push((name, source));
    }
    let namespaces = s.kv.list_namespaces(&a).await?;
    let ns_lines: Vec<Value> = namespaces
        .iter()
        .map(|n| {
            json!({"name": n.name, "read": n.read.as_string(), "write": n.write.as_string(),
                   "scope": n.scope.as_str()})
        })
        .collect();
    // Users.
    progress.phase("users", 0);
    let mut users: Vec<User> = Vec::new();
    let mut cursor = None;
    loop {
        let (page, next) = s.auth.dump_users(cursor).await?;
        progress.step(page.len() as u64);
        users.extend(page);
        cursor = next;
        if cursor.is_none() {
            break;
        }
    }
    let user_lines: Vec<UserLine> = users.iter().map(UserLine::from).collect();
    // KV entries.
    progress.phase("kv entries", 0);
    let mut kv: Vec<(String, Vec<EntryLine>)> = Vec::new();
    for n in &namespaces {
        let owners: Vec<Option<&str>> = match n.scope {
            yunqiao_core::kv::Scope::Shared => vec![None],
            yunqiao_core::kv::Scope::User => users.iter().map(|u| Some(u.id.as_str())).collect(),
        };
        let mut lines = Vec::new();
        for owner in owners {
            let mut cursor = None;
            loop {
                let (page, next) = s.kv.dump_entries(&n.name, owner, cursor).await?;
                progress.step(page.len() as u64);
                lines.extend(page.iter().map(|e| EntryLine::from_entry(e, owner)));
                cursor = next;
                if cursor.is_none() {
                    break;
                }
            }
        }
        kv.push((n.name.clone(), lines));
    }
    // Records.
    let mut tables: Vec<(String, Vec<u8>, u64)> = Vec::new();
    for sc in &schemas {
        progress.phase(&format!("table {}", sc.name), 0);
        let mut out = Vec::new();
        let mut n = 0u64;
        let mut cursor = None;
        loop {
            let (page, next) = s.tables.dump_records(&sc.name, cursor).await?;
            progress.step(page.len() as u64);
            n += page.len() as u64;
            for r in &page {
                serde_json::to_writer(&mut out, r).map_err(|e| Error::internal(e.to_string()))?;
                out.push(b'\n');
            }
            cursor = next;
            if cursor.is_none() {
                break;
            }
        }
        tables.push((sc.name.clone(), out, n));
    }
    // Files (their records; the bytes are read while writing).
    let mut files: Vec<FileLine> = Vec::new();
    if let Some(f) = &s.files {
        progress.phase("file records", 0);
        let owners = std::iter::once(None).chain(users.iter().map(|u| Some(u.id.as_str())));
        for owner in owners {
            let mut cursor = None;
            loop {
                let (page, next) = f.dump_files(owner, cursor).await?;
                progress.step(page.len() as u64);
                files.extend(page);
                cursor = next;
                if cursor.is_none() {
                    break;
                }
            }
        }
    }
    let mut counts = BTreeMap::new();
    counts.insert("tables".to_string(), schemas.len() as u64);
    counts.insert("records".into(), tables.iter().map(|t| t.2).sum());
    counts.insert("users".into(), users.len() as u64);
    counts.insert("kv_namespaces".into(), namespaces.len() as u64);
    counts.insert(
        "kv_entries".into(),
        kv.iter().map(|k| k.1.len() as u64).sum(),
    );
    counts.insert("topics".into(), topics.len() as u64);
    counts.insert("functions".into(), functions.len() as u64);
    counts.insert("files".into(), files.len() as u64);
    let mut source = source;
    if let Some(m) = source.as_object_mut() {
        m.insert("yunqiao".into(), json!(env!("CARGO_PKG_VERSION")));
    }
    let manifest = json!({
        "format": FORMAT,
        "version": VERSION,
        "created_at": yunqiao_core::clock::rfc3339(now),
        "source": source,
        "counts": counts,
    });
    let mtime = (now / 1000).max(0) as u64;
    let counter = CountingWriter { inner: out, n: 0 };
    let gz = flate2::write::GzEncoder::new(counter, flate2::Compression::default());
    let mut tar = tar::Builder::new(gz);
    let pretty =
        serde_json::to_vec_pretty(&manifest).map_err(|e| Error::internal(e.to_string()))?;
    append(&mut tar, "manifest.json", &pretty, mtime)?;
    append(&mut tar, "schemas.ndjson", &ndjson(&schema_lines)?, mtime)?;
    for (t, bytes, _) in &tables {
        append(&mut tar, &format!("tables/{t}.ndjson"), bytes, mtime)?;
    }
    append(&mut tar, "users.ndjson", &ndjson(&user_lines)?, mtime)?;
    append(&mut tar, "kv.ndjson", &ndjson(&ns_lines)?, mtime)?;
    for (ns, lines) in &kv {
        append(&mut tar, &format!("kv/{ns}.ndjson"), &ndjson(lines)?, mtime)?;
    }
    append(&mut tar, "topics.ndjson", &ndjson(&topics)?, mtime)?;
    append(&mut tar, "functions.ndjson", &ndjson(&functions)?, mtime)?;
    for (name, src) in &sources {
        append(
            &mut tar,
            &format!("functions/{name}.js"),
            src.as_bytes(),
            mtime,
        )?;
    }
    append(&mut tar, "files.ndjson", &ndjson(&files)?, mtime)?;
    if let Some(f) = &s.files {
        progress.phase("file bytes", files.len() as u64);
        for file in &files {
            let bytes = f.dump_bytes(&file.id).await?;
            append(&mut tar, &format!("blobs/{}", file.id), &bytes, mtime)?;
            progress.step(1);
        }
    }
    progress.done();
    let gz = tar
        .into_inner()
        .map_err(|e| Error::internal(format!("cannot write the archive: {e}")))?;
    let counter = gz
        .finish()
        .map_err(|e| Error::internal(format!("cannot write the archive: {e}")))?;
    Ok(ExportReport {
        counts,
        bytes: counter.n,
    })
}

struct CountingWriter<W> {
    inner: W,
    n: u64,
}

impl<W: Write> Write for CountingWriter<W> {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(b)?;
        self.n += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

// ---- import ------------------------------------------------------------------------

/// Reads, checks and (unless dry) writes an archive. Nothing is written when any check
/// fails: `ARCHIVE_VERSION` for another format version, `ARCHIVE_INVALID` (with
/// `details.entry`, `details.line`) for a line that does not follow the format or that
/// the domain refuses, `PROJECT_REFUSED` for schemas, modules, namespaces or rules the
/// target cannot take.
pub async fn import_archive(
    s: &Services,
    input: impl Read,
    opts: ImportOptions,
    progress: &dyn Progress,
) -> Result<ImportReport> {
    progress.phase("reading", 0);
    let a = archive::read(input, opts.max_unpacked_bytes)?;
    import_read(s, a, opts, progress).await
}

/// Reads and checks the shape of an archive (the manifest's format and version, every
/// line's form) without a store: what a tool does before it opens one.
pub fn read_archive(input: impl Read, max_unpacked_bytes: u64) -> Result<Archive> {
    archive::read(input, max_unpacked_bytes)
}

/// [`import_archive`] of an archive already read.
pub async fn import_read(
    s: &Services,
    a: Archive,
    opts: ImportOptions,
    progress: &dyn Progress,
) -> Result<ImportReport> {
    let caller = admin();
    let mut report = ImportReport {
        dry_run: opts.dry_run,
        source: a.manifest.get("source").cloned().unwrap_or(Value::Null),
        ..Default::default()
    };
    // The project part, checked by the apply that will write it.
    let project = project_of(&a)?;
    let applier = Applier {
        tables: &s.tables,
        kv: &s.kv,
        live: &s.live,
        functions: &s.functions,
    };
    let plan = applier
        .apply(
            &caller,
            project.clone(),
            ApplyOptions {
                dry_run: true,
                drop: false,
            },
        )
        .await?;
    check_lines(s, &a).await?;
    let applied = if opts.dry_run {
        plan
    } else {
        applier
            .apply(
                &caller,
                project,
                ApplyOptions {
                    dry_run: false,
                    drop: false,
                },
            )
            .await?
    };
    for item in &applied.items {
        let kind = match item.kind {
            yunqiao_core::project::ItemKind::Function => "functions",
            yunqiao_core::project::ItemKind::Table => "tables",
            yunqiao_core::project::ItemKind::Kv => "kv_namespaces",
            yunqiao_core::project::ItemKind::Topic => "topics",
        };
        report
            .items
            .entry(kind.into())
            .or_default()
            .add(item.outcome);
    }
    if opts.dry_run {
        let n = |k: &str, c: usize| {
            (
                k.to_string(),
                KindReport {
                    created: c as u64,
                    ..Default::default()
                },
            )
        };
        report.items.extend([
            n("users", a.users.len()),
            n("files", a.files.len()),
            n("kv_entries", a.kv.values().map(Vec::len).sum()),
            n("records", a.tables.values().map(Vec::len).sum()),
        ]);
        return Ok(report);
    }
    progress.phase("users", a.users.len() as u64);
    let mut users = KindReport::default();
    for (i, u) in a.users.iter().enumerate() {
        let o = s
            .auth
            .restore_user(u)
            .await
            .map_err(|e| archive::located("users.ndjson", i + 1, e))?;
        users.add(o);
        progress.step(1);
    }
    report.items.insert("users".into(), users);
    let mut files = KindReport::default();
    if let Some(f) = &s.files {
        progress.phase("files", a.files.len() as u64);
        let mut blobs = a.blobs;
        for (i, file) in a.files.iter().enumerate() {
            let bytes = blobs.remove(&file.id).unwrap_or_default();
            let o = f
                .restore_file(file, bytes)
                .await
                .map_err(|e| archive::located("files.ndjson", i + 1, e))?;
            files.add(o);
            progress.step(1);
        }
    }
    report.items.insert("files".into(), files);
    let mut entries = KindReport::default();
    progress.phase("kv entries", a.kv.values().map(|v| v.len() as u64).sum());
    for (ns, lines) in &a.kv {
        for (i, l) in lines.iter().enumerate() {
            let o =
                s.kv.restore_entry(ns, l)
                    .await
                    .map_err(|e| archive::located(&format!("kv/{ns}.ndjson"), i + 1, e))?;
            entries.add(o);
            progress.step(1);
        }
    }
    report.items.insert("kv_entries".into(), entries);
    let mut records = KindReport::default();
    for (t, recs) in &a.tables {
        progress.phase(&format!("table {t}"), recs.len() as u64);
        // As many records a transaction as the store takes; a group that cannot go as
        // one (a refused line, a unique value taken) goes line by line, which names the
        // line at fault.
        let mut i = 0;
        while i < recs.len() {
            let group = s
                .tables
                .restore_group(t, &recs[i..])
                .await
                .map_err(|e| archive::located(&format!("tables/{t}.ndjson"), i + 1, e))?;
            match group {
                Some(outcomes) if !outcomes.is_empty() => {
                    i += outcomes.len();
                    progress.step(outcomes.len() as u64);
                    for o in outcomes {
                        records.add(o);
                    }
                }
                _ => {
                    let o =
                        s.tables.restore_record(t, &recs[i]).await.map_err(|e| {
                            archive::located(&format!("tables/{t}.ndjson"), i + 1, e)
                        })?;
                    records.add(o);
                    progress.step(1);
                    i += 1;
                }
            }
        }
    }
    report.items.insert("records".into(), records);
    progress.done();
    Ok(report)
}

/// The archive's modules, tables, namespaces and rules as a project.
fn project_of(a: &Archive) -> Result<Project> {
    let mut p = Project::default();
    for (name, settings) in &a.functions {
        let mut m = settings.clone();
        m.insert(
            "source".into(),
            json!(a.sources.get(name).cloned().unwrap_or_default()),
        );
        let input = serde_json::from_value(Value::Object(m))
            .map_err(|e| archive::invalid("functions.ndjson", None, e.to_string()))?;
        if p.functions.insert(name.clone(), input).is_some() {
            return Err(archive::invalid(
                "functions.ndjson",
                None,
                format!("{name:?} twice"),
            ));
        }
    }
    for (name, def) in &a.schemas {
        if p.tables.insert(name.clone(), def.clone()).is_some() {
            return Err(archive::invalid(
                "schemas.ndjson",
                None,
                format!("{name:?} twice"),
            ));
        }
    }
    for (name, def) in &a.namespaces {
        let def: NamespaceDef = NamespaceDef {
            read: def.read.clone(),
            write: def.write.clone(),
            scope: def.scope.clone(),
        };
        if p.kv.insert(name.clone(), def).is_some() {
            return Err(archive::invalid(
                "kv.ndjson",
                None,
                format!("{name:?} twice"),
            ));
        }
    }
    for (pattern, rule) in &a.topics {
        if p.topics.insert(pattern.clone(), rule.clone()).is_some() {
            return Err(archive::invalid(
                "topics.ndjson",
                None,
                format!("{pattern:?} twice"),
            ));
        }
    }
    Ok(p)
}

/// Every user, file, entry and record line checked as its write will check it, against
/// the archive's schemas (or the target's, for a table the archive does not define).
async fn check_lines(s: &Services, a: &Archive) -> Result<()> {
    // Users: shape, and one openid per user.
    let mut ids: HashSet<&str> = HashSet::new();
    let mut openids: HashMap<&str, &str> = HashMap::new();
    for (i, u) in a.users.iter().enumerate() {
        yunqiao_core::auth::dump::check_user(u)
            .map_err(|e| archive::refused("users.ndjson", i + 1, &e))?;
        if !ids.insert(&u.id) {
            return Err(archive::invalid(
                "users.ndjson",
                Some(i + 1),
                format!("user {:?} twice", u.id),
            ));
        }
        if let Some(other) = openids.insert(&u.openid, &u.id) {
            return Err(archive::invalid(
                "users.ndjson",
                Some(i + 1),
                format!("openid {:?} is also user {other:?}'s", u.openid),
            ));
        }
    }
    // Whom records, files and entries name: a user of the archive or of the target.
    let mut known: HashSet<String> = ids.iter().map(|s| s.to_string()).collect();
    let mut is_user = async |id: &str| -> Result<bool> {
        if known.contains(id) {
            return Ok(true);
        }
        match s.auth.get_user(id).await {
            Ok(_) => {
                known.insert(id.to_string());
                Ok(true)
            }
            Err(e) if e.code == Code::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    };
    // A file already on the target.
    let is_file = async |id: &str| -> Result<bool> {
        let Some(files) = &s.files else {
            return Ok(false);
        };
        match files.get(&admin(), id).await {
            Ok(_) => Ok(true),
            Err(e) if e.code == Code::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    };
    // Files.
    let mut file_ids = HashSet::new();
    for (i, f) in a.files.iter().enumerate() {
        f.check()
            .map_err(|e| archive::refused("files.ndjson", i + 1, &e))?;
        if !file_ids.insert(f.id.as_str()) {
            return Err(archive::invalid(
                "files.ndjson",
                Some(i + 1),
                format!("file {:?} twice", f.id),
            ));
        }
        match a.blobs.get(&f.id) {
            None => {
                return Err(archive::invalid(
                    &format!("blobs/{}", f.id),
                    None,
                    "missing",
                ));
            }
            Some(b) if b.len() as u64 != f.size => {
                return Err(archive::invalid(
                    &format!("blobs/{}", f.id),
                    None,
                    format!("{} bytes, but files.ndjson says {}", b.len(), f.size),
                ));
            }
            Some(_) => {}
        }
        if let Some(o) = &f.owner
            && !is_user(o).await?
        {
            return Err(archive::invalid(
                "files.ndjson",
                Some(i + 1),
                format!("owner {o:?} is no user"),
            ));
        }
    }
    if s.files.is_none() && !a.files.is_empty() {
        return Err(archive::invalid(
            "files.ndjson",
            None,
            "this server has no file store",
        ));
    }
    for id in a.blobs.keys() {
        if !file_ids.contains(id.as_str()) {
            return Err(archive::invalid(
                &format!("blobs/{id}"),
                None,
                "no line of files.ndjson names it",
            ));
        }
    }
    // KV entries: their namespace (the archive's or the target's) and its scope.
    for (ns, lines) in &a.kv {
        let entry = format!("kv/{ns}.ndjson");
        let scope = match a.namespaces.iter().find(|(n, _)| n == ns) {
            Some((_, def)) => match def.scope.as_deref() {
                Some("user") => yunqiao_core::kv::Scope::User,
                _ => yunqiao_core::kv::Scope::Shared,
            },
            None => match s.kv.namespace(ns).await {
                Ok(n) => n.scope,
                Err(e) if e.code == Code::NotFound => {
                    return Err(archive::invalid(
                        &entry,
                        None,
                        format!("no namespace {ns:?} in kv.ndjson or here"),
                    ));
                }
                Err(e) => return Err(e),
            },
        };
        let mut keys = HashSet::new();
        for (i, l) in lines.iter().enumerate() {
            let n = i + 1;
            yunqiao_core::kv::check_key(&l.key).map_err(|e| archive::refused(&entry, n, &e))?;
            yunqiao_core::kv::check_value(&l.value).map_err(|e| archive::refused(&entry, n, &e))?;
            match (scope, &l.user) {
                (yunqiao_core::kv::Scope::Shared, None) => {}
                (yunqiao_core::kv::Scope::User, Some(u)) => {
                    if !yunqiao_core::ids::is_id(u) || !is_user(u).await? {
                        return Err(archive::invalid(
                            &entry,
                            Some(n),
                            format!("user {u:?} is no user"),
                        ));
                    }
                }
                (yunqiao_core::kv::Scope::Shared, Some(_)) => {
                    return Err(archive::invalid(
                        &entry,
                        Some(n),
                        "a shared namespace's entry names no user",
                    ));
                }
                (yunqiao_core::kv::Scope::User, None) => {
                    return Err(archive::invalid(
                        &entry,
                        Some(n),
                        "a user-scoped namespace's entry names its user",
                    ));
                }
            }
            if !keys.insert((l.user.clone(), l.key.clone())) {
                return Err(archive::invalid(
                    &entry,
                    Some(n),
                    format!("key {:?} twice", l.key),
                ));
            }
        }
    }
    // Records: each as its write will validate it; ids and unique values once each.
    let now = s.auth.clock().now_ms();
    for (t, recs) in &a.tables {
        let entry = format!("tables/{t}.ndjson");
        let schema = match a.schemas.iter().find(|(n, _)| n == t) {
            Some((_, def)) => {
                Schema::from_def(t, def).map_err(|e| archive::refused("schemas.ndjson", 1, &e))?
            }
            None => match s.tables.schema(t).await {
                Ok(sc) => sc,
                Err(e) if e.code == Code::NotFound => {
                    return Err(archive::invalid(
                        &entry,
                        None,
                        format!("no table {t:?} in schemas.ndjson or here"),
                    ));
                }
                Err(e) => return Err(e),
            },
        };
        let unique: Vec<String> = schema.unique().iter().map(|f| f.name.clone()).collect();
        let file_fields: Vec<String> = schema
            .fields
            .iter()
            .filter(|f| f.kind == yunqiao_core::tables::schema::FieldType::File)
            .map(|f| f.name.clone())
            .collect();
        let mut seen_ids = HashSet::new();
        let mut seen_values: HashSet<(String, String)> = HashSet::new();
        for (i, r) in recs.iter().enumerate() {
            let n = i + 1;
            let (id, rec) = Tables::check_restore(&schema, r, now)
                .map_err(|e| archive::refused(&entry, n, &e))?;
            if !seen_ids.insert(id.clone()) {
                return Err(archive::invalid(
                    &entry,
                    Some(n),
                    format!("record {id:?} twice"),
                ));
            }
            if let Some(Value::String(o)) = rec.get("_owner")
                && !is_user(o).await?
            {
                return Err(archive::invalid(
                    &entry,
                    Some(n),
                    format!("_owner {o:?} is no user"),
                ));
            }
            for f in &file_fields {
                if let Some(Value::String(id)) = rec.get(f)
                    && !file_ids.contains(id.as_str())
                    && !is_file(id).await?
                {
                    return Err(archive::invalid(
                        &entry,
                        Some(n),
                        format!("{f} names file {id:?}, which is neither in files.ndjson nor here"),
                    )
                    .with_details(json!({"entry": entry, "line": n, "field": f})));
                }
            }
            for f in &unique {
                if let Some(v) = rec.get(f).filter(|v| !v.is_null()) {
                    let k = yunqiao_core::tables::keys::unique_key(v);
                    if !seen_values.insert((f.clone(), k)) {
                        return Err(archive::invalid(
                            &entry,
                            Some(n),
                            format!("{f} {v} is unique, and another record of the archive has it"),
                        )
                        .with_details(json!({"entry": entry, "line": n, "field": f, "code": "UNIQUE_VIOLATION"})));
                    }
                }
            }
        }
    }
    Ok(())
}
