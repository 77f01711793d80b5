//! AWS implementations of yunqiao's ports.

mod dynamo;

pub use dynamo::{DynamoConfig, DynamoStore, av_to_json, json_to_av, sdk_config};
mod push;
pub use push::ApiGatewayPush;
mod s3;
pub use s3::{S3BlobStore, S3Config};
