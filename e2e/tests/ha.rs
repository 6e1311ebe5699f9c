//! Agents on two relays (`--ha`): three real relays in three regions; an agent preferring `eu`
//! keeps its primary session on eu-1 and a standby on another relay, its tunnel bound on both
//! (the control plane lets the two bindings of one agent's replica group coexist). A steady
//! stream of 100 requests a second goes to the third relay, which forwards each to one of the
//! two holders; eu-1 is SIGKILLed mid-stream. Every request is answered by the origin: those
//! caught on the dead relay are sent again to the other holder, new ones go there at once,
//! and the primary session comes back on the remaining relay. `topology.rs` runs the same story
//! with the relays in network namespaces and the control plane replicated. Both print the
//! extra latency of a forwarded request (never asserted).
//!
//! Needs the relay binary: `cargo build -p fdt-relay --bin fdt-relay` first.

use fdt_agent_core::Connect;
use fdt_e2e::cloud::TestDb as Db;
use fdt_e2e::fleet::{Fleet, THREE_REGIONS};
use fdt_e2e::{Agent, RelayProcess};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long the agent gets to bind both sessions, and the primary to come back.
const BOUND: Duration = Duration::from_secs(30);
/// The stream's rate and length.
const PER_SECOND: u64 = 100;
const STREAM: Duration = Duration::from_secs(10);
/// Time each request of the stream gets.
const TIMEOUT: Duration = Duration::from_secs(20);
/// When, into the stream, the primary's relay is killed.
const KILL_AT: Duration = Duration::from_secs(3);

async fn a_steady_stream_loses_nothing_when_the_primary_relay_dies(db: &Db) {
    fdt_e2e::install_crypto();
    fdt_e2e::init_tracing();
    let fleet = Fleet::start(db.store.clone(), THREE_REGIONS).await.unwrap();
    let account = fleet.cloud().account("twice@example.com").await.unwrap();
    let (mut agent, _origin, fleet) = steady_stream_across_a_primary_death(fleet, &account).await;
    agent.stop().await.unwrap();
    fleet.cloud().shutdown.cancel();
}

