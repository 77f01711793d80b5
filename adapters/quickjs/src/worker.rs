//! The worker process: runs cloud functions on QuickJS, one call at a time, and asks the
//! server for every host call. It is a process of its own so that the server can kill
//! it: QuickJS's interrupt handler stops JavaScript, but not a native loop inside the
//! engine (`Array.prototype.join` on a huge sparse array, a huge BigInt's `toString`).
//!
//! A caller's own instance (runtime, context and evaluated module) may serve that
//! caller's next call of the same module version; nothing of it is ever shown to another
//! caller (the server keys instances by caller), and an instance is dropped after any
//! failure, timeout or cancellation, or when work it started is still pending.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::os::fd::AsFd;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use rquickjs::loader::{Loader, Resolver};
use rquickjs::prelude::{Async, Func};
use rquickjs::{
    AsyncContext, AsyncRuntime, CatchResultExt, CaughtError, Ctx, Function, Module, Object,
    Persistent, Promise, Value as JsValue,
};
use tokio::net::unix::pipe;
use tokio::sync::{Notify, oneshot};

use crate::frame::{self, Ended, FromWorker, RunLimits, ToWorker};

/// Set (to anything) in a worker process's environment.
pub const WORKER_ENV: &str = "YUNQIAO_SANDBOX_WORKER";

const PRELUDE: &str = include_str!("prelude.js");
/// Lines a call may log, and the longest line kept here (the server redacts secrets and
/// then cuts lines to their final length).
const MAX_LOG_LINES: usize = 100;
const MAX_LOG_LINE: usize = 16 * 1024;
/// Largest host call a function may make (its JSON arguments): the server holds it.
pub const MAX_HOST_ARGS: usize = 2 * 1024 * 1024;
/// Output waiting for the server to read it past which host calls are refused.
const MAX_WAITING_OUTPUT: usize = 8 * 1024 * 1024;
/// Instances kept per worker, and how big the worker may be while it keeps any.
const MAX_INSTANCES: usize = 16;
const MAX_KEPT_RESIDENT: u64 = 128 * 1024 * 1024;
/// Keeps between two looks at the worker's size (reading `/proc` costs as much as a
/// good part of a warm call): each kept heap is within its limit, and the server checks
/// the worker's size too.
const KEEP_CHECK_EVERY: u64 = 16;

fn resident_bytes() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/statm").ok()?;
    Some(s.split_whitespace().nth(1)?.parse::<u64>().ok()? * 4096)
}
/// Sources kept per worker (the server resends one this worker dropped).
const MAX_SOURCES: usize = 64;

/// If this process is a sandbox worker, runs it and exits; otherwise returns at once.
/// Every binary that runs cloud functions calls this first thing in `main`.
pub fn enter_if_worker() {
    if std::env::var_os(WORKER_ENV).is_none() {
        return;
    }
    std::process::exit(run_worker());
}

struct Shared {
    /// Host calls waiting for the server's answer, by (call, id).
    pending: Mutex<HashMap<(u64, u32), oneshot::Sender<String>>>,
    /// The call the server asked to stop.
    cancelled: AtomicU64,
    cancel: Notify,
    out: Output,
}

/// The worker's stdout, written without ever blocking the thread (it also reads the
/// server's frames): what the pipe does not take now waits in `queued` for the writer.
struct Output {
    pipe: pipe::Sender,
    queued: Mutex<Vec<u8>>,
    more: Notify,
}

impl Output {
    /// Bytes written by `send` that the pipe has not taken yet.
    fn waiting(&self) -> usize {
        self.queued.lock().map_or(0, |q| q.len())
    }
}

impl Shared {
    fn send(&self, msg: &FromWorker) {
        let bytes = frame::encode(msg);
        let Ok(mut queued) = self.out.queued.lock() else {
            std::process::exit(3);
        };
        let mut written = 0;
        if queued.is_empty() {
            match self.out.pipe.try_write(&bytes) {
                Ok(n) => written = n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                // The server is gone.
                Err(_) => std::process::exit(0),
            }
        }
        if written < bytes.len() {
            queued.extend_from_slice(&bytes[written..]);
            self.out.more.notify_one();
        }
    }
}

