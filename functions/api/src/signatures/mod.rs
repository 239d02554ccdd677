//! Provider signature schemes beyond a plain HMAC of the body: each checks one request and
//! says, on failure, what was wrong (never what was expected).

pub mod body_token;
pub mod plivo;
pub mod telnyx;
pub mod twilio;
pub mod vonage;

use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine as _;
use bytes::Bytes;
use http::Request;

/// Why a request was refused (the message of the 401).
pub type Refusal = &'static str;

pub(crate) fn header<'r>(req: &'r Request<Bytes>, name: &str) -> Option<&'r str> {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

/// Base64 in any of its usual forms (standard or URL-safe, padded or not).
pub(crate) fn base64_any(s: &str) -> Option<Vec<u8>> {
    let s = s.trim();
    STANDARD
        .decode(s)
        .or_else(|_| STANDARD_NO_PAD.decode(s))
        .or_else(|_| URL_SAFE.decode(s))
        .or_else(|_| URL_SAFE_NO_PAD.decode(s))
        .ok()
}

/// Whether the request's body is a form (the parameters Twilio and Plivo sign).
pub(crate) fn is_form(req: &Request<Bytes>) -> bool {
    header(req, "content-type").is_some_and(|ct| {
        ct.split(';')
            .next()
            .unwrap_or("")
            .trim()
            .eq_ignore_ascii_case("application/x-www-form-urlencoded")
    })
}

/// A form's or query's pairs, percent-decoded (`+` is a space), in order.
pub(crate) fn pairs(bytes: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(bytes)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// Pairs grouped by name, names and each name's values sorted (by code point, as the
/// providers' libraries sort).
pub(crate) fn grouped(
    pairs: Vec<(String, String)>,
) -> std::collections::BTreeMap<String, Vec<String>> {
    let mut map: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for (k, v) in pairs {
        map.entry(k).or_default().push(v);
    }
    for values in map.values_mut() {
        values.sort();
    }
    map
}

/// Seconds since the epoch now.
pub(crate) fn unix_now() -> i64 {
    crate::domain::time::now().timestamp()
}
