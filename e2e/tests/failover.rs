//! Two-region failover end to end, on SQLite and (when `FDT_TEST_PG_URL` is set) PostgreSQL:
//! a control plane in this process with a fleet `eu → us`, two real `fdt-relay` processes
//! (`eu-1` in `eu`, `us-1` in `us`) that register by heartbeat and serve one certificate for
//! `localhost`, and an agent preferring `eu`. The agent binds on eu-1; eu-1 is SIGKILLed (no
//! goodbye to anyone); the agent must come back on us-1 by itself, its public URL moving to
//! us-1's HTTP edge, and the cloud's live tunnel list must follow.
//!
//! Needs the relay binary: `cargo build -p fdt-relay --bin fdt-relay` first.

use fdt_agent_core::config::TunnelConfig;
use fdt_agent_core::{CloudLogin, Connect};
use fdt_e2e::cloud::{CloudAccount, RELAY_SECRET, TestDb as Db};
use fdt_e2e::{Agent, Cloud, HttpOrigin, RelayProcess, RelayProcessOptions, TlsFiles};
use fdt_proto::Proto;
use std::collections::BTreeMap;
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
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let cloud = Cloud::start_with(listener, db.store.clone(), |c| {
        c.relays.clear();
        c.fleet.heartbeat_secs = 1;
        c.fleet.unhealthy_after_secs = 3;
        c.fleet.failover = BTreeMap::from([("eu".to_string(), vec!["us".to_string()])]);
    });
    let account = cloud.account("failover@example.com").await.unwrap();

    // One certificate for `localhost` on both relays: the agent trusts both with one CA.
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
        // HTTP tunnels' public URLs are then on the HTTP edge, which curl reaches without a
        // certificate for `failover.localhost`.
        https_edge: false,
    };
    let (eu_opts, us_opts) = (relay("eu-1", "eu"), relay("us-1", "us"));
    let (eu, us) = tokio::join!(RelayProcess::start(&eu_opts), RelayProcess::start(&us_opts));
    let (mut eu, us) = (eu.unwrap(), us.unwrap());
    eprintln!(
        "eu-1: agents udp/{} http {} (log {})",
        eu.agent_addr,
        eu.http_addr,
        eu.log.display()
    );
    eprintln!(
        "us-1: agents udp/{} http {} (log {})",
        us.agent_addr,
        us.http_addr,
        us.log.display()
    );

    // Both relays registered and heard from within the health window.
    let registered = fdt_e2e::poll_until(SETTLE, "both relays heartbeating", || async {
        let listed = cloud.state.store().list_relays().await.ok()?;
        let cutoff = time::OffsetDateTime::now_utc() - time::Duration::seconds(3);
        let fresh: Vec<_> = listed
            .iter()
            .filter(|r| r.last_seen_at >= cutoff)
            .map(|r| (r.id.clone(), r.region.clone()))
            .collect();
        (fresh.len() == 2).then_some(fresh)
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", logs(&[&eu, &us])));
    let pair = |id: &str, region: &str| (id.to_string(), region.to_string());
    assert_eq!(registered, [pair("eu-1", "eu"), pair("us-1", "us")]);

    // An agent preferring eu binds on eu-1.
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
    agent
        .wait_bound()
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", logs(&[&eu, &us])));
    assert_eq!(agent.status().relay, eu.agent_addr.to_string());
    assert_eq!(
        agent.public_url(TUNNEL).as_deref(),
        Some(eu.http_url(SUB, "").as_str())
    );
    assert_reaches_origin(&eu.http_url(SUB, "/echo?via=eu-1")).await;
    let on_eu = wait_live_tunnel_on(&account, "eu-1", SETTLE).await;
    assert_eq!(on_eu.region, "eu");

    // eu-1 dies without a word. The agent must notice (idle timeout), ask the cloud again and
    // bind on us-1, the failover region.
    let killed = Instant::now();
    eu.kill().unwrap();
    let us_url = us.http_url(SUB, "");
    let url = fdt_e2e::poll_until(FAILOVER_BOUND, "public URL on us-1", || {
        let url = agent.public_url(TUNNEL);
        let us_url = us_url.clone();
        async move { url.filter(|u| *u == us_url) }
    })
    .await
    .unwrap_or_else(|e| {
        panic!(
            "{e}; agent status {:?}\n{}",
            agent.status(),
            logs(&[&eu, &us])
        )
    });
    let rebound = killed.elapsed();
    assert_eq!(url, us_url);
    assert_eq!(agent.status().relay, us.agent_addr.to_string());
    let remaining = FAILOVER_BOUND.saturating_sub(killed.elapsed());
    let reached = fdt_e2e::poll_until(remaining, "origin reached through us-1", || async {
        let r = fdt_e2e::Curl::new(&us.http_url(SUB, "/echo?via=us-1"))
            .timeout(Duration::from_secs(5))
            .run()
            .await
            .ok()?;
        (r.status == 200).then_some(r)
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", logs(&[&eu, &us])));
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
    drop(us);
    cloud.shutdown.cancel();
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

/// The relays' logs, for a failure message.
fn logs(relays: &[&RelayProcess]) -> String {
    relays
        .iter()
        .map(|r| {
            format!(
                "--- {} log ({}):\n{}",
                r.id,
                r.log.display(),
                tail(&r.log_text())
            )
        })
        .collect()
}

fn tail(text: &str) -> &str {
    const KEEP: usize = 8 * 1024;
    let start = text.len().saturating_sub(KEEP);
    let start = (start..text.len())
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(text.len());
    &text[start..]
}

fdt_cloud::on_both_databases!(agent_fails_over_to_the_next_region_when_its_relay_is_killed);