/// Writes what [`Shared::send`] could not, as the pipe takes it.
async fn write_queued(shared: Arc<Shared>) {
    loop {
        shared.out.more.notified().await;
        loop {
            if shared.out.pipe.writable().await.is_err() {
                std::process::exit(0);
            }
            let Ok(mut queued) = shared.out.queued.lock() else {
                std::process::exit(3);
            };
            if queued.is_empty() {
                break;
            }
            match shared.out.pipe.try_write(&queued) {
                Ok(n) => {
                    queued.drain(..n);
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(_) => std::process::exit(0),
            }
            if queued.is_empty() {
                break;
            }
        }
    }
}

/// Reads the server's frames: answers and cancellations take effect here, runs go to
/// the engine.
async fn read_input(
    mut input: frame::FrameReader<pipe::Receiver>,
    shared: Arc<Shared>,
    jobs: tokio::sync::mpsc::UnboundedSender<ToWorker>,
) {
    while let Some(body) = input.next().await {
        match frame::decode::<ToWorker>(&body) {
            Some(ToWorker::Host { call, id, answer }) => {
                let tx = shared
                    .pending
                    .lock()
                    .ok()
                    .and_then(|mut p| p.remove(&(call, id)));
                if let Some(tx) = tx {
                    let _ = tx.send(Box::<str>::from(answer).into_string());
                }
            }
            Some(ToWorker::Cancel { call }) => {
                shared.cancelled.store(call, Ordering::SeqCst);
                shared.cancel.notify_waiters();
            }
            Some(job) => {
                if jobs.send(job).is_err() {
                    break;
                }
            }
            None => break,
        }
    }
    // The server closed our input (it stopped, or let this worker go).
    std::process::exit(0);
}

/// One thread does everything (reading frames, running JavaScript, writing frames), so
/// a frame from the server wakes exactly one thread.
fn run_worker() -> i32 {
    // QuickJS checks its stack limit against this thread's stack.
    let engine = std::thread::Builder::new()
        .name("yq-js".into())
        .stack_size(8 * 1024 * 1024)
        .spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_io()
                .enable_time()
                .build()
            else {
                return 2;
            };
            let local = tokio::task::LocalSet::new();
            local.block_on(&rt, async move {
                let pipes = (|| {
                    let input = std::io::stdin().as_fd().try_clone_to_owned()?;
                    let output = std::io::stdout().as_fd().try_clone_to_owned()?;
                    Ok::<_, std::io::Error>((
                        pipe::Receiver::from_owned_fd(input)?,
                        pipe::Sender::from_owned_fd(output)?,
                    ))
                })();
                let Ok((input, output)) = pipes else {
                    return 2;
                };
                let shared = Arc::new(Shared {
                    pending: Mutex::new(HashMap::new()),
                    cancelled: AtomicU64::new(0),
                    cancel: Notify::new(),
                    out: Output {
                        pipe: output,
                        queued: Mutex::new(Vec::new()),
                        more: Notify::new(),
                    },
                });
                let (jobs, mut inbox) = tokio::sync::mpsc::unbounded_channel::<ToWorker>();
                tokio::task::spawn_local(read_input(
                    frame::FrameReader::new(input),
                    shared.clone(),
                    jobs,
                ));
                tokio::task::spawn_local(write_queued(shared.clone()));
                let mut engine = Engine::new(shared);
                while let Some(job) = inbox.recv().await {
                    engine.handle(job).await;
                }
                0
            })
        });
    match engine.map(|h| h.join()) {
        Ok(Ok(code)) => code,
        _ => 2,
    }
}

fn base() -> Instant {
    static BASE: OnceLock<Instant> = OnceLock::new();
    *BASE.get_or_init(Instant::now)
}

