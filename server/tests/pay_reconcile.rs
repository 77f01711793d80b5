//! WeChat Pay's reconciliation pass on every face (issue 24): a notification dropped on
//! purpose is caught by the scheduled pass (the local server's scheduler; `yq-schedule`
//! on AWS), recorded as a notification would be — one transition, the actions once —
//! and an unpaid order past its `time_expire` is closed at WeChat and here.

mod common;

use common::{ADMIN_KEY, Answer, Api, Server};
use serde_json::{Value, json};

/// Pending orders are asked about at once (not after a minute), and orders expire after
/// 2 seconds.
const RECONCILE: &[(&str, &str)] = &[
    ("YUNQIAO_PAY_TABLES", "products"),
    ("YUNQIAO_PAY_ON_PAID", "shop.paid"),
    ("YUNQIAO_PAY_RECONCILE_AFTER_SECS", "0"),
    ("YUNQIAO_PAY_ORDER_TTL_SECS", "2"),
];

on_every_face!(env = super::RECONCILE;
    a_dropped_notification_is_caught_by_the_scheduled_pass,
    an_unpaid_order_expires_and_is_closed,
);

const SHOP: &str = r#"
import { db } from "yunqiao";
export async function paid(e) {
  await db.admin().table("paid_log").create({ no: e.order.out_trade_no });
}
"#;

async fn admin(api: &Api, method: &str, path: &str, body: Value) -> Answer {
    let r = api.call(method, path, Some(ADMIN_KEY), Some(body)).await;
    assert!(r.status < 300, "{method} {path}: {}", r.text);
    r
}

async fn shop(s: &Server, api: &Api) -> String {
    admin(
        api,
        "PUT",
        "/v1/tables/products",
        json!({"fields": [{"name": "title", "type": "string"}, {"name": "price", "type": "integer"}],
               "acl": {"record": "rwd:r:r"}}),
    )
    .await;
    admin(
        api,
        "PUT",
        "/v1/tables/paid_log",
        json!({"fields": [{"name": "no", "type": "string"}], "acl": {"record": "rwd:-:-"}}),
    )
    .await;
    admin(
        api,
        "PUT",
        "/v1/functions/shop",
        json!({"source": SHOP, "access": "nobody"}),
    )
    .await;
    let r = admin(
        api,
        "POST",
        "/v1/tables/products/records",
        json!({"title": "tea", "price": 500}),
    )
    .await;
    s.settle().await;
    r.body["_id"].as_str().unwrap().to_string()
}

/// `POST /mock/pay/{no}`: the mock's status and answer.
async fn pay(s: &Server, no: &str, variant: &str) -> (u16, Value) {
    s.mock_post(&format!("/mock/pay/{no}"), json!({"variant": variant}))
        .await
}

/// The order as the buyer's list shows it (the list never asks WeChat: only the pass
/// can have changed it).
async fn listed(api: &Api, token: &str, no: &str) -> Value {
    let l = api.call("GET", "/v1/pay/orders", Some(token), None).await;
    assert_eq!(l.status, 200, "{}", l.text);
    l.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["out_trade_no"] == no)
        .cloned()
        .unwrap_or(Value::Null)
}

