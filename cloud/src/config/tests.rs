//! Loading, layering and checking the configuration.

#![allow(clippy::unwrap_used)]
use super::*;
use std::collections::HashMap;

fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn defaults_resolve_the_data_dir_from_home() {
    let c = Config::load(&env(&[("HOME", "/home/a")]), &Overrides::default()).unwrap();
    assert_eq!(c.data_dir, PathBuf::from("/home/a/.local/share/fdt-cloud"));
    assert_eq!(
        c.database(),
        DatabaseTarget::SqliteFile("/home/a/.local/share/fdt-cloud/fdt-cloud.db".into())
    );
    assert_eq!(c.auth, AuthConfig::default());
}

#[test]
fn layers_apply_in_order_file_env_flags() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("cloud.toml");
    std::fs::write(
        &file,
        "listen = \"127.0.0.1:1000\"\ndata_dir = \"/from/file\"\n\
         [auth]\nissuer = \"file-iss\"\naccess_ttl_secs = 60\n",
    )
    .unwrap();
    let e = env(&[
        ("FDT_CLOUD_CONFIG", file.to_str().unwrap()),
        ("FDT_LISTEN", "127.0.0.1:2000"),
        ("FDT_AUTH_ACCESS_TTL_SECS", "120"),
    ]);
    let flags = Overrides {
        data_dir: Some("/from/flag".into()),
        ..Overrides::default()
    };
    let c = Config::load(&e, &flags).unwrap();
    assert_eq!(c.listen, "127.0.0.1:2000".parse().unwrap()); // env beats file
    assert_eq!(c.data_dir, PathBuf::from("/from/flag")); // flag beats file
    assert_eq!(c.auth.issuer, "file-iss"); // file beats default
    assert_eq!(c.auth.access_ttl_secs, 120);
    assert_eq!(c.auth.audience, "fdt-api"); // default kept
}

#[test]
fn unknown_keys_are_errors() {
    let err = Config::from_toml("listen = \"127.0.0.1:1\"\nlisten_addr = 3\n").unwrap_err();
    assert!(err.to_string().contains("unknown field"), "{err}");
    let err = Config::from_toml("[auth]\nisuer = \"typo\"\n").unwrap_err();
    assert!(err.to_string().contains("isuer"), "{err}");
}

#[test]
fn bad_env_values_name_the_variable() {
    let e = env(&[("HOME", "/h"), ("FDT_AUTH_ACCESS_TTL_SECS", "ten")]);
    let err = Config::load(&e, &Overrides::default()).unwrap_err();
    assert!(
        err.to_string().contains("FDT_AUTH_ACCESS_TTL_SECS"),
        "{err}"
    );
}

#[test]
fn validation_rejects_inconsistent_values() {
    for (var, value) in [
        ("FDT_AUTH_ACCESS_TTL_SECS", "0"),
        ("FDT_AUTH_REFRESH_TTL_SECS", "1"),
        ("FDT_ARGON2_MEMORY_KIB", "1"),
        ("FDT_LOGIN_WINDOW_SECS", "0"),
        ("FDT_LOGIN_MAX_FAILURES_PER_IP_AND_EMAIL", "0"),
        ("FDT_LOGIN_EMAIL_DELAY_MAX_MS", "60000"),
        ("FDT_REGISTER_MAX_PER_IP", "0"),
        ("FDT_PASSWORD_HASHING_MAX_CONCURRENT", "0"),
        ("FDT_DATABASE_URL", "mysql://x"),
        ("FDT_CONSOLE_PUBLIC_URL", "console.example.com"),
        ("FDT_CONSOLE_PUBLIC_URL", "https://console.example.com/a b"),
    ] {
        let e = env(&[("HOME", "/h"), (var, value)]);
        assert!(
            matches!(
                Config::load(&e, &Overrides::default()),
                Err(ConfigError::Invalid(_))
            ),
            "{var}={value} accepted"
        );
    }
}

#[test]
fn login_limits_are_read_and_the_old_email_key_still_works() {
    let c = Config::from_toml(
        "[auth.login_limit]\nmax_failures_per_ip_and_email = 4\nemail_delay_max_ms = 900\n",
    )
    .unwrap();
    let l = c.auth.login_limit;
    assert_eq!(l.max_failures_per_ip_and_email, 4);
    assert_eq!(l.email_delay_max_ms, 900);
    assert_eq!(l.email_slowdown_after, 10);
    // `max_failures_per_email` was a hard limit; it now sets where slowing down starts.
    let old = Config::from_toml("[auth.login_limit]\nmax_failures_per_email = 7\n").unwrap();
    assert_eq!(old.auth.login_limit.email_slowdown_after, 7);
    let e = env(&[("HOME", "/h"), ("FDT_LOGIN_MAX_FAILURES_PER_EMAIL", "8")]);
    let c = Config::load(&e, &Overrides::default()).unwrap();
    assert_eq!(c.auth.login_limit.email_slowdown_after, 8);
}

