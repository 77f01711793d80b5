//! A column's type, inferred from every value it holds (and the source's schema where
//! the values say nothing): the widest type that holds them all.

use std::collections::{BTreeMap, BTreeSet};

use yunqiao_core::tables::{Field, FieldType};

use crate::source::{Hint, Val};

/// Longest text a `string` field takes by default; longer: `text`.
const STRING_CHARS: usize = 255;
const TEXT_CHARS: usize = 65_536;
pub const MAX_TEXT_CHARS: usize = 300_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Bool,
    Int,
    Float,
    Str,
    Date,
    Pointer,
    File,
    Json,
}

impl Kind {
    fn word(self) -> &'static str {
        match self {
            Kind::Bool => "booleans",
            Kind::Int => "integers",
            Kind::Float => "numbers",
            Kind::Str => "strings",
            Kind::Date => "dates",
            Kind::Pointer => "pointers",
            Kind::File => "files",
            Kind::Json => "objects or arrays",
        }
    }
}

#[derive(Debug, Default)]
pub struct Stats {
    pub kinds: BTreeMap<Kind, usize>,
    pub classes: BTreeSet<String>,
    /// Longest value as text, in characters.
    pub max_chars: usize,
}

impl Stats {
    pub fn add(&mut self, v: &Val) {
        let k = match v {
            Val::Bool(_) => Kind::Bool,
            Val::Int(_) => Kind::Int,
            Val::Float(_) => Kind::Float,
            Val::Str(s) => {
                self.max_chars = self.max_chars.max(s.chars().count());
                Kind::Str
            }
            Val::Date(_) => Kind::Date,
            Val::Pointer { class, .. } => {
                self.classes.insert(class.clone());
                Kind::Pointer
            }
            Val::File(_) => Kind::File,
            Val::Json(_) => Kind::Json,
        };
        if !matches!(v, Val::Str(_)) {
            // Numbers, booleans and dates as text: at most 24 characters.
            self.max_chars = self.max_chars.max(24);
        }
        *self.kinds.entry(k).or_default() += 1;
    }
}

/// Why a column's type needs a review: (report kind, words).
pub type Why = (&'static str, String);

/// What a pointer to `class` becomes.
pub enum Target {
    /// A `ref` into this table.
    Table(String),
    /// The pointed-to user's id (a `string`: users are not a table).
    User,
    /// The role's group name.
    Role,
    /// A file.
    File,
    /// The class is not in the export: the old objectId is kept as a string.
    Absent,
}

pub fn target(class: &str, tables: &BTreeMap<String, String>) -> Target {
    match class {
        "_User" => Target::User,
        "_Role" => Target::Role,
        "_File" => Target::File,
        c => match tables.get(c) {
            Some(t) => Target::Table(t.clone()),
            None => Target::Absent,
        },
    }
}

fn field(name: &str, kind: FieldType) -> Field {
    Field {
        name: name.to_string(),
        kind,
        required: false,
        default: None,
        length: None,
        min: None,
        max: None,
        unique: false,
        index: false,
        table: None,
        many: false,
        acl: None,
        check: None,
        review: None,
    }
}

fn textual(name: &str, max_chars: usize) -> Field {
    if max_chars <= STRING_CHARS {
        return field(name, FieldType::String);
    }
    let mut f = field(name, FieldType::Text);
    if max_chars > TEXT_CHARS {
        f.length = Some(max_chars.min(MAX_TEXT_CHARS));
    }
    f
}

fn pointer_field(
    name: &str,
    class: &str,
    tables: &BTreeMap<String, String>,
) -> (Field, Option<Why>) {
    match target(class, tables) {
        Target::Table(t) => {
            let mut f = field(name, FieldType::Ref);
            f.table = Some(t);
            (f, None)
        }
        Target::User => (
            field(name, FieldType::String),
            Some((
                "unmapped",
                "pointers to _User: the user's yunqiao id (users are not a table)".into(),
            )),
        ),
        Target::Role => (
            field(name, FieldType::String),
            Some(("unmapped", "pointers to _Role: the group's name".into())),
        ),
        Target::File => (field(name, FieldType::File), None),
        Target::Absent => (
            field(name, FieldType::String),
            Some((
                "unmapped",
                format!(
                    "pointers to {class}, which is not in the export: the old objectId is kept as text"
                ),
            )),
        ),
    }
}

/// The field for a column, and a note when the choice needs a human's review. `None`:
/// nothing to go on (no values, no schema).
pub fn decide(
    name: &str,
    stats: &Stats,
    hint: Option<&Hint>,
    tables: &BTreeMap<String, String>,
) -> Option<(Field, Option<Why>)> {
    let kinds: Vec<Kind> = stats.kinds.keys().copied().collect();
    let one = |k| Some((field(name, k), None));
    match kinds.as_slice() {
        [] => match hint? {
            Hint::String => one(FieldType::String),
            Hint::Number => one(FieldType::Number),
            Hint::Boolean => one(FieldType::Boolean),
            Hint::Date => one(FieldType::Datetime),
            Hint::File => one(FieldType::File),
            Hint::Json => one(FieldType::Json),
            Hint::Pointer(c) => Some(pointer_field(name, c, tables)),
        },
        [Kind::Bool] => one(FieldType::Boolean),
        [Kind::Int] => one(FieldType::Integer),
        [Kind::Float] => one(FieldType::Number),
        [Kind::Int, Kind::Float] => Some((
            field(name, FieldType::Number),
            Some((
                "mixed_types",
                format!(
                    "{} integers and {} numbers: number",
                    stats.kinds[&Kind::Int],
                    stats.kinds[&Kind::Float]
                ),
            )),
        )),
        [Kind::Str] => Some((textual(name, stats.max_chars), None)),
        [Kind::Date] => one(FieldType::Datetime),
        [Kind::File] => one(FieldType::File),
        [Kind::Json] => one(FieldType::Json),
        [Kind::Pointer] if stats.classes.len() == 1 => {
            let class = stats.classes.iter().next()?;
            Some(pointer_field(name, class, tables))
        }
        ks => {
            let seen = ks
                .iter()
                .map(|k| format!("{} {}", stats.kinds[k], k.word()))
                .collect::<Vec<_>>()
                .join(", ");
            if ks.iter().all(|k| *k <= Kind::Date) {
                Some((
                    textual(name, stats.max_chars),
                    Some((
                        "mixed_types",
                        format!("mixed types ({seen}): text, the others written as text"),
                    )),
                ))
            } else {
                let why = if ks == [Kind::Pointer] {
                    format!(
                        "pointers to several classes ({}): json, each the new id",
                        stats.classes.iter().cloned().collect::<Vec<_>>().join(", ")
                    )
                } else {
                    format!("mixed types ({seen}): json, single values wrapped in a one-item list")
                };
                Some((field(name, FieldType::Json), Some(("mixed_types", why))))
            }
        }
    }
}
