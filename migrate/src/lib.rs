//! Moving in from LeanCloud and CloudBase: an export directory → what a yunqiao archive
//! holds (tables with inferred, reviewable schemas and their records, users, files).
//!
//! Pure: it reads the directory and answers values; it writes no store. File bytes come
//! through the [`Fetch`] port (the CLI fetches over HTTP; tests answer from a map).
//!
//! * Every id is derived from the source's own (`SHA-256` of source, class and old id,
//!   after 48 bits of the row's creation time), so converting the same export twice
//!   answers the same records: an import interrupted and run again completes without
//!   duplicates.
//! * Everything is converted and checked against its table's schema before anything is
//!   answered: a value that does not fit fails the whole conversion, listing where.
//!
//! Entry point: [`convert`].

pub mod archive;
mod cloudbase;
mod convert;
mod infer;
mod leancloud;
mod names;
mod report;
mod source;
#[cfg(test)]
mod tests;

use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use yunqiao_core::tables::TableDef;

pub use report::{Note, Report, TableReport};

/// Where an export comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    LeanCloud,
    CloudBase,
}

impl Source {
    pub fn parse(s: &str) -> Option<Source> {
        match s {
            "leancloud" => Some(Source::LeanCloud),
            "cloudbase" => Some(Source::CloudBase),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Source::LeanCloud => "leancloud",
            Source::CloudBase => "cloudbase",
        }
    }

    /// The field that keeps a record's original id.
    pub fn id_field(self) -> &'static str {
        match self {
            Source::LeanCloud => "lc_id",
            Source::CloudBase => "cb_id",
        }
    }
}

/// The reviewable plan: one entry per table, what `--schema-out` writes and `--schema`
/// reads back (edited). Fields may be retyped, renamed (`columns` maps a source column
/// to a field), removed (its values are dropped and reported) and given rules.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    pub source: Source,
    pub tables: Vec<TablePlan>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TablePlan {
    /// The yunqiao table.
    pub name: String,
    /// The source class or collection.
    pub from: String,
    /// Source column → field name; a column not listed is not imported.
    pub columns: std::collections::BTreeMap<String, String>,
    /// The table's definition, as `PUT /v1/tables/{name}` takes it.
    pub def: TableDef,
}

/// A user to create: logs in with WeChat as `openid` and owns what it owned before.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UserOut {
    pub id: String,
    pub openid: String,
    pub unionid: Option<String>,
    pub nickname: Option<String>,
    pub avatar_url: Option<String>,
    pub groups: Vec<String>,
    /// Epoch milliseconds.
    pub created_at: i64,
    pub updated_at: i64,
}

/// A table and its records, each with its system fields (`_id`, `_owner`, `_group`,
/// `_created`, `_updated`, `_v`).
#[derive(Debug, Clone, Serialize)]
pub struct TableOut {
    pub name: String,
    pub def: TableDef,
    pub records: Vec<Map<String, Value>>,
}

/// A file whose bytes were fetched, referenced by `file` fields.
#[derive(Debug, Clone, Serialize)]
pub struct FileOut {
    pub id: String,
    pub owner: Option<String>,
    pub name: String,
    pub content_type: String,
    pub size: u64,
    pub public: bool,
    /// Epoch milliseconds.
    pub created_at: i64,
    #[serde(skip)]
    pub bytes: Vec<u8>,
}

/// What a conversion answers.
#[derive(Debug, Clone)]
pub struct Converted {
    pub plan: Plan,
    pub tables: Vec<TableOut>,
    pub users: Vec<UserOut>,
    pub files: Vec<FileOut>,
    pub report: Report,
}

/// Fetches a file's bytes (`Err`: why not; the file is then listed in the report).
pub trait Fetch {
    fn fetch(&self, url: &str) -> std::result::Result<Vec<u8>, String>;
}

/// Fetches nothing: every file is listed as not fetched.
pub struct NoFetch;

impl Fetch for NoFetch {
    fn fetch(&self, _url: &str) -> std::result::Result<Vec<u8>, String> {
        Err("fetching is off".into())
    }
}

/// Why a conversion failed; nothing was answered.
#[derive(Debug, Clone, PartialEq)]
pub struct MigrateError(pub String);

impl std::fmt::Display for MigrateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for MigrateError {}

pub type Result<T> = std::result::Result<T, MigrateError>;

fn err<T>(m: impl Into<String>) -> Result<T> {
    Err(MigrateError(m.into()))
}

/// Options of a conversion.
#[derive(Default)]
pub struct Options {
    /// A reviewed plan (`--schema FILE`) instead of the inferred one.
    pub plan: Option<Plan>,
    /// "Now" in epoch milliseconds: the creation time of records whose source has none.
    pub now_ms: i64,
}

/// Converts the export in `dir`.
pub fn convert(source: Source, dir: &Path, opts: &Options, fetch: &dyn Fetch) -> Result<Converted> {
    let export = match source {
        Source::LeanCloud => leancloud::read(dir)?,
        Source::CloudBase => cloudbase::read(dir)?,
    };
    convert::run(source, export, opts, fetch)
}
