//! A relay stopped with SIGTERM while 100 requests are in flight through it. Every one completes (the relay drains before it tells agents to go
//! away), the relay exits 0, and the agent rebinds exactly once, on the other relay (its
//! region's failover), where traffic flows again. Real `fdt-relay` processes, a control plane
//! in this process, an agent preferring `eu`.
//!
//! Needs the relay binary: `cargo build -p fdt-relay --bin fdt-relay` first.

use fdt_agent_core::Connect;
use fdt_agent_core::config::TunnelConfig;
use fdt_e2e::cloud::TestDb as Db;
use fdt_e2e::regions::TwoRegions;
use fdt_e2e::{Agent, HttpOrigin};
use fdt_proto::Proto;
use std::time::Duration;

const SUB: &str = "chaos";
const TUNNEL: &str = "web";
/// Requests in flight when the relay is told to stop.
const IN_FLIGHT: usize = 100;
/// How long each of them takes at the origin: well inside the relay's 10 s drain.
const HOLD_MS: u64 = 2_000;

async fn relay_sigterm_completes_requests_in_flight_and_the_agent_rebinds_once(db: &Db) {
    fdt_e2e::install_crypto();
    fdt_e2e::init_tracing();
    let mut regions = TwoRegions::start(db.store.clone()).await.unwrap();
    let account = regions.cloud.account("chaos@example.com").await.unwrap();

    let origin = HttpOrigin::start().await.unwrap();
    let mut tunnel = TunnelConfig::new(Proto::Http, origin.addr.to_string());
    tunnel.subdomain = Some(SUB.into());
    let login = regions.login(&account);
    let mut agent = Agent::spawn(Connect::Cloud(login), vec![(TUNNEL, tunnel)]).unwrap();
    agent.wait_bound().await.unwrap();
    assert_eq!(agent.status().relay, regions.eu.agent_addr.to_string());
    assert_eq!(agent.status().reconnects, 0);

    // 100 requests in flight through eu-1, each held 2 s by the origin.
    let host = format!("{SUB}.localhost");
    let http = reqwest::Client::builder()
        .resolve(&host, regions.eu.http_addr)
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let url = regions.eu.http_url(SUB, &format!("/hold?ms={HOLD_MS}"));
    let requests: Vec<_> = (0..IN_FLIGHT)
        .map(|_| {
            let (http, url) = (http.clone(), url.clone());
            tokio::spawn(async move {
                let r = http.get(&url).send().await?;
                let status = r.status().as_u16();
                Ok::<_, reqwest::Error>((status, r.text().await?))
            })
        })
        .collect();
    origin
        .stats
        .wait_holds(IN_FLIGHT, Duration::from_secs(20))
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", regions.logs()));

    // SIGTERM with all of them at the origin: each completes, then the relay exits 0.
    let stopped = std::time::Instant::now();
    let status = regions.eu.terminate(Duration::from_secs(30)).await.unwrap();
    let exited = stopped.elapsed();
    let mut failed = Vec::new();
    for r in requests {
        match r.await.unwrap() {
            Ok((200, body)) if body == "held" => {}
            other => failed.push(format!("{other:?}")),
        }
    }
    assert!(
        failed.is_empty(),
        "{} of {IN_FLIGHT} in-flight requests failed: {failed:?}\n{}",
        failed.len(),
        regions.logs()
    );
    assert!(
        status.success(),
        "relay exited {status}\n{}",
        regions.logs()
    );

    // The agent rebinds once, on us-1, and serves there.
    let us_url = regions.us.http_url(SUB, "");
    fdt_e2e::poll_until(Duration::from_secs(30), "public URL on us-1", || {
        let url = agent.public_url(TUNNEL);
        let us_url = us_url.clone();
        async move { url.filter(|u| *u == us_url) }
    })
    .await
    .unwrap_or_else(|e| panic!("{e}; agent {:?}\n{}", agent.status(), regions.logs()));
    let via_us = reqwest::Client::builder()
        .resolve(&host, regions.us.http_addr)
        .build()
        .unwrap()
        .get(regions.us.http_url(SUB, "/echo"))
        .send()
        .await
        .unwrap();
    assert_eq!(via_us.status(), 200);
    // No flapping afterwards: still one reconnect a moment later.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let s = agent.status();
    assert_eq!(s.reconnects, 1, "{s:?}");
    assert_eq!(s.relay, regions.us.agent_addr.to_string());
    super::report(
        "sigterm",
        &format!(
            "{}: {IN_FLIGHT} requests held {HOLD_MS} ms at the origin when the relay got \
             SIGTERM: all 200; it exited 0 after {:.1} s; the agent rebound once, on us-1",
            db.store.backend(),
            exited.as_secs_f64()
        ),
    );

    agent.stop().await.unwrap();
    regions.cloud.shutdown.cancel();
}

fdt_cloud::on_both_databases!(
    relay_sigterm_completes_requests_in_flight_and_the_agent_rebinds_once
);
