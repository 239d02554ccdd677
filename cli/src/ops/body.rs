//! Request bodies built from flags: named fields first, then `--body`'s JSON object merged
//! over them, so any field the API accepts can be set even without a flag of its own.

use super::client::{CliError, CliResult};
use serde::Serialize;
use serde_json::{Map, Value};

/// A JSON object under construction.
#[derive(Default)]
pub struct Body(Map<String, Value>);

impl Body {
    /// Sets `key` to `v`.
    pub fn set(&mut self, key: &str, v: impl Serialize) {
        if let Ok(v) = serde_json::to_value(v) {
            self.0.insert(key.to_owned(), v);
        }
    }

    /// Sets `key` when the flag was given.
    pub fn set_opt(&mut self, key: &str, v: Option<impl Serialize>) {
        if let Some(v) = v {
            self.set(key, v);
        }
    }

    /// Merges `--body`'s object over the fields set so far.
    pub fn merge(&mut self, raw: Option<&str>) -> CliResult<()> {
        if let Some(raw) = raw {
            self.0.extend(parse_object("--body", raw)?);
        }
        Ok(())
    }

    /// The body of an update: at least one field, or a usage error.
    pub fn changes(self) -> CliResult<Value> {
        if self.0.is_empty() {
            Err(CliError::Usage(
                "nothing to change: give at least one field flag (see --help)".into(),
            ))
        } else {
            Ok(self.into_value())
        }
    }

    pub fn into_value(self) -> Value {
        Value::Object(self.0)
    }
}

/// A flag that takes a JSON object.
pub fn parse_object(flag: &str, raw: &str) -> CliResult<Map<String, Value>> {
    match serde_json::from_str::<Value>(raw) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(CliError::Usage(format!("{flag} must be a JSON object"))),
        Err(e) => Err(CliError::Usage(format!("{flag} is not valid JSON: {e}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn flags_then_body_and_empty_updates_refused() {
        let mut b = Body::default();
        b.set("url", "http://a");
        b.set_opt("description", None::<String>);
        b.merge(Some(r#"{"url": "http://b", "timeout_ms": 500}"#))
            .unwrap();
        assert_eq!(
            b.into_value(),
            json!({"url": "http://b", "timeout_ms": 500})
        );
        assert!(Body::default().changes().is_err());
        assert!(parse_object("--body", "[1]").is_err());
        assert!(parse_object("--body", "{").is_err());
    }
}
