//! Secrets stay secret: source tokens (path, query, header, body), HMAC keys, basic
//! passwords, Twilio and Plivo auth tokens, Vonage signature secrets,
//! `whsec_` signing secrets, credentials in a subscription's extra headers and URL, and the
//! admin token never appear in the logs (every level, captured), in error bodies, in admin
//! answers, in attempt records, or in `Debug` output.

use crate::support::logs::LogBuffer;
use crate::support::sink::Sink;
use base64::Engine as _;
use hmac::Mac as _;
use serde_json::{json, Value};
use switchboard_cli::serve::{self, ServeConfig};
use switchboard_core::ports::PageRequest;
use switchboard_core::redact::Secret;

const ADMIN: &str = "adm-S3cret-7f3b9c21";
const PATH_TOKEN: &str = "tok-path-5a8e1d90";
const QUERY_TOKEN: &str = "tok-query-91c2ef4d";
const HEADER_TOKEN: &str = "tok-header-3d4b7755";
const HMAC_KEY: &str = "hmac-key-c0ffee4242";
const BASIC_PASSWORD: &str = "basic-pass-b16b00b5";
const SUB_AUTH: &str = "sub-auth-e7e7e7e7";
const SUB_API_KEY: &str = "sub-apikey-44aa44aa";
const URL_TOKEN: &str = "url-token-98989898";
const TWILIO_TOKEN: &str = "twilio-token-1a2b3c4d";
const PLIVO_TOKEN: &str = "plivo-token-5e6f7a8b";
const VONAGE_SECRET: &str = "vonage-secret-9c0d1e2f";
const AIRCALL_TOKEN: &str = "aircall-token-3a4b5c6d";

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn sha256_hex(body: &str) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(body.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Twilio's signature of a request with a JSON body: the URL (carrying bodySHA256) alone.
fn twilio_signature(token: &str, url: &str) -> String {
    let mut mac = hmac::Hmac::<sha1::Sha1>::new_from_slice(token.as_bytes()).unwrap();
    mac.update(url.as_bytes());
    b64(&mac.finalize().into_bytes())
}

/// Plivo's V3 signature of a POST without form parameters: URL, `.`, nonce.
fn plivo_signature(token: &str, url: &str, nonce: &str) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(token.as_bytes()).unwrap();
    mac.update(format!("{url}.{nonce}").as_bytes());
    b64(&mac.finalize().into_bytes())
}

/// A Vonage signed-webhook JWT for `body`.
fn vonage_jwt(secret: &str, body: &str) -> String {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
    let now = chrono::Utc::now().timestamp();
    let head = B64URL.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let claims = B64URL.encode(json!({"iat": now, "payload_hash": sha256_hex(body)}).to_string());
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{head}.{claims}").as_bytes());
    format!(
        "{head}.{claims}.{}",
        B64URL.encode(mac.finalize().into_bytes())
    )
}

/// The Hipcall fixture with Aircall's kind of token inside the body.
fn with_body_token(body: &str, token: &str) -> String {
    let mut v: Value = serde_json::from_str(body).unwrap();
    v["token"] = json!(token);
    v.to_string()
}

fn hmac_hex(body: &str) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(HMAC_KEY.as_bytes()).unwrap();
    mac.update(body.as_bytes());
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn call_end(i: usize) -> String {
    crate::support::hipcall_call_hangup(&format!("2483a75a-2222-4000-8000-{i:012}"))
}

/// Everything a test saw, to search for secrets.
#[derive(Default)]
struct Seen {
    bodies: Vec<String>,
}

impl Seen {
    async fn keep(&mut self, r: reqwest::Response) -> (u16, Value) {
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        self.bodies.push(format!("{status} {text}"));
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }
}

fn assert_clean(what: &str, text: &str, secrets: &[&str]) {
    for s in secrets {
        if let Some(at) = text.find(s) {
            let excerpt: String = text[at.saturating_sub(300)..].chars().take(600).collect();
            panic!("{what} contains the secret {s:?}:\n{excerpt}");
        }
    }
}

