//! The ItemStore port: a DynamoDB-shaped item store, so that the embedded store and
//! DynamoDB mean exactly the same thing.
//!
//! * Items are addressed by `(pk, sk)`; attributes are a JSON object.
//! * `put`, `update` and `delete` take an optional [`Cond`]; a failed condition is
//!   [`StoreError::ConditionFailed`] and changes nothing.
//! * `update` modifies a live item; on an absent item it fails its condition (it never
//!   creates one: use `put` with [`Cond::NotExists`] for that).
//! * `query` reads one partition in sort-key order, forwards or backwards, with a limit and
//!   an opaque cursor; a cursor is returned only when more items follow.
//! * `transact` applies up to [`MAX_TRANSACTION_OPS`] writes and checks, all or nothing;
//!   an item may appear at most once in a transaction.
//! * An item whose `expires_at` (epoch seconds) is not in the future is invisible to every
//!   operation, conditions included, even before a sweeper removes it.
//!
//! The evaluation helpers here (conditions, updates, sizes, cursors) are the reference
//! semantics; the embedded store uses them directly and the DynamoDB adapter translates
//! them into expressions that mean the same.

use async_trait::async_trait;
use base64::Engine;
use serde_json::{Map, Number, Value};

pub type Attrs = Map<String, Value>;

/// DynamoDB's transaction limit.
pub const MAX_TRANSACTION_OPS: usize = 100;
/// Largest item accepted, measured as its keys plus its attributes' JSON encoding. JSON
/// is never smaller than DynamoDB's own size measure, so an item within this limit is
/// within DynamoDB's 400 KB on the cloud face too.
pub const MAX_ITEM_BYTES: usize = 400_000;
/// Largest page a single query may ask for.
pub const MAX_QUERY_LIMIT: usize = 1000;
/// Longest partition or sort key, in bytes (DynamoDB allows 2048 / 1024).
pub const MAX_PK_BYTES: usize = 1024;
pub const MAX_SK_BYTES: usize = 1024;

#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub pk: String,
    pub sk: String,
    pub attrs: Attrs,
    /// Epoch seconds after which the item is gone.
    pub expires_at: Option<i64>,
}

impl Item {
    pub fn new(pk: impl Into<String>, sk: impl Into<String>, attrs: Attrs) -> Self {
        Item {
            pk: pk.into(),
            sk: sk.into(),
            attrs,
            expires_at: None,
        }
    }

    pub fn expiring_at(mut self, epoch_seconds: i64) -> Self {
        self.expires_at = Some(epoch_seconds);
        self
    }

    pub fn is_live(&self, now_secs: i64) -> bool {
        self.expires_at.is_none_or(|t| t > now_secs)
    }

    pub fn get(&self, attr: &str) -> Option<&Value> {
        self.attrs.get(attr)
    }

    pub fn str(&self, attr: &str) -> Option<&str> {
        self.attrs.get(attr).and_then(Value::as_str)
    }
}

/// A condition on the current (live) version of an item; attribute names are top-level
/// attributes of the item.
#[derive(Debug, Clone, PartialEq)]
pub enum Cond {
    Exists,
    NotExists,
    AttrExists(String),
    AttrNotExists(String),
    Eq(String, Value),
    Ne(String, Value),
    Lt(String, Value),
    Le(String, Value),
    Gt(String, Value),
    Ge(String, Value),
    And(Vec<Cond>),
    Or(Vec<Cond>),
    Not(Box<Cond>),
}

impl Cond {
    pub fn eq(attr: &str, v: impl Into<Value>) -> Cond {
        Cond::Eq(attr.to_string(), v.into())
    }

