//! Known answers (wechatpay-go, wechatpay-java, re-run with OpenSSL) and the order
//! state machine's properties on the memory store.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use serde_json::{Map, Value, json};

use super::*;
use crate::clock::ManualClock;
use crate::keys;
use crate::memory_store::MemoryStore;
use crate::store::{Item, ItemStore, Query, WriteOp};
use crate::test_support::{START_MS, user};
use crate::wechat::{WxError, WxSession};

const GO_KEY: &str = include_str!("testdata/wechatpay_go_key.pem");
const GO_CERT: &str = include_str!("testdata/wechatpay_go_cert.pem");
const OTHER_KEY: &str = include_str!("testdata/other_key.pem");
const GO_SERIAL: &str = "D7CE59D1F522D701";
const PUB_ID: &str = "PUB_KEY_ID_0112345678202501010000000000000001";
const APPID: &str = "wxd678efh567hg6787";
const MCHID: &str = "1230000109";
const V3KEY: &str = "0123456789abcdef0123456789abcdef";

// ---- known answers ---------------------------------------------------------------

#[test]
fn request_signature_matches_wechatpay_go() {
    // wechatpay-go core/auth/signers/sha256withrsa_signer_test.go.
    let key = MerchantKey::from_pem(GO_KEY).unwrap();
    assert_eq!(
        key.sign(b"source"),
        "BKyAfU4iMCuvXMXS0Wzam3V/cnxZ+JaqigPM5OhljS2iOT95OO6Fsuml2JkFANJU9K6q9bLlDhPXuoVz+pp4hAm6\
pHU4ld815U4jsKu1RkyaII+1CYBUYC8TK0XtJ8FwUXXz8vZHh58rrAVN1XwNyvD1vfpxrMT4SL536GLwvpUHlCqIMzoZUguLli/K8V29QiOh\
uH6IEqLNJn8e9b3nwNcQ7be3CzYGpDAKBfDGPCqCv8Rw5zndhlffk2FEA70G4hvMwe51qMN/RAJbknXG23bSlObuTCN7Ndj1aJGH6/L+hdwf\
LpUtJm4QYVazzW7DFD27EpSQEqA8bX9+8m1rLg=="
    );
}

#[test]
fn request_message_and_header_are_wechat_s_format() {
    let key = MerchantKey::from_pem(GO_KEY).unwrap();
    let msg = sign::request_message(
        "GET",
        "/v3/certificates",
        1554208460,
        "593BEC0C930BF1AFEB40B4A08C8FB242",
        "",
    );
    assert_eq!(
        msg,
        "GET\n/v3/certificates\n1554208460\n593BEC0C930BF1AFEB40B4A08C8FB242\n\n"
    );
    // `openssl dgst -sha256 -sign` over the same bytes.
    let sig = key.sign(msg.as_bytes());
    assert_eq!(
        sig,
        "RjVFHMcrr9NsM4SiNmpFx6QPR99WztxatBshmr/6f7pXnt2YSPAhmNrEEAjWgpOcf5Zxbwl2qdPACOsEOeGrnLD81nVK3ucJq50iD0FAyF11knd1C9ic7zV9Jg3zao0+Wx3yAI6jXx6NLBEfNNspCazrQ+IHsUi04tubSBsT+4LHT9j0rL9axFBl7jVYe7uZ1ZQzap8EokLHDQbYw6qPEOs85+a2rnudh3TCPe81oUfe0zPqwEE6sWxxeSCYx+1mbURsOAN4Z8/uKgOIZxbDAkqYWFb7VOaHFeejC1rsxUc7wkw0zQWxae1giswROXii1DorwdJ3CGlPchx0PyDjkQ=="
    );
    let h = sign::authorization(
        "1900009191",
        "1DDE55AD98ED71D6EDD4A4A16996DE7B47773A8C",
        "593BEC0C930BF1AFEB40B4A08C8FB242",
        1554208460,
        &sig,
    );
    assert!(h.starts_with("WECHATPAY2-SHA256-RSA2048 mchid=\"1900009191\",nonce_str=\"593BEC0C930BF1AFEB40B4A08C8FB242\",timestamp=\"1554208460\",serial_no=\"1DDE55AD98ED71D6EDD4A4A16996DE7B47773A8C\",signature=\""));
    let parsed = sign::parse_authorization(&h).unwrap();
    assert_eq!(parsed["signature"], sig);
    assert_eq!(parsed["mchid"], "1900009191");
}

