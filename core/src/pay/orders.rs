//! Orders in the item store, and the one place their state changes.
//!
//! * `payord#<out_trade_no>` / `o`: the order. States: `PENDING` → `PAID` (a verified
//!   notification or WeChat's query), `PENDING` → `CLOSED` (closed or expired). A closed
//!   order that WeChat nevertheless reports paid becomes `PAID`: the money moved.
//! * `paybuy#<user>` / `<created ms, 13 digits>#<out_trade_no>`: the buyer's list, written
//!   in the same transaction as the order.
//! * Every state change is a conditional write on the state it leaves, so duplicate and
//!   concurrent notifications make one transition; the after-payment outbox item is
//!   written in that same transaction, so it exists exactly once per paid order.

use serde_json::{Map, Value, json};

use crate::error::{Code, Error, Result};
use crate::keys;
use crate::store::{Attrs, Cond, Item, ItemStore, Query, StoreError, Update, WriteOp};

pub const SK: &str = "o";
pub const PENDING: &str = "PENDING";
pub const PAID: &str = "PAID";
pub const CLOSED: &str = "CLOSED";

pub fn order_pk(out_trade_no: &str) -> String {
    format!("{}{out_trade_no}", keys::PAY_ORDER)
}

pub fn buyer_pk(user: &str) -> String {
    format!("{}{user}", keys::PAY_BUYER)
}

fn buyer_sk(created_ms: i64, out_trade_no: &str) -> String {
    format!("{created_ms:013}#{out_trade_no}")
}

/// A stored order.
#[derive(Debug, Clone, PartialEq)]
pub struct Order {
    pub out_trade_no: String,
    pub attrs: Attrs,
}

impl Order {
    pub fn state(&self) -> &str {
        self.attrs
            .get("state")
            .and_then(Value::as_str)
            .unwrap_or("")
    }
    pub fn buyer(&self) -> &str {
        self.attrs
            .get("buyer")
            .and_then(Value::as_str)
            .unwrap_or("")
    }
    pub fn openid(&self) -> &str {
        self.attrs
            .get("openid")
            .and_then(Value::as_str)
            .unwrap_or("")
    }
    pub fn amount(&self) -> i64 {
        self.attrs
            .get("amount")
            .and_then(Value::as_i64)
            .unwrap_or(-1)
    }
    pub fn created_at(&self) -> i64 {
        self.attrs
            .get("created_at")
            .and_then(Value::as_i64)
            .unwrap_or(0)
    }

    /// What the buyer (or an admin) sees: no openid, no prepay id.
    pub fn view(&self) -> Value {
        let mut out = Map::new();
        out.insert("out_trade_no".into(), json!(self.out_trade_no));
        for k in [
            "state",
            "amount",
            "currency",
            "description",
            "item",
            "quantity",
            "buyer",
            "transaction_id",
            "created_at",
            "paid_at",
            "closed_at",
        ] {
            if let Some(v) = self.attrs.get(k) {
                out.insert(k.into(), v.clone());
            }
        }
        Value::Object(out)
    }
}

pub async fn load(store: &dyn ItemStore, out_trade_no: &str) -> Result<Option<Order>> {
    Ok(store
        .get(&order_pk(out_trade_no), SK)
        .await?
        .map(|i| Order {
            out_trade_no: out_trade_no.to_string(),
            attrs: i.attrs,
        }))
}

/// Writes a new `PENDING` order and its place in the buyer's list.
pub async fn insert(store: &dyn ItemStore, out_trade_no: &str, attrs: Attrs) -> Result<()> {
    let buyer = attrs
        .get("buyer")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let created = attrs.get("created_at").and_then(Value::as_i64).unwrap_or(0);
    let mut idx = Map::new();
    idx.insert("out_trade_no".into(), json!(out_trade_no));
    store
        .transact(vec![
            WriteOp::put(
                Item::new(order_pk(out_trade_no), SK, attrs),
                Some(Cond::NotExists),
            ),
            WriteOp::put(
                Item::new(buyer_pk(&buyer), buyer_sk(created, out_trade_no), idx),
                Some(Cond::NotExists),
            ),
        ])
        .await?;
    Ok(())
}

