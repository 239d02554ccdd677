//! Bad input at every external surface: ingest and the admin API over real HTTP (`serve`),
//! the admin API over the AWS adapters, and SQS message bodies handed to dispatch. Each gets
//! a clear JSON error with its status (or, at ingest, is accepted and kept raw); nothing
//! panics; nothing already accepted is lost. (CLI arguments: cli/tests/bad_args.rs.)

use crate::support::{self, aws, sink::Sink, ADMIN_TOKEN, HIPCALL_CALL_HANGUP};
use std::sync::Arc;
use std::time::{Duration, Instant};
use switchboard_cli::serve::{self, Running};
use switchboard_core::adapters::memory::MemoryQueue;
use switchboard_core::dispatch::{BatchRecord, Dispatcher};
use switchboard_core::domain::attempt::{AttemptStatus, ErrorKind};
use switchboard_core::domain::{QueueMessage, StoredEvent};
use switchboard_core::state::{Compose, Ports};

struct Served {
    running: Running,
    base: String,
    http: reqwest::Client,
    sink: Sink,
}

/// serve with a Hipcall source (`hipcall-main`, no verification) and a raw subscriber to `*`.
async fn served() -> Served {
    let config = switchboard_test_support::serve::config();
    let running = serve::start(config).await.unwrap();
    let base = format!("http://{}", running.addr);
    let http = reqwest::Client::new();
    let sink = Sink::start().await;
    let s = Served {
        running,
        base,
        http,
        sink,
    };
    let (status, json) = s
        .admin(
            "POST",
            "/admin/sources",
            r#"{"id":"hipcall-main","provider":"hipcall","verification":{"type":"none"}}"#,
        )
        .await;
    assert_eq!(status, 201, "{json}");
    let (status, json) = s
        .admin(
            "POST",
            "/admin/subscriptions",
            &serde_json::json!({"url": s.sink.url("/raw"), "event_types": ["*"], "format": "raw"})
                .to_string(),
        )
        .await;
    assert_eq!(status, 201, "{json}");
    s
}

impl Served {
    async fn send(&self, req: reqwest::RequestBuilder) -> (u16, serde_json::Value) {
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        let ct = r
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned());
        let bytes = r.bytes().await.unwrap();
        let json = if bytes.is_empty() {
            serde_json::Value::Null
        } else {
            assert_eq!(ct.as_deref(), Some("application/json"), "{status}");
            serde_json::from_slice(&bytes).unwrap()
        };
        if status >= 400 {
            assert_error_shape(status, &json);
        }
        (status, json)
    }

    async fn admin(&self, method: &str, path: &str, body: &str) -> (u16, serde_json::Value) {
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        self.send(
            self.http
                .request(m, format!("{}{path}", self.base))
                .bearer_auth(ADMIN_TOKEN)
                .body(body.to_owned()),
        )
        .await
    }

    fn hook(&self, path_and_query: &str) -> reqwest::RequestBuilder {
        self.http
            .post(format!("{}/hooks/{path_and_query}", self.base))
    }

    /// The server still answers (it did not die on the previous input).
    async fn alive(&self) {
        let (status, _) = self.admin("GET", "/admin/sources", "").await;
        assert_eq!(status, 200);
    }
}

fn assert_error_shape(status: u16, json: &serde_json::Value) {
    let code = json["error"]["code"].as_str().unwrap_or_default();
    let message = json["error"]["message"].as_str().unwrap_or_default();
    assert!(
        !code.is_empty() && code.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
        "{status}: {json}"
    );
    assert!(!message.is_empty(), "{status}: {json}");
    assert!(status < 500 || status == 503, "{status}: {json}");
}

