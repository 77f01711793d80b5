//! WeChat Pay v3 over HTTP (issue 24) on every face: an order priced by the server from a
//! record, paid through the WeChat mock (which signs and encrypts its notification as
//! WeChat Pay does), the order PAID and `on_paid` run once; every tampered notification
//! refused with nothing changed; a dropped notification caught by a read of the order;
//! a client-given amount refused.

mod common;

use common::{ADMIN_KEY, Answer, Api, Server};
use serde_json::{Value, json};

const PAY: &[(&str, &str)] = &[
    ("YUNQIAO_PAY_TABLES", "products"),
    ("YUNQIAO_PAY_ON_PAID", "shop.paid"),
];

on_every_face!(env = super::PAY;
    a_priced_record_is_paid_once_through_the_mock,
    tampered_notifications_change_nothing,
    a_dropped_notification_is_caught_by_reading_the_order,
    the_client_does_not_set_the_amount,
    orders_are_their_buyers_and_close,
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
/// and its log table; the product's id.
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
    let r = reqwest::Client::new()
        .post(format!("{}/mock/pay/{no}", s.wechat_mock))
        .json(&json!({"variant": variant, "key": key}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "mock pay {variant}");
    r.json().await.unwrap()
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
    assert_eq!(paid_log(&api).await.len(), 0, "on_paid never ran");
    assert_eq!(get_order(&api, &alice, &no).await.body["state"], "PENDING");
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
    let r = reqwest::Client::new()
        .post(format!("{}/mock/pay/{no}", s.wechat_mock))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409);
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
