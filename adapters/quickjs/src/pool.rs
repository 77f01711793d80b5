//! The server's side of the sandbox: a fixed number of worker processes, one call each
//! at a time, and the driver that carries one call through a worker.
//!
//! What a call cannot escape:
//! * **its deadline.** At the deadline (or when its caller goes away) the worker is told
//!   to stop; JavaScript stops at QuickJS's next interrupt check. A worker that has not
//!   answered [`KILL_GRACE`] later is stuck in native code: it is killed (SIGKILL) and a
//!   new one takes its place at the next call.
//! * **its memory.** The JavaScript heap is limited inside the worker; what the call
//!   holds in the server (the arguments and answers of its host calls) is counted here
//!   against the rest of its `memory_mb`, and a call over it ends as out of memory.
//! * **its host calls.** At most [`MAX_HOST_IN_FLIGHT`] run at once; when the call ends,
//!   those not started never start, `http.fetch`es are dropped, and the others (store
//!   writes already under way) are awaited, so nothing lands after the answer.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::value::RawValue;
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use tokio::process::{Child, ChildStdin, ChildStdout};
use tokio::sync::{Semaphore, mpsc, oneshot};
use yunqiao_core::functions::sandbox::{Failure, Host, Job, Level, Limits, LogLine, Outcome};

use crate::frame::{self, Ended, FromWorker, RunLimits, ToWorker};
use crate::settle;
use crate::worker::WORKER_ENV;

/// How long a worker has to stop after being told to, before it is killed.
pub const KILL_GRACE: Duration = Duration::from_millis(200);
/// Host calls of one call running at once; the rest wait their turn.
pub const MAX_HOST_IN_FLIGHT: usize = 16;
/// How long an ended call's store writes already under way are awaited.
const DRAIN_GRACE: Duration = Duration::from_secs(5);
/// Largest resident size a worker may keep between calls before it is replaced (the
/// heap a big call grew is not always given back to the system).
const MAX_WORKER_RSS: u64 = 192 * 1024 * 1024;

/// Which program runs the workers: the server's own executable by default (every binary
/// that runs functions calls [`crate::enter_if_worker`] first in `main`).
#[derive(Debug, Clone)]
pub struct WorkerProgram(pub PathBuf);

impl WorkerProgram {
    pub fn current_exe() -> std::io::Result<WorkerProgram> {
        std::env::current_exe().map(WorkerProgram)
    }
}

struct Proc {
    child: Child,
    stdin: ChildStdin,
    /// The worker's frames, read by the call's driver (cancel-safe). A worker writes
    /// only during a call, and never blocks on its output: reading only then is enough.
    frames: frame::FrameReader<ChildStdout>,
    /// Module versions this worker has been sent the source of.
    sources: HashSet<(String, i64, u64)>,
    calls: u64,
}

pub(crate) struct Pool {
    program: WorkerProgram,
    workers: usize,
    slots: Arc<Semaphore>,
    idle: Mutex<Vec<Proc>>,
    next_call: AtomicU64,
    pids: Mutex<HashSet<u32>>,
    killed: AtomicUsize,
}

enum Request {
    Run(Box<Job>, Arc<dyn Host>),
    Exports(String, Limits),
}

enum Reply {
    Run(Outcome),
    Exports(Result<Vec<String>, String>),
}

fn run_limits(l: &Limits, timeout: Duration) -> RunLimits {
    RunLimits {
        timeout_ms: timeout.as_millis().max(1) as u64,
        heap_bytes: heap_bytes(l.memory_bytes),
        stack_bytes: l.stack_bytes,
    }
}

/// A call's `memory_mb`: three quarters for its JavaScript heap, a quarter (at least
/// 2 MiB) for what it holds in the server.
pub fn heap_bytes(memory: usize) -> usize {
    memory - host_bytes(memory)
}

pub fn host_bytes(memory: usize) -> usize {
    (memory / 4).max(2 * 1024 * 1024).min(memory / 2)
}

fn failed(message: &str) -> Outcome {
    Outcome {
        result: Err(Failure::Exception {
            message: message.into(),
            stack: String::new(),
        }),
        logs: Vec::new(),
    }
}

impl Pool {
    pub(crate) fn new(workers: usize, program: WorkerProgram) -> Pool {
        let workers = workers.max(1);
        Pool {
            program,
            workers,
            slots: Arc::new(Semaphore::new(workers)),
            idle: Mutex::new(Vec::new()),
            next_call: AtomicU64::new(1),
            pids: Mutex::new(HashSet::new()),
            killed: AtomicUsize::new(0),
        }
    }

    pub(crate) fn workers(&self) -> usize {
        self.workers
    }

    /// Worker processes alive now (for measuring their CPU).
    pub(crate) fn pids(&self) -> Vec<u32> {
        self.pids
            .lock()
            .map(|p| p.iter().copied().collect())
            .unwrap_or_default()
    }

