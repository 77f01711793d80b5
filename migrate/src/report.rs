//! What a conversion will create and what it cannot map: printed by `--dry-run` and
//! after an import.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

/// Samples kept per note (the count says how many there were).
const SAMPLES: usize = 5;

#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    pub source: String,
    pub tables: Vec<TableReport>,
    pub users: usize,
    /// Group → members.
    pub groups: BTreeMap<String, usize>,
    /// Files whose bytes were fetched.
    pub files: usize,
    pub notes: Vec<Note>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TableReport {
    pub name: String,
    pub from: String,
    pub records: usize,
    pub fields: usize,
}

/// Something that could not be mapped as it was, or a decision taken for it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Note {
    /// Where: `<class>`, `<class>.<column>`, `users`, `files`…
    pub at: String,
    /// `unmapped`, `missing_ref`, `mixed_types`, `file_not_fetched`, `user_skipped`,
    /// `dropped`, `owner`, `acl`, `renamed`.
    pub kind: String,
    pub message: String,
    /// How many rows or values it concerns.
    pub count: usize,
    /// A few of them (source ids, URLs).
    pub samples: Vec<String>,
}

/// Collects notes, one per (where, kind, message), counting repeats.
#[derive(Debug, Default)]
pub struct Notes {
    map: BTreeMap<(String, String, String), (usize, Vec<String>)>,
}

impl Notes {
    pub fn add(&mut self, at: &str, kind: &str, message: impl Into<String>, sample: Option<&str>) {
        let e = self
            .map
            .entry((at.to_string(), kind.to_string(), message.into()))
            .or_default();
        e.0 += 1;
        if let Some(s) = sample
            && e.1.len() < SAMPLES
        {
            e.1.push(s.to_string());
        }
    }

    pub fn into_vec(self) -> Vec<Note> {
        self.map
            .into_iter()
            .map(|((at, kind, message), (count, samples))| Note {
                at,
                kind,
                message,
                count,
                samples,
            })
            .collect()
    }
}

impl Report {
    /// The notes of one kind.
    pub fn notes_of<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = &'a Note> + 'a {
        self.notes.iter().filter(move |n| n.kind == kind)
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "From {}:", self.source)?;
        for t in &self.tables {
            writeln!(
                f,
                "  table {:<24} ← {:<24} {} records, {} fields",
                t.name, t.from, t.records, t.fields
            )?;
        }
        writeln!(f, "  users: {} (log in with WeChat as before)", self.users)?;
        for (g, n) in &self.groups {
            writeln!(f, "  group {g}: {n} members")?;
        }
        writeln!(f, "  files: {} (bytes fetched)", self.files)?;
        if self.notes.is_empty() {
            writeln!(f, "Everything maps.")?;
        } else {
            writeln!(f, "Not mapped as it was ({}):", self.notes.len())?;
            for n in &self.notes {
                write!(f, "  [{}] {}: {}", n.kind, n.at, n.message)?;
                if n.count > 1 {
                    write!(f, " ({} times)", n.count)?;
                }
                if !n.samples.is_empty() {
                    write!(f, " — e.g. {}", n.samples.join(", "))?;
                }
                writeln!(f)?;
            }
        }
        Ok(())
    }
}
