//! The embedded store (redb) against the conformance suite, one test per case, each on a
//! store file of its own.
use std::sync::Arc;

use yunqiao_conformance::Opened;
use yunqiao_core::clock::ManualClock;
use yunqiao_local::LocalStore;

async fn open(_case: &'static str) -> Option<Opened> {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::at(1_800_000_000_000);
    let store = LocalStore::open(&dir.path().join("store.redb"), Arc::new(clock.clone())).unwrap();
    Some(Opened::new(Arc::new(store), clock).keeping(dir))
}

yunqiao_conformance::conformance_suite!(open);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn table_indexes_equal_a_recomputation_after_a_random_workload() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::at(1_800_000_000_000);
    let store = LocalStore::open(&dir.path().join("store.redb"), Arc::new(clock.clone())).unwrap();
    yunqiao_conformance::tables::indexes_match_recomputation(Arc::new(store), clock, 60).await;
}

#[tokio::test]
async fn data_survives_reopening() {
    use yunqiao_core::store::{Item, ItemStore};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.redb");
    let clock = Arc::new(ManualClock::at(1_800_000_000_000));
    {
        let store = LocalStore::open(&path, clock.clone()).unwrap();
        let mut a = serde_json::Map::new();
        a.insert("v".into(), 7.into());
        store.put(Item::new("p", "s", a), None).await.unwrap();
    }
    // The writer thread exits when the last handle drops; give it a moment to release the file.
    let mut reopened = None;
    for _ in 0..50 {
        match LocalStore::open(&path, clock.clone()) {
            Ok(s) => {
                reopened = Some(s);
                break;
            }
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(20)).await,
        }
    }
    let store = reopened.expect("reopen");
    assert_eq!(store.get("p", "s").await.unwrap().unwrap().attrs["v"], 7);
}
