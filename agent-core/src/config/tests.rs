//! Config files and tunnel resolution.

#![allow(clippy::unwrap_used)]
use super::*;

#[test]
fn addresses_normalised() {
    let t = TunnelConfig::new(Proto::Http, "8000").resolve("a").unwrap();
    assert_eq!(t.upstream, Upstream::Http("localhost:8000".into()));
    let t = TunnelConfig::new(Proto::Http, "https://127.0.0.1:8443/")
        .resolve("a")
        .unwrap();
    assert_eq!(t.upstream, Upstream::Https("127.0.0.1:8443".into()));
    let t = TunnelConfig::new(Proto::Tcp, "10.0.0.5:22")
        .resolve("a")
        .unwrap();
    assert_eq!(t.upstream, Upstream::Tcp("10.0.0.5:22".into()));
    assert!(
        TunnelConfig::new(Proto::Tcp, "http://x:1")
            .resolve("a")
            .is_err()
    );
    assert!(
        TunnelConfig::new(Proto::Http, "localhost:notaport")
            .resolve("a")
            .is_err()
    );
}

#[test]
fn host_header_rewrite_and_bad_basic_auth() {
    let mut c = TunnelConfig::new(Proto::Http, "3000");
    c.host_header = Some("rewrite".into());
    let t = c.resolve("w").unwrap();
    assert_eq!(t.spec.policy.host_header.as_deref(), Some("localhost:3000"));
    c.basic_auth = vec!["nopass".into()];
    assert!(c.resolve("w").is_err());
}

#[test]
fn pooling_is_sent_for_http_and_tls_and_refused_for_tcp() {
    let file: ConfigFile = toml::from_str(
        "[tunnels.web]\nproto = \"http\"\naddr = \"8000\"\npooling_enabled = true\n",
    )
    .unwrap();
    assert!(file.tunnels["web"].resolve("web").unwrap().spec.pooling);
    let mut c = TunnelConfig::new(Proto::Tls, "8443");
    assert!(!c.resolve("t").unwrap().spec.pooling);
    c.pooling_enabled = true;
    assert!(c.resolve("t").unwrap().spec.pooling);
    c.proto = Proto::Tcp;
    let err = c.resolve("t").unwrap_err().to_string();
    assert!(err.contains("http and tls tunnels only"), "{err}");
}

#[test]
fn config_file_rejects_unknown_keys() {
    let ok: ConfigFile = toml::from_str(
        "authtoken = \"t\"\n[tunnels.web]\nproto = \"http\"\naddr = \"8000\"\nsubdomain = \"app\"\n",
    )
    .unwrap();
    assert_eq!(ok.tunnels["web"].subdomain.as_deref(), Some("app"));
    assert_eq!(format!("{:?}", ok.authtoken), "Some(***)");
    assert!(
        toml::from_str::<ConfigFile>("[tunnels.web]\nproto=\"http\"\naddr=\"1\"\nsubdomian=\"x\"")
            .is_err()
    );
}

#[test]
fn names_ports_and_remote_ports_are_checked() {
    let ok = TunnelConfig::new(Proto::Http, "8000");
    assert!(ok.resolve("command_line (http)").is_ok());
    assert!(ok.resolve(&"a".repeat(MAX_NAME_LEN)).is_ok());
    for bad in ["", "a/b", "é", "line\nbreak"] {
        assert!(ok.resolve(bad).is_err(), "name {bad:?} must be refused");
    }
    let long = ok.resolve(&"a".repeat(200)).expect_err("200 characters");
    assert!(
        long.to_string().contains("1 to 64 characters, not 200"),
        "{long}"
    );
    for addr in ["0", "localhost:0", "http://localhost:0"] {
        let e = TunnelConfig::new(Proto::Http, addr)
            .resolve("web")
            .expect_err("port 0");
        assert!(e.to_string().contains("no valid port"), "{e}");
    }
    let mut tcp = TunnelConfig::new(Proto::Tcp, "22");
    tcp.remote_port = Some(0);
    assert!(tcp.resolve("ssh").is_err());
}
