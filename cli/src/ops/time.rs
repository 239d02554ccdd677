//! Time flags (`--since`, `--until`): RFC 3339, a date, or an age before now.

use super::client::{CliError, CliResult};

/// A time flag: RFC 3339, a date (midnight UTC) or an age before now (`90s`, `15m`, `2h`, `3d`).
pub fn parse_time(flag: &str, raw: &str) -> CliResult<String> {
    let raw = raw.trim();
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(raw) {
        return Ok(t.with_timezone(&chrono::Utc).to_rfc3339());
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(raw, "%Y-%m-%d") {
        if let Some(t) = d.and_hms_opt(0, 0, 0) {
            return Ok(t.and_utc().to_rfc3339());
        }
    }
    let age = raw
        .char_indices()
        .last()
        .and_then(|(i, unit)| {
            let n: i64 = raw[..i].parse().ok()?;
            let secs = match unit {
                's' => n,
                'm' => n.checked_mul(60)?,
                'h' => n.checked_mul(3600)?,
                'd' => n.checked_mul(86_400)?,
                _ => return None,
            };
            chrono::Duration::try_seconds(secs)
        })
        .filter(|d| *d >= chrono::Duration::zero());
    match age {
        Some(d) => Ok((chrono::Utc::now() - d).to_rfc3339()),
        None => Err(CliError::Usage(format!(
            "{flag} {raw:?}: use an RFC 3339 time (2024-11-17T10:41:00Z), a date (2024-11-17) or an age (90s, 15m, 2h, 3d)"
        ))),
    }
}

/// [`parse_time`] of an optional flag.
pub fn opt_time(flag: &str, v: Option<&str>) -> CliResult<Option<String>> {
    v.map(|t| parse_time(flag, t)).transpose()
}

/// `--since` and `--until` of a listing.
#[derive(clap::Args)]
pub struct TimeRange {
    /// RFC 3339 time, a date (2024-11-17) or an age (90s, 15m, 2h, 3d).
    #[arg(long)]
    since: Option<String>,
    /// End of the time range (exclusive); same forms as --since.
    #[arg(long)]
    until: Option<String>,
}

impl TimeRange {
    /// The range as the admin API's `since` and `until` query parameters.
    pub fn params(&self) -> CliResult<[(&'static str, Option<String>); 2]> {
        Ok([
            ("since", opt_time("--since", self.since.as_deref())?),
            ("until", opt_time("--until", self.until.as_deref())?),
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        assert_eq!(
            parse_time("--since", "2024-11-17T13:41:00+03:00").unwrap(),
            "2024-11-17T10:41:00+00:00"
        );
        assert_eq!(
            parse_time("--since", "2024-11-17").unwrap(),
            "2024-11-17T00:00:00+00:00"
        );
        let two_hours = parse_time("--since", "2h").unwrap();
        let t = chrono::DateTime::parse_from_rfc3339(&two_hours).unwrap();
        let age = chrono::Utc::now() - t.with_timezone(&chrono::Utc);
        assert!((age.num_seconds() - 7200).abs() < 5);
        for bad in ["yesterday", "2h30", "-5m", "", "5w"] {
            assert!(parse_time("--since", bad).is_err(), "{bad}");
        }
        assert_eq!(opt_time("--until", None).unwrap(), None);
    }
}
