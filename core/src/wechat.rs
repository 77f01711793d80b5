//! The WeChat port: what the domain needs from WeChat's servers.

use async_trait::async_trait;

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

#[async_trait]
pub trait WeChat: Send + Sync + 'static {
    async fn code_to_session(&self, code: &str) -> Result<WxSession, WxError>;
    async fn phone_number(&self, code: &str) -> Result<WxPhone, WxError>;
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
