//! The outbox on a manual clock: after-hooks run once per committed change, failures
//! back off 1 s, 2 s, 4 s …, leases keep a second runner off, and after
//! [`MAX_ATTEMPTS`] an item stays dead until an admin retries it.

use serde_json::{Value, json};

use super::*;
use crate::clock::rfc3339;
use crate::test_support::{World, obj, thrown, user};

const HOOKS: &str =
    "export async function after(event) {}\nexport async function before(event) {}\n";

async fn world_with_hooked_table() -> World {
    let w = World::new();
    w.deploy("h", json!({"source": HOOKS})).await;
    w.table(
        "notes",
        json!({"fields": [{"name": "t", "type": "string"}], "acl": {"record": "rwd:r:r"},
               "hooks": {"after_create": "h.after", "after_update": "h.after"}}),
    )
    .await;
    w
}

async fn waiting(w: &World) -> Vec<Value> {
    w.functions.outbox(&Caller::AdminKey, 100).await.unwrap()
}

#[test]
fn backoff_doubles_from_a_second_up_to_five_minutes() {
    let delays: Vec<i64> = (0..12).map(backoff_ms).collect();
    assert_eq!(
        &delays[..9],
        &[
            1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 64_000, 128_000, 256_000
        ]
    );
    assert!(delays[9..].iter().all(|d| *d == 300_000));
    assert_eq!(backoff_ms(-3), 1_000, "clamped below");
    assert_eq!(backoff_ms(i64::MAX), 300_000, "clamped above");
}

#[tokio::test]
async fn an_after_hook_runs_once_per_committed_change_with_the_event() {
    let w = world_with_hooked_table().await;
    let rec = w
        .tables
        .create(&user("u1"), "notes", obj(json!({"t": "a"})))
        .await
        .unwrap();
    let runs = w.sandbox.runs_of("after");
    assert_eq!(runs.len(), 1, "{runs:?}");
    let event = &runs[0].args[0];
    assert_eq!(
        (&event["op"], &event["table"], &event["record_id"]),
        (&json!("create"), &json!("notes"), &rec["_id"])
    );
    assert_eq!(runs[0].context["trigger"], "hook");
    assert!(waiting(&w).await.is_empty(), "done items are deleted");
    // A sweep finds nothing more to run.
    assert_eq!(w.functions.sweep().await, 0);
    assert_eq!(w.sandbox.runs_of("after").len(), 1);
    // A refused write commits nothing, so nothing runs.
    let e = w
        .tables
        .create(&user("u1"), "notes", obj(json!({"t": 5})))
        .await
        .unwrap_err();
    assert_eq!(e.code, crate::Code::InvalidArgument);
    assert_eq!(w.sandbox.runs_of("after").len(), 1);
}

#[tokio::test]
async fn failures_back_off_on_the_clock_then_succeed() {
    let w = world_with_hooked_table().await;
    w.sandbox.then("after", Err(thrown("first")));
    w.sandbox.then("after", Err(thrown("second")));
    w.tables
        .create(&user("u1"), "notes", obj(json!({"t": "a"})))
        .await
        .unwrap();
    let items = waiting(&w).await;
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["attempts"], 1);
    assert_eq!(items[0]["next_at"], rfc3339(START + 1_000));
    let last = items[0]["last_error"].as_str().unwrap();
    assert!(
        last.starts_with("FUNCTION_FAILED: h.after failed"),
        "{last}"
    );
    assert_eq!(items[0]["dead"], false);

    // Not due yet: a sweep leaves it.
    w.clock.advance_ms(999);
    w.functions.sweep().await;
    assert_eq!(w.sandbox.runs_of("after").len(), 1);
    w.clock.advance_ms(1);
    w.functions.sweep().await;
    assert_eq!(w.sandbox.runs_of("after").len(), 2);
    let items = waiting(&w).await;
    assert_eq!(items[0]["attempts"], 2);
    assert_eq!(
        items[0]["next_at"],
        rfc3339(START + 1_000 + 2_000),
        "then two seconds"
    );
    w.clock.advance_ms(1_999);
    assert_eq!(w.functions.sweep().await, 0);
    w.clock.advance_ms(1);
    assert_eq!(w.functions.sweep().await, 1);
    let runs = w.sandbox.runs_of("after");
    assert_eq!(runs.len(), 3);
    assert_eq!(runs[0].args, runs[2].args, "the same event each time");
    assert!(waiting(&w).await.is_empty(), "succeeded: gone");
}