#[test]
fn trusted_proxies_register_limit_and_hashing_are_read() {
    let c = Config::from_toml(
        "trusted_proxies = [\"10.0.0.0/8\", \"192.0.2.7\", \"2001:db8::/32\"]\n\
         [auth.register_limit]\nmax_per_ip = 3\n\
         [auth.password_hashing]\nmax_concurrent = 4\nmax_wait_ms = 500\n",
    )
    .unwrap();
    let ip = |s: &str| s.parse::<std::net::IpAddr>().unwrap();
    assert!(c.trusted_proxies.contains(ip("10.1.2.3")));
    assert!(c.trusted_proxies.contains(ip("::ffff:192.0.2.7")));
    assert!(c.trusted_proxies.contains(ip("2001:db8:5::1")));
    assert!(!c.trusted_proxies.contains(ip("192.0.2.8")));
    assert_eq!(c.auth.register_limit.max_per_ip, 3);
    assert_eq!(c.auth.register_limit.window_secs, 60);
    assert_eq!(c.auth.password_hashing.slots(), 4);
    let err = Config::from_toml("trusted_proxies = [\"10.0.0.0/33\"]\n").unwrap_err();
    assert!(err.to_string().contains("10.0.0.0/33"), "{err}");
    // Off unless configured.
    assert!(!Config::default().trusted_proxies.contains(ip("10.1.2.3")));
    let e = env(&[
        ("HOME", "/h"),
        ("FDT_TRUSTED_PROXIES", "10.0.0.1, 172.16.0.0/12"),
        ("FDT_REGISTER_MAX_PER_IP", "7"),
    ]);
    let c = Config::load(&e, &Overrides::default()).unwrap();
    assert!(c.trusted_proxies.contains(ip("172.20.0.1")));
    assert!(!c.trusted_proxies.contains(ip("10.0.0.2")));
    assert_eq!(c.auth.register_limit.max_per_ip, 7);
    let e = env(&[("HOME", "/h"), ("FDT_TRUSTED_PROXIES", "proxy.internal")]);
    let err = Config::load(&e, &Overrides::default()).unwrap_err();
    assert!(err.to_string().contains("FDT_TRUSTED_PROXIES"), "{err}");
}

#[test]
fn relays_are_read_and_checked() {
    let c = Config::from_toml(
        "[[relays]]\nid = \"eu-1\"\nregion = \"eu\"\naddr = \"relay.example:7443\"\n\
         server_name = \"relay.example\"\n",
    )
    .unwrap();
    assert_eq!(c.relays.len(), 1);
    c.validate().unwrap();
    let twice = Config {
        relays: vec![c.relays[0].clone(), c.relays[0].clone()],
        ..c.clone()
    };
    assert!(twice.validate().unwrap_err().to_string().contains("twice"));
    let mut no_port = c.clone();
    no_port.relays[0].addr = "relay.example".into();
    assert!(
        no_port
            .validate()
            .unwrap_err()
            .to_string()
            .contains("host:port")
    );
    assert!(Config::from_toml("[[relays]]\nid = \"x\"\nregoin = \"eu\"\n").is_err());
}

#[test]
fn debug_hides_the_database_url() {
    let e = env(&[
        ("HOME", "/h"),
        ("FDT_DATABASE_URL", "postgres://u:hunter2@db/x"),
    ]);
    let c = Config::load(&e, &Overrides::default()).unwrap();
    assert!(!format!("{c:?}").contains("hunter2"));
}

#[test]
fn the_console_public_url_is_read() {
    let e = env(&[
        ("HOME", "/h"),
        ("FDT_CONSOLE_PUBLIC_URL", "https://console.example.com"),
    ]);
    let c = Config::load(&e, &Overrides::default()).unwrap();
    assert_eq!(
        c.console.public_url.as_deref(),
        Some("https://console.example.com")
    );
}

#[test]
fn event_clusters_and_the_dns_provider_are_checked() {
    let check = |toml: &str| Config::from_toml(toml).unwrap().validate();
    let key = "k".repeat(32);
    assert!(
        check(&format!(
            "[[domains.clusters]]\nname = \"eu\"\nkeys = [\"{key}\"]\n"
        ))
        .is_ok()
    );
    for (toml, says) in [
        (format!("[[domains.clusters]]\nname = \"e:u\"\nkeys = [\"{key}\"]\n"), "unique name"),
        (
            format!("[[domains.clusters]]\nname = \"eu\"\nkeys = [\"{key}\"]\n[[domains.clusters]]\nname = \"eu\"\nkeys = [\"{key}\"]\n"),
            "unique name",
        ),
        ("[[domains.clusters]]\nname = \"eu\"\nkeys = [\"short\"]\n".into(), "32 characters"),
        ("[[domains.clusters]]\nname = \"eu\"\nkeys = []\n".into(), "at least one key"),
        (
            "[domains.dns01]\nprovider = \"cloudflare\"\napi_base = \"http://dns.example\"\napi_token = \"t\"\n".into(),
            "https://",
        ),
        ("[domains.dns01]\nprovider = \"cloudflare\"\napi_token = \" \"\n".into(), "api_token"),
    ] {
        let err = check(&toml).unwrap_err().to_string();
        assert!(err.contains(says), "{toml}: {err}");
    }
    let c = Config::from_toml("[domains.dns01]\nprovider = \"cloudflare\"\napi_token = \"t\"\n")
        .unwrap();
    c.validate().unwrap();
    let dns = c.domains.dns01.unwrap();
    assert_eq!(dns.api_base, "https://api.cloudflare.com/client/v4");
    assert_eq!(dns.propagation_secs, 10);
    assert!(
        Config::from_toml("[domains.dns01]\nprovider = \"route53\"\napi_token = \"t\"\n").is_err()
    );
}

