//! The `upload` function: users' files (`/v1/files*`): signed upload forms straight to
//! the bucket, completion checks, signed URLs for readers, deletes, and thumbnails (read
//! from the bucket and written back to it here; their bytes never pass API Gateway).

use yunqiao_api::Area;
use yunqiao_lambda::Extras;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), yunqiao_lambda::BoxError> {
    yunqiao_lambda::run_http_with(&[Area::Files], Extras { thumbnails: true }).await
}
