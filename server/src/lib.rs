//! The `yunqiao` server, as a library so the benchmark and tests can build it.

pub mod client;
pub mod config;
pub mod serve;
