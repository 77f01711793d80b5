//! The WeChat Pay v3 half of the mock: its wire format is the real one (signed requests
//! checked with the merchant's key, answers and notifications signed with a platform
//! certificate or a WeChat Pay public key, resources AES-256-GCM under the APIv3 key).
//!
//! * `POST /v3/pay/transactions/jsapi` → `{prepay_id}`; 401 `SIGN_ERROR` for a request
//!   the merchant key did not sign, 400 `APPID_MCHID_NOT_MATCH`, 400 `PARAM_ERROR`,
//!   403 `OUT_TRADE_NO_USED` for a reused number with other parameters.
//! * `GET /v3/pay/transactions/out-trade-no/{no}?mchid=` → the transaction (`NOTPAY`,
//!   `SUCCESS`, `CLOSED`); 404 `ORDER_NOT_EXIST`.
//! * `POST /v3/pay/transactions/out-trade-no/{no}/close` `{mchid}` → 204.
//! * `POST /mock/pay/{no}` `{"variant"?, "key"?}` — what the buyer's `wx.requestPayment`
//!   stands for: the order is paid and its notification sent to its `notify_url`;
//!   answers `{"notify_status", "notify_body"}`. `key` is `certificate` (default) or
//!   `public_key` (which key signs). Variants for tests: `forged` (signature over
//!   another body), `stale` (6 minutes old), `signtest` (a `WECHATPAY/SIGNTEST/` probe),
//!   `wrong_amount` (one fen less), `unknown_key` (signed by a key nobody configured),
//!   `replay` (the last notification of this order again, as it was), `drop` (paid, no
//!   notification: for reconciliation), `other_order` (correctly signed and encrypted,
//!   but the resource is about another `out_trade_no`: `"other"` if given, else one
//!   nobody has). Tampered variants leave the order unpaid.
//!
//! * `POST /v3/refund/domestic/refunds` → `{refund_id, status: "PROCESSING", …}` for a
//!   paid order (the same `out_refund_no` again answers the same refund; more than what
//!   is left → 403 `NOT_ENOUGH`), then a signed and encrypted `REFUND.SUCCESS`
//!   notification to the refund's `notify_url` (unless its `reason` is `mock:hold`).
//! * `POST /mock/refund/{out_refund_no}` `{"status"?}` — for tests: the refund's
//!   notification (`SUCCESS`, `ABNORMAL` or `CLOSED`) now; answers like `/mock/pay`.
//!
//! The keys come from `mock_pay_keys/` (made for the mock, useless elsewhere) unless
//! configured; the APIv3 key is random per start. [`PayMock::setup`] hands a server the
//! merchant's side of them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};
use yunqiao_core::clock::SharedClock;
use yunqiao_core::pay::sign::{self, MerchantKey, PublicKey};
use yunqiao_core::pay::{ApiV3Key, Certificate};

const MERCHANT_KEY: &str = include_str!("mock_pay_keys/merchant_key.pem");
const PLATFORM_KEY: &str = include_str!("mock_pay_keys/platform_key.pem");
const PLATFORM_CERT: &str = include_str!("mock_pay_keys/platform_cert.pem");
const PUBKEY_KEY: &str = include_str!("mock_pay_keys/pubkey_key.pem");
const PUBKEY: &str = include_str!("mock_pay_keys/pubkey.pem");
const PUBKEY_ID: &str = "PUB_KEY_ID_0119000000012026010100000000000001";
pub const MOCK_MCHID: &str = "1900000001";
pub const MOCK_MERCHANT_SERIAL: &str = "3775B6A45ACD588826D15E583A95F5DD2DE5E9E8";

/// What a server needs to pay through this mock (the merchant's side).
#[derive(Clone)]
pub struct MockPaySetup {
    pub mchid: String,
    pub merchant_serial: String,
    pub merchant_key_pem: String,
    pub api_v3_key: String,
    pub platform_cert_pem: String,
    pub public_key_id: String,
    pub public_key_pem: String,
}

