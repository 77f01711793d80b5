//! The WebSocket API's `$connect` route.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), yunqiao_lambda::BoxError> {
    yunqiao_lambda::run_ws(yunqiao_lambda::WsRoute::Connect).await
}
