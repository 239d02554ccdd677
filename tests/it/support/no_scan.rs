//! A DynamoDB client that records every operation it sends and refuses Scans, so tests can
//! assert that the event and delivery listings are served by keys and indexes only.

use aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::BoxError;
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone, Default)]
pub struct OperationRecorder {
    operations: Arc<Mutex<Vec<String>>>,
}

impl OperationRecorder {
    /// A client on `sdk` with this recorder installed.
    pub fn client(&self, sdk: &aws_config::SdkConfig) -> aws_sdk_dynamodb::Client {
        let config = aws_sdk_dynamodb::config::Builder::from(sdk)
            .interceptor(self.clone())
            .build();
        aws_sdk_dynamodb::Client::from_conf(config)
    }

    /// Operation names (`Query`, `PutItem`, ...) in the order they were sent.
    pub fn operations(&self) -> Vec<String> {
        self.operations.lock().unwrap().clone()
    }
}

impl Intercept for OperationRecorder {
    fn name(&self) -> &'static str {
        "OperationRecorder"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        // DynamoDB's JSON protocol names the operation in X-Amz-Target: DynamoDB_20120810.Query
        let op = context
            .request()
            .headers()
            .get("x-amz-target")
            .and_then(|t| t.rsplit('.').next())
            .unwrap_or("?")
            .to_owned();
        self.operations.lock().unwrap().push(op.clone());
        if op == "Scan" {
            return Err(
                "Scan refused: event and delivery queries must use a key or an index".into(),
            );
        }
        Ok(())
    }
}