impl std::fmt::Debug for MockPaySetup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MockPaySetup {{ mchid: {} }}", self.mchid)
    }
}

struct MockOrder {
    body: Value,
    state: &'static str,
    transaction_id: String,
    last_notification: Option<(HeaderMap, Vec<u8>)>,
    refunds: Vec<MockRefund>,
}

#[derive(Clone)]
struct MockRefund {
    out_refund_no: String,
    refund_id: String,
    amount: i64,
    status: String,
    notify_url: String,
}

struct Keys {
    merchant_public: PublicKey,
    platform: MerchantKey,
    platform_serial: String,
    pubkey: MerchantKey,
    api_v3: ApiV3Key,
    api_v3_raw: String,
}

#[derive(Clone)]
pub struct PayMock {
    appid: Arc<String>,
    clock: SharedClock,
    keys: Arc<Keys>,
    orders: Arc<Mutex<HashMap<String, MockOrder>>>,
    http: reqwest::Client,
}

fn fail(status: StatusCode, code: &str, message: &str) -> (StatusCode, Value) {
    (status, json!({"code": code, "message": message}))
}

impl PayMock {
    pub fn new(appid: &str, clock: SharedClock) -> PayMock {
        let api_v3_raw = sign::nonce(32);
        // The embedded keys are well formed (tests read them): a failure is a build bug.
        let keys = Keys {
            merchant_public: MerchantKey::from_pem(MERCHANT_KEY)
                .map(|k| k.public_key())
                .unwrap_or_else(|e| panic!("mock merchant key: {e}")),
            platform: MerchantKey::from_pem(PLATFORM_KEY)
                .unwrap_or_else(|e| panic!("mock platform key: {e}")),
            platform_serial: Certificate::from_pem(PLATFORM_CERT)
                .map(|c| c.serial)
                .unwrap_or_else(|e| panic!("mock platform certificate: {e}")),
            pubkey: MerchantKey::from_pem(PUBKEY_KEY)
                .unwrap_or_else(|e| panic!("mock public key: {e}")),
            api_v3: ApiV3Key::new(&api_v3_raw).unwrap_or_else(|e| panic!("{e}")),
            api_v3_raw,
        };
        PayMock {
            appid: Arc::new(appid.to_string()),
            clock,
            keys: Arc::new(keys),
            orders: Default::default(),
            http: reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(5))
                .build()
                .unwrap_or_default(),
        }
    }

    pub fn setup(&self) -> MockPaySetup {
        MockPaySetup {
            mchid: MOCK_MCHID.into(),
            merchant_serial: MOCK_MERCHANT_SERIAL.into(),
            merchant_key_pem: MERCHANT_KEY.into(),
            api_v3_key: self.keys.api_v3_raw.clone(),
            platform_cert_pem: PLATFORM_CERT.into(),
            public_key_id: PUBKEY_ID.into(),
            public_key_pem: PUBKEY.into(),
        }
    }

    pub fn router(&self) -> Router {
        Router::new()
            .route("/v3/pay/transactions/jsapi", post(jsapi))
            .route("/v3/pay/transactions/out-trade-no/{no}", get(query))
            .route("/v3/pay/transactions/out-trade-no/{no}/close", post(close))
            .route("/mock/pay/{no}", post(pay_order))
            .route("/v3/refund/domestic/refunds", post(refund))
            .route("/mock/refund/{no}", post(refund_notify))
            .with_state(self.clone())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, MockOrder>> {
        self.orders.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Headers signing `body` with the platform certificate or the public key.
    fn signed_headers(&self, body: &[u8], by_public_key: bool, ts: i64) -> HeaderMap {
        let ts = ts.to_string();
        let nonce = sign::nonce(32);
        let msg = sign::response_message(&ts, &nonce, body);
        let (sig, serial) = if by_public_key {
            (self.keys.pubkey.sign(&msg), PUBKEY_ID.to_string())
        } else {
            (
                self.keys.platform.sign(&msg),
                self.keys.platform_serial.clone(),
            )
        };
        let mut h = HeaderMap::new();
        for (k, v) in [
            ("wechatpay-timestamp", ts),
            ("wechatpay-nonce", nonce),
            ("wechatpay-signature", sig),
            ("wechatpay-serial", serial),
            ("content-type", "application/json".to_string()),
        ] {
            if let Ok(v) = HeaderValue::from_str(&v) {
                h.insert(k, v);
            }
        }
        h
    }

    /// An answer as WeChat Pay signs it: with the key the request named in its own
    /// `Wechatpay-Serial`, the platform certificate otherwise.
    fn answer(&self, req: &HeaderMap, (status, body): (StatusCode, Value)) -> Response {
        let bytes = if body.is_null() {
            Vec::new()
        } else {
            body.to_string().into_bytes()
        };
        let by_pk = req
            .get("wechatpay-serial")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|s| s == PUBKEY_ID);
        let h = self.signed_headers(&bytes, by_pk, self.clock.now_secs());
        (status, h, bytes).into_response()
    }

    /// Checks the merchant's `Authorization` over this request.
    fn authorized(&self, method: &str, path: &str, h: &HeaderMap, body: &str) -> bool {
        let Some(a) = h
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(sign::parse_authorization)
        else {
            return false;
        };
        let (Some(mchid), Some(nonce), Some(ts), Some(sig)) = (
            a.get("mchid"),
            a.get("nonce_str"),
            a.get("timestamp").and_then(|t| t.parse::<i64>().ok()),
            a.get("signature"),
        ) else {
            return false;
        };
        if mchid != MOCK_MCHID || ts.abs_diff(self.clock.now_secs()) >= 300 {
            return false;
        }
        let msg = sign::request_message(method, path, ts, nonce, body);
        self.keys.merchant_public.verify(msg.as_bytes(), sig)
    }

    fn transaction(&self, o: &MockOrder, state: &str, total: i64) -> Value {
        json!({
            "appid": o.body["appid"], "mchid": o.body["mchid"],
            "out_trade_no": o.body["out_trade_no"], "transaction_id": o.transaction_id,
            "trade_type": "JSAPI", "trade_state": state,
            "trade_state_desc": if state == "SUCCESS" { "支付成功" } else { "" },
            "bank_type": "OTHERS", "attach": "",
            "success_time": yunqiao_core::clock::rfc3339(self.clock.now_ms()),
            "payer": {"openid": o.body["payer"]["openid"]},
            "amount": {"total": total, "payer_total": total, "currency": "CNY", "payer_currency": "CNY"},
        })
    }
}

