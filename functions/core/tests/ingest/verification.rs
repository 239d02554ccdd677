//! Source verification through the ingest handler: for each method a good, a bad, a missing
//! and a replayed request; the token never survives into what is stored or forwarded.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use base64::Engine as _;
use common::{fixture, req, source, Harness};
use hmac::{Hmac, Mac};
use serde_json::Value;
use switchboard_core::domain::source::{HmacAlgorithm, Provider, SignatureEncoding, TokenLocation};
use switchboard_core::domain::Verification;
use switchboard_core::redact::Secret;

const TOKEN: &str = "s3cr3t-t0ken_with.chars~";

fn token(location: TokenLocation, name: Option<&str>) -> Verification {
    Verification::Token {
        token: Secret::new(TOKEN),
        location,
        name: name.map(str::to_owned),
    }
}

fn assert_denied(status: u16, body: &Value, message: &str) {
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error"]["code"], "unauthorized");
    assert_eq!(body["error"]["message"], message);
}

/// A replay of an accepted request: answered 200 with the original id, queued once.
async fn assert_replay_is_duplicate(h: &Harness, first: Value, replay: (u16, Value)) {
    assert_eq!(replay.0, 200, "{}", replay.1);
    assert_eq!(replay.1["duplicate"], true);
    assert_eq!(replay.1["id"], first["id"]);
    let events = h.drain().await;
    assert_eq!(events.len(), 1, "fanned out once");
    assert_eq!(events[0].envelope.id, first["id"].as_str().unwrap());
}

fn hangup() -> bytes::Bytes {
    fixture("hipcall/call_hangup.json")
}

// ---------------------------------------------------------------------------------------
// Token in the path

#[tokio::test]
async fn path_token() {
    let h = Harness::new(vec![source(
        "hip",
        Provider::Hipcall,
        token(TokenLocation::Path, None),
    )])
    .await;
    let good = || {
        req("POST", &format!("/hooks/hip/{TOKEN}"))
            .json()
            .body(hangup())
    };

    let (s, b) = h
        .send(req("POST", "/hooks/hip/wrong").json().body(hangup()))
        .await;
    assert_denied(s, &b, "invalid token");
    let (s, b) = h
        .send(req("POST", "/hooks/hip").json().body(hangup()))
        .await;
    assert_denied(s, &b, "missing token");
    // A prefix of the token, or the token plus more, is wrong too.
    let (s, _) = h
        .send(
            req("POST", &format!("/hooks/hip/{}", &TOKEN[..5]))
                .json()
                .body(hangup()),
        )
        .await;
    assert_eq!(s, 401);
    assert!(h.drain().await.is_empty(), "nothing rejected is queued");

    let (s, first) = h.send(good()).await;
    assert_eq!(s, 202, "{first}");
    let replay = h.send(good()).await;
    assert_replay_is_duplicate(&h, first, replay).await;
}

// ---------------------------------------------------------------------------------------
// Token in the query, removed before anything is stored

#[tokio::test]
async fn query_token_is_checked_and_never_stored() {
    let h = Harness::new(vec![
        source("vz", Provider::Voipappz, token(TokenLocation::Query, None)),
        source(
            "gen",
            Provider::Generic,
            token(TokenLocation::Query, Some("key")),
        ),
    ])
    .await;
    let body = fixture("voipappz/call_hangup.json");
    let uri = format!("/hooks/vz?event=Call%3AHangup&token={TOKEN}");

    let (s, b) = h
        .send(
            req("POST", "/hooks/vz?event=Call%3AHangup&token=nope")
                .json()
                .body(body.clone()),
        )
        .await;
    assert_denied(s, &b, "invalid token");
    let (s, b) = h
        .send(
            req("POST", "/hooks/vz?event=Call%3AHangup")
                .json()
                .body(body.clone()),
        )
        .await;
    assert_denied(s, &b, "missing token");
    // The default name is `token`; another parameter carrying it does not count.
    let (s, _) = h
        .send(
            req("POST", &format!("/hooks/vz?tok={TOKEN}"))
                .json()
                .body(body.clone()),
        )
        .await;
    assert_eq!(s, 401);

    let (s, first) = h.send(req("POST", &uri).json().body(body.clone())).await;
    assert_eq!(s, 202, "{first}");
    let replay = h.send(req("POST", &uri).json().body(body.clone())).await;
    assert_eq!(replay.1["duplicate"], true);

    // A GET whose query string is the payload, with a custom token parameter: the token is
    // neither in the stored query nor in the normalized data.
    let (s, _) = h
        .send(
            req(
                "GET",
                &format!("/hooks/gen?event=call.ended&key={TOKEN}&CallSid=1"),
            )
            .body(""),
        )
        .await;
    assert_eq!(s, 202);

    let events = h.drain().await;
    assert_eq!(events.len(), 2);
    let vz = &events[0];
    assert_eq!(vz.envelope.id, first["id"].as_str().unwrap());
    assert_eq!(vz.envelope.event_type, "call.ended");
    assert_eq!(vz.raw.query.as_deref(), Some("event=Call%3AHangup"));
    let generic = &events[1];
    assert_eq!(
        generic.raw.query.as_deref(),
        Some("event=call.ended&CallSid=1")
    );
    assert_eq!(generic.envelope.event_type, "call.ended");
    assert!(generic
        .envelope
        .data
        .as_ref()
        .unwrap()
        .to_value()
        .get("key")
        .is_none());
    for e in &events {
        let stored = serde_json::to_string(e).unwrap();
        assert!(!stored.contains(TOKEN), "token leaked into {stored}");
    }
}

