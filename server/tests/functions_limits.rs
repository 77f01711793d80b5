//! Cloud functions against an attacker, on every face where the case applies: native
//! loops that ignore the interrupt handler, floods of slow calls, memory outside the
//! JavaScript heap, work that outlives its deadline, secrets in every encoding, and
//! polluted prototypes.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{ADMIN_KEY, Answer, Api, Server};
use serde_json::{Value, json};

const SECRET: &str = "sk-live-Ab3\"q\\zZ9";
const PRIVATE_HOSTS: (&str, &str) = ("YUNQIAO_FUNCTIONS_ALLOW_PRIVATE_HOSTS", "1");

fn secrets_json() -> String {
    json!({ "PAYMENT_KEY": SECRET }).to_string()
}

macro_rules! server_faces {
    ($($name:ident),* $(,)?) => {
        mod embedded { $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                super::$name(super::Server::start_with(&[("YUNQIAO_SECRET_PAYMENT_KEY", super::SECRET), super::PRIVATE_HOSTS]).await).await
            }
        )* }
        mod dynamodb { $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                if !super::common::emulators_for("DynamoDB") {
                    return;
                }
                super::$name(super::Server::start_dynamodb_with(&[("YUNQIAO_SECRET_PAYMENT_KEY", super::SECRET), super::PRIVATE_HOSTS]).await).await
            }
        )* }
    };
}

macro_rules! lambda_face {
    ($($name:ident),* $(,)?) => {
        mod lambda { $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                if !super::common::emulators_for("Lambda") {
                    return;
                }
                super::$name(super::Server::start_lambda_with(&[("YUNQIAO_SECRETS_JSON", &super::secrets_json()), super::PRIVATE_HOSTS]).await).await
            }
        )* }
    };
}

server_faces!(
    native_loops_end_at_their_deadline_and_leave_the_pool_usable,
    nothing_lands_after_the_deadline,
    secrets_never_leave_in_any_encoding,
    a_polluted_prototype_changes_no_host_call,
    hooked_writes_are_not_starved_by_slow_calls,
    a_flood_from_one_caller_leaves_others_served_and_gone_callers_cost_nothing,
);

// On AWS each sandbox serves one request at a time and a flood of slow calls meets
// Lambda's own concurrency; the rest applies as it is.
lambda_face!(
    native_loops_end_at_their_deadline_and_leave_the_pool_usable,
    nothing_lands_after_the_deadline,
    secrets_never_leave_in_any_encoding,
    a_polluted_prototype_changes_no_host_call,
    hooked_writes_are_not_starved_by_slow_calls,
);

async fn deploy(api: &Api, module: &str, body: Value) -> Answer {
    let r = api.deploy(module, body).await;
    assert!(r.status == 200 || r.status == 201, "{}", r.text);
    r
}

const NATIVE: &str = r#"
export function sparse() { return new Array(1e9).join("").length }
export function chain() {
    let o = [];
    for (let i = 0; i < 20000; i++) o = Object.create(o);
    const a = new Array(5e7); Object.setPrototypeOf(a, o);
    return a.join("").length
}
export function bigint() { return (7n ** 3000000n).toString().length }
export function ping() { return "pong" }
"#;

/// `Array.prototype.join` over a huge sparse array (or one with a deep prototype chain)
/// and a huge BigInt's `toString` never reach QuickJS's interrupt check: the worker is
/// killed at the deadline and replaced, and everyone else is served.
async fn native_loops_end_at_their_deadline_and_leave_the_pool_usable(s: Server) {
    let api = Api::new(&s.base);
    let (alice, _) = api.login("mock:alice").await;
    deploy(
        &api,
        "native",
        json!({"source": NATIVE, "timeout_ms": 100, "access": "anyone"}),
    )
    .await;
    let mut calls = Vec::new();
    for export in ["sparse", "chain", "bigint", "sparse", "chain", "bigint"] {
        let api = api.clone();
        let alice = alice.clone();
        calls.push(tokio::spawn(async move {
            let t0 = Instant::now();
            let r = api.call_fn(Some(&alice), "native", export, json!([])).await;
            (export, r, t0.elapsed())
        }));
    }
    for c in calls {
        let (export, r, took) = c.await.unwrap();
        // Its own deadline, or (waiting behind the others for a worker) refused as busy.
        assert!(
            matches!(
                (r.status, r.code()),
                (504, "FUNCTION_TIMEOUT") | (429, "FUNCTION_BUSY")
            ),
            "{export}: {}",
            r.text
        );
        // A bound, not a speed: these ran from 5 s to over a minute before.
        assert!(took < Duration::from_secs(20), "{export} took {took:?}");
    }
    let r = api.call_fn(Some(&alice), "native", "ping", json!([])).await;
    assert_eq!(r.body["result"], "pong", "{}", r.text);
    if let Some(child) = &s.child {
        let workers = children_of(child.id().unwrap());
        assert!(
            workers.len() <= 8,
            "the pool never grows past functions.workers: {workers:?}"
        );
    }
}