/// The run an instance is serving now: the interrupt handler reads it.
#[derive(Default)]
struct RunCell {
    call: AtomicU64,
    /// Nanoseconds after [`base`]; 0 while no run is on.
    deadline: AtomicU64,
}

impl RunCell {
    fn set(&self, call: u64, deadline: Instant) {
        self.call.store(call, Ordering::SeqCst);
        let ns = deadline.saturating_duration_since(base()).as_nanos() as u64;
        self.deadline.store(ns.max(1), Ordering::SeqCst);
    }

    fn late(&self, shared: &Shared) -> bool {
        let d = self.deadline.load(Ordering::Relaxed);
        if d == 0 {
            return false;
        }
        let call = self.call.load(Ordering::Relaxed);
        base().elapsed().as_nanos() as u64 >= d || shared.cancelled.load(Ordering::Relaxed) == call
    }
}

/// The host door of one instance: which call its host calls belong to.
struct Link {
    shared: Arc<Shared>,
    call: Cell<u64>,
    next_id: Cell<u32>,
    /// Host calls this instance started that have not been answered.
    open: Cell<u32>,
}

type Logs = Rc<RefCell<Vec<(u8, String)>>>;

struct Instance {
    // Persistent values must go before the runtime they live in.
    invoke: Persistent<Function<'static>>,
    ns: Persistent<Object<'static>>,
    ctx: AsyncContext,
    rt: AsyncRuntime,
    cell: Arc<RunCell>,
    link: Rc<Link>,
    logs: Logs,
    key: String,
}

struct Source {
    text: Arc<str>,
    bytecode: Option<Arc<Vec<u8>>>,
}

struct Engine {
    shared: Arc<Shared>,
    sources: HashMap<(String, i64, u64), Source>,
    instances: Vec<Instance>,
    kept: u64,
}

/// Imports other than `yunqiao` (declared before the app module) do not exist.
struct NoImports;

impl Resolver for NoImports {
    fn resolve<'js>(
        &mut self,
        _ctx: &Ctx<'js>,
        _base: &str,
        name: &str,
        _attributes: Option<rquickjs::loader::ImportAttributes<'js>>,
    ) -> rquickjs::Result<String> {
        if name == "yunqiao" {
            return Ok(name.to_string());
        }
        Err(rquickjs::Error::new_resolving_message(
            "app",
            name,
            "a cloud function may import only \"yunqiao\"",
        ))
    }
}

impl Loader for NoImports {
    fn load<'js>(
        &mut self,
        _ctx: &Ctx<'js>,
        name: &str,
        _attributes: Option<rquickjs::loader::ImportAttributes<'js>>,
    ) -> rquickjs::Result<Module<'js, rquickjs::module::Declared>> {
        Err(rquickjs::Error::new_loading_message(
            name,
            "a cloud function may import only \"yunqiao\"",
        ))
    }
}

/// The prelude's bytecode, compiled once per process.
static PRELUDE_CODE: OnceLock<Vec<u8>> = OnceLock::new();

/// Declares a module from bytecode when there is some, else compiles it (and hands back
/// its bytecode for next time).
fn declare<'js>(
    ctx: &Ctx<'js>,
    name: &str,
    source: &str,
    code: Option<&[u8]>,
) -> rquickjs::Result<(Module<'js>, Option<Vec<u8>>)> {
    if let Some(b) = code {
        // SAFETY: the bytes are our own `Module::write` output of this same QuickJS
        // build, in this same process.
        return Ok((unsafe { Module::load(ctx.clone(), b)? }, None));
    }
    let m = Module::declare(ctx.clone(), name, source)?;
    let written = m.write(rquickjs::WriteOptions::default()).ok();
    Ok((m, written))
}

fn answer_error(code: &str, message: &str, status: u16) -> String {
    serde_json::json!({"error": {"code": code, "message": message, "status": status}}).to_string()
}

