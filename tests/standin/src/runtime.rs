//! The Lambda runtime API, one endpoint per function, with sandboxes (processes) started
//! on demand and reused.

use std::collections::HashMap;
use std::path::Path;
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tokio::process::{Child, Command};
use tokio::sync::{mpsc, oneshot};

use crate::{BoxError, FunctionSpec};

/// A function's timeout, from the moment a sandbox takes the invocation (API Gateway
/// gives up at 30 s).
pub const FUNCTION_TIMEOUT: Duration = Duration::from_secs(30);

/// The timeout the stand-in applies: [`FUNCTION_TIMEOUT`], unless
/// `YUNQIAO_STANDIN_FUNCTION_TIMEOUT_SECS` says otherwise — tests on a busy machine over
/// single-threaded emulators check behaviour, not API Gateway's deadline.
pub fn function_timeout() -> Duration {
    std::env::var("YUNQIAO_STANDIN_FUNCTION_TIMEOUT_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .map_or(FUNCTION_TIMEOUT, Duration::from_secs)
}
/// How long an invocation may wait for a free sandbox. Lambda would start another one;
/// here sandboxes are capped, and the emulator behind them is slower than DynamoDB.
const QUEUE_TIMEOUT: Duration = Duration::from_secs(120);

/// What a function answered.
#[derive(Debug)]
pub enum Outcome {
    Response(Bytes),
    /// The function reported an error (or died, or timed out).
    Error(String),
}

struct Invocation {
    id: String,
    event: Vec<u8>,
    reply: oneshot::Sender<Outcome>,
}

struct Function {
    spec: FunctionSpec,
    runtime_api: String,
    queue: mpsc::UnboundedSender<Invocation>,
    next: tokio::sync::Mutex<mpsc::UnboundedReceiver<Invocation>>,
    pending: Mutex<HashMap<String, oneshot::Sender<Outcome>>>,
    /// Sandboxes waiting in `/next`.
    idle: AtomicUsize,
    started: AtomicUsize,
    children: Mutex<Vec<Child>>,
}

pub struct Functions {
    by_name: HashMap<String, Arc<Function>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Functions {
    pub async fn start(specs: HashMap<String, FunctionSpec>) -> Result<Functions, BoxError> {
        let mut by_name = HashMap::new();
        let mut tasks = Vec::new();
        for (name, spec) in specs {
            if !spec.exe.exists() {
                return Err(format!(
                    "function {name}: {} does not exist (build it: cargo build -p yunqiao-lambda)",
                    spec.exe.display()
                )
                .into());
            }
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
            let (tx, rx) = mpsc::unbounded_channel();
            let f = Arc::new(Function {
                spec,
                runtime_api: listener.local_addr()?.to_string(),
                queue: tx,
                next: tokio::sync::Mutex::new(rx),
                pending: Mutex::new(HashMap::new()),
                idle: AtomicUsize::new(0),
                started: AtomicUsize::new(0),
                children: Mutex::new(Vec::new()),
            });
            let app = runtime_router(f.clone());
            tasks.push(tokio::spawn(async move {
                let _ = axum::serve(listener, app).await;
            }));
            by_name.insert(name, f);
        }
        Ok(Functions { by_name, tasks })
    }

    pub fn sandboxes(&self, name: &str) -> usize {
        self.by_name
            .get(name)
            .map_or(0, |f| f.started.load(Ordering::SeqCst))
    }

    /// Invokes a function with an event and waits for its answer.
    pub async fn invoke(&self, name: &str, event: Vec<u8>) -> Outcome {
        let Some(f) = self.by_name.get(name) else {
            return Outcome::Error(format!("no function {name}"));
        };
        if f.idle.load(Ordering::SeqCst) == 0 {
            f.scale_up();
        }
        let (reply, answer) = oneshot::channel();
        let inv = Invocation {
            id: request_id(),
            event,
            reply,
        };
        if f.queue.send(inv).is_err() {
            return Outcome::Error("function queue closed".into());
        }
        match tokio::time::timeout(QUEUE_TIMEOUT + function_timeout(), answer).await {
            Ok(Ok(o)) => o,
            Ok(Err(_)) => Outcome::Error("the sandbox went away".into()),
            Err(_) => Outcome::Error("timed out".into()),
        }
    }

    pub fn kill_all(&self) {
        for t in &self.tasks {
            t.abort();
        }
        for f in self.by_name.values() {
            if let Ok(mut cs) = f.children.lock() {
                for c in cs.iter_mut() {
                    let _ = c.start_kill();
                }
            }
        }
    }
}

impl Drop for Functions {
    fn drop(&mut self) {
        self.kill_all();
    }
}

impl Function {
    /// Starts one more sandbox unless the limit is reached.
    fn scale_up(&self) {
        let n = self.started.fetch_add(1, Ordering::SeqCst);
        if n >= self.spec.max_sandboxes.max(1) {
            self.started.fetch_sub(1, Ordering::SeqCst);
            return;
        }
        match spawn_sandbox(
            &self.spec.exe,
            &self.spec.name,
            &self.runtime_api,
            &self.spec.env,
            n,
        ) {
            Ok(child) => {
                if let Ok(mut cs) = self.children.lock() {
                    cs.push(child);
                }
            }
            Err(e) => {
                self.started.fetch_sub(1, Ordering::SeqCst);
                eprintln!("standin: cannot start {}: {e}", self.spec.name);
            }
        }
    }
}

fn request_id() -> String {
    let r: u128 = rand::random();
    let h = format!("{r:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

/// The environment Lambda gives every function, plus the function's own.
fn spawn_sandbox(
    exe: &Path,
    name: &str,
    runtime_api: &str,
    env: &[(String, String)],
    n: usize,
) -> std::io::Result<Child> {
    let mut cmd = Command::new(exe);
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("AWS_LAMBDA_RUNTIME_API", runtime_api)
        .env("AWS_LAMBDA_FUNCTION_NAME", name)
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}"))
        .env("AWS_LAMBDA_LOG_STREAM_NAME", format!("standin/{n}"))
        .env("AWS_EXECUTION_ENV", "AWS_Lambda_rust")
        .env("LAMBDA_TASK_ROOT", "/var/task")
        .env("TZ", ":UTC")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.spawn()
}

fn runtime_router(f: Arc<Function>) -> Router {
    Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next))
        .route(
            "/2018-06-01/runtime/invocation/{id}/response",
            post(response),
        )
        .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
        .route("/2018-06-01/runtime/init/error", post(init_error))
        .with_state(f)
}

/// Counts a sandbox as idle while it waits in `/next`, even if its connection drops.
struct Idle<'a>(&'a AtomicUsize);

