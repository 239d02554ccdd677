//! An event's payload as JSON text: what the envelope's `data` holds.
//!
//! The payload is kept, queued and sent as the text it was decoded from, never as a tree:
//! building, copying and dropping a tree of every payload was a fifth of the work of
//! handling an event, and only filters and templates look inside one ([`Payload::to_value`]).

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;
use serde_json::Value;

/// One JSON value as text, on one line: it never holds a raw newline (a pretty-printed
/// body is compacted), so that a record holding it stays one line.
#[derive(Clone)]
pub struct Payload(Box<RawValue>);

impl Payload {
    /// `value`'s compact JSON text.
    pub fn from_value(value: &Value) -> Self {
        // A `Value` always serialises: its map keys are strings.
        Self(serde_json::value::to_raw_value(value).unwrap_or_else(|_| null()))
    }

    /// Checked JSON text, kept as it is unless it spans lines (then without the whitespace
    /// between its tokens).
    pub fn from_text(raw: &RawValue) -> Self {
        if spans_lines(raw.get().as_bytes()) {
            Self::compacted(raw.get())
        } else {
            Self(raw.to_owned())
        }
    }

    /// The payload a JSON body gives: its text, compacted when it spans lines. `None` for a
    /// body that is not one JSON value.
    pub fn from_json_body(body: &[u8]) -> Option<Self> {
        let raw: &RawValue = serde_json::from_slice(body).ok()?;
        Some(Self::from_text(raw))
    }

    /// The payload a JSON body gives (as [`Payload::from_json_body`]) with the body read as
    /// a value; `None` for a body that is not one JSON value. A body over several lines is
    /// compacted first and the shorter text is read: serde_json reads whitespace a byte at a
    /// time, and checking the body before compacting it was a third read.
    pub fn read_json_body(body: &[u8]) -> Option<(Self, Value)> {
        let body = trim_spaces(body);
        if !spans_lines(body) {
            let raw: &RawValue = serde_json::from_slice(body).ok()?;
            let value = serde_json::from_str(raw.get()).ok()?;
            return Some((Self(raw.to_owned()), value));
        }
        let text = compact_between_tokens(body)?;
        let value = serde_json::from_str(&text).ok()?;
        let raw = RawValue::from_string(text).ok()?;
        Some((Self(raw), value))
    }

    /// Checked JSON text without the whitespace between its tokens.
    fn compacted(json: &str) -> Self {
        Self(RawValue::from_string(compact(json)).unwrap_or_else(|_| null()))
    }

    /// The JSON text.
    pub fn text(&self) -> &str {
        self.0.get()
    }

    /// The payload as a tree, for what looks inside it (filters, templates).
    pub fn to_value(&self) -> Value {
        // The text was checked JSON when this was made.
        serde_json::from_str(self.text()).unwrap_or(Value::Null)
    }
}

fn spans_lines(text: &[u8]) -> bool {
    memchr::memchr2(b'\n', b'\r', text).is_some()
}

/// JSON text without the whitespace outside its strings: the same tokens, so the same
/// value. Only for checked JSON (a raw newline, tab or control character can then only be
/// whitespace between tokens; inside a string each is escaped), which never has a space
/// between two tokens that [`compact_between_tokens`] refuses.
pub fn compact(json: &str) -> String {
    compact_between_tokens(json.as_bytes()).unwrap_or_default()
}

/// `bytes` without the whitespace outside its strings, when each run of it touches a
/// structural character or an end; `None` when one lies between two other tokens (`1 2`,
/// `"a" "b"`), which JSON never has. Dropping only such runs joins no two tokens, so the
/// result is JSON exactly when `bytes` is.
fn compact_between_tokens(bytes: &[u8]) -> Option<String> {
    let mut out = Vec::with_capacity(bytes.len());
    let joins_none = spans(bytes, |span| match span {
        Span::Kept(kept) => {
            out.extend_from_slice(kept);
            true
        }
        space => space.joins_no_tokens(),
    });
    // Cut only before or after ASCII bytes, so UTF-8 when `bytes` was.
    joins_none.then(|| String::from_utf8(out).ok()).flatten()
}