fn children_of(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for e in dir.flatten() {
            let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
                continue;
            };
            let Some(close) = stat.rfind(')') else {
                continue;
            };
            let ppid: Option<u32> = stat[close + 2..]
                .split_whitespace()
                .nth(1)
                .and_then(|p| p.parse().ok());
            if ppid == Some(pid)
                && let Ok(p) = e.file_name().to_string_lossy().parse()
            {
                out.push(p);
            }
        }
    }
    out
}

/// Writes a function started without awaiting them: when the call times out, none
/// starts any more, so the table does not change after the answer.
async fn nothing_lands_after_the_deadline(s: Server) {
    let api = Api::new(&s.base);
    let r = api
        .call(
            "PUT",
            "/v1/tables/rows",
            Some(ADMIN_KEY),
            Some(
                json!({"fields": [{"name": "i", "type": "number"}], "acl": {"record": "rwd:r:r"}}),
            ),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let src = r#"import { db } from "yunqiao";
        export function flood() { for (let i = 0; i < 3000; i++) db.admin().table("rows").create({ i }); for (;;) {} }"#;
    deploy(
        &api,
        "flood",
        json!({"source": src, "timeout_ms": 300, "access": "admins"}),
    )
    .await;
    let r = api
        .call_fn(Some(ADMIN_KEY), "flood", "flood", json!([]))
        .await;
    assert_eq!(
        (r.status, r.code()),
        (504, "FUNCTION_TIMEOUT"),
        "{}",
        r.text
    );
    let at_answer = count(&api, "rows").await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let later = count(&api, "rows").await;
    assert_eq!(at_answer, later, "rows landed after the answer");
    assert!(later < 3000, "{later}");
}

async fn count(api: &Api, table: &str) -> usize {
    let mut n = 0;
    let mut cursor: Option<String> = None;
    loop {
        let mut q = json!({"limit": 100});
        if let Some(c) = &cursor {
            q["cursor"] = json!(c);
        }
        let r = api
            .call(
                "POST",
                &format!("/v1/tables/{table}/query"),
                Some(ADMIN_KEY),
                Some(q),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        n += r.body["items"].as_array().map_or(0, Vec::len);
        match r.body["cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => return n,
        }
    }
}

/// A secret with a quote and a backslash in it, escaped four ways: as a store error
/// quotes it, inside a logged object, at the end of an overlong log line, and in a
/// `FunctionError`'s details. No answer and no function log holds it in any form.
async fn secrets_never_leave_in_any_encoding(s: Server) {
    let api = Api::new(&s.base);
    let (alice, _) = api.login("mock:alice").await;
    let src = r#"import { secrets, db, FunctionError } from "yunqiao";
        const key = () => secrets.get("PAYMENT_KEY");
        export async function storeError() { return db.table(await key()).get("x") }
        export async function storeErrorCaught() {
            try { await db.table(await key()).get("x") } catch (e) { console.log(e.message); return e.message }
        }
        export async function inObject() { console.log({ nested: { key: await key() } }); console.log(JSON.stringify({ k: JSON.stringify({ k: await key() }) })); return "ok" }
        export async function longLine() { console.log("x".repeat(1995) + await key()); return "ok" }
        export async function inDetails() { throw new FunctionError("BAD", "bad", 400, { key: await key(), list: [await key()] }) }
        export async function asResult() { return { k: await key() } }
        export async function topLevelStyle() { throw new TypeError("boom " + await key()) }"#;
    deploy(
        &api,
        "leaky",
        json!({"source": src, "secrets": ["PAYMENT_KEY"]}),
    )
    .await;
    let forms = yunqiao_core::functions::redact::forms(SECRET);
    let mut texts = Vec::new();
    for export in [
        "storeError",
        "storeErrorCaught",
        "inObject",
        "longLine",
        "inDetails",
        "asResult",
        "topLevelStyle",
    ] {
        let r = api.call_fn(Some(&alice), "leaky", export, json!([])).await;
        texts.push((export.to_string(), r.text));
    }
    // A module whose top level throws is FUNCTION_FAILED with a request id, not its
    // message.
    let r = deploy(
        &api,
        "toplevel",
        json!({"source": "import { context } from 'yunqiao'; if (context.trigger === 'call') throw new Error('top ' + 'level'); export function f() { return 1 }"}),
    )
    .await;
    assert!(r.status < 300);
    let r = api.call_fn(Some(&alice), "toplevel", "f", json!([])).await;
    assert_eq!((r.status, r.code()), (500, "FUNCTION_FAILED"), "{}", r.text);
    assert!(
        r.body["error"]["details"]["request_id"].is_string(),
        "{}",
        r.text
    );
    assert!(!r.text.contains("top level"), "{}", r.text);
    let logs = api
        .call(
            "GET",
            "/v1/functions/leaky/logs?limit=50",
            Some(ADMIN_KEY),
            None,
        )
        .await;
    assert_eq!(logs.status, 200);
    texts.push(("logs".into(), logs.text.clone()));
    for (what, t) in &texts {
        for f in &forms {
            assert!(
                !t.contains(f.as_str()),
                "{what} holds the secret as {f:?}: {t}"
            );
        }
        assert!(!t.contains("sk-live"), "{what}: {t}");
    }
    assert!(logs.text.contains("[secret]"), "{}", logs.text);
    let r = api
        .call("GET", "/v1/functions/toplevel/logs", Some(ADMIN_KEY), None)
        .await;
    assert!(
        r.text.contains("top level"),
        "the log keeps the cause: {}",
        r.text
    );
}

/// A tiny HTTP server on 127.0.0.1 that answers every request at once and records its
/// head.
async fn recording_server() -> (String, Arc<std::sync::Mutex<Vec<String>>>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap().to_string();
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let s2 = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = l.accept().await else {
                return;
            };
            let seen = s2.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 16384];
                let n = sock.read(&mut buf).await.unwrap_or(0);
                seen.lock()
                    .unwrap()
                    .push(String::from_utf8_lossy(&buf[..n]).to_string());
                let _ = sock
                    .write_all(
                        b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}",
                    )
                    .await;
            });
        }
    });
    (addr, seen)
}

