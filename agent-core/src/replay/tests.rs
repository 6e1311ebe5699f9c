//! The replay guard: what may change and what is refused.

use super::*;
use crate::config::TunnelConfig;
use fdt_agent_api::HeaderEdits;
use fdt_proto::Proto;

fn target() -> ReplayTarget {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let t = TunnelConfig::new(Proto::Http, "127.0.0.1:3000")
        .resolve("web")
        .expect("valid tunnel");
    ReplayTarget::new(&t).expect("client")
}

fn captured() -> HttpExchange {
    HttpExchange {
        id: ExchangeId(9),
        method: "POST".into(),
        host: "web.example.com".into(),
        uri: "/orders?id=1".into(),
        request_headers: vec![
            ("host".into(), "web.example.com".into()),
            ("content-length".into(), "2".into()),
        ],
        request_body: crate::inspect::store::body("{}"),
        ..Default::default()
    }
}

fn try_modify(m: ReplayModify) -> Result<Request<Full<Bytes>>, ReplayError> {
    let ex = captured();
    let spec = ReplaySpec::modified(&ex, &m)?;
    target().request(&spec, Some(&ex.host))
}

fn path(p: &str) -> ReplayModify {
    ReplayModify {
        path: Some(p.into()),
        ..Default::default()
    }
}

#[test]
fn as_is_replay_goes_to_the_upstream() {
    let req = try_modify(ReplayModify::default()).expect("allowed");
    assert_eq!(req.uri().to_string(), "http://127.0.0.1:3000/orders?id=1");
    assert_eq!(req.headers()["host"], "web.example.com");
    assert!(!req.headers().contains_key("content-length"));
}

#[test]
fn path_only_edit_is_allowed() {
    let req = try_modify(path("/orders/2?x=%2F")).expect("allowed");
    assert_eq!(
        req.uri().to_string(),
        "http://127.0.0.1:3000/orders/2?x=%2F"
    );
}

/// Asserts every path in `paths` is refused.
fn assert_paths_refused(paths: &[&str]) {
    for p in paths {
        assert!(
            matches!(try_modify(path(p)), Err(ReplayError::Refused(_))),
            "{p}"
        );
    }
}

#[test]
fn metadata_address_is_refused() {
    assert_paths_refused(&[
        "http://169.254.169.254/latest/meta-data/",
        "//169.254.169.254/latest/meta-data/",
        "169.254.169.254/latest",
    ]);
}

#[test]
fn another_local_port_is_refused() {
    assert_paths_refused(&[
        "http://127.0.0.1:22/",
        "//localhost:6379/",
        "/\\\\localhost:6379/",
    ]);
}

#[test]
fn dot_segments_are_refused() {
    assert_paths_refused(&["/a/../b", "/a/%2E%2e/b", "/./x"]);
}

#[test]
fn host_change_is_refused_but_original_or_upstream_host_is_not() {
    let host = |h: &str| ReplayModify {
        headers: Some(HeaderEdits {
            set: [("Host".to_string(), h.to_string())].into(),
            remove: vec![],
        }),
        ..Default::default()
    };
    assert!(matches!(
        try_modify(host("169.254.169.254")),
        Err(ReplayError::Refused(_))
    ));
    assert!(matches!(
        try_modify(host("127.0.0.1:22")),
        Err(ReplayError::Refused(_))
    ));
    assert!(try_modify(host("WEB.example.com")).is_ok());
    assert!(try_modify(host("web.example.com:8443")).is_ok());
    assert!(try_modify(host("127.0.0.1:3000")).is_ok());
}

#[test]
fn connect_is_refused() {
    let m = ReplayModify {
        method: Some("CONNECT".into()),
        ..Default::default()
    };
    assert!(matches!(try_modify(m), Err(ReplayError::Refused(_))));
}

#[test]
fn truncated_body_needs_a_new_body() {
    let mut ex = captured();
    ex.request_body.truncated = true;
    assert!(matches!(
        ReplaySpec::from_exchange(&ex),
        Err(ReplayError::BodyTruncated(_))
    ));
    let m = ReplayModify {
        body: Some(BodyEdit::Base64("aGk=".into())),
        ..Default::default()
    };
    assert_eq!(
        ReplaySpec::modified(&ex, &m).map(|s| s.body).ok(),
        Some(Bytes::from("hi"))
    );
}