fn nested(depth: usize) -> String {
    format!(
        r#"{{"event":"call_hangup","data":{{"uuid":"deep-{depth}","x":{}{}}}}}"#,
        "[".repeat(depth),
        "]".repeat(depth)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingest_keeps_every_body_it_accepts_and_refuses_the_rest_with_json_errors() {
    let s = served().await;
    let call_end = HIPCALL_CALL_HANGUP.to_owned();
    // Bodies that are accepted (202) and must reach the raw subscriber byte for byte.
    let mut accepted: Vec<(String, Vec<u8>)> = Vec::new();
    let cases: Vec<(&str, Option<&str>, Vec<u8>)> = vec![
        (
            "malformed JSON",
            Some("application/json"),
            b"{\"event\": \"call_hangup\", oops".to_vec(),
        ),
        (
            "JSON labelled text/plain",
            Some("text/plain"),
            call_end.replace("call_hangup", "call_answer").into_bytes(),
        ),
        (
            "no content type",
            None,
            call_end.replace("2483a75a", "3483a75a").into_bytes(),
        ),
        (
            "form labelled JSON",
            Some("application/json"),
            b"event=call_hangup&uuid=1".to_vec(),
        ),
        ("content type garbage", Some(";;;/\t"), b"{}".to_vec()),
        (
            "invalid UTF-8",
            Some("application/json"),
            b"{\"event\": \"\xff\xfe\"}".to_vec(),
        ),
        (
            "invalid UTF-8 form",
            Some("application/x-www-form-urlencoded"),
            b"a=\xff&b=%ZZ".to_vec(),
        ),
        (
            "binary",
            Some("application/octet-stream"),
            (0..=255u8).collect(),
        ),
        ("empty", Some("application/json"), Vec::new()),
        ("JSON null", Some("application/json"), b"null".to_vec()),
        (
            "JSON string",
            Some("application/json"),
            b"\"call_hangup\"".to_vec(),
        ),
        (
            "100k [",
            Some("application/json"),
            "[".repeat(100_000).into_bytes(),
        ),
        (
            "100k {\"a\":",
            Some("application/json"),
            "{\"a\":".repeat(100_000).into_bytes(),
        ),
        (
            "nested 64",
            Some("application/json"),
            nested(64).into_bytes(),
        ),
        (
            "nested 120",
            Some("application/json"),
            nested(120).into_bytes(),
        ),
        (
            "nested 121",
            Some("application/json"),
            nested(121).into_bytes(),
        ),
        (
            "nested 122",
            Some("application/json"),
            nested(122).into_bytes(),
        ),
        (
            "nested 123",
            Some("application/json"),
            nested(123).into_bytes(),
        ),
        (
            "nested 124",
            Some("application/json"),
            nested(124).into_bytes(),
        ),
        (
            "nested 125",
            Some("application/json"),
            nested(125).into_bytes(),
        ),
        (
            "nested 126",
            Some("application/json"),
            nested(126).into_bytes(),
        ),
        (
            "nested 127",
            Some("application/json"),
            nested(127).into_bytes(),
        ),
        (
            "nested 500",
            Some("application/json"),
            nested(500).into_bytes(),
        ),
        (
            "huge number",
            Some("application/json"),
            format!(
                "{{\"event\":\"call_hangup\",\"data\":{{\"uuid\":\"n\",\"duration\":1{}}}}}",
                "0".repeat(5000)
            )
            .into_bytes(),
        ),
        (
            "1 MiB less 1",
            Some("application/json"),
            vec![b'x'; 1024 * 1024 - 1],
        ),
    ];
    for (what, ct, body) in cases {
        let mut req = s.hook("hipcall-main?event=call_hangup").body(body.clone());
        if let Some(ct) = ct {
            req = req.header("content-type", ct);
        }
        let (status, json) = s.send(req).await;
        assert!(status == 202 || status == 200, "{what}: {status} {json}");
        if status == 202 {
            accepted.push((json["id"].as_str().unwrap().to_owned(), body));
        }
    }

    // Refused, with the right status and a JSON error
    let refusals: Vec<(&str, reqwest::RequestBuilder, u16, &str)> = vec![
        (
            "over the source limit",
            s.hook("hipcall-main").body(vec![b'x'; 1024 * 1024 + 1]),
            413,
            "payload_too_large",
        ),
        (
            "over the server limit",
            s.hook("hipcall-main").body(vec![b'x'; 9 * 1024 * 1024]),
            413,
            "payload_too_large",
        ),
        (
            "unknown source",
            s.hook("nobody").body("{}"),
            404,
            "unknown_source",
        ),
        (
            "traversal-looking source",
            s.hook("..%2F..%2Fadmin%2Fsources").body("{}"),
            404,
            "unknown_source",
        ),
        (
            "encoded NUL source",
            s.hook("hipcall-main%00").body("{}"),
            404,
            "unknown_source",
        ),
        (
            "long source",
            s.hook(&"a".repeat(5000)).body("{}"),
            404,
            "unknown_source",
        ),
        (
            "DELETE",
            s.http.delete(format!("{}/hooks/hipcall-main", s.base)),
            405,
            "method_not_allowed",
        ),
        (
            "PATCH",
            s.http.patch(format!("{}/hooks/hipcall-main", s.base)),
            405,
            "method_not_allowed",
        ),
        (
            "extra segments",
            s.hook("hipcall-main/a/b/c").body("{}"),
            404,
            "not_found",
        ),
    ];
    for (what, req, want, code) in refusals {
        let (status, json) = s.send(req).await;
        assert_eq!(
            (status, json["error"]["code"].as_str().unwrap_or("")),
            (want, code),
            "{what}: {json}"
        );
    }
    // A token segment on a source that has no token is refused, not taken as an event name
    let (status, json) = s.send(s.hook("hipcall-main/sometoken").body("{}")).await;
    assert_eq!(
        status, 202,
        "a source without verification ignores the segment"
    );
    accepted.push((json["id"].as_str().unwrap().to_owned(), b"{}".to_vec()));

    // Huge query strings: accepted up to what the HTTP layer reads, refused cleanly beyond
    for len in [8 * 1024, 60 * 1024, 2 * 1024 * 1024] {
        let q = format!("event=call_hangup&pad={}", "q".repeat(len));
        let r = s
            .hook(&format!("hipcall-main?{q}"))
            .body("not json")
            .send()
            .await;
        match r {
            Ok(r) => {
                let status = r.status().as_u16();
                assert!(
                    status == 202 || status == 414 || status == 431,
                    "query of {len}: {status}"
                );
                if status == 202 {
                    let json: serde_json::Value = r.json().await.unwrap();
                    accepted.push((
                        json["id"].as_str().unwrap().to_owned(),
                        b"not json".to_vec(),
                    ));
                }
            }
            // The server may close the connection on a head it will not read.
            Err(e) => assert!(len > 64 * 1024, "query of {len}: {e}"),
        }
    }
    s.alive().await;

    // Then every accepted body reaches the raw subscriber byte for byte, nothing dead-letters
    let want = accepted.len();
    let delivered = support::eventually(30, || async { s.sink.count() >= want }).await;
    assert!(
        delivered,
        "{} of {want} delivered; dead letters: {:?}",
        s.sink.count(),
        support::dead_letters(&s.running.queue)
            .await
            .iter()
            .map(|d| d.chars().take(200).collect::<String>())
            .collect::<Vec<_>>()
    );
    let got = s.sink.received();
    for (id, body) in &accepted {
        let r = got
            .iter()
            .find(|r| {
                r.headers["webhook-id"]
                    .to_str()
                    .unwrap()
                    .starts_with(&format!("{id}_"))
            })
            .unwrap_or_else(|| panic!("{id} not delivered"));
        assert_eq!(&r.body[..], &body[..], "{id}");
    }
    assert_eq!(got.len(), want, "nothing refused was delivered");
    assert!(support::dead_letters(&s.running.queue).await.is_empty());
    // And each is on record: the admin API shows the event with its raw body
    for (id, _) in &accepted {
        let (status, json) = s.admin("GET", &format!("/admin/events/{id}"), "").await;
        assert_eq!(status, 200, "{id}: {json}");
    }
    assert_eq!(s.running.stop().await, 0);
}

#[tokio::test]
async fn provider_retries_and_replays_are_one_event() {
    let s = served().await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        let (status, json) = s
            .send(
                s.hook("hipcall-main")
                    .header("content-type", "application/json")
                    .body(HIPCALL_CALL_HANGUP),
            )
            .await;
        assert!(status == 202 || status == 200, "{json}");
        ids.push(json["id"].as_str().unwrap().to_owned());
    }
    assert!(ids.iter().all(|id| *id == ids[0]));
    assert!(support::eventually(10, || async { s.sink.count() == 1 }).await);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(s.sink.count(), 1);
    s.running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_api_answers_bad_input_with_json_errors() {
    let s = served().await;
    let long = "x".repeat(100_000);
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let deep_obj = format!("{}1{}", "{\"a\":".repeat(100_000), "}".repeat(100_000));
    let bad_bodies: Vec<(&str, &str, Vec<u8>)> = vec![
        ("POST", "/admin/sources", b"{".to_vec()),
        ("POST", "/admin/sources", b"".to_vec()),
        ("POST", "/admin/sources", b"null".to_vec()),
        ("POST", "/admin/sources", b"[]".to_vec()),
        ("POST", "/admin/sources", b"{\"id\": \"\xff\xfe\", \"provider\": \"hipcall\", \"verification\": {\"type\": \"none\"}}".to_vec()),
        ("POST", "/admin/sources", deep.clone().into_bytes()),
        ("POST", "/admin/sources", deep_obj.clone().into_bytes()),
        ("POST", "/admin/sources", br#"{"id":"../../etc/passwd","provider":"hipcall","verification":{"type":"none"}}"#.to_vec()),
        ("POST", "/admin/sources", format!(r#"{{"id":"{long}","provider":"hipcall","verification":{{"type":"none"}}}}"#).into_bytes()),
        ("POST", "/admin/sources", br#"{"id":"ok","provider":"nope","verification":{"type":"none"}}"#.to_vec()),
        ("POST", "/admin/sources", br#"{"id":"ok","provider":"hipcall","verification":{"type":"token"}}"#.to_vec()),
        ("POST", "/admin/sources", br#"{"id":"ok","provider":"hipcall","verification":{"type":"none"},"body_limit_bytes":-1}"#.to_vec()),
        ("POST", "/admin/sources", br#"{"id":"ok","provider":"hipcall","verification":{"type":"none"},"timezone":"Mars/Olympus"}"#.to_vec()),
        ("POST", "/admin/subscriptions", b"{".to_vec()),
        ("POST", "/admin/subscriptions", deep.into_bytes()),
        ("POST", "/admin/subscriptions", br#"{"url":"file:///etc/passwd","event_types":["*"]}"#.to_vec()),
        ("POST", "/admin/subscriptions", br#"{"url":"http://169.254.169.254/latest/meta-data","event_types":["*"]}"#.to_vec()),
        ("POST", "/admin/subscriptions", br#"{"url":"http://[::ffff:10.0.0.1]/x","event_types":["*"]}"#.to_vec()),
        ("POST", "/admin/subscriptions", br#"{"url":"not a url","event_types":["*"]}"#.to_vec()),
        ("POST", "/admin/subscriptions", format!(r#"{{"url":"http://127.0.0.1/{long}","event_types":["*"],"headers":{{"x":"{long}"}}}}"#).into_bytes()),
        ("POST", "/admin/subscriptions", br#"{"url":"http://127.0.0.1/x","event_types":["*"],"headers":{"bad header":"v"}}"#.to_vec()),
        ("POST", "/admin/subscriptions", br#"{"url":"http://127.0.0.1/x","event_types":["*"],"headers":{"x":"line\r\nbreak"}}"#.to_vec()),
        ("POST", "/admin/subscriptions", br#"{"url":"http://127.0.0.1/x","event_types":["*"],"timeout_ms":-5}"#.to_vec()),
        ("POST", "/admin/subscriptions", br#"{"url":"http://127.0.0.1/x","event_types":["*"],"retry_schedule_secs":[1e30]}"#.to_vec()),
        ("POST", "/admin/replay", b"{}".to_vec()),
        ("POST", "/admin/replay", br#"{"event_id":"../../../etc/passwd"}"#.to_vec()),
        ("POST", "/admin/replay", br#"{"subscription_id":"sub_x","since":"yesterday"}"#.to_vec()),
        ("PATCH", "/admin/sources/hipcall-main", b"{\"provider\":".to_vec()),
    ];
    for (method, path, body) in bad_bodies {
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let (status, json) = s
            .send(
                s.http
                    .request(m, format!("{}{path}", s.base))
                    .bearer_auth(ADMIN_TOKEN)
                    .body(body.clone()),
            )
            .await;
        let shown: String = String::from_utf8_lossy(&body).chars().take(80).collect();
        assert!(
            (400..500).contains(&status),
            "{method} {path} {shown}: {status} {json}"
        );
    }

    // Ids that look like paths, or are huge, are simply not found
    let enc = |s: &str| s.replace('/', "%2F");
    let ids = [
        enc("../../etc/passwd"),
        "..".to_owned(),
        "%2e%2e".to_owned(),
        "a%00b".to_owned(),
        "%FF%FE".to_owned(),
        "x".repeat(5000),
        enc("hipcall-main/../hipcall-main"),
    ];
    for id in &ids {
        for base in ["/admin/sources", "/admin/subscriptions", "/admin/events"] {
            let (status, json) = s.admin("GET", &format!("{base}/{id}"), "").await;
            assert_eq!(status, 404, "{base}/{}: {json}", &id[..id.len().min(40)]);
            let (status, json) = s.admin("DELETE", &format!("{base}/{id}"), "").await;
            assert!(
                status == 404 || status == 405,
                "DELETE {base}: {status} {json}"
            );
        }
    }
    let (status, _) = s.admin("GET", "/admin/sources/hipcall-main", "").await;
    assert_eq!(status, 200, "the real source is untouched");

    // Bad and huge filters
    let filters = [
        "/admin/deliveries?since=yesterday".to_owned(),
        "/admin/deliveries?status=sort-of".to_owned(),
        "/admin/deliveries?cursor=%FF%FE%FD".to_owned(),
        "/admin/deliveries?cursor=eyJ9".to_owned(),
        format!("/admin/deliveries?cursor={}", "A".repeat(50_000)),
        "/admin/events?since=2024-13-45T99:99:99Z".to_owned(),
        format!("/admin/events?call_id={}", "c".repeat(50_000)),
        format!(
            "/admin/deliveries?event_id={}&event_id=x",
            "e".repeat(50_000)
        ),
    ];
    for path in &filters {
        let (status, json) = s.admin("GET", path, "").await;
        assert!(
            status == 400 || status == 200,
            "{}: {status} {json}",
            &path[..path.len().min(60)]
        );
    }
    // Unknown routes and methods
    for (method, path, want) in [
        ("GET", "/admin/nothing", [404, 404]),
        ("PUT", "/admin/sources", [405, 405]),
        ("GET", "/admin/sources/a/b/c", [404, 405]),
        ("GET", "/hooks", [404, 404]),
    ] {
        let (status, _) = s.admin(method, path, "").await;
        assert!(want.contains(&status), "{method} {path}: {status}");
    }
    s.alive().await;
    s.running.stop().await;
}

#[tokio::test]
async fn admin_ids_too_long_for_dynamodb_keys_are_not_found_not_unavailable() {
    // DynamoDB refuses keys over 2 KiB: a caller-supplied id that long is a 404, not a 503
    let sdk = aws::sdk().await;
    let names = aws::resources(&sdk, 30).await;
    let app = support::app(Ports::aws(&sdk, &names));
    let long = "x".repeat(3000);
    for path in [
        format!("/admin/sources/{long}"),
        format!("/admin/subscriptions/{long}"),
        format!("/admin/events/{long}"),
    ] {
        let (status, json) = support::get(&app, &path).await;
        assert_eq!(status, 404, "{}: {json}", &path[..30]);
        let (status, json) = support::delete(&app, &path).await;
        assert!(status == 404 || status == 405, "{}: {json}", &path[..30]);
    }
    let (status, json) = support::get(&app, &format!("/admin/deliveries?event_id={long}")).await;
    assert!(status == 200 || status == 400, "{json}");
    let (status, json) = support::call(
        &app,
        "POST",
        "/admin/replay",
        None,
        serde_json::json!({"event_id": long}).to_string(),
    )
    .await;
    assert!(status == 404 || status == 400, "{json}");
}

// ---- SQS message bodies -------------------------------------------------------------

fn event_with_id(id: &str) -> StoredEvent {
    let mut e: StoredEvent = serde_json::from_value(serde_json::json!({
        "envelope": {"id": id, "type": "call.ended", "source": "hipcall-main", "received_at": "2024-11-17T10:41:00Z"},
        "raw": {"method": "POST", "body": ""}
    }))
    .unwrap();
    e.envelope.id = id.to_owned();
    e
}

#[tokio::test]
async fn dispatch_fails_only_the_undecodable_messages_of_a_batch() {
    // Given a subscriber to everything, and a batch mixing good and bad bodies
    let queue = Arc::new(MemoryQueue::new(Duration::from_secs(30), 5));
    let ports = Ports::in_memory(queue);
    let app = support::app(ports.clone());
    let sink = Sink::start().await;
    support::create_subscription(
        &app,
        serde_json::json!({"url": sink.url("/all"), "event_types": ["*"]}),
    )
    .await;
    let good = |id: &str| {
        QueueMessage::Event {
            event: std::sync::Arc::new(event_with_id(id)),
        }
        .to_json()
        .unwrap()
    };
    let bad: Vec<String> = vec![
        String::new(),
        "null".into(),
        "[]".into(),
        "{}".into(),
        "\u{0}".into(),
        "{\"kind\":\"unknown\"}".into(),
        "{\"kind\":\"event\"}".into(),
        "{\"kind\":\"deliver\",\"event_id\":\"e\",\"subscription_id\":\"s\",\"attempt\":-1,\"trigger\":\"retry\"}".into(),
        "{\"kind\":\"deliver\",\"event_id\":\"e\",\"subscription_id\":\"s\",\"attempt\":4294967296,\"trigger\":\"retry\"}".into(),
        "{\"kind\":\"deliver\",\"event_id\":\"e\",\"subscription_id\":\"s\",\"attempt\":1,\"trigger\":\"sideways\"}".into(),
        good("evt_x").replace("\"body\":\"\"", "\"body\":\"not base64!\""),
        "[".repeat(100_000),
        "\"".repeat(3),
        String::from_utf8_lossy(b"\xff\xfe{}").into_owned(),
    ];
    let ok = ["evt_good1", "../../etc/passwd", "evt_good2"];
    let mut records: Vec<BatchRecord> = Vec::new();
    for (i, body) in bad.iter().enumerate() {
        records.push(BatchRecord {
            message_id: format!("bad-{i}"),
            body: body.clone(),
            trace: None,
        });
    }
    for (i, id) in ok.iter().enumerate() {
        records.push(BatchRecord {
            message_id: format!("ok-{i}"),
            body: good(id),
            trace: None,
        });
    }
    // A retry for an event or subscription that does not exist is done (nothing to deliver)
    records.push(BatchRecord {
        message_id: "gone".into(),
        body: "{\"kind\":\"deliver\",\"event_id\":\"evt_none\",\"subscription_id\":\"sub_none\",\"attempt\":2,\"trigger\":\"retry\"}".into(),
        trace: None,
    });

    // When dispatch handles the batch
    let dispatcher = Dispatcher::from_settings(ports.clone(), support::settings()).unwrap();
    let started = Instant::now();
    let mut failed = dispatcher.handle_batch(records).await;
    failed.sort();

    // Then exactly the bad ones are reported failed, and the good ones are delivered
    let mut want: Vec<String> = (0..bad.len()).map(|i| format!("bad-{i}")).collect();
    want.sort();
    assert_eq!(failed, want);
    assert_eq!(sink.count(), ok.len());
    assert!(started.elapsed() < Duration::from_secs(10));
    for id in ok {
        let a = support::attempts_of(&ports, id).await;
        assert_eq!(a.len(), 1, "{id}");
        assert_eq!(a[0].status, AttemptStatus::Succeeded);
    }
}

// ---- template injection -------------------------------------------------------------

#[tokio::test]
async fn templates_cannot_reach_files_environment_or_network_and_are_bounded() {
    // Given a secret in the environment and a file the template might try to read
    let queue = Arc::new(MemoryQueue::new(Duration::from_secs(30), 5));
    let ports = Ports::in_memory(queue.clone());
    let app = support::app(ports.clone());
    support::create_source(&app, "hipcall-main", "hipcall").await;
    let sink = Sink::start().await;

    // When operators submit templates that try to escape, they are refused at create
    let escapes = [
        "{% include '/etc/passwd' %}",
        "{% import '/etc/hostname' as h %}",
        "{% extends 'file:///etc/passwd' %}",
        "{% from '/etc/passwd' import x %}",
        "{{ env('HOME') }}",
        "{{ lookup('env', 'HOME') }}",
        "{{ cycler(1) }}",
        "{{ namespace() }}",
        "{{ debug() }}",
        "{{ self.__init__ }}{{ id ~ id }}",
        "{{ id|attr('__class__') }}",
        "{{ id|safe }}",
        "{{ id|pprint }}",
        "{{ id * 1000000 }}",
        "{{ data|tojson|indent(100000) }}",
        "{% macro m() %}{{ m() }}{% endmacro %}{{ m() }}",
        "{% set x %}{{ id }}{% endset %}",
        "{% for i in range(10) %}{{ i }}{% endfor %}{{ url_for('x') }}",
    ];
    for t in escapes {
        let (status, json) = support::call(
            &app,
            "POST",
            "/admin/subscriptions",
            None,
            serde_json::json!({"url": sink.url("/t"), "event_types": ["*"], "format": "template", "template": t, "content_type": "text/plain"}).to_string(),
        )
        .await;
        assert_eq!(status, 400, "{t}: {json}");
        assert_eq!(json["error"]["code"], "invalid_template", "{t}: {json}");
    }

    // And templates that are valid but look for what they must not see render nothing of it,
    // while one that would run forever or grow without bound fails fast, without retry
    let home = std::env::var("HOME").unwrap_or_else(|_| "/root".into());
    let path_env = std::env::var("PATH").unwrap_or_default();
    let nosy = "{{ HOME }}|{{ PATH }}|{{ env }}|{{ environ }}|{{ config }}|{{ request }}|{{ self }}|{{ raw_body|length }}";
    let nosy_sub = support::create_subscription(
        &app,
        serde_json::json!({"url": sink.url("/nosy"), "event_types": ["*"], "format": "template", "template": nosy, "content_type": "text/plain"}),
    )
    .await;
    // (valid for the sample event checked at create; the real event makes them explode)
    let spin = "{% for i in range(data.n|int) %}{% for j in range(data.n|int) %}{{ i }}{% endfor %}{% endfor %}";
    let spin_sub = support::create_subscription(
        &app,
        serde_json::json!({"url": sink.url("/spin"), "event_types": ["*"], "format": "template", "template": spin, "content_type": "text/plain"}),
    )
    .await;
    let grow = "{% for i in range(data.n|int) %}{{ data.blob }}{% endfor %}";
    let grow_sub = support::create_subscription(
        &app,
        serde_json::json!({"url": sink.url("/grow"), "event_types": ["*"], "format": "template", "template": grow, "content_type": "text/plain"}),
    )
    .await;
    let body = HIPCALL_CALL_HANGUP.replacen(
        "{",
        &format!("{{\"n\": 100000, \"blob\": \"{}\",", "b".repeat(64 * 1024)),
        1,
    );
    let body_len = body.len();
    let (status, accepted) = support::post_json(&app, "/hooks/hipcall-main", body).await;
    assert_eq!(status, 202);
    let event_id = accepted["id"].as_str().unwrap();
    let dispatcher = Dispatcher::from_settings(ports.clone(), support::settings()).unwrap();
    let msgs = switchboard_core::ports::QueueConsumer::receive(&*queue, 10, Duration::ZERO)
        .await
        .unwrap();
    let started = Instant::now();
    let failed = dispatcher
        .handle_batch(msgs.iter().map(BatchRecord::from).collect())
        .await;
    assert!(failed.is_empty());
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "rendering is bounded: {:?}",
        started.elapsed()
    );
    let got = sink.received();
    assert_eq!(got.len(), 1, "only the nosy template rendered");
    let body = String::from_utf8(got[0].body.to_vec()).unwrap();
    assert!(!body.contains(&home), "{body}");
    assert!(path_env.is_empty() || !body.contains(&path_env), "{body}");
    assert!(body.starts_with("||||||"), "{body}");
    assert!(body.ends_with(&format!("|{body_len}")), "{body}");
    let attempts = support::attempts_of(&ports, event_id).await;
    for (sub, what) in [(&spin_sub, "steps"), (&grow_sub, "exceeds")] {
        let a = attempts
            .iter()
            .find(|a| a.subscription_id == sub["id"].as_str().unwrap())
            .unwrap();
        assert_eq!(a.status, AttemptStatus::Failed, "{a:?}");
        assert_eq!(a.error_kind, Some(ErrorKind::Request));
        assert!(a.error.as_deref().unwrap().contains(what), "{:?}", a.error);
    }
    let nosy_attempt = attempts
        .iter()
        .find(|a| a.subscription_id == nosy_sub["id"].as_str().unwrap())
        .unwrap();
    assert_eq!(nosy_attempt.status, AttemptStatus::Succeeded);
}

// ---- what DynamoDB cannot hold ----------------------------------------------------------

#[tokio::test]
async fn events_dynamodb_cannot_store_are_refused_at_ingest_not_lost_after_202() {
    // Given the stack on the emulator (DynamoDB items are at most 400 KB, index keys 2 KB),
    // a Hipcall source accepting bodies up to its 1 MiB default, and a subscriber
    let aws::Stack(sdk, names, ports, app) = aws::stack(1).await;
    support::create_source(&app, "hipcall-main", "hipcall").await;
    let sink = Sink::start().await;
    support::create_subscription(
        &app,
        serde_json::json!({"url": sink.url("/crm"), "event_types": ["*"]}),
    )
    .await;
    let with_field = |uuid: &str, pad: usize| {
        support::hipcall_call_hangup(uuid).replacen(
            "{",
            &format!("{{\"pad\": \"{}\",", "p".repeat(pad)),
            1,
        )
    };
    let cases = [
        ("small", with_field("u-small", 10)),
        ("100 KB", with_field("u-100k", 100_000)),
        ("250 KB", with_field("u-250k", 250_000)),
        ("600 KB", with_field("u-600k", 600_000)),
        (
            "call id of 3000 characters",
            with_field(&"c".repeat(3000), 10),
        ),
    ];
    // When each is posted: it is either accepted and then stored and delivered, or refused
    // at ingest (the provider learns it at once) — never accepted and then dead-lettered
    let mut accepted = Vec::new();
    for (what, body) in &cases {
        let (status, json) = support::post_json(&app, "/hooks/hipcall-main", body.clone()).await;
        match status {
            202 => accepted.push((*what, json["id"].as_str().unwrap().to_owned())),
            413 => assert_eq!(json["error"]["code"], "payload_too_large", "{what}"),
            _ => panic!("{what}: {status} {json}"),
        }
    }
    let names_accepted: Vec<&str> = accepted.iter().map(|(w, _)| *w).collect();
    assert!(names_accepted.contains(&"small") && names_accepted.contains(&"100 KB"));
    assert!(names_accepted.contains(&"call id of 3000 characters"));
    assert!(
        !names_accepted.contains(&"600 KB"),
        "too large for one item"
    );
    let dispatcher = Dispatcher::from_settings(ports.clone(), support::settings()).unwrap();
    let consumer = switchboard_core::adapters::aws::SqsQueue::new(
        aws_sdk_sqs::Client::new(&sdk),
        &names.queue_url,
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut failed = 0;
    while sink.count() < accepted.len() && Instant::now() < deadline {
        failed += support::lambda::dispatch_round(&dispatcher, &consumer, Duration::from_secs(1))
            .await
            .failed;
    }
    assert_eq!(
        failed, 0,
        "a message failed: an accepted event cannot be stored"
    );
    assert_eq!(sink.count(), accepted.len());
    for (what, id) in &accepted {
        let (status, json) = support::get(&app, &format!("/admin/events/{id}")).await;
        assert_eq!(status, 200, "{what}: {json}");
        let (status, json) = support::get(&app, &format!("/admin/deliveries?event_id={id}")).await;
        assert_eq!(status, 200, "{what}: {json}");
        assert_eq!(json["items"][0]["status"], "succeeded", "{what}: {json}");
    }
}