/// Takes back an order WeChat never accepted (no prepay id yet): no trace is left.
pub async fn remove_unaccepted(store: &dyn ItemStore, order: &Order) -> Result<()> {
    store
        .transact(vec![
            WriteOp::Delete {
                pk: order_pk(&order.out_trade_no),
                sk: SK.into(),
                cond: Some(Cond::And(vec![
                    Cond::eq("state", PENDING),
                    Cond::AttrNotExists("prepay_id".into()),
                ])),
            },
            WriteOp::Delete {
                pk: buyer_pk(order.buyer()),
                sk: buyer_sk(order.created_at(), &order.out_trade_no),
                cond: None,
            },
        ])
        .await?;
    Ok(())
}

pub async fn set_prepay(store: &dyn ItemStore, out_trade_no: &str, prepay_id: &str) -> Result<()> {
    store
        .update(
            &order_pk(out_trade_no),
            SK,
            Update::default().set("prepay_id", prepay_id),
            Some(Cond::eq("state", PENDING)),
        )
        .await?;
    Ok(())
}

/// What a transition did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transition {
    /// This call moved the order.
    Done,
    /// The order was already in the target state (a duplicate).
    Already,
}

/// `PENDING`/`CLOSED` → `PAID`, with `extra` writes (the after-payment outbox item) in
/// the same transaction.
pub async fn mark_paid(
    store: &dyn ItemStore,
    out_trade_no: &str,
    transaction_id: &str,
    payer_total: Option<i64>,
    now_ms: i64,
    extra: Vec<WriteOp>,
) -> Result<Transition> {
    let mut u = Update::default()
        .set("state", PAID)
        .set("transaction_id", transaction_id)
        .set("paid_at", now_ms);
    if let Some(t) = payer_total {
        u = u.set("payer_total", t);
    }
    let cond = Cond::Or(vec![Cond::eq("state", PENDING), Cond::eq("state", CLOSED)]);
    let mut ops = vec![WriteOp::Update {
        pk: order_pk(out_trade_no),
        sk: SK.into(),
        update: u,
        cond: Some(cond),
    }];
    ops.extend(extra);
    match store.transact(ops).await {
        Ok(()) => Ok(Transition::Done),
        Err(StoreError::ConditionFailed | StoreError::TransactionCanceled { .. }) => {
            match load(store, out_trade_no).await? {
                Some(o) if o.state() == PAID => Ok(Transition::Already),
                Some(_) => Err(Error::new(
                    Code::Conflict,
                    "the order changed concurrently; retry",
                )),
                None => Err(Error::not_found("no such order")),
            }
        }
        Err(e) => Err(e.into()),
    }
}

/// `PENDING` → `CLOSED`.
pub async fn mark_closed(
    store: &dyn ItemStore,
    out_trade_no: &str,
    now_ms: i64,
) -> Result<Transition> {
    let u = Update::default()
        .set("state", CLOSED)
        .set("closed_at", now_ms);
    match store
        .update(
            &order_pk(out_trade_no),
            SK,
            u,
            Some(Cond::eq("state", PENDING)),
        )
        .await
    {
        Ok(_) => Ok(Transition::Done),
        Err(StoreError::ConditionFailed) => match load(store, out_trade_no).await? {
            Some(o) if o.state() == CLOSED => Ok(Transition::Already),
            Some(_) => Err(Error::new(
                Code::PayOrderNotPending,
                "the order is no longer pending",
            )),
            None => Err(Error::not_found("no such order")),
        },
        Err(e) => Err(e.into()),
    }
}

/// A page of the buyer's orders, newest first.
pub async fn list_for(
    store: &dyn ItemStore,
    user: &str,
    limit: usize,
    cursor: Option<String>,
) -> Result<(Vec<Order>, Option<String>)> {
    let page = store
        .query(
            Query::partition(buyer_pk(user))
                .backwards()
                .limit(limit)
                .after(cursor),
        )
        .await?;
    let mut out = Vec::with_capacity(page.items.len());
    for i in page.items {
        let Some(no) = i.str("out_trade_no") else {
            continue;
        };
        if let Some(o) = load(store, no).await? {
            out.push(o);
        }
    }
    Ok((out, page.cursor))
}
