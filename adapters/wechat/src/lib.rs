//! WeChat: the API client (a [`yunqiao_core::wechat::WeChat`] implementation) and the
//! built-in mock server that speaks the same wire formats.

mod client;
mod mock;

pub use client::{DEFAULT_API_BASE, WeChatClient, WeChatConfig};
pub use mock::{MockConfig, PushTarget, WeChatMock};
