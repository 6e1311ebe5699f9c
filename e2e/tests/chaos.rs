//! Chaos, first scenario of the drill: a relay stopped with SIGTERM while 100 requests are in
//! flight through it. Every one completes (the relay drains before it tells agents to go
//! away), the relay exits 0, and the agent rebinds exactly once, on the other relay (its
//! region's failover), where traffic flows again. Real `fdt-relay` processes, a control plane
//! in this process, an agent preferring `eu`.
//!
//! Needs the relay binary: `cargo build -p fdt-relay --bin fdt-relay` first.

use fdt_agent_core::config::TunnelConfig;
use fdt_agent_core::{CloudLogin, Connect};
use fdt_e2e::cloud::{RELAY_SECRET, TestDb as Db};
use fdt_e2e::{Agent, Cloud, HttpOrigin, RelayProcess, RelayProcessOptions, TlsFiles};
use fdt_proto::Proto;
use std::collections::BTreeMap;
use std::time::Duration;

const SUB: &str = "chaos";
const TUNNEL: &str = "web";
/// Requests in flight when the relay is told to stop.
const IN_FLIGHT: usize = 100;
/// How long each of them takes at the origin: well inside the relay's 10 s drain.
const HOLD_MS: u64 = 2_000;
const SETTLE: Duration = Duration::from_secs(20);

async fn relay_sigterm_completes_requests_in_flight_and_the_agent_rebinds_once(db: &Db) {
    fdt_e2e::install_crypto();
    fdt_e2e::init_tracing();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let cloud = Cloud::start_with(listener, db.store.clone(), |c| {
        c.relays.clear();
        c.fleet.heartbeat_secs = 1;
        c.fleet.unhealthy_after_secs = 3;
        c.fleet.failover = BTreeMap::from([("eu".to_string(), vec!["us".to_string()])]);
    });
    let account = cloud.account("chaos@example.com").await.unwrap();
    let tls_dir = tempfile::tempdir().unwrap();
    let tls = TlsFiles::issue(tls_dir.path(), &["localhost".to_string()]).unwrap();
    let relay = |id: &str, region: &str| RelayProcessOptions {
        relay_id: id.into(),
        region: region.into(),
        cloud_url: cloud.url.clone(),
        relay_secret: RELAY_SECRET.into(),
        tls: tls.clone(),
        heartbeat_ms: 500,
        agent_idle_timeout_ms: 3_000,
        https_edge: false,
    };
    let (eu_opts, us_opts) = (relay("eu-1", "eu"), relay("us-1", "us"));
    let (eu, us) = tokio::join!(RelayProcess::start(&eu_opts), RelayProcess::start(&us_opts));
    let (mut eu, us) = (eu.unwrap(), us.unwrap());
    fdt_e2e::poll_until(SETTLE, "both relays heartbeating", || async {
        let listed = cloud.state.store().list_relays().await.ok()?;
        let cutoff = time::OffsetDateTime::now_utc() - time::Duration::seconds(3);
        (listed.iter().filter(|r| r.last_seen_at >= cutoff).count() == 2).then_some(())
    })
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
    let mut agent = Agent::spawn(Connect::Cloud(login), vec![(TUNNEL, tunnel)]).unwrap();
    agent.wait_bound().await.unwrap();
    assert_eq!(agent.status().relay, eu.agent_addr.to_string());
    assert_eq!(agent.status().reconnects, 0);

    // 100 requests in flight through eu-1, each held 2 s by the origin.
    let host = format!("{SUB}.localhost");
    let http = reqwest::Client::builder()
        .resolve(&host, eu.http_addr)
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let url = eu.http_url(SUB, &format!("/hold?ms={HOLD_MS}"));
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
        .unwrap_or_else(|e| panic!("{e}\n{}", eu.log_text()));

    // SIGTERM with all of them at the origin: each completes, then the relay exits 0.
    let status = eu.terminate(Duration::from_secs(30)).await.unwrap();
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
        eu.log_text()
    );
    assert!(status.success(), "relay exited {status}\n{}", eu.log_text());

    // The agent rebinds once, on us-1, and serves there.
    let us_url = us.http_url(SUB, "");
    fdt_e2e::poll_until(Duration::from_secs(30), "public URL on us-1", || {
        let url = agent.public_url(TUNNEL);
        let us_url = us_url.clone();
        async move { url.filter(|u| *u == us_url) }
    })
    .await
    .unwrap_or_else(|e| panic!("{e}; agent {:?}\n{}", agent.status(), us.log_text()));
    let via_us = reqwest::Client::builder()
        .resolve(&host, us.http_addr)
        .build()
        .unwrap()
        .get(us.http_url(SUB, "/echo"))
        .send()
        .await
        .unwrap();
    assert_eq!(via_us.status(), 200);
    // No flapping afterwards: still one reconnect a moment later.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let s = agent.status();
    assert_eq!(s.reconnects, 1, "{s:?}");
    assert_eq!(s.relay, us.agent_addr.to_string());

    agent.stop().await.unwrap();
    drop(us);
    cloud.shutdown.cancel();
}

fdt_cloud::on_both_databases!(
    relay_sigterm_completes_requests_in_flight_and_the_agent_rebinds_once
);