fn valid_no(s: &str) -> bool {
    yunqiao_core::pay::valid_out_trade_no(s)
}

async fn jsapi(State(m): State<PayMock>, h: HeaderMap, body: String) -> Response {
    let path = "/v3/pay/transactions/jsapi";
    if !m.authorized("POST", path, &h, &body) {
        return m.answer(&h, fail(StatusCode::UNAUTHORIZED, "SIGN_ERROR", "签名错误"));
    }
    let Ok(v) = serde_json::from_str::<Value>(&body) else {
        return m.answer(
            &h,
            fail(StatusCode::BAD_REQUEST, "PARAM_ERROR", "body is not JSON"),
        );
    };
    if v["appid"] != json!(*m.appid) || v["mchid"] != json!(MOCK_MCHID) {
        return m.answer(
            &h,
            fail(
                StatusCode::BAD_REQUEST,
                "APPID_MCHID_NOT_MATCH",
                "appid和mch_id不匹配",
            ),
        );
    }
    let no = v["out_trade_no"].as_str().unwrap_or("").to_string();
    let total = v["amount"]["total"].as_i64().unwrap_or(0);
    let desc = v["description"].as_str().unwrap_or("");
    let notify = v["notify_url"].as_str().unwrap_or("");
    if !valid_no(&no)
        || total <= 0
        || desc.is_empty()
        || desc.chars().count() > 127
        || notify.contains('?')
        || !(notify.starts_with("https://") || notify.starts_with("http://"))
        || v["payer"]["openid"].as_str().unwrap_or("").is_empty()
    {
        return m.answer(&h, fail(StatusCode::BAD_REQUEST, "PARAM_ERROR", "参数错误"));
    }
    let mut orders = m.lock();
    if let Some(o) = orders.get(&no) {
        if o.body != v {
            return m.answer(
                &h,
                fail(StatusCode::FORBIDDEN, "OUT_TRADE_NO_USED", "商户订单号重复"),
            );
        }
    } else {
        orders.insert(
            no.clone(),
            MockOrder {
                body: v,
                state: "NOTPAY",
                transaction_id: String::new(),
                last_notification: None,
                refunds: Vec::new(),
            },
        );
    }
    drop(orders);
    let prepay = format!("wx{}", sign::nonce(30));
    m.answer(&h, (StatusCode::OK, json!({"prepay_id": prepay})))
}

