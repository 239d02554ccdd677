//! Reading provider fields leniently: values arrive as JSON numbers, JSON strings or
//! form/query strings, times with or without a zone. Nothing here panics on any input.

use crate::domain::time::Timestamp;
use crate::domain::CallInfo;
use chrono::{DateTime, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde_json::Value;

/// A field by exact key, else by dotted path (`data.user.id`, `legs.0.id`).
pub(crate) fn get<'v>(v: &'v Value, path: &str) -> Option<&'v Value> {
    if let Some(found) = v.get(path) {
        return Some(found);
    }
    if !path.contains('.') {
        return None;
    }
    path.split('.').try_fold(v, |cur, part| match cur {
        Value::Object(m) => m.get(part),
        Value::Array(a) => part.parse::<usize>().ok().and_then(|i| a.get(i)),
        _ => None,
    })
}

/// The first of `keys` present (non-null, non-empty) as text.
pub(crate) fn first_text(v: &Value, keys: &[&str]) -> Option<String> {
    keys.iter().find_map(|k| text(get(v, k)))
}

/// A value as trimmed text: strings as they are, numbers and booleans printed; null and
/// empty strings are absent.
pub(crate) fn text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => {
            let t = s.trim();
            (!t.is_empty()).then(|| t.to_owned())
        }
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A non-negative whole number: a JSON number (fractions truncated) or a numeric string.
pub(crate) fn uint(v: Option<&Value>) -> Option<u64> {
    match v? {
        Value::Number(n) => n.as_u64().or_else(|| {
            n.as_f64()
                .filter(|f| f.is_finite() && *f >= 0.0 && *f < 1.8e19)
                .map(|f| f as u64)
        }),
        Value::String(s) => {
            let s = s.trim();
            s.parse::<u64>().ok().or_else(|| {
                s.parse::<f64>()
                    .ok()
                    .filter(|f| f.is_finite() && *f >= 0.0 && *f < 1.8e19)
                    .map(|f| f as u64)
            })
        }
        _ => None,
    }
}

/// `hh:mm:ss` or `mm:ss` as seconds.
pub(crate) fn hms_secs(v: Option<&Value>) -> Option<u64> {
    let s = text(v)?;
    let parts: Vec<u64> = s
        .split(':')
        .map(|p| p.trim().parse::<u64>().ok())
        .collect::<Option<_>>()?;
    match parts.as_slice() {
        [h, m, s] if *m < 60 && *s < 60 => h.checked_mul(3600)?.checked_add(m * 60 + s),
        [m, s] if *s < 60 => m.checked_mul(60)?.checked_add(*s),
        _ => None,
    }
}

/// An RFC 3339 time with its zone (`2024-11-17T10:41:00Z`, `...51.000000Z`, `...+00:00`).
pub(crate) fn rfc3339(v: Option<&Value>) -> Option<Timestamp> {
    let s = v?.as_str()?.trim();
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// A JSON number or numeric string as a float.
pub(crate) fn number(v: Option<&Value>) -> Option<f64> {
    match v? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    }
    .filter(|f| f.is_finite())
}

/// Unix seconds from a number or numeric string.
pub(crate) fn unix_secs(v: Option<&Value>) -> Option<Timestamp> {
    from_epoch(number(v)?)
}

/// Seconds since the epoch as a time (years 1970-9999 only, so that small counters and
/// absurd values are not taken for times).
pub(crate) fn from_epoch(secs: f64) -> Option<Timestamp> {
    if !(1.0..253_402_300_800.0).contains(&secs) {
        return None;
    }
    let whole = secs.trunc() as i64;
    // Microseconds at most: an f64 of today's epoch seconds holds no finer digits.
    let micros = ((secs - secs.trunc()) * 1e6).round().clamp(0.0, 999_999.0) as u32;
    Utc.timestamp_opt(whole, micros * 1000).single()
}

