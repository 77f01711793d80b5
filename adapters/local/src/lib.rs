//! Embedded implementations of yunqiao's ports, for the single-binary server.

mod blob;
mod store;

pub use blob::{BLOBS_PATH, LocalBlobStore, encode_path, load_or_create_key};
pub use store::LocalStore;
