//! The WeChat port: what the domain needs from WeChat's servers, and the services on it.
//!
//! The port ([`WeChat`]) is wire-level: a login code's session, a stable access token,
//! and a `POST` to any server API with a given token. Everything above the wire lives
//! here, once for both faces: the app's one access token shared through the store
//! ([`token::AccessTokens`]), and the calls that need it ([`api::WxApi`]: phone numbers,
//! text and media checks, subscribe messages, the guarded `wechat.call` of cloud
//! functions); QR codes ([`qrcode::QrCodes`], images as [`WxReply::Bytes`] kept as public
//! files); the message push WeChat sends back ([`push`]: signatures, safe mode, JSON or
//! XML, replays and duplicates), which settles uploads' media checks ([`media`],
//! `files::media`).

pub mod api;
pub mod media;
mod port;
pub mod push;
mod push_xml;
pub mod qrcode;
pub mod token;

pub use api::{TextVerdict, WxApi};
pub use port::{
    PayHttp, PayHttpReply, SignedHeaders, WeChat, WxAccessToken, WxError, WxPhone, WxReply,
    WxSession,
};
