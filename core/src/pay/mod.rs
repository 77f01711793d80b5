//! WeChat Pay v3: orders priced by the server, paid only on WeChat's verified word.
//!
//! * [`sign`]: request signatures and `paySign` with the merchant key; the keys.
//! * [`notify`]: which WeChat key signed, how fresh, AES-256-GCM resources.
//! * [`orders`]: orders in the item store and their conditional state changes.
//! * [`client`]: the signed calls to WeChat Pay (jsapi order, query, close).
//!
//! The amount never comes from the client unless configuration allows it (tips, within
//! bounds): it is the price field of a record the caller may read (under the caller's
//! rules) times the quantity. Only a notification that verifies — the right key, fresh,
//! not a probe, decrypting under the APIv3 key, for this app and merchant, about an order
//! we have, for its exact amount and buyer — or WeChat's own signed query answer marks an
//! order paid, and that with one conditional write, which also writes the after-payment
//! outbox item: duplicates and concurrent retries change nothing twice.

pub mod actions;
pub mod client;
pub mod notify;
pub mod orders;
pub mod refunds;
pub mod sign;

use std::sync::Arc;

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::auth::Caller;
use crate::clock::SharedClock;
use crate::error::{Code, Error, Result};
use crate::store::ItemStore;
use crate::tables::HookRunner;
use crate::wechat::WeChat;

pub use crate::wechat::{PayHttp, PayHttpReply};
pub use client::Merchant;
pub use notify::{ApiV3Key, Refusal, SignedHeaders, Transaction, WxPayKeys};
pub use orders::{Order, Transition};
pub use sign::{Certificate, KeyError, MerchantKey, PublicKey};

/// Most orders on one page of the buyer's list.
pub const MAX_LIST: usize = 100;
/// Largest order total, in fen (WeChat's `total` is a 32-bit integer).
pub const MAX_TOTAL: i64 = i32::MAX as i64;
/// WeChat's limit on `description`, in characters.
pub const MAX_DESCRIPTION: usize = 127;

/// Where prices come from: a record, read as the caller may read it.
#[async_trait]
pub trait Catalog: Send + Sync {
    /// The record as `caller` sees it (`NOT_FOUND` when it may not).
    async fn read(&self, caller: &Caller, table: &str, id: &str) -> Result<Value>;
}

#[async_trait]
impl Catalog for crate::tables::Tables {
    async fn read(&self, caller: &Caller, table: &str, id: &str) -> Result<Value> {
        self.get(caller, table, id, &[]).await
    }
}

/// The pay section of the configuration, keys read.
pub struct PaySettings {
    pub merchant: Merchant,
    pub api_v3_key: ApiV3Key,
    /// `https://…/v1/pay/notify`, no query.
    pub notify_url: String,
    /// Tables whose records may be sold.
    pub tables: Vec<String>,
    /// The record field holding the unit price, in fen.
    pub price_field: String,
    /// The record field used as the order's description.
    pub description_field: String,
    pub max_quantity: i64,
    /// `(min, max)` fen of a client-given amount (tips); `None`: refused.
    pub client_amount: Option<(i64, i64)>,
    /// `<module>.<export>` run once per paid order.
    pub on_paid: Option<String>,
    /// `<module>.<export>` pricing items: given `{item, quantity, user}`, answers
    /// `{amount, description}` (then `tables` is not consulted).
    pub price_function: Option<String>,
    /// Records created or updated once per paid order.
    pub actions: Vec<actions::RecordAction>,
    /// A topic told `{"cmd":"pay.paid","order":…}` once per paid order.
    pub topic: Option<String>,
    /// How long a new order may be paid (WeChat's `time_expire`), seconds.
    pub order_ttl_secs: i64,
    /// How old a pending order is before reconciliation asks WeChat about it (and how
    /// often this process reconciles), seconds.
    pub reconcile_after_secs: i64,
}

/// Default of [`PaySettings::order_ttl_secs`]: 30 minutes.
pub const DEFAULT_ORDER_TTL_SECS: i64 = 1800;
/// Default of [`PaySettings::reconcile_after_secs`]: a minute.
pub const DEFAULT_RECONCILE_AFTER_SECS: i64 = 60;
/// Most pending orders one reconciliation pass looks at.
pub const RECONCILE_BATCH: usize = 100;

/// What one reconciliation pass did.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Reconciled {
    /// Pending orders asked about at WeChat.
    pub checked: usize,
    /// Found paid (a lost notification).
    pub paid: usize,
    /// Expired, closed at WeChat and here.
    pub closed: usize,
}

