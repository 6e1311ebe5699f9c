//! The `fdt` binary as a user runs it: flags, plain output, the local API, retrying the first
//! connection, and a clear exit when the relay refuses the token. The relay runs in process.

#![allow(clippy::unwrap_used)]

use fdt_relay::auth::{TokenSigner, TokenVerifier};
use fdt_relay::config::RelayConfig;
use fdt_relay::tls::CertStore;
use fdt_relay::tls::DevCa;
use fdt_relay::tls::OnDemandResolver;
use fdt_relay::{Listeners, Relay};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::{Child, Command};

struct TestRelay {
    relay: Relay,
    token: String,
    ca: PathBuf,
    _dir: tempfile::TempDir,
}

async fn start_relay(agent_socket: std::net::UdpSocket) -> TestRelay {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let signer = TokenSigner::load_or_create(dir.path()).unwrap();
    let verifier = TokenVerifier::from_public_pems(&[signer.public_pem().to_string()]).unwrap();
    let ca = DevCa::load_or_create(&dir.path().join("ca")).unwrap();
    let ca_path = ca.ca_path();
    let resolver = Arc::new(OnDemandResolver::new(CertStore::new(), ca, "localhost"));
    let cfg = RelayConfig {
        data_dir: dir.path().to_path_buf(),
        ..RelayConfig::default()
    };
    let listeners = Listeners {
        agent: agent_socket,
        http: Some(TcpListener::bind("127.0.0.1:0").await.unwrap()),
        https: None,
        admin: None,
    };
    let relay = Relay::start(cfg, listeners, verifier, resolver)
        .await
        .unwrap();
    TestRelay {
        relay,
        token: signer.mint("cli-test", 600, vec![]),
        ca: ca_path,
        _dir: dir,
    }
}

/// A local service answering every request with `hello`.
async fn hello_origin() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                let mut seen = Vec::new();
                while let Ok(n) = s.read(&mut buf).await {
                    if n == 0 {
                        return;
                    }
                    seen.extend_from_slice(&buf[..n]);
                    while let Some(i) = seen.windows(4).position(|w| w == b"\r\n\r\n") {
                        seen.drain(..i + 4);
                        let r = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
                        if s.write_all(r).await.is_err() {
                            return;
                        }
                    }
                }
            });
        }
    });
    addr
}

fn fdt(args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_fdt"))
        .args(args)
        .env_remove("FDT_AUTHTOKEN")
        .env_remove("FDT_INSPECT")
        .env_remove("FDT_API_AUTH")
        .env_remove("XDG_DATA_HOME")
        .env("HOME", std::env::temp_dir())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap()
}

/// Reads lines from `r` until one contains `needle` (bounded), returning it.
async fn line_with<R: tokio::io::AsyncRead + Unpin>(
    r: &mut tokio::io::Lines<BufReader<R>>,
    needle: &str,
) -> String {
    tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(line) = r.next_line().await.unwrap() {
            if line.contains(needle) {
                return line;
            }
        }
        panic!("stream ended before a line with {needle:?}");
    })
    .await
    .unwrap_or_else(|_| panic!("no line with {needle:?} in time"))
}

async fn http_get(addr: SocketAddr, host: &str, path: &str, auth: Option<&str>) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let auth = auth.map_or(String::new(), |a| format!("Authorization: Basic {a}\r\n"));
    let req = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\n{auth}Connection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = String::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_string(&mut out))
        .await
        .unwrap()
        .unwrap();
    out
}

fn free_tcp_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fdt_http_binds_enforces_flags_and_reports_on_the_local_api() {
    let relay = start_relay(std::net::UdpSocket::bind("127.0.0.1:0").unwrap()).await;
    let origin = hello_origin().await;
    let (mut child, api, line) =
        fdt_http_with(&relay, origin, "cli", &["--basic-auth", "user:pass12345"]).await;
    let http = relay.relay.http_addr.unwrap();
    let url = format!("http://cli.localhost:{}", http.port());
    assert_eq!(
        line,
        format!(
            "tunnel http online: {url} -> http://localhost:{}",
            origin.port()
        )
    );

    let denied = http_get(http, "cli.localhost", "/", None).await;
    assert!(denied.starts_with("HTTP/1.1 401"), "{denied}");
    // base64("user:pass12345")
    let ok = http_get(http, "cli.localhost", "/", Some("dXNlcjpwYXNzMTIzNDU=")).await;
    assert!(
        ok.starts_with("HTTP/1.1 200") && ok.ends_with("hello"),
        "{ok}"
    );

    let tunnels = http_get(api, "127.0.0.1", "/api/tunnels", None).await;
    let body = tunnels.split("\r\n\r\n").nth(1).unwrap();
    let v: serde_json::Value = serde_json::from_str(body).unwrap();
    assert_eq!(v["tunnels"][0]["public_url"], url.as_str(), "{v}");
    assert_eq!(v["tunnels"][0]["name"], "http");
    assert_eq!(v["tunnels"][0]["proto"], "http");
    assert_eq!(
        v["tunnels"][0]["config"]["addr"],
        format!("http://localhost:{}", origin.port())
    );
    let status = http_get(api, "localhost", "/api/status", None).await;
    assert!(status.contains("\"state\":\"online\""), "{status}");
    // A page elsewhere in the user's browser must not read the API (DNS rebinding).
    let foreign = http_get(api, "evil.example", "/api/tunnels", None).await;
    assert!(foreign.starts_with("HTTP/1.1 403"), "{foreign}");

    child.start_kill().unwrap();
    let _ = tokio::time::timeout(Duration::from_secs(10), child.wait()).await;
}

