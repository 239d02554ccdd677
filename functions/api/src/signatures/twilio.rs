//! Twilio: `X-Twilio-Signature` is base64 HMAC-SHA1 (auth token) of the URL Twilio called
//! followed by every POST parameter, sorted by name, each name then its value(s). A JSON
//! body is not in the signature itself: its SHA-256 (hex) is the `bodySHA256` query
//! parameter, which is part of the signed URL. A request carrying
//! `X-Twilio-Webhooks-Signature-Settings: ...,algorithm=HMAC_SHA256` is signed with
//! HMAC-SHA256 instead. As in Twilio's own validator, the URL is tried as given, with the
//! scheme's default port written out and without a port.

use super::{base64_any, grouped, header, is_form, pairs, Refusal};
use crate::public_url::port_variants;
use bytes::Bytes;
use hmac::{Hmac, Mac};
use http::Request;
use sha2::Digest as _;

pub const SIGNATURE_HEADER: &str = "x-twilio-signature";
pub const SETTINGS_HEADER: &str = "x-twilio-webhooks-signature-settings";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Algorithm {
    Sha1,
    Sha256,
}

pub fn verify(auth_token: &str, url: &str, req: &Request<Bytes>) -> Result<(), Refusal> {
    let given = header(req, SIGNATURE_HEADER).ok_or("missing signature header")?;
    let signature = base64_any(given).ok_or("invalid signature")?;
    let algorithm =
        algorithm(header(req, SETTINGS_HEADER)).ok_or("unsupported signature algorithm")?;
    let query = url.split_once('?').map(|(_, q)| q);
    let body_hash = query.and_then(|q| {
        pairs(q.as_bytes())
            .into_iter()
            .find(|(k, _)| k == "bodySHA256")
            .map(|(_, v)| v)
    });
    let params = match body_hash {
        Some(expected) => {
            let actual = hex(&sha2::Sha256::digest(req.body()));
            if !actual.eq_ignore_ascii_case(expected.trim()) {
                return Err("the body does not match bodySHA256");
            }
            Vec::new()
        }
        None if is_form(req) && req.method() != http::Method::GET => pairs(req.body()),
        // Twilio signs any other body through bodySHA256; without it the body would be
        // unauthenticated.
        None if !req.body().is_empty() => return Err("the body is not covered by the signature"),
        None => Vec::new(),
    };
    let signed_params = signed_params(params);
    let ok = port_variants(url).iter().any(|u| {
        let mut data = u.clone().into_bytes();
        data.extend_from_slice(signed_params.as_bytes());
        matches(algorithm, auth_token.as_bytes(), &data, &signature)
    });
    if ok {
        Ok(())
    } else {
        Err("invalid signature")
    }
}

/// Names sorted, each followed by its distinct values, sorted.
fn signed_params(params: Vec<(String, String)>) -> String {
    let mut s = String::new();
    for (name, mut values) in grouped(params) {
        values.dedup();
        for v in values {
            s.push_str(&name);
            s.push_str(&v);
        }
    }
    s
}

fn algorithm(settings: Option<&str>) -> Option<Algorithm> {
    let named = settings.unwrap_or("").split(',').find_map(|part| {
        let (k, v) = part.split_once('=')?;
        (k.trim() == "algorithm" && !v.trim().is_empty()).then(|| v.trim().to_ascii_uppercase())
    });
    match named.as_deref() {
        None | Some("HMAC_SHA1") => Some(Algorithm::Sha1),
        Some("HMAC_SHA256") => Some(Algorithm::Sha256),
        Some(_) => None,
    }
}

fn matches(algorithm: Algorithm, key: &[u8], data: &[u8], signature: &[u8]) -> bool {
    match algorithm {
        Algorithm::Sha1 => Hmac::<sha1::Sha1>::new_from_slice(key).is_ok_and(|mut m| {
            m.update(data);
            m.verify_slice(signature).is_ok()
        }),
        Algorithm::Sha256 => Hmac::<sha2::Sha256>::new_from_slice(key).is_ok_and(|mut m| {
            m.update(data);
            m.verify_slice(signature).is_ok()
        }),
    }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;

    /// Twilio's documented example (the "Validating requests" page): this URL, these
    /// parameters and the token `12345` sign to `0/KCTR6DLpKmkAf8muzZqo1nDgQ=`.
    #[test]
    fn twilio_documented_example() {
        let url = "https://mycompany.com/myapp.php?foo=1&bar=2";
        let body = "CallSid=CA1234567890ABCDE&Caller=%2B12349013030&Digits=1234&From=%2B12349013030&To=%2B18005551212";
        let req = Request::post("/myapp.php?foo=1&bar=2")
            .header("content-type", "application/x-www-form-urlencoded")
            .header(SIGNATURE_HEADER, "0/KCTR6DLpKmkAf8muzZqo1nDgQ=")
            .body(Bytes::from(body))
            .unwrap();
        assert_eq!(verify("12345", url, &req), Ok(()));
        assert_eq!(verify("54321", url, &req), Err("invalid signature"));
        assert_eq!(
            verify("12345", "https://mycompany.com/myapp.php?foo=1&bar=3", &req),
            Err("invalid signature")
        );
    }

    #[test]
    fn json_bodies_are_covered_by_body_sha256() {
        let body = br#"{"property": "value", "boolean": true}"#;
        let hash = hex(&sha2::Sha256::digest(body));
        let url = format!("https://h.example.com/hooks/t?bodySHA256={hash}");
        let mut mac = Hmac::<sha1::Sha1>::new_from_slice(b"tok").unwrap();
        mac.update(url.as_bytes());
        let sig = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
        let req = |b: &'static [u8]| {
            Request::post("/")
                .header("content-type", "application/json")
                .header(SIGNATURE_HEADER, sig.as_str())
                .body(Bytes::from_static(b))
                .unwrap()
        };
        assert_eq!(verify("tok", &url, &req(body)), Ok(()));
        assert_eq!(
            verify("tok", &url, &req(br#"{"property": "other"}"#)),
            Err("the body does not match bodySHA256")
        );
    }

    #[test]
    fn algorithm_settings() {
        assert_eq!(algorithm(None), Some(Algorithm::Sha1));
        assert_eq!(
            algorithm(Some("key=webhooks_sharedkey_1,algorithm=HMAC_SHA256")),
            Some(Algorithm::Sha256)
        );
        assert_eq!(algorithm(Some("algorithm=RSA")), None);
    }
}
