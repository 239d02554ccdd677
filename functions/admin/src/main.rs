//! Admin Lambda: the ops API under `/admin`, behind API Gateway's IAM authorizer.

use lambda_http::{run, service_fn, Error};
use switchboard_core::entry::{admin_app, http_glue, or_exit};

#[tokio::main]
async fn main() -> Result<(), Error> {
    switchboard_core::entry::init_tracing();
    let app = or_exit(admin_app().await);
    let app = &app;
    run(service_fn(move |req| http_glue::admin(app, req))).await
}