/// `POST /v1/pay/orders`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewOrder {
    #[serde(default)]
    pub item: Option<ItemRef>,
    #[serde(default)]
    pub quantity: Option<i64>,
    /// Only where configuration allows a client-given amount.
    #[serde(default)]
    pub amount: Option<i64>,
    #[serde(default)]
    pub description: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ItemRef {
    pub table: String,
    pub id: String,
}

pub struct Pay {
    settings: Option<PaySettings>,
    store: Arc<dyn ItemStore>,
    wechat: Arc<dyn WeChat>,
    clock: SharedClock,
    catalog: Arc<dyn Catalog>,
    hooks: std::sync::OnceLock<std::sync::Weak<dyn HookRunner>>,
    /// When this process last reconciled (ms).
    last_pass: std::sync::atomic::AtomicI64,
}

fn unavailable() -> Error {
    Error::new(Code::PayUnavailable, "WeChat Pay is not configured")
}

impl Pay {
    pub fn new(
        settings: Option<PaySettings>,
        store: Arc<dyn ItemStore>,
        wechat: Arc<dyn WeChat>,
        clock: SharedClock,
        catalog: Arc<dyn Catalog>,
    ) -> Pay {
        Pay {
            settings,
            store,
            wechat,
            clock,
            catalog,
            hooks: Default::default(),
            last_pass: std::sync::atomic::AtomicI64::new(i64::MIN),
        }
    }

    /// Who runs the after-payment outbox items (the functions service).
    pub fn set_hooks(&self, hooks: std::sync::Weak<dyn HookRunner>) {
        let _ = self.hooks.set(hooks);
    }

    fn settings(&self) -> Result<&PaySettings> {
        self.settings.as_ref().ok_or_else(unavailable)
    }

    pub fn is_configured(&self) -> bool {
        self.settings.is_some()
    }

    /// The amount and description of a new order, decided here.
    async fn price(
        &self,
        s: &PaySettings,
        caller: &Caller,
        req: &NewOrder,
    ) -> Result<(i64, String, Value)> {
        match (&req.item, req.amount) {
            (Some(_), Some(_)) => Err(Error::new(
                Code::PayAmountNotAllowed,
                "the amount of a priced item is set by the server",
            )),
            (Some(item), None) if s.price_function.is_some() => {
                self.price_by_function(s, caller, item, req.quantity).await
            }
            (Some(item), None) => {
                if !s.tables.iter().any(|t| t == &item.table) {
                    return Err(Error::new(
                        Code::PayItemNotPriced,
                        "this table's records are not for sale",
                    )
                    .with_details(json!({"table": item.table})));
                }
                let quantity = req.quantity.unwrap_or(1);
                if !(1..=s.max_quantity).contains(&quantity) {
                    return Err(Error::invalid_field(
                        "quantity",
                        format!("quantity must be 1 to {}", s.max_quantity),
                    ));
                }
                let rec = self.catalog.read(caller, &item.table, &item.id).await?;
                let unit = rec
                    .get(&s.price_field)
                    .and_then(Value::as_i64)
                    .filter(|p| *p > 0)
                    .ok_or_else(|| {
                        Error::new(Code::PayItemNotPriced, "this record has no price")
                            .with_details(json!({"field": s.price_field}))
                    })?;
                let total = unit
                    .checked_mul(quantity)
                    .filter(|t| *t <= MAX_TOTAL)
                    .ok_or_else(|| Error::invalid_field("quantity", "the total is too large"))?;
                let desc = rec
                    .get(&s.description_field)
                    .and_then(Value::as_str)
                    .map(str::to_string)
                    .unwrap_or_else(|| format!("{} {}", item.table, item.id));
                let item_v = json!({"table": item.table, "id": item.id});
                Ok((
                    total,
                    desc,
                    json!({"item": item_v, "quantity": quantity, "unit_price": unit}),
                ))
            }
            (None, Some(amount)) => {
                let Some((min, max)) = s.client_amount else {
                    return Err(Error::new(
                        Code::PayAmountNotAllowed,
                        "this app does not accept an amount from the client",
                    ));
                };
                if !(min..=max).contains(&amount) {
                    return Err(Error::new(
                        Code::PayAmountNotAllowed,
                        "the amount is out of bounds",
                    )
                    .with_details(json!({"min": min, "max": max})));
                }
                if req.quantity.is_some() {
                    return Err(Error::invalid_field(
                        "quantity",
                        "quantity goes with an item",
                    ));
                }
                let desc = req.description.clone().unwrap_or_else(|| "tip".into());
                Ok((amount, desc, json!({})))
            }
            (None, None) => Err(Error::invalid(
                "an order needs an item (or an amount, where allowed)",
            )),
        }
    }