const START: i64 = crate::test_support::START_MS;

#[tokio::test]
async fn a_claimed_item_waits_for_its_lease() {
    let w = world_with_hooked_table().await;
    w.sandbox.then("after", Err(thrown("once")));
    w.tables
        .create(&user("u1"), "notes", obj(json!({"t": "a"})))
        .await
        .unwrap();
    let id = waiting(&w).await[0]["id"].as_str().unwrap().to_string();
    // Another runner holds it until START + 60 s.
    w.store
        .update(
            crate::keys::OUTBOX,
            &id,
            Update::default()
                .set("lease_until", START + 60_000)
                .set("lease", "other"),
            None,
        )
        .await
        .unwrap();
    w.clock.advance_ms(30_000);
    w.functions.process(&id).await;
    assert_eq!(w.functions.sweep().await, 0, "leased: not due");
    assert_eq!(w.sandbox.runs_of("after").len(), 1);
    // The runner died; once its lease is over the next sweep runs the item.
    w.clock.set_ms(START + 60_000);
    assert_eq!(w.functions.sweep().await, 1);
    assert_eq!(w.sandbox.runs_of("after").len(), 2);
    assert!(waiting(&w).await.is_empty());
}

#[tokio::test]
async fn items_die_after_max_attempts_and_an_admin_retries_them() {
    let w = world_with_hooked_table().await;
    w.sandbox.always("after", Err(thrown("always")));
    w.tables
        .create(&user("u1"), "notes", obj(json!({"t": "a"})))
        .await
        .unwrap();
    for _ in 1..MAX_ATTEMPTS {
        w.clock.advance_ms(300_000);
        assert_eq!(w.functions.sweep().await, 1);
    }
    let items = waiting(&w).await;
    assert_eq!(items[0]["attempts"], MAX_ATTEMPTS);
    assert_eq!(items[0]["dead"], true);
    assert_eq!(w.sandbox.runs_of("after").len() as i64, MAX_ATTEMPTS);
    w.clock.advance_ms(24 * 3600 * 1000);
    assert_eq!(w.functions.sweep().await, 0, "dead items are left alone");
    let id = items[0]["id"].as_str().unwrap().to_string();
    w.functions.process(&id).await;
    assert_eq!(w.sandbox.runs_of("after").len() as i64, MAX_ATTEMPTS);

    // Only admins retry, and only items that exist.
    let e = w
        .functions
        .retry_outbox(&user("u1"), &id)
        .await
        .unwrap_err();
    assert_eq!(e.code, crate::Code::Forbidden);
    let e = w
        .functions
        .retry_outbox(&Caller::AdminKey, "nope")
        .await
        .unwrap_err();
    assert_eq!(e.code, crate::Code::NotFound);
    let e = w.functions.outbox(&user("u1"), 10).await.unwrap_err();
    assert_eq!(e.code, crate::Code::Forbidden);
    w.sandbox.always("after", Ok(Value::Null));
    w.functions
        .retry_outbox(&Caller::AdminKey, &id)
        .await
        .unwrap();
    assert_eq!(w.sandbox.runs_of("after").len() as i64, MAX_ATTEMPTS + 1);
    assert!(waiting(&w).await.is_empty());
}

#[tokio::test]
async fn a_writer_sweeps_stranded_items_at_most_every_thirty_seconds() {
    let w = world_with_hooked_table().await;
    w.sandbox.then("after", Err(thrown("once")));
    w.tables
        .create(&user("u1"), "notes", obj(json!({"t": "a"})))
        .await
        .unwrap();
    // The first write swept (the clock was far from 0); the next sweep by a writer is due
    // SWEEP_EVERY_MS later. The failed item is due in 1 s, but a writer inside those 30 s
    // only runs its own items.
    w.clock.advance_ms(5_000);
    w.tables
        .create(&user("u1"), "notes", obj(json!({"t": "b"})))
        .await
        .unwrap();
    assert_eq!(w.sandbox.runs_of("after").len(), 2, "the new item only");
    assert_eq!(waiting(&w).await.len(), 1, "the failed one waits");
    w.clock.advance_ms(SWEEP_EVERY_MS);
    w.tables
        .create(&user("u1"), "notes", obj(json!({"t": "c"})))
        .await
        .unwrap();
    assert_eq!(
        w.sandbox.runs_of("after").len(),
        4,
        "its own and the stranded one"
    );
    assert!(waiting(&w).await.is_empty());
}
