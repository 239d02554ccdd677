//! Switchboard's integration tests: one binary, the real pipeline in-process, real HTTP
//! sinks on 127.0.0.1, and the AWS adapters over the wire against the emulator the test
//! script starts (`AWS_ENDPOINT_URL`).

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

mod admin_api;
mod bad_input;
mod call_timeline;
mod console_browser;
mod contract;
mod dead_letters;
mod deadlines;
mod drift;
mod durable;
mod e2e_aws;
mod failing_recovered;
mod faults;
mod flow;
mod history_upgrade;
mod ingest_errors;
mod lambda_events;
mod limits;
mod load;
mod memory_cap;
mod metrics;
mod metrics_emf;
mod provider_signatures;
mod scale_model;
mod secrets;
mod serve;
mod support;
mod trace_context;