// ---------------------------------------------------------------------------------------
// Token in a header

#[tokio::test]
async fn header_token() {
    let h = Harness::new(vec![
        source("hdr", Provider::Hipcall, token(TokenLocation::Header, None)),
        source(
            "named",
            Provider::Hipcall,
            token(TokenLocation::Header, Some("X-Hipcall-Secret")),
        ),
    ])
    .await;
    let send = |src: &'static str, name: &'static str, value: &'static str| {
        req("POST", &format!("/hooks/{src}"))
            .json()
            .header(name, value)
            .body(hangup())
    };
    let (s, b) = h.send(send("hdr", "x-switchboard-token", "bad")).await;
    assert_denied(s, &b, "invalid token");
    let (s, b) = h
        .send(req("POST", "/hooks/hdr").json().body(hangup()))
        .await;
    assert_denied(s, &b, "missing token");
    let (s, b) = h.send(send("named", "x-switchboard-token", TOKEN)).await;
    assert_denied(s, &b, "missing token");

    let (s, first) = h.send(send("hdr", "x-switchboard-token", TOKEN)).await;
    assert_eq!(s, 202);
    let replay = h.send(send("hdr", "X-Switchboard-Token", TOKEN)).await;
    assert_replay_is_duplicate(&h, first, replay).await;

    let (s, _) = h.send(send("named", "x-hipcall-secret", TOKEN)).await;
    assert_eq!(s, 202);
}

// ---------------------------------------------------------------------------------------
// HMAC of the raw body

fn hmac_source(
    id: &str,
    algorithm: HmacAlgorithm,
    encoding: SignatureEncoding,
    prefix: Option<&str>,
) -> switchboard_core::domain::Source {
    source(
        id,
        Provider::Hipcall,
        Verification::Hmac {
            secret: Secret::new("hmac-key"),
            header: "X-Signature".into(),
            algorithm,
            encoding,
            prefix: prefix.map(str::to_owned),
        },
    )
}

