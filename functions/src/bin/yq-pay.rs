//! The `pay` function: WeChat Pay orders (`/v1/pay/orders*`): create, read, list, close.

use yunqiao_api::Area;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), yunqiao_lambda::BoxError> {
    yunqiao_lambda::run_http(&[Area::Pay]).await
}