/// A stretch of JSON text: tokens (strings whole) up to the next whitespace between
/// tokens, or such whitespace, with the bytes on either side of it.
enum Span<'a> {
    Kept(&'a [u8]),
    Space {
        before: Option<u8>,
        after: Option<u8>,
    },
}

impl Span<'_> {
    /// Whether leaving this span out joins no two tokens: true of tokens (they are kept) and
    /// of whitespace that touches a structural character or an end.
    fn joins_no_tokens(&self) -> bool {
        match self {
            Self::Kept(_) => true,
            Self::Space { before, after } => {
                before.is_none_or(is_structural) || after.is_none_or(is_structural)
            }
        }
    }
}

/// Hands `bytes`' spans in order to `each` while it answers `true`; `false` if it stopped.
/// One pass over the bytes with no allocation (it runs on every pretty-printed body).
fn spans<'a>(bytes: &'a [u8], mut each: impl FnMut(Span<'a>) -> bool) -> bool {
    let n = bytes.len();
    let mut start = 0;
    let mut i = 0;
    while i < n {
        let b = bytes[i];
        i += 1;
        if b == b'"' {
            // To the closing quote, a jump at a time: strings are most of a payload's bytes.
            loop {
                match bytes
                    .get(i..)
                    .and_then(|rest| memchr::memchr2(b'"', b'\\', rest))
                {
                    Some(k) if bytes[i + k] == b'"' => {
                        i += k + 1;
                        break;
                    }
                    // A backslash: past it and the byte it escapes.
                    Some(k) => i += k + 2,
                    None => {
                        i = n;
                        break;
                    }
                }
            }
        } else if is_space(b) {
            let space_start = i - 1;
            while i < n && is_space(bytes[i]) {
                i += 1;
            }
            if space_start > start && !each(Span::Kept(&bytes[start..space_start])) {
                return false;
            }
            let before = space_start.checked_sub(1).map(|k| bytes[k]);
            if !each(Span::Space {
                before,
                after: bytes.get(i).copied(),
            }) {
                return false;
            }
            start = i;
        }
    }
    match bytes.get(start..) {
        Some(rest) if !rest.is_empty() => each(Span::Kept(rest)),
        _ => true,
    }
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

fn is_structural(b: u8) -> bool {
    matches!(b, b'{' | b'}' | b'[' | b']' | b',' | b':')
}

impl Payload {
    /// Whether `body` is this payload's text as [`Payload::from_text`] would take it from
    /// the body: the same text, or (a body over several lines) the same text once the
    /// whitespace between tokens is gone. Without parsing or allocating: every run of
    /// whitespace left out must touch a structural character or an end, so that leaving
    /// it out joins no two tokens, and the body is then JSON because the text is.
    pub fn is_text_of(&self, body: &[u8]) -> bool {
        let text = self.text().as_bytes();
        let body = trim_spaces(body);
        if !spans_lines(body) {
            return body == text;
        }
        let mut j = 0;
        let same = spans(body, |span| match span {
            Span::Kept(kept) => {
                let matched = text.get(j..j + kept.len()) == Some(kept);
                j += kept.len();
                matched
            }
            space => space.joins_no_tokens(),
        });
        same && j == text.len()
    }
}

fn trim_spaces(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|&b| !is_space(b))
        .unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|&b| !is_space(b))
        .map_or(start, |e| e + 1);
    bytes.get(start..end).unwrap_or_default()
}

fn null() -> Box<RawValue> {
    RawValue::NULL.to_owned()
}

/// The same JSON value: the same text, or text that parses to the same tree.
impl PartialEq for Payload {
    fn eq(&self, other: &Self) -> bool {
        self.text() == other.text() || self.to_value() == other.to_value()
    }
}

impl From<Value> for Payload {
    fn from(value: Value) -> Self {
        Self::from_value(&value)
    }
}

