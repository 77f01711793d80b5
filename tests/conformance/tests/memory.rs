//! The in-memory store (the fast tier's) against the same suite as the others.
use std::sync::Arc;

use yunqiao_core::clock::ManualClock;
use yunqiao_core::memory_store::MemoryStore;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_store_passes_the_conformance_suite() {
    let clock = ManualClock::at(1_800_000_000_000);
    let store = MemoryStore::new(Arc::new(clock.clone()));
    yunqiao_conformance::run_all(Arc::new(store), clock).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_store_table_indexes_equal_a_recomputation() {
    let clock = ManualClock::at(1_800_000_000_000);
    let store = MemoryStore::new(Arc::new(clock.clone()));
    yunqiao_conformance::tables::indexes_match_recomputation(Arc::new(store), clock, 60).await;
}