/// The story: an `--ha` agent of `account` preferring `eu` on `fleet` (eu-1, us-1, ap-1), a
/// stream through the relay holding neither session, eu-1 killed mid-stream. The agent (back
/// on two relays), its origin and the fleet are handed back.
pub(crate) async fn steady_stream_across_a_primary_death(
    mut fleet: Fleet,
    account: &fdt_e2e::cloud::CloudAccount,
) -> (Agent, fdt_e2e::HttpOrigin, Fleet) {
    let (web, origin) = Fleet::http_tunnel("twice").await;
    let connect = Connect::Cloud(fleet.login(account, "eu"));
    let mut agent = Agent::spawn_with(connect, vec![("web", web)], true).unwrap();
    agent
        .wait_bound()
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", fleet.logs()));
    let standby = fdt_e2e::poll_until(BOUND, "standby bound", || {
        let s = agent.standby_status();
        async move { s.filter(|s| s.tunnels.iter().all(|t| t.public_url.is_some())) }
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", fleet.logs()));
    let eu = fleet.relay("eu-1");
    let primary = agent.status().relay;
    assert_eq!(primary, eu.agent_addr.to_string());
    assert_ne!(standby.relay, primary, "the two sessions share no relay");
    let standby_relay = fleet
        .relays
        .iter()
        .find(|r| r.agent_addr.to_string() == standby.relay)
        .unwrap();
    // The third relay holds nothing: it forwards.
    let third = fleet
        .relays
        .iter()
        .find(|r| r.id != "eu-1" && r.id != standby_relay.id)
        .unwrap();
    eprintln!(
        "primary eu-1, standby {}, stream through {}",
        standby_relay.id, third.id
    );
    // Both bindings are live at once, one tunnel on the plan.
    let live = account.live_tunnels().await.unwrap();
    let mut on: Vec<_> = live.iter().map(|t| t.relay_id.clone()).collect();
    on.sort();
    let mut want = vec!["eu-1".to_string(), standby_relay.id.clone()];
    want.sort();
    assert_eq!(on, want, "{live:?}");

    // Visitors of the standby's relay are served by its own session; the third relay's are
    // forwarded (the extra time that takes, for the record).
    let url = |r: &RelayProcess| r.http_url("twice", "/echo");
    let direct = latencies(
        &Fleet::client(standby_relay, "twice", TIMEOUT),
        &url(standby_relay),
    )
    .await;
    let forwarded = latencies(&Fleet::client(third, "twice", TIMEOUT), &url(third)).await;
    print_latency(direct, forwarded);

    let third_agents = third.agent_addr.to_string();
    let stream = tokio::spawn(steady_stream(
        Fleet::client(third, "twice", TIMEOUT),
        third.http_url("twice", "/echo"),
    ));
    tokio::time::sleep(KILL_AT).await;
    let killed = Instant::now();
    fleet.relay_mut("eu-1").kill().unwrap();
    let results = stream.await.unwrap();

    let failed: Vec<_> = results.iter().filter(|r| r.1.is_err()).collect();
    let slowest = results.iter().map(|r| r.0).max().unwrap_or_default();
    let after: Vec<_> = results
        .iter()
        .filter(|r| r.2 >= KILL_AT)
        .map(|r| r.0)
        .collect();
    eprintln!(
        "HA stream: {} requests, {} failed, slowest {:?}, {} sent after the kill (slowest of those {:?})",
        results.len(),
        failed.len(),
        slowest,
        after.len(),
        after.iter().max()
    );
    assert!(results.len() as u64 >= PER_SECOND * STREAM.as_secs() * 9 / 10);
    assert!(failed.is_empty(), "lost: {failed:?}\n{}", fleet.logs());
    assert!(
        origin
            .stats
            .requests
            .load(std::sync::atomic::Ordering::Relaxed)
            >= results.len(),
        "every request reached the origin"
    );

    // The primary comes back on the relay that had neither session.
    let back = fdt_e2e::poll_until(BOUND, "primary back on another relay", || {
        let s = agent.status();
        let gone = primary.clone();
        let bound = agent.public_url("web").is_some();
        async move { (bound && s.relay != gone).then_some(s.relay) }
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", fleet.logs()));
    eprintln!(
        "primary back on {back} {:?} after the kill",
        killed.elapsed()
    );
    assert_eq!(back, third_agents);
    (agent, origin, fleet)
}

/// Prints a direct and a forwarded [`latencies`] side by side.
pub(crate) fn print_latency(direct: (f64, f64), forwarded: (f64, f64)) {
    eprintln!(
        "LATENCY direct p50 {:.2} ms p99 {:.2} ms; forwarded p50 {:.2} ms p99 {:.2} ms; extra p50 {:.2} ms",
        direct.0,
        direct.1,
        forwarded.0,
        forwarded.1,
        forwarded.0 - direct.0
    );
}

/// Median and 99th percentile, in ms, of 200 sequential GETs of `url` with `client`.
pub(crate) async fn latencies(client: &reqwest::Client, url: &str) -> (f64, f64) {
    let mut ms = Vec::with_capacity(200);
    for _ in 0..200 {
        let t = Instant::now();
        let r = client.get(url).send().await.unwrap();
        assert_eq!(r.status(), 200);
        r.bytes().await.unwrap();
        ms.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    ms.sort_by(f64::total_cmp);
    (ms[ms.len() / 2], ms[ms.len() * 99 / 100])
}

/// GETs `url` [`PER_SECOND`] times a second for [`STREAM`], each on its own: (latency,
/// status or error, when it was sent).
async fn steady_stream(
    client: reqwest::Client,
    url: String,
) -> Vec<(Duration, Result<u16, String>, Duration)> {
    let start = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_millis(1000 / PER_SECOND));
    let url = Arc::new(url);
    let mut sent = tokio::task::JoinSet::new();
    while start.elapsed() < STREAM {
        tick.tick().await;
        let (client, url) = (client.clone(), url.clone());
        let at = start.elapsed();
        sent.spawn(async move {
            let t = Instant::now();
            let r = match client.get(url.as_str()).send().await {
                Ok(r) if r.status() == 200 => {
                    r.bytes().await.map(|_| 200).map_err(|e| e.to_string())
                }
                Ok(r) => Err(format!(
                    "status {}: {}",
                    r.status(),
                    r.text().await.unwrap_or_default()
                )),
                Err(e) => Err(e.to_string()),
            };
            (t.elapsed(), r, at)
        });
    }
    sent.join_all().await
}

/// An operator drains eu-1 (through the admin API): the relay, still running, asks its agent
/// to move; the agent binds on us-1, and visitors who still come to eu-1 are forwarded there.
async fn an_operators_drain_moves_agents_and_their_visitors_follow(db: &Db) {
    fdt_e2e::install_crypto();
    fdt_e2e::init_tracing();
    let fleet = Fleet::start(db.store.clone(), &[("eu-1", "eu"), ("us-1", "us")])
        .await
        .unwrap();
    let account = fleet.cloud().account("moved@example.com").await.unwrap();
    let (web, _origin) = Fleet::http_tunnel("moved").await;
    let mut agent = fleet.bound_agent(&account, "eu", vec![("web", web)]).await;
    let (eu, us) = (fleet.relay("eu-1"), fleet.relay("us-1"));
    assert_eq!(agent.status().relay, eu.agent_addr.to_string());

    let ops = crate::operators::operator(fleet.cloud()).await;
    let token = ops.access_token.expose_secret().to_owned();
    let r = crate::operators::drain(fleet.cloud(), &token, "eu-1", true)
        .await
        .unwrap();
    assert_eq!(r.status, 204, "{}", r.text());
    let us_agents = us.agent_addr.to_string();
    fdt_e2e::poll_until(BOUND, "agent moved to us-1", || {
        let s = agent.status();
        let bound = agent.public_url("web").is_some();
        let us_agents = us_agents.clone();
        async move { (bound && s.relay == us_agents).then_some(()) }
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", fleet.logs()));
    assert!(eu.log_text().contains("agent asked to move"));
    // The drained relay still answers its visitors, through the relay holding the tunnel.
    let url = eu.http_url("moved", "/echo?via=drained");
    fdt_e2e::poll_until(
        Duration::from_secs(10),
        "served through the drained relay",
        || async {
            let r = fdt_e2e::Curl::new(&url).run().await.ok()?;
            (r.status == 200).then_some(())
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", fleet.logs()));
    agent.stop().await.unwrap();
    fleet.cloud().shutdown.cancel();
}

fdt_cloud::on_both_databases!(
    a_steady_stream_loses_nothing_when_the_primary_relay_dies,
    an_operators_drain_moves_agents_and_their_visitors_follow,
);