#[test]
fn pay_sign_matches_openssl() {
    let key = MerchantKey::from_pem(GO_KEY).unwrap();
    let msg = sign::pay_sign_message(
        "wxd678efh567hg6787",
        "1414561699",
        "5K8264ILTKCH16CQ2502SI8ZNMTM67VS",
        "prepay_id=wx201410272009395522657a690389285100",
    );
    assert_eq!(
        msg,
        "wxd678efh567hg6787\n1414561699\n5K8264ILTKCH16CQ2502SI8ZNMTM67VS\nprepay_id=wx201410272009395522657a690389285100\n"
    );
    assert_eq!(
        key.sign(msg.as_bytes()),
        "dlpClyhBr9pAFk1jQYtG0R9aFMJVaYKex+J+ZT/yH8DBwFn5NM+BIVtfIJ43ha4oF50dV0c5h8ziGCNJXVfnhu5e+WBW/E4sduswH7WNnZ9NMVLG0+dp7C/DKN4d99fc4GeAO7WtBFC+e7UyFdKppJxinKTeaQE6M49XWRd9/tc3/fUgsBJ9dBUDNctZXTRW07H7NBo1vQLVzN7N/zXynlOKKv5gnsprw4yZ1c16E3VXoK8nbxXoh/xQd9miXDsqzxIbveBX7Rp7QRjcXl4haR2yHgyRs2FGiHXrIoDNk2L51CR+HGU4WQUQwuOVvvx8hyBKK2ay3ZClHnMCtgkQag=="
    );
}

#[test]
fn aes_gcm_matches_wechatpay_java() {
    // wechatpay-java AeadAesCipherTest.
    let key = ApiV3Key::new("a7cde1ZJB1kG2e7VfTs3jQzaWizur8Gb").unwrap();
    let ct = "ulwSiIajGClcvcOYvOQ7+l+0PAbzzwI=";
    assert_eq!(
        key.decrypt("uluk4a9R25RW", "associatedData", ct).unwrap(),
        b"message"
    );
    assert_eq!(
        key.encrypt("uluk4a9R25RW", "associatedData", b"message")
            .unwrap(),
        ct
    );
    // Another AAD, nonce, key or a flipped bit: refused.
    assert_eq!(
        key.decrypt("uluk4a9R25RW", "associatedDatb", ct),
        Err(Refusal::Undecryptable)
    );
    assert_eq!(
        key.decrypt("uluk4a9R25RX", "associatedData", ct),
        Err(Refusal::Undecryptable)
    );
    assert_eq!(
        key.decrypt("short", "associatedData", ct),
        Err(Refusal::Undecryptable)
    );
    assert_eq!(
        key.decrypt(
            "uluk4a9R25RW",
            "associatedData",
            "ulwSiIajGClcvcOYvOQ7+l+0PAbzzwM="
        ),
        Err(Refusal::Undecryptable)
    );
    assert_eq!(
        key.decrypt("uluk4a9R25RW", "associatedData", "not base64!"),
        Err(Refusal::Undecryptable)
    );
    let other = ApiV3Key::new("b7cde1ZJB1kG2e7VfTs3jQzaWizur8Gb").unwrap();
    assert_eq!(
        other.decrypt("uluk4a9R25RW", "associatedData", ct),
        Err(Refusal::Undecryptable)
    );
    // wechatpay-go's notification key is 16 bytes: not an AES-256 key.
    assert!(ApiV3Key::new("testMchAPIv3Key0").is_err());
}

/// wechatpay-go core/notify/notify_test.go: a complete signed notification.
fn go_notification() -> (SignedHeaders, String) {
    let body = "{\"id\":\"3119dfba-e649-5eec-ab1e-3412bc4d2e17\",\"create_time\":\"2021-06-24T16:37:26+08:00\",\"resource_type\":\"encrypt-resource\",\"event_type\":\"PAYSCORE.USER_OPEN_SERVICE\",\"summary\":\"签约成功\",\"resource\":{\"original_type\":\"payscore\",\"algorithm\":\"AEAD_AES_256_GCM\",\"ciphertext\":\"YDS3lKPaC4Y52Gf3uhft5qUBlIa8b428AWTtTauHQfQrRw+X1WpiuHIDy0vo1Vd6VEq67aVyqPdDYMkRVSDaZL3iZttevRMOoPKMifozg6XPWjIZumks/GpT48lI4NizyeaqLBokNebthah3o1H76qSlO9NkDjp9bzmKLEYYH9TEklFUpsvPqOTOcgSLgh21YJXYR7dEBXFgRLiNIKRgO5JdXh1hccRUAlyVWxE54PXpnQ==\",\"associated_data\":\"payscore\",\"nonce\":\"Kj7QIyUiYx1q\"}}";
    let h = SignedHeaders {
        timestamp: "1624523846".into(),
        nonce: "EcZ9Cmy4Xyx1i6RlJQzLcCyEqDa26NBz".into(),
        serial: GO_SERIAL.into(),
        signature: "tJHIiIS9eB2hAYstmAmbbD3ZE5LiIm/Ug5tuL4fC0YOFRWIHV39UFIZXC0e9Wl6lBu6sKvkqDkzpqzBsVHyXFlbYZTOQrVdG4b6LfTnK4mikv9++ixJMd3vTf2yCqvBkh98zs3Ds5zsYQakzbcwhmw4fMJs4nPLws28H0UW9FjDR//rxELLwXvV1VEA1IBLX70xptjL8hrfUjEE8kkry6yNJTHZRU8CAc7qHli2Ng1V1qb9ARbK8A3ThmFmPQvRGrapI/jS2laKKgYUmfdEdkNO6B2Cke5e8VTxY406ArAmQ90GAihDwIcb16TQMnzCMBoutnwZKNiKRACrFmtxw2Q==".into(),
    };
    (h, body.to_string())
}

