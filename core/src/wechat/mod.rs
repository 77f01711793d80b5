//! The WeChat port: what the domain needs from WeChat's servers, and the services on it.
//!
//! The port ([`WeChat`]) is wire-level: a login code's session, a stable access token,
//! and a `POST` to any server API with a given token. Everything above the wire lives
//! here, once for both faces: the app's one access token shared through the store
//! ([`token::AccessTokens`]), and the calls that need it ([`api::WxApi`]: phone numbers,
//! text checks, subscribe messages, the guarded `wechat.call` of cloud functions). The
//! second half of issue 23 plugs into [`api::WxApi::call`]: QR codes
//! ([`qrcode::QrCodes`], images as [`WxReply::Bytes`] kept as public files), media
//! checks and pushed events ([`push`]).

pub mod api;
mod port;
pub mod push;
pub mod qrcode;
pub mod token;

pub use api::{TextVerdict, WxApi};
pub use port::{WeChat, WxAccessToken, WxError, WxPhone, WxReply, WxSession};
