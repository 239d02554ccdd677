//! Content filters: conditions on envelope fields a subscription adds to its type filter.
//!
//! ```json
//! {"call.direction": "inbound"}                               // equals (shorthand)
//! {"call.direction": {"equals": "inbound"},
//!  "data.queue_name": {"in": ["Que1", "Que2"]},
//!  "call.recording_url": {"exists": true}}                    // every field must hold
//! {"any": [{"source": "hipcall-main"}, {"call.agent": {"exists": true}}]}
//! {"not": {"call.status": {"in": ["busy", "no_answer"]}}}
//! ```
//! Paths are dotted, over the envelope as subscribers see it (`type`, `source`, `call.*`,
//! `data.*`; a numeric segment indexes an array). `all`, `any` and `not` combine filters.
//! Conditions on one field combine too: `{"equals": 1, "exists": true}` needs both.

use serde_json::Value;

/// A compiled filter.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    All(Vec<Filter>),
    Any(Vec<Filter>),
    Not(Box<Filter>),
    Field { path: Vec<String>, test: Test },
}

#[derive(Debug, Clone, PartialEq)]
pub enum Test {
    Equals(Value),
    In(Vec<Value>),
    Exists(bool),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid filter at {at}: {message}")]
pub struct FilterError {
    pub at: String,
    pub message: String,
}

const MAX_DEPTH: usize = 8;
const MAX_CONDITIONS: usize = 64;

impl Filter {
    /// Compiles the JSON form; errors name the offending place.
    pub fn parse(value: &Value) -> Result<Self, FilterError> {
        let mut count = 0;
        Self::parse_at(value, "filter", 0, &mut count)
    }

    fn parse_at(
        value: &Value,
        at: &str,
        depth: usize,
        count: &mut usize,
    ) -> Result<Self, FilterError> {
        let err = |message: &str| FilterError {
            at: at.to_owned(),
            message: message.to_owned(),
        };
        if depth > MAX_DEPTH {
            return Err(err("filters nest at most 8 levels deep"));
        }
        let Value::Object(map) = value else {
            return Err(err("a filter is an object of field paths or all/any/not"));
        };
        let mut parts = Vec::new();
        for (key, v) in map {
            let here = format!("{at}.{key}");
            match key.as_str() {
                "all" | "any" => {
                    let Value::Array(items) = v else {
                        return Err(err(&format!("{key} takes a list of filters")));
                    };
                    let subs = items
                        .iter()
                        .enumerate()
                        .map(|(i, f)| Self::parse_at(f, &format!("{here}[{i}]"), depth + 1, count))
                        .collect::<Result<Vec<_>, _>>()?;
                    parts.push(if key == "all" {
                        Filter::All(subs)
                    } else {
                        Filter::Any(subs)
                    });
                }
                "not" => parts.push(Filter::Not(Box::new(Self::parse_at(
                    v,
                    &here,
                    depth + 1,
                    count,
                )?))),
                path => {
                    let segments: Vec<String> = path.split('.').map(str::to_owned).collect();
                    if segments.iter().any(String::is_empty) {
                        return Err(err(&format!("{path:?} is not a dotted field path")));
                    }
                    for test in parse_tests(v, &here)? {
                        *count += 1;
                        parts.push(Filter::Field {
                            path: segments.clone(),
                            test,
                        });
                    }
                }
            }
            if *count > MAX_CONDITIONS {
                return Err(err("a filter holds at most 64 conditions"));
            }
        }
        if parts.is_empty() && depth == 0 {
            return Err(err("an empty filter matches everything; omit it instead"));
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Filter::All(parts)
        })
    }

    /// Whether the envelope (as JSON) passes.
    pub fn matches(&self, envelope: &Value) -> bool {
        match self {
            Filter::All(fs) => fs.iter().all(|f| f.matches(envelope)),
            Filter::Any(fs) => fs.iter().any(|f| f.matches(envelope)),
            Filter::Not(f) => !f.matches(envelope),
            Filter::Field { path, test } => {
                let found = lookup(envelope, path).filter(|v| !v.is_null());
                match test {
                    Test::Exists(want) => found.is_some() == *want,
                    Test::Equals(want) => found.is_some_and(|v| loosely_equal(v, want)),
                    Test::In(options) => {
                        found.is_some_and(|v| options.iter().any(|o| loosely_equal(v, o)))
                    }
                }
            }
        }
    }
}

