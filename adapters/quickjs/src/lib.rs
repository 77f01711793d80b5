//! Cloud functions on QuickJS-NG. Every call gets a fresh runtime (no state survives a
//! call) with a memory limit, a stack limit and a deadline: the interrupt handler stops
//! JavaScript that runs past it, and a timer stops a call waiting on the host past it.
//!
//! QuickJS runtimes are not `Send`, so calls run on a small pool of worker threads, one
//! call per worker at a time: a function stuck in a loop holds one worker until its
//! deadline and nothing else. Host calls go back to the server's own runtime, where the
//! store clients live.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Instant;

use async_trait::async_trait;
use rquickjs::loader::{Loader, Resolver};
use rquickjs::prelude::{Async, Func};
use rquickjs::{
    AsyncContext, AsyncRuntime, CatchResultExt, CaughtError, Ctx, Function, Module, Object,
    Promise, Value as JsValue,
};
use serde_json::{Value, json};
use tokio::sync::oneshot;
use yunqiao_core::functions::sandbox::{
    Failure, Host, Job, Level, Limits, LogLine, MAX_RESULT_BYTES, Outcome, Sandbox,
};

pub mod outbound;

pub use outbound::HttpOutbound;

const PRELUDE: &str = include_str!("prelude.js");
/// Lines a call may log, and the longest line kept.
const MAX_LOG_LINES: usize = 100;
const MAX_LOG_LINE: usize = 2000;

enum Task {
    Run(Box<Job>, Arc<dyn Host>, oneshot::Sender<Outcome>),
    Exports(
        Arc<str>,
        Limits,
        oneshot::Sender<Result<Vec<String>, String>>,
    ),
}

/// Most worker threads a sandbox grows to. Calls nest (a function's write runs a hook,
/// which runs a function), and a worker waits for the calls it makes: a fixed pool
/// could wait on itself. The pool grows when every worker is busy, up to this.
pub const MAX_WORKERS: usize = 64;

/// The sandbox: a pool of worker threads running QuickJS.
pub struct QuickJs {
    tasks: Mutex<mpsc::Sender<Task>>,
    pool: Arc<Pool>,
}

struct Pool {
    code: CodeCache,
    rx: Mutex<mpsc::Receiver<Task>>,
    idle: std::sync::atomic::AtomicUsize,
    total: std::sync::atomic::AtomicUsize,
    server: tokio::runtime::Handle,
}

impl QuickJs {
    /// Starts `workers` threads (more start when all are busy, up to [`MAX_WORKERS`]).
    /// Must be called inside the server's tokio runtime: host calls run there.
    pub fn new(workers: usize) -> std::io::Result<QuickJs> {
        let (tx, rx) = mpsc::channel::<Task>();
        let pool = Arc::new(Pool {
            code: CodeCache::default(),
            rx: Mutex::new(rx),
            idle: Default::default(),
            total: Default::default(),
            server: tokio::runtime::Handle::current(),
        });
        for _ in 0..workers.clamp(1, MAX_WORKERS) {
            spawn_worker(&pool)?;
        }
        Ok(QuickJs {
            tasks: Mutex::new(tx),
            pool,
        })
    }

    fn submit(&self, task: Task) -> bool {
        if self.pool.idle.load(Ordering::SeqCst) == 0
            && self.pool.total.load(Ordering::SeqCst) < MAX_WORKERS
            && let Err(e) = spawn_worker(&self.pool)
        {
            tracing::warn!(error = %e, "cannot start another function worker");
        }
        self.tasks
            .lock()
            .map(|tx| tx.send(task).is_ok())
            .unwrap_or(false)
    }
}

fn spawn_worker(pool: &Arc<Pool>) -> std::io::Result<()> {
    let n = pool.total.fetch_add(1, Ordering::SeqCst);
    let p = pool.clone();
    std::thread::Builder::new()
        .name(format!("yq-js-{n}"))
        // QuickJS checks its own stack limit against this thread's stack.
        .stack_size(8 * 1024 * 1024)
        .spawn(move || worker(p))
        .map(|_| ())
        .inspect_err(|_| {
            pool.total.fetch_sub(1, Ordering::SeqCst);
        })
}

