//! What the server and a worker process say to each other over the worker's stdin and
//! stdout: frames of a 4-byte little-endian length and a JSON message. Messages are
//! externally tagged (an internally tagged enum buffers every field before reading it),
//! and JSON they carry (arguments, context, host calls and their answers) goes in raw,
//! not as an escaped string: neither side escapes and unescapes it again.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

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
pub enum ToWorker {
    /// Run one export. `source` is left out when the worker said it has this version.
    Run {
        call: u64,
        module: String,
        version: i64,
        hash: u64,
        source: Option<String>,
        export: String,
        /// The arguments, a JSON array.
        args: Box<RawValue>,
        /// The call's context, a JSON object.
        context: Box<RawValue>,
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
    Host {
        call: u64,
        id: u32,
        answer: Box<RawValue>,
    },
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
pub enum FromWorker {
    Host {
        call: u64,
        id: u32,
        op: String,
        /// The host call's arguments, JSON.
        args: Box<RawValue>,
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

/// Takes one whole frame off the front of `buf`: `Ok(None)` while it is incomplete,
/// `Err(())` for a frame over [`MAX_FRAME`].
#[allow(clippy::result_unit_err)]
pub fn split_frame(buf: &mut Vec<u8>) -> Result<Option<Vec<u8>>, ()> {
    let Some(head) = buf.get(..4) else {
        return Ok(None);
    };
    let len = u32::from_le_bytes([head[0], head[1], head[2], head[3]]) as usize;
    if len > MAX_FRAME {
        return Err(());
    }
    if buf.len() < 4 + len {
        return Ok(None);
    }
    let body = buf[4..4 + len].to_vec();
    buf.drain(..4 + len);
    Ok(Some(body))
}

/// Frames read from a stream, buffered here so that [`FrameReader::next`] is
/// cancel-safe (it may sit in a `select!`): a frame is never half read.
pub struct FrameReader<R> {
    stream: R,
    buf: Vec<u8>,
}

impl<R: tokio::io::AsyncRead + Unpin> FrameReader<R> {
    pub fn new(stream: R) -> Self {
        FrameReader {
            stream,
            buf: Vec::with_capacity(64 * 1024),
        }
    }

    /// The next frame; `None` at the end of the stream or on a frame over [`MAX_FRAME`].
    pub async fn next(&mut self) -> Option<Vec<u8>> {
        use tokio::io::AsyncReadExt;
        loop {
            match split_frame(&mut self.buf) {
                Ok(Some(body)) => {
                    // A large answer's buffer is not kept for the worker's life.
                    if self.buf.capacity() > 1024 * 1024 && self.buf.len() < 64 * 1024 {
                        self.buf.shrink_to(64 * 1024);
                    }
                    return Some(body);
                }
                Ok(None) => {}
                Err(()) => return None,
            }
            self.buf.reserve(64 * 1024);
            // `read_buf` is cancel-safe: what it read is in `buf`.
            match self.stream.read_buf(&mut self.buf).await {
                Ok(0) | Err(_) => return None,
                Ok(_) => {}
            }
        }
    }
}
