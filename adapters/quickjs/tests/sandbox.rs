use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Value, json};
use yunqiao_core::functions::sandbox::{Failure, Host, Job, Limits, Sandbox};

use yunqiao_quickjs::{QuickJs, WorkerProgram};

fn sandbox(workers: usize) -> QuickJs {
    QuickJs::new(
        workers,
        WorkerProgram(env!("CARGO_BIN_EXE_yunqiao-sandbox-worker").into()),
    )
}

struct Echo;

#[async_trait]
impl Host for Echo {
    async fn call(&self, op: &str, args: Value) -> Result<Value, yunqiao_core::Error> {
        match op {
            "db.get" => {
                Ok(json!({"_id": args["id"], "table": args["table"], "admin": args["admin"]}))
            }
            _ => Err(yunqiao_core::Error::not_found("nothing here")),
        }
    }
}

fn limits() -> Limits {
    Limits {
        timeout: Duration::from_millis(1500),
        memory_bytes: 32 * 1024 * 1024,
        stack_bytes: 512 * 1024,
    }
}

fn job(source: &str, export: &str, args: Vec<Value>) -> Job {
    Job {
        module: "m".into(),
        version: 1,
        source: Arc::from(source),
        export: export.into(),
        args,
        context: json!({"caller": {"kind": "anonymous"}}),
        limits: limits(),
        source_hash: {
            use std::hash::{Hash, Hasher};
            let mut h = std::collections::hash_map::DefaultHasher::new();
            source.hash(&mut h);
            h.finish()
        },
        instance: None,
        nested: false,
    }
}