    /// Evaluates against the live item, or `None` when absent or expired.
    pub fn eval(&self, item: Option<&Attrs>) -> bool {
        let attr = |a: &str| item.and_then(|m| m.get(a));
        match self {
            Cond::Exists => item.is_some(),
            Cond::NotExists => item.is_none(),
            Cond::AttrExists(a) => attr(a).is_some(),
            Cond::AttrNotExists(a) => attr(a).is_none(),
            Cond::Eq(a, v) => attr(a).is_some_and(|x| values_equal(x, v)),
            // DynamoDB: `a <> v` is true when the attribute is missing.
            Cond::Ne(a, v) => attr(a).is_none_or(|x| !values_equal(x, v)),
            Cond::Lt(a, v) => compare(attr(a), v).is_some_and(|o| o.is_lt()),
            Cond::Le(a, v) => compare(attr(a), v).is_some_and(|o| o.is_le()),
            Cond::Gt(a, v) => compare(attr(a), v).is_some_and(|o| o.is_gt()),
            Cond::Ge(a, v) => compare(attr(a), v).is_some_and(|o| o.is_ge()),
            Cond::And(cs) => cs.iter().all(|c| c.eval(item)),
            Cond::Or(cs) => cs.iter().any(|c| c.eval(item)),
            Cond::Not(c) => !c.eval(item),
        }
    }

    /// Checks the condition is well formed (names, comparable operands).
    pub fn validate(&self) -> Result<(), StoreError> {
        match self {
            Cond::Exists | Cond::NotExists => Ok(()),
            Cond::AttrExists(a) | Cond::AttrNotExists(a) => validate_attr_name(a),
            Cond::Eq(a, v) | Cond::Ne(a, v) => {
                validate_attr_name(a)?;
                validate_value(v)
            }
            Cond::Lt(a, v) | Cond::Le(a, v) | Cond::Gt(a, v) | Cond::Ge(a, v) => {
                validate_attr_name(a)?;
                match v {
                    Value::Number(_) | Value::String(_) => Ok(()),
                    _ => Err(StoreError::Invalid(
                        "ordering comparisons take a number or a string".into(),
                    )),
                }
            }
            Cond::And(cs) | Cond::Or(cs) => {
                if cs.is_empty() {
                    return Err(StoreError::Invalid("empty And/Or condition".into()));
                }
                cs.iter().try_for_each(Cond::validate)
            }
            Cond::Not(c) => c.validate(),
        }
    }
}

fn values_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => num_cmp(x, y) == Some(std::cmp::Ordering::Equal),
        _ => a == b,
    }
}

fn num_cmp(x: &Number, y: &Number) -> Option<std::cmp::Ordering> {
    match (x.as_i64(), y.as_i64()) {
        (Some(a), Some(b)) => Some(a.cmp(&b)),
        _ => x.as_f64()?.partial_cmp(&y.as_f64()?),
    }
}

/// DynamoDB ordering: numbers numerically, strings by UTF-8 bytes, anything else not
/// comparable.
fn compare(a: Option<&Value>, b: &Value) -> Option<std::cmp::Ordering> {
    match (a?, b) {
        (Value::Number(x), Value::Number(y)) => num_cmp(x, y),
        (Value::String(x), Value::String(y)) => Some(x.as_bytes().cmp(y.as_bytes())),
        _ => None,
    }
}

/// Changes to a live item. Applied in the order set, remove, add.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Update {
    pub set: Vec<(String, Value)>,
    pub remove: Vec<String>,
    /// Atomic numeric increments; a missing attribute counts as 0.
    pub add: Vec<(String, Number)>,
    /// `Some(Some(t))` sets the expiry, `Some(None)` clears it.
    pub expires_at: Option<Option<i64>>,
    /// Create the item when it is absent (counters). Otherwise an update of an absent item
    /// fails its condition. Meant for items that never expire.
    pub upsert: bool,
}

impl Update {
    pub fn upsert(mut self) -> Self {
        self.upsert = true;
        self
    }

    pub fn set(mut self, attr: &str, v: impl Into<Value>) -> Self {
        self.set.push((attr.to_string(), v.into()));
        self
    }

    pub fn remove(mut self, attr: &str) -> Self {
        self.remove.push(attr.to_string());
        self
    }

