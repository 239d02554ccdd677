//! The retry schedule: when the next attempt happens after a failure.

use rand::Rng;
use std::time::Duration;

/// Delays after the 1st, 2nd, ... failed attempt (Svix's schedule): 5 s, 5 min, 30 min,
/// 2 h, 5 h, 10 h, 10 h; eight attempts over about 27.6 hours.
pub const DEFAULT_SCHEDULE_SECS: [u64; 7] = [5, 300, 1800, 7200, 18_000, 36_000, 36_000];

/// Longest `Retry-After` honoured; a longer one is capped here.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(6 * 3600);

/// The delay before attempt `failed_attempt + 1`, or `None` when the schedule is used up.
/// `jitter` is a factor in [0.8, 1.2] (±20 %), applied to every delay.
pub fn next_delay(schedule: &[u64], failed_attempt: u32, jitter: f64) -> Option<Duration> {
    let index = usize::try_from(failed_attempt.checked_sub(1)?).ok()?;
    let base = *schedule.get(index)?;
    Some(Duration::from_secs_f64(
        base as f64 * jitter.clamp(0.8, 1.2),
    ))
}

/// A random jitter factor in [0.8, 1.2].
pub fn jitter() -> f64 {
    rand::thread_rng().gen_range(0.8..=1.2)
}

/// `Retry-After` as seconds or an HTTP date, capped at [`MAX_RETRY_AFTER`].
pub fn parse_retry_after(value: &str, now: chrono::DateTime<chrono::Utc>) -> Option<Duration> {
    let value = value.trim();
    let delay = match value.parse::<u64>() {
        Ok(secs) => Duration::from_secs(secs),
        Err(_) => {
            let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
            (at.with_timezone(&chrono::Utc) - now)
                .to_std()
                .unwrap_or(Duration::ZERO)
        }
    };
    Some(delay.min(MAX_RETRY_AFTER))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_schedule_spans_more_than_a_day() {
        let total: u64 = DEFAULT_SCHEDULE_SECS.iter().sum();
        assert!(total > 86_400);
        assert_eq!(
            next_delay(&DEFAULT_SCHEDULE_SECS, 1, 1.0),
            Some(Duration::from_secs(5))
        );
        assert_eq!(
            next_delay(&DEFAULT_SCHEDULE_SECS, 7, 1.0),
            Some(Duration::from_secs(36_000))
        );
        assert_eq!(next_delay(&DEFAULT_SCHEDULE_SECS, 8, 1.0), None);
        assert_eq!(next_delay(&DEFAULT_SCHEDULE_SECS, 0, 1.0), None);
    }

    #[test]
    fn jitter_is_bounded() {
        for _ in 0..1000 {
            let j = jitter();
            assert!((0.8..=1.2).contains(&j));
        }
        let d = next_delay(&[100], 1, 5.0).unwrap();
        assert_eq!(d, Duration::from_secs(120));
    }

    #[test]
    fn retry_after_forms() {
        let now = chrono::DateTime::parse_from_rfc3339("2024-11-17T10:41:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        assert_eq!(parse_retry_after("30", now), Some(Duration::from_secs(30)));
        assert_eq!(
            parse_retry_after("Sun, 17 Nov 2024 10:42:00 GMT", now),
            Some(Duration::from_secs(60))
        );
        assert_eq!(parse_retry_after("999999", now), Some(MAX_RETRY_AFTER));
        assert_eq!(parse_retry_after("soon", now), None);
    }
}