#[derive(Deserialize)]
struct MchidParam {
    mchid: Option<String>,
}

async fn query(
    State(m): State<PayMock>,
    Path(no): Path<String>,
    Query(q): Query<MchidParam>,
    h: HeaderMap,
) -> Response {
    let path = format!(
        "/v3/pay/transactions/out-trade-no/{no}?mchid={}",
        q.mchid.as_deref().unwrap_or("")
    );
    if !m.authorized("GET", &path, &h, "") {
        return m.answer(&h, fail(StatusCode::UNAUTHORIZED, "SIGN_ERROR", "签名错误"));
    }
    let orders = m.lock();
    let Some(o) = orders.get(&no) else {
        return m.answer(
            &h,
            fail(StatusCode::NOT_FOUND, "ORDER_NOT_EXIST", "订单不存在"),
        );
    };
    let tx = m.transaction(o, o.state, o.body["amount"]["total"].as_i64().unwrap_or(0));
    drop(orders);
    m.answer(&h, (StatusCode::OK, tx))
}

async fn close(
    State(m): State<PayMock>,
    Path(no): Path<String>,
    h: HeaderMap,
    body: String,
) -> Response {
    let path = format!("/v3/pay/transactions/out-trade-no/{no}/close");
    if !m.authorized("POST", &path, &h, &body) {
        return m.answer(&h, fail(StatusCode::UNAUTHORIZED, "SIGN_ERROR", "签名错误"));
    }
    let mut orders = m.lock();
    let Some(o) = orders.get_mut(&no) else {
        return m.answer(
            &h,
            fail(StatusCode::NOT_FOUND, "ORDER_NOT_EXIST", "订单不存在"),
        );
    };
    if o.state == "SUCCESS" {
        drop(orders);
        return m.answer(
            &h,
            fail(StatusCode::BAD_REQUEST, "ORDER_PAID", "订单已支付"),
        );
    }
    o.state = "CLOSED";
    drop(orders);
    m.answer(&h, (StatusCode::NO_CONTENT, Value::Null))
}

#[derive(Deserialize, Default)]
struct PayBody {
    #[serde(default)]
    variant: Option<String>,
    #[serde(default)]
    key: Option<String>,
    /// `other_order`: the `out_trade_no` the resource names.
    #[serde(default)]
    other: Option<String>,
}

