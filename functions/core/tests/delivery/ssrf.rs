//! SSRF guard: every refused address class, as IP literals and through names (a stub
//! resolver), refused at the guard before any connection.
//!
//! Safety of these tests even with a broken guard: each case first asserts the refusal at
//! the guard itself (no socket involved) and stops there if it is missing; the clients bind
//! their sockets to 127.0.0.1, which Linux will not route to any other address; IPv6 targets
//! are only ever checked at the guard, never handed to the client; names resolve from a
//! static table.

use crate::common::*;
use crate::sink::Sink;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use switchboard_core::delivery::guard::{
    classify, AddressClass, GuardedResolver, Lookup, Policy, ResolveError, StaticLookup,
};
use switchboard_core::domain::attempt::{AttemptStatus, ErrorKind};

/// One address of every refused class, IPv4 and IPv6.
const REFUSED: &[(&str, AddressClass)] = &[
    ("127.0.0.1", AddressClass::Loopback),
    ("127.255.0.9", AddressClass::Loopback),
    ("10.0.0.1", AddressClass::Private),
    ("172.16.5.4", AddressClass::Private),
    ("192.168.1.1", AddressClass::Private),
    ("100.64.0.1", AddressClass::SharedCgnat),
    ("169.254.169.254", AddressClass::LinkLocal),
    ("169.254.0.1", AddressClass::LinkLocal),
    ("224.0.0.251", AddressClass::Multicast),
    ("239.255.255.250", AddressClass::Multicast),
    ("0.0.0.0", AddressClass::Unspecified),
    ("255.255.255.255", AddressClass::Broadcast),
    ("0.0.0.1", AddressClass::Reserved),
    ("240.0.0.1", AddressClass::Reserved),
    ("192.0.2.1", AddressClass::Documentation),
    ("198.51.100.1", AddressClass::Documentation),
    ("203.0.113.1", AddressClass::Documentation),
    ("198.18.0.1", AddressClass::Benchmark),
    ("::1", AddressClass::Loopback),
    ("::", AddressClass::Unspecified),
    ("fc00::1", AddressClass::Private),
    ("fd00::2", AddressClass::Private),
    ("fe80::1", AddressClass::LinkLocal),
    ("ff02::1", AddressClass::Multicast),
    ("::ffff:127.0.0.1", AddressClass::Loopback),
    ("::ffff:10.0.0.1", AddressClass::Private),
    ("::ffff:169.254.169.254", AddressClass::LinkLocal),
    ("::ffff:100.64.0.1", AddressClass::SharedCgnat),
    ("::127.0.0.1", AddressClass::Loopback),
    ("64:ff9b::10.0.0.1", AddressClass::Private),
    ("2002:a9fe:a9fe::1", AddressClass::LinkLocal),
    ("2001:db8::1", AddressClass::Documentation),
];

fn url_for(ip: IpAddr, port: u16) -> String {
    match ip {
        IpAddr::V4(v4) => format!("http://{v4}:{port}/hook"),
        IpAddr::V6(v6) => format!("http://[{v6}]:{port}/hook"),
    }
}

/// Counts lookups, so a test can prove the client asked our resolver.
struct Counting {
    inner: StaticLookup,
    calls: Arc<AtomicUsize>,
}

impl Lookup for Counting {
    fn lookup(
        &self,
        host: String,
    ) -> std::pin::Pin<
        Box<dyn std::future::Future<Output = std::io::Result<Vec<std::net::SocketAddr>>> + Send>,
    > {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.inner.lookup(host)
    }
}

#[test]
fn every_class_is_classified() {
    for (addr, class) in REFUSED {
        let ip: IpAddr = addr.parse().unwrap();
        assert_eq!(classify(ip), Some(*class), "{addr}");
        assert!(Policy::strict().check_ip(ip).is_err(), "{addr}");
    }
    for public in [
        "93.184.216.34",
        "1.1.1.1",
        "2606:4700:4700::1111",
        "100.128.0.1",
    ] {
        assert_eq!(classify(public.parse().unwrap()), None, "{public}");
    }
}

#[tokio::test]
async fn ip_literal_urls_are_refused_before_sending() {
    let strict = Policy::strict();
    let client = client(strict.clone(), StaticLookup::new(), Duration::from_secs(1));
    let ev = event("call.ended");
    for (addr, class) in REFUSED {
        let ip: IpAddr = addr.parse().unwrap();
        let url = url_for(ip, 9);
        // The guard refuses it, with no socket involved; stop here otherwise.
        let refusal = strict.check_url(&reqwest::Url::parse(&url).unwrap());
        assert!(refusal.is_err(), "guard must refuse {url}");
        // And the client records the refusal without a request.
        let sub = subscription(&url, &["*"]);
        let outcome = client.deliver(&sub, &ev).await;
        assert_eq!(
            outcome.error_kind,
            Some(ErrorKind::Refused),
            "{url}: {outcome:?}"
        );
        assert_eq!(outcome.http_status, None);
        assert!(
            outcome.error.as_deref().unwrap().contains("not allowed"),
            "{class:?}"
        );
    }
}

