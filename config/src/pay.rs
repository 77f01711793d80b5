//! The `[pay]` section: WeChat Pay v3 (issue 24). The merchant's private key and the
//! APIv3 key are secrets: read here once, never shown by `Debug`, never in an error.

use serde::Deserialize;
use yunqiao_core::pay::actions::{MAX_ACTIONS, RecordAction};
use yunqiao_core::pay::{ApiV3Key, Merchant, MerchantKey, PaySettings, WxPayKeys};

use crate::{ConfigError, named};

/// Most items of one order line.
pub const PAY_MAX_QUANTITY: (i64, i64) = (1, 10_000);
/// How long an order may be paid: a minute to a week (WeChat's `time_expire`).
pub const PAY_ORDER_TTL_SECS: (i64, i64) = (1, 7 * 24 * 3600);
/// How old a pending order is before reconciliation asks WeChat: 0 to a day.
pub const PAY_RECONCILE_AFTER_SECS: (i64, i64) = (0, 24 * 3600);

/// WeChat Pay (off while `mchid` is empty).
#[derive(Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PaySection {
    /// The merchant id (`mchid`); empty: no WeChat Pay (`PAY_UNAVAILABLE`).
    pub mchid: String,
    /// The serial of the merchant's API certificate (`Authorization`'s `serial_no`).
    pub merchant_serial: String,
    /// The merchant's private key, PEM (PKCS#8). A secret.
    pub merchant_key: String,
    /// The 32-character APIv3 key. A secret.
    pub api_v3_key: String,
    /// A WeChat Pay platform certificate, PEM (one of these two, or both during a switch).
    pub platform_cert: Option<String>,
    /// A WeChat Pay public key's id (`PUB_KEY_ID_…`) and its PEM.
    pub public_key_id: Option<String>,
    pub public_key: Option<String>,
    /// `https://…/v1/pay/notify`: where WeChat Pay sends notifications.
    pub notify_url: String,
    /// Unset: `https://api.mch.weixin.qq.com`.
    pub api_base: Option<String>,
    /// Tables whose records may be sold (a comma-separated list in the environment).
    pub tables: Vec<String>,
    /// The record field with the unit price, in fen.
    pub price_field: String,
    /// The record field used as the order's description.
    pub description_field: String,
    pub max_quantity: i64,
    /// Bounds of a client-given amount (tips), in fen; both unset: refused.
    pub client_amount_min: Option<i64>,
    pub client_amount_max: Option<i64>,
    /// `<module>.<export>` run once per paid order.
    pub on_paid: Option<String>,
    /// `<module>.<export>` that prices items (`{item, quantity, user}` → `{amount,
    /// description}`); unset: the price field of a record of `tables`.
    pub price_function: Option<String>,
    /// Records created or updated once per paid order (a JSON array in the environment).
    pub actions: Vec<RecordAction>,
    /// A topic told about each paid order.
    pub topic: Option<String>,
    /// How long a new order may be paid, seconds (default 30 minutes).
    pub order_ttl_secs: i64,
    /// How old a pending order is before reconciliation asks WeChat, seconds (default 60).
    pub reconcile_after_secs: i64,
}

impl Default for PaySection {
    fn default() -> Self {
        PaySection {
            mchid: String::new(),
            merchant_serial: String::new(),
            merchant_key: String::new(),
            api_v3_key: String::new(),
            platform_cert: None,
            public_key_id: None,
            public_key: None,
            notify_url: String::new(),
            api_base: None,
            tables: Vec::new(),
            price_field: "price".into(),
            description_field: "title".into(),
            max_quantity: 99,
            client_amount_min: None,
            client_amount_max: None,
            on_paid: None,
            price_function: None,
            actions: Vec::new(),
            topic: None,
            order_ttl_secs: yunqiao_core::pay::DEFAULT_ORDER_TTL_SECS,
            reconcile_after_secs: yunqiao_core::pay::DEFAULT_RECONCILE_AFTER_SECS,
        }
    }
}

impl std::fmt::Debug for PaySection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let hidden = |s: &str| if s.is_empty() { "" } else { "<redacted>" };
        f.debug_struct("PaySection")
            .field("mchid", &self.mchid)
            .field("merchant_serial", &self.merchant_serial)
            .field("merchant_key", &hidden(&self.merchant_key))
            .field("api_v3_key", &hidden(&self.api_v3_key))
            .field("public_key_id", &self.public_key_id)
            .field("notify_url", &self.notify_url)
            .field("api_base", &self.api_base)
            .field("tables", &self.tables)
            .field("price_field", &self.price_field)
            .field("description_field", &self.description_field)
            .field("max_quantity", &self.max_quantity)
            .field("client_amount_min", &self.client_amount_min)
            .field("client_amount_max", &self.client_amount_max)
            .field("on_paid", &self.on_paid)
            .field("price_function", &self.price_function)
            .field("actions", &self.actions)
            .field("topic", &self.topic)
            .field("order_ttl_secs", &self.order_ttl_secs)
            .field("reconcile_after_secs", &self.reconcile_after_secs)
            .finish_non_exhaustive()
    }
}

impl PaySection {
    pub fn enabled(&self) -> bool {
        !self.mchid.is_empty()
    }