async fn pay_order(
    State(m): State<PayMock>,
    Path(no): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let p: PayBody = if body.is_empty() {
        PayBody::default()
    } else {
        match serde_json::from_slice(&body) {
            Ok(p) => p,
            Err(_) => {
                return (
                    StatusCode::BAD_REQUEST,
                    axum::Json(json!({"error": "body"})),
                )
                    .into_response();
            }
        }
    };
    let variant = p.variant.as_deref().unwrap_or("good");
    let by_pk = p.key.as_deref() == Some("public_key");
    let now = m.clock.now_secs();
    let (url, headers, bytes) = {
        let mut orders = m.lock();
        let Some(o) = orders.get_mut(&no) else {
            return (
                StatusCode::NOT_FOUND,
                axum::Json(json!({"error": "no such order"})),
            )
                .into_response();
        };
        if o.state == "CLOSED" {
            return (
                StatusCode::CONFLICT,
                axum::Json(json!({"error": "order closed"})),
            )
                .into_response();
        }
        let url = o.body["notify_url"].as_str().unwrap_or("").to_string();
        if variant == "replay" {
            let Some((h, b)) = o.last_notification.clone() else {
                return (
                    StatusCode::CONFLICT,
                    axum::Json(json!({"error": "nothing to replay"})),
                )
                    .into_response();
            };
            (url, h, b)
        } else {
            let total = o.body["amount"]["total"].as_i64().unwrap_or(0);
            let tampered = matches!(
                variant,
                "forged" | "stale" | "signtest" | "wrong_amount" | "unknown_key" | "other_order"
            );
            if !tampered && o.state != "SUCCESS" {
                o.state = "SUCCESS";
                o.transaction_id = transaction_id();
            }
            if variant == "drop" {
                return axum::Json(json!({"notify_status": null})).into_response();
            }
            let amount = if variant == "wrong_amount" {
                total - 1
            } else {
                total
            };
            let mut tx = m.transaction(o, "SUCCESS", amount);
            if variant == "other_order" {
                tx["out_trade_no"] = json!(
                    p.other
                        .clone()
                        .unwrap_or_else(|| "yq0000000000000nosuchorder00000".into())
                );
            }
            if o.transaction_id.is_empty() {
                // A tampered notification still looks like a real payment.
                tx["transaction_id"] = json!(transaction_id());
            }
            let nonce = sign::nonce(12);
            let Some(ct) = m
                .keys
                .api_v3
                .encrypt(&nonce, "transaction", tx.to_string().as_bytes())
            else {
                return StatusCode::INTERNAL_SERVER_ERROR.into_response();
            };
            let env = json!({
                "id": format!("EV-{}", sign::nonce(20)),
                "create_time": yunqiao_core::clock::rfc3339(m.clock.now_ms()),
                "resource_type": "encrypt-resource", "event_type": "TRANSACTION.SUCCESS",
                "summary": "支付成功",
                "resource": {"original_type": "transaction", "algorithm": "AEAD_AES_256_GCM",
                    "ciphertext": ct, "associated_data": "transaction", "nonce": nonce},
            });
            let bytes = env.to_string().into_bytes();
            let ts = if variant == "stale" { now - 360 } else { now };
            let mut h = m.signed_headers(&bytes, by_pk, ts);
            match variant {
                "forged" => {
                    let other = m.signed_headers(b"{}", by_pk, ts);
                    for k in ["wechatpay-signature", "wechatpay-nonce"] {
                        if let Some(v) = other.get(k) {
                            h.insert(k, v.clone());
                        }
                    }
                }
                "signtest" => {
                    let sig = h
                        .get("wechatpay-signature")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("");
                    if let Ok(v) = HeaderValue::from_str(&format!("WECHATPAY/SIGNTEST/{sig}")) {
                        h.insert("wechatpay-signature", v);
                    }
                }
                "unknown_key" => {
                    // Signed by the merchant's key under the platform serial: nobody's.
                    let msg = sign::response_message(
                        h.get("wechatpay-timestamp")
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or(""),
                        h.get("wechatpay-nonce")
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or(""),
                        &bytes,
                    );
                    let sig = MerchantKey::from_pem(MERCHANT_KEY).map(|k| k.sign(&msg));
                    if let Some(v) = sig.ok().and_then(|s| HeaderValue::from_str(&s).ok()) {
                        h.insert("wechatpay-signature", v);
                    }
                }
                _ => {}
            }
            if !tampered {
                o.last_notification = Some((h.clone(), bytes.clone()));
            }
            (url, h, bytes)
        }
    };
    match m.http.post(&url).headers(headers).body(bytes).send().await {
        Ok(r) => {
            let status = r.status().as_u16();
            let body = r.text().await.unwrap_or_default();
            axum::Json(json!({"notify_status": status, "notify_body": body})).into_response()
        }
        Err(e) => (
            StatusCode::BAD_GATEWAY,
            axum::Json(json!({"error": e.to_string()})),
        )
            .into_response(),
    }
}