#[test]
fn wechatpay_go_notification_verifies_by_certificate_and_by_public_key() {
    let (h, body) = go_notification();
    let ts = 1624523846;
    let mut keys = WxPayKeys::default();
    assert_eq!(keys.add_certificate(GO_CERT).unwrap(), GO_SERIAL);
    assert_eq!(keys.verify(&h, body.as_bytes(), ts), Ok(()));
    assert_eq!(keys.verify(&h, body.as_bytes(), ts + 299), Ok(()));
    assert_eq!(keys.verify(&h, body.as_bytes(), ts - 299), Ok(()));
    assert_eq!(
        keys.verify(&h, body.as_bytes(), ts + 300),
        Err(Refusal::Stale)
    );
    assert_eq!(
        keys.verify(&h, body.as_bytes(), ts - 300),
        Err(Refusal::Stale)
    );
    let tampered = body.replace("签约成功", "签约失败");
    assert_eq!(
        keys.verify(&h, tampered.as_bytes(), ts),
        Err(Refusal::BadSignature)
    );
    let mut probe = h.clone();
    probe.signature = format!("WECHATPAY/SIGNTEST/{}", h.signature);
    assert_eq!(
        keys.verify(&probe, body.as_bytes(), ts),
        Err(Refusal::Probe)
    );
    let mut unknown = h.clone();
    unknown.serial = "5157F09EFDC096DE15EBE81A47057A7232F1B8E1".into();
    assert_eq!(
        keys.verify(&unknown, body.as_bytes(), ts),
        Err(Refusal::UnknownKey)
    );

    // The same key as a WeChat Pay public key (SPKI PEM) under its PUB_KEY_ID_.
    let spki = Certificate::from_pem(GO_CERT).unwrap().key.to_spki_pem();
    let mut pk = WxPayKeys::default();
    pk.add_public_key(PUB_ID, &spki).unwrap();
    let mut by_id = h.clone();
    by_id.serial = PUB_ID.into();
    assert_eq!(pk.verify(&by_id, body.as_bytes(), ts), Ok(()));
    assert_eq!(pk.verify(&h, body.as_bytes(), ts), Err(Refusal::UnknownKey));
    // The public key of the private key signs what the certificate verifies.
    let priv_pub = MerchantKey::from_pem(GO_KEY).unwrap().public_key();
    assert_eq!(priv_pub, Certificate::from_pem(GO_CERT).unwrap().key);
    assert_eq!(PublicKey::from_pem(&spki).unwrap(), priv_pub);
}

#[test]
fn bad_keys_are_errors_not_panics() {
    for bad in [
        "",
        "junk",
        "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----",
        "-----BEGIN PRIVATE KEY-----\n!!\n-----END PRIVATE KEY-----",
        "-----BEGIN PRIVATE KEY-----\nMIIE",
    ] {
        assert!(MerchantKey::from_pem(bad).is_err(), "{bad:?}");
        assert!(PublicKey::from_pem(bad).is_err(), "{bad:?}");
        assert!(Certificate::from_pem(bad).is_err(), "{bad:?}");
    }
    // Keys pasted into an environment variable with `\n` escapes still read.
    assert!(MerchantKey::from_pem(&GO_KEY.replace('\n', "\\n")).is_ok());
    let msg = format!("{:?}", MerchantKey::from_pem(GO_KEY).unwrap());
    assert!(!msg.contains("MII"), "{msg}");
    assert!(!format!("{:?}", ApiV3Key::new(V3KEY).unwrap()).contains(V3KEY));
}

// ---- the service ----------------------------------------------------------------

/// WeChat Pay, as far as these tests need it: answers signed with the wechatpay-go key
/// (serial `GO_SERIAL`), orders remembered, "paid" on request.
#[derive(Default)]
struct FakeWx {
    orders: Mutex<HashMap<String, Value>>,
    paid: Mutex<HashMap<String, String>>,
    fail_jsapi: std::sync::atomic::AtomicBool,
    now: Mutex<i64>,
}

impl FakeWx {
    fn reply(&self, status: u16, body: Value) -> PayHttpReply {
        let body = if body.is_null() {
            Vec::new()
        } else {
            body.to_string().into_bytes()
        };
        let ts = (*self.now.lock().unwrap() / 1000).to_string();
        let nonce = sign::nonce(32);
        let key = MerchantKey::from_pem(GO_KEY).unwrap();
        PayHttpReply {
            status,
            headers: SignedHeaders {
                signature: key.sign(&sign::response_message(&ts, &nonce, &body)),
                timestamp: ts,
                nonce,
                serial: GO_SERIAL.into(),
            },
            body,
        }
    }
}

#[async_trait]
impl WeChat for FakeWx {
    async fn code_to_session(&self, _code: &str) -> Result<WxSession, WxError> {
        Err(WxError::Transport("no login here".into()))
    }

