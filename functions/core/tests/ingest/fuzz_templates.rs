//! Property tests for subscription templates: arbitrary template text built from the
//! language's own pieces (so the parser and VM are reached, not just the lexer), rendered
//! over arbitrary events. Checking and rendering never panic, stay within the output limit
//! and finish quickly; whatever `check` accepts at create time renders or fails cleanly.
//!
//! CI runs 256 cases per property; `PROPTEST_CASES=20000 cargo test -p switchboard-core
//! --release --test fuzz_templates` runs a long one.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns

use crate::common::cases;
use proptest::prelude::*;
use serde_json::{Map, Value};
use std::time::{Duration, Instant};
use switchboard_core::delivery::render::render as render_body;
use switchboard_core::delivery::template::{
    check, context, render, sample_envelope, MAX_OUTPUT_BYTES,
};
use switchboard_core::domain::envelope::{Envelope, RawRequest, StoredEvent};
use switchboard_core::domain::subscription::{Format, Method};
use switchboard_core::domain::Subscription;
use switchboard_core::redact::Secret;

/// Fragments of the template language, including what the sandbox must refuse.
const PIECES: &[&str] = &[
    "{{ ",
    " }}",
    "{% ",
    " %}",
    "{# ",
    " #}",
    "{%- ",
    " -%}",
    "for ",
    " in ",
    "endfor",
    "if ",
    "elif ",
    "else",
    "endif",
    "set ",
    "endset",
    "with ",
    "endwith",
    "macro ",
    "endmacro",
    "call ",
    "include ",
    "import ",
    "extends ",
    "block ",
    "endblock",
    "filter ",
    "endfilter",
    "raw",
    "endraw",
    "range(",
    "100000",
    "3",
    "-1",
    "0",
    ")",
    "(",
    ",",
    "[",
    "]",
    "{",
    "}",
    ":",
    "|",
    ".",
    "~",
    "+",
    "*",
    "**",
    "/",
    "//",
    "%",
    "-",
    "==",
    "!=",
    "<",
    ">=",
    " and ",
    " or ",
    " not ",
    " is ",
    "defined",
    "none",
    "true",
    "'x'",
    "\"y\"",
    "'%H'",
    "id",
    "type",
    "call",
    "data",
    "raw_body",
    "event",
    "loop",
    "loop.index",
    "self",
    "super()",
    "x",
    "i",
    "items",
    "tojson",
    "urlencode",
    "join",
    "replace",
    "datetimeformat",
    "upper",
    "length",
    "default",
    "sort",
    "unique",
    "int",
    "first",
    "attr",
    "safe",
    "indent",
    "env",
    "namespace",
    "cycler",
    "lipsum",
    "'/etc/passwd'",
    "\n",
    " ",
    "\u{0}",
    "é",
];

fn template() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::collection::vec(prop::sample::select(PIECES), 0..40).prop_map(|p| p.concat()),
        ".{0,80}",
        // Shapes that compile, with arbitrary parts inside.
        (prop::sample::select(PIECES), prop::sample::select(PIECES)).prop_map(|(a, b)| format!(
            "{{% for i in range(data.n|int) %}}{{{{ {a}{b} }}}}{{% endfor %}}"
        )),
        prop::sample::select(PIECES).prop_map(|f| format!("{{{{ data|{f} }}}}")),
        prop::sample::select(PIECES).prop_map(|f| format!("{{{{ raw_body|replace('a', {f}) }}}}")),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        (0u64..200_000).prop_map(Value::from),
        ".{0,24}".prop_map(Value::from),
        "x{1000,5000}".prop_map(Value::from),
    ];
    leaf.prop_recursive(5, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec(
                (
                    prop_oneof![Just("n".to_owned()), Just("tags".to_owned()), ".{0,6}"],
                    inner
                ),
                0..6
            )
            .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
        ]
    })
    .boxed()
}

fn event(data: Value, body: Vec<u8>) -> StoredEvent {
    let mut envelope: Envelope = serde_json::from_value(sample_envelope()).unwrap();
    envelope.data = Some(data.into());
    StoredEvent {
        envelope,
        raw: RawRequest {
            method: "POST".into(),
            content_type: Some("application/json".into()),
            query: Some("event=call_hangup".into()),
            body: body.into(),
        },
        dedup_key: None,
    }
}

fn subscription(template: &str, method: Method) -> Subscription {
    let t = chrono::Utc::now();
    Subscription {
        url: "http://127.0.0.1:9/x".into(),
        method,
        event_types: vec!["*".into()],
        format: Format::Template,
        template: Some(template.to_owned()),
        ..Subscription::blank("sub_fuzz", Secret::new("whsec_x"), t)
    }
}

/// Rendering must finish well inside a delivery's timeout, even in a debug build.
const BOUND: Duration = Duration::from_secs(5);

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(256), ..ProptestConfig::default() })]

    #[test]
    fn any_template_checks_and_renders_without_panic_within_bounds(src in template(), data in json_value()) {
        let ctx = context(&serde_json::json!({"id": "evt_1", "type": "call.ended", "data": data}), b"raw body");
        let started = Instant::now();
        let checked = check(&src);
        let rendered = render(&src, ctx);
        prop_assert!(started.elapsed() < BOUND, "{:?} for {:?}", started.elapsed(), src);
        match (&checked, &rendered) {
            (Err(_), Ok(_)) => prop_assert!(false, "render accepted what check refused: {:?}", src),
            (_, Ok(out)) => prop_assert!(out.len() <= MAX_OUTPUT_BYTES),
            (_, Err(e)) => prop_assert!(!e.0.is_empty()),
        }
    }

    #[test]
    fn templates_over_arbitrary_events_render_bodies_or_fail_cleanly(
        src in template(),
        data in json_value(),
        body in prop::collection::vec(any::<u8>(), 0..2048),
        get in any::<bool>(),
    ) {
        let sub = subscription(&src, if get { Method::Get } else { Method::Post });
        let ev = event(data, body);
        let started = Instant::now();
        match render_body(&sub, &ev) {
            Ok(r) => {
                prop_assert!(r.body.len() <= MAX_OUTPUT_BYTES);
                if get {
                    prop_assert!(r.body.is_empty());
                    if let Some(q) = &r.query {
                        prop_assert!(!q.contains('\n') && !q.starts_with('?'));
                    }
                }
            }
            Err(e) => prop_assert!(!e.to_string().is_empty()),
        }
        prop_assert!(started.elapsed() < BOUND);
    }
}

#[test]
fn env_files_and_requests_are_unreachable_from_any_allowed_piece() {
    // Every filter, test and function the sandbox offers, applied to names that elsewhere
    // reach the process: nothing renders the environment.
    let home = std::env::var("HOME").unwrap_or_default();
    let ctx = || context(&sample_envelope(), b"");
    for name in [
        "env",
        "environ",
        "os",
        "config",
        "request",
        "self",
        "namespace",
        "__builtins__",
    ] {
        for src in [
            format!("{{{{ {name} }}}}"),
            format!("{{{{ {name}.HOME }}}}"),
            format!("{{{{ {name}['HOME'] }}}}"),
            format!("{{{{ {name}|tojson }}}}"),
            format!("{{% for k in {name} %}}{{{{ k }}}}{{% endfor %}}"),
        ] {
            if let Ok(out) = render(&src, ctx()) {
                assert!(home.is_empty() || !out.contains(&home), "{src} -> {out}");
                assert!(
                    out.is_empty() || out == "null" || out == "{}",
                    "{src} -> {out}"
                );
            }
        }
    }
}
