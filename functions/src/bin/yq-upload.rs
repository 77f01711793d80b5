//! The `upload` function: users' files (`/v1/files*`): signed upload forms straight to
//! the bucket, completion checks, signed URLs for readers, deletes.

use yunqiao_api::Area;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), yunqiao_lambda::BoxError> {
    yunqiao_lambda::run_http(&[Area::Files]).await
}