/// An export that deep-merges its caller's input (a classic prototype pollution) and then
/// fetches: the request goes out exactly as written.
async fn a_polluted_prototype_changes_no_host_call(s: Server) {
    let api = Api::new(&s.base);
    let (addr, seen) = recording_server().await;
    let src = format!(
        r#"import {{ http }} from "yunqiao";
        function merge(t, s) {{ for (const k of Object.keys(s)) {{ if (s[k] && typeof s[k] === "object") {{ if (!(k in t)) t[k] = {{}}; merge(t[k], s[k]) }} else t[k] = s[k] }} return t }}
        export async function settings(input) {{
            merge({{}}, JSON.parse(input));
            const r = await http.fetch("http://{addr}/ping");
            return r.status
        }}"#
    );
    deploy(
        &api,
        "merge",
        json!({"source": src, "hosts": [addr], "access": "anyone"}),
    )
    .await;
    let evil = r#"{"__proto__": {"method": "DELETE", "body": "pwned", "headers": {"authorization": "Bearer evil"}, "toJSON": 1}}"#;
    let r = api.call_fn(None, "merge", "settings", json!([evil])).await;
    assert_eq!(r.body["result"], 200, "{}", r.text);
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1, "{seen:?}");
    let head = seen[0].to_ascii_lowercase();
    assert!(head.starts_with("get /ping "), "{head}");
    assert!(!head.contains("authorization"), "{head}");
    assert!(!head.contains("pwned"), "{head}");
}

