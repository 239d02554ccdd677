//! Ingest Lambda: API Gateway `/hooks/{source}[/{token}]` → verify, parse → SQS → 202.

use lambda_http::{run, service_fn, Error};
use switchboard_core::entry::{http_glue, ingest_app, or_exit};

#[tokio::main]
async fn main() -> Result<(), Error> {
    switchboard_core::entry::init_tracing();
    let app = or_exit(ingest_app().await);
    let app = &app;
    run(service_fn(move |req| http_glue::ingest(app, req))).await
}
