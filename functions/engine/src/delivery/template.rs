//! Body templates (format `template`): a minijinja template rendered over the envelope,
//! producing a JSON body, a form body, or the query string of a GET (seed 003's editable
//! webhook body).
//!
//! The template sees the envelope's fields at the top level (`id`, `type`, `source`, `call`,
//! `data`, ...), the whole envelope as `event`, and the provider's raw body as `raw_body`.
//! Missing fields render as nothing (`{{ call.recording_url }}` on a call without one).
//!
//! Templates are written by operators but run inside the dispatcher, so rendering is bounded
//! and sandboxed:
//! - no loader: `include`, `import` and `extends` find nothing; no function reads files, the
//!   environment or the network (only the filters, tests and functions listed here exist);
//! - time: a fuel budget of [`FUEL`] VM instructions; recursion depth 32;
//! - size: the source is at most [`MAX_SOURCE_BYTES`]; the output at most [`MAX_OUTPUT_BYTES`]
//!   (rendering stops there), and every filter that can enlarge a value checks its result;
//! - the operators that build values without bound from small ones (`~`, `+`, `*`, `**`)
//!   and block captures (`{% set x %}...{% endset %}`, `{% filter %}`) are rejected when the
//!   template is checked: write `{{ a }}{{ b }}` to concatenate, or use `join`.

use minijinja::machinery::Instruction;
use minijinja::value::{Serde, Value};
use minijinja::{AutoEscape, Environment, Error, ErrorKind, UndefinedBehavior};
use std::collections::BTreeSet;

/// Longest template accepted.
pub const MAX_SOURCE_BYTES: usize = 64 * 1024;
/// Longest rendered output, and longest value a filter may produce.
pub const MAX_OUTPUT_BYTES: usize = 1024 * 1024;
/// VM instructions one rendering may execute.
pub const FUEL: u64 = 200_000;

const FILTERS: &[&str] = &[
    "abs",
    "capitalize",
    "d",
    "datetimeformat",
    "default",
    "first",
    "float",
    "int",
    "items",
    "join",
    "last",
    "length",
    "list",
    "lower",
    "max",
    "min",
    "replace",
    "reverse",
    "round",
    "sort",
    "string",
    "sum",
    "title",
    "tojson",
    "trim",
    "unique",
    "upper",
    "urlencode",
];

const TESTS: &[&str] = &[
    "defined",
    "undefined",
    "none",
    "number",
    "integer",
    "float",
    "string",
    "sequence",
    "mapping",
    "boolean",
    "true",
    "false",
    "odd",
    "even",
    "startingwith",
    "endingwith",
    "eq",
    "ne",
    "in",
];

const FUNCTIONS: &[&str] = &["range"];

/// A template problem, worded for the person who wrote it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TemplateError(pub String);

impl TemplateError {
    fn from_minijinja(e: &Error) -> Self {
        let mut msg = match e.kind() {
            ErrorKind::OutOfFuel => {
                format!("template needs more than {FUEL} steps to render; simplify its loops")
            }
            _ => e.to_string(),
        };
        if let Some(line) = e.line() {
            if !msg.contains("line") {
                msg.push_str(&format!(" (line {line})"));
            }
        }
        Self(msg)
    }
}

fn too_large() -> Error {
    Error::new(
        ErrorKind::InvalidOperation,
        format!("value exceeds the {MAX_OUTPUT_BYTES}-byte limit"),
    )
}

fn capped(s: String) -> Result<String, Error> {
    if s.len() > MAX_OUTPUT_BYTES {
        Err(too_large())
    } else {
        Ok(s)
    }
}

