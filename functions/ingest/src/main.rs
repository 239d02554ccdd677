//! Ingest Lambda: API Gateway `/hooks/{source}[/{token}]` → verify, parse → SQS → 202.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    switchboard_core::entry::http_glue::run_ingest().await
}
