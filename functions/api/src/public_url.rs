//! The URL a provider called, which Twilio and Plivo sign.
//!
//! In order of precedence: the source's own `public_url` (plus the request's query); the
//! instance's public base (`serve --public-url`, `SWITCHBOARD_PUBLIC_URL`) plus the request's
//! path and query; the absolute URI the Lambda glue builds from API Gateway's request
//! (`X-Forwarded-Proto`, `Host`, the stage in the path unless it is `$default`); else
//! `http://` + the `Host` header + path and query (`serve` on plain HTTP).

use bytes::Bytes;
use http::Request;

/// The called URL, or `None` when nothing says which host was called.
pub fn request_url(
    req: &Request<Bytes>,
    public_base: Option<&str>,
    source_url: Option<&str>,
) -> Option<String> {
    let uri = req.uri();
    let path_and_query = uri.path_and_query().map_or("/", |p| p.as_str());
    if let Some(url) = source_url {
        return Some(match uri.query() {
            Some(q) => format!("{url}?{q}"),
            None => url.to_owned(),
        });
    }
    if let Some(base) = public_base {
        return Some(format!("{}{path_and_query}", base.trim_end_matches('/')));
    }
    if uri.scheme().is_some() && uri.authority().is_some() {
        return Some(uri.to_string());
    }
    let host = req.headers().get(http::header::HOST)?.to_str().ok()?;
    Some(format!("http://{host}{path_and_query}"))
}

/// The same URL with its port as the scheme's default one written out, and without any
/// port: providers are not consistent about which form they sign (Twilio's own validator
/// tries both).
pub fn port_variants(url: &str) -> Vec<String> {
    let mut out = vec![url.to_owned()];
    let Ok(uri) = url.parse::<http::Uri>() else {
        return out;
    };
    let (Some(scheme), Some(host)) = (uri.scheme_str(), uri.host()) else {
        return out;
    };
    let rest = uri.path_and_query().map_or("", |p| p.as_str());
    let default_port = if scheme == "https" { 443 } else { 80 };
    let with = format!(
        "{scheme}://{host}:{}{rest}",
        uri.port_u16().unwrap_or(default_port)
    );
    let without = format!("{scheme}://{host}{rest}");
    for v in [with, without] {
        if !out.contains(&v) {
            out.push(v);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(uri: &str, host: Option<&str>) -> Request<Bytes> {
        let mut b = Request::builder().uri(uri);
        if let Some(h) = host {
            b = b.header("host", h);
        }
        b.body(Bytes::new()).unwrap()
    }

    #[test]
    fn precedence() {
        let r = req("/hooks/tw?a=1", Some("127.0.0.1:8080"));
        assert_eq!(
            request_url(&r, None, None).unwrap(),
            "http://127.0.0.1:8080/hooks/tw?a=1"
        );
        assert_eq!(
            request_url(&r, Some("https://x.ngrok.app/"), None).unwrap(),
            "https://x.ngrok.app/hooks/tw?a=1"
        );
        assert_eq!(
            request_url(
                &r,
                Some("https://x.ngrok.app"),
                Some("https://h.example.com/tw")
            )
            .unwrap(),
            "https://h.example.com/tw?a=1"
        );
        let lambda = req(
            "https://abc.execute-api.eu-west-1.amazonaws.com/hooks/tw?a=1",
            None,
        );
        assert_eq!(
            request_url(&lambda, None, None).unwrap(),
            "https://abc.execute-api.eu-west-1.amazonaws.com/hooks/tw?a=1"
        );
        assert_eq!(request_url(&req("/hooks/tw", None), None, None), None);
    }

    #[test]
    fn ports() {
        assert_eq!(
            port_variants("https://h.example.com/a?b=1"),
            [
                "https://h.example.com/a?b=1",
                "https://h.example.com:443/a?b=1"
            ]
        );
        assert_eq!(
            port_variants("http://127.0.0.1:8080/a"),
            ["http://127.0.0.1:8080/a", "http://127.0.0.1/a"]
        );
        assert_eq!(port_variants("not a url"), ["not a url"]);
    }
}