fn sign(algorithm: HmacAlgorithm, body: &[u8]) -> Vec<u8> {
    match algorithm {
        HmacAlgorithm::Sha256 => {
            let mut m = Hmac::<sha2::Sha256>::new_from_slice(b"hmac-key").unwrap();
            m.update(body);
            m.finalize().into_bytes().to_vec()
        }
        HmacAlgorithm::Sha1 => {
            let mut m = Hmac::<sha1::Sha1>::new_from_slice(b"hmac-key").unwrap();
            m.update(body);
            m.finalize().into_bytes().to_vec()
        }
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[tokio::test]
async fn hmac_sha256_hex_with_prefix() {
    let h = Harness::new(vec![hmac_source(
        "h256",
        HmacAlgorithm::Sha256,
        SignatureEncoding::Hex,
        Some("sha256="),
    )])
    .await;
    let body = hangup();
    let sig = format!("sha256={}", hex(&sign(HmacAlgorithm::Sha256, &body)));
    let post = |sig: &str, body: bytes::Bytes| {
        req("POST", "/hooks/h256")
            .json()
            .header("x-signature", sig)
            .body(body)
    };

    let (s, b) = h.send(post("sha256=00ff", body.clone())).await;
    assert_denied(s, &b, "invalid signature");
    let (s, b) = h
        .send(post(&sig.replace("sha256=", "sha1="), body.clone()))
        .await;
    assert_denied(s, &b, "invalid signature");
    let (s, b) = h.send(post("sha256=not-hex!", body.clone())).await;
    assert_denied(s, &b, "invalid signature");
    let (s, b) = h
        .send(req("POST", "/hooks/h256").json().body(body.clone()))
        .await;
    assert_denied(s, &b, "missing signature header");
    // A captured signature replayed over another body does not verify.
    let mut tampered = body.to_vec();
    tampered.extend_from_slice(b" ");
    let (s, b) = h.send(post(&sig, tampered.into())).await;
    assert_denied(s, &b, "invalid signature");

    let (s, first) = h.send(post(&sig, body.clone())).await;
    assert_eq!(s, 202, "{first}");
    // Upper-case hex and prefix are the same signature; the replay is a duplicate.
    let replay = h.send(post(&sig.to_uppercase(), body.clone())).await;
    assert_replay_is_duplicate(&h, first, replay).await;
}

#[tokio::test]
async fn hmac_sha1_base64_without_prefix() {
    let h = Harness::new(vec![hmac_source(
        "h1",
        HmacAlgorithm::Sha1,
        SignatureEncoding::Base64,
        None,
    )])
    .await;
    let body = fixture("hipcall/legacy/call_init.json");
    let mac = sign(HmacAlgorithm::Sha1, &body);
    let b64 = base64::engine::general_purpose::STANDARD.encode(&mac);
    let post = |sig: &str| {
        req("POST", "/hooks/h1")
            .json()
            .header("X-Signature", sig)
            .body(body.clone())
    };
    let sha256_of_same =
        base64::engine::general_purpose::STANDARD.encode(sign(HmacAlgorithm::Sha256, &body));
    let (s, b) = h.send(post(&sha256_of_same)).await;
    assert_denied(s, &b, "invalid signature");
    let (s, b) = h
        .send(req("POST", "/hooks/h1").json().body(body.clone()))
        .await;
    assert_denied(s, &b, "missing signature header");

    let (s, first) = h.send(post(&b64)).await;
    assert_eq!(s, 202, "{first}");
    // URL-safe, unpadded base64 of the same MAC is accepted as the same signature.
    let url_safe = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&mac);
    let replay = h.send(post(&url_safe)).await;
    assert_replay_is_duplicate(&h, first, replay).await;
}

// ---------------------------------------------------------------------------------------
// HTTP basic

#[tokio::test]
async fn basic_auth() {
    let h = Harness::new(vec![source(
        "cd",
        Provider::Callerdesk,
        Verification::Basic {
            username: "callerdesk".into(),
            password: Secret::new("pa:ss"),
        },
    )])
    .await;
    let body = fixture("callerdesk/call_report.form");
    let auth = |user: &str, pass: &str| {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"))
        )
    };
    let post = |authz: &str| {
        req("POST", "/hooks/cd")
            .header("content-type", "application/x-www-form-urlencoded")
            .header("authorization", authz)
            .body(body.clone())
    };
    let (s, b) = h.send(post(&auth("callerdesk", "wrong"))).await;
    assert_denied(s, &b, "invalid basic credentials");
    let (s, b) = h.send(post(&auth("someone", "pa:ss"))).await;
    assert_denied(s, &b, "invalid basic credentials");
    let (s, b) = h.send(post("Bearer pa:ss")).await;
    assert_denied(s, &b, "missing basic credentials");
    let (s, b) = h.send(post("Basic %%%")).await;
    assert_denied(s, &b, "missing basic credentials");
    let (s, b) = h
        .send(
            req("POST", "/hooks/cd")
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body.clone()),
        )
        .await;
    assert_denied(s, &b, "missing basic credentials");

    let (s, first) = h.send(post(&auth("callerdesk", "pa:ss"))).await;
    assert_eq!(s, 202, "{first}");
    // The scheme is case-insensitive; the replay is the same CallSid+kind+Status.
    let replay = h
        .send(post(&auth("callerdesk", "pa:ss").replace("Basic", "basic")))
        .await;
    assert_replay_is_duplicate(&h, first, replay).await;
}

// ---------------------------------------------------------------------------------------
// IP allow-list (API Gateway's source IP), alone and with a token