    async fn pay_http(&self, req: PayHttp) -> Result<PayHttpReply, WxError> {
        // The merchant's signature must verify with its public key.
        let auth = sign::parse_authorization(&req.authorization).unwrap();
        let msg = sign::request_message(
            req.method,
            &req.path,
            auth["timestamp"].parse().unwrap(),
            &auth["nonce_str"],
            req.body.as_deref().unwrap_or(""),
        );
        let merchant = MerchantKey::from_pem(OTHER_KEY).unwrap().public_key();
        assert!(merchant.verify(msg.as_bytes(), &auth["signature"]));
        if req.path == "/v3/pay/transactions/jsapi" {
            if self.fail_jsapi.load(Ordering::SeqCst) {
                return Ok(self.reply(403, json!({"code": "NO_AUTH", "message": "no"})));
            }
            let body: Value = serde_json::from_str(req.body.as_deref().unwrap()).unwrap();
            let no = body["out_trade_no"].as_str().unwrap().to_string();
            self.orders.lock().unwrap().insert(no.clone(), body);
            return Ok(self.reply(200, json!({"prepay_id": format!("wx{no}")})));
        }
        if let Some(rest) = req.path.strip_prefix("/v3/pay/transactions/out-trade-no/") {
            if let Some(no) = rest.strip_suffix("/close") {
                assert!(self.orders.lock().unwrap().contains_key(no));
                return Ok(self.reply(204, Value::Null));
            }
            let no = rest.split('?').next().unwrap();
            let Some(o) = self.orders.lock().unwrap().get(no).cloned() else {
                return Ok(self.reply(404, json!({"code": "ORDER_NOT_EXIST", "message": "no"})));
            };
            let tx = match self.paid.lock().unwrap().get(no) {
                Some(tid) => transaction(&o, tid, "SUCCESS"),
                None => transaction(&o, "", "NOTPAY"),
            };
            return Ok(self.reply(200, tx));
        }
        Ok(self.reply(404, json!({"code": "NOT_FOUND"})))
    }
}

fn transaction(order: &Value, tid: &str, state: &str) -> Value {
    json!({
        "appid": order["appid"], "mchid": order["mchid"], "out_trade_no": order["out_trade_no"],
        "transaction_id": tid, "trade_type": "JSAPI", "trade_state": state,
        "trade_state_desc": "", "bank_type": "OTHERS", "attach": "",
        "success_time": "2027-01-15T16:00:05+08:00",
        "payer": {"openid": order["payer"]["openid"]},
        "amount": {"total": order["amount"]["total"], "payer_total": order["amount"]["total"], "currency": "CNY", "payer_currency": "CNY"},
    })
}

/// Records: `shop/tea` (price 1200), `shop/free` (no price), `shop/secret` (readable by
/// nobody but `u9`), `other/x` (priced, but not for sale).
struct FakeCatalog;

#[async_trait]
impl Catalog for FakeCatalog {
    async fn read(&self, caller: &Caller, table: &str, id: &str) -> crate::Result<Value> {
        let me = caller.user().map(|u| u.id.as_str()).unwrap_or("");
        match (table, id) {
            ("shop", "tea") => Ok(json!({"id": "tea", "price": 1200, "name": "Tea"})),
            ("shop", "free") => Ok(json!({"id": "free", "name": "Free"})),
            ("shop", "secret") if me == "u9" => Ok(json!({"id": "secret", "price": 5})),
            ("other", "x") => Ok(json!({"id": "x", "price": 1})),
            _ => Err(Error::not_found("no such record")),
        }
    }
}

#[derive(Default)]
struct CountingHooks {
    runs: AtomicUsize,
    ids: Mutex<Vec<String>>,
}

#[async_trait]
impl HookRunner for CountingHooks {
    async fn before(
        &self,
        _: &str,
        _: &Caller,
        _: Value,
        _: u8,
    ) -> crate::Result<Option<Map<String, Value>>> {
        Ok(None)
    }
    async fn committed(&self, outbox: Vec<String>) {
        self.runs.fetch_add(1, Ordering::SeqCst);
        self.ids.lock().unwrap().extend(outbox);
    }
}

/// The memory store, yielding before each read: concurrent notifications all read the
/// order before any of them writes (the race a conditional write must win).
struct Yielding(Arc<MemoryStore>);

#[async_trait]
impl ItemStore for Yielding {
    async fn get(&self, pk: &str, sk: &str) -> Result<Option<Item>, crate::store::StoreError> {
        for _ in 0..3 {
            tokio::task::yield_now().await;
        }
        self.0.get(pk, sk).await
    }
    async fn put(
        &self,
        item: Item,
        cond: Option<crate::store::Cond>,
    ) -> Result<(), crate::store::StoreError> {
        self.0.put(item, cond).await
    }
    async fn update(
        &self,
        pk: &str,
        sk: &str,
        u: crate::store::Update,
        cond: Option<crate::store::Cond>,
    ) -> Result<Item, crate::store::StoreError> {
        self.0.update(pk, sk, u, cond).await
    }
    async fn delete(
        &self,
        pk: &str,
        sk: &str,
        cond: Option<crate::store::Cond>,
    ) -> Result<(), crate::store::StoreError> {
        self.0.delete(pk, sk, cond).await
    }
    async fn query(&self, q: Query) -> Result<crate::store::Page, crate::store::StoreError> {
        self.0.query(q).await
    }
    async fn transact(&self, ops: Vec<WriteOp>) -> Result<(), crate::store::StoreError> {
        for _ in 0..3 {
            tokio::task::yield_now().await;
        }
        self.0.transact(ops).await
    }
}

