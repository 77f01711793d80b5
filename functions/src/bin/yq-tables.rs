//! The `tables` function: tables, records, queries, batches, KV and server-side events.

use yunqiao_api::Area;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), yunqiao_lambda::BoxError> {
    yunqiao_lambda::run_http(&[Area::Tables, Area::Kv, Area::Events]).await
}
