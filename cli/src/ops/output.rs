//! Human output: aligned tables, key/value views, and the `--json` switch between them and
//! the API's JSON.

use super::client::{decode, CliResult};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use std::fmt::Write as _;
use switchboard_core::domain::time::Timestamp;

/// Longest cell printed; longer values end in `…` (`--json` shows them whole).
const MAX_CELL: usize = 64;

/// Prints JSON as the API sent it (pretty-printed).
pub fn print_json(v: &Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string())
    );
}

/// The outcome of a command that changes something: the API's JSON with `--json`, else a
/// line for people.
pub fn done(json: bool, v: &Value, human: &str) {
    if json {
        print_json(v);
    } else {
        println!("{human}");
    }
}

/// Like [`done`], with the line for people made from the answer read as a `T`.
pub fn done_as<T: DeserializeOwned>(
    json: bool,
    v: &Value,
    human: impl FnOnce(T) -> String,
) -> CliResult<()> {
    if json {
        print_json(v);
    } else {
        println!("{}", human(decode(v)?));
    }
    Ok(())
}

/// One resource: the API's JSON with `--json`, else its fields as `key value` lines, read
/// through the domain type `T` (so an answer that is not a `T` is reported, not printed).
pub fn show<T: DeserializeOwned + Serialize>(json: bool, v: &Value) -> CliResult<()> {
    if json {
        print_json(v);
    } else {
        let typed: T = decode(v)?;
        print!("{}", details(&typed));
    }
    Ok(())
}

/// A timestamp as tables show it: `2024-11-17 10:41:00Z`.
pub fn time(t: &Timestamp) -> String {
    t.format("%Y-%m-%d %H:%M:%SZ").to_string()
}

/// An optional value as a cell: empty when absent.
pub fn opt<T: ToString>(v: Option<T>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

/// How the API spells a unit enum value (`hipcall`, `envelope`, ...), from its serde name.
pub fn wire_name<T: Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(_) => String::new(),
    }
}

fn clip(s: &str) -> String {
    let one_line: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if one_line.chars().count() > MAX_CELL {
        let mut cut: String = one_line.chars().take(MAX_CELL - 1).collect();
        cut.push('…');
        cut
    } else {
        one_line
    }
}

/// Columns aligned by width; `headers` in capitals by convention.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| r.iter().map(|c| clip(c)).collect())
        .collect();
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for r in &rows {
        for (i, c) in r.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(c.chars().count());
            }
        }
    }
    let mut out = String::new();
    let line = |cells: Vec<&str>, out: &mut String| {
        let mut l = String::new();
        for (i, c) in cells.iter().enumerate() {
            let w = widths.get(i).copied().unwrap_or(0);
            if i + 1 == cells.len() {
                l.push_str(c);
            } else {
                let pad = w.saturating_sub(c.chars().count());
                l.push_str(c);
                l.push_str(&" ".repeat(pad + 2));
            }
        }
        out.push_str(l.trim_end());
        out.push('\n');
    };
    line(headers.to_vec(), &mut out);
    for r in &rows {
        line(r.iter().map(String::as_str).collect(), &mut out);
    }
    out
}

/// `key: value` lines for scalar fields, then nested values as indented JSON.
pub fn details<T: Serialize>(item: &T) -> String {
    let v = serde_json::to_value(item).unwrap_or(Value::Null);
    let mut out = String::new();
    let Some(obj) = v.as_object() else {
        return format!("{v}\n");
    };
    let width = obj.keys().map(|k| k.len()).max().unwrap_or(0);
    for (k, val) in obj {
        if is_flat(val) {
            let _ = writeln!(out, "{k:width$}  {}", scalar(val));
        } else {
            let pretty = serde_json::to_string_pretty(val).unwrap_or_default();
            let _ = writeln!(out, "{k}:");
            for l in pretty.lines() {
                let _ = writeln!(out, "  {l}");
            }
        }
    }
    out
}

/// A flat value on one line: strings bare, null empty, arrays of scalars comma-joined.
fn scalar(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Array(items) => items.iter().map(scalar).collect::<Vec<_>>().join(","),
        other => other.to_string(),
    }
}

fn is_flat(v: &Value) -> bool {
    match v {
        Value::Array(items) => items.iter().all(|i| !i.is_object() && !i.is_array()),
        Value::Object(o) => o.is_empty(),
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tables_align_and_clip() {
        let t = table(
            &["ID", "URL"],
            &[
                vec!["a".into(), "x".repeat(100)],
                vec!["long-id".into(), "y".into()],
            ],
        );
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines[0], "ID       URL");
        assert!(lines[1].starts_with("a        xxx") && lines[1].ends_with('…'));
        assert_eq!(lines[2], "long-id  y");
    }

    #[test]
    fn details_put_scalars_on_lines_and_nest_the_rest() {
        let v = json!({"id": "s", "types": ["a", "b"], "n": null, "nested": {"k": 1}});
        let d = details(&v);
        assert!(d.contains("types   a,b"), "{d}");
        assert!(d.lines().any(|l| l.trim_end() == "n"), "{d}");
        assert!(d.contains("nested:\n  {"), "{d}");
    }

    #[test]
    fn wire_names_and_times() {
        use switchboard_core::domain::subscription::Format;
        assert_eq!(wire_name(&Format::Template), "template");
        let t: Timestamp = "2024-11-17T13:41:00.123+03:00".parse().unwrap();
        assert_eq!(time(&t), "2024-11-17 10:41:00Z");
        assert_eq!(opt(Some(503)), "503");
        assert_eq!(opt::<u16>(None), "");
    }
}
