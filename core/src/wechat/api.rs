//! WeChat's server API with the app's access token filled in: every call takes the
//! shared token ([`AccessTokens`]) and, when WeChat says it is invalid or expired
//! (40001, 40014, 42001), is made once more with a new one.

use std::sync::Arc;

use serde::Serialize;
use serde_json::{Value, json};

use super::port::{WeChat, WxError, WxPhone, WxReply, WxSession};
use super::token::AccessTokens;
use crate::clock::SharedClock;
use crate::store::ItemStore;

/// errcodes that mean "this access token is no good": renew it and retry once.
pub const TOKEN_INVALID: [i64; 3] = [40001, 40014, 42001];

/// The paths a cloud function's `wechat.call(path, body)` may reach, by prefix: the
/// mini-program's server APIs that take `?access_token=` and answer data about the app
/// or its users. Paths that hand out credentials (`/cgi-bin/token`,
/// `/cgi-bin/stable_token`, `/cgi-bin/ticket/…`) are under none of them, and
/// [`check_call_path`] refuses every path that names a token or a ticket besides.
pub const CALL_PREFIXES: &[&str] = &[
    "/wxa/",
    "/wxaapi/",
    "/cgi-bin/message/",
    "/cgi-bin/wxopen/",
    "/cgi-bin/express/",
    "/cgi-bin/openapi/quota/get",
    "/datacube/",
    "/shop/",
];

/// Whether `wechat.call` may reach `path`: one of [`CALL_PREFIXES`], made of
/// `A-Z a-z 0-9 / _ - .` only (no query: the token is added by the server), no `..` or
/// `//`, at most 200 bytes, and naming no token or ticket.
pub fn check_call_path(path: &str) -> Result<(), String> {
    let lower = path.to_ascii_lowercase();
    if path.is_empty()
        || path.len() > 200
        || !path
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/_-.".contains(&b))
        || path.contains("..")
        || path.contains("//")
    {
        return Err(
            "path is an absolute path of WeChat's API (A-Z a-z 0-9 / _ - .), without a query"
                .into(),
        );
    }
    if lower.contains("token") || lower.contains("ticket") {
        return Err("paths that hand out tokens or tickets are not reachable".into());
    }
    if !CALL_PREFIXES.iter().any(|p| path.starts_with(p)) {
        return Err(format!(
            "wechat.call reaches paths under {}",
            CALL_PREFIXES.join(", ")
        ));
    }
    Ok(())
}

/// A text check's verdict (`msg_sec_check` v2).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TextVerdict {
    /// `pass`, `review` or `risky`.
    pub suggest: String,
    /// WeChat's label: 100 normal, 10001 ads, 20001 politics, 20002 porn, 20003 abuse,
    /// 20006 crime, 20008 fraud, 20012 vulgar, 20013 copyright, 21000 other.
    pub label: i64,
    pub trace_id: Option<String>,
}

/// What a text check sends besides the content.
#[derive(Debug, Clone, Default)]
pub struct TextCheck {
    pub openid: String,
    pub content: String,
    /// 1 profile, 2 comment, 3 forum, 4 social log (WeChat's scenes).
    pub scene: u8,
    pub title: Option<String>,
    pub nickname: Option<String>,
    pub signature: Option<String>,
}

/// Longest text WeChat checks.
pub const MAX_CHECK_CHARS: usize = 2500;

/// A subscribe message (`/cgi-bin/message/subscribe/send`), to an openid.
#[derive(Debug, Clone)]
pub struct SubscribeMessage {
    pub template_id: String,
    pub page: Option<String>,
    pub data: Value,
    pub miniprogram_state: Option<String>,
}

pub struct WxApi {
    port: Arc<dyn WeChat>,
    tokens: AccessTokens,
}

impl WxApi {
    pub fn new(port: Arc<dyn WeChat>, store: Arc<dyn ItemStore>, clock: SharedClock) -> Self {
        WxApi {
            tokens: AccessTokens::new(port.clone(), store, clock),
            port,
        }
    }

    pub async fn code_to_session(&self, code: &str) -> Result<WxSession, WxError> {
        self.port.code_to_session(code).await
    }

    /// Every access token this process has held lately: for redaction only.
    pub fn known_tokens(&self) -> Vec<String> {
        self.tokens.known()
    }

