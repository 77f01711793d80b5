//! Refunds: asked by an admin (or a function with admin rights), settled by WeChat Pay's
//! verified refund notification (`REFUND.SUCCESS`, `REFUND.ABNORMAL` — not final —,
//! `REFUND.CLOSED`) or its answer.
//!
//! * `payord#<out_trade_no>` / `r#<out_refund_no>`: the refund `{amount, reason, status,
//!   refund_id, created_at}`; `status` is `PROCESSING`, `SUCCESS`, `ABNORMAL`, `CLOSED` or
//!   `FAILED` (WeChat refused the request).
//! * Asking reserves the amount on the order (`refund_reserved`, a conditional write
//!   with the refund item), so concurrent refunds never exceed what was paid; the same
//!   `out_refund_no` again answers the same refund (and asks WeChat again only while it
//!   never answered).
//! * `SUCCESS` adds to the order's `refunded` and moves it to `PARTIALLY_REFUNDED` or
//!   `REFUNDED`, with the buyer's `pay.refunded` message, in one transaction conditional
//!   on the refund's status: a duplicate notification changes nothing. `CLOSED` gives
//!   the reserved amount back.

use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::notify::Refusal;
use super::orders::{self, Order, Transition, entry, history_op, order_pk};
use super::{Pay, PaySettings, sign, valid_out_trade_no};
use crate::auth::Caller;
use crate::error::{Code, Error, Result};
use crate::keys;
use crate::store::{Cond, Item, Query, SkRange, StoreError, Update, WriteOp};

pub const PROCESSING: &str = "PROCESSING";
pub const SUCCESS: &str = "SUCCESS";
pub const ABNORMAL: &str = "ABNORMAL";
pub const CLOSED: &str = "CLOSED";
pub const FAILED: &str = "FAILED";
/// WeChat's limit on `reason`, in characters.
pub const MAX_REASON: usize = 80;

/// `POST /v1/pay/orders/{no}/refunds`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewRefund {
    /// Fen; default: all that is left.
    #[serde(default)]
    pub amount: Option<i64>,
    #[serde(default)]
    pub reason: Option<String>,
    /// The caller's idempotency key (1 to 64 of `[0-9A-Za-z_|*@-]`); default: new.
    #[serde(default)]
    pub out_refund_no: Option<String>,
}

/// The decrypted resource of a refund notification.
#[derive(Debug, Clone, Deserialize)]
pub struct RefundResource {
    pub mchid: String,
    pub out_trade_no: String,
    pub out_refund_no: String,
    #[serde(default)]
    pub refund_id: String,
    pub refund_status: String,
    pub amount: RefundAmount,
}

#[derive(Debug, Clone, Deserialize)]
pub struct RefundAmount {
    pub refund: i64,
}

fn refund_sk(out_refund_no: &str) -> String {
    format!("r#{out_refund_no}")
}

fn valid_out_refund_no(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'|' | b'*' | b'@'))
}

fn num(m: &Map<String, Value>, k: &str) -> i64 {
    m.get(k).and_then(Value::as_i64).unwrap_or(0)
}

/// A refund as admins and the buyer see it.
pub fn refund_view(r: &Item) -> Value {
    let mut out = Map::new();
    for k in ["out_refund_no", "amount", "reason", "status", "refund_id"] {
        if let Some(v) = r.get(k) {
            out.insert(k.into(), v.clone());
        }
    }
    for k in ["created_at", "success_at"] {
        if let Some(ms) = r.get(k).and_then(Value::as_i64) {
            out.insert(k.into(), json!(crate::clock::rfc3339(ms)));
        }
    }
    Value::Object(out)
}

/// An order's refunds, oldest first.
pub async fn refunds_of(store: &dyn crate::store::ItemStore, no: &str) -> Result<Vec<Item>> {
    Ok(store
        .query(
            Query::partition(order_pk(no))
                .range(SkRange::Prefix("r#".into()))
                .limit(100),
        )
        .await?
        .items)
}

