//! Embedded implementations of yunqiao's ports, for the single-binary server.

mod store;

pub use store::LocalStore;
