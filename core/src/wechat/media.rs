//! Media checks of users' uploads through WeChat (`files::media`): the uploader's
//! openid, a URL of the bytes, `media_check_async`.

use std::sync::Arc;

use async_trait::async_trait;

use super::WxApi;
use crate::auth::Auth;
use crate::error::Result;
use crate::files::{MediaChecker, MediaKind};

/// The scene of an upload's check. WeChat's scenes are 1 profile, 2 comment, 3 forum,
/// 4 social log; users' uploads are checked as comments.
const UPLOAD_SCENE: u8 = 2;

pub struct WxMediaChecker {
    pub auth: Arc<Auth>,
    pub wechat: Arc<WxApi>,
}

#[async_trait]
impl MediaChecker for WxMediaChecker {
    async fn start(&self, owner: &str, url: &str, kind: MediaKind) -> Result<String> {
        let openid = self.auth.get_user(owner).await?.openid;
        Ok(self
            .wechat
            .media_check_async(&openid, url, kind.media_type(), UPLOAD_SCENE)
            .await?)
    }
}
