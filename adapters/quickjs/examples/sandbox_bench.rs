//! The sandbox alone, without HTTP: warm calls of a trivial export and of one doing a
//! host call, one after another and eight at once, with the CPU they cost (this process
//! and its worker processes). `cargo run --release -p yunqiao-quickjs --example
//! sandbox_bench`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde_json::{Value, json};
use yunqiao_core::functions::sandbox::{Host, Job, Limits, Sandbox};
use yunqiao_quickjs::{QuickJs, WorkerProgram};

struct Echo;

#[async_trait]
impl Host for Echo {
    async fn call(&self, _op: &str, args: Value) -> Result<Value, yunqiao_core::Error> {
        Ok(json!({"_id": args["id"], "title": "x"}))
    }
}

const SRC: &str = r#"import { db } from "yunqiao";
export function noop() { return 1 }
export async function get(id) { return db.table("t").get(id) }"#;

fn job(export: &str, instance: Option<&str>) -> Job {
    Job {
        module: "bench".into(),
        version: 1,
        source: Arc::from(SRC),
        source_hash: 7,
        export: export.into(),
        args: vec![json!("id1")],
        context: json!({"caller": {"kind": "user", "id": "u1"}, "request_id": "r", "module": "bench", "export": export, "trigger": "call"}),
        limits: Limits {
            timeout: Duration::from_secs(5),
            memory_bytes: 64 << 20,
            stack_bytes: 1 << 20,
        },
        instance: instance.map(str::to_string),
        nested: false,
    }
}

/// CPU of this process and its children, from /proc.
fn cpu() -> Duration {
    let me = std::process::id().to_string();
    let mut ticks = 0u64;
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
            continue;
        };
        let Some(close) = stat.rfind(')') else {
            continue;
        };
        let rest: Vec<&str> = stat[close + 2..].split_whitespace().collect();
        if name != me && rest.get(1) != Some(&me.as_str()) {
            continue;
        }
        ticks += rest
            .get(11)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
            + rest
                .get(12)
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0);
    }
    Duration::from_secs_f64(ticks as f64 / 100.0)
}

fn main() {
    yunqiao_quickjs::enter_if_worker();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let sb = Arc::new(QuickJs::new(8, WorkerProgram::current_exe().unwrap()));
        for (name, export, instance, conc) in [
            ("trivial, warm instance", "noop", Some("user:u1"), 1),
            ("trivial, fresh runtime", "noop", None, 1),
            ("db get, warm instance", "get", Some("user:u1"), 1),
            ("trivial, warm, 8 at once", "noop", Some("user:u1"), 8),
            ("db get, warm, 8 at once", "get", Some("user:u1"), 8),
        ] {
            for _ in 0..200 {
                sb.run(job(export, instance), Arc::new(Echo)).await;
            }
            let n = 4000;
            let c0 = cpu();
            let t0 = Instant::now();
            let mut tasks = Vec::new();
            for _ in 0..conc {
                let sb = sb.clone();
                tasks.push(tokio::spawn(async move {
                    for _ in 0..n / conc {
                        let o = sb.run(job(export, instance), Arc::new(Echo)).await;
                        assert!(o.result.is_ok(), "{:?}", o.result);
                    }
                }));
            }
            for t in tasks {
                t.await.unwrap();
            }
            let wall = t0.elapsed();
            let c = cpu() - c0;
            println!(
                "{name:<28} {:>8.1} µs/call wall   {:>8.1} µs/call CPU (server + workers)",
                wall.as_secs_f64() * 1e6 / n as f64,
                c.as_secs_f64() * 1e6 / n as f64
            );
        }
    });
}
