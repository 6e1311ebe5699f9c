#![allow(clippy::unwrap_used)]

use std::net::{Ipv4Addr, Ipv6Addr};

use super::*;

fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn basic(user_pass: &str) -> HeaderValue {
    HeaderValue::from_str(&format!("Basic {}", STANDARD.encode(user_pass))).unwrap()
}

fn compile(p: EdgePolicy) -> CompiledPolicy {
    CompiledPolicy::compile(&p).unwrap()
}

#[test]
fn empty_policy_allows_everything() {
    let p = compile(EdgePolicy::default());
    assert_eq!(p.check_ip(ip("203.0.113.9")), Ok(()));
    assert_eq!(p.check_ip(ip("2001:db8::1")), Ok(()));
    assert!(p.check_basic_auth(None));
    assert!(!p.has_basic_auth());
    assert!(p.host_rewrite().is_none());
    let mut h = HeaderMap::new();
    h.insert("x-a", HeaderValue::from_static("1"));
    p.apply_request_headers(&mut h);
    p.apply_response_headers(&mut h);
    assert_eq!(h.len(), 1);
}

#[test]
fn mapped_ipv6_peer_matches_ipv4_rules() {
    let p = compile(EdgePolicy {
        cidr_allow: vec![net("10.0.0.0/8")],
        cidr_deny: vec![net("::ffff:10.9.0.0/112")],
        ..EdgePolicy::default()
    });
    let mapped = IpAddr::V6(Ipv4Addr::new(10, 1, 2, 3).to_ipv6_mapped());
    assert_eq!(p.check_ip(mapped), Ok(()));
    assert_eq!(
        p.check_ip(ip("::ffff:10.9.1.1")),
        Err(Denied::DenyListed(net("10.9.0.0/16")))
    );
    assert_eq!(
        p.check_ip(ip("10.9.1.1")),
        Err(Denied::DenyListed(net("10.9.0.0/16")))
    );
    assert_eq!(p.check_ip(ip("::ffff:192.0.2.1")), Err(Denied::NotAllowed));
    // IPv4-compatible (deprecated) addresses are not mapped ones.
    let compat = IpAddr::V6(Ipv6Addr::new(0, 0, 0, 0, 0, 0, 0x0a01, 0x0203));
    assert_eq!(p.check_ip(compat), Err(Denied::NotAllowed));
}

#[test]
fn deny_wins_over_allow() {
    let p = compile(EdgePolicy {
        cidr_allow: vec![net("192.0.2.0/24"), net("2001:db8::/32")],
        cidr_deny: vec![net("192.0.2.128/25"), net("2001:db8:bad::/48")],
        ..EdgePolicy::default()
    });
    assert_eq!(p.check_ip(ip("192.0.2.1")), Ok(()));
    assert_eq!(
        p.check_ip(ip("192.0.2.200")),
        Err(Denied::DenyListed(net("192.0.2.128/25")))
    );
    assert_eq!(p.check_ip(ip("2001:db8::1")), Ok(()));
    assert!(matches!(
        p.check_ip(ip("2001:db8:bad::1")),
        Err(Denied::DenyListed(_))
    ));
    assert_eq!(p.check_ip(ip("198.51.100.1")), Err(Denied::NotAllowed));
}

#[test]
fn deny_only_list_allows_the_rest() {
    let p = compile(EdgePolicy {
        cidr_deny: vec![net("198.51.100.0/24")],
        ..EdgePolicy::default()
    });
    assert!(p.check_ip(ip("198.51.100.7")).is_err());
    assert_eq!(p.check_ip(ip("203.0.113.7")), Ok(()));
}

