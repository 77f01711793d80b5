//! The schedule dispatcher, invoked every minute by EventBridge.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), yunqiao_lambda::BoxError> {
    yunqiao_lambda::run_schedule().await
}
