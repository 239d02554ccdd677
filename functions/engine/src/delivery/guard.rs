//! SSRF guard: which addresses a subscriber URL may reach.
//!
//! Checked on subscription create/update (admin) and on every delivery:
//! - an IP-literal URL is checked before the request is built;
//! - a host name is resolved by [`GuardedResolver`], the delivery client's only DNS resolver,
//!   which drops every refused address before the connector sees it (so the connected address
//!   is always one that passed the check), and fails when none is left;
//! - the client follows no redirects and uses no proxy, so the vetted host is the one reached;
//! - the response's peer address is checked again as a last line of defence.
//!
//! Refused by default: loopback, RFC 1918 and unique-local (fc00::/7), CGNAT (100.64/10),
//! link-local (169.254/16 with the cloud metadata address, fe80::/10), multicast, unspecified,
//! broadcast, "this network" (0/8), reserved (240/4), documentation and benchmark ranges,
//! and IPv6 forms that embed an IPv4 address (mapped, compatible, NAT64, 6to4) when the
//! embedded address is refused. A deployment may allow classes by name
//! (`SWITCHBOARD_ALLOW_PRIVATE_TARGETS=loopback,private`); `serve` allows `loopback`.

use std::collections::BTreeSet;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

/// Why an address is special. Public unicast addresses have no class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AddressClass {
    /// 127/8, ::1.
    Loopback,
    /// RFC 1918 (10/8, 172.16/12, 192.168/16) and IPv6 unique-local fc00::/7.
    Private,
    /// Carrier-grade NAT shared space, 100.64/10 (RFC 6598).
    SharedCgnat,
    /// 169.254/16 (cloud metadata lives at 169.254.169.254), fe80::/10.
    LinkLocal,
    /// 224/4, ff00::/8.
    Multicast,
    /// 0.0.0.0, ::.
    Unspecified,
    /// 255.255.255.255.
    Broadcast,
    /// 0/8 "this network", 240/4 reserved, 192.0.0/24 protocol assignments, deprecated or
    /// special IPv6 prefixes (site-local fec0::/10, Teredo, ORCHID, discard-only).
    Reserved,
    /// 192.0.2/24, 198.51.100/24, 203.0.113/24, 2001:db8::/32, 3fff::/20.
    Documentation,
    /// 198.18/15, 2001:2::/48.
    Benchmark,
}

impl AddressClass {
    pub const ALL: [AddressClass; 10] = [
        Self::Loopback,
        Self::Private,
        Self::SharedCgnat,
        Self::LinkLocal,
        Self::Multicast,
        Self::Unspecified,
        Self::Broadcast,
        Self::Reserved,
        Self::Documentation,
        Self::Benchmark,
    ];

    /// The name used in `SWITCHBOARD_ALLOW_PRIVATE_TARGETS` and in error messages.
    pub fn name(self) -> &'static str {
        match self {
            Self::Loopback => "loopback",
            Self::Private => "private",
            Self::SharedCgnat => "cgnat",
            Self::LinkLocal => "link_local",
            Self::Multicast => "multicast",
            Self::Unspecified => "unspecified",
            Self::Broadcast => "broadcast",
            Self::Reserved => "reserved",
            Self::Documentation => "documentation",
            Self::Benchmark => "benchmark",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        let n = name.trim().to_ascii_lowercase().replace('-', "_");
        match n.as_str() {
            "unique_local" | "rfc1918" => Some(Self::Private),
            "shared" => Some(Self::SharedCgnat),
            other => Self::ALL.into_iter().find(|c| c.name() == other),
        }
    }
}

