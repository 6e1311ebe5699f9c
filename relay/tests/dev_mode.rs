//! `fdt-relay --dev` as a user runs it: keys, dev CA and token written to the data directory,
//! a printed agent command, edges answering, `fdt-relay token`, and a clean exit on SIGTERM.

#![allow(clippy::unwrap_used)]

use fdt_relay::auth::TokenVerifier;
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn relay_bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_fdt-relay"))
}

#[test]
fn dev_mode_writes_keys_token_and_ca_and_serves() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut child = relay_bin()
        .args(["--dev", "--data-dir"])
        .arg(&data)
        .args([
            "--agent-listen",
            "127.0.0.1:0",
            "--http-listen",
            "127.0.0.1:0",
        ])
        .args(["--https-listen", "127.0.0.1:0"])
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let deadline = Instant::now() + Duration::from_secs(20);
    let (mut http_port, mut agent_cmd) = (None, None);
    let mut line = String::new();
    while (http_port.is_none() || agent_cmd.is_none()) && Instant::now() < deadline {
        line.clear();
        if err.read_line(&mut line).unwrap() == 0 {
            break;
        }
        if let Some(rest) = line
            .trim()
            .strip_prefix("http edge:  http://<name>.localhost:")
        {
            http_port = rest.parse::<u16>().ok();
        }
        if line.trim_start().starts_with("fdt http 3000 --relay") {
            agent_cmd = Some(line.trim().to_string());
        }
    }
    let http_port = http_port.expect("dev mode prints the HTTP edge");
    let agent_cmd = agent_cmd.expect("dev mode prints an agent command");

    // The printed token is the stored one and verifies against the stored public key.
    let token = std::fs::read_to_string(data.join("agent-token")).unwrap();
    assert!(agent_cmd.ends_with(&token), "{agent_cmd}");
    let verifier = TokenVerifier::from_files(&[data.join("agent-signing.pub")]).unwrap();
    assert_eq!(verifier.verify(&token).unwrap().sub, "dev");
    assert!(data.join("dev-ca/ca.pem").exists());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(data.join("agent-signing.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "private key readable by others: {mode:o}");
    }

    // The edge is up: an unknown name gets the JSON 404.
    let mut s = std::net::TcpStream::connect(("127.0.0.1", http_port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: nobody.localhost\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    assert!(resp.starts_with("HTTP/1.1 404"), "{resp}");
    assert!(resp.contains("tunnel_not_found"), "{resp}");

    // More tokens from the same key, limited to names.
    let out = relay_bin()
        .args(["token", "--sub", "bob", "--name", "app", "--data-dir"])
        .arg(&data)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let minted = String::from_utf8(out.stdout).unwrap();
    let claims = verifier.verify(minted.trim()).unwrap();
    assert_eq!(
        (claims.sub.as_str(), claims.names.clone()),
        ("bob", vec!["app".to_string()])
    );

    // SIGTERM drains and exits cleanly.
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "relay did not exit after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status:?}");
}

#[test]
fn without_dev_or_keys_the_relay_refuses_to_start_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let out = relay_bin()
        .args(["--data-dir"])
        .arg(dir.path())
        .args([
            "--agent-listen",
            "127.0.0.1:0",
            "--http-listen",
            "off",
            "--https-listen",
            "off",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("no agent public keys configured"),
        "{stderr}"
    );
}

/// One HTTP/1.1 GET to `addr`, read to the end; `(status, whole response)`.
fn get(addr: &str, path: &str, auth: Option<&str>) -> (u16, String) {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let auth = auth.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: admin\r\n{auth}Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    let status = resp
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap();
    (status, resp)
}

#[test]
fn admin_listener_serves_metrics_to_the_token_bearer_and_health_to_anyone() {
    const TOKEN: &str = "admin-token-for-tests-0123456789";
    let dir = tempfile::tempdir().unwrap();
    let mut child = relay_bin()
        .args(["--dev", "--data-dir"])
        .arg(dir.path())
        .args([
            "--agent-listen",
            "127.0.0.1:0",
            "--http-listen",
            "127.0.0.1:0",
        ])
        .args(["--https-listen", "off", "--admin-listen", "127.0.0.1:0"])
        .env("FDT_RELAY_ADMIN_TOKEN", TOKEN)
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut admin = None;
    let mut line = String::new();
    while admin.is_none() && Instant::now() < deadline {
        line.clear();
        if err.read_line(&mut line).unwrap() == 0 {
            break;
        }
        admin = line
            .trim()
            .strip_prefix("metrics:    http://")
            .and_then(|r| r.strip_suffix("/metrics"))
            .map(str::to_owned);
    }
    let admin = admin.expect("dev mode prints the metrics URL");

    assert_eq!(get(&admin, "/metrics", None).0, 401);
    assert_eq!(
        get(&admin, "/metrics", Some("admin-token-for-tests-wrong")).0,
        401
    );
    let (status, resp) = get(&admin, "/metrics", Some(TOKEN));
    assert_eq!(status, 200, "{resp}");
    let text = resp.split_once("\r\n\r\n").unwrap().1;
    assert!(text.contains("fdt_relay_agent_sessions 0"), "{text}");
    let mut promtool = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool (Debian's prometheus package; scripts/test.sh installs it)");
    promtool
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = promtool.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool: {}{}\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let (status, body) = get(&admin, "/healthz", None);
    assert_eq!(status, 200, "{body}");
    assert!(body.ends_with("ok\n"), "{body}");
    // The probe container images run: 0 while it serves, 1 (saying why) when nothing answers.
    let probe = relay_bin()
        .args(["healthcheck", &format!("http://{admin}/healthz")])
        .output()
        .unwrap();
    assert!(probe.status.success(), "{probe:?}");
    let refused = relay_bin()
        .args(["healthcheck", "http://127.0.0.1:9/healthz"])
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(1), "{refused:?}");
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("127.0.0.1:9"),
        "{refused:?}"
    );
    let _ = child.kill();
    let _ = child.wait();
}
