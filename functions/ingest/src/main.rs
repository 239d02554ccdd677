//! Ingest Lambda: API Gateway `/hooks/{source}[/{token}]` → verify, parse → SQS → 202.

use switchboard_core::entry::{http_glue, ingest_app};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    http_glue::run(ingest_app(), http_glue::ingest_handler).await
}
