//! WeChat: the API client (a [`yunqiao_core::wechat::WeChat`] implementation) and the
//! built-in mock server that speaks the same wire formats.

mod client;
mod mock;
mod mock_pay;

pub use client::{DEFAULT_API_BASE, DEFAULT_PAY_BASE, WeChatClient, WeChatConfig};
pub use mock::{MockConfig, PushTarget, WeChatMock};
pub use mock_pay::{MOCK_MCHID, MockPaySetup, PayMock};
