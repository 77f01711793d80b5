//! WeChat Pay notifications (`YUNQIAO_BENCH=pay`): notifications verified and recorded per
//! second through the domain (`Pay::notify`: the signature checked with the platform
//! certificate, AES-256-GCM, the order read and checked, one conditional transaction
//! writing PAID, the state index, the history line and the after-payment outbox items) on
//! the embedded store, first-time and duplicates, beside the bare RSA verify + AES-GCM
//! decrypt of the same notifications in the same run.

use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use serde_json::{Map, Value, json};
use yunqiao_core::auth::Caller;
use yunqiao_core::clock::{SharedClock, SystemClock};
use yunqiao_core::pay::notify::WxPayKeys;
use yunqiao_core::pay::orders;
use yunqiao_core::pay::sign::{self, MerchantKey};
use yunqiao_core::pay::{ApiV3Key, Catalog, Merchant, Pay, PaySettings, SignedHeaders};
use yunqiao_core::wechat::{WeChat, WxError, WxSession};
use yunqiao_local::LocalStore;

use crate::BoxError;

// wechatpay-go's test key and certificate (serial D7CE59D1F522D701): WeChat's side here.
const WX_KEY: &str = include_str!("../../../core/src/pay/testdata/wechatpay_go_key.pem");
const WX_CERT: &str = include_str!("../../../core/src/pay/testdata/wechatpay_go_cert.pem");
const MERCHANT_KEY: &str = include_str!("../../../core/src/pay/testdata/other_key.pem");
const SERIAL: &str = "D7CE59D1F522D701";
const APPID: &str = "wxbench000000000";
const MCHID: &str = "1900000001";
const V3KEY: &str = "0123456789abcdef0123456789abcdef";

struct NoWeChat;

#[async_trait]
impl WeChat for NoWeChat {
    async fn code_to_session(&self, _code: &str) -> Result<WxSession, WxError> {
        Err(WxError::Transport("no WeChat in the benchmark".into()))
    }
}

struct NoCatalog;

#[async_trait]
impl Catalog for NoCatalog {
    async fn read(&self, _: &Caller, _: &str, _: &str) -> yunqiao_core::Result<Value> {
        Err(yunqiao_core::Error::not_found(
            "no catalog in the benchmark",
        ))
    }
}

fn settings() -> Result<PaySettings, BoxError> {
    let mut wx_keys = WxPayKeys::default();
    wx_keys.add_certificate(WX_CERT)?;
    Ok(PaySettings {
        merchant: Merchant {
            appid: APPID.into(),
            mchid: MCHID.into(),
            serial: "BENCH".into(),
            key: MerchantKey::from_pem(MERCHANT_KEY)?,
            wx_keys,
        },
        api_v3_key: ApiV3Key::new(V3KEY)?,
        notify_url: "https://example.com/v1/pay/notify".into(),
        tables: vec![],
        price_field: "price".into(),
        description_field: "title".into(),
        max_quantity: 1,
        client_amount: None,
        on_paid: None,
        price_function: None,
        actions: vec![],
        topic: None,
        order_ttl_secs: yunqiao_core::pay::DEFAULT_ORDER_TTL_SECS,
        reconcile_after_secs: yunqiao_core::pay::DEFAULT_RECONCILE_AFTER_SECS,
    })
}

/// A signed, encrypted TRANSACTION.SUCCESS notification for order `no`.
fn notification(no: &str, amount: i64, openid: &str, now: i64) -> (SignedHeaders, Vec<u8>) {
    let key = ApiV3Key::new(V3KEY).unwrap_or_else(|e| panic!("{e}"));
    let tx = json!({
        "appid": APPID, "mchid": MCHID, "out_trade_no": no,
        "transaction_id": format!("4200{}", &no[2..]), "trade_type": "JSAPI",
        "trade_state": "SUCCESS", "trade_state_desc": "支付成功", "bank_type": "OTHERS",
        "attach": "", "success_time": "2026-12-03T12:00:00+08:00",
        "payer": {"openid": openid},
        "amount": {"total": amount, "payer_total": amount, "currency": "CNY", "payer_currency": "CNY"},
    });
    let nonce = sign::nonce(12);
    let ct = key
        .encrypt(&nonce, "transaction", tx.to_string().as_bytes())
        .unwrap_or_default();
    let body = json!({
        "id": format!("EV-{}", sign::nonce(20)), "create_time": "2026-12-03T12:00:00+08:00",
        "resource_type": "encrypt-resource", "event_type": "TRANSACTION.SUCCESS",
        "summary": "支付成功",
        "resource": {"original_type": "transaction", "algorithm": "AEAD_AES_256_GCM",
            "ciphertext": ct, "associated_data": "transaction", "nonce": nonce},
    })
    .to_string()
    .into_bytes();
    let wx = MerchantKey::from_pem(WX_KEY).unwrap_or_else(|e| panic!("{e}"));
    let ts = now.to_string();
    let h_nonce = sign::nonce(32);
    let h = SignedHeaders {
        signature: wx.sign(&sign::response_message(&ts, &h_nonce, &body)),
        timestamp: ts,
        nonce: h_nonce,
        serial: SERIAL.into(),
    };
    (h, body)
}

