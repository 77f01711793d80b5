//! `yunqiao import --from leancloud|cloudbase DIR`: converts an export directory
//! ([`yunqiao_migrate`]) into the archive `yunqiao import` reads, prints what will be
//! created and what cannot be mapped, and hands the archive on.
//!
//! * `--dry-run`: prints the report and the inferred schemas; writes nothing (but
//!   `--schema-out`).
//! * `--schema-out FILE`: writes the plan (every table's schema and which column goes
//!   to which field) to review and edit; `--schema FILE` converts with the edited one.
//! * `--out FILE`: writes the archive there instead of importing it.
//!
//! File bytes are fetched over HTTP(S) where the export's URLs still answer (at most
//! [`MAX_FILE_BYTES`] each); the others are listed in the report.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use yunqiao_migrate::{Converted, Fetch, NoFetch, Options, Plan, Source};

use crate::client::BoxError;

/// The largest file fetched: what an upload may be by default.
pub const MAX_FILE_BYTES: u64 = 10 * 1024 * 1024;

/// The options of `yunqiao import` for moving in.
#[derive(clap::Args, Debug, Default)]
pub struct MovingInArgs {
    /// Convert an export of another backend (the positional argument is then its
    /// directory): `leancloud` or `cloudbase`.
    #[arg(long, value_name = "SOURCE")]
    pub from: Option<String>,
    /// With --from: write the inferred (or given) schemas to FILE, to review and edit.
    #[arg(long, value_name = "FILE", requires = "from")]
    pub schema_out: Option<PathBuf>,
    /// With --from: convert with these (reviewed) schemas instead of inferring them.
    #[arg(long, value_name = "FILE", requires = "from")]
    pub schema: Option<PathBuf>,
    /// With --from: write the archive to FILE and import nothing.
    #[arg(long, value_name = "FILE", requires = "from")]
    pub out: Option<PathBuf>,
    /// With --from: fetch no file bytes (every file is listed as not fetched).
    #[arg(long, requires = "from")]
    pub no_fetch: bool,
}

/// Fetches file bytes over HTTP(S) on a runtime of its own (conversion is synchronous).
struct HttpFetch {
    rt: tokio::runtime::Runtime,
    http: reqwest::Client,
}

impl HttpFetch {
    fn new() -> Result<HttpFetch, BoxError> {
        Ok(HttpFetch {
            rt: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .connect_timeout(Duration::from_secs(5))
                .build()?,
        })
    }
}

impl Fetch for HttpFetch {
    fn fetch(&self, url: &str) -> Result<Vec<u8>, String> {
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err("not an http(s) URL".into());
        }
        self.rt.block_on(async {
            let mut r = self.http.get(url).send().await.map_err(|e| {
                if e.is_timeout() {
                    "timed out".to_string()
                } else if e.is_connect() {
                    "cannot connect".to_string()
                } else {
                    "request failed".to_string()
                }
            })?;
            if !r.status().is_success() {
                return Err(format!("HTTP {}", r.status().as_u16()));
            }
            if r.content_length().is_some_and(|n| n > MAX_FILE_BYTES) {
                return Err(format!("larger than {MAX_FILE_BYTES} bytes"));
            }
            let mut out = Vec::new();
            while let Some(chunk) = r.chunk().await.map_err(|_| "cut short".to_string())? {
                out.extend_from_slice(&chunk);
                if out.len() as u64 > MAX_FILE_BYTES {
                    return Err(format!("larger than {MAX_FILE_BYTES} bytes"));
                }
            }
            Ok(out)
        })
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Writes `bytes` to `path` through a file beside it, so that a failure leaves nothing.
fn write_whole(
    path: &Path,
    write: impl FnOnce(&mut std::fs::File) -> std::io::Result<()>,
) -> Result<(), BoxError> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut tmp = tempfile::NamedTempFile::new_in(&dir)
        .map_err(|e| format!("cannot write in {}: {e}", dir.display()))?;
    write(tmp.as_file_mut()).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    tmp.as_file().sync_all()?;
    tmp.persist(path)
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(())
}