/// `4200` and 24 digits, as WeChat's transaction ids look.
fn transaction_id() -> String {
    use rand::Rng;
    let mut rng = rand::thread_rng();
    let digits: String = (0..24)
        .map(|_| char::from(b'0' + rng.gen_range(0..10u8)))
        .collect();
    format!("4200{digits}")
}

fn refund_view(o: &MockOrder, r: &MockRefund) -> Value {
    let total = o.body["amount"]["total"].as_i64().unwrap_or(0);
    json!({
        "refund_id": r.refund_id, "out_refund_no": r.out_refund_no,
        "transaction_id": o.transaction_id, "out_trade_no": o.body["out_trade_no"],
        "channel": "ORIGINAL", "user_received_account": "支付用户零钱",
        "status": r.status, "create_time": "",
        "amount": {"total": total, "refund": r.amount, "payer_total": total,
            "payer_refund": r.amount, "currency": "CNY"},
    })
}

async fn refund(State(m): State<PayMock>, h: HeaderMap, body: String) -> Response {
    if !m.authorized("POST", "/v3/refund/domestic/refunds", &h, &body) {
        return m.answer(&h, fail(StatusCode::UNAUTHORIZED, "SIGN_ERROR", "签名错误"));
    }
    let Ok(v) = serde_json::from_str::<Value>(&body) else {
        return m.answer(&h, fail(StatusCode::BAD_REQUEST, "PARAM_ERROR", "参数错误"));
    };
    let no = v["out_trade_no"].as_str().unwrap_or("").to_string();
    let out_refund_no = v["out_refund_no"].as_str().unwrap_or("").to_string();
    let amount = v["amount"]["refund"].as_i64().unwrap_or(0);
    if out_refund_no.is_empty() || out_refund_no.len() > 64 || amount <= 0 {
        return m.answer(&h, fail(StatusCode::BAD_REQUEST, "PARAM_ERROR", "参数错误"));
    }
    let hold = v["reason"] == "mock:hold";
    let answer = {
        let mut orders = m.lock();
        let Some(o) = orders.get_mut(&no) else {
            return m.answer(
                &h,
                fail(StatusCode::NOT_FOUND, "RESOURCE_NOT_EXISTS", "订单不存在"),
            );
        };
        if let Some(r) = o.refunds.iter().find(|r| r.out_refund_no == out_refund_no) {
            let r = r.clone();
            return m.answer(&h, (StatusCode::OK, refund_view(o, &r)));
        }
        let total = o.body["amount"]["total"].as_i64().unwrap_or(0);
        if o.state != "SUCCESS" || v["amount"]["total"].as_i64() != Some(total) {
            return m.answer(
                &h,
                fail(
                    StatusCode::BAD_REQUEST,
                    "INVALID_REQUEST",
                    "订单状态或金额不符",
                ),
            );
        }
        let taken: i64 = o
            .refunds
            .iter()
            .filter(|r| r.status != "CLOSED")
            .map(|r| r.amount)
            .sum();
        if taken + amount > total {
            return m.answer(
                &h,
                fail(StatusCode::FORBIDDEN, "NOT_ENOUGH", "可退金额不足"),
            );
        }
        let r = MockRefund {
            out_refund_no: out_refund_no.clone(),
            refund_id: format!("5030{}", &transaction_id()[4..]),
            amount,
            status: "PROCESSING".into(),
            notify_url: v["notify_url"]
                .as_str()
                .or(o.body["notify_url"].as_str())
                .unwrap_or("")
                .to_string(),
        };
        o.refunds.push(r.clone());
        refund_view(o, &r)
    };
    if !hold {
        let m2 = m.clone();
        tokio::spawn(async move {
            // WeChat Pay notifies after answering.
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            let _ = m2.send_refund_notification(&out_refund_no, "SUCCESS").await;
        });
    }
    m.answer(&h, (StatusCode::OK, answer))
}

