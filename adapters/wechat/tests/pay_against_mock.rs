//! The domain's WeChat Pay (core::pay) through the real client, against the mock, over
//! real HTTP on 127.0.0.1: order, pay, a notification sent to a notify endpoint that
//! hands it to `Pay::notify`, and every tampered variant refused with nothing changed.

use std::sync::Arc;

use async_trait::async_trait;
use axum::http::{HeaderMap, StatusCode};
use serde_json::{Value, json};
use yunqiao_core::Result;
use yunqiao_core::auth::{Caller, User};
use yunqiao_core::clock::{SharedClock, SystemClock};
use yunqiao_core::memory_store::MemoryStore;
use yunqiao_core::pay::{
    ApiV3Key, Catalog, Merchant, MerchantKey, NewOrder, Pay, PaySettings, SignedHeaders, WxPayKeys,
};
use yunqiao_wechat::{MockConfig, WeChatClient, WeChatConfig, WeChatMock};

const APPID: &str = "wxpaytestapp";

struct Shop;

#[async_trait]
impl Catalog for Shop {
    async fn read(&self, _caller: &Caller, table: &str, id: &str) -> Result<Value> {
        match (table, id) {
            ("shop", "tea") => Ok(json!({"price": 1200, "name": "Tea"})),
            _ => Err(yunqiao_core::Error::not_found("no such record")),
        }
    }
}

fn header(h: &HeaderMap, k: &str) -> String {
    h.get(k)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string()
}

struct Rig {
    pay: Arc<Pay>,
    mock_base: String,
    http: reqwest::Client,
    buyer: Caller,
}

async fn start(with_certificate: bool, with_public_key: bool) -> Rig {
    let clock: SharedClock = Arc::new(SystemClock);
    let mock = WeChatMock::new(
        MockConfig {
            appid: APPID.into(),
            secret: "s".into(),
            unionid: false,
        },
        clock.clone(),
    );
    let setup = mock.pay_setup();
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mock_base = format!("http://{}", l.local_addr().unwrap());
    let router = mock.router();
    tokio::spawn(async move { axum::serve(l, router).await.unwrap() });

    let client = WeChatClient::new(
        WeChatConfig {
            api_base: mock_base.clone(),
            appid: APPID.into(),
            secret: "s".into(),
        },
        clock.clone(),
    )
    .unwrap()
    .with_pay_base(mock_base.clone());
    let mut wx_keys = WxPayKeys::default();
    if with_certificate {
        wx_keys.add_certificate(&setup.platform_cert_pem).unwrap();
    }
    if with_public_key {
        wx_keys
            .add_public_key(&setup.public_key_id, &setup.public_key_pem)
            .unwrap();
    }
    let notify_l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let notify_url = format!("http://{}/v1/pay/notify", notify_l.local_addr().unwrap());
    let settings = PaySettings {
        merchant: Merchant {
            appid: APPID.into(),
            mchid: setup.mchid.clone(),
            serial: setup.merchant_serial.clone(),
            key: MerchantKey::from_pem(&setup.merchant_key_pem).unwrap(),
            wx_keys,
        },
        api_v3_key: ApiV3Key::new(&setup.api_v3_key).unwrap(),
        notify_url,
        tables: vec!["shop".into()],
        price_field: "price".into(),
        description_field: "name".into(),
        max_quantity: 10,
        client_amount: None,
        on_paid: None,
        price_function: None,
        actions: Vec::new(),
        topic: None,
        order_ttl_secs: yunqiao_core::pay::DEFAULT_ORDER_TTL_SECS,
        reconcile_after_secs: yunqiao_core::pay::DEFAULT_RECONCILE_AFTER_SECS,
    };
    let store = Arc::new(MemoryStore::new(clock.clone()));
    let pay = Arc::new(Pay::new(
        Some(settings),
        store,
        Arc::new(client),
        clock,
        Arc::new(Shop),
    ));
    let p = pay.clone();
    let notify = axum::Router::new().route(
        "/v1/pay/notify",
        axum::routing::post(move |h: HeaderMap, body: axum::body::Bytes| {
            let p = p.clone();
            async move {
                let sh = SignedHeaders {
                    timestamp: header(&h, "wechatpay-timestamp"),
                    nonce: header(&h, "wechatpay-nonce"),
                    signature: header(&h, "wechatpay-signature"),
                    serial: header(&h, "wechatpay-serial"),
                };
                match p.notify(&sh, &body).await {
                    Ok(_) => (StatusCode::NO_CONTENT, String::new()),
                    Err(e) => (
                        StatusCode::from_u16(e.status()).unwrap(),
                        json!({"code": "FAIL", "message": e.code_str()}).to_string(),
                    ),
                }
            }
        }),
    );
    tokio::spawn(async move { axum::serve(notify_l, notify).await.unwrap() });
    let buyer = Caller::User {
        user: Arc::new(
            serde_json::from_value::<User>(json!({
                "id": "u1", "openid": "o-buyer-1", "created_at": 0, "updated_at": 0,
            }))
            .unwrap(),
        ),
        session: String::new(),
    };
    Rig {
        pay,
        mock_base,
        http: reqwest::Client::new(),
        buyer,
    }
}

