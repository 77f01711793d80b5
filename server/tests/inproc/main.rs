//! The fast tier's API tests: the embedded face's routers in-process (see [`support`]),
//! driven request by request without a binary or a port, one module per API area.

mod support;

mod auth;
mod events;
mod functions;
mod kv;
mod meta;
mod tables;
