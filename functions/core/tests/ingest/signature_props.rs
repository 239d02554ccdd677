//! Property tests for the provider signature schemes: any headers, URL and body are
//! answered Ok or a refusal, never a panic, and nothing unsigned is ever accepted.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns

use crate::common::cases;
use bytes::Bytes;
use http::Request;
use proptest::prelude::*;
use switchboard_core::api::public_url::{port_variants, request_url};
use switchboard_core::api::signatures::{body_token, plivo, telnyx, twilio, vonage};

const HEADERS: &[&str] = &[
    "x-twilio-signature",
    "x-twilio-webhooks-signature-settings",
    "x-plivo-signature-v3",
    "x-plivo-signature-v3-nonce",
    "telnyx-signature-ed25519",
    "telnyx-timestamp",
    "authorization",
    "content-type",
    "host",
];

const VALUES: &[&str] = &[
    "",
    "=",
    ",,,",
    "algorithm=HMAC_SHA256",
    "key=x,algorithm=RSA",
    "Bearer a.b.c",
    "Bearer eyJhbGciOiJIUzI1NiJ9.eyJpYXQiOjE3MzMwMDAwMDB9.",
    "Bearer ...",
    "bearer",
    "application/x-www-form-urlencoded",
    "application/json",
    "9999999999999999999999",
    "-1",
    "1733000000",
    "AAAA",
    "////",
    "0/KCTR6DLpKmkAf8muzZqo1nDgQ=",
];

fn header_value() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(VALUES).prop_map(str::to_owned),
        "[ -~]{0,80}"
    ]
}

fn request() -> impl Strategy<Value = Request<Bytes>> {
    (
        prop::sample::select(&["GET", "POST", "PUT"][..]),
        prop_oneof![
            Just("/hooks/s".to_owned()),
            "/[a-z/]{0,20}(\\?[ -~&&[^# ]]{0,40})?",
        ],
        prop::collection::vec((prop::sample::select(HEADERS), header_value()), 0..6),
        prop_oneof![
            prop::collection::vec(any::<u8>(), 0..200),
            "[a-zA-Z0-9=&%+.]{0,120}".prop_map(String::into_bytes),
            Just(br#"{"token":"t","data":{"id":1}}"#.to_vec()),
        ],
    )
        .prop_filter_map("a valid request line", |(m, uri, headers, body)| {
            let mut b = Request::builder().method(m).uri(uri.as_str());
            for (k, v) in headers {
                if let Ok(v) = http::HeaderValue::from_str(&v) {
                    b = b.header(k, v);
                }
            }
            b.body(Bytes::from(body)).ok()
        })
}

const KEY: &str = "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=";

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(512)))]

    #[test]
    fn no_scheme_panics_or_accepts_an_unsigned_request(
        req in request(),
        url in prop_oneof![Just("https://h.example.com/hooks/s".to_owned()), "[ -~]{0,60}"],
        base in prop::option::of(prop_oneof![Just("https://h.example.com".to_owned()), "[ -~]{0,30}"]),
    ) {
        // Every secret is random to the generator: nothing it makes can be validly signed.
        prop_assert!(twilio::verify("auth-token-not-guessable", &url, &req).is_err());
        prop_assert!(plivo::verify("auth-token-not-guessable", &url, &req).is_err());
        prop_assert!(telnyx::verify(KEY, 300, &req).is_err());
        prop_assert!(telnyx::verify("not base64 at all", 1, &req).is_err());
        prop_assert!(vonage::verify("signature-secret-not-guessable", 300, &req).is_err());
        prop_assert!(body_token::verify("data.token", "token-not-guessable", &req, |a, b| a == b).is_err());
        let _ = request_url(&req, base.as_deref(), None);
        let _ = port_variants(&url);
        let scrubbed = body_token::scrub(req.body(), "t");
        prop_assert!(!scrubbed.windows(3).any(|w| w == b"\"t\""));
    }
}