/// The globals the prelude captures and removes: the host door, the log sink, the
/// context of the first call.
fn install<'js>(
    ctx: &Ctx<'js>,
    context: &str,
    link: Option<Rc<Link>>,
    logs: Logs,
) -> rquickjs::Result<()> {
    let g = ctx.globals();
    g.set("__yq_context", context)?;
    g.set(
        "__yq_log",
        Func::from(move |level: String, text: String| {
            let mut logs = logs.borrow_mut();
            if logs.len() >= MAX_LOG_LINES {
                return;
            }
            let level = match level.as_str() {
                "info" => 1,
                "warn" => 2,
                "error" => 3,
                _ => 0,
            };
            let mut message = text;
            if message.len() > MAX_LOG_LINE {
                let mut cut = MAX_LOG_LINE;
                while !message.is_char_boundary(cut) {
                    cut -= 1;
                }
                message.truncate(cut);
            }
            logs.push((level, message));
        }),
    )?;
    g.set(
        "__yq_host",
        Func::from(Async(move |op: String, args: String| {
            let link = link.clone();
            async move {
                let Some(link) = link else {
                    return Ok::<_, rquickjs::Error>(answer_error(
                        "INVALID_ARGUMENT",
                        "no host calls while a module loads for deployment",
                        400,
                    ));
                };
                if args.len() > MAX_HOST_ARGS {
                    return Ok(answer_error(
                        "BODY_TOO_LARGE",
                        &format!("a host call's arguments are at most {MAX_HOST_ARGS} bytes"),
                        413,
                    ));
                }
                // Frames the server has not taken yet live outside the heap limit: a run
                // that starts host calls faster than the server reads them is refused
                // more, not given memory.
                if link.shared.out.waiting() > MAX_WAITING_OUTPUT {
                    return Ok(answer_error(
                        "FUNCTION_OUT_OF_MEMORY",
                        "too many host calls are waiting to be sent; await them",
                        500,
                    ));
                }
                // The prelude's JSON.stringify always gives JSON.
                let Ok(args) = serde_json::value::RawValue::from_string(args) else {
                    return Ok(answer_error(
                        "INVALID_ARGUMENT",
                        "a host call's arguments are not JSON",
                        400,
                    ));
                };
                let call = link.call.get();
                let id = link.next_id.get().wrapping_add(1);
                link.next_id.set(id);
                let (tx, rx) = oneshot::channel();
                if let Ok(mut p) = link.shared.pending.lock() {
                    p.insert((call, id), tx);
                }
                link.open.set(link.open.get() + 1);
                link.shared.send(&FromWorker::Host { call, id, op, args });
                let answer = rx.await;
                link.open.set(link.open.get().saturating_sub(1));
                Ok(answer
                    .unwrap_or_else(|_| answer_error("FUNCTION_FAILED", "the call has ended", 500)))
            }
        })),
    )?;
    Ok(())
}

fn classify(message: &str, stack: String) -> Ended {
    if message.contains("out of memory") {
        Ended::OutOfMemory
    } else if message.contains("Maximum call stack size exceeded")
        || message.starts_with("stack overflow")
    {
        Ended::StackOverflow
    } else {
        Ended::Exception {
            message: message.to_string(),
            stack,
        }
    }
}

/// What a failed QuickJS call means.
fn explain(ctx: &Ctx<'_>, e: rquickjs::Error) -> Ended {
    match e {
        rquickjs::Error::Allocation => Ended::OutOfMemory,
        rquickjs::Error::Exception => match Err::<(), _>(e).catch(ctx) {
            Err(CaughtError::Exception(ex)) => classify(
                &format!(
                    "{}{}",
                    ex.as_object()
                        .get::<_, String>("name")
                        .map(|n| format!("{n}: "))
                        .unwrap_or_default(),
                    ex.message().unwrap_or_default()
                ),
                ex.stack().unwrap_or_default(),
            ),
            Err(CaughtError::Value(v)) => {
                if v.is_null() || v.is_undefined() {
                    // QuickJS at its memory limit cannot allocate the error it throws.
                    Ended::OutOfMemory
                } else {
                    classify(&format!("uncaught {}", v.type_name()), String::new())
                }
            }
            Err(CaughtError::Error(e)) => classify(&e.to_string(), String::new()),
            Ok(()) => classify("unknown error", String::new()),
        },
        e => classify(&e.to_string(), String::new()),
    }
}

