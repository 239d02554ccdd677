//! The AWS SDK's HTTPS client on the same TLS stack as deliveries (rustls on `ring`, see
//! the engine's `tls`): either crate's default would bring `aws-lc-rs`, a second and larger
//! crypto library in every Lambda package (docs/performance.md).

use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};
use aws_smithy_runtime_api::client::http::SharedHttpClient;

pub use switchboard_engine::tls::install_default_provider;

/// The HTTPS client for the AWS SDK: the SDK's own hyper client, with rustls on `ring`.
pub fn sdk_http_client() -> SharedHttpClient {
    aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https()
}
