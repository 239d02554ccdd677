//! Adapters for the ports: in memory (for `serve` and tests) and AWS (SQS, DynamoDB).

pub mod aws;
pub mod memory;
