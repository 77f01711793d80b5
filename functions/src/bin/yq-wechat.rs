//! The `wechat` function: WeChat's message push (`/v1/wechat/push`): the echo
//! handshake, and every pushed event verified, decrypted and handed to the configured
//! cloud function.

use yunqiao_api::Area;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), yunqiao_lambda::BoxError> {
    yunqiao_lambda::run_http(&[Area::WeChat]).await
}
