//! The WeChat API client. Every base URL is configurable, so the same client talks to
//! `https://api.weixin.qq.com` in production and to the built-in mock in development.

use std::time::Duration;

use async_trait::async_trait;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use yunqiao_core::clock::SharedClock;
use yunqiao_core::wechat::{
    PayHttp, PayHttpReply, SignedHeaders, WeChat, WxAccessToken, WxError, WxReply, WxSession,
};

pub const DEFAULT_API_BASE: &str = "https://api.weixin.qq.com";
/// WeChat Pay's API v3.
pub const DEFAULT_PAY_BASE: &str = "https://api.mch.weixin.qq.com";

#[derive(Debug, Clone)]
pub struct WeChatConfig {
    pub api_base: String,
    pub appid: String,
    pub secret: String,
}

pub struct WeChatClient {
    http: reqwest::Client,
    cfg: WeChatConfig,
    pay_base: String,
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

impl WeChatClient {
    /// The client holds no state but its connection pool: the access token is kept by
    /// the domain, in the store (`yunqiao_core::wechat::token`), shared by every process.
    /// (`_clock` is no longer used here since the token moved there; the faces still pass
    /// theirs.)
    pub fn new(cfg: WeChatConfig, _clock: SharedClock) -> Result<Self, WxError> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .connect_timeout(Duration::from_secs(3))
            .build()
            .map_err(transport)?;
        Ok(WeChatClient {
            http,
            cfg,
            pay_base: DEFAULT_PAY_BASE.to_string(),
        })
    }

    /// Where WeChat Pay's API v3 is (default [`DEFAULT_PAY_BASE`]; the mock in
    /// development).
    pub fn with_pay_base(mut self, base: impl Into<String>) -> Self {
        self.pay_base = base.into().trim_end_matches('/').to_string();
        self
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
}

fn header(h: &reqwest::header::HeaderMap, name: &str) -> String {
    h.get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string()
}

#[async_trait]
impl WeChat for WeChatClient {
    /// One signed WeChat Pay request; the answer as it came (the domain verifies it).
    async fn pay_http(&self, req: PayHttp) -> Result<PayHttpReply, WxError> {
        let url = format!("{}{}", self.pay_base, req.path);
        let method = match req.method {
            "GET" => reqwest::Method::GET,
            "POST" => reqwest::Method::POST,
            m => return Err(transport(format!("unsupported method {m}"))),
        };
        let mut r = self
            .http
            .request(method, url)
            .header("Authorization", req.authorization)
            .header("Accept", "application/json")
            .header("User-Agent", "yunqiao");
        if let Some(serial) = req.wechatpay_serial {
            r = r.header("Wechatpay-Serial", serial);
        }
        if let Some(b) = req.body {
            r = r.header("Content-Type", "application/json").body(b);
        }
        let resp = r.send().await.map_err(|e| transport(e.without_url()))?;
        let status = resp.status().as_u16();
        let h = resp.headers().clone();
        let body = resp.bytes().await.map_err(|e| transport(e.without_url()))?;
        if body.len() > 1 << 20 {
            return Err(transport("WeChat Pay's answer is too large"));
        }
        Ok(PayHttpReply {
            status,
            headers: SignedHeaders {
                timestamp: header(&h, "wechatpay-timestamp"),
                nonce: header(&h, "wechatpay-nonce"),
                signature: header(&h, "wechatpay-signature"),
                serial: header(&h, "wechatpay-serial"),
            },
            body: body.to_vec(),
        })
    }

    fn appid(&self) -> &str {
        &self.cfg.appid
    }

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

    /// The stable access token. Not cached here: the domain shares it through the
    /// store (`yunqiao_core::wechat::token`).
    async fn stable_token(&self, force_refresh: bool) -> Result<WxAccessToken, WxError> {
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
        Ok(WxAccessToken {
            token: ans.access_token,
            expires_in: ans.expires_in,
        })
    }

    async fn post(&self, path: &str, access_token: &str, body: &Value) -> Result<WxReply, WxError> {
        let req = self
            .http
            .post(self.url(path))
            .query(&[("access_token", access_token)])
            .json(body);
        let resp = req.send().await.map_err(|e| transport(e.without_url()))?;
        let status = resp.status();
        let content_type = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase();
        let bytes = resp.bytes().await.map_err(|e| transport(e.without_url()))?;
        if status.is_server_error() {
            return Err(transport(format!("HTTP {status}")));
        }
        reply(&content_type, &bytes)
    }
}

/// JSON (errors included) or bytes: an image is told apart by its content type, and
/// WeChat labels JSON `text/plain` at times, so a body that is not an image is read as
/// JSON whatever its label.
fn reply(content_type: &str, bytes: &[u8]) -> Result<WxReply, WxError> {
    let looks_json = bytes.first().is_some_and(|b| *b == b'{');
    if (content_type.starts_with("image/") || content_type.starts_with("application/octet-stream"))
        && !looks_json
    {
        return Ok(WxReply::Bytes {
            content_type: content_type.to_string(),
            body: bytes.to_vec(),
        });
    }
    parse::<Value>(bytes).map(WxReply::Json)
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

    #[test]
    fn images_and_json_are_told_apart() {
        let png = b"\x89PNG\r\n\x1a\n....";
        assert_eq!(
            reply("image/jpeg", png),
            Ok(WxReply::Bytes {
                content_type: "image/jpeg".into(),
                body: png.to_vec()
            })
        );
        // WeChat's JSON under any label, errors included.
        assert_eq!(
            reply(
                "text/plain",
                br#"{"errcode":0,"result":{"suggest":"pass"}}"#
            ),
            Ok(WxReply::Json(
                serde_json::json!({"errcode": 0, "result": {"suggest": "pass"}})
            ))
        );
        assert!(matches!(
            reply(
                "image/jpeg",
                br#"{"errcode":40169,"errmsg":"invalid scene"}"#
            ),
            Err(WxError::Api { errcode: 40169, .. })
        ));
        assert!(matches!(
            reply("text/html", b"<html>"),
            Err(WxError::Transport(_))
        ));
    }
}
