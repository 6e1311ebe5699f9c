//! 5 % loss and 100 ms delay each way (200 ms more RTT) on the agent's path to its relays,
//! through the impairment proxy, with 10 ms of jitter (which reorders datagrams) and 1 % of
//! them duplicated: the tunnel keeps serving every request (QUIC recovers the losses and
//! discards the copies), with p50/p99 reported, and the agent never reconnects, neither under
//! traffic nor while the path is quiet and only keep-alives cross it (where a short idle
//! timeout would raise a false alarm).

use super::{Profile, quantile_ms, report, visitors};
use fdt_cloud::testing::TestDb;
use fdt_e2e::impair::UdpConfig;
use fdt_e2e::regions::TwoRegions;
use std::time::Duration;

const SUB: &str = "lossy";
const TUNNEL: &str = "web";
/// The path's impairment (fixed seed: a failing run can be replayed).
const PATH: &str = "delay=100ms,jitter=10ms,loss=5%,dup=1%,seed=7";
/// Visitors sending one request after another, together.
const WORKERS: usize = 4;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lossy_agent_path_keeps_serving_without_reconnects() {
    fdt_e2e::install_crypto();
    fdt_e2e::init_tracing();
    let profile = Profile::current();
    let db = TestDb::sqlite().await;
    let path = UdpConfig {
        impairment: PATH.parse().unwrap(),
        ..UdpConfig::default()
    };
    let regions = TwoRegions::start_behind(db.store.clone(), Some(path))
        .await
        .unwrap();
    let account = regions.cloud.account("lossy@example.com").await.unwrap();
    let (mut agent, _origin) = regions.bound_agent(&account, TUNNEL, SUB).await;
    let eu_url = regions.eu.http_url(SUB, "/echo");
    assert_eq!(
        agent.public_url(TUNNEL).as_deref(),
        Some(regions.eu.http_url(SUB, "").as_str())
    );

    // Traffic: WORKERS visitors, each one request after another, for the profile's time.
    let http = reqwest::Client::builder()
        .resolve(&format!("{SUB}.localhost"), regions.eu.http_addr)
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let (latencies, failed) = visitors(
        &http,
        &eu_url,
        WORKERS,
        profile.lossy_traffic,
        Duration::ZERO,
    )
    .await;
    let under_traffic = agent.status().reconnects;
    assert!(
        failed.is_empty(),
        "{} requests failed: {failed:?}",
        failed.len()
    );
    assert!(!latencies.is_empty());
    assert_eq!(
        under_traffic,
        0,
        "reconnected under traffic: {:?}",
        agent.status()
    );

    // Quiet: only keep-alives and heartbeats cross the lossy path.
    tokio::time::sleep(profile.lossy_idle).await;
    let status = agent.status();
    assert_eq!(
        status.reconnects,
        0,
        "reconnected while quiet: {status:?}\n{}",
        regions.logs()
    );
    let after = http.get(&eu_url).send().await.unwrap();
    assert_eq!(after.status(), 200);

    let stats = regions.proxies.as_ref().unwrap()[0].snapshot();
    report(
        "lossy",
        &format!(
            "{PATH} each way: {} requests in {:?} by {WORKERS} visitors, all 200; latency p50 \
             {:.0} / p99 {:.0} / max {:.0} ms; reconnects 0 under traffic and over {:?} quiet; \
             path to relay: {} lost of {} datagrams, {} duplicated; back: {} lost of {}, {} \
             duplicated",
            latencies.len(),
            profile.lossy_traffic,
            quantile_ms(&latencies, 0.5),
            quantile_ms(&latencies, 0.99),
            quantile_ms(&latencies, 1.0),
            profile.lossy_idle,
            stats.to_upstream.lost,
            stats.to_upstream.lost + stats.to_upstream.forwarded,
            stats.to_upstream.duplicated,
            stats.to_client.lost,
            stats.to_client.lost + stats.to_client.forwarded,
            stats.to_client.duplicated,
        ),
    );
    agent.stop().await.unwrap();
    regions.cloud.shutdown.cancel();
}