    /// Checks what can be checked without reading the keys.
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        crate::in_range("pay.max_quantity", self.max_quantity, PAY_MAX_QUANTITY)?;
        crate::in_range(
            "pay.order_ttl_secs",
            self.order_ttl_secs,
            PAY_ORDER_TTL_SECS,
        )?;
        crate::in_range(
            "pay.reconcile_after_secs",
            self.reconcile_after_secs,
            PAY_RECONCILE_AFTER_SECS,
        )?;
        for (key, v) in [
            ("pay.on_paid", &self.on_paid),
            ("pay.price_function", &self.price_function),
        ] {
            if let Some(t) = v.as_deref().filter(|t| !t.is_empty())
                && !t
                    .split_once('.')
                    .is_some_and(|(m, e)| !m.is_empty() && !e.is_empty())
            {
                return Err(ConfigError(format!(
                    "{} is <module>.<export>, not {t:?}",
                    named(key)
                )));
            }
        }
        if self.actions.len() > MAX_ACTIONS {
            return Err(ConfigError(format!(
                "{}: at most {MAX_ACTIONS}",
                named("pay.actions")
            )));
        }
        for (i, a) in self.actions.iter().enumerate() {
            a.check()
                .map_err(|e| ConfigError(format!("{}[{i}]: {e}", named("pay.actions"))))?;
        }
        match (self.client_amount_min, self.client_amount_max) {
            (None, None) => {}
            (Some(lo), Some(hi)) if 1 <= lo && lo <= hi && hi <= yunqiao_core::pay::MAX_TOTAL => {}
            _ => {
                return Err(ConfigError(format!(
                    "{} and {} go together, 1 ≤ min ≤ max ≤ {}",
                    named("pay.client_amount_min"),
                    named("pay.client_amount_max"),
                    yunqiao_core::pay::MAX_TOTAL
                )));
            }
        }
        if !self.enabled() {
            return Ok(());
        }
        for key in [
            "pay.merchant_serial",
            "pay.merchant_key",
            "pay.api_v3_key",
            "pay.notify_url",
        ] {
            let v = match key {
                "pay.merchant_serial" => &self.merchant_serial,
                "pay.merchant_key" => &self.merchant_key,
                "pay.api_v3_key" => &self.api_v3_key,
                _ => &self.notify_url,
            };
            if v.is_empty() {
                return Err(ConfigError(format!(
                    "{} is required with {}",
                    named(key),
                    named("pay.mchid")
                )));
            }
        }
        if !(self.notify_url.starts_with("https://") || self.notify_url.starts_with("http://"))
            || self.notify_url.contains(['?', '#', ' '])
        {
            return Err(ConfigError(format!(
                "{} is an http(s) URL without a query",
                named("pay.notify_url")
            )));
        }
        if self.platform_cert.is_none() && self.public_key.is_none() {
            return Err(ConfigError(format!(
                "{} or {} is required with {}",
                named("pay.platform_cert"),
                named("pay.public_key"),
                named("pay.mchid")
            )));
        }
        if self.public_key.is_some() != self.public_key_id.is_some() {
            return Err(ConfigError(format!(
                "{} and {} go together",
                named("pay.public_key"),
                named("pay.public_key_id")
            )));
        }
        Ok(())
    }

    /// The pay service's settings, keys read (`None`: pay is off). `appid` is the
    /// mini-program's. A key that does not read is named, never shown.
    pub fn settings(&self, appid: &str) -> Result<Option<PaySettings>, ConfigError> {
        if !self.enabled() {
            return Ok(None);
        }
        self.validate()?;
        let bad =
            |key: &str, e: &dyn std::fmt::Display| ConfigError(format!("{}: {e}", named(key)));
        let key =
            MerchantKey::from_pem(&self.merchant_key).map_err(|e| bad("pay.merchant_key", &e))?;
        let api_v3_key = ApiV3Key::new(&self.api_v3_key).map_err(|e| bad("pay.api_v3_key", &e))?;
        let mut wx_keys = WxPayKeys::default();
        if let Some(pem) = &self.platform_cert {
            wx_keys
                .add_certificate(pem)
                .map_err(|e| bad("pay.platform_cert", &e))?;
        }
        if let (Some(id), Some(pem)) = (&self.public_key_id, &self.public_key) {
            wx_keys
                .add_public_key(id, pem)
                .map_err(|e| bad("pay.public_key", &e))?;
        }
        Ok(Some(PaySettings {
            merchant: Merchant {
                appid: appid.to_string(),
                mchid: self.mchid.clone(),
                serial: self.merchant_serial.clone(),
                key,
                wx_keys,
            },
            api_v3_key,
            notify_url: self.notify_url.clone(),
            tables: self.tables.clone(),
            price_field: self.price_field.clone(),
            description_field: self.description_field.clone(),
            max_quantity: self.max_quantity,
            client_amount: self.client_amount_min.zip(self.client_amount_max),
            on_paid: self.on_paid.clone(),
            price_function: self.price_function.clone().filter(|t| !t.is_empty()),
            actions: self.actions.clone(),
            topic: self.topic.clone().filter(|t| !t.is_empty()),
            order_ttl_secs: self.order_ttl_secs,
            reconcile_after_secs: self.reconcile_after_secs,
        }))
    }
}