/// Milliseconds since the epoch as a time (same bounds as [`from_epoch`]).
pub(crate) fn from_epoch_millis(ms: f64) -> Option<Timestamp> {
    if !(1000.0..253_402_300_800_000.0).contains(&ms) {
        return None;
    }
    Utc.timestamp_millis_opt(ms.round() as i64).single()
}

/// A time that may lack a zone: RFC 3339 keeps its own zone; `YYYY-MM-DD hh:mm:ss[.f]`
/// (any spacing, or `T`) and `YYYY-MM-DD hh:mm` are read as local times in `tz`.
pub(crate) fn local_time(v: Option<&Value>, tz: Tz) -> Option<Timestamp> {
    let raw = v?.as_str()?;
    if let Some(t) = rfc3339(v) {
        return Some(t);
    }
    let joined = raw.split_whitespace().collect::<Vec<_>>().join(" ");
    let naive = [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
    ]
    .iter()
    .find_map(|f| NaiveDateTime::parse_from_str(&joined, f).ok())?;
    localize(naive, tz)
}

/// A wall-clock time in `tz` as UTC. Ambiguous (autumn) times take the earlier instant;
/// times in a spring-forward gap are read an hour later, as clocks show them.
pub(crate) fn localize(naive: NaiveDateTime, tz: Tz) -> Option<Timestamp> {
    match tz.from_local_datetime(&naive) {
        LocalResult::Single(t) => Some(t.with_timezone(&Utc)),
        LocalResult::Ambiguous(early, _) => Some(early.with_timezone(&Utc)),
        LocalResult::None => {
            let later = naive.checked_add_signed(chrono::TimeDelta::hours(1))?;
            tz.from_local_datetime(&later)
                .earliest()
                .map(|t| t.with_timezone(&Utc))
        }
    }
}

/// A time of day (`23:34:00`) on the local date of `anchor` in `tz`; a result more than a
/// minute before the anchor is taken to be on the next day (the call crossed midnight).
pub(crate) fn time_of_day_after(v: Option<&Value>, anchor: Timestamp, tz: Tz) -> Option<Timestamp> {
    let s = text(v)?;
    let tod = NaiveTime::parse_from_str(&s, "%H:%M:%S%.f")
        .or_else(|_| NaiveTime::parse_from_str(&s, "%H:%M"))
        .ok()?;
    let date: NaiveDate = anchor.with_timezone(&tz).date_naive();
    let t = localize(date.and_time(tod), tz)?;
    if t < anchor - chrono::TimeDelta::minutes(1) {
        let next = date.succ_opt()?;
        localize(next.and_time(tod), tz)
    } else {
        Some(t)
    }
}

/// `inbound` / `outbound` from the many ways providers say it.
pub(crate) fn direction(s: &str) -> Option<String> {
    let d = s.trim().to_ascii_lowercase();
    if d.starts_with("in") {
        Some("inbound".into())
    } else if d.starts_with("out") {
        Some("outbound".into())
    } else {
        None
    }
}

