//! The `admin` function: users and groups (`/v1/admin/*`), health, the OpenAPI document, and every unknown path.

use yunqiao_api::Area;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), yunqiao_lambda::BoxError> {
    yunqiao_lambda::run_http(&[Area::Admin, Area::Meta]).await
}
