//! Two-region failover end to end, on SQLite and (when `FDT_TEST_PG_URL` is set) PostgreSQL:
//! a control plane in this process with a fleet `eu → us`, two real `fdt-relay` processes
//! (`eu-1` in `eu`, `us-1` in `us`) that register by heartbeat and serve one certificate for
//! `localhost`, and an agent preferring `eu`. The agent binds on eu-1; eu-1 is SIGKILLed (no
//! goodbye to anyone); the agent must come back on us-1 by itself, its public URL moving to
//! us-1's HTTP edge, and the cloud's live tunnel list must follow.
//!
//! Needs the relay binary: `cargo build -p fdt-relay --bin fdt-relay` first.

use fdt_agent_core::Connect;
use fdt_agent_core::config::TunnelConfig;
use fdt_e2e::cloud::{CloudAccount, TestDb as Db};
use fdt_e2e::regions::TwoRegions;
use fdt_e2e::{Agent, HttpOrigin};
use fdt_proto::Proto;
use std::time::{Duration, Instant};

/// The tunnel's subdomain.
const SUB: &str = "failover";
/// The agent's tunnel name.
const TUNNEL: &str = "web";
/// How long failover may take, end to end, before the test calls it broken.
const FAILOVER_BOUND: Duration = Duration::from_secs(30);
/// How long relays get to register and an agent to come up.
const SETTLE: Duration = Duration::from_secs(20);

async fn agent_fails_over_to_the_next_region_when_its_relay_is_killed(db: &Db) {
    fdt_e2e::install_crypto();
    fdt_e2e::init_tracing();
    let mut regions = TwoRegions::start(db.store.clone()).await.unwrap();
    let account = regions.cloud.account("failover@example.com").await.unwrap();
    eprintln!(
        "eu-1: agents udp/{} http {} (log {})",
        regions.eu.agent_addr,
        regions.eu.http_addr,
        regions.eu.log.display()
    );
    eprintln!(
        "us-1: agents udp/{} http {} (log {})",
        regions.us.agent_addr,
        regions.us.http_addr,
        regions.us.log.display()
    );

    // An agent preferring eu binds on eu-1.
    let origin = HttpOrigin::start().await.unwrap();
    let mut tunnel = TunnelConfig::new(Proto::Http, origin.addr.to_string());
    tunnel.subdomain = Some(SUB.into());
    let login = regions.login(&account);
    let mut agent = Agent::spawn(Connect::Cloud(login), vec![(TUNNEL, tunnel)]).unwrap();
    agent
        .wait_bound()
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", regions.logs()));
    assert_eq!(agent.status().relay, regions.eu.agent_addr.to_string());
    assert_eq!(
        agent.public_url(TUNNEL).as_deref(),
        Some(regions.eu.http_url(SUB, "").as_str())
    );
    assert_reaches_origin(&regions.eu.http_url(SUB, "/echo?via=eu-1")).await;
    let on_eu = wait_live_tunnel_on(&account, "eu-1", SETTLE).await;
    assert_eq!(on_eu.region, "eu");

    // eu-1 dies without a word. The agent must notice (idle timeout), ask the cloud again and
    // bind on us-1, the failover region.
    let killed = Instant::now();
    regions.eu.kill().unwrap();
    let us_url = regions.us.http_url(SUB, "");
    let url = fdt_e2e::poll_until(FAILOVER_BOUND, "public URL on us-1", || {
        let url = agent.public_url(TUNNEL);
        let us_url = us_url.clone();
        async move { url.filter(|u| *u == us_url) }
    })
    .await
    .unwrap_or_else(|e| panic!("{e}; agent status {:?}\n{}", agent.status(), regions.logs()));
    let rebound = killed.elapsed();
    assert_eq!(url, us_url);
    assert_eq!(agent.status().relay, regions.us.agent_addr.to_string());
    let remaining = FAILOVER_BOUND.saturating_sub(killed.elapsed());
    let reached = fdt_e2e::poll_until(remaining, "origin reached through us-1", || async {
        let r = fdt_e2e::Curl::new(&regions.us.http_url(SUB, "/echo?via=us-1"))
            .timeout(Duration::from_secs(5))
            .run()
            .await
            .ok()?;
        (r.status == 200).then_some(r)
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", regions.logs()));
    assert_eq!(reached.json().unwrap()["path"], "/echo?via=us-1");
    let serving = killed.elapsed();
    let remaining = FAILOVER_BOUND.saturating_sub(killed.elapsed());
    let on_us = wait_live_tunnel_on(&account, "us-1", remaining).await;
    assert_eq!(on_us.region, "us");
    eprintln!(
        "failover eu-1 → us-1: public URL moved after {rebound:?}, traffic through us-1 after \
         {serving:?}, cloud lists the tunnel on us-1 after {:?}",
        killed.elapsed()
    );

    agent.stop().await.unwrap();
    regions.cloud.shutdown.cancel();
}

/// A request to `url` gets the origin's echo.
async fn assert_reaches_origin(url: &str) {
    let r = fdt_e2e::Curl::new(url).run().await.unwrap();
    assert_eq!(r.status, 200, "{url}: {}", r.text());
    let path = url.split_once(".localhost:").unwrap().1;
    let path = &path[path.find('/').unwrap()..];
    assert_eq!(r.json().unwrap()["path"], path, "{}", r.text());
}

/// Polls `GET /v1/tunnels` until it lists exactly one tunnel, `failover` on `relay_id`.
async fn wait_live_tunnel_on(
    account: &CloudAccount,
    relay_id: &str,
    limit: Duration,
) -> fdt_api::TunnelInfo {
    let what = format!("GET /v1/tunnels shows one tunnel on {relay_id}");
    let last = std::sync::Mutex::new(None);
    let found = fdt_e2e::poll_until(limit, &what, || async {
        let tunnels = account.live_tunnels().await.ok()?;
        let one = match tunnels.as_slice() {
            [t] if t.relay_id == relay_id => Some(t.clone()),
            _ => None,
        };
        *last.lock().unwrap() = Some(tunnels);
        one
    })
    .await;
    match found {
        Ok(t) => {
            assert_eq!(t.subdomain.as_deref(), Some(SUB));
            t
        }
        Err(e) => panic!("{e}; last listed: {:?}", last.lock().unwrap()),
    }
}

fdt_cloud::on_both_databases!(agent_fails_over_to_the_next_region_when_its_relay_is_killed);