/// The order's view with its refunds (when it has any).
pub async fn view_with_refunds(store: &dyn crate::store::ItemStore, o: &Order) -> Result<Value> {
    let mut v = o.view();
    let rs = refunds_of(store, &o.out_trade_no).await?;
    if !rs.is_empty() {
        v["refunds"] = Value::Array(rs.iter().map(refund_view).collect());
    }
    Ok(v)
}

impl Pay {
    /// An order's view with its refunds.
    pub(super) async fn order_view(&self, o: &Order) -> Result<Value> {
        view_with_refunds(self.store.as_ref(), o).await
    }

    /// Refunds (part of) a paid order: admins only.
    pub async fn refund(
        &self,
        caller: &Caller,
        out_trade_no: &str,
        req: NewRefund,
    ) -> Result<Value> {
        caller.require_admin()?;
        let s = self.settings()?;
        let not_found = || Error::not_found("no such order");
        if !valid_out_trade_no(out_trade_no) {
            return Err(not_found());
        }
        let reason = req.reason.clone().unwrap_or_default();
        if reason.chars().count() > MAX_REASON {
            return Err(Error::invalid_field(
                "reason",
                format!("at most {MAX_REASON} characters"),
            ));
        }
        let out_refund_no = match &req.out_refund_no {
            Some(n) if valid_out_refund_no(n) => n.clone(),
            Some(_) => {
                return Err(Error::invalid_field(
                    "out_refund_no",
                    "1 to 64 of 0-9 A-Z a-z _ - | * @",
                ));
            }
            None => format!("rf{:013}{}", self.clock.now_ms(), sign::nonce(16)),
        };
        let store = self.store.as_ref();
        let mut asked = None;
        for _ in 0..8 {
            let o = orders::load(store, out_trade_no)
                .await?
                .ok_or_else(not_found)?;
            if let Some(r) = store
                .get(&order_pk(out_trade_no), &refund_sk(&out_refund_no))
                .await?
            {
                if req
                    .amount
                    .is_some_and(|a| Some(a) != r.get("amount").and_then(Value::as_i64))
                {
                    return Err(Error::new(
                        Code::Conflict,
                        "this out_refund_no is another refund",
                    ));
                }
                asked = Some((o, r));
                break;
            }
            if ![orders::PAID, orders::PARTIALLY_REFUNDED].contains(&o.state()) {
                return Err(Error::new(
                    Code::PayOrderNotPaid,
                    format!("the order is {}", o.state()),
                )
                .with_details(json!({"state": o.state()})));
            }
            let reserved = num(&o.attrs, "refund_reserved");
            let left = o.amount() - reserved;
            let amount = req.amount.unwrap_or(left);
            if amount < 1 || amount > left {
                return Err(Error::new(
                    Code::InvalidArgument,
                    format!("1 to {left} fen is left to refund"),
                )
                .with_details(json!({"field": "amount", "left": left})));
            }
            let now = self.clock.now_ms();
            let mut attrs = Map::new();
            attrs.insert("out_refund_no".into(), json!(out_refund_no));
            attrs.insert("amount".into(), json!(amount));
            attrs.insert("reason".into(), json!(reason));
            attrs.insert("status".into(), json!(PROCESSING));
            attrs.insert("created_at".into(), json!(now));
            let same = if reserved == 0 {
                Cond::AttrNotExists("refund_reserved".into())
            } else {
                Cond::eq("refund_reserved", reserved)
            };
            let r = Item::new(order_pk(out_trade_no), refund_sk(&out_refund_no), attrs);
            let ops = vec![
                WriteOp::Update {
                    pk: order_pk(out_trade_no),
                    sk: orders::SK.into(),
                    update: Update::default().set("refund_reserved", reserved + amount),
                    cond: Some(Cond::And(vec![Cond::eq("state", o.state()), same])),
                },
                WriteOp::put(r.clone(), Some(Cond::NotExists)),
                history_op(
                    out_trade_no,
                    now,
                    entry(json!({"kind": "refund", "out_refund_no": out_refund_no,
                                 "amount": amount, "status": PROCESSING})),
                ),
            ];
            match store.transact(ops).await {
                Ok(()) => {
                    asked = Some((o, r));
                    break;
                }
                Err(StoreError::ConditionFailed | StoreError::TransactionCanceled { .. }) => {
                    continue;
                }
                Err(e) => return Err(e.into()),
            }
        }
        let Some((o, r)) = asked else {
            return Err(Error::new(
                Code::Conflict,
                "the order changed concurrently; retry",
            ));
        };
        // Ask WeChat while it never answered about this refund.
        if r.str("status") == Some(PROCESSING) && r.get("refund_id").is_none() {
            self.ask_wechat(s, &o, &r, &reason).await?;
        }
        let o = orders::load(store, out_trade_no)
            .await?
            .ok_or_else(not_found)?;
        let r = store
            .get(&order_pk(out_trade_no), &refund_sk(&out_refund_no))
            .await?
            .ok_or_else(not_found)?;
        Ok(json!({"order": view_with_refunds(store, &o).await?, "refund": refund_view(&r)}))
    }

