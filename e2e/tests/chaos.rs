//! The chaos drill: faults injected into a real fleet (a control plane, `fdt-relay` processes,
//! agents, visitors through curl and reqwest), each scenario asserting what users must see.
//!
//! - `sigterm`: a relay stopped gracefully under 100 requests in flight;
//! - `sigkill`: a relay killed; the agent serves on the next region's relay (timed per run);
//! - `lossy`: 5 % loss and 100 ms delay each way on the agent's path, with jitter (reordering)
//!   and 1 % duplicates (p50/p99 reported, no reconnect: the agent's short idle timeout raises
//!   no false alarm);
//! - `partition`: agent and relays cut apart, then healed: one session again, no task or file
//!   descriptor left behind;
//! - `cloud_down`: the control plane SIGKILLed and restarted: tunnels keep serving, and the
//!   relay's usage reports arrive afterwards, each request counted once;
//! - `db_down`: the control plane's PostgreSQL crashed and restarted: bound tunnels keep
//!   serving, an agent that could not bind meanwhile binds once it is back, usage counted once;
//! - `kernel`: a relay in its own network namespace behind a veth pair, with nftables dropping
//!   all of its agents' datagrams (a partition: no leak after healing), then 5 % at random.
//!
//! Faults on the agent's path come from the in-repo impairment proxy (`fdt_e2e::impair`:
//! delay, jitter, loss, duplication, a partition), which the relays advertise to the cloud as
//! their agent address, and from nftables rules in a network namespace (`fdt_e2e::netns`: loss
//! and partitions in the kernel, as a real network drops packets; root only, skipped
//! elsewhere).
//!
//! How long faults last is a profile (`FDT_CHAOS_PROFILE`): `ci` (the default, about two
//! minutes of faults, run by the test command) or `full` (`e2e/chaos/drill.sh`, ten failover
//! runs and longer faults). Each scenario prints `chaos| scenario | figures` rows, also
//! appended to `$FDT_CHAOS_REPORT` when set, which the drill script turns into its table.
//! Timings are reported, never asserted here; the drill script checks the 2 s failover target.
//!
//! Needs the `fdt-relay` and `fdt-cloud` binaries: `cargo build --bins` first.

mod cloud_down;
mod db_down;
mod kernel;
mod leaks;
mod lossy;
mod partition;
mod sigkill;
mod sigterm;

use fdt_agent_core::config::TunnelConfig;
use fdt_agent_core::{CloudLogin, Connect};
use fdt_e2e::cloud::CloudAccount;
use fdt_e2e::cloud_process::CloudProcess;
use fdt_e2e::{Agent, HttpOrigin, RelayProcess, RelayProcessOptions, TlsFiles};
use fdt_proto::Proto;
use std::io::Write;
use std::time::Duration;

/// How long each fault lasts and how often failover is repeated.
#[derive(Debug, Clone, Copy)]
struct Profile {
    /// `ci` or `full`.
    name: &'static str,
    /// Times the relay is killed (a new fleet each time).
    failover_runs: usize,
    /// Traffic through the lossy path.
    lossy_traffic: Duration,
    /// Then quiet on the lossy path (only keep-alives: where a false alarm would show).
    lossy_idle: Duration,
    /// Agent and relays cut apart.
    partition: Duration,
    /// Control plane down.
    cloud_down: Duration,
    /// Its database down.
    db_down: Duration,
    /// Traffic under nftables' random loss.
    nft_loss: Duration,
    /// The nftables partition.
    nft_partition: Duration,
}

impl Profile {
    const CI: Self = Self {
        name: "ci",
        failover_runs: 1,
        lossy_traffic: Duration::from_secs(15),
        lossy_idle: Duration::from_secs(15),
        partition: Duration::from_secs(30),
        cloud_down: Duration::from_secs(20),
        db_down: Duration::from_secs(10),
        nft_loss: Duration::from_secs(10),
        nft_partition: Duration::from_secs(10),
    };
    const FULL: Self = Self {
        name: "full",
        failover_runs: 10,
        lossy_traffic: Duration::from_secs(60),
        lossy_idle: Duration::from_secs(60),
        partition: Duration::from_secs(30),
        cloud_down: Duration::from_secs(60),
        db_down: Duration::from_secs(30),
        nft_loss: Duration::from_secs(60),
        nft_partition: Duration::from_secs(30),
    };

