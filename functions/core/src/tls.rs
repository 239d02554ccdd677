//! One TLS/crypto stack for every outbound connection: rustls on `ring`, for the delivery
//! client (reqwest) and for the AWS SDK alike. Either's default would bring `aws-lc-rs`, a
//! second and larger crypto library in every Lambda package (docs/performance.md).

use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};
use aws_smithy_runtime_api::client::http::SharedHttpClient;

/// Makes `ring` the process's default rustls crypto provider, which reqwest (built without a
/// provider of its own) uses. Idempotent: a provider installed earlier is kept.
pub fn install_default_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Err means another thread installed one first: that one is used, which is fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

/// The HTTPS client for the AWS SDK: the SDK's own hyper client, with rustls on `ring`.
pub fn sdk_http_client() -> SharedHttpClient {
    aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https()
}
