//! Orders in the item store, and the one place their state changes.
//!
//! * `payord#<out_trade_no>` / `o`: the order. States: `PENDING` → `PAID` (a verified
//!   notification or WeChat's query), `PENDING` → `CLOSED` (closed or expired). A closed
//!   order that WeChat nevertheless reports paid becomes `PAID`: the money moved.
//! * `paybuy#<user>` / `<created ms, 13 digits>#<out_trade_no>`: the buyer's list, written
//!   in the same transaction as the order.
//! * `paystate#<STATE>` / `<created>#<out_trade_no>`: orders by state (reconciliation
//!   reads `PENDING`), and `paylog` / `<created>#<out_trade_no>`: every order, for admins.
//! * `payhist#<out_trade_no>` / `<ms>#<random>`: the order's history.
//! * Every state change ([`transition`]) is one transaction conditional on the state it
//!   leaves, which also moves the state index and writes a history line, so duplicate and
//!   concurrent notifications make one transition; the after-payment outbox items are
//!   written in that same transaction, so they exist exactly once per paid order.

use serde_json::{Map, Value, json};

use crate::error::{Code, Error, Result};
use crate::keys;
use crate::store::{Attrs, Cond, Item, ItemStore, Query, StoreError, Update, WriteOp};

pub const SK: &str = "o";
pub const PENDING: &str = "PENDING";
pub const PAID: &str = "PAID";
pub const CLOSED: &str = "CLOSED";
/// Some of the paid amount was refunded.
pub const PARTIALLY_REFUNDED: &str = "PARTIALLY_REFUNDED";
/// All of it was refunded.
pub const REFUNDED: &str = "REFUNDED";
/// Every state an order can be in.
pub const STATES: &[&str] = &[PENDING, PAID, CLOSED, PARTIALLY_REFUNDED, REFUNDED];

pub fn order_pk(out_trade_no: &str) -> String {
    format!("{}{out_trade_no}", keys::PAY_ORDER)
}

pub fn state_index(state: &str, created_ms: i64, out_trade_no: &str) -> (String, String) {
    (state_pk(state), buyer_sk(created_ms, out_trade_no))
}

