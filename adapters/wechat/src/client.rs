//! The WeChat API client. Every base URL is configurable, so the same client talks to
//! `https://api.weixin.qq.com` in production and to the built-in mock in development.

use std::time::Duration;

use async_trait::async_trait;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tokio::sync::Mutex;
use yunqiao_core::clock::SharedClock;
use yunqiao_core::wechat::{WeChat, WxError, WxPhone, WxSession};

pub const DEFAULT_API_BASE: &str = "https://api.weixin.qq.com";

/// errcodes that mean "this access token is no good": refresh and retry once.
const TOKEN_INVALID: [i64; 3] = [40001, 40014, 42001];
/// Refresh a cached token this long before WeChat says it expires.
const TOKEN_MARGIN_MS: i64 = 5 * 60 * 1000;

#[derive(Debug, Clone)]
pub struct WeChatConfig {
    pub api_base: String,
    pub appid: String,
    pub secret: String,
}

struct CachedToken {
    token: String,
    expires_at_ms: i64,
}

pub struct WeChatClient {
    http: reqwest::Client,
    cfg: WeChatConfig,
    clock: SharedClock,
    token: Mutex<Option<CachedToken>>,
}

#[derive(Deserialize)]
struct ErrFields {
    #[serde(default)]
    errcode: i64,
    #[serde(default)]
    errmsg: String,
}

fn transport(e: impl std::fmt::Display) -> WxError {
    WxError::Transport(e.to_string())
}

/// WeChat sometimes answers JSON as `text/plain`: read the body whatever the header says,
/// and treat a missing `errcode` as success.
fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, WxError> {
    let v: Value =
        serde_json::from_slice(body).map_err(|e| transport(format!("unreadable answer: {e}")))?;
    let err: ErrFields = serde_json::from_value(v.clone()).unwrap_or(ErrFields {
        errcode: 0,
        errmsg: String::new(),
    });
    if err.errcode != 0 {
        return Err(WxError::Api {
            errcode: err.errcode,
            errmsg: err.errmsg,
        });
    }
    serde_json::from_value(v).map_err(|e| transport(format!("unexpected answer: {e}")))
}

#[derive(Deserialize)]
struct SessionAnswer {
    openid: String,
    session_key: String,
    #[serde(default)]
    unionid: Option<String>,
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    expires_in: i64,
}

#[derive(Deserialize)]
struct PhoneAnswer {
    phone_info: PhoneInfo,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PhoneInfo {
    phone_number: String,
    pure_phone_number: String,
    /// A number or a string, depending on the day.
    country_code: Value,
}

impl WeChatClient {
    pub fn new(cfg: WeChatConfig, clock: SharedClock) -> Result<Self, WxError> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .connect_timeout(Duration::from_secs(3))
            .build()
            .map_err(transport)?;
        Ok(WeChatClient {
            http,
            cfg,
            clock,
            token: Mutex::new(None),
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.cfg.api_base.trim_end_matches('/'))
    }

    async fn send<T: DeserializeOwned>(&self, req: reqwest::RequestBuilder) -> Result<T, WxError> {
        // Without the URL: its query carries the app secret or the access token, and
        // transport errors end up in log lines.
        let resp = req.send().await.map_err(|e| transport(e.without_url()))?;
        let status = resp.status();
        let body = resp.bytes().await.map_err(|e| transport(e.without_url()))?;
        if status.is_server_error() {
            return Err(transport(format!("HTTP {status}")));
        }
        parse(&body)
    }

    /// The stable access token, cached until shortly before it expires.
    pub async fn access_token(&self, force_refresh: bool) -> Result<String, WxError> {
        let mut cached = self.token.lock().await;
        let now = self.clock.now_ms();
        if !force_refresh
            && let Some(t) = cached
                .as_ref()
                .filter(|t| t.expires_at_ms - TOKEN_MARGIN_MS > now)
        {
            return Ok(t.token.clone());
        }
        let body = json!({
            "grant_type": "client_credential",
            "appid": self.cfg.appid,
            "secret": self.cfg.secret,
            "force_refresh": force_refresh,
        });
        let ans: TokenAnswer = self
            .send(
                self.http
                    .post(self.url("/cgi-bin/stable_token"))
                    .json(&body),
            )
            .await?;
        *cached = Some(CachedToken {
            token: ans.access_token.clone(),
            expires_at_ms: now + ans.expires_in * 1000,
        });
        Ok(ans.access_token)
    }

    /// Calls an API that takes `?access_token=`, refreshing the token once if WeChat
    /// says it is invalid or expired.
    async fn with_token<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &Value,
    ) -> Result<T, WxError> {
        let mut force = false;
        loop {
            let token = self.access_token(force).await?;
            let req = self
                .http
                .post(self.url(path))
                .query(&[("access_token", token)])
                .json(body);
            match self.send(req).await {
                Err(WxError::Api { errcode, .. }) if TOKEN_INVALID.contains(&errcode) && !force => {
                    tracing::info!(errcode, "wechat access token rejected; refreshing");
                    force = true;
                }
                other => return other,
            }
        }
    }
}

#[async_trait]
impl WeChat for WeChatClient {
    async fn code_to_session(&self, code: &str) -> Result<WxSession, WxError> {
        let req = self.http.get(self.url("/sns/jscode2session")).query(&[
            ("appid", self.cfg.appid.as_str()),
            ("secret", self.cfg.secret.as_str()),
            ("js_code", code),
            ("grant_type", "authorization_code"),
        ]);
        let ans: SessionAnswer = self.send(req).await?;
        Ok(WxSession {
            openid: ans.openid,
            unionid: ans.unionid.filter(|u| !u.is_empty()),
            session_key: ans.session_key,
        })
    }

    async fn phone_number(&self, code: &str) -> Result<WxPhone, WxError> {
        let ans: PhoneAnswer = self
            .with_token("/wxa/business/getuserphonenumber", &json!({ "code": code }))
            .await?;
        let country_code = match ans.phone_info.country_code {
            Value::String(s) => s,
            Value::Number(n) => n.to_string(),
            other => other.to_string(),
        };
        Ok(WxPhone {
            phone_number: ans.phone_info.phone_number,
            pure_phone_number: ans.phone_info.pure_phone_number,
            country_code,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_wechat_answers() {
        let ok: SessionAnswer = parse(br#"{"openid":"o1","session_key":"k"}"#).unwrap();
        assert_eq!(ok.openid, "o1");
        let ok: SessionAnswer =
            parse(br#"{"errcode":0,"openid":"o1","session_key":"k","unionid":"u"}"#).unwrap();
        assert_eq!(ok.unionid.as_deref(), Some("u"));
        let err = parse::<SessionAnswer>(br#"{"errcode":40029,"errmsg":"invalid code"}"#);
        assert_eq!(
            err.err(),
            Some(WxError::Api {
                errcode: 40029,
                errmsg: "invalid code".into()
            })
        );
        assert!(matches!(
            parse::<SessionAnswer>(b"<html>"),
            Err(WxError::Transport(_))
        ));
        assert!(matches!(
            parse::<SessionAnswer>(b"{}"),
            Err(WxError::Transport(_))
        ));
    }
}