impl std::fmt::Debug for Payload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.text())
    }
}

impl Serialize for Payload {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

/// Read as text with serde_json's deserializers (text or a `Value`). It cannot be read
/// through serde's buffering of internally tagged or untagged enums: a type holding a
/// payload is never one of those (see `QueueMessage`).
impl<'de> Deserialize<'de> for Payload {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = Box::<RawValue>::deserialize(d)?;
        if spans_lines(raw.get().as_bytes()) {
            return Ok(Self::compacted(raw.get()));
        }
        Ok(Self(raw))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn raw(text: &str) -> Payload {
        Payload::from_text(serde_json::from_str(text).unwrap())
    }

    #[test]
    fn one_line_text_is_kept_as_it_came() {
        let p = raw(r#"  {"b": 1,  "a": [true, null]} "#);
        assert_eq!(p.text(), r#"{"b": 1,  "a": [true, null]}"#);
        assert_eq!(p.to_value(), json!({"a": [true, null], "b": 1}));
    }

    #[test]
    fn text_over_lines_is_compacted() {
        let p = raw("{\n  \"a\": \"x\\ny\",\r\n  \"b\": 2\n}");
        assert_eq!(p.text(), r#"{"a":"x\ny","b":2}"#);
        let read: Payload = serde_json::from_str("[1,\n2]").unwrap();
        assert_eq!(read.text(), "[1,2]");
        let strings = raw("[\"a b\\\" \\\\\",\n \"\\\\\", \"\\u0020 x\"]");
        assert_eq!(strings.text(), r#"["a b\" \\","\\","\u0020 x"]"#);
        let (read, value) = Payload::read_json_body(b" {\n \"a\": [1, \"b c\"]\n}\n").unwrap();
        assert_eq!(read.text(), r#"{"a":[1,"b c"]}"#);
        assert_eq!(value, json!({"a": [1, "b c"]}));
        // Whitespace between two tokens would join them: not JSON, so not read.
        for joined in [
            &b"[1\n2]"[..],
            b"[\"a\"\n\"b\"]",
            b"[true\nfalse]",
            b"[1,\n2",
        ] {
            assert!(Payload::read_json_body(joined).is_none(), "{joined:?}");
        }
    }

    fn arb_json() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<f64>().prop_map(|n| json!(n)),
            any::<i64>().prop_map(|n| json!(n)),
            "[ \"\\\\\t\n\ra-z\u{7f}\u{e9}\u{1F600}]{0,8}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 32, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                proptest::collection::btree_map("[ \"a-z\\\\]{0,3}", inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    #[test]
    fn a_payload_knows_the_bodies_it_is_the_text_of() {
        let p = raw("{\n \"a\": [1, 2],\n \"b\": \"x y\"\n}\n");
        assert_eq!(p.text(), r#"{"a":[1,2],"b":"x y"}"#);
        for same in [
            "{\n \"a\": [1, 2],\n \"b\": \"x y\"\n}\n",
            "  {\"a\":[1,2],\"b\":\"x y\"}",
            "{\"a\":\r\n[1,2],\"b\":\"x y\"}",
        ] {
            assert!(p.is_text_of(same.as_bytes()), "{same:?}");
        }
        for other in [
            "{\"a\": [1, 2], \"b\": \"x y\"}",
            "{\n\"a\":[1 ,2],\"b\":\"xy\"}",
            "{\"a\":[1,2],\"b\":\"x y\"}}",
            "{\"a\":[1,2]",
            "{\n\"a\":[1\n2],\"b\":\"x y\"}",
            // Cut inside a string, and after an escaping backslash.
            "{\n\"a\":[1,2],\"b\":\"x y",
            "{\n\"a\":[1,2],\"b\":\"x y\\",
        ] {
            assert!(!p.is_text_of(other.as_bytes()), "{other:?}");
        }
        // A join of two tokens is refused though the bytes match once spaces are gone.
        let n = raw("[12]");
        assert!(!n.is_text_of(b"[1\n2]"));
        assert!(n.is_text_of(b"[\n12\n]"));
    }

    proptest::proptest! {
        /// A body a payload says it is the text of gives that payload back; a pretty one
        /// always is.
        #[test]
        fn is_text_of_agrees_with_reading_the_body(
            v in arb_json(),
            cuts in proptest::collection::vec((0usize..400, 0usize..4), 0..6),
        ) {
            let pretty = serde_json::to_string_pretty(&v).unwrap();
            let p = raw(&pretty);
            proptest::prop_assert!(p.is_text_of(pretty.as_bytes()));
            let mut body = pretty.into_bytes();
            for (at, what) in cuts {
                let at = at % (body.len() + 1);
                let ws: &[u8] = [&b" "[..], b"\n", b"\t\r\n", b"x"][what];
                body.splice(at..at, ws.iter().copied());
            }
            if p.is_text_of(&body) {
                proptest::prop_assert_eq!(Payload::from_json_body(&body).map(|b| b.text().to_owned()), Some(p.text().to_owned()));
            }
        }

        /// Pretty-printed JSON compacts to the text serde_json writes for its value.
        #[test]
        fn compacting_pretty_json_gives_the_compact_writing(v in arb_json()) {
            let pretty = serde_json::to_string_pretty(&v).unwrap();
            proptest::prop_assert_eq!(compact(&pretty), serde_json::to_string(&v).unwrap());
            // (Against a parse of the same text: float parsing may move the last digit.)
            let parsed: Value = serde_json::from_str(&pretty).unwrap();
            proptest::prop_assert_eq!(raw(&pretty).to_value(), parsed);
        }

        /// Reading a body gives the payload and the value the two separate reads give,
        /// whatever whitespace, escapes or stray bytes it holds.
        #[test]
        fn a_parsed_body_gives_the_same_payload(
            v in arb_json(),
            cuts in proptest::collection::vec((0usize..400, 0usize..5), 0..6),
        ) {
            let mut body = serde_json::to_string_pretty(&v).unwrap().into_bytes();
            for (at, what) in cuts {
                let at = at % (body.len() + 1);
                let ws: &[u8] = [&b" "[..], b"\n", b"\t\r\n", b"1", b"\""][what];
                body.splice(at..at, ws.iter().copied());
            }
            // (A number too large for a float is JSON text but no value: both give `None`.)
            let apart = Payload::from_json_body(&body)
                .map(|p| p.text().to_owned())
                .zip(serde_json::from_slice::<Value>(&body).ok());
            let read = Payload::read_json_body(&body).map(|(p, v)| (p.text().to_owned(), v));
            proptest::prop_assert_eq!(read, apart);
        }
    }

    #[test]
    fn equal_means_the_same_json_value() {
        assert_eq!(
            raw(r#"{"a": 1, "b": 2}"#),
            Payload::from(json!({"b": 2, "a": 1}))
        );
        assert_ne!(raw(r#"{"a": 1}"#), Payload::from(json!({"a": 2})));
    }

    #[test]
    fn serialises_as_the_json_it_holds() {
        let p = raw(r#"{"k": [1, 2]}"#);
        let wrapped = serde_json::to_string(&json!({"data": p.to_value()})).unwrap();
        assert_eq!(wrapped, r#"{"data":{"k":[1,2]}}"#);
        #[derive(Serialize, Deserialize)]
        struct Holder {
            data: Payload,
        }
        let text = serde_json::to_string(&Holder { data: p.clone() }).unwrap();
        assert_eq!(text, r#"{"data":{"k": [1, 2]}}"#);
        let back: Holder = serde_json::from_str(&text).unwrap();
        assert_eq!(back.data.text(), p.text());
        let as_tree = serde_json::to_value(Holder { data: p }).unwrap();
        assert_eq!(as_tree, json!({"data": {"k": [1, 2]}}));
        let from_tree: Holder = serde_json::from_value(as_tree).unwrap();
        assert_eq!(from_tree.data.text(), r#"{"k":[1,2]}"#);
    }
}