/// Polls (no time assertion) until the listed order is in `state`; on the Lambda face
/// each round is a schedule tick (EventBridge's minute).
async fn listed_until(s: &Server, api: &Api, token: &str, no: &str, state: &str) -> Value {
    for _ in 0..600 {
        let o = listed(api, token, no).await;
        if o["state"] == state {
            return o;
        }
        if let Some(face) = &s.lambda {
            let answers = face.fire_schedules().await.expect("the schedule runs");
            assert!(answers[0]["pay"].is_object(), "{answers:?}");
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("never {state}: {}", listed(api, token, no).await);
}

async fn history(api: &Api, no: &str) -> Vec<Value> {
    admin(
        api,
        "GET",
        &format!("/v1/admin/pay/orders/{no}"),
        Value::Null,
    )
    .await
    .body["history"]
        .as_array()
        .unwrap()
        .clone()
}

async fn a_dropped_notification_is_caught_by_the_scheduled_pass(s: Server) {
    let api = Api::new(&s.base);
    let id = shop(&s, &api).await;
    let (alice, _) = api.login("mock:alice").await;
    let r = api
        .call(
            "POST",
            "/v1/pay/orders",
            Some(&alice),
            Some(json!({"item": {"table": "products", "id": id}})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let no = r.body["order"]["out_trade_no"]
        .as_str()
        .unwrap()
        .to_string();
    // Paid at WeChat; the notification never comes.
    let n: Value = pay(&s, &no, "drop").await.1;
    assert!(n["notify_status"].is_null(), "{n}");
    let o = listed_until(&s, &api, &alice, &no, "PAID").await;
    assert!(o["transaction_id"].as_str().unwrap().starts_with("4200"));
    let h = history(&api, &no).await;
    let paid: Vec<&Value> = h.iter().filter(|l| l["to"] == "PAID").collect();
    assert_eq!(paid.len(), 1, "{h:?}");
    assert_eq!(paid[0]["by"], "reconcile", "{h:?}");
    // on_paid ran once (polling: it runs after the transition).
    let log = |api: &Api| {
        let api = api.clone();
        async move {
            admin(
                &api,
                "POST",
                "/v1/tables/paid_log/query",
                json!({"limit": 100}),
            )
            .await
            .body["items"]
                .as_array()
                .unwrap()
                .len()
        }
    };
    for _ in 0..600 {
        if log(&api).await >= 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(log(&api).await, 1);
    // The notification, late, and more passes change nothing.
    let n: Value = pay(&s, &no, "good").await.1;
    assert_eq!(n["notify_status"], 204, "{n}");
    if let Some(face) = &s.lambda {
        face.fire_schedules().await.unwrap();
    }
    assert_eq!(listed(&api, &alice, &no).await, o);
    assert_eq!(log(&api).await, 1);
    assert_eq!(
        history(&api, &no)
            .await
            .iter()
            .filter(|l| l["to"] == "PAID")
            .count(),
        1
    );
}

async fn an_unpaid_order_expires_and_is_closed(s: Server) {
    let api = Api::new(&s.base);
    let id = shop(&s, &api).await;
    let (alice, _) = api.login("mock:alice").await;
    let r = api
        .call(
            "POST",
            "/v1/pay/orders",
            Some(&alice),
            Some(json!({"item": {"table": "products", "id": id}})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let o = &r.body["order"];
    let no = o["out_trade_no"].as_str().unwrap().to_string();
    assert_eq!(
        (secs_of(o["expires_at"].as_str().unwrap()) - secs_of(o["created_at"].as_str().unwrap()))
            .round(),
        2.0,
        "{o}"
    );
    // Nobody pays: the pass closes it, at WeChat too (paying it now is refused there).
    let closed = listed_until(&s, &api, &alice, &no, "CLOSED").await;
    assert!(closed["closed_at"].is_string(), "{closed}");
    assert_eq!(pay(&s, &no, "good").await.0, 409);
    let h = history(&api, &no).await;
    let to_closed: Vec<&Value> = h.iter().filter(|l| l["to"] == "CLOSED").collect();
    assert_eq!(to_closed.len(), 1, "{h:?}");
    assert_eq!(to_closed[0]["by"], "expired");
    // The admin log lists it under CLOSED.
    let l = admin(
        &api,
        "GET",
        "/v1/admin/pay/orders?state=CLOSED",
        Value::Null,
    )
    .await;
    assert_eq!(
        l.body["items"][0]["out_trade_no"],
        no.as_str(),
        "{}",
        l.text
    );
    let l = admin(
        &api,
        "GET",
        "/v1/admin/pay/orders?state=PENDING",
        Value::Null,
    )
    .await;
    assert_eq!(l.body["items"], json!([]), "{}", l.text);
}

/// Seconds since the month began of an RFC 3339 UTC time (`…-DDTHH:MM:SS[.mmm]Z`).
fn secs_of(t: &str) -> f64 {
    let (date, time) = t.split_once('T').unwrap();
    let time = time.trim_end_matches('Z');
    let mut parts = time.split(':');
    let h: f64 = parts.next().unwrap().parse().unwrap();
    let m: f64 = parts.next().unwrap().parse().unwrap();
    let s: f64 = parts.next().unwrap().parse().unwrap();
    let day: f64 = date[8..10].parse().unwrap();
    day * 86_400.0 + h * 3600.0 + m * 60.0 + s
}
