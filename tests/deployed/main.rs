//! The deployed-stack suite: the pipeline on the stack `infra/template.yaml` creates, each
//! handler holding only the credentials of the role the stack made for its function.
//!
//! Run by `scripts/test-deployed` (which `./scripts/test` runs), never by a plain
//! `cargo test`: the target has `test = false`, so only `--test deployed` builds and runs
//! it. The script deploys the whole template into the emulator's CloudFormation, roles
//! included, assumes each function's role through STS, turns the emulator's IAM
//! enforcement on, and points these tests at it (`SWITCHBOARD_DEPLOYED_STACK`,
//! `SWITCHBOARD_DEPLOYED_CREDENTIALS`). Without those the tests fail; they never skip.
//!
//! The emulator authorizes SQS requests on action and queue, DynamoDB requests on the
//! action only; every DynamoDB request is therefore also recorded (`record.rs`) and the
//! script evaluates each against the role's real policy afterwards.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

mod admin;
mod dead_letters;
mod dispatch;
mod flow;
mod ingest;
mod ordering;
mod record;
mod stack;
#[allow(dead_code, unused_imports)]
#[path = "../it/support/mod.rs"]
mod support;