struct Rig {
    pay: Arc<Pay>,
    store: Arc<MemoryStore>,
    wx: Arc<FakeWx>,
    hooks: Arc<CountingHooks>,
    clock: ManualClock,
    api_key: ApiV3Key,
}

fn settings(client_amount: Option<(i64, i64)>) -> PaySettings {
    let mut wx_keys = WxPayKeys::default();
    wx_keys.add_certificate(GO_CERT).unwrap();
    let spki = Certificate::from_pem(GO_CERT).unwrap().key.to_spki_pem();
    wx_keys.add_public_key(PUB_ID, &spki).unwrap();
    PaySettings {
        merchant: Merchant {
            appid: APPID.into(),
            mchid: MCHID.into(),
            serial: "MERCHANTSERIAL01".into(),
            key: MerchantKey::from_pem(OTHER_KEY).unwrap(),
            wx_keys,
        },
        api_v3_key: ApiV3Key::new(V3KEY).unwrap(),
        notify_url: "https://example.com/v1/pay/notify".into(),
        tables: vec!["shop".into()],
        price_field: "price".into(),
        description_field: "name".into(),
        max_quantity: 99,
        client_amount,
        on_paid: Some("shop.on_paid".into()),
        price_function: None,
        actions: Vec::new(),
        topic: None,
        order_ttl_secs: super::DEFAULT_ORDER_TTL_SECS,
        reconcile_after_secs: super::DEFAULT_RECONCILE_AFTER_SECS,
    }
}

fn rig_with(client_amount: Option<(i64, i64)>) -> Rig {
    let clock = ManualClock::at(START_MS);
    let shared: crate::clock::SharedClock = Arc::new(clock.clone());
    let store = Arc::new(MemoryStore::new(shared.clone()));
    let wx = Arc::new(FakeWx::default());
    *wx.now.lock().unwrap() = START_MS;
    let pay = Arc::new(Pay::new(
        Some(settings(client_amount)),
        Arc::new(Yielding(store.clone())),
        wx.clone(),
        shared,
        Arc::new(FakeCatalog),
    ));
    let hooks = Arc::new(CountingHooks::default());
    let weak: std::sync::Weak<dyn HookRunner> =
        Arc::downgrade(&(hooks.clone() as Arc<dyn HookRunner>));
    pay.set_hooks(weak);
    Rig {
        pay,
        store,
        wx,
        hooks,
        clock,
        api_key: ApiV3Key::new(V3KEY).unwrap(),
    }
}

fn rig() -> Rig {
    rig_with(None)
}

fn tea(quantity: i64) -> NewOrder {
    serde_json::from_value(json!({"item": {"table": "shop", "id": "tea"}, "quantity": quantity}))
        .unwrap()
}

/// A notification as WeChat sends it, signed by `key_pem` under `serial`.
fn notification(
    tx: &Value,
    api_key: &ApiV3Key,
    key_pem: &str,
    serial: &str,
    ts: i64,
) -> (SignedHeaders, Vec<u8>) {
    let nonce = sign::nonce(12);
    let ct = api_key
        .encrypt(&nonce, "transaction", tx.to_string().as_bytes())
        .unwrap();
    let body = json!({
        "id": "EV-2018022511223320873", "create_time": "2027-01-15T16:00:05+08:00",
        "resource_type": "encrypt-resource", "event_type": "TRANSACTION.SUCCESS",
        "summary": "支付成功",
        "resource": {"original_type": "transaction", "algorithm": "AEAD_AES_256_GCM",
            "ciphertext": ct, "associated_data": "transaction", "nonce": nonce},
    })
    .to_string()
    .into_bytes();
    let h_nonce = sign::nonce(32);
    let ts_s = ts.to_string();
    let key = MerchantKey::from_pem(key_pem).unwrap();
    let h = SignedHeaders {
        signature: key.sign(&sign::response_message(&ts_s, &h_nonce, &body)),
        timestamp: ts_s,
        nonce: h_nonce,
        serial: serial.into(),
    };
    (h, body)
}

impl Rig {
    async fn order(&self, who: &str) -> (String, Value) {
        let out = self.pay.create(&user(who), tea(2)).await.unwrap();
        (
            out["order"]["out_trade_no"].as_str().unwrap().to_string(),
            out,
        )
    }

    fn paid_tx(&self, no: &str) -> Value {
        let o = self.wx.orders.lock().unwrap().get(no).cloned().unwrap();
        transaction(&o, &format!("4200{no}"), "SUCCESS")
    }

    fn good(&self, no: &str) -> (SignedHeaders, Vec<u8>) {
        notification(
            &self.paid_tx(no),
            &self.api_key,
            GO_KEY,
            GO_SERIAL,
            self.clock.now_secs(),
        )
    }

    async fn state(&self, no: &str) -> String {
        orders::load(self.store.as_ref(), no)
            .await
            .unwrap()
            .unwrap()
            .state()
            .to_string()
    }

    async fn outbox_len(&self) -> usize {
        self.store
            .query(Query::partition(keys::OUTBOX).limit(1000))
            .await
            .unwrap()
            .items
            .len()
    }
}

use crate::clock::Clock;