#[tokio::test]
async fn names_resolving_to_refused_addresses_are_refused_by_the_resolver() {
    let mut lookup = StaticLookup::new();
    for (i, (addr, _)) in REFUSED.iter().enumerate() {
        lookup = lookup.with(&format!("h{i}.sink.test"), &[addr.parse().unwrap()]);
    }
    let resolver = GuardedResolver::new(Arc::new(lookup), Arc::new(Policy::strict()));
    for (i, (addr, _)) in REFUSED.iter().enumerate() {
        let r = resolver.resolve_checked(&format!("h{i}.sink.test")).await;
        assert!(matches!(r, Err(ResolveError::Refused(_))), "{addr}: {r:?}");
    }
    // Unknown names fail as lookups, not as refusals.
    assert!(matches!(
        resolver.resolve_checked("nowhere.test").await,
        Err(ResolveError::Lookup(_))
    ));
}

#[tokio::test]
async fn names_through_the_client_are_refused_at_the_resolver() {
    let sink = Sink::ok().await;
    let port = sink.addr.port();
    let v4: Vec<_> = REFUSED
        .iter()
        .filter(|(a, _)| a.parse::<std::net::Ipv4Addr>().is_ok())
        .collect();
    let mut table = StaticLookup::new().with("canary.sink.test", &[LOOPBACK]);
    for (i, (addr, _)) in v4.iter().enumerate() {
        table = table.with(&format!("h{i}.sink.test"), &[addr.parse().unwrap()]);
    }
    let calls = Arc::new(AtomicUsize::new(0));
    let lookup = Counting {
        inner: table.clone(),
        calls: calls.clone(),
    };
    // Loopback allowed for the canary only; every other class refused.
    let policy = loopback_policy();
    let client = {
        let lookup: Arc<dyn Lookup> = Arc::new(lookup);
        switchboard_core::delivery::DeliveryClient::with_options(
            switchboard_core::delivery::client::ClientOptions {
                default_timeout: Duration::from_secs(2),
                policy: policy.clone(),
                lookup,
                local_address: Some(LOOPBACK),
                max_idle_per_host: 4,
            },
        )
        .unwrap()
    };
    let ev = event("call.ended");

    // The canary proves names go through our resolver.
    let canary = subscription(&format!("http://canary.sink.test:{port}/canary"), &["*"]);
    let outcome = client.deliver(&canary, &ev).await;
    assert_eq!(outcome.http_status, Some(200), "{outcome:?}");
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(sink.count_at("/canary"), 1);

    let guard = GuardedResolver::new(Arc::new(table), Arc::new(policy));
    for (i, (addr, class)) in v4.iter().enumerate() {
        let host = format!("h{i}.sink.test");
        if *class == AddressClass::Loopback {
            continue; // allowed by this policy: the canary covers it
        }
        // Refused at the guard first (no socket); stop here otherwise.
        assert!(guard.resolve_checked(&host).await.is_err(), "{addr}");
        let sub = subscription(&format!("http://{host}:{port}/h{i}"), &["*"]);
        let outcome = client.deliver(&sub, &ev).await;
        assert_eq!(
            outcome.error_kind,
            Some(ErrorKind::Refused),
            "{addr}: {outcome:?}"
        );
        assert!(outcome
            .error
            .unwrap()
            .contains("resolves only to addresses"));
    }
    assert_eq!(sink.received().len(), 1, "only the canary arrived");
}

#[tokio::test]
async fn mixed_answers_keep_only_allowed_addresses() {
    let sink = Sink::ok().await;
    let addrs: Vec<IpAddr> = ["10.0.0.7", "169.254.169.254", "127.0.0.1"]
        .iter()
        .map(|a| a.parse().unwrap())
        .collect();
    let table = StaticLookup::new().with("mixed.sink.test", &addrs);
    let guard = GuardedResolver::new(Arc::new(table.clone()), Arc::new(loopback_policy()));
    let kept = guard.resolve_checked("mixed.sink.test").await.unwrap();
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0].ip(), LOOPBACK);

    let client = client(loopback_policy(), table, Duration::from_secs(2));
    let sub = subscription(
        &format!("http://mixed.sink.test:{}/mixed", sink.addr.port()),
        &["*"],
    );
    let outcome = client.deliver(&sub, &event("call.ended")).await;
    assert_eq!(outcome.http_status, Some(200), "{outcome:?}");
    assert_eq!(sink.received()[0].peer.ip(), LOOPBACK);
}

#[tokio::test]
async fn loopback_needs_an_explicit_allowance() {
    let sink = Sink::ok().await;
    let ev = event("call.ended");
    let sub = subscription(&sink.url("/x"), &["*"]);
    let strict = client(
        Policy::strict(),
        StaticLookup::new(),
        Duration::from_secs(2),
    );
    assert_eq!(
        strict.deliver(&sub, &ev).await.error_kind,
        Some(ErrorKind::Refused)
    );
    assert_eq!(sink.received().len(), 0);
    let serve_like = client(
        loopback_policy(),
        StaticLookup::new(),
        Duration::from_secs(2),
    );
    assert_eq!(serve_like.deliver(&sub, &ev).await.http_status, Some(200));
}

#[tokio::test]
async fn refused_target_is_recorded_failed_without_retry() {
    let h = Harness::new();
    let sub = subscription("http://169.254.169.254/latest/meta-data/", &["*"]);
    h.add(&sub).await;
    let a = h.publish_call_end().await;
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].status, AttemptStatus::Failed);
    assert_eq!(a[0].error_kind, Some(ErrorKind::Refused));
    assert!(delivers(&h.queue.take()).is_empty());
}
