//! Source verification: token, HMAC of the raw body, HTTP basic, IP allow-list, and the
//! providers' own schemes (Twilio, Plivo, Telnyx, Vonage, a token in the body; see
//! [`super::signatures`]). Every secret comparison is constant-time.

use crate::domain::source::{HmacAlgorithm, SignatureEncoding, TokenLocation};
use crate::domain::{Source, Verification};
use crate::error::ApiError;
use crate::public_url::request_url;
use crate::redact::constant_time_eq;
use crate::signatures;
use crate::ClientIp;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use bytes::Bytes;
use hmac::{Hmac, Mac};
use http::Request;
use std::net::IpAddr;

pub const DEFAULT_QUERY_TOKEN: &str = "token";
pub const DEFAULT_HEADER_TOKEN: &str = "x-switchboard-token";

fn denied(message: &str) -> ApiError {
    ApiError::new(http::StatusCode::UNAUTHORIZED, "unauthorized", message)
}

/// The URL the provider called, which the URL-signing schemes (Twilio, Plivo) sign.
fn called_url(
    req: &Request<Bytes>,
    public_base: Option<&str>,
    public_url: Option<&str>,
) -> Result<String, ApiError> {
    request_url(req, public_base, public_url)
        .ok_or_else(|| denied("the called URL is unknown (no Host header)"))
}

/// Checks a request against its source's IP allow-list and verification. Every failure is
/// a 401 with a JSON error that says what was wrong but never what was expected.
/// `public_base` is the instance's public base URL, for the schemes that sign the URL.
pub fn verify(
    source: &Source,
    req: &Request<Bytes>,
    path_token: Option<&str>,
    public_base: Option<&str>,
) -> Result<(), ApiError> {
    if !source.ip_allow.is_empty() {
        let ip = req.extensions().get::<ClientIp>().map(|c| c.0);
        if !ip.is_some_and(|ip| source.ip_allow.iter().any(|rule| ip_matches(rule, ip))) {
            return Err(denied("the client address is not allowed for this source"));
        }
    }
    match &source.verification {
        Verification::None => Ok(()),
        Verification::Token {
            token,
            location,
            name,
        } => {
            let given = match location {
                TokenLocation::Path => path_token.map(str::to_owned),
                TokenLocation::Query => query_param(
                    req.uri().query(),
                    name.as_deref().unwrap_or(DEFAULT_QUERY_TOKEN),
                ),
                TokenLocation::Header => {
                    header(req, name.as_deref().unwrap_or(DEFAULT_HEADER_TOKEN))
                }
            };
            match given {
                Some(g) if secret_eq(g.as_bytes(), token.expose().as_bytes()) => Ok(()),
                Some(_) => Err(denied("invalid token")),
                None => Err(denied("missing token")),
            }
        }
        Verification::Basic { username, password } => {
            let given = header(req, "authorization")
                .and_then(|v| {
                    let (scheme, rest) = v.trim().split_once(' ')?;
                    scheme
                        .eq_ignore_ascii_case("basic")
                        .then(|| rest.trim().to_owned())
                })
                .and_then(|b| B64.decode(b).ok())
                .ok_or_else(|| denied("missing basic credentials"))?;
            let (user, pass) = match given.iter().position(|b| *b == b':') {
                Some(i) => (&given[..i], &given[i + 1..]),
                None => (&given[..], &b""[..]),
            };
            // Both halves are always compared, so timing says nothing about which differed.
            let user_ok = secret_eq(user, username.as_bytes());
            let pass_ok = secret_eq(pass, password.expose().as_bytes());
            if user_ok & pass_ok {
                Ok(())
            } else {
                Err(denied("invalid basic credentials"))
            }
        }
        Verification::Hmac {
            secret,
            header: name,
            algorithm,
            encoding,
            prefix,
        } => {
            let given = header(req, name).ok_or_else(|| denied("missing signature header"))?;
            let given = given.trim();
            let given = match prefix.as_deref().filter(|p| !p.is_empty()) {
                Some(p) => {
                    strip_prefix_ignore_case(given, p).ok_or_else(|| denied("invalid signature"))?
                }
                None => given,
            };
            let signature = decode_signature(given.trim(), *encoding)
                .ok_or_else(|| denied("invalid signature"))?;
            if hmac_verify(
                *algorithm,
                secret.expose().as_bytes(),
                req.body(),
                &signature,
            ) {
                Ok(())
            } else {
                Err(denied("invalid signature"))
            }
        }
        // Both sign the URL the provider called, with the account's auth token.
        Verification::Twilio {
            auth_token,
            public_url,
        } => {
            let url = called_url(req, public_base, public_url.as_deref())?;
            signatures::twilio::verify(auth_token.expose(), &url, req).map_err(denied)
        }
        Verification::Plivo {
            auth_token,
            public_url,
        } => {
            let url = called_url(req, public_base, public_url.as_deref())?;
            signatures::plivo::verify(auth_token.expose(), &url, req).map_err(denied)
        }
        Verification::Telnyx {
            public_key,
            tolerance_secs,
        } => signatures::telnyx::verify(public_key, tolerance_secs.secs(), req).map_err(denied),
        Verification::Vonage {
            signature_secret,
            tolerance_secs,
        } => signatures::vonage::verify(signature_secret.expose(), tolerance_secs.secs(), req)
            .map_err(denied),
        Verification::BodyToken { field, token } => {
            signatures::body_token::verify(field, token.expose(), req, secret_eq).map_err(denied)
        }
    }
}

