//! The push port over API Gateway's WebSocket management API (`post_to_connection`).
//! Fan-out concurrency is bounded by the caller ([`yunqiao_core::live::Live::deliver`]);
//! a 410 Gone is [`PushError::Gone`], which makes the domain forget the connection.

use async_trait::async_trait;
use aws_sdk_apigatewaymanagement::Client;
use aws_sdk_apigatewaymanagement::error::{DisplayErrorContext, SdkError};
use aws_sdk_apigatewaymanagement::primitives::Blob;
use yunqiao_core::live::{Push, PushError};

#[derive(Clone)]
pub struct ApiGatewayPush {
    client: Client,
}

impl ApiGatewayPush {
    /// `endpoint` is the WebSocket API's management URL,
    /// `https://{api-id}.execute-api.{region}.amazonaws.com/{stage}`.
    pub fn new(sdk: &aws_config::SdkConfig, endpoint: &str) -> Self {
        let conf = aws_sdk_apigatewaymanagement::config::Builder::from(sdk)
            .endpoint_url(endpoint.trim_end_matches('/'))
            .build();
        ApiGatewayPush {
            client: Client::from_conf(conf),
        }
    }
}

#[async_trait]
impl Push for ApiGatewayPush {
    async fn post(&self, connection_id: &str, data: &[u8]) -> Result<(), PushError> {
        let sent = self
            .client
            .post_to_connection()
            .connection_id(connection_id)
            .data(Blob::new(data.to_vec()))
            .send()
            .await;
        match sent {
            Ok(_) => Ok(()),
            Err(SdkError::ServiceError(s))
                if s.err().is_gone_exception() || s.raw().status().as_u16() == 410 =>
            {
                Err(PushError::Gone)
            }
            Err(e) => Err(PushError::Failed(DisplayErrorContext(&e).to_string())),
        }
    }

    async fn close(&self, connection_id: &str) -> Result<(), PushError> {
        let closed = self
            .client
            .delete_connection()
            .connection_id(connection_id)
            .send()
            .await;
        match closed {
            Ok(_) => Ok(()),
            Err(SdkError::ServiceError(s))
                if s.err().is_gone_exception() || s.raw().status().as_u16() == 410 =>
            {
                Err(PushError::Gone)
            }
            Err(e) => Err(PushError::Failed(DisplayErrorContext(&e).to_string())),
        }
    }
}