fn rate(n: usize, t: Instant) -> f64 {
    n as f64 / t.elapsed().as_secs_f64()
}

pub async fn bench(n: usize) -> Result<(), BoxError> {
    let dir = tempfile::tempdir()?;
    let clock: SharedClock = Arc::new(SystemClock);
    let store = Arc::new(LocalStore::open(
        &dir.path().join("pay.redb"),
        clock.clone(),
    )?);
    let pay = Arc::new(Pay::new(
        Some(settings()?),
        store.clone(),
        Arc::new(NoWeChat),
        clock.clone(),
        Arc::new(NoCatalog),
    ));
    println!(
        "\n== WeChat Pay notifications: {n} orders on the embedded store, RSA-2048 signatures, AES-256-GCM ==",
    );
    // The orders (as `POST /v1/pay/orders` leaves them), then one notification each.
    let now_ms = clock.now_ms();
    let t = Instant::now();
    let mut notes = Vec::with_capacity(n);
    for i in 0..n {
        let no = format!("yq{:013}{:016}", now_ms, i);
        let openid = format!("o-bench-{}", i % 97);
        let mut attrs = Map::new();
        attrs.insert("state".into(), json!(orders::PENDING));
        attrs.insert("buyer".into(), json!(format!("u{}", i % 97)));
        attrs.insert("openid".into(), json!(openid));
        attrs.insert("amount".into(), json!(100 + i as i64));
        attrs.insert("currency".into(), json!("CNY"));
        attrs.insert("description".into(), json!("bench"));
        attrs.insert("created_at".into(), json!(now_ms + i as i64));
        orders::insert(store.as_ref(), &no, attrs).await?;
        notes.push(notification(&no, 100 + i as i64, &openid, now_ms / 1000));
    }
    println!(
        "  (set-up: {n} orders stored and notifications signed in {:.2}s)",
        t.elapsed().as_secs_f64()
    );

    // Baseline: the bare crypto of the same notifications.
    let s = settings()?;
    let t = Instant::now();
    for (h, body) in &notes {
        s.merchant.wx_keys.verify(h, body, now_ms / 1000)?;
        let v: Value = serde_json::from_slice(body)?;
        let r = &v["resource"];
        s.api_v3_key.decrypt(
            r["nonce"].as_str().unwrap_or(""),
            r["associated_data"].as_str().unwrap_or(""),
            r["ciphertext"].as_str().unwrap_or(""),
        )?;
    }
    let bare = rate(n, t);
    println!(
        "  {:<58} {:>9.0} /s",
        "bare RSA verify + AES-GCM decrypt (baseline)", bare
    );

    // Through the domain, first time: each records a payment.
    let t = Instant::now();
    for (h, body) in &notes {
        let done = pay.notify(h, body).await?;
        if done != orders::Transition::Done {
            return Err("a first notification was not recorded".into());
        }
    }
    let first = rate(n, t);
    println!(
        "  {:<58} {:>9.0} /s  ({:.0}% of the baseline)",
        "notify, verified and recorded (PAID), 1 at a time",
        first,
        100.0 * first / bare
    );

    // Duplicates (WeChat's retries): verified, found already paid, nothing written.
    let t = Instant::now();
    for (h, body) in &notes {
        pay.notify(h, body).await?;
    }
    let dup = rate(n, t);
    println!(
        "  {:<58} {:>9.0} /s  ({:.0}% of the baseline)",
        "notify, a duplicate (already PAID), 1 at a time",
        dup,
        100.0 * dup / bare
    );

    // Duplicates, 8 at a time (both cores).
    let t = Instant::now();
    let notes = Arc::new(notes);
    let mut tasks = Vec::new();
    for k in 0..8 {
        let (pay, notes) = (pay.clone(), notes.clone());
        tasks.push(tokio::spawn(async move {
            for (h, body) in notes.iter().skip(k).step_by(8) {
                let _ = pay.notify(h, body).await;
            }
        }));
    }
    for t in tasks {
        t.await?;
    }
    let par = rate(n, t);
    println!(
        "  {:<58} {:>9.0} /s  ({:.0}% of the baseline)",
        "notify, a duplicate, 8 at a time",
        par,
        100.0 * par / bare
    );
    Ok(())
}