/// Starts `fdt http` for `origin` on subdomain `sub` with `extra` flags and waits until it is
/// online; returns it, its API address and its "online" line.
async fn fdt_http_with(
    relay: &TestRelay,
    origin: SocketAddr,
    sub: &str,
    extra: &[&str],
) -> (Child, SocketAddr, String) {
    let api_addr = format!("127.0.0.1:{}", free_tcp_port());
    let (child, line) = fdt_http_on(relay, origin, sub, &api_addr, extra).await;
    (child, api_addr.parse().unwrap(), line)
}

/// [`fdt_http_with`] with the local API on `api_addr`; returns it and its "online" line.
async fn fdt_http_on(
    relay: &TestRelay,
    origin: SocketAddr,
    sub: &str,
    api_addr: &str,
    extra: &[&str],
) -> (Child, String) {
    let relay_addr = relay.relay.agent_addr.to_string();
    let origin_port = origin.port().to_string();
    let mut args = vec![
        "http",
        &origin_port,
        "--subdomain",
        sub,
        "--relay",
        &relay_addr,
        "--relay-ca",
        relay.ca.to_str().unwrap(),
        "--authtoken",
        &relay.token,
        "--api-addr",
        api_addr,
    ];
    args.extend_from_slice(extra);
    let mut child = fdt(&args);
    let mut out = BufReader::new(child.stdout.take().unwrap()).lines();
    let line = line_with(&mut out, "online:").await;
    // Keep reading: a closed pipe would make fdt's later status lines fail.
    tokio::spawn(async move { while let Ok(Some(_)) = out.next_line().await {} });
    (child, line)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fdt_inspects_into_the_given_database_and_not_with_inspect_false() {
    let relay = start_relay(std::net::UdpSocket::bind("127.0.0.1:0").unwrap()).await;
    let origin = hello_origin().await;
    let http = relay.relay.http_addr.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("captures").join("inspect.db");
    let (mut on, api, _) = fdt_http_with(
        &relay,
        origin,
        "insp",
        &["--inspect-db", db.to_str().unwrap()],
    )
    .await;
    let ok = http_get(http, "insp.localhost", "/seen?x=1", None).await;
    assert!(ok.ends_with("hello"), "{ok}");
    let listed = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let r = http_get(api, "127.0.0.1", "/api/requests/http", None).await;
            if r.contains("/seen?x=1") {
                return r;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .unwrap();
    assert!(listed.starts_with("HTTP/1.1 200"), "{listed}");
    assert!(db.exists(), "no database at {}", db.display());
    on.start_kill().unwrap();
    let _ = tokio::time::timeout(Duration::from_secs(10), on.wait()).await;

    let (mut off, api, _) = fdt_http_with(&relay, origin, "noinsp", &["--inspect=false"]).await;
    let ok = http_get(http, "noinsp.localhost", "/", None).await;
    assert!(ok.ends_with("hello"), "{ok}");
    let r = http_get(api, "127.0.0.1", "/api/requests/http", None).await;
    assert!(r.starts_with("HTTP/1.1 409"), "{r}");
    assert!(r.contains("inspection_off"), "{r}");
    off.start_kill().unwrap();
    let _ = tokio::time::timeout(Duration::from_secs(10), off.wait()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fdt_keeps_retrying_until_the_relay_appears() {
    // Reserve a UDP port, then free it so nothing answers there yet.
    let port = std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let origin = hello_origin().await;
    // The token must be valid for the relay that will appear: sign it with a key we give the
    // relay later. Start the relay only after the agent has failed at least once.
    let relay_addr = format!("127.0.0.1:{port}");
    let dir = tempfile::tempdir().unwrap();
    let ca = DevCa::load_or_create(&dir.path().join("ca")).unwrap();
    let signer = TokenSigner::load_or_create(dir.path()).unwrap();
    let token = signer.mint("early", 600, vec![]);
    let mut child = fdt(&[
        "http",
        &origin.to_string(),
        "--subdomain",
        "early",
        "--relay",
        &relay_addr,
        "--relay-ca",
        ca.ca_path().to_str().unwrap(),
        "--authtoken",
        &token,
        "--api-addr",
        "off",
    ]);
    let mut err = BufReader::new(child.stderr.take().unwrap()).lines();
    line_with(&mut err, "cannot reach relay").await;

    let _ = rustls::crypto::ring::default_provider().install_default();
    let verifier = TokenVerifier::from_public_pems(&[signer.public_pem().to_string()]).unwrap();
    let resolver = Arc::new(OnDemandResolver::new(CertStore::new(), ca, "localhost"));
    let listeners = Listeners {
        agent: std::net::UdpSocket::bind(&relay_addr).unwrap(),
        http: Some(TcpListener::bind("127.0.0.1:0").await.unwrap()),
        https: None,
        admin: None,
    };
    let cfg = RelayConfig {
        data_dir: dir.path().to_path_buf(),
        ..RelayConfig::default()
    };
    let relay = Relay::start(cfg, listeners, verifier, resolver)
        .await
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap()).lines();
    line_with(&mut out, "online:").await;
    let ok = http_get(relay.http_addr.unwrap(), "early.localhost", "/", None).await;
    assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
    child.start_kill().unwrap();
    let _ = tokio::time::timeout(Duration::from_secs(10), child.wait()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fdt_exits_with_the_reason_when_the_relay_refuses_the_token() {
    let relay = start_relay(std::net::UdpSocket::bind("127.0.0.1:0").unwrap()).await;
    let relay_addr = relay.relay.agent_addr.to_string();
    let child = fdt(&[
        "http",
        "9",
        "--relay",
        &relay_addr,
        "--relay-ca",
        relay.ca.to_str().unwrap(),
        "--authtoken",
        "not-a-token",
        "--api-addr",
        "off",
    ]);
    let out = tokio::time::timeout(Duration::from_secs(20), child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("auth_failed"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fdt_start_runs_the_named_tunnels_of_a_config_file_with_json_logs() {
    let relay = start_relay(std::net::UdpSocket::bind("127.0.0.1:0").unwrap()).await;
    let origin = hello_origin().await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("fdt.toml");
    std::fs::write(
        &cfg,
        format!(
            "authtoken = \"{token}\"\nrelay = \"{relay}\"\nrelay_ca = \"{ca}\"\n\n\
             [tunnels.web]\nproto = \"http\"\naddr = \"{origin}\"\nsubdomain = \"fromfile\"\n\n\
             [tunnels.other]\nproto = \"http\"\naddr = \"{origin}\"\nsubdomain = \"notstarted\"\n",
            token = relay.token,
            relay = relay.relay.agent_addr,
            ca = relay.ca.display(),
        ),
    )
    .unwrap();
    let mut child = fdt(&[
        "--config",
        cfg.to_str().unwrap(),
        "--api-addr",
        "off",
        "--log-format",
        "json",
        "start",
        "web",
    ]);
    let mut out = BufReader::new(child.stdout.take().unwrap()).lines();
    line_with(&mut out, "tunnel web online:").await;
    // Every log line on stderr is a JSON object, and one of them announces the tunnel.
    let mut err = BufReader::new(child.stderr.take().unwrap()).lines();
    let online = line_with(&mut err, "tunnel online").await;
    let v: serde_json::Value = serde_json::from_str(&online).unwrap();
    assert_eq!(v["fields"]["name"], "web", "{v}");

    let http = relay.relay.http_addr.unwrap();
    let ok = http_get(http, "fromfile.localhost", "/", None).await;
    assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
    let other = http_get(http, "notstarted.localhost", "/", None).await;
    assert!(other.starts_with("HTTP/1.1 404"), "{other}");

    // An unknown tunnel name is a clear error, before anything connects.
    let bad = fdt(&["--config", cfg.to_str().unwrap(), "start", "nope"])
        .wait_with_output()
        .await
        .unwrap();
    assert_eq!(bad.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("no tunnel named \"nope\""),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
    child.start_kill().unwrap();
    let _ = tokio::time::timeout(Duration::from_secs(10), child.wait()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fdt_refuses_a_non_loopback_api_addr_without_opt_in_and_credentials() {
    let cases: [(&[&str], &str); 5] = [
        (&["--api-addr", "0.0.0.0:0"], "--api-allow-remote"),
        (&["--api-addr", "[::]:0"], "--api-allow-remote"),
        // Credentials alone are not the opt-in...
        (
            &["--api-addr", "0.0.0.0:0", "--api-auth", "user:pass"],
            "--api-allow-remote",
        ),
        // ...and the opt-in alone is not enough either.
        (
            &["--api-addr", "0.0.0.0:0", "--api-allow-remote"],
            "--api-auth",
        ),
        (
            &[
                "--api-addr",
                "[::]:0",
                "--api-allow-remote",
                "--api-auth",
                "x",
            ],
            "USER:PASS",
        ),
    ];
    for (flags, named) in cases {
        let mut args = vec!["http", "9", "--authtoken", "t", "--relay", "127.0.0.1:9"];
        args.extend_from_slice(flags);
        let out = tokio::time::timeout(Duration::from_secs(20), fdt(&args).wait_with_output())
            .await
            .unwrap_or_else(|_| panic!("fdt {flags:?} kept running"))
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{flags:?}: {stderr}");
        assert!(stderr.contains(named), "{flags:?}: {stderr}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fdt_api_beyond_loopback_asks_for_its_credentials() {
    let relay = start_relay(std::net::UdpSocket::bind("127.0.0.1:0").unwrap()).await;
    let origin = hello_origin().await;
    let port = free_tcp_port();
    let (mut child, _) = fdt_http_on(
        &relay,
        origin,
        "remoteapi",
        &format!("0.0.0.0:{port}"),
        &["--api-allow-remote", "--api-auth", "watcher:hunter22"],
    )
    .await;
    let api = SocketAddr::from(([127, 0, 0, 1], port));
    // As another machine would ask: by the agent's LAN name, not a loopback one.
    let host = format!("agent-box.lan:{port}");
    let denied = http_get(api, &host, "/api/tunnels", None).await;
    assert!(denied.starts_with("HTTP/1.1 401"), "{denied}");
    assert!(
        denied
            .to_ascii_lowercase()
            .contains("www-authenticate: basic realm="),
        "{denied}"
    );
    // base64("watcher:wrong")
    let wrong = http_get(api, &host, "/api/tunnels", Some("d2F0Y2hlcjp3cm9uZw==")).await;
    assert!(wrong.starts_with("HTTP/1.1 401"), "{wrong}");
    // base64("watcher:hunter22")
    let ok = http_get(api, &host, "/api/tunnels", Some("d2F0Y2hlcjpodW50ZXIyMg==")).await;
    assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
    assert!(ok.contains("remoteapi"), "{ok}");
    child.start_kill().unwrap();
    let _ = tokio::time::timeout(Duration::from_secs(10), child.wait()).await;
}

/// `value` of the series `series` (name and labels as rendered) in Prometheus text.
fn series(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fdt_serves_prometheus_metrics_on_the_local_api() {
    let relay = start_relay(std::net::UdpSocket::bind("127.0.0.1:0").unwrap()).await;
    // Nothing listens there: every request through the tunnel is an upstream error.
    let dead = SocketAddr::from(([127, 0, 0, 1], free_tcp_port()));
    let (mut child, api, _) = fdt_http_with(&relay, dead, "metrics", &[]).await;
    let http = relay.relay.http_addr.unwrap();
    for _ in 0..2 {
        let r = http_get(http, "metrics.localhost", "/", None).await;
        assert!(r.starts_with("HTTP/1.1 502"), "{r}");
    }

    let resp = http_get(api, "127.0.0.1", "/metrics", None).await;
    let (head, text) = resp.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head.contains("text/plain; version=0.0.4"), "{head}");
    assert_eq!(series(text, "fdt_agent_connected"), Some(1.0), "{text}");
    assert_eq!(series(text, "fdt_agent_reconnects_total"), Some(0.0));
    assert_eq!(
        series(text, "fdt_agent_upstream_errors_total"),
        Some(2.0),
        "{text}"
    );
    assert_eq!(
        series(text, r#"fdt_agent_tunnels{state="bound"}"#),
        Some(1.0)
    );
    assert_eq!(
        series(text, r#"fdt_agent_tunnels{state="failed"}"#),
        Some(0.0)
    );
    assert!(
        series(text, "fdt_agent_streams_total").unwrap() >= 1.0,
        "{text}"
    );
    assert!(
        series(text, "fdt_agent_rtt_seconds").unwrap() > 0.0,
        "{text}"
    );
    assert_eq!(series(text, "fdt_agent_capture_dropped_total"), Some(0.0));
    let mut promtool = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool (Debian's prometheus package; scripts/test.sh installs it)");
    std::io::Write::write_all(&mut promtool.stdin.take().unwrap(), text.as_bytes()).unwrap();
    let out = promtool.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool: {}{}\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // Like every route of the local API, not for pages of other origins.
    let foreign = http_get(api, "evil.example", "/metrics", None).await;
    assert!(foreign.starts_with("HTTP/1.1 403"), "{foreign}");

    child.start_kill().unwrap();
    let _ = tokio::time::timeout(Duration::from_secs(10), child.wait()).await;
}