#[tokio::test]
async fn an_order_is_priced_by_the_server_and_signed_for_request_payment() {
    let r = rig();
    let (no, out) = r.order("u1").await;
    assert!(valid_out_trade_no(&no));
    assert_eq!(out["order"]["amount"], 2400);
    assert_eq!(out["order"]["state"], "PENDING");
    assert!(out["order"].get("openid").is_none());
    let sent = r.wx.orders.lock().unwrap().get(&no).cloned().unwrap();
    assert_eq!(sent["amount"], json!({"total": 2400, "currency": "CNY"}));
    assert_eq!(sent["payer"]["openid"], "o-u1");
    assert_eq!(sent["description"], "Tea");
    assert_eq!(sent["notify_url"], "https://example.com/v1/pay/notify");
    let p = &out["payment"];
    assert_eq!(p["package"], format!("prepay_id=wx{no}"));
    assert_eq!(p["signType"], "RSA");
    let msg = sign::pay_sign_message(
        APPID,
        p["timeStamp"].as_str().unwrap(),
        p["nonceStr"].as_str().unwrap(),
        p["package"].as_str().unwrap(),
    );
    let merchant = MerchantKey::from_pem(OTHER_KEY).unwrap().public_key();
    assert!(merchant.verify(msg.as_bytes(), p["paySign"].as_str().unwrap()));
    assert_eq!(p["timeStamp"], (START_MS / 1000).to_string());
    // The buyer's list has it; another user's does not.
    let mine = r.pay.list(&user("u1"), None, None).await.unwrap();
    assert_eq!(mine["items"][0]["out_trade_no"], no);
    assert_eq!(
        r.pay.list(&user("u2"), None, None).await.unwrap()["items"],
        json!([])
    );
    assert_eq!(
        r.pay.get(&user("u2"), &no).await.unwrap_err().code,
        Code::NotFound
    );
}

#[tokio::test]
async fn the_client_cannot_set_the_price() {
    let r = rig();
    let cases = [
        (
            json!({"item": {"table": "shop", "id": "tea"}, "amount": 1}),
            Code::PayAmountNotAllowed,
        ),
        (json!({"amount": 1}), Code::PayAmountNotAllowed),
        (
            json!({"item": {"table": "shop", "id": "free"}}),
            Code::PayItemNotPriced,
        ),
        (
            json!({"item": {"table": "other", "id": "x"}}),
            Code::PayItemNotPriced,
        ),
        (
            json!({"item": {"table": "shop", "id": "secret"}}),
            Code::NotFound,
        ),
        (
            json!({"item": {"table": "shop", "id": "tea"}, "quantity": 0}),
            Code::InvalidArgument,
        ),
        (
            json!({"item": {"table": "shop", "id": "tea"}, "quantity": -3}),
            Code::InvalidArgument,
        ),
        (
            json!({"item": {"table": "shop", "id": "tea"}, "quantity": 100}),
            Code::InvalidArgument,
        ),
        (
            json!({"item": {"table": "shop", "id": "tea"}, "description": "cheap"}),
            Code::InvalidArgument,
        ),
        (json!({}), Code::InvalidArgument),
    ];
    for (body, code) in cases {
        let req: NewOrder = serde_json::from_value(body.clone()).unwrap();
        let e = r.pay.create(&user("u1"), req).await.unwrap_err();
        assert_eq!(e.code, code, "{body}");
    }
    // Unknown fields (`total`, `mchid`, `notify_url`) do not even parse.
    for body in [
        json!({"item": {"table": "shop", "id": "tea"}, "total": 1}),
        json!({"notify_url": "https://evil"}),
        json!({"item": {"table": "shop", "id": "tea", "price": 1}}),
    ] {
        assert!(serde_json::from_value::<NewOrder>(body).is_err());
    }
    assert!(r.wx.orders.lock().unwrap().is_empty());
    assert_eq!(
        r.pay.list(&user("u1"), None, None).await.unwrap()["items"],
        json!([])
    );
    // Anonymous callers cannot order.
    assert_eq!(
        r.pay
            .create(&Caller::Anonymous, tea(1))
            .await
            .unwrap_err()
            .code,
        Code::Unauthenticated
    );
}

#[tokio::test]
async fn a_client_amount_only_where_allowed_and_within_bounds() {
    let r = rig_with(Some((100, 5000)));
    for a in [99, 5001, 0, -1, i64::MAX] {
        let req: NewOrder = serde_json::from_value(json!({"amount": a})).unwrap();
        assert_eq!(
            r.pay.create(&user("u1"), req).await.unwrap_err().code,
            Code::PayAmountNotAllowed,
            "{a}"
        );
    }
    let req: NewOrder =
        serde_json::from_value(json!({"amount": 100, "description": "tip"})).unwrap();
    let out = r.pay.create(&user("u1"), req).await.unwrap();
    assert_eq!(out["order"]["amount"], 100);
}

#[tokio::test]
async fn wechat_refusing_the_order_leaves_nothing_behind() {
    let r = rig();
    r.wx.fail_jsapi.store(true, Ordering::SeqCst);
    let e = r.pay.create(&user("u1"), tea(1)).await.unwrap_err();
    assert_eq!(e.code, Code::WechatError);
    assert_eq!(
        r.pay.list(&user("u1"), None, None).await.unwrap()["items"],
        json!([])
    );
}

