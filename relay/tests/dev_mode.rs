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
