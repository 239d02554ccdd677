//! Plivo, signature V3: `X-Plivo-Signature-V3` is base64 HMAC-SHA256 (auth token) of
//!
//! - GET: the URL without its query, then `?` and the query's parameters sorted
//!   (`name=value` joined by `&`, values percent-decoded) when there are any;
//! - POST: the URL without its query, `?`, the sorted query parameters, `.` (only when
//!   there are both query and POST parameters), then the POST parameters sorted by name,
//!   each name followed by its value (no `?` at all when there are no POST parameters and
//!   no query);
//!
//! followed by `.` and the `X-Plivo-Signature-V3-Nonce` header. The signature header may
//! hold several signatures separated by commas (one per auth token during a rotation).

use super::{base64_any, grouped, header, is_form, pairs, Refusal};
use bytes::Bytes;
use hmac::{Hmac, Mac};
use http::Request;

pub const SIGNATURE_HEADER: &str = "x-plivo-signature-v3";
pub const NONCE_HEADER: &str = "x-plivo-signature-v3-nonce";

pub fn verify(auth_token: &str, url: &str, req: &Request<Bytes>) -> Result<(), Refusal> {
    let given = header(req, SIGNATURE_HEADER).ok_or("missing signature header")?;
    let nonce = header(req, NONCE_HEADER).ok_or("missing signature nonce")?;
    let post_params = if req.method() != http::Method::GET && is_form(req) {
        pairs(req.body())
    } else {
        Vec::new()
    };
    let mut data = signed_url(url, req.method() == http::Method::GET, post_params).into_bytes();
    data.push(b'.');
    data.extend_from_slice(nonce.as_bytes());
    let ok = given.split(',').filter_map(base64_any).any(|sig| {
        Hmac::<sha2::Sha256>::new_from_slice(auth_token.as_bytes()).is_ok_and(|mut m| {
            m.update(&data);
            m.verify_slice(&sig).is_ok()
        })
    });
    if ok {
        Ok(())
    } else {
        Err("invalid signature")
    }
}

/// The URL part of the signed string, as Plivo's own library builds it.
fn signed_url(url: &str, get: bool, post_params: Vec<(String, String)>) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, q),
        None => (url, ""),
    };
    let query = grouped(pairs(query.as_bytes()))
        .into_iter()
        .flat_map(|(k, vs)| vs.into_iter().map(move |v| format!("{k}={v}")))
        .collect::<Vec<_>>()
        .join("&");
    let mut s = base.to_owned();
    if get || post_params.is_empty() {
        if !query.is_empty() {
            s.push('?');
            s.push_str(&query);
        }
        return s;
    }
    s.push('?');
    s.push_str(&query);
    if !query.is_empty() {
        s.push('.');
    }
    for (k, vs) in grouped(post_params) {
        for v in vs {
            s.push_str(&k);
            s.push_str(&v);
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signed_string_follows_plivos_library() {
        let post = |p: &[(&str, &str)]| {
            p.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            signed_url("https://h.example.com/a?b=2&a=1", true, vec![]),
            "https://h.example.com/a?a=1&b=2"
        );
        assert_eq!(
            signed_url(
                "https://h.example.com/a",
                false,
                post(&[("To", "1"), ("From", "2")])
            ),
            "https://h.example.com/a?From2To1"
        );
        assert_eq!(
            signed_url(
                "https://h.example.com/a?x=%20y",
                false,
                post(&[("To", "1")])
            ),
            "https://h.example.com/a?x= y.To1"
        );
        assert_eq!(
            signed_url("https://h.example.com/a?x=1", false, vec![]),
            "https://h.example.com/a?x=1"
        );
    }
}