#[tokio::test]
async fn a_hundred_duplicate_notifications_make_one_transition_and_one_action() {
    let r = rig();
    let (no, _) = r.order("u1").await;
    let (h, body) = r.good(&no);
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let (pay, h, body) = (r.pay.clone(), h.clone(), body.clone());
        tasks.push(tokio::spawn(async move { pay.notify(&h, &body).await }));
    }
    let mut done = 0;
    for t in tasks {
        if t.await.unwrap().unwrap() == Transition::Done {
            done += 1;
        }
    }
    // WeChat's retries: the same notification, and freshly signed copies of it.
    for i in 0..50 {
        let (h2, b2) = if i % 2 == 0 {
            (h.clone(), body.clone())
        } else {
            r.good(&no)
        };
        if r.pay.notify(&h2, &b2).await.unwrap() == Transition::Done {
            done += 1;
        }
    }
    assert_eq!(done, 1);
    assert_eq!(r.state(&no).await, "PAID");
    assert_eq!(r.hooks.runs.load(Ordering::SeqCst), 1);
    assert_eq!(r.hooks.ids.lock().unwrap().len(), 2);
    // One on_paid item and one message to the buyer, once.
    assert_eq!(r.outbox_len().await, 2);
    let o = r.pay.get(&user("u1"), &no).await.unwrap();
    assert_eq!(o["transaction_id"], format!("4200{no}"));
}

#[tokio::test]
async fn both_wechat_keys_are_accepted_during_a_switch() {
    let r = rig();
    let (a, _) = r.order("u1").await;
    let (b, _) = r.order("u1").await;
    let now = r.clock.now_secs();
    let (h, body) = notification(&r.paid_tx(&a), &r.api_key, GO_KEY, GO_SERIAL, now);
    assert_eq!(r.pay.notify(&h, &body).await.unwrap(), Transition::Done);
    let (h, body) = notification(&r.paid_tx(&b), &r.api_key, GO_KEY, PUB_ID, now);
    assert_eq!(r.pay.notify(&h, &body).await.unwrap(), Transition::Done);
    assert_eq!(r.state(&a).await, "PAID");
    assert_eq!(r.state(&b).await, "PAID");
}

