//! WeChat Pay v3 over HTTP (issue 24) on every face: an order priced by the server from a
//! record, paid through the WeChat mock (which signs and encrypts its notification as
//! WeChat Pay does), the order PAID and `on_paid` run once; every tampered notification
//! refused with nothing changed; a dropped notification caught by a read of the order;
//! a client-given amount refused; after payment, the `on_paid` export, the record actions,
//! the buyer's `pay.paid` message and the topic's event exactly once, even under 100
//! duplicate notifications; a failing action retried without losing the payment; the pay
//! log for admins.

mod common;

use common::ws::Client;
use common::{ADMIN_KEY, Answer, Api, Server};
use serde_json::{Value, json};

const PAY: &[(&str, &str)] = &[
    ("YUNQIAO_PAY_TABLES", "products"),
    ("YUNQIAO_PAY_ON_PAID", "shop.paid"),
    (
        "YUNQIAO_PAY_ACTIONS",
        r#"[{"table": "receipts", "data": {"order": "{{out_trade_no}}", "buyer": "{{buyer}}",
              "fen": "{{amount}}", "n": "{{quantity}}", "what": "{{item.table}}/{{item.id}}"}},
            {"table": "{{item.table}}", "op": "update", "id": "{{item.id}}",
             "data": {"last_order": "{{out_trade_no}}"}}]"#,
    ),
    ("YUNQIAO_PAY_TOPIC", "sales"),
];

on_every_face!(env = super::PAY;
    a_priced_record_is_paid_once_through_the_mock,
    tampered_notifications_change_nothing,
    a_dropped_notification_is_caught_by_reading_the_order,
    the_client_does_not_set_the_amount,
    orders_are_their_buyers_and_close,
    a_hundred_duplicate_notifications_run_each_action_once,
    a_failing_action_is_retried_and_the_payment_kept,
    the_pay_log_pages_newest_first_for_admins,
    refunds_are_for_admins_verified_and_counted_once,
);

const SHOP: &str = r#"
import { db } from "yunqiao";
export async function paid(e) {
  await db.admin().table("paid_log").create({ no: e.order.out_trade_no, amount: e.order.amount });
}
"#;

async fn admin(api: &Api, method: &str, path: &str, body: Value) -> Answer {
    let r = api.call(method, path, Some(ADMIN_KEY), Some(body)).await;
    assert!(r.status < 300, "{method} {path}: {}", r.text);
    r
}

/// A products table (readable by users) with one product at 1234 fen, the shop module
/// and its log table, the receipts table of the record action; the product's id.
async fn shop(s: &Server, api: &Api) -> String {
    receipts_table(api).await;
    shop_without_receipts(s, api).await
}

async fn receipts_table(api: &Api) {
    admin(
        api,
        "PUT",
        "/v1/tables/receipts",
        json!({"fields": [{"name": "order", "type": "string"}, {"name": "buyer", "type": "string"},
                          {"name": "fen", "type": "integer"}, {"name": "n", "type": "integer"},
                          {"name": "what", "type": "string"}],
               "acl": {"record": "rwd:-:-"}}),
    )
    .await;
}

async fn shop_without_receipts(s: &Server, api: &Api) -> String {
    admin(
        api,
        "PUT",
        "/v1/tables/products",
        json!({"fields": [{"name": "title", "type": "string"}, {"name": "price", "type": "integer"},
                          {"name": "last_order", "type": "string"}],
               "acl": {"record": "rwd:r:r"}}),
    )
    .await;
    admin(
        api,
        "PUT",
        "/v1/tables/paid_log",
        json!({"fields": [{"name": "no", "type": "string"}, {"name": "amount", "type": "integer"}],
               "acl": {"record": "rwd:-:-"}}),
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
        json!({"title": "茶叶 tea", "price": 1234}),
    )
    .await;
    s.settle().await;
    r.body["_id"].as_str().unwrap().to_string()
}

async fn order(api: &Api, token: &str, id: &str, quantity: i64) -> Answer {
    api.call(
        "POST",
        "/v1/pay/orders",
        Some(token),
        Some(json!({"item": {"table": "products", "id": id}, "quantity": quantity})),
    )
    .await
}

/// `POST /mock/pay/{no}`: the buyer pays; the mock notifies. Its answer.
async fn pay(s: &Server, no: &str, variant: &str, key: &str) -> Value {
    s.mock_post_ok(
        &format!("/mock/pay/{no}"),
        json!({"variant": variant, "key": key}),
    )
    .await
}