/// The sandboxed environment: no loader, no globals but `range`, a fixed filter set.
fn environment<'s>() -> Environment<'s> {
    use minijinja::{filters as f, tests as t};
    let mut env = Environment::empty();
    env.set_fuel(Some(FUEL));
    env.set_recursion_limit(32);
    env.set_undefined_behavior(UndefinedBehavior::Chainable);
    env.set_auto_escape_callback(|_| AutoEscape::None);

    env.add_filter("abs", f::abs);
    env.add_filter("capitalize", f::capitalize);
    env.add_filter("d", f::default);
    env.add_filter("default", f::default);
    env.add_filter("first", f::first);
    env.add_filter("float", f::float);
    env.add_filter("int", f::int);
    env.add_filter("items", f::items);
    env.add_filter("last", f::last);
    env.add_filter("length", f::length);
    env.add_filter("list", f::list);
    env.add_filter("lower", f::lower);
    env.add_filter("max", f::max);
    env.add_filter("min", f::min);
    env.add_filter("reverse", f::reverse);
    env.add_filter("round", f::round);
    env.add_filter("sort", f::sort);
    env.add_filter("string", f::string);
    env.add_filter("sum", f::sum);
    env.add_filter("title", f::title);
    env.add_filter("trim", f::trim);
    env.add_filter("unique", f::unique);
    env.add_filter("upper", f::upper);
    // Filters that can enlarge a value: re-implemented with a size check.
    env.add_filter("tojson", |v: Value| -> Result<String, Error> {
        let s = serde_json::to_string(&v).map_err(|e| {
            Error::new(
                ErrorKind::InvalidOperation,
                format!("cannot serialise to JSON: {e}"),
            )
        })?;
        capped(s)
    });
    env.add_filter("urlencode", |v: Value| -> Result<String, Error> {
        let s = match v.as_str() {
            Some(s) => s.to_owned(),
            None if v.is_undefined() || v.is_none() => String::new(),
            None => v.to_string(),
        };
        capped(form_urlencoded::byte_serialize(s.as_bytes()).collect())
    });
    env.add_filter(
        "join",
        |v: Value, sep: Option<String>| -> Result<String, Error> {
            let sep = sep.unwrap_or_default();
            let mut out = String::new();
            for (i, item) in v.try_iter()?.enumerate() {
                if i > 0 {
                    out.push_str(&sep);
                }
                match item.as_str() {
                    Some(s) => out.push_str(s),
                    None => out.push_str(&item.to_string()),
                }
                if out.len() > MAX_OUTPUT_BYTES {
                    return Err(too_large());
                }
            }
            Ok(out)
        },
    );
    env.add_filter(
        "replace",
        |s: String, from: String, to: String| -> Result<String, Error> {
            if from.is_empty() {
                return Err(Error::new(
                    ErrorKind::InvalidOperation,
                    "replace needs a non-empty string to find",
                ));
            }
            let n = s.matches(from.as_str()).count();
            let len = s.len() - n * from.len() + n.saturating_mul(to.len());
            if len > MAX_OUTPUT_BYTES {
                return Err(too_large());
            }
            Ok(s.replace(from.as_str(), &to))
        },
    );
    env.add_filter(
        "datetimeformat",
        |v: String, fmt: Option<String>| -> Result<String, Error> {
            datetimeformat(&v, fmt.as_deref().unwrap_or("%Y-%m-%d %H:%M:%S"))
        },
    );

    env.add_test("defined", t::is_defined);
    env.add_test("undefined", t::is_undefined);
    env.add_test("none", t::is_none);
    env.add_test("number", t::is_number);
    env.add_test("integer", t::is_integer);
    env.add_test("float", t::is_float);
    env.add_test("string", t::is_string);
    env.add_test("sequence", t::is_sequence);
    env.add_test("mapping", t::is_mapping);
    env.add_test("boolean", t::is_boolean);
    env.add_test("true", t::is_true);
    env.add_test("false", t::is_false);
    env.add_test("odd", t::is_odd);
    env.add_test("even", t::is_even);
    env.add_test("startingwith", t::is_startingwith);
    env.add_test("endingwith", t::is_endingwith);
    env.add_test("eq", t::is_eq);
    env.add_test("ne", t::is_ne);
    env.add_test("in", t::is_in);

    env.add_function("range", minijinja::functions::range);
    env
}

/// `"2024-12-02T21:04:40.701+00:00" | datetimeformat("%H:%M:%S")`, chrono's strftime.
fn datetimeformat(value: &str, fmt: &str) -> Result<String, Error> {
    use chrono::format::{Item, StrftimeItems};
    use std::fmt::Write as _;
    if fmt.len() > 256 {
        return Err(Error::new(
            ErrorKind::InvalidOperation,
            "datetimeformat takes a format of at most 256 characters",
        ));
    }
    let items: Vec<Item<'_>> = StrftimeItems::new(fmt).collect();
    if items.iter().any(|i| matches!(i, Item::Error)) {
        return Err(Error::new(
            ErrorKind::InvalidOperation,
            format!("invalid datetimeformat format {fmt:?}"),
        ));
    }
    let Ok(t) = chrono::DateTime::parse_from_rfc3339(value.trim()) else {
        // Not a timestamp (or missing): pass it through unchanged, like a lenient lookup.
        return Ok(value.to_owned());
    };
    let mut out = String::new();
    write!(out, "{}", t.format_with_items(items.into_iter())).map_err(|_| {
        Error::new(
            ErrorKind::InvalidOperation,
            format!("cannot format with {fmt:?}"),
        )
    })?;
    Ok(out)
}

