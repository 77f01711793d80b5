//! The conformance suite against DynamoDB as emulated by moto server, which `make test`
//! starts on 127.0.0.1 and announces in `YUNQIAO_TEST_DYNAMODB_ENDPOINT`.

use std::sync::Arc;

use yunqiao_aws::{DynamoConfig, DynamoStore};
use yunqiao_conformance::Opened;
use yunqiao_core::clock::ManualClock;

/// An emulator's address, or `None` (the test passes as skipped, and says so once per
/// test binary, past the harness's capture) when `make test` did not start one. Cases
/// take the moto servers in turn: each answers one request at a time.
fn endpoint() -> Option<String> {
    use std::io::Write;
    static SAID: std::sync::Once = std::sync::Once::new();
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let all = std::env::var("YUNQIAO_TEST_DYNAMODB_ENDPOINTS")
        .ok()
        .filter(|e| !e.is_empty())
        .or_else(|| std::env::var("YUNQIAO_TEST_DYNAMODB_ENDPOINT").ok())
        .unwrap_or_default();
    let list: Vec<&str> = all.split(',').filter(|e| !e.is_empty()).collect();
    if list.is_empty() {
        SAID.call_once(|| {
            let _ = writeln!(
                std::io::stderr(),
                "skipped: the DynamoDB conformance suite needs the emulator `make test` starts (moto server)"
            );
        });
        return None;
    }
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + std::process::id() as usize;
    Some(list[n % list.len()].to_string())
}

/// One table per test binary and moto server, shared by the cases (each works in
/// partitions of its own); creating it is idempotent, and the first case to ask makes it.
async fn open(_case: &'static str) -> Option<Opened> {
    let endpoint = endpoint()?;
    let clock = ManualClock::at(1_800_000_000_000);
    let cfg = DynamoConfig {
        table: format!("conformance-{}", std::process::id()),
        region: "us-east-1".into(),
        endpoint: Some(endpoint),
    };
    let store = DynamoStore::connect(&cfg, Arc::new(clock.clone())).await;
    store.create_table_if_missing().await.expect("create table");
    store
        .create_table_if_missing()
        .await
        .expect("creating twice is fine");
    Some(Opened::new(Arc::new(store), clock))
}

yunqiao_conformance::conformance_suite!(open);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn table_indexes_equal_a_recomputation_after_a_random_workload() {
    let Some(endpoint) = endpoint() else { return };
    let clock = ManualClock::at(1_800_000_000_000);
    let cfg = DynamoConfig {
        table: format!("tables-property-{}", std::process::id()),
        region: "us-east-1".into(),
        endpoint: Some(endpoint),
    };
    let store = DynamoStore::connect(&cfg, Arc::new(clock.clone())).await;
    store.create_table_if_missing().await.expect("create table");
    yunqiao_conformance::tables::indexes_match_recomputation(Arc::new(store), clock, 20).await;
}

#[test]
fn json_and_attribute_values_round_trip() {
    let v = serde_json::json!({"a": [1, 2.5, "x", null, true, {"b": {}}], "n": -3, "big": 18446744073709551615u64});
    let av = yunqiao_aws::json_to_av(&v);
    assert_eq!(yunqiao_aws::av_to_json(&av).unwrap(), v);
}
