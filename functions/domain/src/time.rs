//! Timestamps: UTC, serialised as RFC 3339 with microseconds so that strings sort like times
//! (DynamoDB range keys compare strings).

use chrono::{DateTime, SecondsFormat, Utc};

pub type Timestamp = DateTime<Utc>;

pub fn now() -> Timestamp {
    Utc::now()
}

/// Fixed-width, sortable form used in keys.
pub fn sortable(t: &Timestamp) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// Seconds since the epoch, as DynamoDB TTL wants.
pub fn epoch_secs(t: &Timestamp) -> i64 {
    t.timestamp()
}

/// Serde helpers for the sortable form.
pub mod sortable_serde {
    use super::*;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &Timestamp, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&sortable(t))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Timestamp, D::Error> {
        let raw = String::deserialize(d)?;
        DateTime::parse_from_rfc3339(&raw)
            .map(|t| t.with_timezone(&Utc))
            .map_err(serde::de::Error::custom)
    }
}

/// Serialises a timestamp exactly as chrono's own `Serialize` does (RFC 3339, `Z`, the
/// fraction in 0, 3, 6 or 9 digits, whichever is exact), without going through
/// `core::fmt`: every envelope and attempt carries several, and chrono's way was a few
/// per cent of `serve`'s CPU. Years outside 0–9999 and leap seconds take chrono's way.
/// `#[serde(serialize_with = "rfc3339::serialize")]` (`rfc3339::option` for an `Option`).
pub mod rfc3339 {
    use super::Timestamp;
    use chrono::{Datelike, SecondsFormat, Timelike};
    use serde::Serializer;

    /// The longest form written here: `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ`.
    const MAX: usize = 30;

    pub fn serialize<S: Serializer>(t: &Timestamp, s: S) -> Result<S::Ok, S::Error> {
        let mut buf = [0u8; MAX];
        match write(t, &mut buf) {
            Some(text) => s.serialize_str(text),
            None => s.serialize_str(&t.to_rfc3339_opts(SecondsFormat::AutoSi, true)),
        }
    }

    pub fn option<S: Serializer>(t: &Option<Timestamp>, s: S) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => serialize(t, s),
            None => s.serialize_none(),
        }
    }

    /// The text in `buf`, or `None` for what only chrono writes.
    fn write<'a>(t: &Timestamp, buf: &'a mut [u8; MAX]) -> Option<&'a str> {
        let year = u32::try_from(t.year()).ok().filter(|y| *y <= 9999)?;
        let nanos = t.nanosecond();
        if nanos >= 1_000_000_000 {
            return None;
        }
        let mut at = 0;
        let mut put = |value: u32, width: usize, then: Option<u8>| {
            let mut v = value;
            for i in (0..width).rev() {
                buf[at + i] = b'0' + (v % 10) as u8;
                v /= 10;
            }
            at += width;
            if let Some(sep) = then {
                buf[at] = sep;
                at += 1;
            }
        };
        put(year, 4, Some(b'-'));
        put(t.month(), 2, Some(b'-'));
        put(t.day(), 2, Some(b'T'));
        put(t.hour(), 2, Some(b':'));
        put(t.minute(), 2, Some(b':'));
        let (fraction, digits) = match nanos {
            0 => (0, 0),
            n if n % 1_000_000 == 0 => (n / 1_000_000, 3),
            n if n % 1_000 == 0 => (n / 1_000, 6),
            n => (n, 9),
        };
        if digits == 0 {
            put(t.second(), 2, Some(b'Z'));
        } else {
            put(t.second(), 2, Some(b'.'));
            put(fraction, digits, Some(b'Z'));
        }
        std::str::from_utf8(&buf[..at]).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sortable_strings_sort_like_times() {
        let a: Timestamp = "2024-11-17T10:41:00Z".parse().unwrap();
        let b: Timestamp = "2024-11-17T10:41:00.5Z".parse().unwrap();
        assert_eq!(sortable(&a), "2024-11-17T10:41:00.000000Z");
        assert!(sortable(&a) < sortable(&b));
    }

    /// What chrono's `Serialize` writes, and what `rfc3339::serialize` writes.
    fn both(t: &Timestamp) -> (String, String) {
        #[derive(serde::Serialize)]
        struct Ours(#[serde(serialize_with = "rfc3339::serialize")] Timestamp);
        (
            serde_json::to_string(t).unwrap(),
            serde_json::to_string(&Ours(*t)).unwrap(),
        )
    }

    #[test]
    fn timestamps_are_written_as_chrono_writes_them() {
        for text in [
            "2026-11-30T02:00:16Z",
            "2026-11-30T02:00:16.5Z",
            "2026-11-30T02:00:16.828926Z",
            "2026-11-30T02:00:16.836784728Z",
            "0000-01-01T00:00:00.000000001Z",
            "9999-12-31T23:59:59.999999999Z",
            "2016-12-31T23:59:60.5Z",
            "+10000-01-01T00:00:00Z",
        ] {
            let t: Timestamp = match text.parse() {
                Ok(t) => t,
                Err(_) => continue,
            };
            let (chrono, ours) = both(&t);
            assert_eq!(ours, chrono, "{text}");
        }
        let leap = chrono::NaiveDate::from_ymd_opt(2016, 12, 31)
            .and_then(|d| d.and_hms_nano_opt(23, 59, 59, 1_500_000_000))
            .unwrap()
            .and_utc();
        let far = chrono::NaiveDate::from_ymd_opt(-44, 3, 15)
            .and_then(|d| d.and_hms_opt(12, 0, 0))
            .unwrap()
            .and_utc();
        for t in [leap, far] {
            let (chrono, ours) = both(&t);
            assert_eq!(ours, chrono);
        }
    }

    proptest::proptest! {
        #[test]
        fn any_timestamp_is_written_as_chrono_writes_it(
            secs in -70_000_000_000i64..260_000_000_000i64,
            nanos in 0u32..2_000_000_000,
            round in 0usize..4,
        ) {
            let nanos = match round {
                0 => 0,
                1 => nanos / 1_000_000 * 1_000_000,
                2 => nanos / 1_000 * 1_000,
                _ => nanos,
            };
            if let Some(t) = chrono::DateTime::from_timestamp(secs, nanos) {
                let (chrono, ours) = both(&t);
                proptest::prop_assert_eq!(ours, chrono);
            }
        }
    }
}