    /// The amount and description a pricing function gives (run as the buyer, like a
    /// hook: it may read what it likes with `db.admin()`, and throw to refuse).
    async fn price_by_function(
        &self,
        s: &PaySettings,
        caller: &Caller,
        item: &ItemRef,
        quantity: Option<i64>,
    ) -> Result<(i64, String, Value)> {
        let target = s.price_function.as_deref().unwrap_or_default();
        let quantity = quantity.unwrap_or(1);
        if !(1..=s.max_quantity).contains(&quantity) {
            return Err(Error::invalid_field(
                "quantity",
                format!("quantity must be 1 to {}", s.max_quantity),
            ));
        }
        let runner = self
            .hooks
            .get()
            .and_then(std::sync::Weak::upgrade)
            .ok_or_else(|| Error::internal("no function runner for pay.price_function"))?;
        let user = caller.user().map(|u| u.id.clone()).unwrap_or_default();
        let item_v = json!({"table": item.table, "id": item.id});
        let event = json!({"item": item_v, "quantity": quantity, "user": {"id": user}});
        let out = runner
            .before(target, caller, event, 1)
            .await?
            .unwrap_or_default();
        let unpriced = |why: &str| {
            Error::new(Code::PayItemNotPriced, format!("the price function {why}"))
                .with_details(json!({"function": target}))
        };
        let amount = out
            .get("amount")
            .and_then(Value::as_i64)
            .ok_or_else(|| unpriced("gave no whole amount in fen"))?;
        if !(1..=MAX_TOTAL).contains(&amount) {
            return Err(unpriced("gave an amount out of bounds"));
        }
        let desc = match out.get("description") {
            Some(Value::String(d)) => d.clone(),
            None | Some(Value::Null) => format!("{} {}", item.table, item.id),
            Some(_) => return Err(unpriced("gave a description that is not a string")),
        };
        Ok((amount, desc, json!({"item": item_v, "quantity": quantity})))
    }

    /// Creates an order and answers `wx.requestPayment`'s parameters.
    pub async fn create(&self, caller: &Caller, req: NewOrder) -> Result<Value> {
        let s = self.settings()?;
        let user = caller
            .user()
            .ok_or_else(|| Error::new(Code::Unauthenticated, "log in first"))?;
        if req.item.is_some() && req.description.is_some() {
            return Err(Error::invalid_field(
                "description",
                "the description of an item comes from the record",
            ));
        }
        let (total, desc, extra) = self.price(s, caller, &req).await?;
        let desc: String = desc.chars().take(MAX_DESCRIPTION).collect();
        if desc.trim().is_empty() {
            return Err(Error::invalid_field(
                "description",
                "the description is empty",
            ));
        }
        let now_ms = self.clock.now_ms();
        let out_trade_no = new_out_trade_no(now_ms);
        let mut attrs = Map::new();
        attrs.insert("state".into(), json!(orders::PENDING));
        attrs.insert("buyer".into(), json!(user.id));
        attrs.insert("openid".into(), json!(user.openid));
        attrs.insert("amount".into(), json!(total));
        attrs.insert("currency".into(), json!("CNY"));
        attrs.insert("description".into(), json!(desc));
        attrs.insert("created_at".into(), json!(now_ms));
        let expires_ms = now_ms + s.order_ttl_secs * 1000;
        attrs.insert("expires_at".into(), json!(expires_ms));
        if let Value::Object(m) = extra {
            attrs.extend(m);
        }
        orders::insert(self.store.as_ref(), &out_trade_no, attrs.clone()).await?;
        let order = Order {
            out_trade_no: out_trade_no.clone(),
            attrs,
        };
        let body = json!({
            "appid": s.merchant.appid, "mchid": s.merchant.mchid,
            "description": desc, "out_trade_no": out_trade_no,
            "notify_url": s.notify_url,
            "time_expire": wechat_time(expires_ms),
            "amount": {"total": total, "currency": "CNY"},
            "payer": {"openid": user.openid},
        });
        let now_secs = now_ms.div_euclid(1000);
        let prepay = match s
            .merchant
            .jsapi(self.wechat.as_ref(), &body, now_secs)
            .await
        {
            Ok(p) => p,
            Err(e) => {
                if let Err(e2) = orders::remove_unaccepted(self.store.as_ref(), &order).await {
                    tracing::warn!(error = %e2, "unaccepted order not removed");
                }
                return Err(e);
            }
        };
        orders::set_prepay(self.store.as_ref(), &out_trade_no, &prepay).await?;
        let ts = now_secs.to_string();
        let nonce = sign::nonce(32);
        let package = format!("prepay_id={prepay}");
        let pay_sign = s
            .merchant
            .key
            .sign(sign::pay_sign_message(&s.merchant.appid, &ts, &nonce, &package).as_bytes());
        Ok(json!({
            "order": order.view(),
            "payment": {
                "timeStamp": ts, "nonceStr": nonce, "package": package,
                "signType": "RSA", "paySign": pay_sign,
            },
        }))
    }

