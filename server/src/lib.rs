//! The `yunqiao` server, as a library so the benchmark and tests can build it.

// glibc's allocator was a fifth of a get-by-id's server CPU (hyper's read buffers, the
// JSON of records); mimalloc's thread-local free lists cost a fraction of that.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

pub mod client;
pub mod config;
pub mod dump;
pub mod moving_in;
pub mod serve;
