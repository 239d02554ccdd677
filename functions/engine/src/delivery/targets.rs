//! Subscriber URLs parsed once per URL, not once per delivery: a delivery parsed its URL
//! three times (the request's `Url` and two redactions for the record), which showed in
//! the profile of `serve` under load (URL clones and IDNA processing).

use super::transport::Origin;
use crate::redact::redact_url;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// The most URLs kept; past it the cache starts over (subscriptions are few, URLs with a
/// rendered query are not cached at all).
const MAX_URLS: usize = 4096;

/// A subscriber URL ready for a request, and the form of it an attempt record shows.
#[derive(Debug)]
pub struct Target {
    pub url: url::Url,
    pub redacted: String,
    /// Where the connection goes (scheme, host, port): the key of the connection pool.
    /// `None` when the URL has no host or a scheme other than http(s); the guard refuses
    /// those before any request.
    pub origin: Option<Origin>,
    /// The request line's target (path and query) and the `Host` header's value.
    pub path_and_query: http::uri::PathAndQuery,
    pub host_header: Option<http::HeaderValue>,
    /// `Authorization: Basic` from the URL's user and password, when it has them (they are
    /// never sent in the request line).
    pub authorization: Option<http::HeaderValue>,
}

impl Target {
    /// Parses `url`; the error is the parser's, for the attempt record.
    pub fn parse(url: &str) -> Result<Self, String> {
        let parsed = url::Url::parse(url).map_err(|e| format!("invalid url: {e}"))?;
        let origin = Origin::of(&parsed);
        let path_and_query = http::uri::PathAndQuery::try_from(
            &parsed[url::Position::BeforePath..url::Position::AfterQuery],
        )
        .map_err(|e| format!("invalid url path: {e}"))?;
        let host_header = match (parsed.host_str(), parsed.port()) {
            (Some(host), Some(port)) => http::HeaderValue::try_from(format!("{host}:{port}")).ok(),
            (Some(host), None) => http::HeaderValue::try_from(host).ok(),
            (None, _) => None,
        };
        let authorization = basic_auth(&parsed)?;
        Ok(Self {
            url: parsed,
            redacted: redact_url(url),
            origin,
            path_and_query,
            host_header,
            authorization,
        })
    }
}

/// The URL's credentials as a `Basic` authorization value (percent-decoded, as RFC 3986
/// writes them in a URL), marked sensitive.
fn basic_auth(url: &url::Url) -> Result<Option<http::HeaderValue>, String> {
    use base64::Engine as _;
    if url.username().is_empty() && url.password().is_none() {
        return Ok(None);
    }
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(s)
            .decode_utf8()
            .map(|d| d.into_owned())
            .map_err(|_| "the url's user or password is not UTF-8 once decoded".to_owned())
    };
    let credentials = format!(
        "{}:{}",
        decode(url.username())?,
        decode(url.password().unwrap_or(""))?
    );
    let encoded = base64::engine::general_purpose::STANDARD.encode(credentials);
    let mut value = http::HeaderValue::try_from(format!("Basic {encoded}"))
        .map_err(|e| format!("invalid credentials in the url: {e}"))?;
    value.set_sensitive(true);
    Ok(Some(value))
}

/// Parsed URLs by their text, shared by every delivery of the client.
#[derive(Debug, Default, Clone)]
pub struct Targets {
    parsed: Arc<Mutex<HashMap<String, Arc<Target>>>>,
}

impl Targets {
    /// The parsed `url`, from the cache when it was parsed before. Unparseable URLs are not
    /// kept (their attempts fail, and the error is recomputed each time).
    pub fn get(&self, url: &str) -> Result<Arc<Target>, String> {
        if let Some(t) = self.lock().get(url) {
            return Ok(t.clone());
        }
        let target = Arc::new(Target::parse(url)?);
        let mut parsed = self.lock();
        if parsed.len() >= MAX_URLS {
            parsed.clear();
        }
        parsed.insert(url.to_owned(), target.clone());
        Ok(target)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Target>>> {
        // A panic while holding the lock leaves a plain map of parsed URLs: still valid.
        self.parsed.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_is_parsed_once_and_shared() {
        let targets = Targets::default();
        let a = targets
            .get("http://user:pw@example.com/hook?token=x")
            .unwrap();
        let b = targets
            .get("http://user:pw@example.com/hook?token=x")
            .unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(a.url.as_str(), "http://user:pw@example.com/hook?token=x");
        assert_eq!(
            a.redacted,
            redact_url("http://user:pw@example.com/hook?token=x")
        );
        assert!(!a.redacted.contains("pw"));
        assert_eq!(a.path_and_query.as_str(), "/hook?token=x");
        // base64("user:pw")
        assert_eq!(a.authorization.as_ref().unwrap(), "Basic dXNlcjpwdw==");
        assert!(a.authorization.as_ref().unwrap().is_sensitive());
        assert_eq!(a.host_header.as_ref().unwrap(), "example.com");
        let origin = a.origin.as_ref().unwrap();
        assert_eq!(
            (origin.tls, &*origin.host, origin.port),
            (false, "example.com", 80)
        );
    }

    #[test]
    fn the_origin_keeps_a_port_and_brackets_and_knows_https() {
        let t = Target::parse("https://[::1]:8443").unwrap();
        assert_eq!(t.path_and_query.as_str(), "/");
        assert_eq!(t.host_header.as_ref().unwrap(), "[::1]:8443");
        let origin = t.origin.unwrap();
        assert_eq!(
            (origin.tls, &*origin.host, origin.port),
            (true, "[::1]", 8443)
        );
        assert!(Target::parse("ftp://example.com/x")
            .unwrap()
            .origin
            .is_none());
        let plain = Target::parse("https://example.com/").unwrap();
        assert!(plain.authorization.is_none());
        let encoded = Target::parse("https://us%20er:p%40ss@example.com/").unwrap();
        // base64("us er:p@ss")
        assert_eq!(encoded.authorization.unwrap(), "Basic dXMgZXI6cEBzcw==");
    }

    #[test]
    fn unparseable_urls_are_errors_and_not_kept() {
        let targets = Targets::default();
        assert!(targets.get("not a url").is_err());
        assert!(targets.lock().is_empty());
    }

    #[test]
    fn the_cache_is_bounded() {
        let targets = Targets::default();
        for i in 0..=MAX_URLS {
            targets.get(&format!("http://example.com/{i}")).unwrap();
        }
        assert!(targets.lock().len() <= MAX_URLS);
    }
}
