//! The monitoring in `installers/monitoring/` against the real binaries: a Prometheus
//! (Debian's package) scrapes `fdt-cloud dev` (the control plane and its embedded relay's admin
//! listener) and an `fdt` agent's local API while traffic flows, evaluates the alert rules,
//! and answers every dashboard query (extracted by `dashboards.py`) with data.
//!
//! Needs the binaries: `cargo build --bins` (the test command builds them).

use fdt_e2e::{HttpOrigin, workspace_binary};
use serde_json::Value;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A child process stopped (and reaped) when dropped, so a failing test leaves nothing
/// running: SIGTERM first, so that `fdt-cloud dev` stops the test servers it started (a
/// SIGKILL would orphan them), then SIGKILL after 10 s.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::time::Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The repository's `installers/monitoring`.
fn monitoring_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../installers/monitoring")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `http://ADDR/metrics` → `ADDR`.
fn metrics_target(url: &str) -> String {
    url.trim_start_matches("http://")
        .trim_end_matches("/metrics")
        .to_owned()
}

/// What `fdt-cloud dev` printed: the value after `label:` (first word).
fn printed(lines: &[String], label: &str) -> String {
    let prefix = format!("{label}:");
    lines
        .iter()
        .find_map(|l| l.trim().strip_prefix(&prefix))
        .and_then(|v| v.split_whitespace().next())
        .unwrap_or_else(|| panic!("no {label:?} line in {lines:#?}"))
        .to_owned()
}

/// The Razorpay webhook secret `fdt-cloud dev` generated (its Razorpay test server runs
/// whatever is installed), from the secrets file its output names (`billing: … webhook secrets
/// in PATH`): `webhook_secret` in the `[razorpay]` table.
fn razorpay_webhook_secret(lines: &[String]) -> String {
    let path = lines
        .iter()
        .find_map(|l| l.split_once("webhook secrets in ").map(|(_, p)| p.trim()))
        .unwrap_or_else(|| panic!("no webhook secrets file in {lines:#?}"));
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut table = "";
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            table = line;
        } else if table == "[razorpay]"
            && let Some(v) = line.strip_prefix("webhook_secret")
        {
            return v
                .trim_start_matches([' ', '='])
                .trim_matches('"')
                .to_owned();
        }
    }
    panic!("no [razorpay] webhook_secret in {path}")
}

/// A Razorpay event the cloud ignores (`customer.created`), created a minute ago: its fresh
/// ID, its `X-Razorpay-Signature` (hex HMAC-SHA256 of the body with `secret`) and the body.
fn signed_razorpay_event(secret: &str) -> (String, String, String) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let id = format!("evt_monitoring{}", rand::random::<u32>());
    let body = serde_json::json!({
        "entity": "event",
        "event": "customer.created",
        "created_at": now - 60,
        "payload": {},
    })
    .to_string();
    let signature = fdt_cloud::billing::verify::hmac_hex(secret.as_bytes(), &[body.as_bytes()]);
    (id, signature, body)
}

/// Environment of a user whose HOME is `home` (where `fdt-cloud dev` writes the agent's
/// config and `fdt` reads it).
fn user_env(cmd: &mut Command, home: &Path) {
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join("xdg-config"))
        .env("XDG_DATA_HOME", home.join("xdg-data"))
        .env("RUST_LOG", "warn")
        .env("FDT_ARGON2_MEMORY_KIB", "64")
        .env("FDT_ARGON2_ITERATIONS", "1");
}

