//! The DynamoDB ItemStore.
//!
//! One table, keys `pk` (S) and `sk` (S); each of the item's attributes is a top-level
//! attribute named `a:<name>`, so user attribute names never collide with the key or TTL
//! attributes and DynamoDB's own item-size limit applies to updates; `ttl` (N, epoch
//! seconds) is the table's TTL attribute.
//!
//! DynamoDB deletes expired items only eventually, so every read filters on `ttl` and
//! every condition is wrapped so that an expired item counts as absent: the same
//! answers as the embedded store, which follows `yunqiao_core::store` to the letter.

use std::collections::HashMap;
use std::fmt::Debug;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::AttributeValue as Av;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, ConditionCheck, Delete, KeySchemaElement, KeyType, Put,
    ReturnValue, ScalarAttributeType, TimeToLiveSpecification, TransactWriteItem,
    Update as DdbUpdate,
};
use serde_json::{Map, Number, Value};
use yunqiao_core::clock::SharedClock;
use yunqiao_core::store::{
    Attrs, Cond, Item, ItemStore, MAX_ITEM_BYTES, Page, Query, SkRange, StoreError, Update,
    WriteOp, validate_item, validate_key, validate_transaction,
};

/// Prefix of the DynamoDB attribute that holds an item attribute.
const ATTR_PREFIX: &str = "a:";

/// The table and where it is (`store.dynamodb_*` of `yunqiao_config::Config`).
#[derive(Debug, Clone)]
pub struct DynamoConfig {
    pub table: String,
    pub region: String,
    /// A local emulator's URL; `None` for AWS itself.
    pub endpoint: Option<String>,
}

#[derive(Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
    clock: SharedClock,
}

/// Builds the SDK configuration once (per process or Lambda sandbox): rustls with ring,
/// credentials from the standard chain.
pub async fn sdk_config(region: &str, endpoint: Option<&str>) -> aws_config::SdkConfig {
    use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
        .build_https();
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(http)
        .region(aws_config::Region::new(region.to_string()));
    if let Some(ep) = endpoint {
        loader = loader.endpoint_url(ep);
    }
    loader.load().await
}