    /// The profile `FDT_CHAOS_PROFILE` names (`ci` when unset); panics on an unknown name, so
    /// a typo cannot silently run the short drill.
    fn current() -> Self {
        match std::env::var("FDT_CHAOS_PROFILE").as_deref() {
            Err(_) | Ok("") | Ok("ci") => Self::CI,
            Ok("full") => Self::FULL,
            Ok(other) => panic!("FDT_CHAOS_PROFILE={other}: expected ci or full"),
        }
    }
}

/// Reports one row of the drill: printed, and appended to `$FDT_CHAOS_REPORT` when set.
fn report(scenario: &str, figures: &str) {
    let line = format!("chaos| {scenario} | {figures}");
    eprintln!("{line}");
    if let Ok(path) = std::env::var("FDT_CHAOS_REPORT")
        && !path.is_empty()
    {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .unwrap_or_else(|e| panic!("{path}: {e}"));
        writeln!(file, "{line}").unwrap_or_else(|e| panic!("{path}: {e}"));
    }
}

/// `workers` visitors GETting `url` one request after another (pausing `pace` between two)
/// until `span` has passed: the time each answered 200 took, sorted, and the status (or error)
/// of each that did not.
async fn visitors(
    http: &reqwest::Client,
    url: &str,
    workers: usize,
    span: Duration,
    pace: Duration,
) -> (Vec<Duration>, Vec<String>) {
    let until = std::time::Instant::now() + span;
    let tasks: Vec<_> = (0..workers)
        .map(|_| {
            let (http, url) = (http.clone(), url.to_owned());
            tokio::spawn(async move {
                let mut seen = Vec::new();
                while std::time::Instant::now() < until {
                    let t = std::time::Instant::now();
                    let status = match http.get(&url).send().await {
                        Ok(r) => r.status().as_u16().to_string(),
                        Err(e) => e.to_string(),
                    };
                    seen.push((status, t.elapsed()));
                    tokio::time::sleep(pace).await;
                }
                seen
            })
        })
        .collect();
    let (mut ok, mut failed) = (Vec::new(), Vec::new());
    for task in tasks {
        for (status, took) in task.await.expect("visitor task") {
            match status.as_str() {
                "200" => ok.push(took),
                _ => failed.push(status),
            }
        }
    }
    ok.sort();
    (ok, failed)
}

/// The `q`-quantile (0..=1) of `sorted` (nearest rank), in milliseconds.
fn quantile_ms(sorted: &[Duration], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1].as_secs_f64() * 1e3
}

/// What each file descriptor of this process points at (`socket:[…]`, a path), sorted: shown
/// when a count differs, to say what was left open.
fn own_fd_targets() -> Vec<String> {
    let mut targets: Vec<String> = std::fs::read_dir("/proc/self/fd")
        .map(|d| {
            d.filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
                .map(|p| p.display().to_string())
                .collect()
        })
        .unwrap_or_default();
    targets.sort();
    targets
}

/// A control plane process with one relay process (`eu-1`) registered to it, for the
/// scenarios that take the control plane or its database away.
struct OneRelay {
    cloud: CloudProcess,
    relay: RelayProcess,
    tls: TlsFiles,
    _tls_dir: tempfile::TempDir,
}

impl OneRelay {
    /// Starts `eu-1` against `cloud` (fast heartbeats, as the fleet's).
    async fn start(cloud: CloudProcess) -> Self {
        let tls_dir = tempfile::tempdir().unwrap();
        let tls = TlsFiles::issue(tls_dir.path(), &["localhost".to_string()]).unwrap();
        let relay =
            RelayProcess::start(&RelayProcessOptions::fleet("eu-1", "eu", &cloud.url, &tls))
                .await
                .unwrap();
        Self {
            cloud,
            relay,
            tls,
            _tls_dir: tls_dir,
        }
    }