// Current-thread runtime: serve's tasks, the sinks and the client all log into this thread's
// capturing subscriber.
#[tokio::test]
async fn no_secret_reaches_logs_error_bodies_attempt_records_or_debug() {
    let logs = LogBuffer::default();
    let _guard = logs.install();
    let mut config = ServeConfig::new("127.0.0.1:0".parse().unwrap(), Secret::new(ADMIN));
    config.workers = 2;
    let config_debug = format!("{config:?}");
    let running = serve::start(config).await.unwrap();
    let base = format!("http://{}", running.addr);
    let http = reqwest::Client::new();
    let mut seen = Seen::default();
    let admin = |m: reqwest::Method, path: &str| {
        http.request(m, format!("{base}{path}")).bearer_auth(ADMIN)
    };

    // Given sources with every kind of verification
    let sources = [
        json!({"id": "by-path", "provider": "hipcall", "verification": {"type": "token", "token": PATH_TOKEN, "location": "path"}}),
        json!({"id": "by-query", "provider": "hipcall", "verification": {"type": "token", "token": QUERY_TOKEN, "location": "query"}}),
        json!({"id": "by-header", "provider": "hipcall", "verification": {"type": "token", "token": HEADER_TOKEN, "location": "header"}}),
        json!({"id": "by-hmac", "provider": "hipcall", "verification": {"type": "hmac", "secret": HMAC_KEY, "header": "x-signature", "encoding": "hex", "prefix": "sha256="}}),
        json!({"id": "by-basic", "provider": "hipcall", "verification": {"type": "basic", "username": "hipcall", "password": BASIC_PASSWORD}}),
        json!({"id": "by-twilio", "provider": "hipcall", "verification": {"type": "twilio", "auth_token": TWILIO_TOKEN}}),
        json!({"id": "by-plivo", "provider": "hipcall", "verification": {"type": "plivo", "auth_token": PLIVO_TOKEN}}),
        json!({"id": "by-vonage", "provider": "hipcall", "verification": {"type": "vonage", "signature_secret": VONAGE_SECRET}}),
        json!({"id": "by-body-token", "provider": "hipcall", "verification": {"type": "body_token", "field": "token", "token": AIRCALL_TOKEN}}),
    ];
    for s in &sources {
        let r = admin(reqwest::Method::POST, "/admin/sources")
            .body(s.to_string())
            .send()
            .await
            .unwrap();
        let (status, json) = seen.keep(r).await;
        assert_eq!(status, 201, "{json}");
    }
    // And a subscription whose requests carry credentials (headers and a URL token)
    let sink = Sink::start().await;
    let r = admin(reqwest::Method::POST, "/admin/subscriptions")
        .body(
            json!({
                "url": sink.url(&format!("/crm?token={URL_TOKEN}&team=ops")),
                "event_types": ["*"],
                "headers": {"Authorization": format!("Bearer {SUB_AUTH}"), "X-Api-Key": SUB_API_KEY, "X-Team": "ops"},
            })
            .to_string(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    // (the one answer that shows the signing secret, once, by design: not kept in `seen`)
    let created: Value = r.json().await.unwrap();
    let whsec = created["secret"].as_str().unwrap().to_owned();
    assert!(whsec.starts_with("whsec_"));
    let sub_id = created["id"].as_str().unwrap().to_owned();

    // When providers post webhooks, correctly verified and not
    let hook = |path: &str| http.post(format!("{base}/hooks/{path}"));
    let mut accepted = Vec::new();
    let good = [
        hook(&format!("by-path/{PATH_TOKEN}")).body(call_end(1)),
        hook(&format!("by-query?token={QUERY_TOKEN}&event=call_hangup")).body(call_end(2)),
        hook("by-header")
            .header("x-switchboard-token", HEADER_TOKEN)
            .body(call_end(3)),
        hook("by-hmac")
            .header("x-signature", format!("sha256={}", hmac_hex(&call_end(4))))
            .body(call_end(4)),
        hook("by-basic")
            .basic_auth("hipcall", Some(BASIC_PASSWORD))
            .body(call_end(5)),
        {
            let q = format!("bodySHA256={}", sha256_hex(&call_end(10)));
            let url = format!("{base}/hooks/by-twilio?{q}");
            hook(&format!("by-twilio?{q}"))
                .header("x-twilio-signature", twilio_signature(TWILIO_TOKEN, &url))
                .body(call_end(10))
        },
        hook("by-plivo")
            .header("x-plivo-signature-v3-nonce", "n0nce")
            .header(
                "x-plivo-signature-v3",
                plivo_signature(PLIVO_TOKEN, &format!("{base}/hooks/by-plivo"), "n0nce"),
            )
            .body(call_end(11)),
        hook("by-vonage")
            .bearer_auth(vonage_jwt(VONAGE_SECRET, &call_end(12)))
            .body(call_end(12)),
        hook("by-body-token").body(with_body_token(&call_end(13), AIRCALL_TOKEN)),
    ];
    for req in good {
        let r = req
            .header("content-type", "application/json")
            .send()
            .await
            .unwrap();
        let (status, json) = seen.keep(r).await;
        assert_eq!(status, 202, "{json}");
        accepted.push(json["id"].as_str().unwrap().to_owned());
    }
    let near_miss = |s: &str| format!("{s}x");
    let bad = [
        hook(&format!("by-path/{}", near_miss(PATH_TOKEN))),
        hook("by-path"),
        hook(&format!("by-query?token={}", near_miss(QUERY_TOKEN))),
        hook("by-header").header("x-switchboard-token", near_miss(HEADER_TOKEN)),
        hook("by-hmac").header("x-signature", format!("sha256={}", hmac_hex("other"))),
        hook("by-hmac").header("x-signature", "sha256=zz"),
        hook("by-basic").basic_auth("hipcall", Some(near_miss(BASIC_PASSWORD))),
        hook("by-basic").header(
            "authorization",
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode("nocolon")
            ),
        ),
        hook("by-twilio").header(
            "x-twilio-signature",
            twilio_signature(&near_miss(TWILIO_TOKEN), &format!("{base}/hooks/by-twilio")),
        ),
        hook("by-plivo")
            .header("x-plivo-signature-v3-nonce", "n0nce")
            .header(
                "x-plivo-signature-v3",
                plivo_signature(
                    &near_miss(PLIVO_TOKEN),
                    &format!("{base}/hooks/by-plivo"),
                    "n0nce",
                ),
            ),
        hook("by-vonage").bearer_auth(vonage_jwt(&near_miss(VONAGE_SECRET), &call_end(9))),
        hook("by-vonage").bearer_auth(VONAGE_SECRET),
    ];
    let bad_body_token =
        hook("by-body-token").body(with_body_token(&call_end(9), &near_miss(AIRCALL_TOKEN)));
    let r = bad_body_token.send().await.unwrap();
    let (status, json) = seen.keep(r).await;
    assert_eq!(status, 401, "{json}");
    for req in bad {
        let r = req.body(call_end(9)).send().await.unwrap();
        let (status, json) = seen.keep(r).await;
        assert_eq!(status, 401, "{json}");
        assert_eq!(json["error"]["code"], "unauthorized");
    }

    // And a replay of an HMAC-signed request with another body is refused
    let r = hook("by-hmac")
        .header("x-signature", format!("sha256={}", hmac_hex(&call_end(4))))
        .body(call_end(6))
        .send()
        .await
        .unwrap();
    assert_eq!(seen.keep(r).await.0, 401);

    // Then every accepted event is delivered, with the subscription's credentials sent to it
    assert!(crate::support::eventually(20, || async { sink.count() == accepted.len() }).await);
    let got = sink.received();
    assert!(got.iter().all(|r| r.headers["authorization"]
        .to_str()
        .unwrap()
        .ends_with(SUB_AUTH)));
    assert!(got
        .iter()
        .all(|r| r.path_and_query.contains(URL_TOKEN) && r.headers["x-api-key"] == SUB_API_KEY));

    // And admin calls, right and wrong, answer without echoing any secret
    let reads = [
        "/admin/sources".to_owned(),
        "/admin/sources/by-hmac".to_owned(),
        "/admin/sources/by-basic".to_owned(),
        "/admin/sources/by-twilio".to_owned(),
        "/admin/sources/by-vonage".to_owned(),
        "/admin/sources/by-body-token".to_owned(),
        "/admin/subscriptions".to_owned(),
        format!("/admin/subscriptions/{sub_id}"),
        format!("/admin/deliveries?subscription_id={sub_id}"),
        format!("/admin/events/{}", accepted[1]),
        format!("/admin/deliveries?event_id={}", accepted[0]),
    ];
    for path in &reads {
        let r = admin(reqwest::Method::GET, path).send().await.unwrap();
        let (status, json) = seen.keep(r).await;
        assert_eq!(status, 200, "{path}: {json}");
    }
    for auth in [
        format!("Bearer {}", near_miss(ADMIN)),
        format!("Basic {ADMIN}"),
        format!("bearer{ADMIN}"),
        ADMIN.to_owned(),
    ] {
        let r = http
            .get(format!("{base}/admin/sources"))
            .header("authorization", auth)
            .send()
            .await
            .unwrap();
        assert_eq!(seen.keep(r).await.0, 401);
    }
    let r = http
        .get(format!("{base}/admin/sources?token={ADMIN}"))
        .send()
        .await
        .unwrap();
    assert_eq!(seen.keep(r).await.0, 401);
    let r = admin(
        reqwest::Method::PATCH,
        &format!("/admin/subscriptions/{sub_id}"),
    )
    .body(json!({"headers": {"Authorization": 42}}).to_string())
    .send()
    .await
    .unwrap();
    assert_eq!(seen.keep(r).await.0, 400);

    // Collect what the store holds, and Debug output of everything that carries a secret
    let ports = running.ports.clone();
    let mut records = String::new();
    let mut debug = vec![config_debug];
    for id in &accepted {
        let page = PageRequest {
            limit: 100,
            cursor: None,
        };
        let attempts = ports
            .deliveries
            .list_by_event(id, &page)
            .await
            .unwrap()
            .items;
        assert_eq!(attempts.len(), 1);
        records.push_str(&serde_json::to_string(&attempts).unwrap());
        debug.push(format!("{attempts:?}"));
        let event = ports.events.get(id).await.unwrap().unwrap();
        records.push_str(&serde_json::to_string(&event).unwrap());
        debug.push(format!("{event:?}"));
    }
    for s in ports.sources.list().await.unwrap() {
        debug.push(format!("{s:?}"));
        debug.push(format!("{:?}", s.verification));
    }
    for s in ports.subscriptions.list().await.unwrap() {
        debug.push(format!("{s:?}"));
    }
    debug.push(format!(
        "{:?}",
        switchboard_core::api::AdminAuth::Bearer(Secret::new(ADMIN))
    ));
    assert_eq!(running.stop().await, 0);
    drop(_guard);

    let secrets = [
        ADMIN,
        PATH_TOKEN,
        QUERY_TOKEN,
        HEADER_TOKEN,
        HMAC_KEY,
        BASIC_PASSWORD,
        SUB_AUTH,
        SUB_API_KEY,
        URL_TOKEN,
        TWILIO_TOKEN,
        PLIVO_TOKEN,
        VONAGE_SECRET,
        AIRCALL_TOKEN,
        &whsec,
        // the part after the prefix, in case something strips it
        whsec.trim_start_matches("whsec_"),
    ];
    let log_text = logs.text();
    let _ = std::fs::write(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/secrets-test.log"),
        &log_text,
    );
    assert!(
        log_text.contains("accepted") && log_text.contains("attempt"),
        "the capture works: {}",
        &log_text[..log_text.len().min(2000)]
    );
    assert!(log_text.contains(&accepted[0]), "logs name the event ids");
    assert_clean("the logs", &log_text, &secrets);
    for body in &seen.bodies {
        if body.starts_with('4') || body.starts_with('5') {
            assert_clean("an error body", body, &secrets);
        } else {
            // The admin view of a subscription shows its URL as the operator entered it
            // (the console edits it from there); every other secret is hidden in it too.
            let others: Vec<&str> = secrets
                .iter()
                .copied()
                .filter(|s| *s != URL_TOKEN)
                .collect();
            assert_clean("an API answer", body, &others);
        }
    }
    assert_clean("attempt and event records", &records, &secrets);
    assert!(records.contains("[redacted]"), "{records}");
    for d in &debug {
        assert_clean("Debug output", d, &secrets);
    }
}

/// Sends a request line as written (no client normalising `..` or `//`); returns the status.
async fn raw_status(addr: std::net::SocketAddr, request: &str) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut head = vec![0u8; 64];
    let n = stream.read(&mut head).await.unwrap();
    let text = String::from_utf8_lossy(&head[..n]).into_owned();
    text.split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

#[tokio::test]
async fn admin_routes_are_unreachable_without_the_token_whatever_the_path_spelling() {
    let running = serve::start(ServeConfig::new(
        "127.0.0.1:0".parse().unwrap(),
        Secret::new(ADMIN),
    ))
    .await
    .unwrap();
    let paths = [
        "/admin/sources",
        "//admin/sources",
        "/admin//sources",
        "/admin/sources/",
        "/./admin/sources",
        "/hooks/../admin/sources",
        "/hooks/x/../../admin/sources",
        "/%61dmin/sources",
        "/ADMIN/sources",
        "/admin%2Fsources",
        "/admin/openapi.json",
        "http://127.0.0.1/admin/sources",
    ];
    for path in paths {
        for auth in [
            "",
            "Authorization: Bearer \r\n",
            "Authorization: Bearer wrong\r\n",
        ] {
            let status = raw_status(
                running.addr,
                &format!(
                    "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}Connection: close\r\n\r\n"
                ),
            )
            .await;
            assert!(
                status == 401 || status == 404 || status == 400,
                "{path} with {auth:?}: {status}"
            );
        }
    }
    // And with the token the canonical path answers
    let status = raw_status(
        running.addr,
        &format!("GET /admin/sources HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {ADMIN}\r\nConnection: close\r\n\r\n"),
    )
    .await;
    assert_eq!(status, 200);
    running.stop().await;
}
