//! `yunqiao export` and `yunqiao import`: the archive of `docs/export-format.md`, on the
//! store and files the configuration names (the embedded store in `--data-dir`, or
//! DynamoDB and S3), with progress bars on a terminal. The work is
//! [`yunqiao_api::dump`]'s, which `GET /v1/admin/export` and `POST /v1/admin/import`
//! run too; tools that make archives (the LeanCloud and CloudBase converters) call
//! [`import_archive`] the same way.

use std::path::Path;
use std::sync::Mutex;

use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

pub use yunqiao_api::dump::{
    Archive, ExportReport, FORMAT, ImportOptions, ImportReport, KindReport, Progress, Quiet,
    VERSION, export_archive, import_archive, import_read, read_archive,
};

use crate::config::Config;
use crate::serve::BoxError;

/// Progress bars on stderr, one per phase; indicatif hides them when stderr is not a
/// terminal.
pub struct Bars {
    bar: Mutex<Option<ProgressBar>>,
}

impl Bars {
    pub fn new() -> Bars {
        Bars {
            bar: Mutex::new(None),
        }
    }
}

impl Default for Bars {
    fn default() -> Self {
        Bars::new()
    }
}

impl Progress for Bars {
    fn phase(&self, name: &str, total: u64) {
        let Ok(mut slot) = self.bar.lock() else {
            return;
        };
        if let Some(b) = slot.take() {
            b.finish();
        }
        let b = if total > 0 {
            ProgressBar::new(total).with_style(
                ProgressStyle::with_template("{msg:>16} [{bar:30}] {pos}/{len} ({per_sec}, {eta})")
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
            )
        } else {
            ProgressBar::new_spinner().with_style(
                ProgressStyle::with_template("{msg:>16} {spinner} {pos} ({per_sec})")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            )
        };
        b.set_message(name.to_string());
        *slot = Some(b);
    }

    fn step(&self, n: u64) {
        if let Ok(slot) = self.bar.lock()
            && let Some(b) = slot.as_ref()
        {
            b.inc(n);
        }
    }

    fn done(&self) {
        if let Ok(mut slot) = self.bar.lock()
            && let Some(b) = slot.take()
        {
            b.finish();
        }
    }
}

fn store_name(cfg: &Config) -> serde_json::Value {
    if cfg.store.kind == "dynamodb" {
        json!({"face": "aws", "store": "dynamodb", "files": cfg.files.kind})
    } else {
        json!({"face": "local", "store": "embedded", "files": cfg.files.kind})
    }
}

/// `yunqiao export --out FILE`: written beside FILE first, then renamed, so a failed
/// export leaves no partial archive behind.
pub async fn export(cfg: &Config, out: &Path) -> Result<(), BoxError> {
    let (state, _local) = crate::serve::build_for_tools(cfg).await?;
    let dir = match out.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let tmp = tempfile::NamedTempFile::new_in(&dir)
        .map_err(|e| format!("cannot write in {}: {e}", dir.display()))?;
    let bars = Bars::new();
    let report = export_archive(
        &state,
        std::io::BufWriter::new(tmp.as_file()),
        store_name(cfg),
        &bars,
    )
    .await?;
    tmp.as_file().sync_all()?;
    tmp.persist(out)
        .map_err(|e| format!("cannot write {}: {e}", out.display()))?;
    let counts: Vec<String> = report
        .counts
        .iter()
        .map(|(k, v)| format!("{v} {k}"))
        .collect();
    eprintln!(
        "exported {} to {} ({} bytes)",
        counts.join(", "),
        out.display(),
        report.bytes
    );
    println!(
        "{}",
        json!({"out": out, "bytes": report.bytes, "counts": report.counts})
    );
    Ok(())
}

/// `yunqiao import FILE`: answers the report (one JSON line on stdout).
pub async fn import(cfg: &Config, file: &Path, dry_run: bool) -> Result<(), BoxError> {
    let f =
        std::fs::File::open(file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    let bars = Bars::new();
    let opts = ImportOptions {
        dry_run,
        ..ImportOptions::default()
    };
    let explain = |e: yunqiao_core::Error| -> BoxError {
        let mut m = format!("{}: {}", e.code.as_str(), e.message);
        if !e.details.is_null() {
            m.push_str(&format!(" {}", e.details));
        }
        let checked = matches!(
            e.code,
            yunqiao_core::Code::ArchiveInvalid
                | yunqiao_core::Code::ArchiveVersion
                | yunqiao_core::Code::ProjectRefused
        );
        if checked {
            m.push_str(" (nothing was written)");
        } else if !dry_run {
            m.push_str(" (what was written before stays; importing again completes it)");
        }
        m.into()
    };
    // The archive first: one this server cannot read opens no store.
    bars.phase("reading", 0);
    let archive =
        read_archive(std::io::BufReader::new(f), opts.max_unpacked_bytes).map_err(explain)?;
    let (state, _local) = crate::serve::build_for_tools(cfg).await?;
    let report = import_read(&state, archive, opts, &bars)
        .await
        .map_err(explain)?;
    for (kind, r) in &report.items {
        eprintln!(
            "{kind:>14}: {} created, {} changed, {} unchanged",
            r.created, r.changed, r.unchanged
        );
    }
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}