pub fn index_item(state: &str, created_ms: i64, out_trade_no: &str) -> Item {
    let (pk, sk) = state_index(state, created_ms, out_trade_no);
    Item::new(pk, sk, index_attrs(out_trade_no))
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
            "expires_at",
            "refunded",
        ] {
            if let Some(v) = self.attrs.get(k) {
                // Times are answered in RFC 3339, as everywhere (stored as milliseconds).
                let v = match (k.ends_with("_at"), v.as_i64()) {
                    (true, Some(ms)) => json!(crate::clock::rfc3339(ms)),
                    _ => v.clone(),
                };
                out.insert(k.into(), v);
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

fn state_pk(state: &str) -> String {
    format!("{}{state}", keys::PAY_STATE)
}

fn index_attrs(out_trade_no: &str) -> Attrs {
    let mut idx = Map::new();
    idx.insert("out_trade_no".into(), json!(out_trade_no));
    idx
}

/// One line of an order's history, to write in the transaction it describes.
pub fn history_op(out_trade_no: &str, now_ms: i64, mut entry: Map<String, Value>) -> WriteOp {
    entry.insert("at".into(), json!(now_ms));
    WriteOp::put(
        Item::new(
            format!("{}{out_trade_no}", keys::PAY_HISTORY),
            format!("{now_ms:013}#{}", crate::pay::sign::nonce(8)),
            entry,
        ),
        None,
    )
}

/// Adds a line to an order's history (an action's run, outside any transaction).
pub async fn record_history(
    store: &dyn ItemStore,
    out_trade_no: &str,
    now_ms: i64,
    entry: Map<String, Value>,
) -> Result<()> {
    store
        .transact(vec![history_op(out_trade_no, now_ms, entry)])
        .await?;
    Ok(())
}

/// An order's history, oldest first (at most 500 lines).
pub async fn history(store: &dyn ItemStore, out_trade_no: &str) -> Result<Vec<Value>> {
    let page = store
        .query(Query::partition(format!("{}{out_trade_no}", keys::PAY_HISTORY)).limit(500))
        .await?;
    Ok(page
        .items
        .into_iter()
        .map(|i| {
            let mut m = i.attrs;
            if let Some(ms) = m.get("at").and_then(Value::as_i64) {
                m.insert("at".into(), json!(crate::clock::rfc3339(ms)));
            }
            Value::Object(m)
        })
        .collect())
}

pub fn entry(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// Writes a new `PENDING` order, its place in the buyer's list, the admins' log and the
/// pending index, and its first history line.
pub async fn insert(store: &dyn ItemStore, out_trade_no: &str, attrs: Attrs) -> Result<()> {
    let buyer = attrs
        .get("buyer")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let created = attrs.get("created_at").and_then(Value::as_i64).unwrap_or(0);
    let sk = buyer_sk(created, out_trade_no);
    store
        .transact(vec![
            WriteOp::put(
                Item::new(order_pk(out_trade_no), SK, attrs),
                Some(Cond::NotExists),
            ),
            WriteOp::put(
                Item::new(buyer_pk(&buyer), sk.clone(), index_attrs(out_trade_no)),
                Some(Cond::NotExists),
            ),
            WriteOp::put(
                Item::new(keys::PAY_LOG, sk.clone(), index_attrs(out_trade_no)),
                None,
            ),
            WriteOp::put(
                Item::new(state_pk(PENDING), sk, index_attrs(out_trade_no)),
                None,
            ),
            history_op(
                out_trade_no,
                created,
                entry(json!({"kind": "state", "to": PENDING})),
            ),
        ])
        .await?;
    Ok(())
}

/// Takes back an order WeChat never accepted (no prepay id yet): no trace is left.
pub async fn remove_unaccepted(store: &dyn ItemStore, order: &Order) -> Result<()> {
    let sk = buyer_sk(order.created_at(), &order.out_trade_no);
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
                sk: sk.clone(),
                cond: None,
            },
            WriteOp::Delete {
                pk: keys::PAY_LOG.into(),
                sk: sk.clone(),
                cond: None,
            },
            WriteOp::Delete {
                pk: state_pk(PENDING),
                sk,
                cond: None,
            },
        ])
        .await?;
    // Its history line is left to no one: remove it too (best effort).
    let page = store
        .query(Query::partition(format!("{}{}", keys::PAY_HISTORY, order.out_trade_no)).limit(10))
        .await?;
    for i in page.items {
        let _ = store.delete(&i.pk, &i.sk, None).await;
    }
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

/// Moves an order from one of `from` to `to` with one conditional transaction on the state
/// it leaves: the update, the state index moved, a history line (`why`), and `extra`
/// writes (the after-payment outbox items). A state outside `from` and `to` is
/// `not_allowed`; a concurrent change is re-read and tried again.
#[allow(clippy::too_many_arguments)]
pub async fn transition(
    store: &dyn ItemStore,
    out_trade_no: &str,
    from: &[&str],
    to: &str,
    update: Update,
    now_ms: i64,
    why: &str,
    extra: Vec<WriteOp>,
) -> Result<Transition> {
    for _ in 0..8 {
        let Some(o) = load(store, out_trade_no).await? else {
            return Err(Error::not_found("no such order"));
        };
        let cur = o.state().to_string();
        if cur == to {
            return Ok(Transition::Already);
        }
        if !from.contains(&cur.as_str()) {
            return Err(
                Error::new(Code::PayOrderNotPending, format!("the order is {cur}"))
                    .with_details(json!({"state": cur})),
            );
        }
        let sk = buyer_sk(o.created_at(), out_trade_no);
        let mut ops = vec![
            WriteOp::Update {
                pk: order_pk(out_trade_no),
                sk: SK.into(),
                update: update.clone().set("state", to),
                cond: Some(Cond::eq("state", cur.as_str())),
            },
            WriteOp::Delete {
                pk: state_pk(&cur),
                sk: sk.clone(),
                cond: None,
            },
            WriteOp::put(Item::new(state_pk(to), sk, index_attrs(out_trade_no)), None),
            history_op(
                out_trade_no,
                now_ms,
                entry(json!({"kind": "state", "from": cur, "to": to, "by": why})),
            ),
        ];
        ops.extend(extra.iter().cloned());
        match store.transact(ops).await {
            Ok(()) => return Ok(Transition::Done),
            Err(StoreError::ConditionFailed | StoreError::TransactionCanceled { .. }) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(Error::new(
        Code::Conflict,
        "the order changed concurrently; retry",
    ))
}

/// `PENDING`/`CLOSED` → `PAID`, with `extra` writes (the after-payment outbox items) in
/// the same transaction.
#[allow(clippy::too_many_arguments)]
pub async fn mark_paid(
    store: &dyn ItemStore,
    out_trade_no: &str,
    transaction_id: &str,
    payer_total: Option<i64>,
    now_ms: i64,
    why: &str,
    extra: Vec<WriteOp>,
) -> Result<Transition> {
    let mut u = Update::default()
        .set("transaction_id", transaction_id)
        .set("paid_at", now_ms);
    if let Some(t) = payer_total {
        u = u.set("payer_total", t);
    }
    transition(
        store,
        out_trade_no,
        &[PENDING, CLOSED],
        PAID,
        u,
        now_ms,
        why,
        extra,
    )
    .await
}

/// `PENDING` → `CLOSED`.
pub async fn mark_closed(
    store: &dyn ItemStore,
    out_trade_no: &str,
    now_ms: i64,
    why: &str,
) -> Result<Transition> {
    transition(
        store,
        out_trade_no,
        &[PENDING],
        CLOSED,
        Update::default().set("closed_at", now_ms),
        now_ms,
        why,
        Vec::new(),
    )
    .await
}

/// A page of orders by state (or all), newest first, for admins.
pub async fn list_all(
    store: &dyn ItemStore,
    state: Option<&str>,
    limit: usize,
    cursor: Option<String>,
) -> Result<(Vec<Order>, Option<String>)> {
    let pk = match state {
        Some(s) => state_pk(s),
        None => keys::PAY_LOG.to_string(),
    };
    page_of(store, pk, true, limit, cursor).await
}

/// Pending orders, oldest first (reconciliation).
pub async fn pending_oldest(store: &dyn ItemStore, limit: usize) -> Result<Vec<Order>> {
    Ok(page_of(store, state_pk(PENDING), false, limit, None)
        .await?
        .0)
}

async fn page_of(
    store: &dyn ItemStore,
    pk: String,
    newest_first: bool,
    limit: usize,
    cursor: Option<String>,
) -> Result<(Vec<Order>, Option<String>)> {
    let mut q = Query::partition(pk).limit(limit).after(cursor);
    if newest_first {
        q = q.backwards();
    }
    let page = store.query(q).await?;
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