#[test]
fn billing_providers_are_checked() {
    let check = |toml: &str| Config::from_toml(toml).unwrap().validate();
    let secret = "s".repeat(16);
    assert!(check(&format!(
        "[billing.stripe]\nwebhook_secrets = [\"{secret}\"]\n[billing.stripe.prices]\nprice_1 = \"pro\"\n"
    ))
    .is_ok());
    for (toml, says) in [
        (
            "[billing.stripe]\nwebhook_secrets = []\n".to_owned(),
            "at least one",
        ),
        (
            "[billing.stripe]\nwebhook_secrets = [\"short\"]\n".to_owned(),
            "16 characters",
        ),
        (
            format!(
                "[billing.stripe]\nwebhook_secrets = [\"{secret}\"]\n[billing.stripe.prices]\nprice_1 = \"free\"\n"
            ),
            "not a paid plan",
        ),
        (
            format!(
                "[billing.razorpay]\nwebhook_secret = \"{secret}\"\n[billing.razorpay.plans]\nplan_1 = \"gold\"\n"
            ),
            "not a paid plan",
        ),
        (
            "[billing.razorpay]\nwebhook_secret = \"short\"\n".to_owned(),
            "16 characters",
        ),
    ] {
        let err = check(&toml).unwrap_err().to_string();
        assert!(err.contains(says), "{toml}: {err}");
    }
}

#[test]
fn smtp_in_clear_only_to_loopback_and_a_sender_is_an_address() {
    let parse = |text: &str| {
        let mut c: Config = toml::from_str(text).unwrap();
        c.data_dir = PathBuf::from("/tmp/x");
        c.validate()
    };
    let ok = "[smtp]\nhost = \"smtp.example.com\"\nfrom = \"FDT <billing@example.com>\"\n";
    parse(ok).unwrap();
    let c: Config = toml::from_str(ok).unwrap();
    let s = c.smtp.unwrap();
    assert_eq!((s.port, s.security), (587, SmtpSecurity::Starttls));
    parse("[smtp]\nhost = \"127.0.0.1\"\nport = 2525\nsecurity = \"none\"\nfrom = \"a@b.test\"\n")
        .unwrap();
    for bad in [
        "[smtp]\nhost = \"smtp.example.com\"\nsecurity = \"none\"\nfrom = \"a@b.test\"\n",
        "[smtp]\nhost = \"smtp.example.com\"\nfrom = \"not an address\"\n",
        "[smtp]\nhost = \"\"\nfrom = \"a@b.test\"\n",
    ] {
        assert!(parse(bad).is_err(), "{bad}");
    }
}

#[test]
fn the_packaged_example_config_is_valid() {
    let text = include_str!("../../../installers/systemd/cloud.toml.example");
    let mut c: Config = toml::from_str(text).unwrap();
    c.data_dir = PathBuf::from("/var/lib/fdt-cloud");
    c.validate().unwrap();
    assert_eq!(c.listen.port(), 8780);
    assert!(c.metrics.token.is_some());
}

#[test]
fn the_metrics_token_comes_from_the_environment_too() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("cloud.toml");
    std::fs::write(&file, "[metrics]\ntoken = \"from-the-file-0123456789\"\n").unwrap();
    let path = file.to_str().unwrap();
    let load = |pairs: &[(&str, &str)]| {
        let mut e = env(&[("HOME", "/home/a"), ("FDT_CLOUD_CONFIG", path)]);
        e.extend(env(pairs));
        Config::load(&e, &Overrides::default())
    };
    let token = |c: &Config| c.metrics.token.as_ref().map(|t| t.expose().clone());
    // The environment beats the file; blank leaves no token at all.
    let c = load(&[("FDT_METRICS_TOKEN", " from-the-env-0123456789 ")]).unwrap();
    assert_eq!(token(&c).as_deref(), Some("from-the-env-0123456789"));
    assert_eq!(
        token(&load(&[]).unwrap()).as_deref(),
        Some("from-the-file-0123456789")
    );
    assert_eq!(token(&load(&[("FDT_METRICS_TOKEN", "")]).unwrap()), None);
    // Held to the same rule as the file's.
    let err = load(&[("FDT_METRICS_TOKEN", "short")]).unwrap_err();
    assert!(err.to_string().contains("at least 16"), "{err}");
}