/// A module whose top level fails while loading.
fn invalid(ctx: &Ctx<'_>, e: rquickjs::Error) -> Ended {
    match explain(ctx, e) {
        Ended::Exception { message, .. } => Ended::Invalid(message),
        f => f,
    }
}

/// Declares and evaluates the prelude (`yunqiao`) and then the app's module.
async fn load_app<'js>(
    ctx: &Ctx<'js>,
    source: &str,
    app_code: Option<&[u8]>,
) -> Result<(Module<'js, rquickjs::module::Evaluated>, Option<Vec<u8>>), Ended> {
    let (prelude, written) = declare(
        ctx,
        "yunqiao",
        PRELUDE,
        PRELUDE_CODE.get().map(Vec::as_slice),
    )
    .map_err(|e| explain(ctx, e))?;
    if let Some(w) = written {
        let _ = PRELUDE_CODE.set(w);
    }
    let (_, p) = prelude.eval().map_err(|e| explain(ctx, e))?;
    p.into_future::<()>().await.map_err(|e| explain(ctx, e))?;
    let (app, written) = declare(ctx, "app", source, app_code).map_err(|e| invalid(ctx, e))?;
    let (m, p) = app.eval().map_err(|e| invalid(ctx, e))?;
    p.into_future::<()>().await.map_err(|e| invalid(ctx, e))?;
    Ok((m, written))
}

async fn new_runtime(
    shared: &Arc<Shared>,
    limits: RunLimits,
) -> rquickjs::Result<(AsyncRuntime, AsyncContext, Arc<RunCell>)> {
    let rt = AsyncRuntime::new()?;
    rt.set_memory_limit(limits.heap_bytes).await;
    rt.set_max_stack_size(limits.stack_bytes).await;
    let cell = Arc::new(RunCell::default());
    let (c, s) = (cell.clone(), shared.clone());
    rt.set_interrupt_handler(Some(Box::new(move || c.late(&s))))
        .await;
    rt.set_loader(NoImports, NoImports).await;
    let ctx = AsyncContext::full(&rt).await?;
    Ok((rt, ctx, cell))
}

impl Engine {
    fn new(shared: Arc<Shared>) -> Engine {
        Engine {
            shared,
            sources: HashMap::new(),
            instances: Vec::new(),
            kept: 0,
        }
    }

    async fn handle(&mut self, job: ToWorker) {
        match job {
            ToWorker::Run {
                call,
                module,
                version,
                hash,
                source,
                export,
                args,
                context,
                limits,
                instance,
            } => {
                let key = (module, version, hash);
                if let Some(s) = source {
                    if self.sources.len() >= MAX_SOURCES {
                        self.sources.clear();
                    }
                    self.sources.insert(
                        key.clone(),
                        Source {
                            text: Arc::from(s),
                            bytecode: None,
                        },
                    );
                }
                if !self.sources.contains_key(&key) {
                    self.shared.send(&FromWorker::NeedSource { call });
                    return;
                }
                let (ended, logs) = self
                    .run(
                        call,
                        &key,
                        &export,
                        args.get(),
                        context.get(),
                        limits,
                        instance,
                    )
                    .await;
                self.shared.send(&FromWorker::Done { call, ended, logs });
            }
            ToWorker::Exports {
                call,
                source,
                limits,
            } => {
                let result = self.exports(call, &source, limits).await;
                self.shared.send(&FromWorker::Exports { call, result });
            }
            // Answers and cancellations are handled by the reader thread.
            ToWorker::Host { .. } | ToWorker::Cancel { .. } => {}
        }
    }

