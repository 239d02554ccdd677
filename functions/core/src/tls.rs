//! The AWS SDK's HTTPS client on the same TLS stack as deliveries (rustls on `ring`, see
//! the engine's `tls`) and the same HTTP/1.1 stack (hyper, under reqwest: [`crate::sdk_http`]): the SDK's
//! default would bring `aws-lc-rs`, a second and larger crypto library, and its own client
//! HTTP/2 into every Lambda package (docs/performance.md).

use aws_smithy_runtime_api::client::http::SharedHttpClient;

pub use switchboard_engine::tls::install_default_provider;

/// The HTTPS client for the AWS SDK: reqwest with rustls on `ring`.
pub fn sdk_http_client() -> SharedHttpClient {
    crate::sdk_http::client()
}
