//! The smallest Rust Lambda built the same way: the baseline of the cold-start and
//! binary-size benchmark (`make bench-lambda`). Not deployed.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(|ev: LambdaEvent<Value>| async move {
        Ok::<Value, Error>(ev.payload)
    }))
    .await
}