    pub fn add(mut self, attr: &str, n: impl Into<Number>) -> Self {
        self.add.push((attr.to_string(), n.into()));
        self
    }

    pub fn is_empty(&self) -> bool {
        self.set.is_empty()
            && self.remove.is_empty()
            && self.add.is_empty()
            && self.expires_at.is_none()
    }

    pub fn validate(&self) -> Result<(), StoreError> {
        if self.is_empty() {
            return Err(StoreError::Invalid("empty update".into()));
        }
        let mut seen = std::collections::HashSet::new();
        let names = self
            .set
            .iter()
            .map(|(a, _)| a)
            .chain(self.remove.iter())
            .chain(self.add.iter().map(|(a, _)| a));
        for a in names {
            validate_attr_name(a)?;
            if !seen.insert(a.as_str()) {
                return Err(StoreError::Invalid(format!(
                    "attribute {a:?} appears twice in one update"
                )));
            }
        }
        self.set.iter().try_for_each(|(_, v)| validate_value(v))
    }

    /// Applies the update to a copy of `item`.
    pub fn apply(&self, item: &Item) -> Result<Item, StoreError> {
        let mut out = item.clone();
        for (a, v) in &self.set {
            out.attrs.insert(a.clone(), v.clone());
        }
        for a in &self.remove {
            out.attrs.remove(a);
        }
        for (a, n) in &self.add {
            let sum = match out.attrs.get(a) {
                None => n.clone(),
                Some(Value::Number(cur)) => add_numbers(cur, n)?,
                Some(_) => {
                    return Err(StoreError::Invalid(format!(
                        "cannot add to attribute {a:?}: it is not a number"
                    )));
                }
            };
            out.attrs.insert(a.clone(), Value::Number(sum));
        }
        if let Some(t) = self.expires_at {
            out.expires_at = t;
        }
        Ok(out)
    }
}

fn add_numbers(a: &Number, b: &Number) -> Result<Number, StoreError> {
    if let (Some(x), Some(y)) = (a.as_i64(), b.as_i64())
        && let Some(s) = x.checked_add(y)
    {
        return Ok(Number::from(s));
    }
    let s = a.as_f64().unwrap_or(0.0) + b.as_f64().unwrap_or(0.0);
    Number::from_f64(s).ok_or_else(|| StoreError::Invalid("numeric overflow".into()))
}

#[derive(Debug, Clone, PartialEq)]
pub enum SkRange {
    All,
    Eq(String),
    Prefix(String),
    /// Inclusive on both ends.
    Between(String, String),
    Lt(String),
    Le(String),
    Gt(String),
    Ge(String),
}