    /// Workers killed so far for not stopping in time.
    pub(crate) fn killed(&self) -> usize {
        self.killed.load(Ordering::Relaxed)
    }

    fn spawn(&self) -> std::io::Result<Proc> {
        let mut cmd = tokio::process::Command::new(&self.program.0);
        // Nothing of the server's environment (keys, secrets) reaches a worker.
        cmd.env_clear()
            .env(WORKER_ENV, "1")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit())
            .kill_on_drop(true);
        let mut child = cmd.spawn()?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Err(std::io::Error::other("the worker has no pipes"));
        };
        if let (Some(pid), Ok(mut p)) = (child.id(), self.pids.lock()) {
            p.insert(pid);
        }
        let frames = frame::FrameReader::new(stdout);
        Ok(Proc {
            child,
            stdin,
            frames,
            sources: HashSet::new(),
            calls: 0,
        })
    }

    fn retire(&self, mut p: Proc) {
        if let (Some(pid), Ok(mut ps)) = (p.child.id(), self.pids.lock()) {
            ps.remove(&pid);
        }
        let _ = p.child.start_kill();
        tokio::spawn(async move {
            let _ = p.child.wait().await;
        });
    }

    fn give_back(&self, p: Proc, big: bool) {
        if (big || p.calls.is_multiple_of(32))
            && rss(p.child.id()).is_some_and(|r| r > MAX_WORKER_RSS)
        {
            self.retire(p);
            return;
        }
        match self.idle.lock() {
            Ok(mut idle) => idle.push(p),
            Err(_) => self.retire(p),
        }
    }

    pub(crate) async fn run(self: &Arc<Self>, job: Job, host: Arc<dyn Host>) -> Outcome {
        let deadline = Instant::now() + job.limits.timeout;
        let nested = job.nested;
        match self
            .submit(Request::Run(Box::new(job), host), deadline, nested)
            .await
        {
            Some(Reply::Run(o)) => o,
            Some(Reply::Exports(_)) => failed("the function sandbox answered out of turn"),
            None => Outcome {
                result: Err(Failure::Timeout),
                logs: Vec::new(),
            },
        }
    }

    pub(crate) async fn exports(
        self: &Arc<Self>,
        source: String,
        limits: Limits,
    ) -> Result<Vec<String>, String> {
        let deadline = Instant::now() + limits.timeout;
        match self
            .submit(Request::Exports(source, limits), deadline, false)
            .await
        {
            Some(Reply::Exports(r)) => r,
            Some(Reply::Run(_)) => Err("the function sandbox answered out of turn".into()),
            None => Err("the function sandbox is busy; try again".into()),
        }
    }

    /// Takes a worker (waiting for one until the deadline), and drives the request on it
    /// in a task of its own: a caller that goes away cancels the call, and the worker is
    /// stopped (or killed) and given back whatever happens to the caller.
    /// A nested run (a hook of a write its caller's run is waiting on) never waits: when
    /// every worker is busy it gets one more, let go when it ends.
    async fn submit(
        self: &Arc<Self>,
        req: Request,
        deadline: Instant,
        nested: bool,
    ) -> Option<Reply> {
        let permit = if nested {
            self.slots.clone().try_acquire_owned().ok()
        } else {
            Some(
                tokio::time::timeout_at(deadline.into(), self.slots.clone().acquire_owned())
                    .await
                    .ok()?
                    .ok()?,
            )
        };
        let extra = permit.is_none();
        let mut idle = self.idle.lock().ok().and_then(|mut i| i.pop());
        // A worker that died while idle (killed from outside, say) is replaced.
        if let Some(mut p) = idle.take() {
            match p.child.try_wait() {
                Ok(None) => idle = Some(p),
                _ => self.retire(p),
            }
        }
        let proc = match idle {
            Some(p) => p,
            None => match self.spawn() {
                Ok(p) => p,
                Err(e) => {
                    tracing::error!(error = %e, "cannot start a function worker");
                    return Some(match req {
                        Request::Run(..) => Reply::Run(failed("the function sandbox cannot start")),
                        Request::Exports(..) => {
                            Reply::Exports(Err("the function sandbox cannot start".into()))
                        }
                    });
                }
            },
        };
        let big = match &req {
            Request::Run(job, _) => job.limits.memory_bytes > 64 * 1024 * 1024,
            Request::Exports(_, l) => l.memory_bytes > 64 * 1024 * 1024,
        };
        let (mut tx, rx) = oneshot::channel();
        let pool = self.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let (reply, proc) = drive(proc, req, deadline, &pool, tx.closed()).await;
            match proc {
                Some(p) if !extra => pool.give_back(p, big),
                Some(p) => pool.retire(p),
                None => {}
            }
            let _ = tx.send(reply);
        });
        rx.await.ok()
    }
}