fn worker(pool: Arc<Pool>) {
    let Ok(rt) = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
    else {
        tracing::error!("cannot start a function worker");
        pool.total.fetch_sub(1, Ordering::SeqCst);
        return;
    };
    loop {
        pool.idle.fetch_add(1, Ordering::SeqCst);
        let task = pool.rx.lock().ok().and_then(|rx| rx.recv().ok());
        pool.idle.fetch_sub(1, Ordering::SeqCst);
        let Some(task) = task else {
            pool.total.fetch_sub(1, Ordering::SeqCst);
            return;
        };
        match task {
            Task::Run(job, host, reply) => {
                let out = rt.block_on(run(*job, host, pool.server.clone(), &pool.code));
                let _ = reply.send(out);
            }
            Task::Exports(source, limits, reply) => {
                let _ = reply.send(rt.block_on(exports(source, limits)));
            }
        }
    }
}

#[async_trait]
impl Sandbox for QuickJs {
    async fn run(&self, job: Job, host: Arc<dyn Host>) -> Outcome {
        let (tx, rx) = oneshot::channel();
        if !self.submit(Task::Run(Box::new(job), host, tx)) {
            return broken();
        }
        rx.await.unwrap_or_else(|_| broken())
    }

    async fn exports(&self, source: Arc<str>, limits: Limits) -> Result<Vec<String>, String> {
        let (tx, rx) = oneshot::channel();
        if !self.submit(Task::Exports(source, limits, tx)) {
            return Err("the function sandbox is not running".into());
        }
        rx.await
            .unwrap_or_else(|_| Err("the function sandbox stopped".into()))
    }
}

fn broken() -> Outcome {
    Outcome {
        result: Err(Failure::Exception {
            message: "the function sandbox stopped".into(),
            stack: String::new(),
        }),
        logs: Vec::new(),
    }
}

/// A module version's bytecode is known by its name, version and source (a module
/// deleted and deployed again starts at version 1 with other code).
#[derive(Clone, PartialEq, Eq, Hash)]
struct CodeKey(String, i64, u64);

impl CodeKey {
    fn of(job: &Job) -> CodeKey {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        job.source.hash(&mut h);
        CodeKey(job.module.clone(), job.version, h.finish())
    }
}

#[derive(Default)]
struct CodeCache(Mutex<std::collections::HashMap<CodeKey, Bytecode>>);

impl CodeCache {
    fn get(&self, k: &CodeKey) -> Option<Bytecode> {
        self.0.lock().ok()?.get(k).cloned()
    }

