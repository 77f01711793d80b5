//! Calls to WeChat Pay's API v3: signed with the merchant key, answers verified with
//! WeChat's keys. The wire itself is the [`WeChat`](crate::wechat::WeChat) port's
//! [`pay_http`](crate::wechat::WeChat::pay_http).

use serde_json::{Value, json};

use super::notify::{Refusal, Transaction, WxPayKeys};
use super::sign::{self, MerchantKey};
use crate::error::{Code, Error, Result};
use crate::wechat::{PayHttp, WeChat, WxError};

/// The merchant's side of the calls.
pub struct Merchant {
    pub appid: String,
    pub mchid: String,
    pub serial: String,
    pub key: MerchantKey,
    pub wx_keys: WxPayKeys,
}

impl Merchant {
    pub fn signed(
        &self,
        method: &'static str,
        path: String,
        body: Option<String>,
        now_secs: i64,
    ) -> PayHttp {
        let nonce = sign::nonce(32);
        let msg = sign::request_message(
            method,
            &path,
            now_secs,
            &nonce,
            body.as_deref().unwrap_or(""),
        );
        let signature = self.key.sign(msg.as_bytes());
        PayHttp {
            method,
            authorization: sign::authorization(
                &self.mchid,
                &self.serial,
                &nonce,
                now_secs,
                &signature,
            ),
            path,
            body,
            wechatpay_serial: self.wx_keys.public_key_id(),
        }
    }

    /// Sends a request and verifies the answer's signature. `Ok(None)` is a 404.
    async fn call(
        &self,
        wx: &dyn WeChat,
        method: &'static str,
        path: String,
        body: Option<Value>,
        now_secs: i64,
    ) -> Result<Option<Value>> {
        let req = self.signed(method, path, body.map(|b| b.to_string()), now_secs);
        let reply = wx.pay_http(req).await.map_err(Error::from)?;
        if let Err(r) = self.wx_keys.verify(&reply.headers, &reply.body, now_secs) {
            tracing::warn!(refusal = %r, status = reply.status, "WeChat Pay answer not verified");
            return Err(Error::new(
                Code::WechatError,
                "WeChat Pay's answer did not verify",
            ));
        }
        let v: Value = if reply.body.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&reply.body).map_err(|_| {
                Error::from(WxError::Transport("WeChat Pay answered non-JSON".into()))
            })?
        };
        match reply.status {
            200..=299 => Ok(Some(v)),
            404 => Ok(None),
            s => {
                let code = v["code"].as_str().unwrap_or("").to_string();
                tracing::warn!(status = s, wechat_code = %code, "WeChat Pay refused");
                let c = match s {
                    500.. => Code::WechatUnavailable,
                    _ => Code::WechatError,
                };
                Err(Error::new(c, "WeChat Pay refused the request")
                    .with_details(json!({"wechat_code": code})))
            }
        }
    }

    /// `POST /v3/pay/transactions/jsapi` → `prepay_id`.
    pub async fn jsapi(&self, wx: &dyn WeChat, order: &Value, now_secs: i64) -> Result<String> {
        let v = self
            .call(
                wx,
                "POST",
                "/v3/pay/transactions/jsapi".into(),
                Some(order.clone()),
                now_secs,
            )
            .await?
            .unwrap_or(Value::Null);
        v["prepay_id"]
            .as_str()
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .ok_or_else(|| Error::new(Code::WechatError, "WeChat Pay gave no prepay_id"))
    }

    /// `GET /v3/pay/transactions/out-trade-no/{no}?mchid=` (`None`: WeChat has no such
    /// order).
    pub async fn query(
        &self,
        wx: &dyn WeChat,
        out_trade_no: &str,
        now_secs: i64,
    ) -> Result<Option<Transaction>> {
        let path = format!(
            "/v3/pay/transactions/out-trade-no/{out_trade_no}?mchid={}",
            self.mchid
        );
        match self.call(wx, "GET", path, None, now_secs).await? {
            None => Ok(None),
            Some(v) => serde_json::from_value(v).map(Some).map_err(|_| {
                Error::new(Code::WechatError, "WeChat Pay's transaction is unreadable")
            }),
        }
    }

    /// `POST /v3/refund/domestic/refunds` → the refund (`status`, `refund_id`).
    pub async fn refund(&self, wx: &dyn WeChat, body: &Value, now_secs: i64) -> Result<Value> {
        self.call(
            wx,
            "POST",
            "/v3/refund/domestic/refunds".into(),
            Some(body.clone()),
            now_secs,
        )
        .await?
        .ok_or_else(|| Error::new(Code::WechatError, "WeChat Pay has no such order"))
    }

    /// `POST /v3/pay/transactions/out-trade-no/{no}/close`.
    pub async fn close(&self, wx: &dyn WeChat, out_trade_no: &str, now_secs: i64) -> Result<()> {
        let path = format!("/v3/pay/transactions/out-trade-no/{out_trade_no}/close");
        self.call(
            wx,
            "POST",
            path,
            Some(json!({"mchid": self.mchid})),
            now_secs,
        )
        .await?;
        Ok(())
    }
}

impl From<Refusal> for WxError {
    fn from(r: Refusal) -> Self {
        WxError::Transport(r.to_string())
    }
}
