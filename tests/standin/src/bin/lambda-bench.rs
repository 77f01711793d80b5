//! `make bench-lambda`: each function's stripped arm64 binary size (from
//! `cargo lambda build --release --arm64`) and its local cold start — process start to
//! the first poll of the runtime API — beside `yq-hello`, the smallest Rust Lambda built
//! the same way, measured in the same run.
//!
//! Usage: `lambda-bench <arm64 dir (target/lambda)> <host release dir (target/release)> [runs]`

use std::path::{Path, PathBuf};
use std::time::Duration;

const FUNCTIONS: &[&str] = &[
    "yq-hello",
    "yq-auth",
    "yq-tables",
    "yq-admin",
    "yq-ws-connect",
    "yq-ws-message",
    "yq-ws-disconnect",
];

fn env() -> Vec<(String, String)> {
    [
        ("YUNQIAO_DYNAMODB_TABLE", "bench"),
        ("YUNQIAO_DYNAMODB_ENDPOINT", "http://127.0.0.1:9"),
        ("YUNQIAO_WS_ENDPOINT", "http://127.0.0.1:9/live"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "bench"),
        ("AWS_SECRET_ACCESS_KEY", "bench"),
        ("AWS_SESSION_TOKEN", "bench"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
        ("YUNQIAO_ADMIN_KEY", "bench-admin-key-0123456789"),
        ("YUNQIAO_LOG", "warn"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

fn pct(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)].as_secs_f64() * 1000.0
}

fn size_mib(p: &Path) -> Option<f64> {
    std::fs::metadata(p)
        .ok()
        .map(|m| m.len() as f64 / (1024.0 * 1024.0))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), yunqiao_standin::BoxError> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        return Err("usage: lambda-bench <target/lambda> <target/release> [runs]".into());
    }
    let arm = PathBuf::from(&args[1]);
    let host = PathBuf::from(&args[2]);
    let runs: usize = args.get(3).and_then(|r| r.parse().ok()).unwrap_or(30);
    let env = env();
    println!(
        "Lambda functions: stripped arm64 size, and local cold start (process start to first poll of the runtime API, {runs} runs, host build)"
    );
    println!(
        "{:<18} {:>12} {:>12} {:>14} {:>14}",
        "function", "arm64 MiB", "zip MiB", "cold p50 ms", "cold p95 ms"
    );
    let mut baseline = None;
    for f in FUNCTIONS {
        let bin = arm.join(f).join("bootstrap");
        let zip = arm.join(f).join("bootstrap.zip");
        let exe = host.join(f);
        let mut times = Vec::with_capacity(runs);
        // One unmeasured start warms the page cache, as a provisioned sandbox's disk would be.
        yunqiao_standin::time_to_first_poll(&exe, &env).await?;
        for _ in 0..runs {
            times.push(yunqiao_standin::time_to_first_poll(&exe, &env).await?);
        }
        times.sort();
        let (p50, p95) = (pct(&times, 0.5), pct(&times, 0.95));
        let show = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.2}"));
        let base = *baseline.get_or_insert(p50);
        println!(
            "{:<18} {:>12} {:>12} {:>14.2} {:>14.2}   ({:+.2} ms vs yq-hello)",
            f,
            show(size_mib(&bin)),
            show(size_mib(&zip)),
            p50,
            p95,
            p50 - base
        );
    }
    Ok(())
}
