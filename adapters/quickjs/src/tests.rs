use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Value, json};
use yunqiao_core::functions::sandbox::{Failure, Host, Job, Limits, Sandbox};

use super::QuickJs;

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
        redact: vec![],
    }
}

async fn run(sb: &QuickJs, source: &str, export: &str, args: Vec<Value>) -> Result<Value, Failure> {
    sb.run(job(source, export, args), Arc::new(Echo))
        .await
        .result
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_limits_and_errors() {
    let sb = QuickJs::new(2).unwrap();
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
    let sb = QuickJs::new(1).unwrap();
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
