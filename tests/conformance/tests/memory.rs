//! The in-memory store (the fast tier's) against the same suite as the others, one test
//! per case.
use std::sync::Arc;

use yunqiao_conformance::Opened;
use yunqiao_core::clock::ManualClock;
use yunqiao_core::memory_store::MemoryStore;

async fn open(_case: &'static str) -> Option<Opened> {
    let clock = ManualClock::at(1_800_000_000_000);
    let store = MemoryStore::new(Arc::new(clock.clone()));
    Some(Opened::new(Arc::new(store), clock))
}

yunqiao_conformance::conformance_suite!(open);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn table_indexes_equal_a_recomputation_after_a_random_workload() {
    let clock = ManualClock::at(1_800_000_000_000);
    let store = MemoryStore::new(Arc::new(clock.clone()));
    yunqiao_conformance::tables::indexes_match_recomputation(Arc::new(store), clock, 60).await;
}
