#![allow(clippy::unwrap_used)]
use super::*;

#[test]
fn unknown_keys_rejected_and_defaults_valid() {
    RelayConfig::default().validate().unwrap();
    let e = toml::from_str::<RelayConfig>("base_domian = \"x\"").unwrap_err();
    assert!(e.to_string().contains("unknown field"), "{e}");
    let c: RelayConfig =
        toml::from_str("base_domain = \"t.example\"\n[limits]\nmax_conns_per_ip = 5").unwrap();
    assert_eq!(c.limits.max_conns_per_ip, 5);
    assert_eq!(c.public_host(), "t.example");
}

#[test]
fn inconsistent_values_explained() {
    let c = RelayConfig {
        tcp_port_min: 3000,
        tcp_port_max: 2000,
        ..Default::default()
    };
    assert!(c.validate().unwrap_err().to_string().contains("port range"));
    let alone = RelayConfig {
        tcp_forward: true,
        ..Default::default()
    };
    assert!(
        alone
            .validate()
            .unwrap_err()
            .to_string()
            .contains("cloud_url")
    );
    let wide = RelayConfig {
        tcp_forward: true,
        cloud_url: Some("https://api.example.com".into()),
        relay_secret: Some(RelaySecret::new("relay-secret-for-tests-0123")),
        tcp_port_min: 1024,
        tcp_port_max: 65535,
        ..Default::default()
    };
    assert!(wide.validate().unwrap_err().to_string().contains("16384"));
    let fits = RelayConfig {
        tcp_port_max: 1024 + 16_383,
        ..wide
    };
    fits.validate().unwrap();
}

#[test]
fn the_packaged_example_config_is_valid() {
    let c: RelayConfig = toml::from_str(include_str!(
        "../../../installers/systemd/relay.toml.example"
    ))
    .unwrap();
    c.validate().unwrap();
    assert_eq!(c.admin_listen, Some("127.0.0.1:9100".parse().unwrap()));
    assert!(c.cloud_url.is_some() && c.tls_cert.is_some());
}

#[test]
fn admin_listener_off_loopback_needs_a_token() {
    let open = RelayConfig {
        admin_listen: Some("0.0.0.0:9100".parse().unwrap()),
        ..Default::default()
    };
    assert!(
        open.validate()
            .unwrap_err()
            .to_string()
            .contains("admin_token")
    );
    let short = RelayConfig {
        admin_token: Some(RelaySecret::new("short")),
        ..open.clone()
    };
    assert!(short.validate().unwrap_err().to_string().contains("16"));
    RelayConfig {
        admin_token: Some(RelaySecret::new("0123456789abcdef")),
        ..open
    }
    .validate()
    .unwrap();
    RelayConfig {
        admin_listen: Some("127.0.0.1:9100".parse().unwrap()),
        ..Default::default()
    }
    .validate()
    .unwrap();
}
