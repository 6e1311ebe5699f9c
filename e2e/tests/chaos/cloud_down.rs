//! The control plane (a real `fdt-cloud serve` process) SIGKILLed for the profile's time, then
//! started again on the same address and database. Tunnels already up keep serving the whole
//! time (a relay needs its control plane to admit new agents, not to forward), the agent never
//! reconnects, and the relay's usage reports held during the outage arrive afterwards: the
//! cloud ends up counting every request exactly once (none lost, none twice).

use super::{Profile, report};
use fdt_agent_core::config::TunnelConfig;
use fdt_agent_core::{CloudLogin, Connect};
use fdt_e2e::cloud::{CloudAccount, RELAY_SECRET};
use fdt_e2e::cloud_process::CloudProcess;
use fdt_e2e::{Agent, HttpOrigin, RelayProcess, RelayProcessOptions, TlsFiles};
use fdt_proto::Proto;
use std::time::{Duration, Instant};

const SUB: &str = "clouddown";
const TUNNEL: &str = "web";
/// Requests before the outage and after it.
const AROUND: u64 = 20;
/// Between two requests during the outage.
const PACE: Duration = Duration::from_millis(100);
/// How long the reports may take to arrive once the cloud is back, and to settle.
const DELIVERY: Duration = Duration::from_secs(30);

/// Requests the cloud has counted for `account` (all days), via `GET /v1/usage`.
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

/// One request through the relay: its status (0 when it failed).
async fn request(http: &reqwest::Client, url: &str) -> u16 {
    match http.get(url).send().await {
        Ok(r) => r.status().as_u16(),
        Err(_) => 0,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cloud_killed_tunnels_keep_serving_and_usage_arrives_once() {
    fdt_e2e::install_crypto();
    fdt_e2e::init_tracing();
    let profile = Profile::current();
    let mut cloud = CloudProcess::start("heartbeat_secs = 1\nunhealthy_after_secs = 3\n")
        .await
        .unwrap();
    let tls_dir = tempfile::tempdir().unwrap();
    let tls = TlsFiles::issue(tls_dir.path(), &["localhost".to_string()]).unwrap();
    let relay = RelayProcess::start(&RelayProcessOptions {
        relay_id: "eu-1".into(),
        region: "eu".into(),
        cloud_url: cloud.url.clone(),
        relay_secret: RELAY_SECRET.into(),
        tls: tls.clone(),
        heartbeat_ms: 500,
        agent_idle_timeout_ms: 3_000,
        https_edge: false,
        advertise_agent_addr: None,
    })
    .await
    .unwrap();
    let account = CloudAccount::register(&cloud.url, "clouddown@example.com")
        .await
        .unwrap();
    let origin = HttpOrigin::start().await.unwrap();
    let mut tunnel = TunnelConfig::new(Proto::Http, origin.addr.to_string());
    tunnel.subdomain = Some(SUB.into());
    let login = CloudLogin {
        api_url: cloud.url.clone(),
        authtoken: account.authtoken_secret(),
        region: Some("eu".into()),
        relay_ca: Some(tls.ca.clone()),
    };
    // The relay registers with its first heartbeat; until then the cloud has none to offer,
    // and the agent retries by itself.
    let mut agent = Agent::spawn(Connect::Cloud(login), vec![(TUNNEL, tunnel)]).unwrap();
    agent
        .wait_bound()
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}\n{}", relay.log_text(), cloud.log_text()));
    let http = reqwest::Client::builder()
        .resolve(&format!("{SUB}.localhost"), relay.http_addr)
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let url = relay.http_url(SUB, "/echo");
    let mut sent = 0u64;
    for _ in 0..AROUND {
        assert_eq!(request(&http, &url).await, 200);
        sent += 1;
    }

    cloud.kill().await.unwrap();
    let down_at = Instant::now();
    let mut during = 0u64;
    let mut failed = Vec::new();
    while down_at.elapsed() < profile.cloud_down {
        match request(&http, &url).await {
            200 => during += 1,
            other => failed.push(other),
        }
        tokio::time::sleep(PACE).await;
    }
    assert!(
        failed.is_empty(),
        "{} requests failed while the cloud was down: {failed:?}",
        failed.len()
    );
    sent += during;
    let heartbeat_age = relay
        .metric("fdt_relay_control_heartbeat_age_seconds")
        .await
        .unwrap();

    cloud.restart().await.unwrap();
    let back_at = Instant::now();
    for _ in 0..AROUND {
        assert_eq!(request(&http, &url).await, 200);
        sent += 1;
    }
    let last = std::sync::Mutex::new(None);
    fdt_e2e::poll_until(DELIVERY, "every request counted", || async {
        let n = counted(&cloud.url, &account).await.ok()?;
        *last.lock().unwrap() = Some(n);
        (n >= sent).then_some(())
    })
    .await
    .unwrap_or_else(|e| {
        panic!(
            "{e}: {:?} of {sent}\n{}",
            last.lock().unwrap(),
            relay.log_text()
        )
    });
    let delivered = back_at.elapsed();
    // Settled: a few more heartbeats later, still exactly once each.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let n = counted(&cloud.url, &account).await.unwrap();
    assert_eq!(n, sent, "requests counted by the cloud vs sent");
    let status = agent.status();
    assert_eq!(status.reconnects, 0, "{status:?}");
    report(
        "cloud_down",
        &format!(
            "cloud SIGKILLed for {:?}: {during} requests during it, all 200 (heartbeat age at \
             the end {heartbeat_age:.0} s); usage complete {:.1} s after the restart: {n} \
             requests counted of {sent} sent; agent reconnects 0",
            profile.cloud_down,
            delivered.as_secs_f64()
        ),
    );
    agent.stop().await.unwrap();
}
