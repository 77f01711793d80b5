//! yunqiao's domain. It knows no HTTP framework, no AWS and no storage engine: everything
//! outside reaches it through the ports defined here ([`store::ItemStore`],
//! [`blob::BlobStore`], [`wechat::WeChat`], [`clock::Clock`]).

pub mod auth;
pub mod blob;
pub mod cache;
pub mod clock;
pub mod error;
pub mod files;
pub mod functions;
pub mod ids;
pub mod keys;
pub mod kv;
pub mod live;
pub mod memory_store;
#[cfg(test)]
mod module_graph;
pub mod outcome;
pub mod pay;
pub mod project;
pub mod store;
pub mod tables;
#[cfg(test)]
pub(crate) mod test_support;
pub mod wechat;

pub use error::{Code, Error, Result};
