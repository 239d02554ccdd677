//! One TLS/crypto stack for every outbound connection: rustls on `ring`, for the delivery
//! transport and for the AWS SDK's client (reqwest, built by `switchboard-core`) alike.
//! Either's default would bring `aws-lc-rs`, a second and larger crypto library in every
//! Lambda package (docs/performance.md).

/// Makes `ring` the process's default rustls crypto provider, which reqwest (built without a
/// provider of its own) uses for the AWS SDK; the delivery transport names `ring` itself. Idempotent: a provider installed earlier is kept.
pub fn install_default_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Err means another thread installed one first: that one is used, which is fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}