#[tokio::test]
async fn tampered_notifications_are_refused_and_change_nothing() {
    let r = rig();
    let (no, _) = r.order("u1").await;
    let (other_no, _) = r.order("u2").await;
    let now = r.clock.now_secs();
    let tx = r.paid_tx(&no);
    let sig = Code::PayNotifySignatureInvalid;
    let inv = Code::PayNotifyInvalid;
    let mut cases: Vec<(&str, SignedHeaders, Vec<u8>, Code)> = Vec::new();

    let (h, mut body) = r.good(&no);
    let i = body.len() - 3;
    body[i] ^= 1;
    cases.push(("forged body", h, body, sig));
    let (mut h, body) = r.good(&no);
    // Another first character, always (a fixed "x" left one signature in 64 intact).
    let first = if h.signature.starts_with('A') {
        'B'
    } else {
        'A'
    };
    h.signature = format!("{first}{}", &h.signature[1..]);
    cases.push(("forged signature", h, body, sig));
    let (h, body) = notification(&tx, &r.api_key, GO_KEY, GO_SERIAL, now - 300);
    cases.push(("stale", h, body, sig));
    let (h, body) = notification(&tx, &r.api_key, GO_KEY, GO_SERIAL, now + 300);
    cases.push(("from the future", h, body, sig));
    let (mut h, body) = r.good(&no);
    h.signature = format!("WECHATPAY/SIGNTEST/{}", h.signature);
    cases.push(("SIGNTEST probe", h, body, sig));
    let (h, body) = notification(
        &tx,
        &r.api_key,
        GO_KEY,
        "5157F09EFDC096DE15EBE81A47057A7232F1B8E1",
        now,
    );
    cases.push(("unknown serial", h, body, sig));
    let (h, body) = notification(&tx, &r.api_key, OTHER_KEY, GO_SERIAL, now);
    cases.push(("signed by an unknown key", h, body, sig));
    let (h, body) = notification(&tx, &r.api_key, OTHER_KEY, PUB_ID, now);
    cases.push(("unknown key under a public-key id", h, body, sig));
    let mut t = tx.clone();
    t["amount"]["total"] = json!(1);
    t["amount"]["payer_total"] = json!(1);
    let (h, body) = notification(&t, &r.api_key, GO_KEY, GO_SERIAL, now);
    cases.push(("wrong amount", h, body, inv));
    let mut t = tx.clone();
    t["out_trade_no"] = json!("yq0000000000000nosuchorder");
    let (h, body) = notification(&t, &r.api_key, GO_KEY, GO_SERIAL, now);
    cases.push(("an order we do not have", h, body, inv));
    let mut t = tx.clone();
    t["payer"]["openid"] = json!("o-u2");
    let (h, body) = notification(&t, &r.api_key, GO_KEY, GO_SERIAL, now);
    cases.push(("paid by someone else", h, body, inv));
    let mut t = tx.clone();
    t["mchid"] = json!("1900000000");
    let (h, body) = notification(&t, &r.api_key, GO_KEY, GO_SERIAL, now);
    cases.push(("another merchant", h, body, inv));
    let mut t = tx.clone();
    t["appid"] = json!("wx0000000000000000");
    let (h, body) = notification(&t, &r.api_key, GO_KEY, GO_SERIAL, now);
    cases.push(("another app", h, body, inv));
    let other_key = ApiV3Key::new("ffffffffffffffffffffffffffffffff").unwrap();
    let (h, body) = notification(&tx, &other_key, GO_KEY, GO_SERIAL, now);
    cases.push(("another APIv3 key", h, body, inv));
    // The resource of another order's notification, re-signed around this envelope:
    // it decrypts, and is about the other order, whose amount and payer differ… but
    // here it is the other order's own, valid payment — so it settles that order,
    // never this one. A resource spliced with another nonce does not decrypt.
    let (_, body_a) = r.good(&no);
    let (_, body_b) = r.good(&other_no);
    let mut env: Value = serde_json::from_slice(&body_a).unwrap();
    let env_b: Value = serde_json::from_slice(&body_b).unwrap();
    env["resource"]["ciphertext"] = env_b["resource"]["ciphertext"].clone();
    let spliced = env.to_string().into_bytes();
    let ts = now.to_string();
    let n = sign::nonce(32);
    let h = SignedHeaders {
        signature: MerchantKey::from_pem(GO_KEY)
            .unwrap()
            .sign(&sign::response_message(&ts, &n, &spliced)),
        timestamp: ts,
        nonce: n,
        serial: GO_SERIAL.into(),
    };
    cases.push((
        "ciphertext spliced from another notification",
        h,
        spliced,
        inv,
    ));
    let (mut h, body) = r.good(&no);
    h.timestamp = "soon".into();
    cases.push(("timestamp not a number", h, body, sig));
    let (mut h, body) = r.good(&no);
    h.serial = String::new();
    cases.push(("no serial", h, body, sig));
    let (h, _) = r.good(&no);
    cases.push(("not JSON (signed)", h.clone(), b"{}".to_vec(), sig));

    for (name, h, body, code) in cases {
        let e = r.pay.notify(&h, &body).await.unwrap_err();
        assert_eq!(e.code, code, "{name}: {e}");
        assert_eq!(r.state(&no).await, "PENDING", "{name}");
        assert_eq!(r.state(&other_no).await, "PENDING", "{name}");
    }
    assert_eq!(r.outbox_len().await, 0);
    assert_eq!(r.hooks.runs.load(Ordering::SeqCst), 0);
    // A signed body that is not a notification is refused too.
    let ts = now.to_string();
    let n = sign::nonce(32);
    let junk = b"{\"id\":1}".to_vec();
    let h = SignedHeaders {
        signature: MerchantKey::from_pem(GO_KEY)
            .unwrap()
            .sign(&sign::response_message(&ts, &n, &junk)),
        timestamp: ts,
        nonce: n,
        serial: GO_SERIAL.into(),
    };
    assert_eq!(
        r.pay.notify(&h, &junk).await.unwrap_err().code,
        Code::PayNotifyInvalid
    );
    // The genuine one still works afterwards.
    let (h, body) = r.good(&no);
    assert_eq!(r.pay.notify(&h, &body).await.unwrap(), Transition::Done);
}

#[tokio::test]
async fn a_lost_notification_is_caught_by_asking_wechat() {
    let r = rig();
    let (no, _) = r.order("u1").await;
    assert_eq!(
        r.pay.get(&user("u1"), &no).await.unwrap()["state"],
        "PENDING"
    );
    r.wx.paid
        .lock()
        .unwrap()
        .insert(no.clone(), format!("4200{no}"));
    let o = r.pay.get(&user("u1"), &no).await.unwrap();
    assert_eq!(o["state"], "PAID");
    assert_eq!(r.hooks.runs.load(Ordering::SeqCst), 1);
    // The late notification is then a duplicate.
    let (h, body) = r.good(&no);
    assert_eq!(r.pay.notify(&h, &body).await.unwrap(), Transition::Already);
    assert_eq!(r.outbox_len().await, 2);
}

#[tokio::test]
async fn close_only_a_pending_order_of_ones_own() {
    let r = rig();
    let (no, _) = r.order("u1").await;
    assert_eq!(
        r.pay.close(&user("u2"), &no).await.unwrap_err().code,
        Code::NotFound
    );
    assert_eq!(
        r.pay.close(&user("u1"), &no).await.unwrap()["state"],
        "CLOSED"
    );
    assert_eq!(
        r.pay.close(&user("u1"), &no).await.unwrap()["state"],
        "CLOSED"
    );
    let (paid, _) = r.order("u1").await;
    let (h, body) = r.good(&paid);
    r.pay.notify(&h, &body).await.unwrap();
    assert_eq!(
        r.pay.close(&user("u1"), &paid).await.unwrap_err().code,
        Code::PayOrderNotPending
    );
    for bad in ["", "a", "../../x", "yq%2F", &"a".repeat(33)] {
        assert_eq!(
            r.pay.get(&user("u1"), bad).await.unwrap_err().code,
            Code::NotFound
        );
    }
}
