//! Admin Lambda: the ops API under `/admin`, behind API Gateway's IAM authorizer.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    switchboard_core::entry::http_glue::run_admin().await
}