async fn get_order(api: &Api, token: &str, no: &str) -> Answer {
    api.call("GET", &format!("/v1/pay/orders/{no}"), Some(token), None)
        .await
}

/// The paid-log rows `on_paid` wrote.
async fn paid_log(api: &Api) -> Vec<Value> {
    let r = admin(
        api,
        "POST",
        "/v1/tables/paid_log/query",
        json!({"limit": 100}),
    )
    .await;
    r.body["items"].as_array().unwrap().clone()
}

/// Waits (by polling, no time assertion) until `on_paid` has written `n` rows.
async fn paid_log_reaches(api: &Api, n: usize) -> Vec<Value> {
    for _ in 0..600 {
        let rows = paid_log(api).await;
        if rows.len() >= n {
            return rows;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("on_paid did not run");
}

async fn a_priced_record_is_paid_once_through_the_mock(s: Server) {
    let api = Api::new(&s.base);
    let id = shop(&s, &api).await;
    let (alice, _) = api.login("mock:alice").await;

    let r = order(&api, &alice, &id, 3).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let o = &r.body["order"];
    assert_eq!(o["state"], "PENDING");
    assert_eq!(
        o["amount"],
        3 * 1234,
        "the server's price times the quantity"
    );
    assert_eq!(o["description"], "茶叶 tea");
    let p = &r.body["payment"];
    assert_eq!(p["signType"], "RSA");
    assert!(p["package"].as_str().unwrap().starts_with("prepay_id="));
    for k in ["timeStamp", "nonceStr", "paySign"] {
        assert!(!p[k].as_str().unwrap().is_empty(), "{k}");
    }
    assert!(!r.text.contains("openid"), "no openid in the answer");
    let no = o["out_trade_no"].as_str().unwrap().to_string();

    // Paid; the notification (signed by the platform certificate) is recorded.
    let n = pay(&s, &no, "good", "certificate").await;
    assert_eq!(n["notify_status"], 204, "{n}");
    let got = get_order(&api, &alice, &no).await;
    assert_eq!(got.status, 200, "{}", got.text);
    assert_eq!(got.body["state"], "PAID");
    assert!(
        got.body["transaction_id"]
            .as_str()
            .unwrap()
            .starts_with("4200")
    );
    let rows = paid_log_reaches(&api, 1).await;
    assert_eq!(rows[0]["no"], no.as_str());
    assert_eq!(rows[0]["amount"], 3 * 1234);

    // The same notification again, and again at once: recorded already, nothing twice.
    let mut replays = Vec::new();
    for _ in 0..10 {
        let s2 = s.wechat_mock.clone();
        let no2 = no.clone();
        replays.push(tokio::spawn(async move {
            let r = reqwest::Client::new()
                .post(format!("{s2}/mock/pay/{no2}"))
                .json(&json!({"variant": "replay"}))
                .send()
                .await
                .unwrap();
            r.json::<Value>().await.unwrap()
        }));
    }
    for r in replays {
        assert_eq!(r.await.unwrap()["notify_status"], 204);
    }
    // A second good notification signed by the WeChat Pay public key (a switch).
    let n = pay(&s, &no, "good", "public_key").await;
    assert_eq!(n["notify_status"], 204, "{n}");
    let again = get_order(&api, &alice, &no).await;
    assert_eq!(again.body, got.body, "the paid order did not change");
    assert_eq!(paid_log(&api).await.len(), 1, "on_paid ran once");

    // In the buyer's list.
    let l = api.call("GET", "/v1/pay/orders", Some(&alice), None).await;
    assert_eq!(l.status, 200, "{}", l.text);
    let items = l.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["out_trade_no"], no.as_str());
    assert_eq!(items[0]["state"], "PAID");
}

async fn tampered_notifications_change_nothing(s: Server) {
    let api = Api::new(&s.base);
    let id = shop(&s, &api).await;
    let (alice, _) = api.login("mock:alice").await;
    let r = order(&api, &alice, &id, 1).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let no = r.body["order"]["out_trade_no"]
        .as_str()
        .unwrap()
        .to_string();
    let before = get_order(&api, &alice, &no).await.body;
    for (variant, status) in [
        ("forged", 401),
        ("stale", 401),
        ("signtest", 401),
        ("unknown_key", 401),
        ("wrong_amount", 400),
        // Signed and encrypted by WeChat's key, but about an order nobody has.
        ("other_order", 400),
    ] {
        for key in ["certificate", "public_key"] {
            let n = pay(&s, &no, variant, key).await;
            assert_eq!(n["notify_status"], status, "{variant} {key}: {n}");
            let body: Value = serde_json::from_str(n["notify_body"].as_str().unwrap()).unwrap();
            assert_eq!(body["code"], "FAIL", "{variant}");
            // Nothing changed (the read asks WeChat, which says not paid).
            let o = get_order(&api, &alice, &no).await;
            assert_eq!(o.body, before, "{variant} {key}");
            assert_eq!(o.body["state"], "PENDING");
        }
    }
    // Not from WeChat at all: no headers, no body.
    let r = api
        .call("POST", "/v1/pay/notify", None, Some(json!({})))
        .await;
    assert_eq!(r.status, 401, "{}", r.text);
    assert_eq!(r.body["code"], "FAIL");
    let r = reqwest::Client::new()
        .post(s.url("/v1/pay/notify"))
        .header("wechatpay-serial", "x")
        .header("wechatpay-timestamp", "not a number")
        .header("wechatpay-nonce", "n")
        .header("wechatpay-signature", "s")
        .body(vec![0xffu8; 100])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // A correctly signed ciphertext naming another of our orders (another amount): that
    // order is not paid by it, and this one neither.
    let r = order(&api, &alice, &id, 2).await;
    let other = r.body["order"]["out_trade_no"]
        .as_str()
        .unwrap()
        .to_string();
    let other_before = get_order(&api, &alice, &other).await.body;
    let (_, n) = s
        .mock_post(
            &format!("/mock/pay/{no}"),
            json!({"variant": "other_order", "other": other}),
        )
        .await;
    assert_eq!(n["notify_status"], 400, "{n}");
    assert_eq!(get_order(&api, &alice, &other).await.body, other_before);
    assert_eq!(get_order(&api, &alice, &no).await.body, before);
    assert_eq!(paid_log(&api).await.len(), 0, "on_paid never ran");
    assert_eq!(get_order(&api, &alice, &no).await.body["state"], "PENDING");
    assert!(
        rows(&api, "receipts").await.is_empty(),
        "no record action ran"
    );
}

async fn a_dropped_notification_is_caught_by_reading_the_order(s: Server) {
    let api = Api::new(&s.base);
    let id = shop(&s, &api).await;
    let (alice, _) = api.login("mock:alice").await;
    let r = order(&api, &alice, &id, 2).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let no = r.body["order"]["out_trade_no"]
        .as_str()
        .unwrap()
        .to_string();
    let n = pay(&s, &no, "drop", "certificate").await;
    assert!(n["notify_status"].is_null(), "no notification: {n}");
    // The read asks WeChat Pay's query API (its answer verified) and records the payment.
    let o = get_order(&api, &alice, &no).await;
    assert_eq!(o.status, 200, "{}", o.text);
    assert_eq!(o.body["state"], "PAID");
    let rows = paid_log_reaches(&api, 1).await;
    assert_eq!(rows.len(), 1);
    // The late notification then changes nothing.
    let n = pay(&s, &no, "good", "certificate").await;
    assert_eq!(n["notify_status"], 204, "{n}");
    assert_eq!(get_order(&api, &alice, &no).await.body, o.body);
    assert_eq!(paid_log(&api).await.len(), 1);
}

async fn the_client_does_not_set_the_amount(s: Server) {
    let api = Api::new(&s.base);
    let id = shop(&s, &api).await;
    let (alice, _) = api.login("mock:alice").await;
    let item = json!({"table": "products", "id": id});
    for (body, status, code) in [
        (
            json!({"item": item, "amount": 1}),
            400,
            "PAY_AMOUNT_NOT_ALLOWED",
        ),
        (json!({"amount": 1}), 400, "PAY_AMOUNT_NOT_ALLOWED"),
        (json!({"item": item, "price": 1}), 400, "UNKNOWN_FIELD"),
        (
            json!({"item": {"table": "paid_log", "id": "x"}}),
            400,
            "PAY_ITEM_NOT_PRICED",
        ),
        (
            json!({"item": item, "quantity": 0}),
            400,
            "INVALID_ARGUMENT",
        ),
        (
            json!({"item": item, "quantity": 100}),
            400,
            "INVALID_ARGUMENT",
        ),
        (
            json!({"item": item, "quantity": i64::MAX}),
            400,
            "INVALID_ARGUMENT",
        ),
        (json!({"item": item, "quantity": "2"}), 400, "INVALID_BODY"),
        (
            json!({"item": {"table": "products", "id": "nope"}}),
            404,
            "NOT_FOUND",
        ),
        (json!({}), 400, "INVALID_ARGUMENT"),
    ] {
        let r = api
            .call("POST", "/v1/pay/orders", Some(&alice), Some(body.clone()))
            .await;
        assert_eq!((r.status, r.code()), (status, code), "{body}: {}", r.text);
    }
    // Anonymous: no order.
    let r = api
        .call("POST", "/v1/pay/orders", None, Some(json!({"item": item})))
        .await;
    assert_eq!(r.status, 401, "{}", r.text);
    // Nothing was ordered.
    let l = api.call("GET", "/v1/pay/orders", Some(&alice), None).await;
    assert_eq!(l.body["items"], json!([]), "{}", l.text);
}

async fn orders_are_their_buyers_and_close(s: Server) {
    let api = Api::new(&s.base);
    let id = shop(&s, &api).await;
    let (alice, _) = api.login("mock:alice").await;
    let (bob, _) = api.login("mock:bob").await;
    let r = order(&api, &alice, &id, 1).await;
    let no = r.body["order"]["out_trade_no"]
        .as_str()
        .unwrap()
        .to_string();
    // Bob neither sees nor closes Alice's order; an admin sees it.
    assert_eq!(get_order(&api, &bob, &no).await.status, 404);
    let c = api
        .call(
            "POST",
            &format!("/v1/pay/orders/{no}/close"),
            Some(&bob),
            None,
        )
        .await;
    assert_eq!(c.status, 404, "{}", c.text);
    let l = api.call("GET", "/v1/pay/orders", Some(&bob), None).await;
    assert_eq!(l.body["items"], json!([]));
    assert_eq!(get_order(&api, ADMIN_KEY, &no).await.status, 200);
    for bad in ["x", "%2e%2e", "a%00bcdefg", &"a".repeat(33)] {
        assert_eq!(get_order(&api, &alice, bad).await.status, 404, "{bad}");
    }
    // Alice closes it; paying it then fails at WeChat, so it stays CLOSED.
    let c = api
        .call(
            "POST",
            &format!("/v1/pay/orders/{no}/close"),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(c.status, 200, "{}", c.text);
    assert_eq!(c.body["state"], "CLOSED");
    let (status, _) = s.mock_post(&format!("/mock/pay/{no}"), json!({})).await;
    assert_eq!(status, 409);
    assert_eq!(get_order(&api, &alice, &no).await.body["state"], "CLOSED");

    // A paid order does not close.
    let r = order(&api, &alice, &id, 1).await;
    let no = r.body["order"]["out_trade_no"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        pay(&s, &no, "good", "certificate").await["notify_status"],
        204
    );
    let c = api
        .call(
            "POST",
            &format!("/v1/pay/orders/{no}/close"),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(
        (c.status, c.code()),
        (409, "PAY_ORDER_NOT_PENDING"),
        "{}",
        c.text
    );
}

/// Every row of a table (as admin).
async fn rows(api: &Api, table: &str) -> Vec<Value> {
    let r = admin(
        api,
        "POST",
        &format!("/v1/tables/{table}/query"),
        json!({"limit": 100}),
    )
    .await;
    r.body["items"].as_array().unwrap().clone()
}

/// The admins' view of an order: `{order, history}`.
async fn history(api: &Api, no: &str) -> Value {
    admin(
        api,
        "GET",
        &format!("/v1/admin/pay/orders/{no}"),
        Value::Null,
    )
    .await
    .body
}

/// The history's action lines named `prefix…` that succeeded / failed.
fn action_runs(h: &Value, prefix: &str) -> (usize, usize) {
    let lines = h["history"].as_array().cloned().unwrap_or_default();
    let of = |ok: bool| {
        lines
            .iter()
            .filter(|l| {
                l["kind"] == "action"
                    && l["action"].as_str().unwrap_or("").starts_with(prefix)
                    && l["ok"] == ok
            })
            .count()
    };
    (of(true), of(false))
}

/// Polls (no time assertion) until `done(history)`; on the Lambda face each round is
/// also a schedule tick (what EventBridge does every minute).
async fn history_until(s: &Server, api: &Api, no: &str, done: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..600 {
        let h = history(api, no).await;
        if done(&h) {
            return h;
        }
        if let Some(face) = &s.lambda {
            face.fire_schedules().await.expect("the schedule runs");
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("never: {}", history(api, no).await);
}

const ACTIONS: [&str; 5] = [
    "on_paid shop.paid",
    "actions[0] create receipts",
    "actions[1] update {{item.table}}",
    "message pay.paid",
    "publish sales",
];

async fn a_hundred_duplicate_notifications_run_each_action_once(s: Server) {
    let api = Api::new(&s.base);
    let id = shop(&s, &api).await;
    let (alice, alice_u) = api.login("mock:alice").await;
    let (bob, _) = api.login("mock:bob").await;
    // Bob follows the sales topic; Alice is online for her message.
    admin(
        &api,
        "PUT",
        "/v1/topics/rules/sales",
        json!({"subscribe": "users", "publish": "nobody"}),
    )
    .await;
    let mut b = Client::open(&s, &bob).await;
    b.ok(json!({"type": "subscribe", "topic": "sales"})).await;
    let mut a = Client::open(&s, &alice).await;

    let r = order(&api, &alice, &id, 2).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let no = r.body["order"]["out_trade_no"]
        .as_str()
        .unwrap()
        .to_string();
    // One good notification, then 99 copies: 9 one after another, 90 in 3 concurrent
    // waves of 30.
    assert_eq!(
        pay(&s, &no, "good", "certificate").await["notify_status"],
        204
    );
    for _ in 0..9 {
        assert_eq!(pay(&s, &no, "replay", "").await["notify_status"], 204);
    }
    for _ in 0..3 {
        let mut wave = Vec::new();
        for _ in 0..30 {
            let m = s.wechat_mock.clone();
            let no = no.clone();
            wave.push(tokio::spawn(async move {
                reqwest::Client::new()
                    .post(format!("{m}/mock/pay/{no}"))
                    .json(&json!({"variant": "replay"}))
                    .send()
                    .await
                    .unwrap()
                    .json::<Value>()
                    .await
                    .unwrap()
            }));
        }
        for w in wave {
            let n = w.await.unwrap();
            // Recorded already; a concurrent one may also be told to retry.
            let st = n["notify_status"].as_u64().unwrap();
            assert!(st == 204 || st >= 500 || st == 409, "{n}");
        }
    }
    // Every action ran, each once.
    let h = history_until(&s, &api, &no, |h| {
        ACTIONS.iter().all(|p| action_runs(h, p).0 >= 1)
    })
    .await;
    for p in ACTIONS {
        assert_eq!(action_runs(&h, p), (1, 0), "{p}: {h}");
    }
    let paid: Vec<&Value> = h["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["kind"] == "state" && l["to"] == "PAID")
        .collect();
    assert_eq!(paid.len(), 1, "one transition: {h}");
    assert_eq!(paid[0]["from"], "PENDING");
    assert_eq!(paid[0]["by"], "notify");
    assert_eq!(h["order"]["state"], "PAID");

    // The records, with their templates filled in.
    assert_eq!(paid_log(&api).await.len(), 1, "on_paid once");
    let receipts = rows(&api, "receipts").await;
    assert_eq!(receipts.len(), 1, "{receipts:?}");
    let rc = &receipts[0];
    assert_eq!(rc["order"], no.as_str());
    assert_eq!(rc["buyer"], alice_u["id"]);
    assert_eq!(rc["fen"], 2 * 1234);
    assert_eq!(rc["n"], 2);
    assert_eq!(rc["what"], format!("products/{id}"));
    let p = admin(
        &api,
        "GET",
        &format!("/v1/tables/products/records/{id}"),
        Value::Null,
    )
    .await;
    assert_eq!(p.body["last_order"], no.as_str(), "{}", p.text);

    // Alice's message, once, exactly as the SDK expects it.
    let m = a.next().await;
    assert_eq!(m["type"], "message", "{m}");
    assert_eq!(m["cmd"], "pay.paid");
    assert_eq!(m["from"], json!({"system": "pay"}));
    assert_eq!(m["body"]["out_trade_no"], no.as_str());
    assert_eq!(m["body"]["state"], "PAID");
    assert_eq!(m["body"]["amount"], 2 * 1234);
    assert!(m["body"]["transaction_id"].as_str().is_some(), "{m}");
    assert!(!m.to_string().contains("openid"), "{m}");
    a.quiet().await;
    // The topic's event, once.
    let e = b.next().await;
    assert_eq!(
        (e["type"].as_str(), e["topic"].as_str()),
        (Some("event"), Some("sales")),
        "{e}"
    );
    assert_eq!(e["data"]["cmd"], "pay.paid");
    assert_eq!(e["data"]["order"]["out_trade_no"], no.as_str());
    b.quiet().await;
}

async fn a_failing_action_is_retried_and_the_payment_kept(s: Server) {
    let api = Api::new(&s.base);
    // No receipts table yet: the create action fails.
    let id = shop_without_receipts(&s, &api).await;
    let (alice, _) = api.login("mock:alice").await;
    let r = order(&api, &alice, &id, 1).await;
    let no = r.body["order"]["out_trade_no"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        pay(&s, &no, "good", "certificate").await["notify_status"],
        204
    );
    let h = history_until(&s, &api, &no, |h| action_runs(h, ACTIONS[1]).1 >= 1).await;
    assert_eq!(h["order"]["state"], "PAID", "the payment stands");
    let failed = h["history"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["action"] == ACTIONS[1] && l["ok"] == false)
        .unwrap()
        .clone();
    assert!(
        failed["error"].as_str().unwrap().contains("NOT_FOUND"),
        "{failed}"
    );
    // The pending item is what admins see in the outbox.
    let ob = admin(&api, "GET", "/v1/functions/outbox", Value::Null).await;
    let waiting: Vec<&Value> = ob.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["order"] == no.as_str() && i["name"] == ACTIONS[1])
        .collect();
    assert_eq!(waiting.len(), 1, "{}", ob.text);
    assert!(
        waiting[0]["last_error"]
            .as_str()
            .unwrap()
            .contains("NOT_FOUND")
    );
    // Fixed: the table exists; the retry (backoff, then the schedule's sweep) runs it once.
    receipts_table(&api).await;
    s.settle().await;
    let h = history_until(&s, &api, &no, |h| action_runs(h, ACTIONS[1]).0 >= 1).await;
    assert_eq!(action_runs(&h, ACTIONS[1]).0, 1, "{h}");
    let receipts = rows(&api, "receipts").await;
    assert_eq!(receipts.len(), 1, "{receipts:?}");
    assert_eq!(receipts[0]["order"], no.as_str());
    // The other actions ran once, at once.
    for p in [ACTIONS[0], ACTIONS[2], ACTIONS[3]] {
        assert_eq!(action_runs(&h, p), (1, 0), "{p}: {h}");
    }
    assert_eq!(get_order(&api, &alice, &no).await.body["state"], "PAID");
}

async fn the_pay_log_pages_newest_first_for_admins(s: Server) {
    let api = Api::new(&s.base);
    let id = shop(&s, &api).await;
    let (alice, _) = api.login("mock:alice").await;
    let (bob, _) = api.login("mock:bob").await;
    let mut nos = Vec::new();
    for (who, q) in [(&alice, 1), (&bob, 2), (&alice, 3)] {
        let r = order(&api, who, &id, q).await;
        assert_eq!(r.status, 201, "{}", r.text);
        nos.push(
            r.body["order"]["out_trade_no"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    assert_eq!(
        pay(&s, &nos[1], "good", "certificate").await["notify_status"],
        204
    );
    let list = |q: &str| {
        let api = &api;
        let q = q.to_string();
        async move {
            api.call(
                "GET",
                &format!("/v1/admin/pay/orders{q}"),
                Some(ADMIN_KEY),
                None,
            )
            .await
        }
    };
    let nos_of = |a: &Answer| -> Vec<String> {
        a.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["out_trade_no"].as_str().unwrap().to_string())
            .collect()
    };
    let p1 = list("?limit=2").await;
    assert_eq!(p1.status, 200, "{}", p1.text);
    assert_eq!(
        nos_of(&p1),
        vec![nos[2].clone(), nos[1].clone()],
        "newest first"
    );
    let cursor = p1.body["cursor"].as_str().expect("a next page").to_string();
    let p2 = list(&format!("?limit=2&cursor={}", urlencode(&cursor))).await;
    assert_eq!(nos_of(&p2), vec![nos[0].clone()], "{}", p2.text);
    assert!(p2.body["cursor"].is_null(), "{}", p2.text);
    let paid = list("?state=PAID").await;
    assert_eq!(nos_of(&paid), vec![nos[1].clone()]);
    assert_eq!(paid.body["items"][0]["state"], "PAID");
    let pending = list("?state=PENDING").await;
    assert_eq!(nos_of(&pending), vec![nos[2].clone(), nos[0].clone()]);
    assert_eq!(nos_of(&list("?state=CLOSED").await), Vec::<String>::new());
    // Refused: a state that does not exist, another parameter, a user.
    let r = list("?state=paid%27%20OR%201").await;
    assert_eq!(
        (r.status, r.code()),
        (400, "INVALID_ARGUMENT"),
        "{}",
        r.text
    );
    let r = list("?sort=amount").await;
    assert_eq!(r.status, 400, "{}", r.text);
    for token in [alice.as_str(), bob.as_str()] {
        let r = api
            .call("GET", "/v1/admin/pay/orders", Some(token), None)
            .await;
        assert_eq!(r.status, 403, "{}", r.text);
        let r = api
            .call(
                "GET",
                &format!("/v1/admin/pay/orders/{}", nos[0]),
                Some(token),
                None,
            )
            .await;
        assert_eq!(r.status, 403, "{}", r.text);
    }
    let r = api.call("GET", "/v1/admin/pay/orders", None, None).await;
    assert_eq!(r.status, 401, "{}", r.text);
    // The paid order's history: created, paid by the notification.
    let h = history(&api, &nos[1]).await;
    let states: Vec<(&str, &str)> = h["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["kind"] == "state")
        .map(|l| (l["to"].as_str().unwrap(), l["by"].as_str().unwrap_or("")))
        .collect();
    assert_eq!(states, vec![("PENDING", ""), ("PAID", "notify")], "{h}");
    assert!(!h.to_string().contains("openid"), "{h}");
    let r = api
        .call(
            "GET",
            "/v1/admin/pay/orders/yqnosuchorder",
            Some(ADMIN_KEY),
            None,
        )
        .await;
    assert_eq!(r.status, 404, "{}", r.text);
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

async fn refund(api: &Api, token: &str, no: &str, body: Value) -> Answer {
    api.call(
        "POST",
        &format!("/v1/pay/orders/{no}/refunds"),
        Some(token),
        Some(body),
    )
    .await
}

/// `POST /mock/refund/{out_refund_no}`: WeChat Pay's refund notification, now.
async fn refund_notify(s: &Server, out_refund_no: &str, status: &str) -> Value {
    s.mock_post_ok(
        &format!("/mock/refund/{out_refund_no}"),
        json!({"status": status}),
    )
    .await
}

/// The next `message` frame with `cmd` (skipping others).
async fn message(c: &mut Client, cmd: &str) -> Value {
    loop {
        let f = c.next().await;
        if f["type"] == "message" && f["cmd"] == cmd {
            return f;
        }
    }
}

async fn refunds_are_for_admins_verified_and_counted_once(s: Server) {
    let api = Api::new(&s.base);
    let id = shop(&s, &api).await;
    let (alice, _) = api.login("mock:alice").await;
    let (bob, _) = api.login("mock:bob").await;
    let mut a = Client::open(&s, &alice).await;
    let r = order(&api, &alice, &id, 2).await;
    let no = r.body["order"]["out_trade_no"]
        .as_str()
        .unwrap()
        .to_string();
    let total = 2 * 1234;
    // Not paid yet: nothing to refund.
    let r = refund(&api, ADMIN_KEY, &no, json!({})).await;
    assert_eq!(
        (r.status, r.code()),
        (409, "PAY_ORDER_NOT_PAID"),
        "{}",
        r.text
    );
    assert_eq!(
        pay(&s, &no, "good", "certificate").await["notify_status"],
        204
    );
    message(&mut a, "pay.paid").await;

    // Only admins refund.
    for t in [alice.as_str(), bob.as_str()] {
        let r = refund(&api, t, &no, json!({"amount": 1})).await;
        assert_eq!(r.status, 403, "{}", r.text);
    }
    for (body, code) in [
        (json!({"amount": 0}), "INVALID_ARGUMENT"),
        (json!({"amount": total + 1}), "INVALID_ARGUMENT"),
        (json!({"amount": -5}), "INVALID_ARGUMENT"),
        (json!({"out_refund_no": "a b"}), "INVALID_ARGUMENT"),
        (json!({"reason": "x".repeat(81)}), "INVALID_ARGUMENT"),
        (json!({"amount": "5"}), "INVALID_BODY"),
        (json!({"amount": 5, "to": "me"}), "UNKNOWN_FIELD"),
    ] {
        let r = refund(&api, ADMIN_KEY, &no, body.clone()).await;
        assert_eq!((r.status, r.code()), (400, code), "{body}: {}", r.text);
    }

    // A partial refund WeChat holds (PROCESSING); asking again answers the same refund.
    let r1 = refund(
        &api,
        ADMIN_KEY,
        &no,
        json!({"amount": 1000, "reason": "mock:hold", "out_refund_no": "r1"}),
    )
    .await;
    assert_eq!(r1.status, 200, "{}", r1.text);
    assert_eq!(r1.body["refund"]["status"], "PROCESSING");
    assert_eq!(r1.body["order"]["state"], "PAID");
    let again = refund(
        &api,
        ADMIN_KEY,
        &no,
        json!({"amount": 1000, "reason": "mock:hold", "out_refund_no": "r1"}),
    )
    .await;
    assert_eq!(again.body["refund"], r1.body["refund"], "{}", again.text);
    let r = refund(
        &api,
        ADMIN_KEY,
        &no,
        json!({"amount": 7, "out_refund_no": "r1"}),
    )
    .await;
    assert_eq!((r.status, r.code()), (409, "CONFLICT"), "{}", r.text);
    // 1000 is reserved: at most total − 1000 more.
    let r = refund(&api, ADMIN_KEY, &no, json!({"amount": total - 999})).await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(r.body["error"]["details"]["left"], total - 1000);

    // ABNORMAL is not final; SUCCESS then counts once, however often it is told.
    assert_eq!(
        refund_notify(&s, "r1", "ABNORMAL").await["notify_status"],
        204
    );
    let o = get_order(&api, &alice, &no).await;
    assert_eq!(o.body["state"], "PAID", "{}", o.text);
    assert_eq!(o.body["refunds"][0]["status"], "ABNORMAL");
    for _ in 0..3 {
        assert_eq!(
            refund_notify(&s, "r1", "SUCCESS").await["notify_status"],
            204
        );
    }
    let o = get_order(&api, &alice, &no).await;
    assert_eq!(o.body["state"], "PARTIALLY_REFUNDED", "{}", o.text);
    assert_eq!(o.body["refunded"], 1000);
    assert_eq!(o.body["refunds"][0]["status"], "SUCCESS");
    let m = message(&mut a, "pay.refunded").await;
    assert_eq!(m["from"], json!({"system": "pay"}));
    assert_eq!(m["body"]["out_trade_no"], no.as_str());
    assert_eq!(m["body"]["state"], "PARTIALLY_REFUNDED");
    assert_eq!(m["body"]["refund"]["out_refund_no"], "r1");
    assert_eq!(m["body"]["refund"]["amount"], 1000);

    // A refund WeChat closes gives its amount back.
    let r3 = refund(
        &api,
        ADMIN_KEY,
        &no,
        json!({"amount": 100, "reason": "mock:hold", "out_refund_no": "r3"}),
    )
    .await;
    assert_eq!(r3.status, 200, "{}", r3.text);
    assert_eq!(
        refund_notify(&s, "r3", "CLOSED").await["notify_status"],
        204
    );
    // The rest (WeChat notifies by itself this time).
    let rest = refund(&api, ADMIN_KEY, &no, json!({"out_refund_no": "r4"})).await;
    assert_eq!(rest.status, 200, "{}", rest.text);
    assert_eq!(rest.body["refund"]["amount"], total - 1000);
    let m = message(&mut a, "pay.refunded").await;
    assert_eq!(m["body"]["state"], "REFUNDED", "{m}");
    assert_eq!(m["body"]["refund"]["out_refund_no"], "r4");
    let o = get_order(&api, &alice, &no).await;
    assert_eq!(o.body["state"], "REFUNDED", "{}", o.text);
    assert_eq!(o.body["refunded"], total);
    let statuses: Vec<&str> = o.body["refunds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, vec!["SUCCESS", "CLOSED", "SUCCESS"], "{}", o.text);
    a.quiet().await;
    // Nothing is left.
    let r = refund(&api, ADMIN_KEY, &no, json!({})).await;
    assert_eq!(
        (r.status, r.code()),
        (409, "PAY_ORDER_NOT_PAID"),
        "{}",
        r.text
    );
    // A replayed SUCCESS changes nothing.
    assert_eq!(
        refund_notify(&s, "r4", "SUCCESS").await["notify_status"],
        204
    );
    assert_eq!(get_order(&api, &alice, &no).await.body, o.body);
    // The pay log and the history say so.
    let l = admin(
        &api,
        "GET",
        "/v1/admin/pay/orders?state=REFUNDED",
        Value::Null,
    )
    .await;
    assert_eq!(
        l.body["items"][0]["out_trade_no"],
        no.as_str(),
        "{}",
        l.text
    );
    let h = history(&api, &no).await;
    let successes = h["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["kind"] == "refund" && l["status"] == "SUCCESS")
        .count();
    assert_eq!(successes, 2, "{h}");
}