/// A provider event name folded for matching: ASCII letters and digits only, lowercase
/// (`Call:Hangup`, `call_hangup` and `CALL HANGUP` all become `callhangup`).
pub(crate) fn fold(name: &str) -> String {
    name.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// A provider's own event name made safe to embed in a type (`hipcall.note_create`):
/// lowercase, anything but letters and digits becomes `_`, at most 48 characters.
pub(crate) fn type_suffix(name: &str) -> Option<String> {
    let s: String = name
        .chars()
        .take(48)
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    let s = s.trim_matches('_').to_owned();
    (!s.is_empty()).then_some(s)
}

/// The parties of a call as the TwiML-style form callbacks name them (`Direction`,
/// `From`, `To`: Twilio's names, which Plivo kept): the `CallInfo` the providers fill in.
pub(super) fn form_parties(payload: &Value, id: Option<String>) -> CallInfo {
    let get = |k: &str| text(payload.get(k));
    CallInfo {
        id,
        direction: get("Direction").as_deref().and_then(direction),
        from: get("From"),
        to: get("To"),
        ..CallInfo::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths_and_text() {
        let v = json!({"a.b": 1, "a": {"b": 2, "c": [{"d": "x"}]}, "e": "  ", "n": null});
        assert_eq!(text(get(&v, "a.b")).as_deref(), Some("1"));
        assert_eq!(text(get(&v, "a.c.0.d")).as_deref(), Some("x"));
        assert_eq!(text(get(&v, "e")), None);
        assert_eq!(text(get(&v, "n")), None);
        assert_eq!(get(&v, "a.c.9.d"), None);
    }

    #[test]
    fn numbers() {
        assert_eq!(uint(Some(&json!("18"))), Some(18));
        assert_eq!(uint(Some(&json!(18.9))), Some(18));
        assert_eq!(uint(Some(&json!(-1))), None);
        assert_eq!(uint(Some(&json!("x"))), None);
        assert_eq!(hms_secs(Some(&json!("00:05:41"))), Some(341));
        assert_eq!(hms_secs(Some(&json!("06:57"))), Some(417));
        assert_eq!(hms_secs(Some(&json!("00:61:00"))), None);
    }

    #[test]
    fn zone_less_times_use_the_zone() {
        let kolkata: Tz = "Asia/Kolkata".parse().unwrap();
        let t = local_time(Some(&json!("2023-01-02  14:32:44")), kolkata).unwrap();
        assert_eq!(t.to_rfc3339(), "2023-01-02T09:02:44+00:00");
        let t = local_time(Some(&json!("2023-01-02 14:32:44")), chrono_tz::UTC).unwrap();
        assert_eq!(t.to_rfc3339(), "2023-01-02T14:32:44+00:00");
        let t = local_time(Some(&json!("2023-04-04T09:59:51.000000Z")), kolkata).unwrap();
        assert_eq!(t.to_rfc3339(), "2023-04-04T09:59:51+00:00");
        assert_eq!(
            local_time(Some(&json!("0000-00-00 00:00:00")), kolkata),
            None
        );
    }

    #[test]
    fn dst_edges() {
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        // 02:30 does not exist on 2024-03-31 in Berlin: read as 03:30 CEST.
        let gap = local_time(Some(&json!("2024-03-31 02:30:00")), berlin).unwrap();
        assert_eq!(gap.to_rfc3339(), "2024-03-31T01:30:00+00:00");
        // 02:30 happens twice on 2024-10-27: the earlier (CEST) one.
        let amb = local_time(Some(&json!("2024-10-27 02:30:00")), berlin).unwrap();
        assert_eq!(amb.to_rfc3339(), "2024-10-27T00:30:00+00:00");
    }

    #[test]
    fn time_of_day_crosses_midnight() {
        let anchor: Timestamp = "2024-12-02T23:50:00Z".parse().unwrap();
        let t = time_of_day_after(Some(&json!("00:10:00")), anchor, chrono_tz::UTC).unwrap();
        assert_eq!(t.to_rfc3339(), "2024-12-03T00:10:00+00:00");
    }

    #[test]
    fn unix_and_directions() {
        assert_eq!(
            unix_secs(Some(&json!(1731840066))).unwrap().to_rfc3339(),
            "2024-11-17T10:41:06+00:00"
        );
        assert_eq!(unix_secs(Some(&json!(0))), None);
        assert_eq!(unix_secs(Some(&json!(1e300))), None);
        assert_eq!(direction("Outgoing").as_deref(), Some("outbound"));
        assert_eq!(direction("inbound").as_deref(), Some("inbound"));
        assert_eq!(direction("IVR"), None);
        assert_eq!(fold("Call:Hangup"), "callhangup");
        assert_eq!(type_suffix("::weird Name!").as_deref(), Some("weird_name"));
    }
}