async fn run(sb: &QuickJs, source: &str, export: &str, args: Vec<Value>) -> Result<Value, Failure> {
    sb.run(job(source, export, args), Arc::new(Echo))
        .await
        .result
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_limits_and_errors() {
    let sb = sandbox(2);
    let r = run(
        &sb,
        "export async function add(a, b) { return a + b }",
        "add",
        vec![json!(2), json!(3)],
    )
    .await;
    assert_eq!(r.unwrap(), json!(5));

    let src = r#"import { db, context } from "yunqiao";
        export async function get(id) { const r = await db.table("t").get(id); return { r, kind: context.caller.kind } }
        export async function admin(id) { return db.admin().table("t").get(id) }
        export async function missing() { return db.table("t").remove("x") }"#;
    assert_eq!(
        run(&sb, src, "get", vec![json!("a1")]).await.unwrap(),
        json!({"r": {"_id": "a1", "table": "t", "admin": false}, "kind": "anonymous"})
    );
    assert_eq!(
        run(&sb, src, "admin", vec![json!("a1")]).await.unwrap()["admin"],
        json!(true)
    );
    match run(&sb, src, "missing", vec![]).await {
        Err(Failure::Host(e)) => assert_eq!(e.code_str(), "NOT_FOUND"),
        r => panic!("{r:?}"),
    }

    let src = r#"export async function no() { throw new FunctionError("ROOM_FULL", "the room is full", 409) }
        export async function boom() { null.x }
        export async function spin() { for (;;) {} }
        export async function bomb() { const a = []; for (;;) a.push("x".repeat(1 << 20) + a.length) }
        export async function deep() { const f = (n) => f(n + 1) + 1; return f(0) }
        export async function huge() { return "x".repeat(2 * 1024 * 1024) }
        export async function logs() { console.log("hi", {a: 1}); console.error("bad"); return 1 }"#;
    match run(&sb, src, "no", vec![]).await {
        Err(Failure::Refused { code, status, .. }) => {
            assert_eq!((code.as_str(), status), ("ROOM_FULL", 409))
        }
        r => panic!("{r:?}"),
    }
    assert!(matches!(
        run(&sb, src, "boom", vec![]).await,
        Err(Failure::Exception { .. })
    ));
    assert!(matches!(
        run(&sb, src, "spin", vec![]).await,
        Err(Failure::Timeout)
    ));
    assert!(
        matches!(
            run(&sb, src, "bomb", vec![]).await,
            Err(Failure::OutOfMemory)
        ),
        "memory"
    );
    assert!(
        matches!(
            run(&sb, src, "deep", vec![]).await,
            Err(Failure::StackOverflow)
        ),
        "stack"
    );
    assert!(matches!(
        run(&sb, src, "huge", vec![]).await,
        Err(Failure::ResultTooLarge { .. })
    ));
    let out = sb.run(job(src, "logs", vec![]), Arc::new(Echo)).await;
    assert_eq!(out.logs.len(), 2);
    assert_eq!(out.logs[0].message, r#"hi {"a":1}"#);
    // The sandbox still serves after all that.
    assert_eq!(run(&sb, src, "logs", vec![]).await.unwrap(), json!(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exports_and_refused_imports() {
    let sb = sandbox(1);
    let names = sb
        .exports(
            Arc::from("export async function a() {}\nexport function b() {}\nexport const c = 1"),
            limits(),
        )
        .await
        .unwrap();
    assert_eq!(names, vec!["a", "b"]);
    let e = sb
        .exports(Arc::from("export async function a( {"), limits())
        .await
        .unwrap_err();
    assert!(e.contains("SyntaxError"), "{e}");
    let e = sb
        .exports(
            Arc::from("import fs from 'fs'; export function a() {}"),
            limits(),
        )
        .await
        .unwrap_err();
    assert!(e.contains("only \"yunqiao\""), "{e}");
    // No filesystem, no network, no process: none of those globals exist.
    let r = run(&sb, "export function g() { return [typeof require, typeof process, typeof fetch, typeof std, typeof os] }", "g", vec![]).await;
    assert_eq!(
        r.unwrap(),
        json!([
            "undefined",
            "undefined",
            "undefined",
            "undefined",
            "undefined"
        ])
    );
}

/// Counts host calls and keeps the last arguments of each operation.
#[derive(Default)]
struct Recorder {
    calls: std::sync::atomic::AtomicUsize,
    last: std::sync::Mutex<std::collections::HashMap<String, Value>>,
    delay: Duration,
}

#[async_trait]
impl Host for Recorder {
    async fn call(&self, op: &str, args: Value) -> Result<Value, yunqiao_core::Error> {
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
        self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.last
            .lock()
            .unwrap()
            .insert(op.to_string(), args.clone());
        Ok(json!({"status": 200, "headers": {}, "body": "{}"}))
    }
}

fn job_with(source: &str, export: &str, timeout_ms: u64, instance: Option<&str>) -> Job {
    let mut j = job(source, export, vec![]);
    j.limits.timeout = Duration::from_millis(timeout_ms);
    j.instance = instance.map(str::to_string);
    j
}

/// Native loops inside QuickJS never consult the interrupt handler: the worker is
/// killed at its deadline plus a grace, and the pool goes on serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn native_loops_end_at_the_deadline_and_the_pool_recovers() {
    let sb = sandbox(1);
    let src = r#"
        export function sparse() { return new Array(1e9).join("").length }
        export function chain() {
            let o = [];
            for (let i = 0; i < 20000; i++) o = Object.create(o);
            const a = new Array(5e7); Object.setPrototypeOf(a, o);
            return a.join("").length
        }
        export function bigint() { return (7n ** 3000000n).toString().length }
        export function ok() { return 1 }"#;
    for export in ["sparse", "chain", "bigint"] {
        let t0 = std::time::Instant::now();
        let out = sb
            .run(job_with(src, export, 100, None), Arc::new(Echo))
            .await;
        let took = t0.elapsed();
        assert!(
            matches!(out.result, Err(Failure::Timeout)),
            "{export}: {:?}",
            out.result
        );
        // Not a timing assertion on speed: a bound on a stuck call (the old sandbox ran
        // these for 5 s to over a minute).
        assert!(took < Duration::from_secs(4), "{export} took {took:?}");
        let again = sb
            .run(job_with(src, "ok", 2000, None), Arc::new(Echo))
            .await;
        assert_eq!(again.result.unwrap(), json!(1), "after {export}");
    }
    assert!(sb.killed() >= 1, "a stuck worker was killed");
    assert!(
        sb.worker_pids().len() <= 1,
        "the pool never grows past its size"
    );
}

/// The same caller's calls may share one evaluated module; another caller's and an
/// anonymous call never do.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_are_per_caller() {
    let sb = sandbox(1);
    let src = "let n = 0; export function count() { n += 1; return n }";
    let r = |k: Option<&'static str>| {
        let sb = &sb;
        async move {
            sb.run(job_with(src, "count", 2000, k), Arc::new(Echo))
                .await
                .result
                .unwrap()
        }
    };
    assert_eq!(r(Some("user:a")).await, json!(1));
    assert_eq!(r(Some("user:a")).await, json!(2));
    assert_eq!(
        r(Some("user:b")).await,
        json!(1),
        "bob never sees alice's state"
    );
    assert_eq!(r(None).await, json!(1));
    assert_eq!(r(None).await, json!(1), "anonymous calls start fresh");
    assert_eq!(r(Some("user:a")).await, json!(3));
    // A failed run is not kept: its state may be half-changed.
    let bad =
        "let n = 0; export function f(fail) { n += 1; if (fail) throw new Error('x'); return n }";
    let mut j = job_with(bad, "f", 2000, Some("user:a"));
    j.args = vec![json!(false)];
    assert_eq!(
        sb.run(j.clone(), Arc::new(Echo)).await.result.unwrap(),
        json!(1)
    );
    j.args = vec![json!(true)];
    assert!(sb.run(j.clone(), Arc::new(Echo)).await.result.is_err());
    j.args = vec![json!(false)];
    assert_eq!(sb.run(j, Arc::new(Echo)).await.result.unwrap(), json!(1));
}

/// A module that pollutes prototypes cannot change what a host call sends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polluted_prototypes_change_no_host_call() {
    let sb = sandbox(1);
    let src = r#"import { http, db } from "yunqiao";
        try { globalThis.__yq_invoke = async () => '{"ok":"forged"}' } catch {}
        function merge(t, s) { for (const k of Object.keys(s)) { if (typeof s[k] === "object") { t[k] ??= {}; merge(t[k], s[k]) } else t[k] = s[k] } return t }
        export async function go(input) {
            merge({}, JSON.parse(input));
            Object.prototype.toJSON = function () { return { hacked: true } };
            Array.prototype[Symbol.iterator] = function* () { yield "hacked" };
            JSON.stringify = () => '{"url":"http://evil/"}';
            await http.fetch("https://api.example.com/x");
            await db.table("t").get("id1");
            return "done"
        }"#;
    let rec = Arc::new(Recorder::default());
    let mut j = job_with(src, "go", 3000, None);
    j.args = vec![json!(
        r#"{"__proto__": {"method": "DELETE", "headers": {"authorization": "Bearer evil"}, "body": "x", "admin": true, "expand": ["secret"]}}"#
    )];
    let out = sb.run(j, rec.clone()).await;
    assert_eq!(out.result.unwrap(), json!("done"));
    let last = rec.last.lock().unwrap().clone();
    assert_eq!(
        last["http.fetch"],
        json!({"url": "https://api.example.com/x", "method": "GET", "headers": {}, "body": null, "body_base64": null})
    );
    assert_eq!(
        last["db.get"],
        json!({"admin": false, "table": "t", "id": "id1", "expand": []})
    );
}

/// Host calls a function started but did not await: once the call has ended (here at
/// its deadline) none starts, and none lands after the answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_lands_after_the_deadline() {
    let sb = sandbox(1);
    let src = r#"import { db } from "yunqiao";
        export function flood() { for (let i = 0; i < 3000; i++) db.table("t").create({ i }); for (;;) {} }"#;
    let rec = Arc::new(Recorder {
        delay: Duration::from_millis(5),
        ..Default::default()
    });
    let out = sb.run(job_with(src, "flood", 300, None), rec.clone()).await;
    assert!(
        matches!(out.result, Err(Failure::Timeout)),
        "{:?}",
        out.result
    );
    let at_answer = rec.calls.load(std::sync::atomic::Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let later = rec.calls.load(std::sync::atomic::Ordering::SeqCst);
    assert_eq!(at_answer, later, "no host call ran after the answer");
    assert!(at_answer < 3000);
}

/// What a call holds in the server counts against its memory: huge un-awaited fetches
/// are refused, and a call whose pending host calls pass its share ends out of memory.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_side_memory_counts_against_the_limit() {
    let sb = sandbox(1);
    let src = r#"import { http } from "yunqiao";
        export async function big() {
            const body = "x".repeat(16 * 1024 * 1024);
            const rs = await Promise.allSettled([http.fetch("https://a.example.com/", { method: "POST", body })]);
            return rs[0].reason?.code ?? String(rs[0].reason)
        }
        export async function many() {
            const body = "y".repeat(1024 * 1024);
            const ps = [];
            for (let i = 0; i < 40; i++) ps.push(http.fetch("https://a.example.com/", { method: "POST", body }));
            await Promise.all(ps);
            return "all sent"
        }"#;
    // Slow answers, so the calls pile up in the server.
    let rec = Arc::new(Recorder {
        delay: Duration::from_secs(10),
        ..Default::default()
    });
    let mut j = job_with(src, "big", 20_000, None);
    // With 64 MB, building the 16 MiB body's JSON runs the heap out; with more, the
    // worker refuses the host call. The server never holds it either way.
    j.limits.memory_bytes = 64 * 1024 * 1024;
    let out = sb.run(j.clone(), rec.clone()).await;
    assert!(
        matches!(&out.result, Err(Failure::OutOfMemory))
            || out
                .result
                .as_ref()
                .is_ok_and(|v| v.as_str().is_some_and(|s| s.contains("out of memory"))),
        "{:?}",
        out.result
    );
    j.limits.memory_bytes = 256 * 1024 * 1024;
    let out = sb.run(j.clone(), rec.clone()).await;
    assert_eq!(out.result.unwrap(), json!("BODY_TOO_LARGE"));
    assert_eq!(rec.calls.load(std::sync::atomic::Ordering::SeqCst), 0);
    j.limits.memory_bytes = 64 * 1024 * 1024;
    j.export = "many".into();
    let out = sb.run(j, rec.clone()).await;
    // Either the server's count of what the calls hold, or the worker's own bound on
    // frames the server has not read yet, stops it first: FUNCTION_OUT_OF_MEMORY both ways.
    assert!(
        matches!(&out.result, Err(Failure::OutOfMemory))
            || matches!(&out.result, Err(Failure::Host(e)) if e.code == yunqiao_core::Code::FunctionOutOfMemory),
        "{:?}",
        out.result
    );
}

/// A caller that goes away stops its call: the worker is free for the next one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gone_caller_frees_the_worker() {
    let sb = Arc::new(sandbox(1));
    let src = r#"import { db } from "yunqiao";
        export async function slow() { for (;;) await db.table("t").get("x") }
        export function ok() { return 2 }"#;
    let rec = Arc::new(Recorder {
        delay: Duration::from_millis(20),
        ..Default::default()
    });
    let s2 = sb.clone();
    let r2 = rec.clone();
    let h = tokio::spawn(async move { s2.run(job_with(src, "slow", 20_000, None), r2).await });
    while rec.calls.load(std::sync::atomic::Ordering::SeqCst) < 2 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    h.abort();
    let _ = h.await;
    // With one worker, this call runs only once the abandoned one has stopped.
    let out = sb
        .run(job_with(src, "ok", 20_000, None), Arc::new(Echo))
        .await;
    assert_eq!(out.result.unwrap(), json!(2));
    let n = rec.calls.load(std::sync::atomic::Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(rec.calls.load(std::sync::atomic::Ordering::SeqCst), n);
}
