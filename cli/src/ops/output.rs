//! Human output: aligned tables and key/value views of the API's JSON.

use serde_json::Value;
use std::fmt::Write as _;

/// Longest cell printed; longer values end in `…` (`--json` shows them whole).
const MAX_CELL: usize = 64;

/// A value as a table cell: strings bare, null/absent empty, arrays comma-joined.
pub fn cell(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| cell(Some(i)))
            .collect::<Vec<_>>()
            .join(","),
        Some(other) => other.to_string(),
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

/// A timestamp shortened for a table (`2024-11-17 10:41:00Z`); other text unchanged.
pub fn time(s: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|t| {
            t.with_timezone(&chrono::Utc)
                .format("%Y-%m-%d %H:%M:%SZ")
                .to_string()
        })
        .unwrap_or_else(|_| s.to_owned())
}

/// Rows of `items` with the given fields (dotted paths reach into objects; `*_at` fields
/// are shortened times).
pub fn rows(items: &[Value], fields: &[&str]) -> Vec<Vec<String>> {
    items
        .iter()
        .map(|item| {
            fields
                .iter()
                .map(|f| {
                    let c = cell(pointer(item, f));
                    if f.ends_with("_at") {
                        time(&c)
                    } else {
                        c
                    }
                })
                .collect()
        })
        .collect()
}

pub fn pointer<'a>(v: &'a Value, dotted: &str) -> Option<&'a Value> {
    dotted.split('.').try_fold(v, |v, k| v.get(k))
}

/// `key: value` lines for scalars, then nested values as indented JSON.
pub fn details(v: &Value) -> String {
    let mut out = String::new();
    let Some(obj) = v.as_object() else {
        return format!("{v}\n");
    };
    let width = obj.keys().map(|k| k.len()).max().unwrap_or(0);
    for (k, val) in obj {
        match val {
            Value::Object(_) | Value::Array(_) if !is_flat(val) => {
                let pretty = serde_json::to_string_pretty(val).unwrap_or_default();
                let _ = writeln!(out, "{k}:");
                for l in pretty.lines() {
                    let _ = writeln!(out, "  {l}");
                }
            }
            _ => {
                let _ = writeln!(out, "{k:width$}  {}", cell(Some(val)));
            }
        }
    }
    out
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
    fn cells_and_details() {
        let v = json!({"id": "s", "types": ["a", "b"], "n": null, "nested": {"k": 1}});
        assert_eq!(cell(v.get("types")), "a,b");
        assert_eq!(cell(v.get("n")), "");
        let d = details(&v);
        assert!(d.contains("types   a,b"));
        assert!(d.contains("nested:\n  {"));
    }
}