    /// Waits for `fut` until the deadline passes or the server cancels `call`.
    async fn bounded<T>(
        &self,
        call: u64,
        deadline: Instant,
        fut: impl std::future::Future<Output = T>,
    ) -> Option<T> {
        let cancelled = async {
            loop {
                let n = self.shared.cancel.notified();
                if self.shared.cancelled.load(Ordering::SeqCst) == call {
                    return;
                }
                n.await;
            }
        };
        tokio::select! {
            v = fut => Some(v),
            _ = tokio::time::sleep_until(deadline.into()) => None,
            _ = cancelled => None,
        }
    }

    async fn exports(
        &mut self,
        call: u64,
        source: &str,
        limits: RunLimits,
    ) -> Result<Vec<String>, String> {
        let deadline = Instant::now() + Duration::from_millis(limits.timeout_ms);
        let (rt, ctx, cell) = new_runtime(&self.shared, limits)
            .await
            .map_err(|e| format!("cannot start the sandbox: {e}"))?;
        cell.set(call, deadline);
        let logs: Logs = Rc::default();
        let fut = ctx.async_with(async |ctx| {
            install(&ctx, "{}", None, logs.clone()).map_err(|e| explain(&ctx, e))?;
            let (m, _) = load_app(&ctx, source, None).await?;
            let ns = m.namespace().map_err(|e| explain(&ctx, e))?;
            let mut names = Vec::new();
            for key in ns.keys::<String>() {
                let key = key.map_err(|e| explain(&ctx, e))?;
                let v: JsValue = ns.get(&key).map_err(|e| explain(&ctx, e))?;
                if v.is_function() {
                    names.push(key);
                }
            }
            names.sort();
            Ok::<_, Ended>(names)
        });
        let out = self.bounded(call, deadline, fut).await;
        let late = cell.late(&self.shared);
        drop(ctx);
        drop(rt);
        let limit = "the module's top level ran past the time limit".to_string();
        match out {
            None => Err(limit),
            Some(_) if late => Err(limit),
            Some(Ok(names)) => Ok(names),
            Some(Err(Ended::Timeout)) => Err(limit),
            Some(Err(Ended::Invalid(m))) | Some(Err(Ended::Exception { message: m, .. })) => Err(m),
            Some(Err(Ended::OutOfMemory)) => Err("the module's top level ran out of memory".into()),
            Some(Err(f)) => Err(format!("the module's top level failed: {f:?}")),
        }
    }

    /// A new instance: runtime, context, prelude and the app module evaluated.
    async fn instance(
        &mut self,
        key: &(String, i64, u64),
        context: &str,
        limits: RunLimits,
        call: u64,
        deadline: Instant,
        instance_key: String,
    ) -> Result<Instance, Ended> {
        let (rt, ctx, cell) =
            new_runtime(&self.shared, limits)
                .await
                .map_err(|e| Ended::Exception {
                    message: format!("cannot start the sandbox: {e}"),
                    stack: String::new(),
                })?;
        cell.set(call, deadline);
        let link = Rc::new(Link {
            shared: self.shared.clone(),
            call: Cell::new(call),
            next_id: Cell::new(0),
            open: Cell::new(0),
        });
        let logs: Logs = Rc::default();
        let code = self.sources.get(key).and_then(|s| s.bytecode.clone());
        let text = self
            .sources
            .get(key)
            .map(|s| s.text.clone())
            .unwrap_or_else(|| Arc::from(""));
        let fut = ctx.async_with(async |ctx| {
            install(&ctx, context, Some(link.clone()), logs.clone())
                .map_err(|e| explain(&ctx, e))?;
            let (m, written) = load_app(&ctx, &text, code.as_deref().map(Vec::as_slice)).await?;
            let ns = m.namespace().map_err(|e| explain(&ctx, e))?;
            let invoke: Function = ctx
                .globals()
                .get("__yq_invoke")
                .map_err(|e| explain(&ctx, e))?;
            Ok::<_, Ended>((
                Persistent::save(&ctx, ns),
                Persistent::save(&ctx, invoke),
                written,
            ))
        });
        let out = self.bounded(call, deadline, fut).await;
        if cell.late(&self.shared) {
            return Err(Ended::Timeout);
        }
        let (ns, invoke, written) = out.ok_or(Ended::Timeout)??;
        if let (Some(w), Some(s)) = (written, self.sources.get_mut(key)) {
            s.bytecode = Some(Arc::new(w));
        }
        Ok(Instance {
            invoke,
            ns,
            ctx,
            rt,
            cell,
            link,
            logs,
            key: instance_key,
        })
    }

