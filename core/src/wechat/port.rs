//! The port itself: WeChat's wire, as the domain needs it.

use async_trait::async_trait;
use serde_json::Value;

use crate::error::{Code, Error};

#[derive(Debug, Clone, PartialEq)]
pub struct WxSession {
    pub openid: String,
    pub unionid: Option<String>,
    /// Secret shared with the client's WeChat; kept server-side, never returned.
    pub session_key: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct WxPhone {
    pub phone_number: String,
    pub pure_phone_number: String,
    pub country_code: String,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum WxError {
    /// WeChat answered with an `errcode`.
    #[error("wechat errcode {errcode}: {errmsg}")]
    Api { errcode: i64, errmsg: String },
    /// WeChat could not be reached or answered something unreadable.
    #[error("wechat transport: {0}")]
    Transport(String),
}

/// A fresh access token, as `stable_token` answers it.
#[derive(Clone, PartialEq)]
pub struct WxAccessToken {
    pub token: String,
    /// Seconds it stays valid from now.
    pub expires_in: i64,
}

impl std::fmt::Debug for WxAccessToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the token itself: debug output ends up in log lines.
        write!(f, "WxAccessToken {{ expires_in: {} }}", self.expires_in)
    }
}

/// What a server API answered: JSON (its `errcode` was 0 or absent), or bytes (an
/// image, told apart by the content type — `getwxacodeunlimit`).
#[derive(Debug, Clone, PartialEq)]
pub enum WxReply {
    Json(Value),
    Bytes { content_type: String, body: Vec<u8> },
}

impl WxReply {
    /// The JSON answer; bytes where JSON was expected are WeChat misbehaving.
    pub fn json(self) -> Result<Value, WxError> {
        match self {
            WxReply::Json(v) => Ok(v),
            WxReply::Bytes { content_type, .. } => Err(WxError::Transport(format!(
                "expected JSON, got {content_type}"
            ))),
        }
    }
}

#[async_trait]
pub trait WeChat: Send + Sync + 'static {
    /// The mini-program's app id (what a pushed event's ciphertext must name); empty
    /// where unknown.
    fn appid(&self) -> &str {
        ""
    }

    async fn code_to_session(&self, code: &str) -> Result<WxSession, WxError>;

    /// `POST /cgi-bin/stable_token`: the app's access token. Callers go through
    /// [`token::AccessTokens`], which shares one token between every process.
    async fn stable_token(&self, force_refresh: bool) -> Result<WxAccessToken, WxError> {
        let _ = force_refresh;
        Err(WxError::Transport(
            "WeChat's server API is not available here".into(),
        ))
    }

    /// `POST {path}?access_token={token}` with a JSON body. A JSON answer with a
    /// non-zero `errcode` is [`WxError::Api`].
    async fn post(&self, path: &str, access_token: &str, body: &Value) -> Result<WxReply, WxError> {
        let _ = (path, access_token, body);
        Err(WxError::Transport(
            "WeChat's server API is not available here".into(),
        ))
    }

    /// One signed request to WeChat Pay's API v3 (base `https://api.mch.weixin.qq.com`),
    /// answered as it came: the domain verifies the answer's signature.
    async fn pay_http(&self, req: PayHttp) -> Result<PayHttpReply, WxError> {
        let _ = req;
        Err(WxError::Transport(
            "WeChat Pay is not available here".into(),
        ))
    }
}

/// Maps WeChat's answers to API errors clients can act on.
impl From<WxError> for Error {
    fn from(e: WxError) -> Self {
        match e {
            WxError::Api { errcode, errmsg } => {
                let (code, message) = match errcode {
                    40029 | 40163 | 41008 => (
                        Code::InvalidLoginCode,
                        "the WeChat code is invalid, expired or already used",
                    ),
                    45011 => (Code::RateLimited, "WeChat rate limit reached; retry later"),
                    40226 => (
                        Code::WechatUserBlocked,
                        "WeChat flagged this user as high-risk",
                    ),
                    -1 => (Code::WechatUnavailable, "WeChat is busy; retry later"),
                    43101 => (
                        Code::WechatNotSubscribed,
                        "the user has not accepted this subscribe message template",
                    ),
                    _ => (Code::WechatError, "WeChat refused the request"),
                };
                Error::new(code, message).with_details(
                    serde_json::json!({ "wechat_errcode": errcode, "wechat_errmsg": errmsg }),
                )
            }
            WxError::Transport(m) => {
                tracing::warn!(error = %m, "wechat unreachable");
                Error::new(Code::WechatUnavailable, "WeChat could not be reached")
            }
        }
    }
}

/// The signature headers of an answer or notification.
#[derive(Debug, Clone, Default)]
pub struct SignedHeaders {
    pub timestamp: String,
    pub nonce: String,
    pub signature: String,
    pub serial: String,
}

/// One signed request to WeChat Pay.
#[derive(Clone)]
pub struct PayHttp {
    pub method: &'static str,
    /// Path and query, as signed (`/v3/pay/transactions/jsapi`).
    pub path: String,
    pub body: Option<String>,
    pub authorization: String,
    /// `Wechatpay-Serial`: the WeChat Pay key the answer should be signed with (a
    /// `PUB_KEY_ID_…`), when the merchant has one.
    pub wechatpay_serial: Option<String>,
}

impl std::fmt::Debug for PayHttp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PayHttp {{ {} {} }}", self.method, self.path)
    }
}

/// WeChat Pay's answer, before verification.
#[derive(Debug, Clone)]
pub struct PayHttpReply {
    pub status: u16,
    pub headers: SignedHeaders,
    pub body: Vec<u8>,
}
