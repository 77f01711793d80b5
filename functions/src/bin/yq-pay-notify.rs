//! The `pay-notify` function: WeChat Pay's notifications (`POST /v1/pay/notify`), verified
//! and recorded once.

use yunqiao_api::Area;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), yunqiao_lambda::BoxError> {
    yunqiao_lambda::run_http(&[Area::PayNotify]).await
}