    fn put(&self, k: CodeKey, code: Bytecode) {
        if let Ok(mut m) = self.0.lock() {
            if m.len() >= 256 {
                m.clear();
            }
            m.insert(k, code);
        }
    }
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

struct Runtime {
    rt: AsyncRuntime,
    ctx: AsyncContext,
    interrupted: Arc<AtomicBool>,
}

async fn runtime(limits: Limits, deadline: Instant) -> rquickjs::Result<Runtime> {
    let rt = AsyncRuntime::new()?;
    rt.set_memory_limit(limits.memory_bytes).await;
    rt.set_max_stack_size(limits.stack_bytes).await;
    let interrupted = Arc::new(AtomicBool::new(false));
    let flag = interrupted.clone();
    rt.set_interrupt_handler(Some(Box::new(move || {
        let late = Instant::now() >= deadline;
        if late {
            flag.store(true, Ordering::Relaxed);
        }
        late
    })))
    .await;
    rt.set_loader(NoImports, NoImports).await;
    let ctx = AsyncContext::full(&rt).await?;
    Ok(Runtime {
        rt,
        ctx,
        interrupted,
    })
}

async fn exports(source: Arc<str>, limits: Limits) -> Result<Vec<String>, String> {
    let deadline = Instant::now() + limits.timeout;
    let r = runtime(limits, deadline)
        .await
        .map_err(|e| format!("cannot start the sandbox: {e}"))?;
    let logs = Rc::new(RefCell::new(Vec::new()));
    let fut = r.ctx.async_with(async |ctx| {
        install(&ctx, json!({}), None, logs.clone()).map_err(|e| explain(&ctx, e))?;
        let (m, _) = load_app(&ctx, &source, None).await?;
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
        Ok::<_, Failure>(names)
    });
    let out = tokio::time::timeout_at(deadline.into(), fut).await;
    drop(r.ctx);
    drop(r.rt);
    match out {
        Err(_) => Err("the module's top level ran past the time limit".into()),
        Ok(Ok(names)) => Ok(names),
        Ok(Err(Failure::Timeout)) => Err("the module's top level ran past the time limit".into()),
        Ok(Err(Failure::Invalid(m))) | Ok(Err(Failure::Exception { message: m, .. })) => Err(m),
        Ok(Err(f)) => Err(format!("the module's top level failed: {f:?}")),
    }
}

/// The prelude's bytecode, compiled once per process.
static PRELUDE_CODE: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();

/// A module's bytecode, compiled once per process and version: loading bytecode skips
/// the parse that is most of a warm call's cost.
pub(crate) type Bytecode = Arc<Vec<u8>>;

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
        // build, and outlive the runtime (the caller holds them until it is dropped).
        return Ok((unsafe { Module::load(ctx.clone(), b)? }, None));
    }
    let m = Module::declare(ctx.clone(), name, source)?;
    let written = m.write(rquickjs::WriteOptions::default()).ok();
    Ok((m, written))
}

/// Declares and evaluates the prelude (`yunqiao`) and then the app's module. `app_code`
/// is the app's bytecode from an earlier call; the newly compiled one is answered.
async fn load_app<'js>(
    ctx: &Ctx<'js>,
    source: &str,
    app_code: Option<&[u8]>,
) -> Result<(Module<'js, rquickjs::module::Evaluated>, Option<Vec<u8>>), Failure> {
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

/// Globals the prelude captures and removes: the host door, the log sink, the context.
fn install<'js>(
    ctx: &Ctx<'js>,
    context: Value,
    host: Option<(Arc<dyn Host>, tokio::runtime::Handle)>,
    logs: Rc<RefCell<Vec<LogLine>>>,
) -> rquickjs::Result<()> {
    let g = ctx.globals();
    g.set("__yq_context", context.to_string())?;
    g.set(
        "__yq_log",
        Func::from(move |level: String, text: String| {
            let mut logs = logs.borrow_mut();
            if logs.len() >= MAX_LOG_LINES {
                return;
            }
            let level = match level.as_str() {
                "info" => Level::Info,
                "warn" => Level::Warn,
                "error" => Level::Error,
                _ => Level::Log,
            };
            let mut message = text;
            if message.len() > MAX_LOG_LINE {
                let mut cut = MAX_LOG_LINE;
                while !message.is_char_boundary(cut) {
                    cut -= 1;
                }
                message.truncate(cut);
                message.push('…');
            }
            logs.push(LogLine { level, message });
        }),
    )?;
    g.set(
        "__yq_host",
        Func::from(Async(move |op: String, args: String| {
            let host = host.clone();
            async move {
                let Some((host, server)) = host else {
                    return Ok::<_, rquickjs::Error>(
                        json!({"error": {"code": "INVALID_ARGUMENT", "message": "no host calls while a module loads", "status": 400}}).to_string(),
                    );
                };
                let answer = server
                    .spawn(async move {
                        let args = serde_json::from_str(&args).unwrap_or(Value::Null);
                        host.call(&op, args).await
                    })
                    .await;
                Ok(match answer {
                    Ok(Ok(v)) => json!({ "ok": v }).to_string(),
                    Ok(Err(e)) => json!({"error": {
                        "code": e.code_str(), "message": e.message,
                        "status": e.status(), "details": e.details,
                    }})
                    .to_string(),
                    Err(_) => json!({"error": {"code": "INTERNAL", "message": "the host call failed", "status": 500}}).to_string(),
                })
            }
        })),
    )?;
    Ok(())
}

