//! `fdt-cloud dev` as a user runs it: the real binary with a fresh HOME, then an agent built
//! from nothing but the `fdt.toml` it wrote — a request through the tunnel reaches a local
//! origin. A restart reuses the account and authtoken, and SIGTERM stops it cleanly.
#![cfg(unix)]
#![allow(clippy::unwrap_used)]

use fdt_agent_core::config::{ConfigFile, TunnelConfig};
use fdt_agent_core::{AgentOptions, CloudLogin, Connect};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What `dev` printed before it was ready.
struct Started {
    child: Child,
    lines: Vec<String>,
}

/// A test that fails midway must not leave `dev` running (it would hold the ports, and the
/// lock a test script holds through its children).
impl Drop for Started {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl Started {
    /// The value printed after `label:` (first word).
    fn value(&self, label: &str) -> String {
        let prefix = format!("{label}:");
        self.lines
            .iter()
            .find_map(|l| l.trim().strip_prefix(&prefix))
            .and_then(|v| v.split_whitespace().next())
            .unwrap_or_else(|| panic!("no {label:?} line in {:#?}", self.lines))
            .to_owned()
    }

    /// The port at the end of an edge line (`http://<name>.localhost:PORT`).
    fn edge_port(&self, label: &str) -> u16 {
        self.value(label)
            .rsplit(':')
            .next()
            .unwrap()
            .parse()
            .unwrap()
    }
}

/// Starts `fdt-cloud dev` on free ports with `home` as the user's home directory, and reads
/// its output up to the suggested next command (bounded wait).
async fn start_dev(home: &Path) -> Started {
    let mut child = Command::new(env!("CARGO_BIN_EXE_fdt-cloud"))
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join("xdg-config"))
        .env("XDG_DATA_HOME", home.join("xdg-data"))
        .env("RUST_LOG", "warn")
        .env("FDT_ARGON2_MEMORY_KIB", "64")
        .env("FDT_ARGON2_ITERATIONS", "1")
        .args([
            "dev",
            "--listen",
            "127.0.0.1:0",
            "--agent-listen",
            "127.0.0.1:0",
        ])
        .args([
            "--http-listen",
            "127.0.0.1:0",
            "--https-listen",
            "127.0.0.1:0",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let read = tokio::task::spawn_blocking(move || {
        let mut lines = Vec::new();
        for line in BufReader::new(stdout).lines() {
            let line = line.unwrap();
            let done = line.trim().starts_with("fdt http");
            lines.push(line);
            if done {
                break;
            }
        }
        lines
    });
    let lines = match tokio::time::timeout(Duration::from_secs(60), read).await {
        Ok(lines) => lines.unwrap(),
        Err(_) => {
            child.kill().ok();
            panic!("fdt-cloud dev did not print its next step within 60 s");
        }
    };
    Started { child, lines }
}

/// Sends SIGTERM and expects a clean exit within a bounded time.
async fn stop(mut started: Started) {
    let pid = started.child.id().to_string();
    let sent = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(sent.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = started.child.try_wait().unwrap() {
            assert!(status.success(), "fdt-cloud dev exited with {status}");
            return;
        }
        assert!(Instant::now() < deadline, "fdt-cloud dev ignored SIGTERM");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A local origin answering every request with 200 and `hello from origin`.
async fn origin() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let mut head = Vec::new();
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match sock.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let body = "hello from origin";
                let resp = format!(
                    "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{body}",
                    body.len()
                );
                sock.write_all(resp.as_bytes()).await.ok();
            });
        }
    });
    port
}