fn unavailable(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

/// Maps an SDK error to the port's error.
fn map_err<E, R>(e: SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: Debug + 'static,
{
    if let SdkError::ServiceError(se) = &e {
        let err = se.err();
        let msg = err.message().unwrap_or_default().to_string();
        match err.code() {
            Some("ConditionalCheckFailedException") => return StoreError::ConditionFailed,
            Some("ValidationException") => {
                let lower = msg.to_ascii_lowercase();
                if lower.contains("size") && lower.contains("exceed") {
                    return StoreError::ItemTooLarge {
                        size: MAX_ITEM_BYTES + 1,
                        limit: MAX_ITEM_BYTES,
                    };
                }
                return StoreError::Invalid(msg);
            }
            _ => {}
        }
    }
    // The SDK's full context (request and response dumps) goes to the debug log; the
    // error says what happened in a line.
    tracing::debug!(error = %DisplayErrorContext(&e), "DynamoDB call failed");
    unavailable(describe(&e))
}

/// One line for an SDK failure: the service's code and message, or the root cause of a
/// failure to reach it.
fn describe<E, R>(e: &SdkError<E, R>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: Debug + 'static,
{
    let root = |e: &(dyn std::error::Error + 'static)| {
        let mut cur = e;
        while let Some(next) = cur.source() {
            cur = next;
        }
        cur.to_string()
    };
    let line = match e {
        SdkError::ServiceError(se) => format!(
            "{}: {}",
            se.err().code().unwrap_or("service error"),
            se.err().message().unwrap_or_default()
        ),
        SdkError::TimeoutError(_) => "the request timed out".to_string(),
        SdkError::DispatchFailure(_) => format!("cannot reach DynamoDB: {}", root(e)),
        SdkError::ConstructionFailure(_) => format!("cannot build the request: {}", root(e)),
        _ => format!("unexpected answer: {}", root(e)),
    };
    let mut line: String = line.lines().next().unwrap_or_default().to_string();
    if line.len() > 300 {
        let mut cut = 300;
        while !line.is_char_boundary(cut) {
            cut -= 1;
        }
        line.truncate(cut);
        line.push('…');
    }
    line
}

pub fn json_to_av(v: &Value) -> Av {
    match v {
        Value::Null => Av::Null(true),
        Value::Bool(b) => Av::Bool(*b),
        Value::Number(n) => Av::N(n.to_string()),
        Value::String(s) => Av::S(s.clone()),
        Value::Array(xs) => Av::L(xs.iter().map(json_to_av).collect()),
        Value::Object(m) => Av::M(m.iter().map(|(k, v)| (k.clone(), json_to_av(v))).collect()),
    }
}

pub fn av_to_json(av: &Av) -> Result<Value, StoreError> {
    Ok(match av {
        Av::Null(_) => Value::Null,
        Av::Bool(b) => Value::Bool(*b),
        Av::N(n) => Value::Number(parse_number(n)?),
        Av::S(s) => Value::String(s.clone()),
        Av::L(xs) => Value::Array(xs.iter().map(av_to_json).collect::<Result<_, _>>()?),
        Av::M(m) => Value::Object(
            m.iter()
                .map(|(k, v)| Ok((k.clone(), av_to_json(v)?)))
                .collect::<Result<Map<_, _>, StoreError>>()?,
        ),
        other => return Err(unavailable(format!("unexpected attribute type {other:?}"))),
    })
}

fn parse_number(n: &str) -> Result<Number, StoreError> {
    if let Ok(i) = n.parse::<i64>() {
        return Ok(Number::from(i));
    }
    if let Ok(u) = n.parse::<u64>() {
        return Ok(Number::from(u));
    }
    n.parse::<f64>()
        .ok()
        .and_then(Number::from_f64)
        .ok_or_else(|| unavailable(format!("unreadable number {n:?}")))
}

fn item_to_av(item: &Item) -> HashMap<String, Av> {
    let mut m = HashMap::with_capacity(4);
    m.insert("pk".into(), Av::S(item.pk.clone()));
    m.insert("sk".into(), Av::S(item.sk.clone()));
    for (k, v) in &item.attrs {
        m.insert(format!("{ATTR_PREFIX}{k}"), json_to_av(v));
    }
    if let Some(t) = item.expires_at {
        m.insert("ttl".into(), Av::N(t.to_string()));
    }
    m
}

fn av_to_item(m: &HashMap<String, Av>) -> Result<Item, StoreError> {
    let s = |k: &str| match m.get(k) {
        Some(Av::S(s)) => Ok(s.clone()),
        _ => Err(unavailable(format!("item without {k}"))),
    };
    let attrs: Attrs = m
        .iter()
        .filter_map(|(k, v)| k.strip_prefix(ATTR_PREFIX).map(|k| (k, v)))
        .map(|(k, v)| Ok((k.to_string(), av_to_json(v)?)))
        .collect::<Result<_, StoreError>>()?;
    let expires_at = match m.get("ttl") {
        Some(Av::N(n)) => n.parse::<f64>().ok().map(|f| f as i64),
        _ => None,
    };
    Ok(Item {
        pk: s("pk")?,
        sk: s("sk")?,
        attrs,
        expires_at,
    })
}

fn key(pk: &str, sk: &str) -> HashMap<String, Av> {
    HashMap::from([
        ("pk".to_string(), Av::S(pk.to_string())),
        ("sk".to_string(), Av::S(sk.to_string())),
    ])
}

/// Accumulates an expression's name and value placeholders.
#[derive(Default)]
struct Expr {
    names: HashMap<String, String>,
    values: HashMap<String, Av>,
}

impl Expr {
    fn attr(&mut self, a: &str) -> String {
        let ph = format!("#n{}", self.names.len());
        self.names.insert(ph.clone(), format!("{ATTR_PREFIX}{a}"));
        ph
    }

    fn key_name(&mut self, k: &str) -> String {
        let ph = format!("#{k}");
        self.names.insert(ph.clone(), k.to_string());
        ph
    }

    fn val(&mut self, v: Av) -> String {
        let ph = format!(":v{}", self.values.len());
        self.values.insert(ph.clone(), v);
        ph
    }

    /// True when the item exists and has not expired.
    fn live(&mut self, now: i64) -> String {
        let pk = self.key_name("pk");
        let ttl = self.key_name("ttl");
        let now = self.val(Av::N(now.to_string()));
        format!("(attribute_exists({pk}) AND (attribute_not_exists({ttl}) OR {ttl} > {now}))")
    }

    fn cond(&mut self, c: &Cond, now: i64) -> String {
        let typed = |e: &mut Expr, a: &str, v: &Value, op: &str| {
            let path = e.attr(a);
            let t = e.val(Av::S(if v.is_number() { "N" } else { "S" }.into()));
            let v = e.val(json_to_av(v));
            format!("(attribute_type({path}, {t}) AND {path} {op} {v})")
        };
        match c {
            Cond::Exists => self.live(now),
            Cond::NotExists => format!("(NOT {})", self.live(now)),
            Cond::AttrExists(a) => format!("attribute_exists({})", self.attr(a)),
            Cond::AttrNotExists(a) => format!("attribute_not_exists({})", self.attr(a)),
            Cond::Eq(a, v) => {
                let p = self.attr(a);
                format!("{p} = {}", self.val(json_to_av(v)))
            }
            Cond::Ne(a, v) => {
                let p = self.attr(a);
                format!(
                    "(attribute_not_exists({p}) OR {p} <> {})",
                    self.val(json_to_av(v))
                )
            }
            Cond::Lt(a, v) => typed(self, a, v, "<"),
            Cond::Le(a, v) => typed(self, a, v, "<="),
            Cond::Gt(a, v) => typed(self, a, v, ">"),
            Cond::Ge(a, v) => typed(self, a, v, ">="),
            // One operand: no parentheses of its own (DynamoDB refuses redundant ones).
            Cond::And(cs) | Cond::Or(cs) if cs.len() == 1 => self.cond(&cs[0], now),
            Cond::And(cs) => {
                let parts: Vec<_> = cs.iter().map(|c| self.cond(c, now)).collect();
                format!("({})", parts.join(" AND "))
            }
            Cond::Or(cs) => {
                let parts: Vec<_> = cs.iter().map(|c| self.cond(c, now)).collect();
                format!("({})", parts.join(" OR "))
            }
            Cond::Not(c) => format!("(NOT {})", self.cond(c, now)),
        }
    }

    /// The condition as evaluated on the live item: an expired item is absent.
    fn condition(&mut self, c: Option<&Cond>, must_exist: bool, now: i64) -> Option<String> {
        match c {
            None if must_exist => Some(self.live(now)),
            None => None,
            Some(Cond::Exists) => Some(self.live(now)),
            Some(Cond::NotExists) => Some(format!("(NOT {})", self.live(now))),
            Some(c) => {
                let inner = self.cond(c, now);
                if c.eval(None) && !must_exist {
                    Some(format!("((NOT {}) OR {inner})", self.live(now)))
                } else {
                    Some(format!("({} AND {inner})", self.live(now)))
                }
            }
        }
    }

    fn update(&mut self, u: &Update) -> String {
        let mut set = Vec::new();
        let mut remove = Vec::new();
        for (a, v) in &u.set {
            let p = self.attr(a);
            set.push(format!("{p} = {}", self.val(json_to_av(v))));
        }
        for a in &u.remove {
            remove.push(self.attr(a));
        }
        for (a, n) in &u.add {
            let p = self.attr(a);
            let zero = self.val(Av::N("0".into()));
            let inc = self.val(Av::N(n.to_string()));
            set.push(format!("{p} = if_not_exists({p}, {zero}) + {inc}"));
        }
        match u.expires_at {
            Some(Some(t)) => {
                let ttl = self.key_name("ttl");
                set.push(format!("{ttl} = {}", self.val(Av::N(t.to_string()))));
            }
            Some(None) => remove.push(self.key_name("ttl")),
            None => {}
        }
        let mut out = String::new();
        if !set.is_empty() {
            out.push_str("SET ");
            out.push_str(&set.join(", "));
        }
        if !remove.is_empty() {
            out.push_str(" REMOVE ");
            out.push_str(&remove.join(", "));
        }
        out
    }

    fn names(&self) -> Option<HashMap<String, String>> {
        (!self.names.is_empty()).then(|| self.names.clone())
    }

    fn values(&self) -> Option<HashMap<String, Av>> {
        (!self.values.is_empty()).then(|| self.values.clone())
    }
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>, clock: SharedClock) -> Self {
        DynamoStore {
            client,
            table: table.into(),
            clock,
        }
    }

    pub async fn connect(cfg: &DynamoConfig, clock: SharedClock) -> Self {
        let sdk = sdk_config(&cfg.region, None).await;
        DynamoStore::from_sdk(&sdk, cfg, clock)
    }

    /// A store on an SDK configuration shared with other clients (a Lambda sandbox builds
    /// one); the endpoint, when set, applies to DynamoDB only.
    pub fn from_sdk(sdk: &aws_config::SdkConfig, cfg: &DynamoConfig, clock: SharedClock) -> Self {
        let mut conf = aws_sdk_dynamodb::config::Builder::from(sdk);
        if let Some(ep) = &cfg.endpoint {
            conf = conf.endpoint_url(ep);
        }
        DynamoStore::new(Client::from_conf(conf.build()), cfg.table.clone(), clock)
    }

    /// Creates the table (on-demand, TTL on `ttl`) when it does not exist: for
    /// development and tests. In AWS, `template.yaml` owns the table.
    pub async fn create_table_if_missing(&self) -> Result<(), StoreError> {
        if self
            .client
            .describe_table()
            .table_name(&self.table)
            .send()
            .await
            .is_ok()
        {
            return Ok(());
        }
        let attr = |n: &str| {
            AttributeDefinition::builder()
                .attribute_name(n)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .map_err(unavailable)
        };
        let key = |n: &str, t: KeyType| {
            KeySchemaElement::builder()
                .attribute_name(n)
                .key_type(t)
                .build()
                .map_err(unavailable)
        };
        let created = self
            .client
            .create_table()
            .table_name(&self.table)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(attr("pk")?)
            .attribute_definitions(attr("sk")?)
            .key_schema(key("pk", KeyType::Hash)?)
            .key_schema(key("sk", KeyType::Range)?)
            .send()
            .await;
        if let Err(e) = created
            && e.as_service_error().and_then(|s| s.code()) != Some("ResourceInUseException")
        {
            return Err(map_err(e));
        }
        self.client
            .update_time_to_live()
            .table_name(&self.table)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .attribute_name("ttl")
                    .enabled(true)
                    .build()
                    .map_err(unavailable)?,
            )
            .send()
            .await
            .map_err(map_err)?;
        Ok(())
    }

    fn transact_item(&self, op: &WriteOp, now: i64) -> Result<TransactWriteItem, StoreError> {
        let mut e = Expr::default();
        let b = TransactWriteItem::builder();
        let b = match op {
            WriteOp::Put { item, cond } => {
                let c = e.condition(cond.as_ref(), false, now);
                b.put(
                    Put::builder()
                        .table_name(&self.table)
                        .set_item(Some(item_to_av(item)))
                        .set_condition_expression(c)
                        .set_expression_attribute_names(e.names())
                        .set_expression_attribute_values(e.values())
                        .build()
                        .map_err(unavailable)?,
                )
            }
            WriteOp::Update {
                pk,
                sk,
                update,
                cond,
            } => {
                let u = e.update(update);
                let c = e.condition(cond.as_ref(), !update.upsert, now);
                b.update(
                    DdbUpdate::builder()
                        .table_name(&self.table)
                        .set_key(Some(key(pk, sk)))
                        .update_expression(u)
                        .set_condition_expression(c)
                        .set_expression_attribute_names(e.names())
                        .set_expression_attribute_values(e.values())
                        .build()
                        .map_err(unavailable)?,
                )
            }
            WriteOp::Delete { pk, sk, cond } => {
                let c = e.condition(cond.as_ref(), false, now);
                b.delete(
                    Delete::builder()
                        .table_name(&self.table)
                        .set_key(Some(key(pk, sk)))
                        .set_condition_expression(c)
                        .set_expression_attribute_names(e.names())
                        .set_expression_attribute_values(e.values())
                        .build()
                        .map_err(unavailable)?,
                )
            }
            WriteOp::Check { pk, sk, cond } => {
                let c = e.condition(Some(cond), false, now).unwrap_or_default();
                b.condition_check(
                    ConditionCheck::builder()
                        .table_name(&self.table)
                        .set_key(Some(key(pk, sk)))
                        .condition_expression(c)
                        .set_expression_attribute_names(e.names())
                        .set_expression_attribute_values(e.values())
                        .build()
                        .map_err(unavailable)?,
                )
            }
        };
        Ok(b.build())
    }
}

#[async_trait]
impl ItemStore for DynamoStore {
    async fn get(&self, pk: &str, sk: &str) -> Result<Option<Item>, StoreError> {
        validate_key(pk, sk)?;
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(pk, sk)))
            .consistent_read(true)
            .send()
            .await
            .map_err(map_err)?;
        let Some(m) = out.item() else { return Ok(None) };
        let item = av_to_item(m)?;
        Ok(item.is_live(self.clock.now_secs()).then_some(item))
    }

    async fn put(&self, item: Item, cond: Option<Cond>) -> Result<(), StoreError> {
        validate_item(&item)?;
        if let Some(c) = &cond {
            c.validate()?;
        }
        let mut e = Expr::default();
        let c = e.condition(cond.as_ref(), false, self.clock.now_secs());
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item_to_av(&item)))
            .set_condition_expression(c)
            .set_expression_attribute_names(e.names())
            .set_expression_attribute_values(e.values())
            .send()
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn update(
        &self,
        pk: &str,
        sk: &str,
        update: Update,
        cond: Option<Cond>,
    ) -> Result<Item, StoreError> {
        validate_key(pk, sk)?;
        update.validate()?;
        if let Some(c) = &cond {
            c.validate()?;
        }
        let mut e = Expr::default();
        let u = e.update(&update);
        let c = e.condition(cond.as_ref(), !update.upsert, self.clock.now_secs());
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(pk, sk)))
            .update_expression(u)
            .set_condition_expression(c)
            .set_expression_attribute_names(e.names())
            .set_expression_attribute_values(e.values())
            .return_values(ReturnValue::AllNew)
            .send()
            .await
            .map_err(map_err)?;
        let item = av_to_item(
            out.attributes()
                .ok_or_else(|| unavailable("update returned no item"))?,
        )?;
        Ok(item)
    }

    async fn delete(&self, pk: &str, sk: &str, cond: Option<Cond>) -> Result<(), StoreError> {
        validate_key(pk, sk)?;
        if let Some(c) = &cond {
            c.validate()?;
        }
        let mut e = Expr::default();
        let c = e.condition(cond.as_ref(), false, self.clock.now_secs());
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(pk, sk)))
            .set_condition_expression(c)
            .set_expression_attribute_names(e.names())
            .set_expression_attribute_values(e.values())
            .send()
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn query(&self, q: Query) -> Result<Page, StoreError> {
        let start_after = q.start_after()?;
        if let SkRange::Between(a, b) = &q.range
            && a > b
        {
            return Err(StoreError::Invalid(
                "Between takes the lower bound first".into(),
            ));
        }
        let now = self.clock.now_secs();
        let mut e = Expr::default();
        let pk_name = e.key_name("pk");
        let pk_val = e.val(Av::S(q.pk.clone()));
        let mut key_cond = format!("{pk_name} = {pk_val}");
        let mut range = |op: &str, x: &str, e: &mut Expr| {
            let sk_name = e.key_name("sk");
            let v = e.val(Av::S(x.to_string()));
            key_cond.push_str(&format!(" AND {sk_name} {op} {v}"));
        };
        match &q.range {
            SkRange::All => {}
            SkRange::Eq(x) => range("=", x, &mut e),
            SkRange::Lt(x) => range("<", x, &mut e),
            SkRange::Le(x) => range("<=", x, &mut e),
            SkRange::Gt(x) => range(">", x, &mut e),
            SkRange::Ge(x) => range(">=", x, &mut e),
            SkRange::Prefix(p) => {
                let sk_name = e.key_name("sk");
                let v = e.val(Av::S(p.clone()));
                key_cond.push_str(&format!(" AND begins_with({sk_name}, {v})"));
            }
            SkRange::Between(a, b) => {
                let sk_name = e.key_name("sk");
                let va = e.val(Av::S(a.clone()));
                let vb = e.val(Av::S(b.clone()));
                key_cond.push_str(&format!(" AND {sk_name} BETWEEN {va} AND {vb}"));
            }
        }
        let ttl = e.key_name("ttl");
        let now_v = e.val(Av::N(now.to_string()));
        let filter = format!("attribute_not_exists({ttl}) OR {ttl} > {now_v}");
        // Read one item past the limit so a cursor is returned only when more follow,
        // as the embedded store does.
        let mut items = Vec::new();
        let mut start = start_after.map(|sk| key(&q.pk, &sk));
        loop {
            let want = q.limit + 1 - items.len();
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression(&key_cond)
                .filter_expression(&filter)
                .set_expression_attribute_names(e.names())
                .set_expression_attribute_values(e.values())
                .scan_index_forward(q.forward)
                .consistent_read(true)
                .limit(i32::try_from(want).unwrap_or(i32::MAX))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(map_err)?;
            for m in out.items() {
                let item = av_to_item(m)?;
                if item.is_live(now) {
                    items.push(item);
                }
            }
            match out.last_evaluated_key() {
                Some(k) if items.len() <= q.limit => start = Some(k.clone()),
                _ => break,
            }
        }
        Ok(Page::from_overfetched(items, q.limit))
    }

    async fn transact(&self, ops: Vec<WriteOp>) -> Result<(), StoreError> {
        validate_transaction(&ops)?;
        // DynamoDB cancels transactions that collide with another in flight
        // (TransactionConflict); retrying lets the conditions decide, as on one machine.
        let mut delay_ms = 10;
        for attempt in 0..6 {
            let now = self.clock.now_secs();
            let items = ops
                .iter()
                .map(|op| self.transact_item(op, now))
                .collect::<Result<Vec<_>, _>>()?;
            let res = self
                .client
                .transact_write_items()
                .set_transact_items(Some(items))
                .send()
                .await;
            let err = match res {
                Ok(_) => return Ok(()),
                Err(e) => e,
            };
            if let Some(TransactWriteItemsError::TransactionCanceledException(tc)) =
                err.as_service_error()
            {
                let reasons = tc.cancellation_reasons();
                let code = |r: &aws_sdk_dynamodb::types::CancellationReason| {
                    r.code().unwrap_or("None").to_string()
                };
                let failed: Vec<usize> = reasons
                    .iter()
                    .enumerate()
                    .filter(|(_, r)| code(r) == "ConditionalCheckFailed")
                    .map(|(i, _)| i)
                    .collect();
                if !failed.is_empty() {
                    return Err(StoreError::TransactionCanceled { failed });
                }
                if let Some(r) = reasons.iter().find(|r| code(r) == "ValidationError") {
                    let msg = r.message().unwrap_or_default().to_string();
                    if msg.to_ascii_lowercase().contains("size") {
                        return Err(StoreError::ItemTooLarge {
                            size: MAX_ITEM_BYTES + 1,
                            limit: MAX_ITEM_BYTES,
                        });
                    }
                    return Err(StoreError::Invalid(msg));
                }
                if reasons.iter().any(|r| code(r) == "TransactionConflict") && attempt < 5 {
                    tokio::time::sleep(std::time::Duration::from_millis(delay_ms)).await;
                    delay_ms *= 2;
                    continue;
                }
            }
            return Err(map_err(err));
        }
        Err(unavailable("transaction kept conflicting"))
    }
}
