//! Cloud tables: schemas, ACLs and record validation (records, queries and indexes are
//! built on these next).

pub mod acl;
pub mod records;
pub mod schema;

pub use acl::{Acl, Perm, Perms, Role};
pub use records::Tables;
pub use schema::{CreateRule, Field, FieldType, Schema, TableDef};
