//! Faults made by the kernel rather than by a proxy: a real relay runs in its own network
//! namespace, reached over a veth pair, and nftables rules there drop its agents' datagrams.
//! First all of them (a partition) for the profile's time: the agent notices, the relay drops
//! the silent session, and once the rules go there is one session again, serving, with the
//! relay's tasks and file descriptors (and this process's) as before. Then 5 % of them at
//! random, each way, under traffic: every request is answered and the agent never reconnects.
//!
//! Needs root, iproute2 and nftables (the test command installs nftables): skipped without.

use super::leaks::{Compared, Counts};
use super::{Profile, quantile_ms, report, visitors};
use fdt_agent_core::config::TunnelConfig;
use fdt_agent_core::status::SessionState;
use fdt_agent_core::{CloudLogin, Connect};
use fdt_cloud::testing::TestDb;
use fdt_e2e::netns::NetNs;
use fdt_e2e::{Agent, Cloud, HttpOrigin, RelayProcess, RelayProcessOptions, TlsFiles};
use fdt_proto::Proto;
use std::time::{Duration, Instant};

const SUB: &str = "kernel";
const TUNNEL: &str = "web";
/// Random loss, percent, each way.
const LOSS: u8 = 5;
/// Visitors sending one request after another, together.
const WORKERS: usize = 4;
/// Each visitor's pause between requests: about 40 requests per second in all, well under the
/// free plan's 4,000 a minute (a faster visitor is told 429, which is not what is tested).
const PACE: Duration = Duration::from_millis(100);
/// How long, after healing, the agent may take to serve and counts to settle.
const SETTLE: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nftables_loss_then_partition_in_a_network_namespace() {
    if let Err(why) = NetNs::available() {
        eprintln!("skipped: {why}");
        return;
    }
    fdt_e2e::install_crypto();
    fdt_e2e::init_tracing();
    let profile = Profile::current();
    let ns = NetNs::create().unwrap();
    let db = TestDb::sqlite().await;
    // The control plane listens on this side of the pair, where the relay can reach it.
    let listener = tokio::net::TcpListener::bind((ns.host_ip, 0))
        .await
        .unwrap();
    let cloud_port = listener.local_addr().unwrap().port();
    let cloud = Cloud::start_with(listener, db.store.clone(), |c| {
        c.relays.clear();
        c.fleet.heartbeat_secs = 1;
        c.fleet.unhealthy_after_secs = 3;
    });
    let tls_dir = tempfile::tempdir().unwrap();
    let tls = TlsFiles::issue(tls_dir.path(), &["localhost".to_string()]).unwrap();
    let relay = RelayProcess::start(&RelayProcessOptions {
        bind_ip: ns.ns_ip.into(),
        netns: Some(ns.name.clone()),
        ..RelayProcessOptions::fleet("eu-1", "eu", &cloud.url, &tls)
    })
    .await
    .unwrap();
    let account = cloud.account("kernel@example.com").await.unwrap();
    let origin = HttpOrigin::start().await.unwrap();
    let mut tunnel = TunnelConfig::new(Proto::Http, origin.addr.to_string());
    tunnel.subdomain = Some(SUB.into());
    let login = CloudLogin {
        api_url: cloud.url.clone(),
        authtoken: account.authtoken_secret(),
        region: Some("eu".into()),
        relay_ca: Some(tls.ca.clone()),
    };
    // The relay registers with its first heartbeat; the agent retries until then.
    let mut agent = Agent::spawn(Connect::Cloud(login), vec![(TUNNEL, tunnel)]).unwrap();
    agent
        .wait_bound()
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", relay.log_text()));
    assert_eq!(agent.status().relay, relay.agent_addr.to_string());
    let http = reqwest::Client::builder()
        .resolve(&format!("{SUB}.localhost"), relay.http_addr)
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let url = relay.http_url(SUB, "/echo");
    let port = relay.agent_addr.port();

    // A partition, then healing, first: the baseline is a fresh session that served one
    // request (the visitor keeps no connection), as it is again after healing.
    let probe = reqwest::Client::builder()
        .resolve(&format!("{SUB}.localhost"), relay.http_addr)
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let first = probe.get(&url).send().await.unwrap();
    assert_eq!(first.status(), 200);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let before = Counts::read(&[&relay], &[cloud_port]).await.unwrap();
    assert_eq!(before.sessions, 1, "{before:?}");
    ns.cut_udp(port).unwrap();
    let cut_at = Instant::now();
    let noticed = fdt_e2e::poll_until(
        profile.nft_partition,
        "the agent notices the cut",
        || async { (agent.status().state != SessionState::Online).then(|| cut_at.elapsed()) },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}: {:?}", agent.status()));
    tokio::time::sleep(profile.nft_partition.saturating_sub(cut_at.elapsed())).await;
    let during = Counts::read(&[&relay], &[cloud_port]).await.unwrap();
    let cut = ns.dropped().unwrap();
    assert_eq!(during.sessions, 0, "{during:?}");
    ns.heal().unwrap();
    let healed_at = Instant::now();
    fdt_e2e::poll_until(SETTLE, "serving again after healing", || async {
        let r = probe.get(&url).send().await.ok()?;
        (r.status() == 200).then_some(())
    })
    .await
    .unwrap_or_else(|e| panic!("{e}: {:?}\n{}", agent.status(), relay.log_text()));
    let serving_after = healed_at.elapsed();
    let after = before
        .settle_back(&[&relay], &[cloud_port], SETTLE)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    report(
        "kernel_partition",
        &format!(
            "nftables: every datagram of the relay's agents dropped for {:?} ({cut} dropped): \
             noticed after {:.0} ms; serving {:.0} ms after healing; after: {}",
            profile.nft_partition,
            noticed.as_secs_f64() * 1e3,
            serving_after.as_secs_f64() * 1e3,
            Compared(before, after),
        ),
    );
    // Then random loss, under traffic: no reconnect beyond those of the partition.
    let reconnects = agent.status().reconnects;
    ns.lose_udp(port, LOSS).unwrap();
    let (latencies, failed) = visitors(&http, &url, WORKERS, profile.nft_loss, PACE).await;
    let lost = ns.dropped().unwrap();
    ns.heal().unwrap();
    assert!(
        failed.is_empty(),
        "{} of {} failed, first: {:?}",
        failed.len(),
        failed.len() + latencies.len(),
        &failed[..failed.len().min(10)]
    );
    let status = agent.status();
    assert_eq!(status.reconnects, reconnects, "{status:?}");
    assert!(lost > 0, "nftables dropped nothing: the rule did not apply");
    report(
        "kernel_loss",
        &format!(
            "nftables: {LOSS} % of the relay's QUIC datagrams dropped at random each way \
             ({lost} dropped): {} requests in {:?} by {WORKERS} visitors, all 200; latency p50 \
             {:.1} / p99 {:.1} / max {:.1} ms; no reconnect",
            latencies.len(),
            profile.nft_loss,
            quantile_ms(&latencies, 0.5),
            quantile_ms(&latencies, 0.99),
            quantile_ms(&latencies, 1.0),
        ),
    );

    agent.stop().await.unwrap();
    cloud.shutdown.cancel();
}
