//! Vonage signed webhooks: `Authorization: Bearer <JWT>`, HS256 with the account's
//! signature secret. Its `payload_hash` claim is the SHA-256 (hex) of the body, so the body
//! cannot be changed; `iat` must be within the source's tolerance of now (and `exp`, when
//! present, not past), so a captured request cannot be replayed later.

use super::{header, unix_now, Refusal};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use bytes::Bytes;
use hmac::{Hmac, Mac};
use http::Request;
use serde_json::Value;
use sha2::Digest as _;

pub fn verify(secret: &str, tolerance_secs: u64, req: &Request<Bytes>) -> Result<(), Refusal> {
    verify_at(secret, tolerance_secs, req, unix_now())
}

pub(crate) fn verify_at(
    secret: &str,
    tolerance_secs: u64,
    req: &Request<Bytes>,
    now: i64,
) -> Result<(), Refusal> {
    let auth = header(req, "authorization").ok_or("missing bearer token")?;
    let token = match auth.split_once(' ') {
        Some((scheme, t)) if scheme.eq_ignore_ascii_case("bearer") => t.trim(),
        _ => return Err("missing bearer token"),
    };
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err("invalid token");
    };
    let head: Value = decode_part(h).ok_or("invalid token")?;
    if head.get("alg").and_then(Value::as_str) != Some("HS256") {
        return Err("invalid token");
    }
    let signature = URL_SAFE_NO_PAD
        .decode(s.trim_end_matches('='))
        .map_err(|_| "invalid token")?;
    let signed = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).is_ok_and(|mut m| {
        m.update(h.as_bytes());
        m.update(b".");
        m.update(p.as_bytes());
        m.verify_slice(&signature).is_ok()
    });
    if !signed {
        return Err("invalid signature");
    }
    let claims: Value = decode_part(p).ok_or("invalid token")?;
    let iat = claims
        .get("iat")
        .and_then(Value::as_f64)
        .ok_or("the token has no iat")?;
    if (now as f64 - iat).abs() > tolerance_secs as f64 {
        return Err("the token's iat is outside the allowed window");
    }
    if let Some(exp) = claims.get("exp") {
        if exp.as_f64().is_none_or(|e| e < now as f64) {
            return Err("the token has expired");
        }
    }
    match claims.get("payload_hash").and_then(Value::as_str) {
        Some(hash) => {
            let actual = super::twilio::hex(&sha2::Sha256::digest(req.body()));
            if actual.eq_ignore_ascii_case(hash.trim()) {
                Ok(())
            } else {
                Err("the body does not match payload_hash")
            }
        }
        None if req.body().is_empty() => Ok(()),
        None => Err("the token has no payload_hash"),
    }
}

fn decode_part(part: &str) -> Option<Value> {
    let bytes = URL_SAFE_NO_PAD.decode(part.trim_end_matches('=')).ok()?;
    serde_json::from_slice::<Value>(&bytes)
        .ok()
        .filter(Value::is_object)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt(secret: &str, claims: &Value) -> String {
        let h = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
        let p = URL_SAFE_NO_PAD.encode(claims.to_string());
        let mut m = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        m.update(format!("{h}.{p}").as_bytes());
        format!(
            "{h}.{p}.{}",
            URL_SAFE_NO_PAD.encode(m.finalize().into_bytes())
        )
    }

    fn req(token: &str, body: &'static [u8]) -> Request<Bytes> {
        Request::post("/")
            .header("authorization", format!("Bearer {token}"))
            .body(Bytes::from_static(body))
            .unwrap()
    }

    #[test]
    fn hash_iat_and_signature_are_checked() {
        let body = br#"{"status":"completed"}"#;
        let hash = super::super::twilio::hex(&sha2::Sha256::digest(body));
        let now = 1_733_000_000;
        let good = jwt("s3", &serde_json::json!({"iat": now, "payload_hash": hash}));
        assert_eq!(verify_at("s3", 300, &req(&good, body), now), Ok(()));
        assert_eq!(
            verify_at("other", 300, &req(&good, body), now),
            Err("invalid signature")
        );
        assert_eq!(
            verify_at("s3", 300, &req(&good, b"{}"), now),
            Err("the body does not match payload_hash")
        );
        assert_eq!(
            verify_at("s3", 300, &req(&good, body), now + 301),
            Err("the token's iat is outside the allowed window")
        );
        let no_hash = jwt("s3", &serde_json::json!({"iat": now}));
        assert_eq!(
            verify_at("s3", 300, &req(&no_hash, body), now),
            Err("the token has no payload_hash")
        );
        let none_alg = format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(br#"{"alg":"none"}"#),
            URL_SAFE_NO_PAD.encode(br#"{"iat":1733000000}"#)
        );
        assert_eq!(
            verify_at("s3", 300, &req(&none_alg, b""), now),
            Err("invalid token")
        );
    }
}
