//! The `auth` function: WeChat login and sessions (`/v1/auth/*`).

use yunqiao_api::Area;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), yunqiao_lambda::BoxError> {
    yunqiao_lambda::run_http(&[Area::Auth]).await
}