#[tokio::test]
async fn ip_allow_list() {
    let mut open = source("ips", Provider::Hipcall, Verification::None);
    open.ip_allow = vec!["203.0.113.0/24".into(), "2001:db8::/32".into()];
    let mut both = source(
        "ips-token",
        Provider::Hipcall,
        token(TokenLocation::Path, None),
    );
    both.ip_allow = vec!["198.51.100.7".into()];
    let h = Harness::new(vec![open, both]).await;
    let post = |uri: &str, ip: Option<&str>| {
        let r = req("POST", uri).json();
        match ip {
            Some(ip) => r.client_ip(ip).body(hangup()),
            None => r.body(hangup()),
        }
    };
    let not_allowed = "the client address is not allowed for this source";
    let (s, b) = h.send(post("/hooks/ips", Some("192.0.2.1"))).await;
    assert_denied(s, &b, not_allowed);
    let (s, b) = h.send(post("/hooks/ips", None)).await;
    assert_denied(s, &b, not_allowed);
    let (s, b) = h
        .send(post(
            &format!("/hooks/ips-token/{TOKEN}"),
            Some("198.51.100.8"),
        ))
        .await;
    assert_denied(s, &b, not_allowed);
    let (s, b) = h
        .send(post("/hooks/ips-token/wrong", Some("198.51.100.7")))
        .await;
    assert_denied(s, &b, "invalid token");

    let (s, first) = h.send(post("/hooks/ips", Some("203.0.113.77"))).await;
    assert_eq!(s, 202, "{first}");
    let replay = h.send(post("/hooks/ips", Some("2001:db8::5"))).await;
    assert_replay_is_duplicate(&h, first, replay).await;
    let (s, _) = h
        .send(post(
            &format!("/hooks/ips-token/{TOKEN}"),
            Some("198.51.100.7"),
        ))
        .await;
    assert_eq!(s, 202);
}

// ---------------------------------------------------------------------------------------
// `none` must be chosen explicitly; bad time zones and mappings are refused

#[tokio::test]
async fn sources_need_an_explicit_verification_and_a_real_zone() {
    let h = Harness::new(vec![]).await;
    let admin = |body: &str| {
        req("POST", "/admin/sources")
            .json()
            .header("authorization", &format!("Bearer {}", common::ADMIN_TOKEN))
            .body(body.to_owned())
    };
    let (s, b) = h.send(admin(r#"{"id":"a","provider":"hipcall"}"#)).await;
    assert_eq!(s, 400, "{b}");
    assert!(b["error"]["message"]
        .as_str()
        .unwrap()
        .contains("verification"));
    let (s, b) = h
        .send(admin(
            r#"{"id":"b","provider":"callerdesk","verification":{"type":"none"},"timezone":"India/Delhi"}"#,
        ))
        .await;
    assert_eq!(s, 400, "{b}");
    assert!(b["error"]["message"]
        .as_str()
        .unwrap()
        .contains("unknown time zone"));
    let (s, b) = h
        .send(admin(
            r#"{"id":"c","provider":"generic","verification":{"type":"none"},"mapping":{"event":{"value":"Not A Type"}}}"#,
        ))
        .await;
    assert_eq!(s, 400, "{b}");
    let (s, b) = h
        .send(admin(
            r#"{"id":"d","provider":"callerdesk","verification":{"type":"none"},"timezone":"Asia/Kolkata"}"#,
        ))
        .await;
    assert_eq!(s, 201, "{b}");
    assert_eq!(b["timezone"], "Asia/Kolkata");
}

// ---------------------------------------------------------------------------------------
// Any attempt other than the exact token is refused, and nothing panics

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(128),
        ..Default::default()
    })]

    #[test]
    fn only_the_exact_token_passes(
        attempt in proptest::prop_oneof![proptest::strategy::Just(TOKEN.to_owned()), "[!-~]{0,40}"]
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        rt.block_on(async {
            let h = Harness::new(vec![
                source("hdr", Provider::Generic, token(TokenLocation::Header, None)),
                source("qry", Provider::Generic, token(TokenLocation::Query, None)),
            ])
            .await;
            let expected = if attempt == TOKEN { 202 } else { 401 };
            let (s, _) = h
                .send(req("POST", "/hooks/hdr").header("x-switchboard-token", &attempt).body("{}"))
                .await;
            assert_eq!(s, expected);
            let q: String = form_urlencoded::Serializer::new(String::new())
                .append_pair("token", &attempt)
                .finish();
            let (s, _) = h.send(req("POST", &format!("/hooks/qry?{q}")).body("{}")).await;
            assert_eq!(s, expected);
        });
    }
}