#[test]
fn basic_auth_accepts_only_configured_pairs() {
    let p = compile(EdgePolicy {
        basic_auth: vec!["alice:s3cret".into(), "bob:pa:ss".into(), "eve:".into()],
        ..EdgePolicy::default()
    });
    assert!(p.has_basic_auth());
    assert!(p.check_basic_auth(Some(&basic("alice:s3cret"))));
    assert!(p.check_basic_auth(Some(&basic("bob:pa:ss"))));
    assert!(p.check_basic_auth(Some(&basic("eve:"))));
    assert!(!p.check_basic_auth(Some(&basic("alice:wrong"))));
    assert!(!p.check_basic_auth(Some(&basic("alice:s3cret2"))));
    assert!(!p.check_basic_auth(Some(&basic("bob:pa"))));
    assert!(!p.check_basic_auth(Some(&basic("mallory:s3cret"))));
    assert!(!p.check_basic_auth(None));
}

#[test]
fn basic_auth_takes_prehashed_passwords() {
    // The control plane stores sha256("carol:hunter2") and sends it as the password.
    let hex: String = Sha256::digest("carol:hunter2")
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let p = compile(EdgePolicy {
        basic_auth: vec![format!("carol:{PREHASHED_PREFIX}{hex}")],
        ..EdgePolicy::default()
    });
    assert!(p.check_basic_auth(Some(&basic("carol:hunter2"))));
    assert!(!p.check_basic_auth(Some(&basic("carol:hunter3"))));
    assert!(!p.check_basic_auth(Some(&basic(&format!("carol:{PREHASHED_PREFIX}{hex}")))));
    // Not 64 hex digits: a literal password that happens to start with the marker.
    let p = compile(EdgePolicy {
        basic_auth: vec![format!("dave:{PREHASHED_PREFIX}xyz")],
        ..EdgePolicy::default()
    });
    assert!(p.check_basic_auth(Some(&basic(&format!("dave:{PREHASHED_PREFIX}xyz")))));
}

#[test]
fn basic_auth_scheme_is_case_insensitive() {
    let p = compile(EdgePolicy {
        basic_auth: vec!["alice:s3cret".into()],
        ..EdgePolicy::default()
    });
    let token = STANDARD.encode("alice:s3cret");
    for v in [
        format!("basic {token}"),
        format!("BASIC {token}"),
        format!("  Basic   {token}  "),
    ] {
        assert!(
            p.check_basic_auth(Some(&HeaderValue::from_str(&v).unwrap())),
            "{v}"
        );
    }
}

#[test]
fn malformed_authorization_headers_are_refused() {
    let p = compile(EdgePolicy {
        basic_auth: vec!["alice:s3cret".into()],
        ..EdgePolicy::default()
    });
    let token = STANDARD.encode("alice:s3cret");
    for v in [
        String::new(),
        "Basic".into(),
        "Basic ".into(),
        "Basic !!!notbase64".into(),
        format!("Bearer {token}"),
        format!("Basic{token}"),
        format!("Basic {}", &token[..token.len() - 2]),
        "alice:s3cret".into(),
    ] {
        assert!(
            !p.check_basic_auth(Some(&HeaderValue::from_str(&v).unwrap())),
            "{v:?}"
        );
    }
    let opaque = HeaderValue::from_bytes(b"Basic \xff\xfe").unwrap();
    assert!(!p.check_basic_auth(Some(&opaque)));
}

#[test]
fn bad_credentials_are_rejected_at_compile() {
    for (entries, index) in [
        (vec!["alice:x", "nocolon"], 1),
        (vec![":hunter2"], 0),
        (vec![""], 0),
    ] {
        let p = EdgePolicy {
            basic_auth: entries.into_iter().map(String::from).collect(),
            ..EdgePolicy::default()
        };
        let err = CompiledPolicy::compile(&p).unwrap_err();
        assert_eq!(err, PolicyError::BadCredential(index));
        assert!(!format!("{err}{err:?}").contains("hunter2"));
    }
}