async fn run(
    job: Job,
    host: Arc<dyn Host>,
    server: tokio::runtime::Handle,
    cache: &CodeCache,
) -> Outcome {
    let deadline = Instant::now() + job.limits.timeout;
    let key = CodeKey::of(&job);
    // Held until the runtime is gone: loaded bytecode is read in place.
    let code = cache.get(&key);
    let logs = Rc::new(RefCell::new(Vec::new()));
    let r = match runtime(job.limits, deadline).await {
        Ok(r) => r,
        Err(e) => {
            return Outcome {
                result: Err(Failure::Exception {
                    message: format!("cannot start the sandbox: {e}"),
                    stack: String::new(),
                }),
                logs: Vec::new(),
            };
        }
    };
    let args = Value::Array(job.args).to_string();
    let fut = r.ctx.async_with(async |ctx| {
        install(&ctx, job.context, Some((host, server)), logs.clone())
            .map_err(|e| explain(&ctx, e))?;
        let (m, written) = load_app(&ctx, &job.source, code.as_deref().map(Vec::as_slice)).await?;
        if let Some(w) = written {
            cache.put(key.clone(), Arc::new(w));
        }
        let f: JsValue = m
            .namespace()
            .and_then(|ns: Object| ns.get(job.export.as_str()))
            .map_err(|e| explain(&ctx, e))?;
        if !f.is_function() {
            return Err(Failure::Invalid(format!(
                "the module exports no function {:?}",
                job.export
            )));
        }
        let invoke: Function = ctx
            .globals()
            .get("__yq_invoke")
            .map_err(|e| explain(&ctx, e))?;
        let p: Promise = invoke.call((f, args)).map_err(|e| explain(&ctx, e))?;
        let answer: String = p.into_future().await.map_err(|e| explain(&ctx, e))?;
        settle(&answer)
    });
    let out = tokio::time::timeout_at(deadline.into(), fut).await;
    let interrupted = r.interrupted.load(Ordering::Relaxed);
    drop(r.ctx);
    drop(r.rt);
    let result = match out {
        Err(_) => Err(Failure::Timeout),
        Ok(_) if interrupted => Err(Failure::Timeout),
        Ok(r) => r,
    };
    let logs = Rc::try_unwrap(logs)
        .map(RefCell::into_inner)
        .unwrap_or_else(|l| l.borrow().clone());
    Outcome { result, logs }
}

/// Reads the glue's answer: `{"ok": v}` or `{"err": {kind, name, message, …}}`.
fn settle(answer: &str) -> Result<Value, Failure> {
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

/// What a failed QuickJS call means.
fn explain(ctx: &Ctx<'_>, e: rquickjs::Error) -> Failure {
    match e {
        rquickjs::Error::Allocation => Failure::OutOfMemory,
        rquickjs::Error::Exception => match Err::<(), _>(e).catch(ctx) {
            Err(CaughtError::Exception(ex)) => classify(
                "",
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
                classify("", &format!("uncaught {}", v.type_name()), String::new())
            }
            Err(CaughtError::Error(e)) => classify("", &e.to_string(), String::new()),
            Ok(()) => classify("", "unknown error", String::new()),
        },
        e => classify("", &e.to_string(), String::new()),
    }
}

/// A module that does not load is the deployer's error, not a crash.
fn invalid(ctx: &Ctx<'_>, e: rquickjs::Error) -> Failure {
    match explain(ctx, e) {
        Failure::Exception { message, .. } => Failure::Invalid(message),
        f => f,
    }
}

#[cfg(test)]
mod tests;
