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
}