impl Rig {
    async fn order(&self) -> String {
        let req: NewOrder =
            serde_json::from_value(json!({"item": {"table": "shop", "id": "tea"}, "quantity": 3}))
                .unwrap();
        let out = self.pay.create(&self.buyer, req).await.unwrap();
        assert_eq!(out["order"]["amount"], 3600);
        out["order"]["out_trade_no"].as_str().unwrap().to_string()
    }

    async fn pay_through_mock(&self, no: &str, body: Value) -> Value {
        let r = self
            .http
            .post(format!("{}/mock/pay/{no}", self.mock_base))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        r.json().await.unwrap()
    }

    async fn state(&self, no: &str) -> String {
        // An admin's read: `get` asks WeChat while the order is pending, so use the list.
        let l = self.pay.list(&self.buyer, Some(100), None).await.unwrap();
        l["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["out_trade_no"] == no)
            .map(|o| o["state"].as_str().unwrap().to_string())
            .unwrap()
    }
}

#[tokio::test]
async fn order_pay_notify_paid_and_tampered_variants_refused() {
    let r = start(true, true).await;
    let no = r.order().await;
    for (variant, status) in [
        ("forged", 401),
        ("stale", 401),
        ("signtest", 401),
        ("unknown_key", 401),
        ("wrong_amount", 400),
    ] {
        let out = r.pay_through_mock(&no, json!({"variant": variant})).await;
        assert_eq!(out["notify_status"], status, "{variant}: {out}");
        assert!(
            out["notify_body"].as_str().unwrap().contains("\"FAIL\""),
            "{out}"
        );
        assert_eq!(r.state(&no).await, "PENDING", "{variant}");
    }
    let out = r.pay_through_mock(&no, json!({})).await;
    assert_eq!(out["notify_status"], 204, "{out}");
    assert_eq!(r.state(&no).await, "PAID");
    // WeChat's retry of the same notification: answered 204, nothing changes twice.
    let out = r.pay_through_mock(&no, json!({"variant": "replay"})).await;
    assert_eq!(out["notify_status"], 204, "{out}");
    assert_eq!(r.state(&no).await, "PAID");
    // Signed by the WeChat Pay public key instead: accepted as well.
    let no2 = r.order().await;
    let out = r.pay_through_mock(&no2, json!({"key": "public_key"})).await;
    assert_eq!(out["notify_status"], 204, "{out}");
    assert_eq!(r.state(&no2).await, "PAID");
}

#[tokio::test]
async fn a_dropped_notification_is_caught_by_querying_wechat() {
    let r = start(true, false).await;
    let no = r.order().await;
    let out = r.pay_through_mock(&no, json!({"variant": "drop"})).await;
    assert_eq!(out["notify_status"], Value::Null);
    assert_eq!(r.state(&no).await, "PENDING");
    let o = r.pay.get(&r.buyer, &no).await.unwrap();
    assert_eq!(o["state"], "PAID", "{o}");
    assert!(o["transaction_id"].as_str().unwrap().starts_with("4200"));
}

#[tokio::test]
async fn only_the_configured_key_kind_verifies_and_close_works() {
    // Public key only: a certificate-signed notification names an unknown serial.
    let r = start(false, true).await;
    let no = r.order().await;
    let out = r.pay_through_mock(&no, json!({})).await;
    assert_eq!(out["notify_status"], 401, "{out}");
    assert_eq!(r.state(&no).await, "PENDING");
    // Its answers are signed with the public key the requests name in
    // `Wechatpay-Serial`, so ordering worked; the public-key-signed notification passes.
    let no2 = r.order().await;
    let out = r.pay_through_mock(&no2, json!({"key": "public_key"})).await;
    assert_eq!(out["notify_status"], 204, "{out}");

    let r = start(true, false).await;
    let no = r.order().await;
    let closed = r.pay.close(&r.buyer, &no).await.unwrap();
    assert_eq!(closed["state"], "CLOSED");
    let resp = r
        .http
        .post(format!("{}/mock/pay/{no}", r.mock_base))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 409);
}