impl SkRange {
    pub fn contains(&self, sk: &str) -> bool {
        let sk = sk.as_bytes();
        match self {
            SkRange::All => true,
            SkRange::Eq(x) => sk == x.as_bytes(),
            SkRange::Prefix(p) => sk.starts_with(p.as_bytes()),
            SkRange::Between(a, b) => sk >= a.as_bytes() && sk <= b.as_bytes(),
            SkRange::Lt(x) => sk < x.as_bytes(),
            SkRange::Le(x) => sk <= x.as_bytes(),
            SkRange::Gt(x) => sk > x.as_bytes(),
            SkRange::Ge(x) => sk >= x.as_bytes(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    pub pk: String,
    pub range: SkRange,
    /// Ascending sort-key order when true.
    pub forward: bool,
    pub limit: usize,
    pub cursor: Option<String>,
}

impl Query {
    pub fn partition(pk: impl Into<String>) -> Self {
        Query {
            pk: pk.into(),
            range: SkRange::All,
            forward: true,
            limit: 100,
            cursor: None,
        }
    }

    pub fn range(mut self, r: SkRange) -> Self {
        self.range = r;
        self
    }

    pub fn backwards(mut self) -> Self {
        self.forward = false;
        self
    }

    pub fn limit(mut self, n: usize) -> Self {
        self.limit = n;
        self
    }

    pub fn after(mut self, cursor: Option<String>) -> Self {
        self.cursor = cursor;
        self
    }

    /// Validates and decodes the cursor into the sort key to continue after.
    pub fn start_after(&self) -> Result<Option<String>, StoreError> {
        validate_key(&self.pk, "")?;
        if self.limit == 0 || self.limit > MAX_QUERY_LIMIT {
            return Err(StoreError::Invalid(format!(
                "limit must be between 1 and {MAX_QUERY_LIMIT}"
            )));
        }
        self.cursor.as_deref().map(decode_cursor).transpose()
    }
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Page {
    pub items: Vec<Item>,
    /// Present only when more items follow.
    pub cursor: Option<String>,
}

impl Page {
    /// Builds a page from up to `limit + 1` items read in order: the extra item only
    /// proves that more follow, so the cursor is present exactly when they do.
    pub fn from_overfetched(mut items: Vec<Item>, limit: usize) -> Page {
        let cursor = if items.len() > limit {
            items.truncate(limit);
            items.last().map(|i| encode_cursor(&i.sk))
        } else {
            None
        };
        Page { items, cursor }
    }
}

/// Cursors are the last returned sort key, base64url encoded: opaque to callers, the same
/// on every implementation.
pub fn encode_cursor(sk: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sk.as_bytes())
}

pub fn decode_cursor(c: &str) -> Result<String, StoreError> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(c)
        .map_err(|_| StoreError::Invalid("malformed cursor".into()))?;
    let sk =
        String::from_utf8(bytes).map_err(|_| StoreError::Invalid("malformed cursor".into()))?;
    if sk.is_empty() || sk.len() > MAX_SK_BYTES {
        return Err(StoreError::Invalid("malformed cursor".into()));
    }
    Ok(sk)
}

#[derive(Debug, Clone, PartialEq)]
pub enum WriteOp {
    Put {
        item: Item,
        cond: Option<Cond>,
    },
    Update {
        pk: String,
        sk: String,
        update: Update,
        cond: Option<Cond>,
    },
    Delete {
        pk: String,
        sk: String,
        cond: Option<Cond>,
    },
    Check {
        pk: String,
        sk: String,
        cond: Cond,
    },
}

impl WriteOp {
    pub fn key(&self) -> (&str, &str) {
        match self {
            WriteOp::Put { item, .. } => (&item.pk, &item.sk),
            WriteOp::Update { pk, sk, .. }
            | WriteOp::Delete { pk, sk, .. }
            | WriteOp::Check { pk, sk, .. } => (pk, sk),
        }
    }

    pub fn cond(&self) -> Option<&Cond> {
        match self {
            WriteOp::Put { cond, .. }
            | WriteOp::Update { cond, .. }
            | WriteOp::Delete { cond, .. } => cond.as_ref(),
            WriteOp::Check { cond, .. } => Some(cond),
        }
    }

    pub fn put(item: Item, cond: Option<Cond>) -> Self {
        WriteOp::Put { item, cond }
    }

    pub fn validate(&self) -> Result<(), StoreError> {
        let (pk, sk) = self.key();
        validate_key(pk, sk)?;
        if let Some(c) = self.cond() {
            c.validate()?;
        }
        match self {
            WriteOp::Put { item, .. } => validate_item(item),
            WriteOp::Update { update, .. } => update.validate(),
            _ => Ok(()),
        }
    }
}

/// Validates a whole transaction: size, per-op shape, and one op per item.
pub fn validate_transaction(ops: &[WriteOp]) -> Result<(), StoreError> {
    if ops.is_empty() || ops.len() > MAX_TRANSACTION_OPS {
        return Err(StoreError::Invalid(format!(
            "a transaction holds 1 to {MAX_TRANSACTION_OPS} operations"
        )));
    }
    let mut keys = std::collections::HashSet::new();
    for op in ops {
        op.validate()?;
        if !keys.insert(op.key()) {
            return Err(StoreError::Invalid(
                "an item may appear only once in a transaction".into(),
            ));
        }
    }
    Ok(())
}

pub fn validate_key(pk: &str, sk: &str) -> Result<(), StoreError> {
    if pk.is_empty()
        || pk.len() > MAX_PK_BYTES
        || sk.len() > MAX_SK_BYTES
        || pk.contains('\0')
        || sk.contains('\0')
    {
        return Err(StoreError::Invalid(
            "keys are 1 to 1024 bytes without NUL characters".into(),
        ));
    }
    Ok(())
}

pub fn validate_attr_name(a: &str) -> Result<(), StoreError> {
    if a.is_empty() || a.len() > 255 {
        return Err(StoreError::Invalid(
            "attribute names are 1 to 255 bytes".into(),
        ));
    }
    Ok(())
}

fn validate_value(v: &Value) -> Result<(), StoreError> {
    fn depth(v: &Value, d: usize) -> Result<(), StoreError> {
        // DynamoDB nests documents at most 32 levels deep.
        if d > 32 {
            return Err(StoreError::Invalid(
                "values nest at most 32 levels deep".into(),
            ));
        }
        match v {
            Value::Array(xs) => xs.iter().try_for_each(|x| depth(x, d + 1)),
            Value::Object(m) => m.iter().try_for_each(|(k, x)| {
                if k.is_empty() {
                    return Err(StoreError::Invalid("object keys may not be empty".into()));
                }
                depth(x, d + 1)
            }),
            // DynamoDB numbers: magnitude in [1e-130, 1e126), or zero.
            Value::Number(n) => match n.as_f64() {
                Some(x) if x == 0.0 || (x.abs() >= 1e-130 && x.abs() < 1e126) => Ok(()),
                _ => Err(StoreError::Invalid(
                    "numbers must have a magnitude between 1e-130 and 1e126 (or be 0)".into(),
                )),
            },
            _ => Ok(()),
        }
    }
    depth(v, 1)
}

pub fn validate_item(item: &Item) -> Result<(), StoreError> {
    validate_key(&item.pk, &item.sk)?;
    for (k, v) in &item.attrs {
        validate_attr_name(k)?;
        validate_value(v)?;
    }
    check_size(item)
}

/// The encoded size used for the item-size limit on every implementation.
pub fn item_size(item: &Item) -> usize {
    item.pk.len()
        + item.sk.len()
        + serde_json::to_vec(&item.attrs)
            .map(|v| v.len())
            .unwrap_or(usize::MAX)
}

pub fn check_size(item: &Item) -> Result<(), StoreError> {
    let size = item_size(item);
    if size > MAX_ITEM_BYTES {
        return Err(StoreError::ItemTooLarge {
            size,
            limit: MAX_ITEM_BYTES,
        });
    }
    Ok(())
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StoreError {
    #[error("condition failed")]
    ConditionFailed,
    /// Indices of the operations whose conditions failed.
    #[error("transaction canceled (failed operations {failed:?})")]
    TransactionCanceled { failed: Vec<usize> },
    #[error("item of {size} bytes exceeds the limit of {limit}")]
    ItemTooLarge { size: usize, limit: usize },
    #[error("invalid request: {0}")]
    Invalid(String),
    #[error("store unavailable: {0}")]
    Unavailable(String),
}

#[async_trait]
pub trait ItemStore: Send + Sync + 'static {
    async fn get(&self, pk: &str, sk: &str) -> Result<Option<Item>, StoreError>;
    async fn put(&self, item: Item, cond: Option<Cond>) -> Result<(), StoreError>;
    /// Returns the item as it is after the update.
    async fn update(
        &self,
        pk: &str,
        sk: &str,
        update: Update,
        cond: Option<Cond>,
    ) -> Result<Item, StoreError>;
    async fn delete(&self, pk: &str, sk: &str, cond: Option<Cond>) -> Result<(), StoreError>;
    async fn query(&self, q: Query) -> Result<Page, StoreError>;
    async fn transact(&self, ops: Vec<WriteOp>) -> Result<(), StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn attrs(v: Value) -> Attrs {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn conditions_follow_dynamodb_semantics() {
        let a = attrs(json!({"n": 5, "s": "b", "f": 1.5}));
        assert!(Cond::Exists.eval(Some(&a)));
        assert!(!Cond::Exists.eval(None));
        assert!(Cond::NotExists.eval(None));
        assert!(Cond::Ne("missing".into(), json!(1)).eval(Some(&a)));
        assert!(!Cond::Eq("missing".into(), json!(1)).eval(Some(&a)));
        assert!(Cond::Eq("n".into(), json!(5.0)).eval(Some(&a)));
        assert!(Cond::Lt("n".into(), json!(6)).eval(Some(&a)));
        assert!(
            !Cond::Lt("n".into(), json!("6")).eval(Some(&a)),
            "mixed types never compare"
        );
        assert!(Cond::Gt("s".into(), json!("a")).eval(Some(&a)));
        assert!(Cond::Ge("f".into(), json!(1.5)).eval(Some(&a)));
        assert!(Cond::Not(Box::new(Cond::Exists)).eval(None));
        assert!(Cond::Or(vec![Cond::NotExists, Cond::eq("n", 5)]).eval(Some(&a)));
        assert!(!Cond::And(vec![Cond::Exists, Cond::eq("n", 4)]).eval(Some(&a)));
    }

    #[test]
    fn updates_apply_in_order_and_reject_bad_adds() {
        let item = Item::new("p", "s", attrs(json!({"n": 1, "t": "x", "gone": true})));
        let u = Update::default()
            .set("t", "y")
            .remove("gone")
            .add("n", 2)
            .add("m", 3);
        let out = u.apply(&item).unwrap();
        assert_eq!(Value::Object(out.attrs), json!({"n": 3, "t": "y", "m": 3}));
        let bad = Update::default().add("t", 1);
        assert!(matches!(bad.apply(&item), Err(StoreError::Invalid(_))));
        assert!(
            Update::default()
                .set("a", 1)
                .remove("a")
                .validate()
                .is_err()
        );
        assert!(Update::default().validate().is_err());
    }

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        let c = encode_cursor("user#01Hx/ü");
        assert_eq!(decode_cursor(&c).unwrap(), "user#01Hx/ü");
        assert!(decode_cursor("***").is_err());
        assert!(decode_cursor("").is_err());
        assert!(
            decode_cursor(&base64::engine::general_purpose::URL_SAFE_NO_PAD.encode([0xff, 0xfe]))
                .is_err()
        );
    }

    #[test]
    fn transactions_reject_duplicates_and_size() {
        let op = || WriteOp::Delete {
            pk: "p".into(),
            sk: "s".into(),
            cond: None,
        };
        assert!(validate_transaction(&[op(), op()]).is_err());
        assert!(validate_transaction(&[]).is_err());
        let many: Vec<_> = (0..101)
            .map(|i| WriteOp::Delete {
                pk: "p".into(),
                sk: i.to_string(),
                cond: None,
            })
            .collect();
        assert!(validate_transaction(&many).is_err());
        assert!(validate_transaction(&many[..100]).is_ok());
        let big = Item::new("p", "s", attrs(json!({"b": "x".repeat(MAX_ITEM_BYTES)})));
        assert!(matches!(
            check_size(&big),
            Err(StoreError::ItemTooLarge { .. })
        ));
    }

    #[test]
    fn sk_ranges_compare_bytes() {
        assert!(SkRange::Prefix("a#".into()).contains("a#1"));
        assert!(!SkRange::Prefix("a#".into()).contains("a"));
        assert!(SkRange::Between("b".into(), "d".into()).contains("d"));
        assert!(!SkRange::Between("b".into(), "d".into()).contains("da"));
        assert!(SkRange::Lt("b".into()).contains("a"));
        assert!(
            SkRange::Gt("Z".into()).contains("a"),
            "byte order: uppercase sorts first"
        );
    }
}