fn rss(pid: Option<u32>) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{}/statm", pid?)).ok()?;
    let pages: u64 = s.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

/// How a request ended: the run's end and logs, or a deploy's exports.
type Finished = (
    Ended,
    Vec<(u8, String)>,
    Option<Result<Vec<String>, String>>,
);

/// One call's state shared with its host-call tasks.
struct CallState {
    /// No host call starts once this is set.
    closed: AtomicBool,
    turns: Semaphore,
    /// Bytes the call holds in the server now.
    held: AtomicUsize,
}

async fn write(stdin: &mut ChildStdin, msg: &ToWorker) -> bool {
    let bytes = frame::encode(msg);
    stdin.write_all(&bytes).await.is_ok() && stdin.flush().await.is_ok()
}

/// `v` as raw JSON for a frame (a `Value` always serializes).
fn raw(v: &Value) -> Box<RawValue> {
    serde_json::value::to_raw_value(v).unwrap_or_else(|_| RawValue::NULL.to_owned())
}

fn host_error(code: &str, message: &str, status: u16) -> Box<RawValue> {
    raw(&json!({"error": {"code": code, "message": message, "status": status}}))
}

/// Carries one request through one worker. Answers the reply and the worker, or `None`
/// when the worker was killed (or broke) and must not be used again.
async fn drive(
    mut proc: Proc,
    req: Request,
    deadline: Instant,
    pool: &Arc<Pool>,
    caller_gone: impl std::future::Future<Output = ()>,
) -> (Reply, Option<Proc>) {
    let call = pool.next_call.fetch_add(1, Ordering::Relaxed);
    proc.calls += 1;
    let remaining = deadline.saturating_duration_since(Instant::now());
    let (mut first, host, host_budget, source) = match req {
        Request::Run(job, host) => {
            let key = (job.module.clone(), job.version, job.source_hash);
            let known = proc.sources.contains(&key);
            let msg = ToWorker::Run {
                call,
                module: job.module.clone(),
                version: job.version,
                hash: key.2,
                source: if known {
                    None
                } else {
                    Some(job.source.to_string())
                },
                export: job.export.clone(),
                args: raw(&Value::Array(job.args)),
                context: raw(&job.context),
                limits: run_limits(&job.limits, remaining),
                instance: job.instance.clone(),
            };
            proc.sources.insert(key);
            (
                msg,
                Some(host),
                host_bytes(job.limits.memory_bytes),
                Some(job.source),
            )
        }
        Request::Exports(source, limits) => (
            ToWorker::Exports {
                call,
                source,
                limits: run_limits(&limits, remaining),
            },
            None,
            0,
            None,
        ),
    };
    let is_run = matches!(first, ToWorker::Run { .. });
    if !write(&mut proc.stdin, &first).await {
        pool.retire(proc);
        return (broken(is_run), None);
    }
    let state = Arc::new(CallState {
        closed: AtomicBool::new(false),
        turns: Semaphore::new(MAX_HOST_IN_FLIGHT),
        held: AtomicUsize::new(0),
    });
    let (answers_tx, mut answers) = mpsc::unbounded_channel::<(u32, Box<RawValue>, usize)>();
    let mut tasks: Vec<(bool, tokio::task::JoinHandle<()>)> = Vec::new();
    let mut resent = false;
    let mut stop_at: Option<Instant> = None;
    let mut over_memory = false;
    let mut gone = false;
    tokio::pin!(caller_gone);
    let ended: Option<Finished> = loop {
        let kill_at = stop_at.map(|s| s + KILL_GRACE);
        tokio::select! {
            body = proc.frames.next() => {
                let Some(body) = body else { break None };
                match frame::decode::<FromWorker>(&body) {
                    Some(FromWorker::Host { call: c, id, op, args }) if c == call => {
                        let Some(host) = host.clone() else { continue };
                        let size = args.get().len();
                        if state.closed.load(Ordering::SeqCst) {
                            let _ = answers_tx.send((id, host_error("FUNCTION_FAILED", "the call has ended", 500), 0));
                            continue;
                        }
                        if state.held.fetch_add(size, Ordering::SeqCst) + size > host_budget {
                            state.held.fetch_sub(size, Ordering::SeqCst);
                            over_memory = true;
                            let _ = answers_tx.send((id, host_error("FUNCTION_OUT_OF_MEMORY", "the call's host calls hold more than its memory limit", 500), 0));
                            if stop_at.is_none() {
                                let _ = write(&mut proc.stdin, &ToWorker::Cancel { call }).await;
                                stop_at = Some(Instant::now());
                            }
                            continue;
                        }
                        let st = state.clone();
                        let tx = answers_tx.clone();
                        let is_fetch = op == "http.fetch";
                        let h = tokio::spawn(async move {
                            let Ok(_turn) = st.turns.acquire().await else { return };
                            if st.closed.load(Ordering::SeqCst) {
                                st.held.fetch_sub(size, Ordering::SeqCst);
                                return;
                            }
                            let a: Value = serde_json::from_str(args.get()).unwrap_or(Value::Null);
                            drop(args);
                            let r = host.call(&op, a).await;
                            let answer = match r {
                                Ok(v) => raw(&json!({ "ok": v })),
                                Err(e) => raw(&json!({"error": {
                                    "code": e.code_str(), "message": e.message,
                                    "status": e.status(), "details": e.details,
                                }})),
                            };
                            let n = answer.get().len();
                            st.held.fetch_add(n, Ordering::SeqCst);
                            st.held.fetch_sub(size, Ordering::SeqCst);
                            let _ = tx.send((id, answer, n));
                        });
                        tasks.retain(|(_, t)| !t.is_finished());
                        tasks.push((is_fetch, h));
                    }
                    Some(FromWorker::Host { .. }) => {}
                    Some(FromWorker::NeedSource { call: c }) if c == call => {
                        // The worker let this version go: send it again, whole.
                        if let (ToWorker::Run { source: s, .. }, Some(text), false) = (&mut first, &source, resent) {
                            *s = Some(text.to_string());
                            resent = true;
                            if !write(&mut proc.stdin, &first).await {
                                break None;
                            }
                        } else {
                            break None;
                        }
                    }
                    Some(FromWorker::NeedSource { .. }) => {}
                    Some(FromWorker::Done { call: c, ended, logs }) if c == call => {
                        break Some((ended, logs, None));
                    }
                    Some(FromWorker::Exports { call: c, result }) if c == call => {
                        break Some((Ended::Timeout, Vec::new(), Some(result)));
                    }
                    // An answer of an earlier call: cannot happen, as a worker runs
                    // one call at a time and is killed when it is late.
                    Some(_) => {}
                    None => break None,
                }
            }
            Some((id, answer, n)) = answers.recv() => {
                let ok = write(&mut proc.stdin, &ToWorker::Host { call, id, answer }).await;
                state.held.fetch_sub(n.min(state.held.load(Ordering::SeqCst)), Ordering::SeqCst);
                if !ok { break None; }
            }
            _ = tokio::time::sleep_until(deadline.into()), if stop_at.is_none() => {
                let _ = write(&mut proc.stdin, &ToWorker::Cancel { call }).await;
                stop_at = Some(Instant::now());
            }
            _ = &mut caller_gone, if !gone && stop_at.is_none() => {
                gone = true;
                let _ = write(&mut proc.stdin, &ToWorker::Cancel { call }).await;
                stop_at = Some(Instant::now());
            }
            _ = tokio::time::sleep_until(kill_at.unwrap_or(deadline).into()), if kill_at.is_some() => {
                pool.killed.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(call, "a function worker did not stop in time; killed");
                break None;
            }
        }
    };
    // The call has ended: no host call starts from now on.
    state.closed.store(true, Ordering::SeqCst);
    state.turns.close();
    let drain_until = Instant::now() + DRAIN_GRACE;
    for (is_fetch, t) in tasks {
        if is_fetch {
            t.abort();
        }
        let _ = tokio::time::timeout_at(drain_until.into(), t).await;
    }
    let Some((ended, logs, exports)) = ended else {
        pool.retire(proc);
        let reply = if is_run {
            Reply::Run(Outcome {
                result: Err(if over_memory {
                    Failure::OutOfMemory
                } else {
                    Failure::Timeout
                }),
                logs: Vec::new(),
            })
        } else {
            Reply::Exports(Err("the module's top level ran past the time limit".into()))
        };
        return (reply, None);
    };
    if let Some(r) = exports {
        return (Reply::Exports(r), Some(proc));
    }
    let logs = logs
        .into_iter()
        .map(|(l, message)| LogLine {
            level: match l {
                1 => Level::Info,
                2 => Level::Warn,
                3 => Level::Error,
                _ => Level::Log,
            },
            message,
        })
        .collect();
    let result = if over_memory {
        Err(Failure::OutOfMemory)
    } else {
        match ended {
            Ended::Answer(a) => settle(&a),
            Ended::Timeout => Err(Failure::Timeout),
            Ended::OutOfMemory => Err(Failure::OutOfMemory),
            Ended::StackOverflow => Err(Failure::StackOverflow),
            Ended::Exception { message, stack } => Err(Failure::Exception { message, stack }),
            Ended::Invalid(m) => Err(Failure::Invalid(m)),
        }
    };
    (Reply::Run(Outcome { result, logs }), Some(proc))
}

fn broken(is_run: bool) -> Reply {
    if is_run {
        Reply::Run(failed("the function sandbox stopped"))
    } else {
        Reply::Exports(Err("the function sandbox stopped".into()))
    }
}