/// Classifies an address; `None` for ordinary public unicast.
pub fn classify(ip: IpAddr) -> Option<AddressClass> {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

fn classify_v4(ip: Ipv4Addr) -> Option<AddressClass> {
    let o = ip.octets();
    let class = if ip.is_unspecified() {
        AddressClass::Unspecified
    } else if ip.is_loopback() {
        AddressClass::Loopback
    } else if ip.is_private() {
        AddressClass::Private
    } else if o[0] == 100 && (o[1] & 0xc0) == 64 {
        AddressClass::SharedCgnat
    } else if ip.is_link_local() {
        AddressClass::LinkLocal
    } else if ip.is_broadcast() {
        AddressClass::Broadcast
    } else if ip.is_multicast() {
        AddressClass::Multicast
    } else if ip.is_documentation() {
        AddressClass::Documentation
    } else if o[0] == 198 && (o[1] & 0xfe) == 18 {
        AddressClass::Benchmark
    } else if o[0] == 0 || o[0] >= 240 || (o[0] == 192 && o[1] == 0 && o[2] == 0) {
        AddressClass::Reserved
    } else {
        return None;
    };
    Some(class)
}

fn classify_v6(ip: Ipv6Addr) -> Option<AddressClass> {
    if ip.is_unspecified() {
        return Some(AddressClass::Unspecified);
    }
    if ip.is_loopback() {
        return Some(AddressClass::Loopback);
    }
    // Forms that carry an IPv4 address: judged by that address, and refused as reserved
    // when the embedded address is itself fine but the form is deprecated.
    if let Some(v4) = embedded_v4(ip) {
        return Some(classify_v4(v4).unwrap_or(AddressClass::Reserved));
    }
    let s = ip.segments();
    let class = if (s[0] & 0xfe00) == 0xfc00 {
        AddressClass::Private
    } else if (s[0] & 0xffc0) == 0xfe80 {
        AddressClass::LinkLocal
    } else if (s[0] & 0xffc0) == 0xfec0 {
        // Site-local, deprecated (RFC 3879) but still routed privately by some networks.
        AddressClass::Private
    } else if (s[0] & 0xff00) == 0xff00 {
        AddressClass::Multicast
    } else if (s[0] == 0x2001 && s[1] == 0x0db8) || (s[0] & 0xfff0) == 0x3ff0 {
        AddressClass::Documentation
    } else if s[0] == 0x2001 && s[1] == 0x0002 && s[2] == 0 {
        AddressClass::Benchmark
    } else if is_reserved_v6(&s) {
        AddressClass::Reserved
    } else {
        return None;
    };
    Some(class)
}

/// Teredo 2001::/32, ORCHID 2001:10::/28 and 2001:20::/28, discard-only 100::/64, and
/// the rest of ::/16 (IPv4-embedding forms are handled before).
fn is_reserved_v6(s: &[u16; 8]) -> bool {
    let teredo_or_orchid =
        s[0] == 0x2001 && (s[1] == 0 || matches!(s[1] & 0xfff0, 0x0010 | 0x0020));
    let discard = s[0] == 0x0100 && s[1..4] == [0, 0, 0];
    teredo_or_orchid || discard || s[0] == 0
}

/// The IPv4 address inside IPv4-mapped (::ffff:a.b.c.d), IPv4-compatible (::a.b.c.d),
/// IPv4-translated (::ffff:0:a.b.c.d), NAT64 (64:ff9b::/96, 64:ff9b:1::/48) and 6to4
/// (2002::/16) addresses.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let tail = Ipv4Addr::new(
        (s[6] >> 8) as u8,
        (s[6] & 0xff) as u8,
        (s[7] >> 8) as u8,
        (s[7] & 0xff) as u8,
    );
    if s[..5] == [0; 5] && (s[5] == 0xffff || s[5] == 0) {
        return Some(tail);
    }
    if s[..4] == [0; 4] && s[4] == 0xffff && s[5] == 0 {
        return Some(tail);
    }
    if s[0] == 0x0064 && s[1] == 0xff9b && (s[2..6] == [0; 4] || s[2] == 1) {
        return Some(tail);
    }
    if s[0] == 0x2002 {
        return Some(Ipv4Addr::new(
            (s[1] >> 8) as u8,
            (s[1] & 0xff) as u8,
            (s[2] >> 8) as u8,
            (s[2] & 0xff) as u8,
        ));
    }
    None
}

/// A target the guard refused, recorded on the attempt as `refused`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("target address {addr} is {} and not allowed by this deployment", .class.name())]
    Address { addr: IpAddr, class: AddressClass },
    #[error("host {host:?} resolves only to addresses this deployment does not allow ({reason})")]
    AllAddresses { host: String, reason: String },
    #[error("url scheme {0:?} is not allowed; use http or https")]
    Scheme(String),
    #[error("url has no host")]
    NoHost,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown address class {0:?} in SWITCHBOARD_ALLOW_PRIVATE_TARGETS; known: loopback, private, cgnat, link_local, multicast, unspecified, broadcast, reserved, documentation, benchmark")]
pub struct UnknownClass(pub String);

/// Which special address classes a deployment allows (none by default).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policy {
    allowed: BTreeSet<AddressClass>,
}

impl Policy {
    /// Refuses every special class: the Lambda default.
    pub fn strict() -> Self {
        Self::default()
    }

    pub fn allowing(classes: impl IntoIterator<Item = AddressClass>) -> Self {
        Self {
            allowed: classes.into_iter().collect(),
        }
    }

    /// From `Settings::allow_private_targets` (`loopback`, `private`, ...; `none` or empty).
    pub fn from_names<S: AsRef<str>>(names: &[S]) -> Result<Self, UnknownClass> {
        let mut allowed = BTreeSet::new();
        for n in names {
            let n = n.as_ref().trim();
            if n.is_empty() || n.eq_ignore_ascii_case("none") {
                continue;
            }
            allowed.insert(AddressClass::parse(n).ok_or_else(|| UnknownClass(n.to_owned()))?);
        }
        Ok(Self { allowed })
    }