#[test]
fn headers_are_removed_then_added() {
    let p = compile(EdgePolicy {
        request_headers: HeaderRules {
            add: vec![
                ("X-Forwarded-Team".into(), "core".into()),
                ("x-dup".into(), "a".into()),
                ("x-dup".into(), "b".into()),
                ("x-replace".into(), "new".into()),
            ],
            remove: vec!["Cookie".into(), "X-Replace".into()],
        },
        response_headers: HeaderRules {
            add: vec![("strict-transport-security".into(), "max-age=60".into())],
            remove: vec!["server".into()],
        },
        ..EdgePolicy::default()
    });
    let mut req = HeaderMap::new();
    req.append("cookie", HeaderValue::from_static("a=1"));
    req.append("cookie", HeaderValue::from_static("b=2"));
    req.insert("x-replace", HeaderValue::from_static("old"));
    req.insert("accept", HeaderValue::from_static("*/*"));
    p.apply_request_headers(&mut req);
    assert!(req.get("cookie").is_none());
    assert_eq!(req["x-forwarded-team"], "core");
    assert_eq!(req.get_all("x-dup").iter().collect::<Vec<_>>(), ["a", "b"]);
    assert_eq!(req.get_all("x-replace").iter().collect::<Vec<_>>(), ["new"]);
    assert_eq!(req["accept"], "*/*");

    let mut resp = HeaderMap::new();
    resp.insert("server", HeaderValue::from_static("nginx"));
    p.apply_response_headers(&mut resp);
    assert!(resp.get("server").is_none());
    assert_eq!(resp["strict-transport-security"], "max-age=60");
}

#[test]
fn invalid_or_protected_headers_are_rejected() {
    let with_req = |add: Vec<(&str, &str)>, remove: Vec<&str>| EdgePolicy {
        request_headers: HeaderRules {
            add: add.into_iter().map(|(n, v)| (n.into(), v.into())).collect(),
            remove: remove.into_iter().map(String::from).collect(),
        },
        ..EdgePolicy::default()
    };
    let cases = [
        (with_req(vec![("bad name", "v")], vec![]), "name"),
        (with_req(vec![("", "v")], vec![]), "name"),
        (
            with_req(vec![("x-a", "line\r\nInjected: 1")], vec![]),
            "value",
        ),
        (with_req(vec![("x-a", "nul\0")], vec![]), "value"),
        (with_req(vec![], vec!["bad:name"]), "name"),
        (
            with_req(vec![("Transfer-Encoding", "chunked")], vec![]),
            "protected",
        ),
        (with_req(vec![("content-length", "0")], vec![]), "protected"),
        (with_req(vec![], vec!["Host"]), "protected"),
    ];
    for (policy, kind) in cases {
        let err = CompiledPolicy::compile(&policy).unwrap_err();
        let ok = match kind {
            "name" => matches!(err, PolicyError::BadHeaderName(_)),
            "value" => matches!(err, PolicyError::BadHeaderValue(_)),
            _ => matches!(err, PolicyError::ProtectedHeader(_)),
        };
        assert!(ok, "{policy:?} gave {err:?}");
    }
    let resp = EdgePolicy {
        response_headers: HeaderRules {
            add: vec![("x-ok".into(), "bad\nvalue".into())],
            remove: vec![],
        },
        ..EdgePolicy::default()
    };
    assert!(CompiledPolicy::compile(&resp).is_err());
}

#[test]
fn host_rewrite_is_validated() {
    let p = compile(EdgePolicy {
        host_header: Some("internal.local:8080".into()),
        ..EdgePolicy::default()
    });
    assert_eq!(p.host_rewrite().unwrap(), "internal.local:8080");
    for bad in ["", "a b", "evil.com/path", "user@host", "x\r\ny"] {
        let p = EdgePolicy {
            host_header: Some(bad.into()),
            ..EdgePolicy::default()
        };
        assert_eq!(
            CompiledPolicy::compile(&p).unwrap_err(),
            PolicyError::BadHost(bad.into()),
            "{bad:?}"
        );
    }
}