/// The body as it may be stored and forwarded: a token carried in the body is replaced by
/// `[redacted]` (after verification, so the check saw the original).
pub fn body_without_secrets(source: &Source, body: &Bytes) -> Bytes {
    match &source.verification {
        Verification::BodyToken { token, .. } => {
            signatures::body_token::scrub(body, token.expose())
        }
        _ => body.clone(),
    }
}

/// Constant-time equality that also hides the secret's length: both sides are hashed to
/// SHA-256 first, then the digests are compared with `subtle`.
fn secret_eq(given: &[u8], expected: &[u8]) -> bool {
    use sha2::Digest as _;
    let a = sha2::Sha256::digest(given);
    let b = sha2::Sha256::digest(expected);
    constant_time_eq(&a, &b)
}

fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| s.get(prefix.len()..))
        .flatten()
}

/// The signature's bytes: hex in either case; base64 standard or URL-safe, padded or not.
fn decode_signature(s: &str, encoding: SignatureEncoding) -> Option<Vec<u8>> {
    match encoding {
        SignatureEncoding::Hex => {
            if !s.len().is_multiple_of(2) || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
                return None;
            }
            (0..s.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
                .collect()
        }
        SignatureEncoding::Base64 => {
            use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
            B64.decode(s)
                .or_else(|_| STANDARD_NO_PAD.decode(s))
                .or_else(|_| URL_SAFE.decode(s))
                .or_else(|_| URL_SAFE_NO_PAD.decode(s))
                .ok()
        }
    }
}

/// Verifies an HMAC in constant time (`Mac::verify_slice`).
fn hmac_verify(algorithm: HmacAlgorithm, key: &[u8], body: &[u8], signature: &[u8]) -> bool {
    // Both HMACs accept keys of any length, so new_from_slice cannot fail here.
    match algorithm {
        HmacAlgorithm::Sha256 => Hmac::<sha2::Sha256>::new_from_slice(key)
            .map(|mut m| {
                m.update(body);
                m.verify_slice(signature).is_ok()
            })
            .unwrap_or(false),
        HmacAlgorithm::Sha1 => Hmac::<sha1::Sha1>::new_from_slice(key)
            .map(|mut m| {
                m.update(body);
                m.verify_slice(signature).is_ok()
            })
            .unwrap_or(false),
    }
}