fn parse_tests(v: &Value, at: &str) -> Result<Vec<Test>, FilterError> {
    let err = |message: String| FilterError {
        at: at.to_owned(),
        message,
    };
    let Value::Object(ops) = v else {
        // Shorthand: a scalar means equals.
        return match v {
            Value::Array(_) => Err(err(
                "use {\"in\": [...]} to match one of several values".to_owned()
            )),
            other => Ok(vec![Test::Equals(other.clone())]),
        };
    };
    if ops.is_empty() {
        return Err(err("give equals, in or exists".to_owned()));
    }
    ops.iter()
        .map(|(op, arg)| match (op.as_str(), arg) {
            ("equals", a) => Ok(Test::Equals(a.clone())),
            ("in", Value::Array(items)) if !items.is_empty() => Ok(Test::In(items.clone())),
            ("in", _) => Err(err("in takes a non-empty list".to_owned())),
            ("exists", Value::Bool(b)) => Ok(Test::Exists(*b)),
            ("exists", _) => Err(err("exists takes true or false".to_owned())),
            (other, _) => Err(err(format!(
                "unknown condition {other:?}; use equals, in or exists"
            ))),
        })
        .collect()
}

fn lookup<'a>(root: &'a Value, path: &[String]) -> Option<&'a Value> {
    path.iter().try_fold(root, |v, seg| match v {
        Value::Object(m) => m.get(seg),
        Value::Array(a) => seg.parse::<usize>().ok().and_then(|i| a.get(i)),
        _ => None,
    })
}

/// Equality that forgives a number sent as a string and vice versa (providers disagree:
/// CallerDesk sends `"60"`, Hipcall `60`).
fn loosely_equal(found: &Value, want: &Value) -> bool {
    if found == want {
        return true;
    }
    match (found, want) {
        (Value::String(s), Value::Number(n)) | (Value::Number(n), Value::String(s)) => {
            s.trim().parse::<f64>().ok() == n.as_f64()
        }
        (Value::String(s), Value::Bool(b)) | (Value::Bool(b), Value::String(s)) => {
            s.eq_ignore_ascii_case(if *b { "true" } else { "false" })
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn env() -> Value {
        json!({"type": "call.ended", "source": "hipcall-main",
               "call": {"id": "c1", "direction": "inbound", "duration_secs": 60},
               "data": {"queue_name": "Que1", "tags": ["vip"], "billing": "60"}})
    }

    #[test]
    fn equals_in_exists_combine() {
        let f = Filter::parse(&json!({
            "call.direction": "inbound",
            "data.queue_name": {"in": ["Que1", "Que2"]},
            "call.recording_url": {"exists": false},
            "data.tags.0": {"equals": "vip", "exists": true}
        }))
        .unwrap();
        assert!(f.matches(&env()));
        let f = Filter::parse(&json!({"call.direction": "outbound"})).unwrap();
        assert!(!f.matches(&env()));
    }

    #[test]
    fn any_not_and_loose_numbers() {
        let f = Filter::parse(&json!({"any": [{"source": "x"}, {"data.billing": 60}]})).unwrap();
        assert!(f.matches(&env()));
        let f = Filter::parse(&json!({"not": {"call.duration_secs": {"in": ["60"]}}})).unwrap();
        assert!(!f.matches(&env()));
    }

    fn arb_json() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            "[a-z.]{0,8}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 32, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                proptest::collection::btree_map(
                    prop_oneof![
                        Just("all".to_owned()),
                        Just("any".to_owned()),
                        Just("not".to_owned()),
                        Just("in".to_owned()),
                        Just("equals".to_owned()),
                        Just("exists".to_owned()),
                        "[a-z.]{1,8}"
                    ],
                    inner,
                    0..4
                )
                .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest::proptest! {
        #[test]
        fn parse_and_match_never_panic(filter in arb_json(), doc in arb_json()) {
            if let Ok(f) = Filter::parse(&filter) {
                let _ = f.matches(&doc);
                let _ = f.matches(&env());
            }
        }
    }

    #[test]
    fn errors_say_where() {
        let e = Filter::parse(&json!({"call.direction": {"like": "in%"}})).unwrap_err();
        assert!(e.to_string().contains("filter.call.direction"), "{e}");
        assert!(e.to_string().contains("unknown condition"), "{e}");
        assert!(Filter::parse(&json!({})).is_err());
        assert!(Filter::parse(&json!([1])).is_err());
        assert!(Filter::parse(&json!({"a..b": 1})).is_err());
        assert!(Filter::parse(&json!({"x": {"in": []}})).is_err());
    }
}