/// Compiles a template and checks it against the sandbox's rules: size, syntax, known
/// filters/tests/functions, no unbounded operators. Does not render.
pub fn check(source: &str) -> Result<(), TemplateError> {
    let env = environment();
    compile(&env, source).map(|_| ())
}

fn compile<'s>(
    env: &'s Environment<'s>,
    source: &'s str,
) -> Result<minijinja::Template<'s, 's>, TemplateError> {
    if source.len() > MAX_SOURCE_BYTES {
        return Err(TemplateError(format!(
            "template is {} bytes; the limit is {MAX_SOURCE_BYTES}",
            source.len()
        )));
    }
    let tmpl = env
        .template_from_named_str("template", source)
        .map_err(|e| TemplateError::from_minijinja(&e))?;
    let compiled = minijinja::machinery::get_compiled_template(&tmpl);
    let filters: BTreeSet<&str> = FILTERS.iter().copied().collect();
    let tests: BTreeSet<&str> = TESTS.iter().copied().collect();
    let functions: BTreeSet<&str> = FUNCTIONS.iter().copied().collect();
    let all = std::iter::once(&compiled.instructions).chain(compiled.blocks.values());
    for instructions in all {
        let mut idx = 0u32;
        while let Some(instr) = instructions.get(idx) {
            let line = instructions.get_line(idx).unwrap_or(0);
            let reject = |what: String| Err(TemplateError(format!("{what} (line {line})")));
            match instr {
                Instruction::StringConcat => {
                    return reject(
                        "the ~ operator is not available; write {{ a }}{{ b }} or use join".into(),
                    )
                }
                Instruction::Add => {
                    return reject("the + operator is not available in templates".into())
                }
                Instruction::Mul | Instruction::Pow => {
                    return reject("the * and ** operators are not available in templates".into())
                }
                Instruction::BeginCapture(_) => {
                    return reject(
                        "block set, filter blocks, macros and call blocks are not available".into(),
                    )
                }
                Instruction::ApplyFilter(name, ..) if !filters.contains(name) => {
                    return reject(format!(
                        "unknown filter {name:?}; available: {}",
                        FILTERS.join(", ")
                    ))
                }
                Instruction::PerformTest(name, ..) if !tests.contains(name) => {
                    return reject(format!(
                        "unknown test {name:?}; available: {}",
                        TESTS.join(", ")
                    ))
                }
                Instruction::CallFunction(name, ..) if !functions.contains(name) => {
                    return reject(format!("unknown function {name:?}; available: range"))
                }
                _ => {}
            }
            idx += 1;
        }
    }
    Ok(tmpl)
}

/// The template's variables for one event.
pub fn context(envelope: &serde_json::Value, raw_body: &[u8]) -> Value {
    let mut map = match envelope {
        serde_json::Value::Object(m) => m.clone(),
        _ => serde_json::Map::new(),
    };
    map.insert("event".into(), envelope.clone());
    let raw = if raw_body.len() <= MAX_OUTPUT_BYTES {
        String::from_utf8_lossy(raw_body).into_owned()
    } else {
        String::new()
    };
    map.insert("raw_body".into(), serde_json::Value::String(raw));
    Value::from(Serde(serde_json::Value::Object(map)))
}

/// An `io::Write` that refuses to grow past the output limit.
struct Bounded(Vec<u8>);