/// One `GET /` to the relay's HTTP edge for `host`; the raw response.
async fn get(port: u16, host: &str) -> std::io::Result<String> {
    let mut sock = TcpStream::connect(("127.0.0.1", port)).await?;
    let req = format!("GET / HTTP/1.1\r\nhost: {host}\r\nconnection: close\r\n\r\n");
    sock.write_all(req.as_bytes()).await?;
    let mut resp = Vec::new();
    sock.read_to_end(&mut resp).await?;
    Ok(String::from_utf8_lossy(&resp).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_writes_an_agent_config_that_alone_opens_a_tunnel() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let home = tempfile::tempdir().unwrap();
    let dev = start_dev(home.path()).await;
    let token = dev.value("authtoken");
    assert!(token.starts_with("fdt_"), "{token}");
    assert!(
        dev.lines.iter().any(|l| l.contains("(new)")),
        "{:#?}",
        dev.lines
    );
    let data_dir = home.path().join("xdg-data/fdt-cloud-dev");
    assert_eq!(dev.value("data dir"), data_dir.to_str().unwrap());

    // The agent config, where `fdt` looks with XDG_CONFIG_HOME set.
    let path = home.path().join("xdg-config/fdt/fdt.toml");
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{} must be private", path.display());
    }
    let file = ConfigFile::load(&path).unwrap();
    assert_eq!(file.authtoken.as_ref().unwrap().0, token);

    // What `fdt http PORT --subdomain devtest` does with that file and no flags.
    let origin_port = origin().await;
    let tunnel: TunnelConfig = toml::from_str(&format!(
        "proto = \"http\"\naddr = \"{origin_port}\"\nsubdomain = \"devtest\"\n"
    ))
    .unwrap();
    let login = CloudLogin {
        api_url: file.api_url.clone().expect("api_url written"),
        authtoken: token.clone(),
        region: file.region.clone(),
        relay_ca: file.relay_ca.clone(),
    };
    let (handle, _join) = fdt_agent_core::spawn(AgentOptions {
        connect: Connect::Cloud(login),
        tunnels: vec![tunnel.resolve("http").unwrap()],
        managed: false,
        ha: false,
    });

    let http_port = dev.edge_port("http edge");
    let deadline = Instant::now() + Duration::from_secs(30);
    let resp = loop {
        let resp = get(http_port, "devtest.localhost")
            .await
            .unwrap_or_default();
        if resp.starts_with("HTTP/1.1 200") || Instant::now() > deadline {
            break resp;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    assert!(resp.ends_with("hello from origin"), "{resp}");
    handle.shutdown.cancel();
    stop(dev).await;

    // A restart keeps the account and the authtoken, and the config file says the same.
    let again = start_dev(home.path()).await;
    assert_eq!(again.value("authtoken"), token);
    assert!(
        again.lines.iter().any(|l| l.contains("(reused)")),
        "{:#?}",
        again.lines
    );
    let file = ConfigFile::load(&path).unwrap();
    assert_eq!(file.authtoken.as_ref().unwrap().0, token);

    // Revoking the authtoken closes the live session within seconds: the embedded relay polls
    // the control plane's revocation feed. The agent stops for good, saying why.
    let api_url = file.api_url.clone().unwrap();
    let (handle, _join) = fdt_agent_core::spawn(AgentOptions {
        connect: Connect::Cloud(CloudLogin {
            api_url: api_url.clone(),
            authtoken: token.clone(),
            region: file.region.clone(),
            relay_ca: file.relay_ca.clone(),
        }),
        tunnels: vec![tunnel.resolve("http").unwrap()],
        managed: false,
        ha: false,
    });
    let http_port = again.edge_port("http edge");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !get(http_port, "devtest.localhost")
        .await
        .unwrap_or_default()
        .starts_with("HTTP/1.1 200")
    {
        assert!(Instant::now() < deadline, "the tunnel never answered 200");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let password = std::fs::read_to_string(data_dir.join("dev-password")).unwrap();
    let api = fdt_api::FdtClient::new(&api_url).unwrap();
    let tokens = api
        .login(&fdt_api::LoginRequest {
            email: "dev@fdt.localhost".into(),
            password: fdt_api::Password::new(password.trim()),
        })
        .await
        .unwrap();
    let api = api.with_access_token(tokens.access_token);
    for t in api.list_authtokens().await.unwrap() {
        api.revoke_authtoken(&t.id).await.unwrap();
    }
    let mut status = handle.status.clone();
    let stopped = tokio::time::timeout(
        Duration::from_secs(15),
        status.wait_for(|s| s.state == fdt_agent_core::status::SessionState::Stopped),
    )
    .await
    .expect("the agent did not stop within 15 s of the revocation")
    .unwrap()
    .clone();
    let why = stopped.last_error.unwrap_or_default();
    assert!(why.contains("revoked"), "{why}");
    let resp = get(http_port, "devtest.localhost")
        .await
        .unwrap_or_default();
    assert!(!resp.starts_with("HTTP/1.1 200"), "{resp}");
    stop(again).await;
}

/// Test-mode billing: the secrets file has its three tables (private), and checkout through
/// the Razorpay and PayPal test servers moves accounts to pro by signed webhooks, as a
/// developer clicking through would.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_runs_the_payment_providers_in_test_mode() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let home = tempfile::tempdir().unwrap();
    let dev = start_dev(home.path()).await;
    let data_dir = home.path().join("xdg-data/fdt-cloud-dev");
    let secrets = data_dir.join("billing-webhook-secrets.toml");
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&secrets).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{} must be private", secrets.display());
    }
    let table: toml::Table = toml::from_str(&std::fs::read_to_string(&secrets).unwrap()).unwrap();
    assert!(
        table["stripe"]["webhook_secret"]
            .as_str()
            .unwrap()
            .starts_with("whsec_")
    );
    assert!(table["razorpay"]["webhook_secret"].is_str());
    assert!(table["paypal"]["webhook_id"].is_str());
    for label in ["razorpay:", "paypal:"] {
        assert!(
            dev.lines
                .iter()
                .any(|l| l.trim().starts_with(label) && l.contains("test server http://127.0.0.1:")),
            "{label} {:#?}",
            dev.lines
        );
    }

    let api = dev.value("api").trim_end_matches("/v1").to_owned();
    let password = std::fs::read_to_string(data_dir.join("dev-password")).unwrap();
    let http = reqwest::Client::new();
    let token = log_in(&http, &api, "dev@fdt.localhost", password.trim()).await;
    // Prometheus metrics, with no token from loopback in dev: the login above is counted.
    let metrics = http.get(dev.value("metrics")).send().await.unwrap();
    assert_eq!(metrics.status(), 200);
    let text = metrics.text().await.unwrap();
    assert!(
        text.contains(
            r#"fdt_cloud_http_requests_total{method="POST",route="/v1/auth/login",status="200"}"#
        ),
        "{text}"
    );
    // The embedded relay's admin listener, and the health probe containers use.
    let relay_metrics = http.get(dev.value("relay metrics")).send().await.unwrap();
    assert_eq!(relay_metrics.status(), 200);
    let relay_text = relay_metrics.text().await.unwrap();
    assert!(
        relay_text.contains("fdt_relay_agent_sessions "),
        "{relay_text}"
    );
    let probe = Command::new(env!("CARGO_BIN_EXE_fdt-cloud"))
        .args(["healthcheck", &format!("{api}/healthz")])
        .output()
        .unwrap();
    assert!(probe.status.success(), "{probe:?}");
    let refused = Command::new(env!("CARGO_BIN_EXE_fdt-cloud"))
        .args(["healthcheck", "http://127.0.0.1:9/healthz"])
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(1), "{refused:?}");
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("healthcheck"),
        "{refused:?}"
    );
    let started = start_checkout(&http, &api, &token, "razorpay").await;
    let url = started["url"].as_str().unwrap();
    // Paying on the test server's page: its signed webhooks reach the control plane first.
    let proof: serde_json::Value = http.post(url).send().await.unwrap().json().await.unwrap();
    let r: serde_json::Value = http
        .post(format!("{api}/v1/billing/razorpay/payments"))
        .bearer_auth(&token)
        .json(&proof)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["state"], "active", "{r}");
    assert_eq!(r["entitled_plan"], "pro", "{r}");

    // PayPal's test server signs its webhooks as PayPal does (the committed test key, its
    // certificate served over https from the host the dev config allows, its CA trusted):
    // approving on its page moves a second account to pro by those webhooks alone.
    let cert = table["paypal"]["certificate"].as_str().unwrap();
    assert!(
        std::fs::read_to_string(cert)
            .unwrap()
            .contains("BEGIN CERTIFICATE")
    );
    let creds =
        serde_json::json!({"email": "paypal@fdt.localhost", "password": "correct horse battery"});
    let r = http
        .post(format!("{api}/v1/auth/register"))
        .json(&creds)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let token = log_in(&http, &api, "paypal@fdt.localhost", "correct horse battery").await;
    let started = start_checkout(&http, &api, &token, "paypal").await;
    let url = started["url"].as_str().unwrap();
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let approved = no_redirects.post(url).send().await.unwrap();
    assert_eq!(approved.status(), 303);
    let status = format!(
        "{api}/v1/billing/checkout/{}",
        started["id"].as_str().unwrap()
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    let r = loop {
        let r: serde_json::Value = http
            .get(&status)
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if r["state"] == "active" || Instant::now() > deadline {
            break r;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(r["state"], "active", "{r}");
    assert_eq!(r["entitled_plan"], "pro", "{r}");
    stop(dev).await;
}

/// Logs `email` in at the dev stack's `api`: the access token.
async fn log_in(http: &reqwest::Client, api: &str, email: &str, password: &str) -> String {
    let login: serde_json::Value = http
        .post(format!("{api}/v1/auth/login"))
        .json(&serde_json::json!({"email": email, "password": password}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    login["access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("{login}"))
        .to_owned()
}

/// Starts a checkout of pro at `provider` as `token`: the answer, which has a `url`.
async fn start_checkout(
    http: &reqwest::Client,
    api: &str,
    token: &str,
    provider: &str,
) -> serde_json::Value {
    let started: serde_json::Value = http
        .post(format!("{api}/v1/billing/checkout"))
        .bearer_auth(token)
        .json(&serde_json::json!({"provider": provider, "plan": "pro"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(started["url"].is_string(), "{started}");
    started
}
