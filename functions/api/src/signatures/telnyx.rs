//! Telnyx: `telnyx-signature-ed25519` is the base64 Ed25519 signature, by Telnyx's key, of
//! `{telnyx-timestamp}|{raw body}`; the timestamp (Unix seconds) must be within the
//! source's tolerance of now, so a captured request cannot be replayed later.

use super::{base64_any, header, unix_now, Refusal};
use crate::domain::source::decode_ed25519_key;
use bytes::Bytes;
use http::Request;

pub const SIGNATURE_HEADER: &str = "telnyx-signature-ed25519";
pub const TIMESTAMP_HEADER: &str = "telnyx-timestamp";

pub fn verify(public_key: &str, tolerance_secs: u64, req: &Request<Bytes>) -> Result<(), Refusal> {
    verify_at(public_key, tolerance_secs, req, unix_now())
}

pub(crate) fn verify_at(
    public_key: &str,
    tolerance_secs: u64,
    req: &Request<Bytes>,
    now: i64,
) -> Result<(), Refusal> {
    let given = header(req, SIGNATURE_HEADER).ok_or("missing signature header")?;
    let timestamp = header(req, TIMESTAMP_HEADER).ok_or("missing timestamp header")?;
    let secs: i64 = timestamp.parse().map_err(|_| "invalid timestamp")?;
    if now.abs_diff(secs) > tolerance_secs {
        return Err("the timestamp is outside the allowed window");
    }
    let signature = base64_any(given).ok_or("invalid signature")?;
    let key = decode_ed25519_key(public_key).ok_or("the source's public key is invalid")?;
    let mut message = Vec::with_capacity(timestamp.len() + 1 + req.body().len());
    message.extend_from_slice(timestamp.as_bytes());
    message.push(b'|');
    message.extend_from_slice(req.body());
    ring::signature::UnparsedPublicKey::new(&ring::signature::ED25519, key)
        .verify(&message, &signature)
        .map_err(|_| "invalid signature")
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine as _;
    use ring::signature::KeyPair as _;

    #[test]
    fn signed_timestamped_bodies_only() {
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 = ring::signature::Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
        let pair = ring::signature::Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
        let public = STANDARD.encode(pair.public_key().as_ref());
        let body = br#"{"data":{"event_type":"call.hangup"}}"#;
        let sign = |ts: &str, b: &[u8]| {
            let mut m = format!("{ts}|").into_bytes();
            m.extend_from_slice(b);
            STANDARD.encode(pair.sign(&m).as_ref())
        };
        let req = |ts: &str, sig: &str, b: &'static [u8]| {
            Request::post("/")
                .header(TIMESTAMP_HEADER, ts)
                .header(SIGNATURE_HEADER, sig)
                .body(Bytes::from_static(b))
                .unwrap()
        };
        let now = 1_733_000_000;
        let ok = req("1733000000", &sign("1733000000", body), body);
        assert_eq!(verify_at(&public, 300, &ok, now), Ok(()));
        assert_eq!(
            verify_at(&public, 300, &ok, now + 301),
            Err("the timestamp is outside the allowed window")
        );
        let changed = req("1733000000", &sign("1733000000", body), b"{}");
        assert_eq!(
            verify_at(&public, 300, &changed, now),
            Err("invalid signature")
        );
        let moved = req("1733000001", &sign("1733000000", body), body);
        assert_eq!(
            verify_at(&public, 300, &moved, now),
            Err("invalid signature")
        );
        let garbage = req("x", "y", body);
        assert_eq!(
            verify_at(&public, 300, &garbage, now),
            Err("invalid timestamp")
        );
    }
}
