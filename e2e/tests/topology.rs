//! Issue 19's whole topology in network namespaces on one machine: PostgreSQL; two real
//! `fdt-cloud serve` replicas behind a TCP balancer on a LAN's bridge; three relays in three
//! regions, each in its own namespace on that LAN; an origin and an `--ha` agent here.
//!
//! It runs the HA story through it (requests to each relay; 100 requests a second through the
//! relay holding neither of the agent's sessions while the primary's relay is SIGKILLed:
//! nothing lost), then SIGKILLs one cloud replica: the console, a sign-up and a new agent's
//! bind keep working through the balancer, and both tunnels are served through every relay
//! left. (That a job runs once across replicas is `replicas.rs`'s, on the same pieces.)
//!
//! Skipped without `FDT_TEST_PG_URL` (replicas share PostgreSQL) or where namespaces cannot be
//! made.

use fdt_e2e::balancer::Balancer;
use fdt_e2e::cloud::CloudAccount;
use fdt_e2e::cloud_process::CloudProcess;
use fdt_e2e::fleet::{Fleet, THREE_REGIONS};
use fdt_e2e::netns::{Lan, NetNs};
use std::time::Duration;

/// The replicas' fleet settings: heartbeats every second, a relay unhealthy after 3 s.
const FLEET: &str = "heartbeat_secs = 1\nunhealthy_after_secs = 3\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_whole_fleet_in_namespaces_outlives_a_relay_and_a_cloud_replica() {
    let Some(db) = fdt_cloud::testing::TestDb::postgres().await else {
        eprintln!("skipped: {} unset", fdt_cloud::testing::PG_URL_ENV);
        return;
    };
    if let Err(why) = NetNs::available() {
        eprintln!("skipped: {why}");
        return;
    }
    fdt_e2e::install_crypto();
    fdt_e2e::init_tracing();
    let url = db.postgres_url().unwrap().to_owned();
    let lan = Lan::create(THREE_REGIONS.len()).unwrap();
    let mut first = CloudProcess::start_on(Some(&url), FLEET).await.unwrap();
    let second = first.replica().await.unwrap();
    let lb = Balancer::start_on(lan.host_ip.into(), vec![first.addr(), second.addr()])
        .await
        .unwrap();
    let fleet = Fleet::start_external(&lb.url(), &db.store, THREE_REGIONS, Some(lan))
        .await
        .unwrap();
    let account = CloudAccount::register(&lb.url(), "whole@example.com")
        .await
        .unwrap();
    let (mut agent, _origin, fleet) =
        crate::ha::steady_stream_across_a_primary_death(fleet, &account).await;

    // One replica dies the hard way; the balancer skips it.
    first.kill().await.unwrap();
    let console = reqwest::get(format!("{}/login", lb.url())).await.unwrap();
    assert_eq!(console.status(), 200, "the console's sign-in page");
    let late = CloudAccount::register(&lb.url(), "late@example.com")
        .await
        .unwrap_or_else(|e| panic!("sign-up through the surviving replica: {e}"));
    let (web, _late_origin) = Fleet::http_tunnel("latecomer").await;
    let mut late_agent = fleet.bound_agent(&late, "us", vec![("web", web)]).await;
    for relay in fleet.relays.iter().filter(|r| r.id != "eu-1") {
        for sub in ["twice", "latecomer"] {
            let r = Fleet::client(relay, sub, Duration::from_secs(10))
                .get(relay.http_url(sub, "/echo"))
                .send()
                .await
                .unwrap();
            assert_eq!(
                r.status(),
                200,
                "{sub} through {}\n{}",
                relay.id,
                fleet.logs()
            );
        }
    }
    eprintln!(
        "topology| relays in namespaces on {:?}; after one replica's SIGKILL: console, sign-up, \
         bind, both tunnels through both relays left; connections per replica {:?}",
        fleet.lan().map(|l| l.host_ip),
        lb.served()
    );
    late_agent.stop().await.unwrap();
    agent.stop().await.unwrap();
    drop(second);
    db.finish().await;
}