/// The query string with the verification token removed, so it is never stored or forwarded.
pub fn query_without_token(source: &Source, query: Option<&str>) -> Option<String> {
    let query = query?;
    let token_name = match &source.verification {
        Verification::Token {
            location: TokenLocation::Query,
            name,
            ..
        } => name.as_deref().unwrap_or(DEFAULT_QUERY_TOKEN),
        _ => return Some(query.to_owned()).filter(|q| !q.is_empty()),
    };
    let kept: Vec<&str> = query
        .split('&')
        .filter(|pair| {
            let key = pair.split('=').next().unwrap_or("");
            let key = form_urlencoded::parse(key.as_bytes())
                .next()
                .map(|(k, _)| k.into_owned())
                .unwrap_or_default();
            key != token_name
        })
        .collect();
    Some(kept.join("&")).filter(|q| !q.is_empty())
}

fn header(req: &Request<Bytes>, name: &str) -> Option<String> {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    form_urlencoded::parse(query?.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// `rule` is an address (`203.0.113.7`) or a CIDR block (`203.0.113.0/24`, `2001:db8::/32`).
pub fn ip_matches(rule: &str, ip: IpAddr) -> bool {
    let (addr, len) = match rule.split_once('/') {
        Some((a, l)) => match l.parse::<u32>() {
            Ok(l) => (a, Some(l)),
            Err(_) => return false,
        },
        None => (rule, None),
    };
    let Ok(net) = addr.trim().parse::<IpAddr>() else {
        return false;
    };
    let ip = match (net, ip) {
        (IpAddr::V4(_), IpAddr::V6(v6)) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        _ => ip,
    };
    match (net, ip) {
        (IpAddr::V4(n), IpAddr::V4(i)) => {
            let len = len.unwrap_or(32).min(32);
            let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
            u32::from(n) & mask == u32::from(i) & mask
        }
        (IpAddr::V6(n), IpAddr::V6(i)) => {
            let len = len.unwrap_or(128).min(128);
            let mask = if len == 0 {
                0
            } else {
                u128::MAX << (128 - len)
            };
            u128::from(n) & mask == u128::from(i) & mask
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_decode_in_every_accepted_form() {
        let hex = SignatureEncoding::Hex;
        assert_eq!(decode_signature("00ffAB", hex), Some(vec![0, 255, 171]));
        assert_eq!(decode_signature("0ff", hex), None);
        assert_eq!(decode_signature("zz", hex), None);
        assert_eq!(decode_signature("+f", hex), None, "no sign prefix");
        assert_eq!(decode_signature("éé", hex), None);
        let b64 = SignatureEncoding::Base64;
        for s in ["+/8=", "+/8", "-_8=", "-_8"] {
            assert_eq!(decode_signature(s, b64), Some(vec![251, 255]), "{s}");
        }
        assert_eq!(decode_signature("%%", b64), None);
    }

    #[test]
    fn secret_comparison_ignores_length_and_checks_content() {
        assert!(secret_eq(b"token", b"token"));
        assert!(!secret_eq(b"toke", b"token"));
        assert!(!secret_eq(b"tokens", b"token"));
        assert!(!secret_eq(b"", b"token"));
        assert_eq!(strip_prefix_ignore_case("SHA256=ab", "sha256="), Some("ab"));
        assert_eq!(strip_prefix_ignore_case("sha1=ab", "sha256="), None);
        assert_eq!(strip_prefix_ignore_case("é", "ab"), None);
    }

    #[test]
    fn cidr_rules() {
        let ip: IpAddr = "203.0.113.7".parse().unwrap();
        assert!(ip_matches("203.0.113.7", ip));
        assert!(ip_matches("203.0.113.0/24", ip));
        assert!(!ip_matches("203.0.114.0/24", ip));
        assert!(ip_matches("0.0.0.0/0", ip));
        assert!(ip_matches(
            "203.0.113.0/24",
            "::ffff:203.0.113.9".parse().unwrap()
        ));
        assert!(ip_matches("2001:db8::/32", "2001:db8::1".parse().unwrap()));
        assert!(!ip_matches("garbage", ip));
        assert!(!ip_matches("203.0.113.0/x", ip));
    }
}
