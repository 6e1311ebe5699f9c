//! A relay killed with SIGKILL (no goodbye to agents or to the cloud): the agent must notice
//! by itself and serve on the failover region's relay. Timed from the kill to the agent bound
//! on us-1 and to the first visitor answered there, over the profile's runs, each on a new
//! fleet.

use super::{Profile, quantile_ms, report};
use fdt_cloud::testing::TestDb;
use fdt_e2e::regions::TwoRegions;
use std::time::{Duration, Instant};

const SUB: &str = "sigkill";
const TUNNEL: &str = "web";
/// Past this the run counts as broken (the target is 2 s; this only bounds the wait).
const BOUND: Duration = Duration::from_secs(30);

/// One kill: (agent bound on us-1, first 200 through us-1), both since the kill.
async fn one_run(run: usize) -> (Duration, Duration) {
    let db = TestDb::sqlite().await;
    let mut regions = TwoRegions::start(db.store.clone()).await.unwrap();
    let account = regions
        .cloud
        .account(&format!("sigkill{run}@example.com"))
        .await
        .unwrap();
    let (mut agent, _origin) = regions.bound_agent(&account, TUNNEL, SUB).await;
    assert_eq!(agent.status().relay, regions.eu.agent_addr.to_string());
    let eu = fdt_e2e::Curl::new(&regions.eu.http_url(SUB, "/echo"))
        .run()
        .await
        .unwrap();
    assert_eq!(eu.status, 200, "{}", eu.text());
    // Let the session be established for a while, as a real one is, and heartbeats flow.
    tokio::time::sleep(Duration::from_millis(1_500)).await;

    let us_addr = regions.us.agent_addr.to_string();
    let us_url = regions.us.http_url(SUB, "");
    let killed = Instant::now();
    regions.eu.kill().unwrap();
    // Tight polling: the figure is the point of the scenario.
    let bound = loop {
        if agent.status().relay == us_addr && agent.public_url(TUNNEL).as_deref() == Some(&us_url) {
            break killed.elapsed();
        }
        assert!(
            killed.elapsed() < BOUND,
            "not on us-1 after {BOUND:?}: {:?}\n{}",
            agent.status(),
            regions.logs()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    let via_us = reqwest::Client::builder()
        .resolve(&format!("{SUB}.localhost"), regions.us.http_addr)
        .build()
        .unwrap();
    let serving = loop {
        let r = via_us
            .get(regions.us.http_url(SUB, "/echo"))
            .timeout(Duration::from_secs(5))
            .send()
            .await;
        if matches!(&r, Ok(r) if r.status() == 200) {
            break killed.elapsed();
        }
        assert!(killed.elapsed() < BOUND, "us-1 never answered: {r:?}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    let status = agent.status();
    assert_eq!(status.reconnects, 1, "{status:?}");
    agent.stop().await.unwrap();
    regions.cloud.shutdown.cancel();
    (bound, serving)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_sigkill_the_agent_serves_on_the_next_region() {
    fdt_e2e::install_crypto();
    fdt_e2e::init_tracing();
    let profile = Profile::current();
    let mut bound = Vec::new();
    let mut serving = Vec::new();
    for run in 1..=profile.failover_runs {
        let (b, s) = one_run(run).await;
        report(
            "sigkill",
            &format!(
                "run {run}: agent on us-1 after {:.0} ms, first 200 there after {:.0} ms",
                b.as_secs_f64() * 1e3,
                s.as_secs_f64() * 1e3
            ),
        );
        bound.push(b);
        serving.push(s);
    }
    bound.sort();
    serving.sort();
    report(
        "sigkill",
        &format!(
            "failover over {} runs ({} profile): agent on us-1 min {:.0} / median {:.0} / max \
             {:.0} ms; serving min {:.0} / median {:.0} / max {:.0} ms",
            bound.len(),
            profile.name,
            quantile_ms(&bound, 0.0),
            quantile_ms(&bound, 0.5),
            quantile_ms(&bound, 1.0),
            quantile_ms(&serving, 0.0),
            quantile_ms(&serving, 0.5),
            quantile_ms(&serving, 1.0),
        ),
    );
}
