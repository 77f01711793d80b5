//! Deploys, versions, calls and their logs, and schedules, on the in-memory store with a
//! scripted sandbox and a manual clock.

use serde_json::{Value, json};

use super::sandbox::Failure;
use super::*;
use crate::clock::rfc3339;
use crate::test_support::{START_MS, World, thrown, user};

const SRC: &str = "export async function add(a, b) {}\nexport async function open() {}\nexport async function tick(at) {}\n";

fn input(v: Value) -> ModuleInput {
    serde_json::from_value(v).unwrap()
}

#[tokio::test]
async fn deploys_are_admin_only_checked_and_versioned() {
    let w = World::new();
    let e = w
        .functions
        .deploy(&user("u1"), "m", input(json!({"source": SRC})))
        .await
        .unwrap_err();
    assert_eq!(e.code, Code::Forbidden);
    let e = w
        .functions
        .deploy(&Caller::AdminKey, "Bad-Name", input(json!({"source": SRC})))
        .await
        .unwrap_err();
    assert_eq!(e.code, Code::InvalidArgument);
    let e = w
        .functions
        .deploy(
            &Caller::AdminKey,
            "m",
            input(json!({"source": "syntax error"})),
        )
        .await
        .unwrap_err();
    assert_eq!(
        (e.code, &e.details["field"]),
        (Code::FunctionInvalid, &json!("source"))
    );
    let e = w
        .functions
        .deploy(
            &Caller::AdminKey,
            "m",
            input(json!({"source": SRC, "exports": {"nope": {"access": "anyone"}}})),
        )
        .await
        .unwrap_err();
    assert_eq!(e.details["field"], "exports.nope", "{e:?}");
    let e = w
        .functions
        .deploy(
            &Caller::AdminKey,
            "m",
            input(json!({"source": "x".repeat(sandbox::MAX_SOURCE_BYTES + 1)})),
        )
        .await
        .unwrap_err();
    assert_eq!(e.code, Code::BodyTooLarge);
    assert_eq!(
        w.functions.list(&Caller::AdminKey).await.unwrap().len(),
        0,
        "nothing refused was kept"
    );

    let (view, created) = w
        .functions
        .deploy(&Caller::AdminKey, "m", input(json!({"source": SRC})))
        .await
        .unwrap();
    assert!(created);
    assert_eq!(view["version"], 1);
    let names: Vec<&Value> = view["exports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["name"])
        .collect();
    assert_eq!(
        names,
        [&json!("add"), &json!("open"), &json!("tick")],
        "{view}"
    );
    assert_eq!(view["exports"][0]["access"], "users", "the default access");
    w.clock.advance_ms(1_000);
    let (view, created) = w
        .functions
        .deploy(
            &Caller::AdminKey,
            "m",
            input(json!({"source": format!("{SRC}// v2\n")})),
        )
        .await
        .unwrap();
    assert!(!created);
    assert_eq!(view["version"], 2);
    let got = w
        .functions
        .get(&Caller::AdminKey, "m", Some(1))
        .await
        .unwrap();
    assert_eq!(
        (&got["source"], &got["current_version"]),
        (&json!(SRC), &json!(2))
    );
    let versions = w.functions.versions(&Caller::AdminKey, "m").await.unwrap();
    let at: Vec<(Value, Value)> = versions
        .iter()
        .map(|v| (v["version"].clone(), v["deployed_at"].clone()))
        .collect();
    assert_eq!(
        at,
        [
            (json!(2), json!(rfc3339(START_MS + 1_000))),
            (json!(1), json!(rfc3339(START_MS)))
        ]
    );
}

#[tokio::test]
async fn only_the_latest_versions_are_kept() {
    let w = World::new();
    for i in 0..(MAX_VERSIONS + 3) {
        w.functions
            .deploy(
                &Caller::AdminKey,
                "m",
                input(json!({"source": format!("{SRC}// {i}\n")})),
            )
            .await
            .unwrap();
    }
    let versions = w.functions.versions(&Caller::AdminKey, "m").await.unwrap();
    assert_eq!(versions.len(), MAX_VERSIONS);
    assert_eq!(versions[0]["version"], MAX_VERSIONS as i64 + 3);
    let e = w
        .functions
        .get(&Caller::AdminKey, "m", Some(1))
        .await
        .unwrap_err();
    assert_eq!(e.code, Code::NotFound, "pruned");
    w.functions.delete(&Caller::AdminKey, "m").await.unwrap();
    let e = w
        .functions
        .call(&Caller::AdminKey, "m", "add", vec![], "r1")
        .await
        .unwrap_err();
    assert_eq!(e.code, Code::NotFound, "deleted");
    let e = w
        .functions
        .delete(&Caller::AdminKey, "m")
        .await
        .unwrap_err();
    assert_eq!(e.code, Code::NotFound);
}

#[tokio::test]
async fn calls_check_access_pass_arguments_and_map_failures() {
    let w = World::new();
    w.deploy("m", json!({"source": SRC, "exports": {"open": {"access": "anyone"}, "tick": {"access": "nobody"}}}))
        .await;
    w.sandbox.then("add", Ok(json!(5)));
    let r = w
        .functions
        .call(&user("u1"), "m", "add", vec![json!(2), json!(3)], "req-1")
        .await
        .unwrap();
    assert_eq!(r, json!(5));
    let run = &w.sandbox.runs()[0];
    assert_eq!((run.module.as_str(), run.export.as_str()), ("m", "add"));
    assert_eq!(run.args, [json!(2), json!(3)]);
    assert_eq!(
        (
            &run.context["caller"]["id"],
            &run.context["request_id"],
            &run.context["trigger"]
        ),
        (&json!("u1"), &json!("req-1"), &json!("call"))
    );
    // Access: users by default, anyone when said, nobody for hook and schedule exports.
    let e = w
        .functions
        .call(&Caller::Anonymous, "m", "add", vec![], "r")
        .await
        .unwrap_err();
    assert_eq!(e.code, Code::Unauthenticated);
    assert!(
        w.functions
            .call(&Caller::Anonymous, "m", "open", vec![], "r")
            .await
            .is_ok()
    );
    let e = w
        .functions
        .call(&Caller::AdminKey, "m", "tick", vec![], "r")
        .await
        .unwrap_err();
    assert_eq!(e.code, Code::FunctionForbidden);
    let e = w
        .functions
        .call(&user("u1"), "m", "nope", vec![], "r")
        .await
        .unwrap_err();
    assert_eq!(e.code, Code::NotFound);
    let e = w
        .functions
        .call(&user("u1"), "zz", "add", vec![], "r")
        .await
        .unwrap_err();
    assert_eq!(e.code, Code::NotFound);

    // What a run's failure becomes.
    w.sandbox.then(
        "add",
        Err(Failure::Refused {
            code: "ROOM_FULL".into(),
            message: "full".into(),
            status: 409,
            details: json!({"max": 2}),
        }),
    );
    let e = w
        .functions
        .call(&user("u1"), "m", "add", vec![], "r2")
        .await
        .unwrap_err();
    assert_eq!(
        (e.code_str(), e.status(), &e.details),
        ("ROOM_FULL", 409, &json!({"max": 2}))
    );
    w.sandbox
        .then("add", Err(thrown("TypeError: null has no x")));
    let e = w
        .functions
        .call(&user("u1"), "m", "add", vec![], "r3")
        .await
        .unwrap_err();
    assert_eq!(
        (e.code, &e.details["request_id"]),
        (Code::FunctionFailed, &json!("r3"))
    );
    assert!(
        !e.message.contains("TypeError"),
        "the cause goes to the logs only"
    );
    w.sandbox.then("add", Err(Failure::Timeout));
    let e = w
        .functions
        .call(&user("u1"), "m", "add", vec![], "r4")
        .await
        .unwrap_err();
    assert_eq!(e.code, Code::FunctionTimeout);
    w.sandbox
        .then("add", Err(Failure::Host(Error::forbidden("no"))));
    let e = w
        .functions
        .call(&user("u1"), "m", "add", vec![], "r5")
        .await
        .unwrap_err();
    assert_eq!(e.code, Code::Forbidden, "a rule's refusal passes through");

    // Every run (not the calls refused before one) is logged, with the cause of a
    // failure, at the clock's time.
    let logs = w.functions.logs(&Caller::AdminKey, "m", 100).await.unwrap();
    assert_eq!(logs.len(), 6, "{logs:?}");
    assert!(logs.iter().all(|l| l["at"] == rfc3339(START_MS)));
    let failed = logs.iter().find(|l| l["request_id"] == "r3").unwrap();
    assert_eq!(failed["outcome"], "FUNCTION_FAILED");
    assert!(failed["error"].as_str().unwrap().contains("TypeError"));
    let e = w.functions.logs(&user("u1"), "m", 10).await.unwrap_err();
    assert_eq!(e.code, Code::Forbidden);
}

#[tokio::test]
async fn schedules_run_once_per_due_tick() {
    let w = World::new();
    // 2027-01-15T08:00:00Z is on a five-minute tick.
    assert_eq!(START_MS % 300_000, 0);
    w.deploy("m", json!({"source": SRC, "exports": {"tick": {"schedule": "*/5 * * * *", "access": "nobody"}}}))
        .await;
    assert_eq!(w.functions.tick().await.unwrap(), 1);
    let runs = w.sandbox.runs_of("tick");
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].args, [json!({"scheduled_at": rfc3339(START_MS)})]);
    assert_eq!(runs[0].context["trigger"], "schedule");
    assert_eq!(runs[0].context["caller"]["kind"], "admin");
    // Looking again within the tick runs nothing more.
    w.clock.advance_ms(30_000);
    assert_eq!(w.functions.tick().await.unwrap(), 0);
    // The next tick, a minute late: still run (catch-up window).
    w.clock.set_ms(START_MS + 300_000 + 60_000);
    assert_eq!(w.functions.tick().await.unwrap(), 1);
    // A tick missed by more than the catch-up window is not run.
    w.clock
        .set_ms(START_MS + 600_000 + schedule::CATCH_UP_MS + 1);
    assert_eq!(w.functions.tick().await.unwrap(), 0);
    let ticks = w
        .functions
        .claimed_ticks(&Caller::AdminKey, "m", "tick")
        .await
        .unwrap();
    assert_eq!(ticks, [json!(START_MS + 300_000), json!(START_MS)]);
    assert_eq!(w.sandbox.runs_of("tick").len(), 2);
    // A failing scheduled run is logged, not retried.
    w.sandbox.then("tick", Err(thrown("boom")));
    w.clock.set_ms(START_MS + 900_000);
    assert_eq!(w.functions.tick().await.unwrap(), 1);
    assert_eq!(w.functions.tick().await.unwrap(), 0);
    let logs = w.functions.logs(&Caller::AdminKey, "m", 10).await.unwrap();
    assert_eq!(logs[0]["outcome"], "FUNCTION_FAILED");
    assert_eq!(logs[0]["trigger"], "schedule");
}
