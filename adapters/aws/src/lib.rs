//! AWS implementations of yunqiao's ports.

mod dynamo;

pub use dynamo::{DynamoConfig, DynamoStore, av_to_json, json_to_av, sdk_config};