impl std::io::Write for Bounded {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.0.len() + buf.len() > MAX_OUTPUT_BYTES {
            return Err(std::io::Error::other("output limit"));
        }
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Checks and renders a template.
pub fn render(source: &str, ctx: Value) -> Result<String, TemplateError> {
    let env = environment();
    let tmpl = compile(&env, source)?;
    let mut out = Bounded(Vec::new());
    match tmpl.render_captured_to(ctx, &mut out) {
        Ok(_) => {}
        Err(e) if out.0.len() >= MAX_OUTPUT_BYTES.saturating_sub(64 * 1024) => {
            tracing::debug!(error = %e, "template output limit");
            return Err(TemplateError(format!(
                "template output exceeds {MAX_OUTPUT_BYTES} bytes"
            )));
        }
        Err(e) => return Err(TemplateError::from_minijinja(&e)),
    }
    String::from_utf8(out.0).map_err(|_| TemplateError("template output is not UTF-8".into()))
}

/// A made-up call event with every field set, for checking templates at create time.
pub fn sample_envelope() -> serde_json::Value {
    serde_json::json!({
        "id": "evt_01JDX0000000000000000SAMPLE",
        "type": "call.ended",
        "provider_event": "Call:Hangup",
        "source": "sample",
        "occurred_at": "2024-12-02T21:04:40.701000Z",
        "received_at": "2024-12-02T21:04:41.000000Z",
        "call": {
            "id": "bfd7e62a-5a55-4286-9453-b4b4cfc5cca8",
            "direction": "inbound",
            "from": "+972500000000",
            "to": "+972722791142",
            "agent": "agent@example.com",
            "started_at": "2024-12-02T21:04:40.701000Z",
            "answered_at": "2024-12-02T21:05:10.000000Z",
            "ended_at": "2024-12-02T21:11:37.000000Z",
            "duration_secs": 417,
            "talk_duration_secs": 387,
            "ring_duration_secs": 30,
            "recording_url": "https://recordings.example.com/bfd7e62a.mp3",
            "status": "answer",
            "hangup_by": "caller"
        },
        "data": {
            "direction": "incoming",
            "uuid": "bfd7e62a-5a55-4286-9453-b4b4cfc5cca8",
            "duration": 60,
            "cause": "answer",
            "queue_name": "Que1",
            "tags": ["vip", "sales"]
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> Value {
        context(&sample_envelope(), b"raw=1")
    }

    #[test]
    fn renders_json_body_over_the_envelope() {
        let out = render(
            r#"{"uuid": "{{ call.id }}", "dir": {{ call.direction|tojson }}, "rec": "{{ call.nope.deeper }}", "q": "{{ data.queue_name|lower }}", "t": "{{ occurred_at|datetimeformat('%H:%M:%S') }}"}"#,
            ctx(),
        )
        .unwrap();
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["uuid"], "bfd7e62a-5a55-4286-9453-b4b4cfc5cca8");
        assert_eq!(v["dir"], "inbound");
        assert_eq!(v["rec"], "");
        assert_eq!(v["q"], "que1");
        assert_eq!(v["t"], "21:04:40");
    }

    #[test]
    fn form_and_query() {
        let out = render(
            "from={{ call.from|urlencode }}&tags={{ data.tags|join(',')|urlencode }}",
            ctx(),
        )
        .unwrap();
        assert_eq!(out, "from=%2B972500000000&tags=vip%2Csales");
    }

    #[test]
    fn syntax_errors_name_the_line() {
        let e = check("{\n  \"a\": \"{{ call.id \"\n}").unwrap_err();
        assert!(e.0.contains("syntax error"), "{e}");
        assert!(e.0.contains("line"), "{e}");
        let e = check("{{ call.id|shout }}").unwrap_err();
        assert!(e.0.contains("unknown filter \"shout\""), "{e}");
        let e = check("{{ cycler() }}").unwrap_err();
        assert!(e.0.contains("unknown function"), "{e}");
    }

    #[test]
    fn sandbox_rejects_growth_and_files() {
        for src in [
            "{{ id ~ id }}",
            "{{ id * 100000000 }}",
            "{{ id + id }}",
            "{{ data.tags * 3 }}",
            "{% set x %}{{ id }}{% endset %}",
            "{% filter upper %}x{% endfilter %}",
            "{% include '/etc/passwd' %}",
            "{% extends 'base' %}",
        ] {
            assert!(check(src).is_err(), "{src} should be rejected");
        }
        let big = "x".repeat(MAX_SOURCE_BYTES + 1);
        assert!(check(&big).is_err());
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(200))]
        #[test]
        fn check_and_render_never_panic(src in "[{}%#a-z0-9 ()|.,'\"~+*=\n-]{0,60}") {
            if check(&src).is_ok() {
                if let Ok(out) = render(&src, ctx()) {
                    proptest::prop_assert!(out.len() <= MAX_OUTPUT_BYTES);
                }
            }
        }
    }

    #[test]
    fn rendering_is_bounded() {
        let e = render(
            "{% for i in range(100000) %}{% for j in range(100000) %}.{% endfor %}{% endfor %}",
            ctx(),
        )
        .unwrap_err();
        assert!(e.0.contains("steps") || e.0.contains("exceeds"), "{e}");
        let e = render(
            "{% for i in range(50000) %}{{ raw_body }}{{ call.recording_url }}{% endfor %}",
            ctx(),
        )
        .unwrap_err();
        assert!(e.0.contains("exceeds") || e.0.contains("steps"), "{e}");
        let chain = "|replace('e', call.recording_url)".repeat(10);
        let r = render(&format!("{{{{ call.recording_url{chain} }}}}"), ctx());
        assert!(
            matches!(&r, Err(e) if e.0.contains("limit")),
            "replace must be capped"
        );
    }
}