/// A server that holds every request until released, counting them.
struct Holding {
    addr: String,
    seen: Arc<AtomicUsize>,
    release: Arc<tokio::sync::Notify>,
}

async fn holding_server() -> Holding {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap().to_string();
    let seen = Arc::new(AtomicUsize::new(0));
    let release = Arc::new(tokio::sync::Notify::new());
    let (s2, r2) = (seen.clone(), release.clone());
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = l.accept().await else {
                return;
            };
            let (seen, release) = (s2.clone(), r2.clone());
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let _ = sock.read(&mut buf).await;
                seen.fetch_add(1, Ordering::SeqCst);
                release.notified().await;
                let _ = sock
                    .write_all(
                        b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}",
                    )
                    .await;
            });
        }
    });
    Holding {
        addr,
        seen,
        release,
    }
}

async fn slow_module(api: &Api, h: &Holding) {
    let src = format!(
        r#"import {{ http }} from "yunqiao";
        export async function wait() {{ return (await http.fetch("http://{}/slow")).status }}
        export function quick() {{ return "quick" }}
        export async function check(e) {{ return {{ ...e.data, checked: true }} }}"#,
        h.addr
    );
    deploy(
        api,
        "slow",
        json!({"source": src, "hosts": [h.addr], "timeout_ms": 25000, "access": "anyone",
               "exports": {"check": {"access": "nobody"}}}),
    )
    .await;
    let r = api
        .call(
            "PUT",
            "/v1/tables/hooked",
            Some(ADMIN_KEY),
            Some(json!({"fields": [{"name": "t", "type": "string"}, {"name": "checked", "type": "boolean"}],
                        "acl": {"record": "rwd:r:r"}, "hooks": {"before_create": "slow.check"}})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
}

/// A request that must be answered while the attackers still hold their workers.
async fn answered(fut: impl std::future::Future<Output = Answer>) -> Answer {
    tokio::time::timeout(Duration::from_secs(15), fut)
        .await
        .expect("answered while the flood still waits on its slow host")
}

/// Anonymous callers flood an export that waits on a slow host. Bob's hooked write
/// (and an admin's deploy) never wait for them.
async fn hooked_writes_are_not_starved_by_slow_calls(s: Server) {
    let api = Api::new(&s.base);
    let h = holding_server().await;
    slow_module(&api, &h).await;
    let (bob, _) = api.login("mock:bob").await;
    let mut flood = Vec::new();
    for _ in 0..40 {
        let api = api.clone();
        flood.push(tokio::spawn(async move {
            api.call_fn(None, "slow", "wait", json!([])).await
        }));
    }
    // Wait until the flood holds what it can.
    while h.seen.load(Ordering::SeqCst) == 0 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let r = answered(api.call(
        "POST",
        "/v1/tables/hooked/records",
        Some(&bob),
        Some(json!({"t": "hello"})),
    ))
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["checked"], true, "the hook ran: {}", r.text);
    if s.lambda.is_some() {
        // On AWS a deploy is served by the same function as the calls (`yq-fn`), and
        // waits for Lambda's concurrency like them: the stand-in has 8 sandboxes.
        h.release.notify_waiters();
        return;
    }
    let r = answered(api.call(
        "PUT",
        "/v1/functions/other",
        Some(ADMIN_KEY),
        Some(json!({"source": "export function f() { return 1 }"})),
    ))
    .await;
    assert!(r.status < 300, "{}", r.text);
    h.release.notify_waiters();
    for f in flood {
        f.abort();
    }
}

/// 300 anonymous calls of a slow export: most are refused at once (429), the rest wait
/// their turn; another user's call is served while they wait, and when the flood hangs
/// up, its waiting calls never run.
async fn a_flood_from_one_caller_leaves_others_served_and_gone_callers_cost_nothing(s: Server) {
    let api = Api::new(&s.base);
    let h = holding_server().await;
    slow_module(&api, &h).await;
    let (bob, _) = api.login("mock:bob").await;
    let busy = Arc::new(AtomicUsize::new(0));
    let mut flood = Vec::new();
    for _ in 0..300 {
        let api = api.clone();
        let busy = busy.clone();
        flood.push(tokio::spawn(async move {
            let r = api.call_fn(None, "slow", "wait", json!([])).await;
            if (r.status, r.code()) == (429, "FUNCTION_BUSY") {
                busy.fetch_add(1, Ordering::SeqCst);
            }
        }));
    }
    while busy.load(Ordering::SeqCst) < 250 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let r = answered(api.call_fn(Some(&bob), "slow", "quick", json!([]))).await;
    assert_eq!(r.body["result"], "quick", "{}", r.text);
    let r = answered(api.call(
        "POST",
        "/v1/tables/hooked/records",
        Some(&bob),
        Some(json!({"t": "hi"})),
    ))
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    // The flood hangs up: its running calls stop, its waiting ones never start.
    let running = h.seen.load(Ordering::SeqCst);
    for f in &flood {
        f.abort();
    }
    for f in flood {
        let _ = f.await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    h.release.notify_waiters();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let total = h.seen.load(Ordering::SeqCst);
    // Had the server run what its callers left, the 16 calls waiting would have reached
    // the host. It learns of each hang-up when that connection closes: a call granted a
    // worker in that instant may start and then stop, so allow a few.
    assert!(
        total <= running + 4,
        "calls ran after their callers hung up: {running} then {total}"
    );
    // And the workers are free again.
    let r = answered(api.call_fn(Some(&bob), "slow", "quick", json!([]))).await;
    assert_eq!(r.body["result"], "quick", "{}", r.text);
}

/// Ten concurrent calls of a 512 MB export never hold more than the server's budget
/// (`functions.memory_mb`, here 1024): the rest wait their turn.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_memory_budget_holds_for_big_exports() {
    let s = Server::start_with(&[("YUNQIAO_FUNCTIONS_MEMORY_MB", "1024")]).await;
    let api = Api::new(&s.base);
    let src = r#"export function big() { const a = []; for (let i = 0; i < 300; i++) a.push(new Uint8Array(1 << 20).fill(i)); return a.length }"#;
    deploy(
        &api,
        "big",
        json!({"source": src, "memory_mb": 512, "timeout_ms": 25000, "access": "anyone"}),
    )
    .await;
    let pid = s.child.as_ref().unwrap().id().unwrap();
    let peak = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = {
        let (peak, done) = (peak.clone(), done.clone());
        tokio::spawn(async move {
            while !done.load(Ordering::SeqCst) {
                let mut total = rss_mb(pid);
                for c in children_of(pid) {
                    total += rss_mb(c);
                }
                peak.fetch_max(total, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    let mut calls = Vec::new();
    for i in 0..10 {
        let api = api.clone();
        let (t, _) = api.login(&format!("mock:big{i}")).await;
        calls.push(tokio::spawn(async move {
            api.call_fn(Some(&t), "big", "big", json!([])).await
        }));
    }
    let mut ok = 0;
    for c in calls {
        let r = c.await.unwrap();
        if r.status == 200 {
            assert_eq!(r.body["result"], 300);
            ok += 1;
        } else {
            assert_eq!((r.status, r.code()), (429, "FUNCTION_BUSY"), "{}", r.text);
        }
    }
    done.store(true, Ordering::SeqCst);
    sampler.await.unwrap();
    assert!(ok >= 2, "{ok} calls ran");
    let peak = peak.load(Ordering::SeqCst);
    // Two at a time (2 × 300 MB of buffers) plus the server itself; ten at once would
    // be about 3 GB.
    assert!(peak < 1400, "the server and its workers reached {peak} MB");
}

fn rss_mb(pid: u32) -> usize {
    std::fs::read_to_string(format!("/proc/{pid}/statm"))
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<usize>().ok())
        .map_or(0, |pages| pages * 4096 / (1024 * 1024))
}