    /// An agent of `account` with one HTTP tunnel `web` on `sub` to a new origin (kept alive
    /// by the caller). Not awaited: the caller decides when it must be bound.
    async fn agent(&self, account: &CloudAccount, sub: &str) -> (Agent, HttpOrigin) {
        let origin = HttpOrigin::start().await.unwrap();
        let mut tunnel = TunnelConfig::new(Proto::Http, origin.addr.to_string());
        tunnel.subdomain = Some(sub.into());
        let login = CloudLogin {
            api_url: self.cloud.url.clone(),
            authtoken: account.authtoken_secret(),
            region: Some("eu".into()),
            relay_ca: Some(self.tls.ca.clone()),
        };
        let agent = Agent::spawn(Connect::Cloud(login), vec![("web", tunnel)]).unwrap();
        (agent, origin)
    }

    /// A visitor client resolving `sub.localhost` to the relay's HTTP edge.
    fn visitor(&self, sub: &str) -> reqwest::Client {
        reqwest::Client::builder()
            .resolve(&format!("{sub}.localhost"), self.relay.http_addr)
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap()
    }

    /// Both logs, for a failure message.
    fn logs(&self) -> String {
        format!(
            "--- relay log:\n{}\n--- cloud log:\n{}",
            self.relay.log_text(),
            self.cloud.log_text()
        )
    }
}

/// `n` GETs of `url` one after another, each of which must be answered 200.
async fn all_ok(http: &reqwest::Client, url: &str, n: u64) {
    for i in 0..n {
        let status = request(http, url).await;
        assert_eq!(status, 200, "request {i} of {n} to {url}");
    }
}

/// GETs of `url` every `pace` for `span` while something is down (`what`); every one must be
/// answered 200. How many were sent.
async fn steady_during(http: &reqwest::Client, url: &str, span: Duration, what: &str) -> u64 {
    let started = std::time::Instant::now();
    let (mut ok, mut failed) = (0u64, Vec::new());
    while started.elapsed() < span {
        match request(http, url).await {
            200 => ok += 1,
            other => failed.push(other),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        failed.is_empty(),
        "{} of {} requests failed while {what} was down: {failed:?}",
        failed.len(),
        ok + failed.len() as u64
    );
    ok
}

/// One GET: its status (0 when it failed).
async fn request(http: &reqwest::Client, url: &str) -> u16 {
    match http.get(url).send().await {
        Ok(r) => r.status().as_u16(),
        Err(_) => 0,
    }
}

/// Requests the cloud at `cloud` has counted for `account` (all days), via `GET /v1/usage`.
async fn counted(cloud: &str, account: &CloudAccount) -> anyhow::Result<u64> {
    let r = reqwest::Client::new()
        .get(format!("{cloud}/v1/usage"))
        .bearer_auth(account.access_token.expose_secret())
        .send()
        .await?;
    anyhow::ensure!(r.status() == 200, "GET /v1/usage: {}", r.status());
    let list: fdt_api::UsageList = r.json().await?;
    Ok(list.days.iter().map(|d| d.requests).sum())
}

/// Waits (30 s at most) until the cloud has counted `sent` requests for `account`, then a few
/// heartbeats more, and asserts it counted exactly `sent`: none lost, none twice. How long
/// the count took to complete.
async fn assert_counted_once(cloud: &str, account: &CloudAccount, sent: u64) -> Duration {
    let started = std::time::Instant::now();
    let last = std::sync::Mutex::new(None);
    fdt_e2e::poll_until(Duration::from_secs(30), "every request counted", || async {
        let n = counted(cloud, account).await.ok()?;
        *last.lock().unwrap() = Some(n);
        (n >= sent).then_some(())
    })
    .await
    .unwrap_or_else(|e| panic!("{e}: {:?} of {sent}", last.lock().unwrap()));
    let complete = started.elapsed();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let n = counted(cloud, account).await.unwrap();
    assert_eq!(n, sent, "requests counted by the cloud vs sent");
    complete
}