    async fn ask_wechat(&self, s: &PaySettings, o: &Order, r: &Item, reason: &str) -> Result<()> {
        let no = &o.out_trade_no;
        let out_refund_no = r.str("out_refund_no").unwrap_or_default().to_string();
        let amount = r.get("amount").and_then(Value::as_i64).unwrap_or(0);
        let mut body = json!({
            "out_trade_no": no, "out_refund_no": out_refund_no,
            "notify_url": s.notify_url,
            "amount": {"refund": amount, "total": o.amount(), "currency": "CNY"},
        });
        if !reason.is_empty() {
            body["reason"] = json!(reason);
        }
        let now = self.clock.now_ms();
        match s
            .merchant
            .refund(self.wechat.as_ref(), &body, now.div_euclid(1000))
            .await
        {
            Ok(v) => {
                let refund_id = v["refund_id"].as_str().unwrap_or("").to_string();
                if !refund_id.is_empty() {
                    let _ = self
                        .store
                        .update(
                            &order_pk(no),
                            &refund_sk(&out_refund_no),
                            Update::default().set("refund_id", refund_id.as_str()),
                            Some(Cond::Exists),
                        )
                        .await;
                }
                let status = v["status"].as_str().unwrap_or(PROCESSING);
                if status != PROCESSING {
                    self.refund_status(no, &out_refund_no, status, "answer")
                        .await?;
                }
                Ok(())
            }
            Err(e) if e.code == Code::WechatError => {
                // Refused: the reservation is given back, the refund marked FAILED.
                self.refund_status(no, &out_refund_no, FAILED, "answer")
                    .await?;
                Err(e)
            }
            // Unanswered: the same out_refund_no asks again.
            Err(e) => Err(e),
        }
    }

    /// A verified refund notification.
    pub(super) async fn refund_notified(
        &self,
        s: &PaySettings,
        plain: &[u8],
    ) -> Result<Transition> {
        let rr: RefundResource =
            serde_json::from_slice(plain).map_err(|_| Error::from(Refusal::Malformed))?;
        if rr.mchid != s.merchant.mchid
            || !valid_out_trade_no(&rr.out_trade_no)
            || !valid_out_refund_no(&rr.out_refund_no)
        {
            return Err(Refusal::NotOurs.into());
        }
        let Some(r) = self
            .store
            .get(&order_pk(&rr.out_trade_no), &refund_sk(&rr.out_refund_no))
            .await?
        else {
            tracing::warn!("refund notification for a refund we do not have");
            return Err(Refusal::NotOurs.into());
        };
        if r.get("amount").and_then(Value::as_i64) != Some(rr.amount.refund) {
            return Err(Refusal::AmountMismatch.into());
        }
        if !matches!(rr.refund_status.as_str(), SUCCESS | ABNORMAL | CLOSED) {
            return Err(Refusal::Malformed.into());
        }
        self.refund_status(
            &rr.out_trade_no,
            &rr.out_refund_no,
            &rr.refund_status,
            "notify",
        )
        .await
    }

