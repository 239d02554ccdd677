//! `GET /`: the ops console, one self-contained HTML page (inline CSS and JS, nothing
//! loaded from elsewhere, enforced by its Content-Security-Policy). Loading the page needs
//! no credentials: it holds no data. It calls `/admin` with the admin token it asks for, or
//! with none behind `switchboard console`, the local proxy that adds the credentials.

use bytes::Bytes;
use http::{header, HeaderValue, Response, StatusCode};

const PAGE: &str = include_str!("console.html");

/// Only this origin, only inline code: the page cannot load or send anything elsewhere.
const CSP: &str = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; \
                   connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; \
                   frame-ancestors 'none'";

pub(super) fn page() -> Response<Bytes> {
    let mut r = Response::new(Bytes::from_static(PAGE.as_bytes()));
    *r.status_mut() = StatusCode::OK;
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}