    fn may_see(caller: &Caller, o: &Order) -> bool {
        caller.is_admin() || caller.user().is_some_and(|u| u.id == o.buyer())
    }

    /// An order, for its buyer or an admin. A pending one is first asked about at
    /// WeChat (a lost notification must not leave a paid order unpaid).
    pub async fn get(&self, caller: &Caller, out_trade_no: &str) -> Result<Value> {
        let s = self.settings()?;
        let not_found = || Error::not_found("no such order");
        if !valid_out_trade_no(out_trade_no) {
            return Err(not_found());
        }
        let o = orders::load(self.store.as_ref(), out_trade_no)
            .await?
            .ok_or_else(not_found)?;
        if !Self::may_see(caller, &o) {
            return Err(not_found());
        }
        if o.state() == orders::PENDING {
            let now_secs = self.clock.now_secs();
            match s
                .merchant
                .query(self.wechat.as_ref(), out_trade_no, now_secs)
                .await
            {
                Ok(Some(tx)) if tx.trade_state == "SUCCESS" => {
                    self.settle(s, &o, &tx, "query").await?;
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "WeChat Pay query failed; answering the stored order")
                }
            }
            let o = orders::load(self.store.as_ref(), out_trade_no)
                .await?
                .ok_or_else(not_found)?;
            return Ok(o.view());
        }
        self.order_view(&o).await
    }

    /// The caller's own orders, newest first.
    pub async fn list(
        &self,
        caller: &Caller,
        limit: Option<usize>,
        cursor: Option<String>,
    ) -> Result<Value> {
        self.settings()?;
        let user = caller
            .user()
            .ok_or_else(|| Error::new(Code::Unauthenticated, "log in first"))?;
        let limit = limit.unwrap_or(20).clamp(1, MAX_LIST);
        let (items, cursor) =
            orders::list_for(self.store.as_ref(), &user.id, limit, cursor).await?;
        Ok(json!({
            "items": items.iter().map(Order::view).collect::<Vec<_>>(),
            "cursor": cursor,
        }))
    }

    /// Closes a pending order at WeChat and here.
    pub async fn close(&self, caller: &Caller, out_trade_no: &str) -> Result<Value> {
        let s = self.settings()?;
        let not_found = || Error::not_found("no such order");
        if !valid_out_trade_no(out_trade_no) {
            return Err(not_found());
        }
        let o = orders::load(self.store.as_ref(), out_trade_no)
            .await?
            .ok_or_else(not_found)?;
        if !Self::may_see(caller, &o) {
            return Err(not_found());
        }
        match o.state() {
            orders::PENDING => {}
            orders::CLOSED => return Ok(o.view()),
            _ => {
                return Err(Error::new(
                    Code::PayOrderNotPending,
                    "the order is no longer pending",
                ));
            }
        }
        let now = self.clock.now_ms();
        s.merchant
            .close(self.wechat.as_ref(), out_trade_no, now.div_euclid(1000))
            .await?;
        orders::mark_closed(self.store.as_ref(), out_trade_no, now, "close").await?;
        let o = orders::load(self.store.as_ref(), out_trade_no)
            .await?
            .ok_or_else(not_found)?;
        Ok(o.view())
    }

    /// `POST /v1/pay/notify`: a notification from WeChat Pay. `Ok` means recorded (or a
    /// duplicate of something recorded); any error is answered so that WeChat retries.
    pub async fn notify(&self, headers: &SignedHeaders, body: &[u8]) -> Result<Transition> {
        let s = self.settings()?;
        let now_secs = self.clock.now_secs();
        let (n, plain) = notify::open(&s.merchant.wx_keys, &s.api_v3_key, headers, body, now_secs)
            .inspect_err(|r| tracing::warn!(refusal = %r, "pay notification refused"))?;
        if n.event_type.starts_with("REFUND.") && n.resource.original_type == "refund" {
            return self.refund_notified(s, &plain).await;
        }
        if n.event_type != "TRANSACTION.SUCCESS" || n.resource.original_type != "transaction" {
            tracing::info!(event = %n.event_type, id = %n.id, "pay notification ignored");
            return Ok(Transition::Already);
        }
        let tx: Transaction =
            serde_json::from_slice(&plain).map_err(|_| Error::from(Refusal::Malformed))?;
        if tx.appid != s.merchant.appid || tx.mchid != s.merchant.mchid {
            tracing::warn!("pay notification for another app or merchant");
            return Err(Refusal::NotOurs.into());
        }
        if tx.trade_state != "SUCCESS" {
            return Ok(Transition::Already);
        }
        let o = if valid_out_trade_no(&tx.out_trade_no) {
            orders::load(self.store.as_ref(), &tx.out_trade_no).await?
        } else {
            None
        };
        let Some(o) = o else {
            tracing::warn!("pay notification for an order we do not have");
            return Err(Refusal::NotOurs.into());
        };
        self.settle(s, &o, &tx, "notify").await
    }

    /// Records a verified `SUCCESS` transaction against its order.
    async fn settle(
        &self,
        s: &PaySettings,
        o: &Order,
        tx: &Transaction,
        why: &str,
    ) -> Result<Transition> {
        if tx.appid != s.merchant.appid || tx.mchid != s.merchant.mchid {
            return Err(Refusal::NotOurs.into());
        }
        if tx.out_trade_no != o.out_trade_no {
            return Err(Refusal::NotOurs.into());
        }
        if tx.payer.as_ref().is_some_and(|p| p.openid != o.openid()) {
            tracing::warn!(out_trade_no = %o.out_trade_no, "paid by someone else than the buyer");
            return Err(Refusal::NotOurs.into());
        }
        let total = tx.amount.as_ref().map(|a| a.total);
        if total != Some(o.amount()) {
            tracing::warn!(out_trade_no = %o.out_trade_no, "paid amount differs from the order");
            return Err(Refusal::AmountMismatch.into());
        }
        if tx.transaction_id.is_empty() {
            return Err(Refusal::Malformed.into());
        }
        if o.state() == orders::PAID {
            return Ok(Transition::Already);
        }
        let now_ms = self.clock.now_ms();
        let mut paid = o.view();
        paid["state"] = json!(orders::PAID);
        paid["transaction_id"] = json!(tx.transaction_id);
        paid["paid_at"] = json!(crate::clock::rfc3339(now_ms));
        let outbox = actions::paid_outbox(
            s.on_paid.as_deref(),
            &s.actions,
            s.topic.as_deref(),
            &paid,
            now_ms,
        );
        let amount = tx.amount.as_ref().and_then(|a| a.payer_total);
        let t = orders::mark_paid(
            self.store.as_ref(),
            &o.out_trade_no,
            &tx.transaction_id,
            amount,
            now_ms,
            why,
            outbox.ops,
        )
        .await?;
        if t == Transition::Done {
            tracing::info!(out_trade_no = %o.out_trade_no, "order paid");
            self.run_outbox(outbox.ids).await;
        }
        Ok(t)
    }

    async fn run_outbox(&self, ids: Vec<String>) {
        let runner = self.hooks.get().and_then(std::sync::Weak::upgrade);
        if let (false, Some(h)) = (ids.is_empty(), runner) {
            h.committed(ids).await;
        }
    }

    /// The reconciliation pass (the schedule: every second on the local server, at most
    /// once per `reconcile_after_secs` here; every minute on AWS): pending orders older
    /// than `reconcile_after_secs` are asked about at WeChat; a `SUCCESS` is recorded as a
    /// notification would be (same conditional write, same actions once); an expired one
    /// is closed at WeChat and here. `force` ignores the per-process pacing.
    pub async fn reconcile(&self, force: bool) -> Result<Reconciled> {
        let Some(s) = self.settings.as_ref() else {
            return Ok(Reconciled::default());
        };
        let now = self.clock.now_ms();
        let every = (s.reconcile_after_secs * 1000).max(1000);
        let last = self.last_pass.load(std::sync::atomic::Ordering::Relaxed);
        if !force && now.saturating_sub(last) < every {
            return Ok(Reconciled::default());
        }
        self.last_pass
            .store(now, std::sync::atomic::Ordering::Relaxed);
        let mut r = Reconciled::default();
        let cutoff = now - s.reconcile_after_secs * 1000;
        for o in orders::pending_oldest(self.store.as_ref(), RECONCILE_BATCH).await? {
            if o.created_at() > cutoff {
                break;
            }
            if o.state() != orders::PENDING {
                continue;
            }
            r.checked += 1;
            if let Err(e) = self.reconcile_one(s, &o, now, &mut r).await {
                tracing::warn!(out_trade_no = %o.out_trade_no, error = %e, "order not reconciled");
            }
        }
        if r != Reconciled::default() {
            tracing::info!(
                checked = r.checked,
                paid = r.paid,
                closed = r.closed,
                "pay reconciled"
            );
        }
        Ok(r)
    }

    async fn reconcile_one(
        &self,
        s: &PaySettings,
        o: &Order,
        now: i64,
        r: &mut Reconciled,
    ) -> Result<()> {
        let now_secs = now.div_euclid(1000);
        let tx = s
            .merchant
            .query(self.wechat.as_ref(), &o.out_trade_no, now_secs)
            .await?;
        if let Some(tx) = &tx
            && tx.trade_state == "SUCCESS"
        {
            if self.settle(s, o, tx, "reconcile").await? == Transition::Done {
                r.paid += 1;
            }
            return Ok(());
        }
        let expires = o
            .attrs
            .get("expires_at")
            .and_then(Value::as_i64)
            .unwrap_or(o.created_at() + s.order_ttl_secs * 1000);
        if now >= expires {
            if tx.is_some() {
                s.merchant
                    .close(self.wechat.as_ref(), &o.out_trade_no, now_secs)
                    .await?;
            }
            if orders::mark_closed(self.store.as_ref(), &o.out_trade_no, now, "expired").await?
                == Transition::Done
            {
                r.closed += 1;
            }
        }
        Ok(())
    }

    /// `GET /v1/admin/pay/orders`: every order (or those in `state`), newest first.
    pub async fn admin_list(
        &self,
        caller: &Caller,
        state: Option<&str>,
        limit: Option<usize>,
        cursor: Option<String>,
    ) -> Result<Value> {
        caller.require_admin()?;
        self.settings()?;
        if let Some(st) = state
            && !orders::STATES.contains(&st)
        {
            return Err(Error::invalid_field(
                "state",
                format!("state is one of {}", orders::STATES.join(", ")),
            ));
        }
        let limit = limit.unwrap_or(20).clamp(1, MAX_LIST);
        let (items, cursor) = orders::list_all(self.store.as_ref(), state, limit, cursor).await?;
        Ok(json!({
            "items": items.iter().map(Order::view).collect::<Vec<_>>(),
            "cursor": cursor,
        }))
    }

    /// `GET /v1/admin/pay/orders/{no}`: an order with its history (transitions, refunds,
    /// after-payment action runs and failures), for admins.
    pub async fn admin_get(&self, caller: &Caller, out_trade_no: &str) -> Result<Value> {
        caller.require_admin()?;
        self.settings()?;
        let not_found = || Error::not_found("no such order");
        if !valid_out_trade_no(out_trade_no) {
            return Err(not_found());
        }
        let o = orders::load(self.store.as_ref(), out_trade_no)
            .await?
            .ok_or_else(not_found)?;
        Ok(json!({
            "order": self.order_view(&o).await?,
            "history": orders::history(self.store.as_ref(), out_trade_no).await?,
        }))
    }
}

/// WeChat's `time_expire`: `yyyy-MM-DDTHH:mm:ss+08:00`.
fn wechat_time(ms: i64) -> String {
    let t = crate::clock::rfc3339(ms + 8 * 3600 * 1000);
    // `…T…:ss.mmmZ` or `…T…:ssZ` in UTC shifted by 8 hours: keep the seconds.
    format!("{}+08:00", &t[..19.min(t.len())])
}

/// `yq` + 13 digits of milliseconds + 16 random characters: 31 of `[0-9A-Za-z]`.
fn new_out_trade_no(now_ms: i64) -> String {
    format!("yq{:013}{}", now_ms.max(0), sign::nonce(16))
}

/// WeChat's `out_trade_no`: 6 to 32 of `[0-9A-Za-z_|*-]`.
pub fn valid_out_trade_no(s: &str) -> bool {
    (6..=32).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'|' | b'*'))
}

#[cfg(test)]
mod tests;
