//! Cloud tables: schemas, ACLs, records, indexes, queries and batches.

pub mod acl;
pub mod attrs;
mod audit;
mod batch;
pub mod changes;
mod checks;
mod dump;
pub mod file_fields;
pub mod hooks;
pub mod keys;
pub mod names;
pub mod plan;
pub mod query;
pub mod reads;
pub mod records;
pub mod rules;
pub mod schema;
mod schemas;
pub mod write;

pub use acl::{Acl, Perm, Perms, Role};
pub use audit::Audit;
pub use batch::BatchOp;
pub use changes::{ChangeListener, RecordChange};
pub use file_fields::FileRefs;
pub use hooks::HookRunner;
pub use query::QuerySpec;
pub use records::{QueryResult, Tables};
pub use schema::{ContentCheck, CreateRule, Field, FieldType, ReviewPolicy, Schema, TableDef};
pub use schemas::Backfill;