    pub fn allows_class(&self, class: AddressClass) -> bool {
        self.allowed.contains(&class)
    }

    pub fn check_ip(&self, ip: IpAddr) -> Result<(), Refused> {
        match classify(ip) {
            Some(class) if !self.allows_class(class) => Err(Refused::Address { addr: ip, class }),
            _ => Ok(()),
        }
    }

    /// The part of the check that needs no DNS: scheme, host presence, IP-literal hosts.
    /// Returns the host name to resolve, or `None` when the host was an IP literal.
    pub fn check_url(&self, url: &url::Url) -> Result<Option<String>, Refused> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(Refused::Scheme(url.scheme().to_owned()));
        }
        // The URL parser has already normalised IPv4 forms (decimal, hex, short) to dotted
        // quads and IPv6 to bracketed text.
        let host = url
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or(Refused::NoHost)?;
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        match bare.parse::<IpAddr>() {
            Ok(ip) => self.check_ip(ip).map(|()| None),
            Err(_) => Ok(Some(host.to_owned())),
        }
    }

    /// Keeps the allowed addresses of a resolution; refuses when none is left.
    pub fn filter_resolved(
        &self,
        host: &str,
        addrs: impl IntoIterator<Item = SocketAddr>,
    ) -> Result<Vec<SocketAddr>, Refused> {
        let mut kept = Vec::new();
        let mut first_refusal = None;
        for addr in addrs {
            match self.check_ip(addr.ip()) {
                Ok(()) => kept.push(addr),
                Err(e) => {
                    tracing::warn!(%host, refused = %e, "resolved address refused by the SSRF guard");
                    first_refusal.get_or_insert(e);
                }
            }
        }
        if kept.is_empty() {
            return Err(Refused::AllAddresses {
                host: host.to_owned(),
                reason: first_refusal
                    .map(|e| e.to_string())
                    .unwrap_or_else(|| "it resolved to no address".to_owned()),
            });
        }
        Ok(kept)
    }
}

/// Where host names are looked up: the system resolver in production, a table in tests.
pub trait Lookup: Send + Sync + 'static {
    fn lookup(
        &self,
        host: String,
    ) -> Pin<Box<dyn Future<Output = std::io::Result<Vec<SocketAddr>>> + Send>>;
}

/// The operating system's resolver (getaddrinfo on a blocking thread, via tokio).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemLookup;

impl Lookup for SystemLookup {
    fn lookup(
        &self,
        host: String,
    ) -> Pin<Box<dyn Future<Output = std::io::Result<Vec<SocketAddr>>> + Send>> {
        Box::pin(async move {
            let addrs = tokio::net::lookup_host((host.as_str(), 0)).await?;
            Ok(addrs.collect())
        })
    }
}

/// A fixed table of names to addresses; unknown names fail like NXDOMAIN. For tests: no
/// query ever leaves the process.
#[derive(Debug, Clone, Default)]
pub struct StaticLookup {
    entries: std::collections::HashMap<String, Vec<IpAddr>>,
}

impl StaticLookup {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with(mut self, host: &str, addrs: &[IpAddr]) -> Self {
        self.entries
            .insert(host.to_ascii_lowercase(), addrs.to_vec());
        self
    }
}

impl Lookup for StaticLookup {
    fn lookup(
        &self,
        host: String,
    ) -> Pin<Box<dyn Future<Output = std::io::Result<Vec<SocketAddr>>> + Send>> {
        let found = self.entries.get(&host.to_ascii_lowercase()).cloned();
        Box::pin(async move {
            match found {
                Some(ips) => Ok(ips.into_iter().map(|ip| SocketAddr::new(ip, 0)).collect()),
                None => Err(std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    format!("no such host {host:?} (static table)"),
                )),
            }
        })
    }
}

/// The delivery client's DNS resolver: looks a name up, then hands the connector only the
/// addresses the policy allows.
#[derive(Clone)]
pub struct GuardedResolver {
    lookup: Arc<dyn Lookup>,
    policy: Arc<Policy>,
}

impl GuardedResolver {
    pub fn new(lookup: Arc<dyn Lookup>, policy: Arc<Policy>) -> Self {
        Self { lookup, policy }
    }