impl Drop for Idle<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn next(State(f): State<Arc<Function>>) -> Response {
    f.idle.fetch_add(1, Ordering::SeqCst);
    let idle = Idle(&f.idle);
    let inv = {
        let mut rx = f.next.lock().await;
        rx.recv().await
    };
    drop(idle);
    let Some(inv) = inv else {
        return StatusCode::GONE.into_response();
    };
    if let Ok(mut p) = f.pending.lock() {
        p.insert(inv.id.clone(), inv.reply);
    }
    let timer = f.clone();
    let id = inv.id.clone();
    tokio::spawn(async move {
        tokio::time::sleep(function_timeout()).await;
        finish(&timer, &id, Outcome::Error("Task timed out".into()));
    });
    let deadline = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        + function_timeout();
    let mut h = HeaderMap::new();
    let mut set = |k: &'static str, v: String| {
        if let Ok(v) = HeaderValue::from_str(&v) {
            h.insert(k, v);
        }
    };
    set("lambda-runtime-aws-request-id", inv.id.clone());
    set(
        "lambda-runtime-deadline-ms",
        deadline.as_millis().to_string(),
    );
    set(
        "lambda-runtime-invoked-function-arn",
        format!(
            "arn:aws:lambda:us-east-1:123456789012:function:{}",
            f.spec.name
        ),
    );
    set(
        "lambda-runtime-trace-id",
        format!("Root=1-{}", &inv.id[..8]),
    );
    set("content-type", "application/json".into());
    (StatusCode::OK, h, inv.event).into_response()
}

fn finish(f: &Function, id: &str, o: Outcome) -> StatusCode {
    let tx = f.pending.lock().ok().and_then(|mut p| p.remove(id));
    match tx {
        Some(tx) => {
            let _ = tx.send(o);
            StatusCode::ACCEPTED
        }
        None => StatusCode::BAD_REQUEST,
    }
}

async fn response(
    State(f): State<Arc<Function>>,
    UrlPath(id): UrlPath<String>,
    body: Bytes,
) -> StatusCode {
    finish(&f, &id, Outcome::Response(body))
}

async fn error(
    State(f): State<Arc<Function>>,
    UrlPath(id): UrlPath<String>,
    body: Bytes,
) -> StatusCode {
    finish(
        &f,
        &id,
        Outcome::Error(String::from_utf8_lossy(&body).into_owned()),
    )
}

async fn init_error(State(f): State<Arc<Function>>, body: Bytes) -> StatusCode {
    eprintln!(
        "standin: {} failed to initialize: {}",
        f.spec.name,
        String::from_utf8_lossy(&body)
    );
    StatusCode::ACCEPTED
}

/// Starts `exe` as a sandbox against a runtime API that only notes the first poll, and
/// answers how long that took from process start: a function's local cold start.
pub async fn time_to_first_poll(
    exe: &Path,
    env: &[(String, String)],
) -> Result<Duration, BoxError> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?.to_string();
    let (tx, rx) = oneshot::channel::<Instant>();
    let tx = Arc::new(Mutex::new(Some(tx)));
    let app = Router::new().route(
        "/2018-06-01/runtime/invocation/next",
        get(move || {
            let tx = tx.clone();
            async move {
                let now = Instant::now();
                if let Some(tx) = tx.lock().ok().and_then(|mut t| t.take()) {
                    let _ = tx.send(now);
                }
                std::future::pending::<()>().await;
                StatusCode::OK
            }
        }),
    );
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let start = Instant::now();
    let mut child = spawn_sandbox(exe, "bench", &addr, env, 0)?;
    let polled = tokio::select! {
        at = tokio::time::timeout(Duration::from_secs(20), rx) => at.ok().and_then(Result::ok),
        status = child.wait() => {
            server.abort();
            return Err(format!("{} exited during init ({status:?})", exe.display()).into());
        }
    };
    let _ = child.start_kill();
    let _ = child.wait().await;
    server.abort();
    match polled {
        Some(at) => Ok(at.duration_since(start)),
        None => Err(format!("{} never polled the runtime API", exe.display()).into()),
    }
}
