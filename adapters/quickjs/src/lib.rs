//! Cloud functions on QuickJS-NG, in worker processes the server can kill.
//!
//! [`QuickJs`] is the sandbox port: a fixed pool of worker processes (see [`pool`]),
//! each running one call at a time on QuickJS (see [`worker`]) and asking the server for
//! every host call. A call has a memory limit, a stack limit and a deadline; a worker
//! that does not stop at its deadline (a native loop inside the engine) is killed and
//! replaced.

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::{Value, json};
use yunqiao_core::functions::sandbox::{
    Failure, Host, Job, Limits, MAX_RESULT_BYTES, Outcome, Sandbox,
};

pub mod frame;
pub mod outbound;
pub mod pool;
pub mod worker;

pub use outbound::HttpOutbound;
pub use pool::WorkerProgram;
pub use worker::enter_if_worker;

/// The sandbox: a fixed pool of QuickJS worker processes.
pub struct QuickJs {
    pool: Arc<pool::Pool>,
}

impl QuickJs {
    /// A pool of exactly `workers` processes running `program` (started as they are
    /// first needed). Must be called inside a tokio runtime.
    pub fn new(workers: usize, program: WorkerProgram) -> QuickJs {
        QuickJs {
            pool: Arc::new(pool::Pool::new(workers, program)),
        }
    }

    /// A pool whose workers are this executable (see [`enter_if_worker`]).
    pub fn with_current_exe(workers: usize) -> std::io::Result<QuickJs> {
        Ok(QuickJs::new(workers, WorkerProgram::current_exe()?))
    }

    pub fn workers(&self) -> usize {
        self.pool.workers()
    }

    /// The worker processes alive now.
    pub fn worker_pids(&self) -> Vec<u32> {
        self.pool.pids()
    }

    /// Workers killed so far because they did not stop at a deadline.
    pub fn killed(&self) -> usize {
        self.pool.killed()
    }
}

#[async_trait]
impl Sandbox for QuickJs {
    async fn run(&self, job: Job, host: Arc<dyn Host>) -> Outcome {
        self.pool.run(job, host).await
    }

    async fn exports(&self, source: Arc<str>, limits: Limits) -> Result<Vec<String>, String> {
        self.pool.exports(source.to_string(), limits).await
    }
}

/// Reads the glue's answer: `{"ok": v}` or `{"err": {kind, name, message, …}}`.
pub(crate) fn settle(answer: &str) -> Result<Value, Failure> {
    if answer.len() > MAX_RESULT_BYTES + 8 {
        return Err(Failure::ResultTooLarge {
            bytes: answer.len(),
        });
    }
    let mut v: Value = serde_json::from_str(answer).map_err(|e| Failure::Exception {
        message: format!("unreadable result: {e}"),
        stack: String::new(),
    })?;
    if let Some(ok) = v.get_mut("ok") {
        return Ok(ok.take());
    }
    let err = v.get("err").cloned().unwrap_or(Value::Null);
    let s = |k: &str| err.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let message = s("message");
    let name = s("name");
    let status = err.get("status").and_then(Value::as_u64);
    let details = err.get("details").cloned().unwrap_or(json!({}));
    let code = s("code");
    match s("kind").as_str() {
        "refused" => Ok(()),
        "host" => {
            return Err(Failure::Host(
                yunqiao_core::Error::app(&code, &message, status.unwrap_or(500) as u16)
                    .with_details(details),
            ));
        }
        "oom" => Err(Failure::OutOfMemory),
        _ => Err(classify(&name, &message, s("stack"))),
    }?;
    let status = status.filter(|s| (400..500).contains(s)).unwrap_or(400) as u16;
    Err(Failure::Refused {
        code,
        message,
        status,
        details,
    })
}

fn classify(name: &str, message: &str, stack: String) -> Failure {
    if message.contains("out of memory") {
        Failure::OutOfMemory
    } else if message.contains("Maximum call stack size exceeded")
        || message.starts_with("stack overflow")
    {
        Failure::StackOverflow
    } else {
        Failure::Exception {
            message: if name.is_empty() {
                message.to_string()
            } else {
                format!("{name}: {message}")
            },
            stack,
        }
    }
}