#[derive(Deserialize, Default)]
struct RefundNotifyBody {
    #[serde(default)]
    status: Option<String>,
}

async fn refund_notify(
    State(m): State<PayMock>,
    Path(no): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let p: RefundNotifyBody = serde_json::from_slice(&body).unwrap_or_default();
    let status = p.status.unwrap_or_else(|| "SUCCESS".into());
    if !matches!(status.as_str(), "SUCCESS" | "ABNORMAL" | "CLOSED") {
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({"error": "status"})),
        )
            .into_response();
    }
    match m.send_refund_notification(&no, &status).await {
        Some(Ok((status, body))) => {
            axum::Json(json!({"notify_status": status, "notify_body": body})).into_response()
        }
        Some(Err(e)) => (StatusCode::BAD_GATEWAY, axum::Json(json!({"error": e}))).into_response(),
        None => (
            StatusCode::NOT_FOUND,
            axum::Json(json!({"error": "no such refund"})),
        )
            .into_response(),
    }
}

impl PayMock {
    /// Sends refund `out_refund_no`'s notification with `status` (and records it).
    async fn send_refund_notification(
        &self,
        out_refund_no: &str,
        status: &str,
    ) -> Option<Result<(u16, String), String>> {
        let (url, headers, bytes) = {
            let mut orders = self.lock();
            let o = orders
                .values_mut()
                .find(|o| o.refunds.iter().any(|r| r.out_refund_no == out_refund_no))?;
            let (mchid, no, tx) = (
                o.body["mchid"].clone(),
                o.body["out_trade_no"].clone(),
                o.transaction_id.clone(),
            );
            let total = o.body["amount"]["total"].as_i64().unwrap_or(0);
            let r = o
                .refunds
                .iter_mut()
                .find(|r| r.out_refund_no == out_refund_no)?;
            r.status = status.to_string();
            let plain = json!({
                "mchid": mchid, "out_trade_no": no, "transaction_id": tx,
                "out_refund_no": r.out_refund_no, "refund_id": r.refund_id,
                "refund_status": status,
                "success_time": yunqiao_core::clock::rfc3339(self.clock.now_ms()),
                "user_received_account": "支付用户零钱",
                "amount": {"total": total, "refund": r.amount, "payer_total": total,
                    "payer_refund": r.amount},
            });
            let nonce = sign::nonce(12);
            let ct = self
                .keys
                .api_v3
                .encrypt(&nonce, "refund", plain.to_string().as_bytes())?;
            let env = json!({
                "id": format!("EV-{}", sign::nonce(20)),
                "create_time": yunqiao_core::clock::rfc3339(self.clock.now_ms()),
                "resource_type": "encrypt-resource", "event_type": format!("REFUND.{status}"),
                "summary": "退款结果",
                "resource": {"original_type": "refund", "algorithm": "AEAD_AES_256_GCM",
                    "ciphertext": ct, "associated_data": "refund", "nonce": nonce},
            });
            let bytes = env.to_string().into_bytes();
            let h = self.signed_headers(&bytes, false, self.clock.now_secs());
            (r.notify_url.clone(), h, bytes)
        };
        Some(
            match self
                .http
                .post(&url)
                .headers(headers)
                .body(bytes)
                .send()
                .await
            {
                Ok(r) => Ok((r.status().as_u16(), r.text().await.unwrap_or_default())),
                Err(e) => Err(e.to_string()),
            },
        )
    }
}
