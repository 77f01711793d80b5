//! The `fn` function: cloud-function calls (`/v1/fn/*`) and their administration
//! (`/v1/functions/*`).

use yunqiao_api::Area;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), yunqiao_lambda::BoxError> {
    yunqiao_lambda::run_http(&[Area::Functions]).await
}