/// One line per table: its fields, types and rule — the schema to review.
fn schema_summary(c: &Converted) -> String {
    let mut s = String::new();
    for t in &c.plan.tables {
        s.push_str(&format!(
            "  {} (rule {}, create {}):\n",
            t.name,
            t.def.acl.record.as_deref().unwrap_or("rwd:-:-"),
            t.def.acl.create.as_deref().unwrap_or("users")
        ));
        for f in &t.def.fields {
            let from = t
                .columns
                .iter()
                .find(|(_, to)| **to == f.name)
                .map(|(c, _)| c.as_str())
                .unwrap_or("");
            let kind = serde_json::to_value(f.kind)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default();
            let mut extra = String::new();
            if let Some(tb) = &f.table {
                extra.push_str(&format!(" → {tb}"));
            }
            if f.index {
                extra.push_str(" indexed");
            }
            s.push_str(&format!("    {:<24} {kind}{extra}  ← {from}\n", f.name));
        }
    }
    s
}

/// What `run` leaves to import: the archive, written to a temporary file.
pub struct ToImport {
    pub archive: tempfile::NamedTempFile,
    pub report: yunqiao_migrate::Report,
}

/// Converts `dir`, prints the report on stdout and writes what was asked; answers the
/// archive to import when there is one (not a dry run, no `--out`).
pub fn run(dir: &Path, dry_run: bool, a: &MovingInArgs) -> Result<Option<ToImport>, BoxError> {
    let from = a.from.as_deref().unwrap_or_default();
    let source = Source::parse(from)
        .ok_or_else(|| format!("--from {from:?}: moving in works from leancloud or cloudbase"))?;
    let plan = match &a.schema {
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .map_err(|e| format!("cannot read {}: {e}", p.display()))?;
            Some(
                serde_json::from_str::<Plan>(&text)
                    .map_err(|e| format!("{}: not a schema file: {e}", p.display()))?,
            )
        }
        None => None,
    };
    let opts = Options {
        plan,
        now_ms: now_ms(),
    };
    let converted = if a.no_fetch {
        yunqiao_migrate::convert(source, dir, &opts, &NoFetch)?
    } else {
        yunqiao_migrate::convert(source, dir, &opts, &HttpFetch::new()?)?
    };
    if let Some(p) = &a.schema_out {
        let text = serde_json::to_string_pretty(&converted.plan)?;
        write_whole(p, |f| f.write_all(format!("{text}\n").as_bytes()))?;
    }
    let mut out = std::io::stdout().lock();
    write!(out, "{}", converted.report)?;
    writeln!(
        out,
        "Schemas{}:\n{}",
        match &a.schema_out {
            Some(p) => format!(" (written to {})", p.display()),
            None => " (to review: --schema-out FILE, edit, then --schema FILE)".into(),
        },
        schema_summary(&converted)
    )?;
    let created_at = yunqiao_core::clock::rfc3339(opts.now_ms);
    if dry_run {
        writeln!(out, "Dry run: nothing was written.")?;
        return Ok(None);
    }
    if let Some(p) = &a.out {
        write_whole(p, |f| {
            yunqiao_migrate::archive::write(&converted, std::io::BufWriter::new(f), &created_at)?
                .flush()
        })?;
        writeln!(
            out,
            "Archive written to {}; import it with `yunqiao import {}`.",
            p.display(),
            p.display()
        )?;
        return Ok(None);
    }
    let mut archive = tempfile::NamedTempFile::new()?;
    yunqiao_migrate::archive::write(
        &converted,
        std::io::BufWriter::new(archive.as_file_mut()),
        &created_at,
    )?
    .flush()?;
    Ok(Some(ToImport {
        archive,
        report: converted.report,
    }))
}