    /// Resolves and filters `host`. Never connects to anything.
    pub async fn resolve_checked(&self, host: &str) -> Result<Vec<SocketAddr>, ResolveError> {
        // A bracketed or plain IP literal never reaches DNS.
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = bare.parse::<IpAddr>() {
            self.policy.check_ip(ip)?;
            return Ok(vec![SocketAddr::new(ip, 0)]);
        }
        let addrs = self
            .lookup
            .lookup(host.to_owned())
            .await
            .map_err(|e| ResolveError::Lookup(e.to_string()))?;
        Ok(self.policy.filter_resolved(host, addrs)?)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error(transparent)]
    Refused(#[from] Refused),
    #[error("dns lookup failed: {0}")]
    Lookup(String),
}

/// The create-time check of a subscriber URL: IP literals strictly; names are resolved with
/// a short timeout and refused when any address is refused. A name that does not resolve
/// (yet) is accepted: the delivery-time check is the one that counts.
pub async fn check_url_at_create(
    policy: &Policy,
    lookup: &dyn Lookup,
    url: &url::Url,
) -> Result<(), Refused> {
    let Some(host) = policy.check_url(url)? else {
        return Ok(());
    };
    match tokio::time::timeout(Duration::from_secs(2), lookup.lookup(host.clone())).await {
        Ok(Ok(addrs)) => {
            for a in addrs {
                policy.check_ip(a.ip()).map_err(|e| Refused::AllAddresses {
                    host: host.clone(),
                    reason: e.to_string(),
                })?;
            }
            Ok(())
        }
        Ok(Err(e)) => {
            tracing::info!(%host, error = %e, "subscriber host does not resolve at create time");
            Ok(())
        }
        Err(_) => {
            tracing::info!(%host, "subscriber host lookup timed out at create time");
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn classes() {
        let cases = [
            ("127.0.0.1", Some(AddressClass::Loopback)),
            ("10.1.2.3", Some(AddressClass::Private)),
            ("172.31.255.1", Some(AddressClass::Private)),
            ("192.168.0.1", Some(AddressClass::Private)),
            ("100.64.0.1", Some(AddressClass::SharedCgnat)),
            ("100.127.255.254", Some(AddressClass::SharedCgnat)),
            ("100.128.0.1", None),
            ("169.254.169.254", Some(AddressClass::LinkLocal)),
            ("224.0.0.1", Some(AddressClass::Multicast)),
            ("0.0.0.0", Some(AddressClass::Unspecified)),
            ("255.255.255.255", Some(AddressClass::Broadcast)),
            ("0.1.2.3", Some(AddressClass::Reserved)),
            ("240.0.0.1", Some(AddressClass::Reserved)),
            ("192.0.2.10", Some(AddressClass::Documentation)),
            ("198.18.0.1", Some(AddressClass::Benchmark)),
            ("93.184.216.34", None),
            ("::1", Some(AddressClass::Loopback)),
            ("::", Some(AddressClass::Unspecified)),
            ("fc00::1", Some(AddressClass::Private)),
            ("fd12:3456::1", Some(AddressClass::Private)),
            ("fe80::1", Some(AddressClass::LinkLocal)),
            ("ff02::1", Some(AddressClass::Multicast)),
            ("::ffff:127.0.0.1", Some(AddressClass::Loopback)),
            ("::ffff:169.254.169.254", Some(AddressClass::LinkLocal)),
            ("::10.0.0.1", Some(AddressClass::Private)),
            ("64:ff9b::a9fe:a9fe", Some(AddressClass::LinkLocal)),
            ("2002:7f00:1::", Some(AddressClass::Loopback)),
            ("::ffff:93.184.216.34", Some(AddressClass::Reserved)),
            ("2001:db8::1", Some(AddressClass::Documentation)),
            ("2606:4700::1111", None),
        ];
        for (addr, want) in cases {
            assert_eq!(classify(ip(addr)), want, "{addr}");
        }
    }

    #[test]
    fn policy_names() {
        let p = Policy::from_names(&["loopback", "Private", "none", ""]).unwrap();
        assert!(p.check_ip(ip("127.0.0.1")).is_ok());
        assert!(p.check_ip(ip("10.0.0.1")).is_ok());
        assert!(p.check_ip(ip("169.254.169.254")).is_err());
        assert!(Policy::from_names(&["everything"]).is_err());
        for c in AddressClass::ALL {
            assert_eq!(AddressClass::parse(c.name()), Some(c));
        }
    }

    #[test]
    fn url_literals_checked_without_dns() {
        let p = Policy::strict();
        let url = |s: &str| url::Url::parse(s).unwrap();
        assert!(p.check_url(&url("http://127.0.0.1:8080/")).is_err());
        assert!(p.check_url(&url("http://2130706433/")).is_err()); // decimal 127.0.0.1
        assert!(p.check_url(&url("http://0x7f.1/")).is_err());
        assert!(p.check_url(&url("http://[::ffff:7f00:1]/")).is_err());
        assert!(p.check_url(&url("ftp://example.com/")).is_err());
        assert_eq!(
            p.check_url(&url("https://example.com/x")).unwrap(),
            Some("example.com".to_owned())
        );
        assert_eq!(p.check_url(&url("https://93.184.216.34/")).unwrap(), None);
    }
}