/// Starts `fdt-cloud dev` on free ports; returns it and its output up to the next-step line.
async fn start_cloud(home: &Path) -> (Killed, Vec<String>) {
    let mut cmd = Command::new(workspace_binary("fdt-cloud").unwrap());
    user_env(&mut cmd, home);
    cmd.args([
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
    .stdout(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let child = Killed(child);
    let read = tokio::task::spawn_blocking(move || {
        use std::io::BufRead;
        let mut lines = Vec::new();
        for line in std::io::BufReader::new(stdout).lines() {
            let line = line.unwrap();
            let done = line.trim().starts_with("fdt http");
            lines.push(line);
            if done {
                break;
            }
        }
        lines
    });
    let lines = tokio::time::timeout(Duration::from_secs(60), read)
        .await
        .expect("fdt-cloud dev printed its next step within 60 s")
        .unwrap();
    (child, lines)
}

/// Starts `fdt http` for `origin` with its local API on `api`, and waits until it is online.
async fn start_agent(home: &Path, origin: SocketAddr, api: SocketAddr) -> Killed {
    let mut cmd = Command::new(workspace_binary("fdt").unwrap());
    user_env(&mut cmd, home);
    cmd.args(["http", &origin.port().to_string(), "--subdomain", "mon"])
        .args(["--api-addr", &api.to_string()])
        .stdout(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let child = Killed(child);
    let (online_tx, online_rx) = tokio::sync::oneshot::channel();
    // Reads its output to the end (a closed pipe would fail its later status lines).
    std::thread::spawn(move || {
        use std::io::BufRead;
        let mut online = Some(online_tx);
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { return };
            if line.contains("online:")
                && let Some(tx) = online.take()
            {
                let _ = tx.send(());
            }
        }
    });
    tokio::time::timeout(Duration::from_secs(30), online_rx)
        .await
        .expect("fdt online within 30 s")
        .expect("fdt exited before going online");
    child
}

/// The Prometheus config: each target scraped every second, the repository's alert rules.
fn prometheus_config(cloud: &str, relay: &str, agent: &str) -> String {
    let rules = monitoring_dir().join("rules");
    format!(
        r#"global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files:
  - {rules:?}
scrape_configs:
  - job_name: fdt-cloud
    static_configs: [{{targets: ["{cloud}"]}}]
  - job_name: fdt-relay
    static_configs: [{{targets: ["{relay}"]}}]
  - job_name: fdt-agent
    static_configs: [{{targets: ["{agent}"]}}]
"#,
        rules = format!("{}/*.rules.yml", rules.display()),
    )
}

/// `GET {prom}/api/v1/{path}` → its `data`.
async fn api(http: &reqwest::Client, prom: &str, path: &str, query: &[(&str, &str)]) -> Value {
    let url = reqwest::Url::parse_with_params(&format!("{prom}/api/v1/{path}"), query).unwrap();
    let v: Value = http.get(url).send().await.unwrap().json().await.unwrap();
    assert_eq!(v["status"], "success", "{path} {query:?}: {v}");
    v["data"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_scrapes_the_binaries_and_every_dashboard_query_returns_data() {
    fdt_e2e::install_crypto();
    let home = tempfile::tempdir().unwrap();
    let (_cloud, lines) = start_cloud(home.path()).await;
    let api_url = printed(&lines, "api").trim_end_matches("/v1").to_owned();
    let cloud_target = metrics_target(&printed(&lines, "metrics"));
    let relay_target = metrics_target(&printed(&lines, "relay metrics"));
    let http_port: u16 = printed(&lines, "http edge")
        .rsplit(':')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let origin = HttpOrigin::start().await.unwrap();
    let agent_api = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let _agent = start_agent(home.path(), origin.addr, agent_api).await;

    // Traffic for every panel: requests through the tunnel and to nobody's name, a refused
    // login, a webhook with a bad signature and a signed one (the billing panels: an event
    // type the cloud ignores, created a minute ago, for the lag), until the test ends.
    let razorpay_secret = razorpay_webhook_secret(&lines);
    let http = reqwest::Client::builder()
        .resolve(
            "mon.localhost",
            SocketAddr::from(([127, 0, 0, 1], http_port)),
        )
        .resolve(
            "nobody.localhost",
            SocketAddr::from(([127, 0, 0, 1], http_port)),
        )
        .build()
        .unwrap();
    let traffic = {
        let http = http.clone();
        let api_url = api_url.clone();
        tokio::spawn(async move {
            loop {
                let tunnel = http
                    .get(format!("http://mon.localhost:{http_port}/echo"))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(tunnel.status(), 200);
                let _ = http
                    .get(format!("http://nobody.localhost:{http_port}/"))
                    .send()
                    .await;
                let _ = http
                    .post(format!("{api_url}/v1/auth/login"))
                    .json(&serde_json::json!({"email": "nobody@example.com", "password": "wrong-password-1"}))
                    .send()
                    .await;
                let _ = http
                    .post(format!("{api_url}/v1/billing/webhooks/stripe"))
                    .header("Stripe-Signature", "t=1,v1=00")
                    .body("{}")
                    .send()
                    .await;
                let (id, signature, event) = signed_razorpay_event(&razorpay_secret);
                let signed = http
                    .post(format!("{api_url}/v1/billing/webhooks/razorpay"))
                    .header("X-Razorpay-Event-Id", id)
                    .header("X-Razorpay-Signature", signature)
                    .body(event)
                    .send()
                    .await
                    .unwrap();
                let status = signed.status();
                let text = signed.text().await.unwrap_or_default();
                assert_eq!(status, 200, "a signed event was refused: {text}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
    };

    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        prometheus_config(&cloud_target, &relay_target, &agent_api.to_string()),
    )
    .unwrap();
    let port = free_port();
    let prom = format!("http://127.0.0.1:{port}");
    let log = std::fs::File::create(dir.path().join("prometheus.log")).unwrap();
    let _prometheus = Killed(
        Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--log.level=warn")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("prometheus (Debian's prometheus package; scripts/test.sh installs it)"),
    );

    // Every target up, then a few more scrapes so rates have two samples.
    let all_up = async {
        loop {
            if let Ok(r) = http.get(format!("{prom}/api/v1/targets")).send().await
                && let Ok(v) = r.json::<Value>().await
            {
                let targets = v["data"]["activeTargets"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
                if targets.len() == 3 && targets.iter().all(|t| t["health"] == "up") {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    };
    if tokio::time::timeout(Duration::from_secs(60), all_up)
        .await
        .is_err()
    {
        let targets = api(&http, &prom, "targets", &[]).await;
        panic!(
            "targets not all up within 60 s: {targets:#}\nprometheus log: {}",
            std::fs::read_to_string(dir.path().join("prometheus.log")).unwrap_or_default()
        );
    }
    tokio::time::sleep(Duration::from_secs(6)).await;

    // Every dashboard query returns data.
    let out = Command::new("python3")
        .arg(monitoring_dir().join("dashboards.py"))
        .args(["queries", "10s"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let queries: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(queries.len() >= 30, "{} queries", queries.len());
    let mut empty = Vec::new();
    for q in &queries {
        let expr = q["expr"].as_str().unwrap();
        let data = api(&http, &prom, "query", &[("query", expr)]).await;
        if data["result"].as_array().is_none_or(Vec::is_empty) {
            empty.push(format!("{} / {}: {expr}", q["dashboard"], q["panel"]));
        }
    }
    assert!(
        empty.is_empty(),
        "queries without data:\n{}",
        empty.join("\n")
    );

    // The alert rules load and evaluate without error against the live series.
    let healthy = async {
        loop {
            let data = api(&http, &prom, "rules", &[]).await;
            let rules: Vec<Value> = data["groups"]
                .as_array()
                .unwrap()
                .iter()
                .flat_map(|g| g["rules"].as_array().unwrap().clone())
                .collect();
            if !rules.is_empty() && rules.iter().all(|r| r["health"] == "ok") {
                return rules.len();
            }
            if let Some(bad) = rules.iter().find(|r| r["health"] == "err") {
                panic!("rule failed to evaluate: {bad:#}");
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    };
    let n = tokio::time::timeout(Duration::from_secs(30), healthy)
        .await
        .expect("every rule evaluated within 30 s");
    assert!(n >= 15, "{n} rules");
    // The traffic task runs until now; had it stopped, its panic (a tunnel request that was
    // not 200) is the failure to report.
    if traffic.is_finished() {
        traffic.await.unwrap();
        panic!("the traffic task ended early");
    }
    traffic.abort();
}
