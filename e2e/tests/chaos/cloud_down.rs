//! The control plane (a real `fdt-cloud serve` process) SIGKILLed for the profile's time, then
//! started again on the same address and database. Tunnels already up keep serving the whole
//! time (a relay needs its control plane to admit new agents, not to forward), the agent never
//! reconnects, and the relay's usage reports held during the outage arrive afterwards: the
//! cloud ends up counting every request exactly once (none lost, none twice).

use super::{OneRelay, Profile, all_ok, assert_counted_once, report, steady_during};
use fdt_e2e::cloud::CloudAccount;
use fdt_e2e::cloud_process::CloudProcess;

const SUB: &str = "clouddown";
/// Requests before the outage and after it.
const AROUND: u64 = 20;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cloud_killed_tunnels_keep_serving_and_usage_arrives_once() {
    fdt_e2e::install_crypto();
    fdt_e2e::init_tracing();
    let profile = Profile::current();
    let cloud = CloudProcess::start("heartbeat_secs = 1\nunhealthy_after_secs = 3\n")
        .await
        .unwrap();
    let mut fleet = OneRelay::start(cloud).await;
    let account = CloudAccount::register(&fleet.cloud.url, "clouddown@example.com")
        .await
        .unwrap();
    // The relay registers with its first heartbeat; until then the cloud has none to offer,
    // and the agent retries by itself.
    let (mut agent, _origin) = fleet.agent(&account, SUB).await;
    agent
        .wait_bound()
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", fleet.logs()));
    let http = fleet.visitor(SUB);
    let url = fleet.relay.http_url(SUB, "/echo");
    all_ok(&http, &url, AROUND).await;

    fleet.cloud.kill().await.unwrap();
    let during = steady_during(&http, &url, profile.cloud_down, "the cloud").await;
    let heartbeat_age = fleet
        .relay
        .metric("fdt_relay_control_heartbeat_age_seconds")
        .await
        .unwrap();

    fleet.cloud.restart().await.unwrap();
    all_ok(&http, &url, AROUND).await;
    let sent = AROUND + during + AROUND;
    let delivered = assert_counted_once(&fleet.cloud.url, &account, sent).await;
    let status = agent.status();
    assert_eq!(status.reconnects, 0, "{status:?}");
    report(
        "cloud_down",
        &format!(
            "cloud SIGKILLed for {:?}: {during} requests during it, all 200 (heartbeat age at \
             the end {heartbeat_age:.0} s); usage complete {:.1} s after the restart's first \
             requests: {sent} counted of {sent} sent; agent reconnects 0",
            profile.cloud_down,
            delivered.as_secs_f64()
        ),
    );
    agent.stop().await.unwrap();
}
