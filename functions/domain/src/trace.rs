//! Trace context: the id of the ingest request that accepted an event, carried with the
//! event on the queue so one provider request can be followed to each of its deliveries.
//!
//! The form is X-Ray's trace header (`Root=1-<8 hex>-<24 hex>[;Parent=<16 hex>][;Sampled=0|1]`),
//! the one SQS carries in its `AWSTraceHeader` message system attribute. A W3C
//! `traceparent` maps onto it (its 32-hex trace id split 8 + 24, as X-Ray does). Only
//! these fields are kept, and each is checked: the header comes from the caller, and it
//! ends up in log lines and on the queue (SQS refuses a malformed one).

use std::fmt;

/// A checked trace header in X-Ray form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceHeader {
    header: String,
    /// Length of `Root=1-xxxxxxxx-xxxxxxxxxxxxxxxxxxxxxxxx`'s value (the root id).
    root_len: usize,
}

const ROOT_LEN: usize = 2 + 8 + 1 + 24;

fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn is_root(root: &str) -> bool {
    root.len() == ROOT_LEN
        && root.starts_with("1-")
        && is_hex(&root[2..10], 8)
        && &root[10..11] == "-"
        && is_hex(&root[11..], 24)
}

impl TraceHeader {
    fn build(root: &str, parent: Option<&str>, sampled: Option<bool>) -> Self {
        let mut header = format!("Root={}", root.to_ascii_lowercase());
        if let Some(p) = parent {
            header.push_str(";Parent=");
            header.push_str(&p.to_ascii_lowercase());
        }
        if let Some(s) = sampled {
            header.push_str(if s { ";Sampled=1" } else { ";Sampled=0" });
        }
        Self {
            header,
            root_len: ROOT_LEN,
        }
    }

    /// An `X-Amzn-Trace-Id` / `AWSTraceHeader` value, `_X_AMZN_TRACE_ID` included; `None`
    /// when it has no valid `Root`. Unknown fields are dropped.
    pub fn from_xray(value: &str) -> Option<Self> {
        let mut root = None;
        let mut parent = None;
        let mut sampled = None;
        for field in value.trim().split(';') {
            let Some((key, v)) = field.trim().split_once('=') else {
                continue;
            };
            match key.trim() {
                "Root" if is_root(v.trim()) => root = Some(v.trim()),
                "Parent" if is_hex(v.trim(), 16) => parent = Some(v.trim()),
                "Sampled" => match v.trim() {
                    "1" => sampled = Some(true),
                    "0" => sampled = Some(false),
                    _ => {}
                },
                _ => {}
            }
        }
        root.map(|r| Self::build(r, parent, sampled))
    }

    /// A W3C `traceparent` (`00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>`).
    pub fn from_traceparent(value: &str) -> Option<Self> {
        let mut parts = value.trim().split('-');
        let (version, trace, parent, flags) =
            (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        if !is_hex(version, 2) || version == "ff" || !is_hex(trace, 32) || !is_hex(parent, 16) {
            return None;
        }
        if !is_hex(flags, 2) || trace.bytes().all(|b| b == b'0') {
            return None;
        }
        let sampled = u8::from_str_radix(flags, 16).ok()? & 1 == 1;
        let root = format!("1-{}-{}", &trace[..8], &trace[8..]);
        Some(Self::build(&root, Some(parent), Some(sampled)))
    }

    /// A new root for a request that came without one: the time in seconds, then 96 bits
    /// of a ULID (its random part and the low bits of its milliseconds).
    pub fn generate(epoch_secs: i64) -> Self {
        let random = u128::from(ulid::Ulid::new()) & ((1u128 << 96) - 1);
        let secs = u32::try_from(epoch_secs.max(0)).unwrap_or(u32::MAX);
        Self::build(&format!("1-{secs:08x}-{random:024x}"), None, None)
    }

    /// The whole header, as SQS's `AWSTraceHeader` takes it.
    pub fn header(&self) -> &str {
        &self.header
    }

    /// The trace id alone (`1-5759e988-bd862e3fe1be46a994272793`): what log lines and
    /// metrics lines carry, and what to search for.
    pub fn root(&self) -> &str {
        &self.header["Root=".len().."Root=".len() + self.root_len]
    }
}

impl fmt::Display for TraceHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.root())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xray_headers_are_checked_and_kept_to_their_known_fields() {
        let h = TraceHeader::from_xray(
            "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1;Lineage=a:1",
        )
        .unwrap();
        assert_eq!(
            h.header(),
            "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
        );
        assert_eq!(h.root(), "1-5759e988-bd862e3fe1be46a994272793");
        assert_eq!(h.to_string(), h.root());
        for bad in [
            "",
            "Root=",
            "Root=1-5759e988-bd862e3fe1be46a99427279",
            "Root=2-5759e988-bd862e3fe1be46a994272793",
            "Root=1-5759e98g-bd862e3fe1be46a994272793",
            "Root=1-5759e988-bd862e3fe1be46a994272793\nforged log line",
            "Parent=53995c3f42cd8ad8",
        ] {
            assert_eq!(TraceHeader::from_xray(bad), None, "{bad:?}");
        }
        let bad_parent =
            TraceHeader::from_xray("Root=1-5759e988-bd862e3fe1be46a994272793;Parent=x;Sampled=7")
                .unwrap();
        assert_eq!(
            bad_parent.header(),
            "Root=1-5759e988-bd862e3fe1be46a994272793"
        );
    }

    #[test]
    fn traceparent_maps_onto_an_xray_root() {
        let h = TraceHeader::from_traceparent(
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        )
        .unwrap();
        assert_eq!(
            h.header(),
            "Root=1-4bf92f35-77b34da6a3ce929d0e0e4736;Parent=00f067aa0ba902b7;Sampled=1"
        );
        assert_eq!(
            TraceHeader::from_xray(h.header()).as_ref(),
            Some(&h),
            "its header reads back the same"
        );
        for bad in [
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "garbage",
        ] {
            assert_eq!(TraceHeader::from_traceparent(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn generated_roots_are_valid_and_distinct() {
        let a = TraceHeader::generate(1_700_000_000);
        let b = TraceHeader::generate(1_700_000_000);
        assert_ne!(a, b);
        assert!(a.root().starts_with("1-6553f100-"), "{}", a.root());
        assert_eq!(TraceHeader::from_xray(a.header()).as_ref(), Some(&a));
    }
}
