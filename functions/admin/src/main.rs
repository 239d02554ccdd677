//! Admin Lambda: the ops API under `/admin`, behind API Gateway's IAM authorizer.

use switchboard_core::entry::{admin_app, http_glue};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    http_glue::run(admin_app(), http_glue::admin_handler).await
}
