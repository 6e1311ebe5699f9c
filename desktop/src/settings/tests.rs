#![allow(clippy::unwrap_used)]
use super::*;

fn http(name: &str, addr: &str) -> TunnelInput {
    TunnelInput {
        name: name.into(),
        proto: "http".into(),
        addr: addr.into(),
        ..Default::default()
    }
}

#[test]
fn tunnels_are_added_edited_and_removed_by_stable_id() {
    let mut s = Settings::default();
    let a = s.upsert(http(" web ", "3000")).unwrap();
    let b = s.upsert(http("api", "8080")).unwrap();
    assert_eq!((a.as_str(), b.as_str()), ("t1", "t2"));
    assert_eq!(s.tunnels[0].def.name, "web", "names are trimmed");
    let mut edit = http("web2", "3001");
    edit.id = Some(a.clone());
    assert_eq!(s.upsert(edit).unwrap(), a);
    assert_eq!(s.tunnels[0].def.addr, "3001");
    assert_eq!(s.tunnels[0].def.id, None, "the id is not stored twice");
    s.remove(&a).unwrap();
    let c = s.upsert(http("web", "3000")).unwrap();
    assert_eq!(c, "t3", "ids are never reused");
    assert_eq!(s.remove("t9").unwrap_err().kind, ErrorKind::NotFound);
}

#[test]
fn names_are_unique() {
    let mut s = Settings::default();
    s.upsert(http("web", "3000")).unwrap();
    let e = s.upsert(http("web", "3001")).unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidInput);
    assert!(e.message.contains("already"), "{}", e.message);
}

#[test]
fn bad_definitions_are_refused_in_words() {
    let cases = [
        (http("", "3000"), "Name"),
        (http("a b", "3000"), "Name"),
        (http("web", ""), "Local address"),
        (http("web", "localhost:http"), "port"),
        (
            TunnelInput {
                proto: "udp".into(),
                ..http("web", "3000")
            },
            "Protocol",
        ),
        (
            TunnelInput {
                basic_auth: vec!["nopass".into()],
                ..http("web", "3000")
            },
            "user:password",
        ),
        (
            TunnelInput {
                cidr_allow: vec!["10.0.0.0/33".into()],
                ..http("web", "3000")
            },
            "Allowed networks",
        ),
        (
            TunnelInput {
                proto: "tcp".into(),
                subdomain: Some("x".into()),
                ..http("db", "5432")
            },
            "Subdomain",
        ),
        (
            TunnelInput {
                proto: "tcp".into(),
                basic_auth: vec!["u:p".into()],
                ..http("db", "5432")
            },
            "http tunnels only",
        ),
    ];
    for (input, needle) in cases {
        let e = resolve(&normalize(input.clone())).unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidInput, "{input:?}");
        assert!(
            e.message.contains(needle),
            "{needle:?} not in {:?}",
            e.message
        );
        assert!(e.message.ends_with('.'), "{:?}", e.message);
    }
}

#[test]
fn a_full_definition_resolves_with_its_policy() {
    let t = normalize(TunnelInput {
        subdomain: Some(" Demo ".into()),
        basic_auth: vec!["ann:secret".into(), " ".into()],
        cidr_allow: vec!["10.0.0.0/8".into(), "127.0.0.1".into()],
        cidr_deny: vec!["10.1.0.0/16".into()],
        ..http("web", "https://localhost:8443")
    });
    let r = resolve(&t).unwrap();
    assert_eq!(r.spec.name, "web");
    assert_eq!(t.subdomain.as_deref(), Some("demo"));
    assert_eq!(t.basic_auth.len(), 1);
    assert_eq!(r.addr, "https://localhost:8443");
}

#[test]
fn settings_round_trip_through_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("settings.toml");
    assert_eq!(Settings::load(&path).unwrap(), Settings::default());
    let mut s = Settings::default();
    s.upsert(http("web", "3000")).unwrap();
    s.tunnel_mut("t1").unwrap().enabled = true;
    s.save(&path).unwrap();
    assert_eq!(Settings::load(&path).unwrap(), s);
    std::fs::write(&path, "tunnels = 3").unwrap();
    assert!(matches!(
        Settings::load(&path),
        Err(SettingsError::Parse { .. })
    ));
}
