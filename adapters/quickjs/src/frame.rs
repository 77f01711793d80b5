//! What the server and a worker process say to each other over the worker's stdin and
//! stdout: frames of a 4-byte little-endian length and a JSON message.

use serde::{Deserialize, Serialize};

/// Largest frame either side accepts. A worker that sends a larger one is killed.
pub const MAX_FRAME: usize = 8 * 1024 * 1024;

/// Limits of one run, as the worker applies them.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash)]
pub struct RunLimits {
    pub timeout_ms: u64,
    pub heap_bytes: usize,
    pub stack_bytes: usize,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "t")]
pub enum ToWorker {
    /// Run one export. `source` is left out when the worker said it has this version.
    Run {
        call: u64,
        module: String,
        version: i64,
        hash: u64,
        source: Option<String>,
        export: String,
        args: String,
        context: String,
        limits: RunLimits,
        /// Runs with the same key may reuse one evaluated module (one caller's own
        /// instance); `None`: a fresh runtime, dropped after the call.
        instance: Option<String>,
    },
    /// Compile and evaluate a module; answer its exported functions.
    Exports {
        call: u64,
        source: String,
        limits: RunLimits,
    },
    /// The answer to a host call.
    Host { call: u64, id: u32, answer: String },
    /// Stop the run now (its caller has gone, or its deadline passed).
    Cancel { call: u64 },
}

/// How a run ended, before the server reads the glue's answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Ended {
    /// The glue's `{"ok": …}` / `{"err": …}` string.
    Answer(String),
    Timeout,
    OutOfMemory,
    StackOverflow,
    Exception {
        message: String,
        stack: String,
    },
    Invalid(String),
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "t")]
pub enum FromWorker {
    Host {
        call: u64,
        id: u32,
        op: String,
        args: String,
    },
    Done {
        call: u64,
        ended: Ended,
        /// `(level, message)`: 0 log, 1 info, 2 warn, 3 error.
        logs: Vec<(u8, String)>,
    },
    /// The run named a version this worker has not seen: send it again with the source.
    NeedSource { call: u64 },
    Exports {
        call: u64,
        result: Result<Vec<String>, String>,
    },
}

pub fn encode<T: Serialize>(msg: &T) -> Vec<u8> {
    let mut out = vec![0u8; 4];
    // A message of ours always serializes.
    if serde_json::to_writer(&mut out, msg).is_err() {
        out.truncate(4);
    }
    let len = (out.len() - 4) as u32;
    out[..4].copy_from_slice(&len.to_le_bytes());
    out
}

pub fn decode<T: for<'de> Deserialize<'de>>(body: &[u8]) -> Option<T> {
    serde_json::from_slice(body).ok()
}

/// Reads one frame (blocking); `None` at the end of the stream or on a bad frame.
pub fn read_blocking(r: &mut impl std::io::Read) -> Option<Vec<u8>> {
    let mut len = [0u8; 4];
    r.read_exact(&mut len).ok()?;
    let len = u32::from_le_bytes(len) as usize;
    if len > MAX_FRAME {
        return None;
    }
    let mut body = vec![0u8; len];
    r.read_exact(&mut body).ok()?;
    Some(body)
}

/// Reads one frame; `None` at the end of the stream or on a frame over [`MAX_FRAME`].
pub async fn read_async(r: &mut (impl tokio::io::AsyncRead + Unpin)) -> Option<Vec<u8>> {
    use tokio::io::AsyncReadExt;
    let mut len = [0u8; 4];
    r.read_exact(&mut len).await.ok()?;
    let len = u32::from_le_bytes(len) as usize;
    if len > MAX_FRAME {
        return None;
    }
    let mut body = vec![0u8; len];
    r.read_exact(&mut body).await.ok()?;
    Some(body)
}