    /// `POST path?access_token=…` with `body`, the token renewed and the call made once
    /// more if WeChat rejects it.
    pub async fn call(&self, path: &str, body: &Value) -> Result<WxReply, WxError> {
        let token = self.tokens.get(None).await?;
        match self.port.post(path, &token, body).await {
            Err(WxError::Api { errcode, .. }) if TOKEN_INVALID.contains(&errcode) => {
                tracing::info!(errcode, "wechat access token rejected; renewing");
                let fresh = self.tokens.get(Some(&token)).await?;
                self.port.post(path, &fresh, body).await
            }
            other => other,
        }
    }

    /// `getuserphonenumber`.
    pub async fn phone_number(&self, code: &str) -> Result<WxPhone, WxError> {
        let v = self
            .call("/wxa/business/getuserphonenumber", &json!({ "code": code }))
            .await?
            .json()?;
        let p = &v["phone_info"];
        let s = |k: &str| {
            p[k].as_str()
                .map(str::to_string)
                .ok_or_else(|| WxError::Transport(format!("phone_info.{k} is missing")))
        };
        Ok(WxPhone {
            phone_number: s("phoneNumber")?,
            pure_phone_number: s("purePhoneNumber")?,
            // A number or a string, depending on the day.
            country_code: match &p["countryCode"] {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                _ => String::new(),
            },
        })
    }

    /// `msg_sec_check` v2.
    pub async fn msg_sec_check(&self, c: &TextCheck) -> Result<TextVerdict, WxError> {
        let mut body = json!({
            "version": 2, "openid": c.openid, "scene": c.scene, "content": c.content,
        });
        for (k, v) in [
            ("title", &c.title),
            ("nickname", &c.nickname),
            ("signature", &c.signature),
        ] {
            if let Some(v) = v {
                body[k] = json!(v);
            }
        }
        let v = self.call("/wxa/msg_sec_check", &body).await?.json()?;
        let suggest = v["result"]["suggest"]
            .as_str()
            .filter(|s| ["pass", "review", "risky"].contains(s))
            .ok_or_else(|| WxError::Transport("msg_sec_check answered no suggest".into()))?;
        Ok(TextVerdict {
            suggest: suggest.to_string(),
            label: v["result"]["label"].as_i64().unwrap_or(100),
            trace_id: v["trace_id"].as_str().map(str::to_string),
        })
    }

    /// `media_check_async` (v2): WeChat fetches `media_url` and pushes its verdict later
    /// (`wxa_media_check`); answers the check's `trace_id`.
    pub async fn media_check_async(
        &self,
        openid: &str,
        media_url: &str,
        media_type: u8,
        scene: u8,
    ) -> Result<String, WxError> {
        let body = json!({
            "media_url": media_url, "media_type": media_type, "version": 2,
            "openid": openid, "scene": scene,
        });
        let v = self.call("/wxa/media_check_async", &body).await?.json()?;
        v["trace_id"]
            .as_str()
            .filter(|t| !t.is_empty())
            .map(str::to_string)
            .ok_or_else(|| WxError::Transport("media_check_async answered no trace_id".into()))
    }

    /// `subscribe/send` to `openid`; 43101 (not accepted) comes back as
    /// [`WxError::Api`], which maps to `WECHAT_NOT_SUBSCRIBED`.
    pub async fn subscribe_send(&self, openid: &str, m: &SubscribeMessage) -> Result<(), WxError> {
        let mut body = json!({
            "touser": openid, "template_id": m.template_id, "data": m.data,
        });
        if let Some(p) = &m.page {
            body["page"] = json!(p);
        }
        if let Some(s) = &m.miniprogram_state {
            body["miniprogram_state"] = json!(s);
        }
        self.call("/cgi-bin/message/subscribe/send", &body)
            .await?
            .json()
            .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn call_paths_are_guarded() {
        for ok in [
            "/wxa/msg_sec_check",
            "/wxa/business/getuserphonenumber",
            "/cgi-bin/message/subscribe/send",
            "/datacube/getweanalysisappiddailysummarytrend",
        ] {
            assert_eq!(check_call_path(ok), Ok(()), "{ok}");
        }
        for bad in [
            "/cgi-bin/token",
            "/cgi-bin/stable_token",
            "/cgi-bin/ticket/getticket",
            "/wxa/getpaidunionid?x=1",
            "/wxa/../cgi-bin/token",
            "/wxa//x",
            "wxa/x",
            "https://api.weixin.qq.com/wxa/x",
            "/wxa/x%2F..",
            "/sns/jscode2session",
            "/cgi-bin/user/info",
            "",
        ] {
            assert!(check_call_path(bad).is_err(), "{bad}");
        }
        assert!(check_call_path(&format!("/wxa/{}", "a".repeat(200))).is_err());
    }
}
