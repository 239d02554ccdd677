//! Identifiers: sortable (ULID-based) with a readable type prefix.

/// A new event id: `evt_` + ULID, so ids sort by creation time.
pub fn event_id() -> String {
    format!("evt_{}", ulid::Ulid::new())
}

/// A new subscription id.
pub fn subscription_id() -> String {
    format!("sub_{}", ulid::Ulid::new())
}

/// [`is_valid_slug`] as a regular expression, for the API's JSON schemas.
pub const SLUG_PATTERN: &str = "^[A-Za-z0-9_-]{1,64}$";

/// Whether a caller-chosen id (source ids) is safe to use in URLs and keys:
/// 1–64 characters of ASCII letters, digits, `-` and `_`.
pub fn is_valid_slug(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_slug_pattern_says_what_is_valid_slug_checks() {
        let pattern = SLUG_PATTERN;
        assert!(pattern.starts_with("^[A-Za-z0-9_-]{1,") && pattern.ends_with("}$"));
        let max: usize = pattern["^[A-Za-z0-9_-]{1,".len()..pattern.len() - 2]
            .parse()
            .unwrap();
        assert!(is_valid_slug(&"a".repeat(max)) && !is_valid_slug(&"a".repeat(max + 1)));
        for ok in ["a", "A-b_9"] {
            assert!(is_valid_slug(ok));
        }
        for bad in ["", "a b", "a/b", "ü", "a.b"] {
            assert!(!is_valid_slug(bad), "{bad:?}");
        }
    }

    #[test]
    fn event_ids_sort_by_creation() {
        let a = event_id();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let b = event_id();
        assert!(a.starts_with("evt_") && a.len() == 30);
        assert!(a < b);
    }

    #[test]
    fn slugs() {
        assert!(is_valid_slug("hipcall-main_1"));
        assert!(!is_valid_slug(""));
        assert!(!is_valid_slug("../etc"));
        assert!(!is_valid_slug("a b"));
        assert!(!is_valid_slug(&"a".repeat(65)));
    }
}
