//! The sandbox port: where a module's JavaScript runs. The domain decides what runs, with
//! which limits and which host calls; the adapter (QuickJS) only executes it.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;

use crate::Error;

/// Resource limits of one invocation.
///
/// `memory_bytes` covers everything the call causes: three quarters for its JavaScript
/// heap, the rest for what its pending host calls hold in the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Wall clock for the whole call, host calls included; also the CPU limit.
    pub timeout: Duration,
    pub memory_bytes: usize,
    pub stack_bytes: usize,
}

/// One call of one export.
#[derive(Debug, Clone)]
pub struct Job {
    pub module: String,
    pub version: i64,
    pub source: Arc<str>,
    /// Identifies `source` (a module deleted and deployed again starts at version 1 with
    /// other code), so a worker can keep it between calls.
    pub source_hash: u64,
    pub export: String,
    pub args: Vec<Value>,
    /// What the function reads as `context` from the `yunqiao` module: the caller, the
    /// request id, the module and export names.
    pub context: Value,
    pub limits: Limits,
    /// Calls with the same key may be served by one evaluated module (module-level
    /// state survives between them); `None`: a fresh runtime for this call only. The
    /// domain keys it by caller, so no caller ever shares state with another.
    pub instance: Option<String>,
    /// Runs inside a host call of another run (a hook of a function's write), whose
    /// worker waits for it: it must never wait for a worker itself.
    pub nested: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Log,
    Info,
    Warn,
    Error,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct LogLine {
    pub level: Level,
    pub message: String,
}

/// How a call ended when it did not return a value.
#[derive(Debug, Clone)]
pub enum Failure {
    /// `throw new FunctionError(code, message, status)`.
    Refused {
        code: String,
        message: String,
        status: u16,
        details: Value,
    },
    /// A host call's error the function let through (a 4xx: not found, forbidden, …).
    Host(Error),
    /// Any other uncaught exception; `stack` goes to the logs only.
    Exception {
        message: String,
        stack: String,
    },
    Timeout,
    OutOfMemory,
    StackOverflow,
    ResultTooLarge {
        bytes: usize,
    },
    /// The module does not compile, or has no such export.
    Invalid(String),
}

#[derive(Debug, Clone)]
pub struct Outcome {
    pub result: Result<Value, Failure>,
    pub logs: Vec<LogLine>,
}

/// The functions a module's code may call, one JSON operation at a time (see
/// [`super::host`]).
#[async_trait]
pub trait Host: Send + Sync {
    async fn call(&self, op: &str, args: Value) -> Result<Value, Error>;
}

#[async_trait]
pub trait Sandbox: Send + Sync {
    /// Runs one export to its end, within the job's limits. Never panics on user code.
    async fn run(&self, job: Job, host: Arc<dyn Host>) -> Outcome;
    /// Compiles a module without running it and names its exported functions.
    async fn exports(&self, source: Arc<str>, limits: Limits) -> Result<Vec<String>, String>;
}

/// Largest JSON result a call may answer with.
pub const MAX_RESULT_BYTES: usize = 1024 * 1024;
/// Largest module source.
pub const MAX_SOURCE_BYTES: usize = 256 * 1024;

/// No JavaScript here: every run fails (services built without cloud functions).
pub struct NoSandbox;

#[async_trait]
impl Sandbox for NoSandbox {
    async fn run(&self, _job: Job, _host: Arc<dyn Host>) -> Outcome {
        Outcome {
            result: Err(Failure::Invalid(
                "cloud functions are not available here".into(),
            )),
            logs: Vec::new(),
        }
    }

    async fn exports(&self, _source: Arc<str>, _limits: Limits) -> Result<Vec<String>, String> {
        Err("cloud functions are not available here".into())
    }
}
