//! Source verification: token, HMAC of the raw body, HTTP basic, IP allow-list.
//! Every secret comparison is constant-time.

use crate::api::ClientIp;
use crate::domain::source::{HmacAlgorithm, SignatureEncoding, TokenLocation};
use crate::domain::{Source, Verification};
use crate::error::ApiError;
use crate::redact::constant_time_eq;
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

/// Checks a request against its source's verification and IP allow-list.
pub fn verify(
    source: &Source,
    req: &Request<Bytes>,
    path_token: Option<&str>,
) -> Result<(), ApiError> {
    if !source.ip_allow.is_empty() {
        let ip = req.extensions().get::<ClientIp>().map(|c| c.0);
        if !ip.is_some_and(|ip| source.ip_allow.iter().any(|rule| ip_matches(rule, ip))) {
            return Err(ApiError::new(
                http::StatusCode::FORBIDDEN,
                "forbidden",
                "the client address is not allowed for this source",
            ));
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
                Some(g) if constant_time_eq(g.as_bytes(), token.expose().as_bytes()) => Ok(()),
                Some(_) => Err(denied("invalid token")),
                None => Err(denied("missing token")),
            }
        }
        Verification::Basic { username, password } => {
            let given = header(req, "authorization")
                .and_then(|v| v.strip_prefix("Basic ").map(str::to_owned))
                .and_then(|b| B64.decode(b.trim()).ok())
                .ok_or_else(|| denied("missing basic credentials"))?;
            let expected = format!("{username}:{}", password.expose());
            if constant_time_eq(&given, expected.as_bytes()) {
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
            let given = match prefix {
                Some(p) => given
                    .strip_prefix(p.as_str())
                    .ok_or_else(|| denied("invalid signature"))?
                    .to_owned(),
                None => given,
            };
            let mac = hmac_bytes(*algorithm, secret.expose().as_bytes(), req.body());
            let expected = match encoding {
                SignatureEncoding::Hex => hex(&mac),
                SignatureEncoding::Base64 => B64.encode(&mac),
            };
            let given = match encoding {
                SignatureEncoding::Hex => given.trim().to_ascii_lowercase(),
                SignatureEncoding::Base64 => given.trim().to_owned(),
            };
            if constant_time_eq(given.as_bytes(), expected.as_bytes()) {
                Ok(())
            } else {
                Err(denied("invalid signature"))
            }
        }
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

fn hmac_bytes(algorithm: HmacAlgorithm, key: &[u8], body: &[u8]) -> Vec<u8> {
    // Both HMACs accept keys of any length, so new_from_slice cannot fail here.
    match algorithm {
        HmacAlgorithm::Sha256 => Hmac::<sha2::Sha256>::new_from_slice(key)
            .map(|mut m| {
                m.update(body);
                m.finalize().into_bytes().to_vec()
            })
            .unwrap_or_default(),
        HmacAlgorithm::Sha1 => Hmac::<sha1::Sha1>::new_from_slice(key)
            .map(|mut m| {
                m.update(body);
                m.finalize().into_bytes().to_vec()
            })
            .unwrap_or_default(),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
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
