//! Extractor tests: client addresses behind trusted proxies.

#![allow(clippy::unwrap_used)]
use super::*;
use axum::http::HeaderValue;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn forwarded(values: &[&'static str]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for v in values {
        h.append(X_FORWARDED_FOR, HeaderValue::from_static(v));
    }
    h
}

#[test]
fn forwarded_for_counts_only_behind_a_trusted_proxy() {
    let trusted: TrustedProxies = "10.0.0.0/8, 192.0.2.1, 2001:db8:ffff::/48".parse().unwrap();
    let none = TrustedProxies::default();
    let client = ip("203.0.113.5");
    let spoofed = forwarded(&["198.51.100.1"]);
    // (peer, X-Forwarded-For values, trusted, the client address counted)
    let cases: &[(&str, &[&'static str], &TrustedProxies, &str)] = &[
        // Nothing trusted (the default): the peer, whatever the header says.
        ("203.0.113.5", &["198.51.100.1"], &none, "203.0.113.5"),
        ("10.0.0.1", &["198.51.100.1"], &none, "10.0.0.1"),
        // A client that is not a proxy cannot pick its address.
        ("203.0.113.5", &["198.51.100.1"], &trusted, "203.0.113.5"),
        // Behind a proxy: the address it heard from.
        ("10.0.0.1", &["203.0.113.5"], &trusted, "203.0.113.5"),
        // A client's own header is on the left of what the proxy appended.
        (
            "10.0.0.1",
            &["198.51.100.1, 203.0.113.5"],
            &trusted,
            "203.0.113.5",
        ),
        // Through two proxies, in one header or in several.
        (
            "10.0.0.1",
            &["198.51.100.1, 203.0.113.5, 192.0.2.1"],
            &trusted,
            "203.0.113.5",
        ),
        (
            "10.0.0.1",
            &["198.51.100.1", "203.0.113.5", "10.9.9.9"],
            &trusted,
            "203.0.113.5",
        ),
        // Ports and IPv6.
        ("10.0.0.1", &["203.0.113.5:4321"], &trusted, "203.0.113.5"),
        ("10.0.0.1", &["[2001:db8::7]:443"], &trusted, "2001:db8::7"),
        (
            "2001:db8:ffff::1",
            &["2001:db8::7"],
            &trusted,
            "2001:db8::7",
        ),
        ("::ffff:10.0.0.1", &["203.0.113.5"], &trusted, "203.0.113.5"),
        // Only proxies: the left-most.
        ("10.0.0.1", &["10.0.0.3, 10.0.0.2"], &trusted, "10.0.0.3"),
        // No header, or junk where a proxy's entry should be: the nearest proxy.
        ("10.0.0.1", &[], &trusted, "10.0.0.1"),
        ("10.0.0.1", &["unknown"], &trusted, "10.0.0.1"),
        (
            "10.0.0.1",
            &["203.0.113.5, junk, 10.0.0.2"],
            &trusted,
            "10.0.0.2",
        ),
    ];
    for (peer, values, trusted, want) in cases {
        let got = client_addr(Some(ip(peer)), &forwarded(values), trusted);
        assert_eq!(
            got,
            Some(ip(want)),
            "peer {peer}, X-Forwarded-For {values:?}"
        );
    }
    assert_eq!(client_addr(None, &spoofed, &trusted), None);
    assert_eq!(client_addr(Some(client), &spoofed, &none), Some(client));
}