    /// Moves a refund to `status`, once, with what it does to the order.
    async fn refund_status(
        &self,
        no: &str,
        out_refund_no: &str,
        status: &str,
        why: &str,
    ) -> Result<Transition> {
        let store = self.store.as_ref();
        for _ in 0..8 {
            let (Some(o), Some(r)) = (
                orders::load(store, no).await?,
                store.get(&order_pk(no), &refund_sk(out_refund_no)).await?,
            ) else {
                return Err(Refusal::NotOurs.into());
            };
            let cur = r.str("status").unwrap_or("").to_string();
            if cur == status || [SUCCESS, CLOSED, FAILED].contains(&cur.as_str()) {
                return Ok(Transition::Already);
            }
            let amount = r.get("amount").and_then(Value::as_i64).unwrap_or(0);
            let now = self.clock.now_ms();
            let mut ru = Update::default().set("status", status);
            if status == SUCCESS {
                ru = ru.set("success_at", now);
            }
            let mut ops = vec![WriteOp::Update {
                pk: order_pk(no),
                sk: refund_sk(out_refund_no),
                update: ru,
                cond: Some(Cond::eq("status", cur.as_str())),
            }];
            let ostate = o.state().to_string();
            let mut outbox = Vec::new();
            match status {
                SUCCESS => {
                    let before = num(&o.attrs, "refunded");
                    let refunded = before + amount;
                    let to = if refunded >= o.amount() {
                        orders::REFUNDED
                    } else {
                        orders::PARTIALLY_REFUNDED
                    };
                    let same = if o.attrs.contains_key("refunded") {
                        Cond::eq("refunded", before)
                    } else {
                        Cond::AttrNotExists("refunded".into())
                    };
                    ops.push(WriteOp::Update {
                        pk: order_pk(no),
                        sk: orders::SK.into(),
                        update: Update::default().set("refunded", refunded).set("state", to),
                        cond: Some(Cond::And(vec![Cond::eq("state", ostate.as_str()), same])),
                    });
                    if ostate != to {
                        let (pk, sk) = orders::state_index(&ostate, o.created_at(), no);
                        ops.push(WriteOp::Delete { pk, sk, cond: None });
                        ops.push(WriteOp::put(
                            orders::index_item(to, o.created_at(), no),
                            None,
                        ));
                    }
                    let mut body = o.view();
                    body["state"] = json!(to);
                    body["refunded"] = json!(refunded);
                    let mut rv = refund_view(&r);
                    rv["status"] = json!(SUCCESS);
                    rv["success_at"] = json!(crate::clock::rfc3339(now));
                    body["refund"] = rv;
                    let id = crate::ids::new_id(now);
                    let mut a = Map::new();
                    a.insert(
                        "action".into(),
                        json!({"kind": "message", "user": o.buyer(), "frame": {
                            "type": "message", "cmd": "pay.refunded", "body": body,
                            "from": {"system": "pay"},
                        }}),
                    );
                    a.insert("order".into(), json!(no));
                    a.insert("name".into(), json!("message pay.refunded"));
                    a.insert("attempts".into(), json!(0));
                    a.insert("next_at".into(), json!(now));
                    ops.push(WriteOp::put(Item::new(keys::OUTBOX, id.clone(), a), None));
                    outbox.push(id);
                }
                CLOSED | FAILED => {
                    let reserved = num(&o.attrs, "refund_reserved");
                    ops.push(WriteOp::Update {
                        pk: order_pk(no),
                        sk: orders::SK.into(),
                        update: Update::default()
                            .set("refund_reserved", (reserved - amount).max(0)),
                        cond: Some(Cond::eq("refund_reserved", reserved)),
                    });
                }
                _ => {}
            }
            ops.push(history_op(
                no,
                now,
                entry(json!({"kind": "refund", "out_refund_no": out_refund_no,
                             "amount": amount, "status": status, "by": why})),
            ));
            match store.transact(ops).await {
                Ok(()) => {
                    tracing::info!(out_trade_no = %no, status, "refund recorded");
                    self.run_outbox(outbox).await;
                    return Ok(Transition::Done);
                }
                Err(StoreError::ConditionFailed | StoreError::TransactionCanceled { .. }) => {
                    continue;
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(Error::new(
            Code::Conflict,
            "the refund changed concurrently; retry",
        ))
    }
}