    #[allow(clippy::too_many_arguments)]
    async fn run(
        &mut self,
        call: u64,
        key: &(String, i64, u64),
        export: &str,
        args: &str,
        context: &str,
        limits: RunLimits,
        instance: Option<String>,
    ) -> (Ended, Vec<(u8, String)>) {
        let deadline = Instant::now() + Duration::from_millis(limits.timeout_ms);
        // Limits are part of the key: a module redeployed with other limits is another version
        // anyway, but the heap limit is set when the runtime starts.
        let full_key = instance.map(|k| {
            format!(
                "{k}\u{0}{}\u{0}{}\u{0}{}\u{0}{}\u{0}{}",
                key.0, key.1, key.2, limits.heap_bytes, limits.stack_bytes
            )
        });
        let cached = full_key
            .as_ref()
            .and_then(|k| self.instances.iter().position(|i| &i.key == k))
            .map(|at| self.instances.remove(at));
        let inst = match cached {
            Some(i) => {
                i.cell.set(call, deadline);
                i.link.call.set(call);
                i
            }
            None => {
                match self
                    .instance(
                        key,
                        context,
                        limits,
                        call,
                        deadline,
                        full_key.clone().unwrap_or_default(),
                    )
                    .await
                {
                    Ok(i) => i,
                    Err(e) => return (e, Vec::new()),
                }
            }
        };
        let fut = inst.ctx.async_with(async |ctx| {
            let ns = inst
                .ns
                .clone()
                .restore(&ctx)
                .map_err(|e| explain(&ctx, e))?;
            let f: JsValue = ns.get(export).map_err(|e| explain(&ctx, e))?;
            if !f.is_function() {
                return Err(Ended::Invalid(format!(
                    "the module exports no function {export:?}"
                )));
            }
            let invoke = inst
                .invoke
                .clone()
                .restore(&ctx)
                .map_err(|e| explain(&ctx, e))?;
            let p: Promise = invoke
                .call((f, args, context))
                .map_err(|e| explain(&ctx, e))?;
            let answer: String = p.into_future().await.map_err(|e| explain(&ctx, e))?;
            Ok::<_, Ended>(answer)
        });
        let out = self.bounded(call, deadline, fut).await;
        let late = inst.cell.late(&self.shared);
        inst.cell.deadline.store(0, Ordering::SeqCst);
        let logs = std::mem::take(&mut *inst.logs.borrow_mut());
        let ended = match out {
            None => Ended::Timeout,
            Some(_) if late => Ended::Timeout,
            Some(Ok(a)) => Ended::Answer(a),
            Some(Err(e)) => e,
        };
        // Kept for this caller's next call only when the run ended cleanly and left
        // nothing behind.
        let clean = matches!(&ended, Ended::Answer(a) if a.starts_with("{\"ok\"") || a.contains("\"kind\":\"refused\""));
        if full_key.is_some()
            && clean
            && inst.link.open.get() == 0
            && !inst.rt.is_job_pending().await
        {
            self.keep(inst);
        }
        (ended, logs)
    }

    /// Keeps an instance for its caller's next call: the most recent
    /// [`MAX_INSTANCES`] (each within its own heap limit; the server replaces a worker
    /// whose memory grows past its bound).
    fn keep(&mut self, inst: Instance) {
        self.instances.push(inst);
        if self.instances.len() > MAX_INSTANCES {
            self.instances.remove(0);
        }
        // Kept heaps add up: now and then, let them all go when this process is big.
        self.kept += 1;
        if self.kept.is_multiple_of(KEEP_CHECK_EVERY)
            && resident_bytes().is_some_and(|b| b > MAX_KEPT_RESIDENT)
        {
            self.instances.clear();
        }
    }
}
