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
    "yq-fn",
    "yq-schedule",
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

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// The uncompressed size of `bootstrap` inside a Lambda zip, from the zip's central
/// directory (cargo lambda's zip output keeps no loose binary).
fn bootstrap_size_in_zip(zip: &Path) -> Option<u64> {
    let b = std::fs::read(zip).ok()?;
    let u16_at = |i: usize| Some(u16::from_le_bytes(b.get(i..i + 2)?.try_into().ok()?) as usize);
    let u32_at = |i: usize| Some(u32::from_le_bytes(b.get(i..i + 4)?.try_into().ok()?) as u64);
    let eocd = (0..b.len().saturating_sub(21))
        .rev()
        .find(|&i| b[i..i + 4] == [0x50, 0x4b, 0x05, 0x06])?;
    let entries = u16_at(eocd + 10)?;
    let mut at = u32_at(eocd + 16)? as usize;
    for _ in 0..entries {
        if b.get(at..at + 4)? != [0x50, 0x4b, 0x01, 0x02] {
            return None;
        }
        let size = u32_at(at + 24)?;
        let (name_len, extra, comment) = (u16_at(at + 28)?, u16_at(at + 30)?, u16_at(at + 32)?);
        if b.get(at + 46..at + 46 + name_len)? == b"bootstrap" {
            return Some(size);
        }
        at += 46 + name_len + extra + comment;
    }
    None
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
        let show = |v: Option<u64>| v.map_or("-".to_string(), |v| format!("{:.2}", mib(v)));
        let bin_size = std::fs::metadata(&bin)
            .ok()
            .map(|m| m.len())
            .or_else(|| bootstrap_size_in_zip(&zip));
        let zip_size = std::fs::metadata(&zip).ok().map(|m| m.len());
        let base = *baseline.get_or_insert(p50);
        println!(
            "{:<18} {:>12} {:>12} {:>14.2} {:>14.2}   ({:+.2} ms vs yq-hello)",
            f,
            show(bin_size),
            show(zip_size),
            p50,
            p95,
            p50 - base
        );
    }
    Ok(())
}
