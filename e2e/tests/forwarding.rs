//! Any relay serves any host: three real `fdt-relay` processes in three regions (`eu-1`,
//! `us-1`, `ap-1`) register with a control plane in this process; one agent preferring `eu`
//! binds on eu-1. Visitors sent to each relay reach the tunnel: plain requests, a streamed
//! upload, a WebSocket and a TLS passthrough connection through us-1 and ap-1 are forwarded to
//! eu-1 over relay-to-relay QUIC, and the tunnel's policy (basic auth) is the holder's. Then
//! eu-1 is killed: the agent binds elsewhere and the relay left without it finds it there.
//!
//! Extra latency of a forwarded request is printed (`--no-capture`), never asserted.
//!
//! Needs the relay binary: `cargo build -p fdt-relay --bin fdt-relay` first.

use crate::streaming::echo_exchange;
use fdt_agent_core::config::TunnelConfig;
use fdt_e2e::client::{tls_client_config, websocket};
use fdt_e2e::cloud::TestDb as Db;
use fdt_e2e::fleet::{Fleet, THREE_REGIONS};
use fdt_e2e::{Curl, TlsEcho, within};
use fdt_proto::Proto;
use rustls::pki_types::ServerName;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// How long the agent gets to come back after its relay is killed.
const FAILOVER_BOUND: Duration = Duration::from_secs(30);

async fn visitors_of_any_relay_reach_a_tunnel_held_on_another(db: &Db) {
    fdt_e2e::install_crypto();
    fdt_e2e::init_tracing();
    let mut fleet = Fleet::start(db.store.clone(), THREE_REGIONS).await.unwrap();
    let account = fleet.cloud().account("anywhere@example.com").await.unwrap();
    let (web, origin) = Fleet::http_tunnel("anywhere").await;
    let (mut guarded, _guarded_origin) = Fleet::http_tunnel("guarded").await;
    guarded.basic_auth = vec!["ann:s3cret".into()];
    let ca = fleet.dev_ca().unwrap();
    let tls_origin = TlsEcho::start(&ca, &["passed.localhost".to_string()])
        .await
        .unwrap();
    let mut passed = TunnelConfig::new(Proto::Tls, tls_origin.addr.to_string());
    passed.subdomain = Some("passed".into());
    let mut agent = fleet
        .bound_agent(
            &account,
            "eu",
            vec![("web", web), ("guarded", guarded), ("passed", passed)],
        )
        .await;
    let eu = fleet.relay("eu-1");
    assert_eq!(agent.status().relay, eu.agent_addr.to_string());

    // Plain requests through each relay reach the origin, with the visitor's address.
    for relay in &fleet.relays {
        let url = relay.http_url("anywhere", &format!("/echo?via={}", relay.id));
        let r = Curl::new(&url).run().await.unwrap();
        assert_eq!(r.status, 200, "{url}: {}\n{}", r.text(), fleet.logs());
        let echo = r.json().unwrap();
        assert_eq!(echo["path"], format!("/echo?via={}", relay.id));
        assert_eq!(echo["headers"]["x-forwarded-for"][0], "127.0.0.1", "{echo}");
        assert_eq!(
            echo["headers"]["host"][0],
            format!("anywhere.localhost:{}", relay.http_addr.port())
        );
    }
    let us = fleet.relay("us-1");
    let ap = fleet.relay("ap-1");

    // A streamed upload through us-1 arrives whole.
    let (r, sent) = Curl::new(&us.http_url("anywhere", "/upload"))
        .upload_pattern(7, 3 << 20)
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json().unwrap()["sha256"], sent);

    // A WebSocket through ap-1.
    let (mut ws, resp) = websocket(ap.http_addr, "anywhere.localhost", "/ws")
        .await
        .unwrap();
    assert_eq!(resp.status(), 101);
    within(
        Duration::from_secs(20),
        "forwarded websocket",
        echo_exchange(&mut ws),
    )
    .await
    .unwrap();

    // The tunnel's policy is enforced by the holder, once.
    let guarded = us.http_url("guarded", "/echo");
    let r = Curl::new(&guarded).run().await.unwrap();
    assert_eq!(r.status, 401, "{}", r.text());
    let r = Curl::new(&guarded)
        .arg("-u")
        .arg("ann:s3cret")
        .run()
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.json().unwrap()["headers"].get("authorization").is_none());

    // A name nobody holds is unknown everywhere (and not bounced between relays).
    let r = Curl::new(&us.http_url("nobody-here", "/"))
        .run()
        .await
        .unwrap();
    assert_eq!(r.status, 404, "{}", r.text());
    assert_eq!(r.error_code().as_deref(), Some("tunnel_not_found"));

    // TLS passthrough through us-1: the session ends at the origin, which the relays cannot
    // read.
    let https = us.https_addr.expect("us-1 HTTPS edge");
    let tcp = tokio::net::TcpStream::connect(https).await.unwrap();
    let connector = tokio_rustls::TlsConnector::from(tls_client_config(ca.ca_pem()).unwrap());
    let name = ServerName::try_from("passed.localhost").unwrap();
    let mut tls = within(
        Duration::from_secs(10),
        "TLS through a peer",
        connector.connect(name, tcp),
    )
    .await
    .unwrap()
    .unwrap();
    assert!(tls.get_ref().1.peer_certificates().unwrap()[0] == tls_origin.leaf);
    tls.write_all(b"across two relays\n").await.unwrap();
    let mut back = [0u8; 18];
    within(
        Duration::from_secs(10),
        "TLS echo",
        tls.read_exact(&mut back),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(&back, b"across two relays\n");
    drop(tls);

    for (relay, series) in [
        (
            us,
            r#"fdt_relay_forwarded_total{kind="http",outcome="sent"}"#,
        ),
        (
            us,
            r#"fdt_relay_forwarded_total{kind="tls",outcome="sent"}"#,
        ),
        (
            ap,
            r#"fdt_relay_forwarded_total{kind="http",outcome="sent"}"#,
        ),
        (
            eu,
            r#"fdt_relay_forwarded_total{kind="http",outcome="received"}"#,
        ),
        (
            eu,
            r#"fdt_relay_forwarded_total{kind="tls",outcome="received"}"#,
        ),
    ] {
        let n = relay.metric(series).await.unwrap();
        assert!(n >= 1.0, "{}: {series} = {n}", relay.id);
    }
    // The three plain requests, the upload and the WebSocket's handshake reached the origin.
    assert!(
        origin
            .stats
            .requests
            .load(std::sync::atomic::Ordering::Relaxed)
            >= 5
    );

    // Extra latency of a forwarded request, for the record.
    let timeout = Duration::from_secs(20);
    let cpu = |r: &fdt_e2e::RelayProcess| r.cpu_seconds().unwrap();
    let (eu0, us0) = (cpu(eu), cpu(us));
    let direct = crate::ha::latencies(
        &Fleet::client(eu, "anywhere", timeout),
        &eu.http_url("anywhere", "/echo"),
    )
    .await;
    let (eu1, us1) = (cpu(eu), cpu(us));
    let forwarded = crate::ha::latencies(
        &Fleet::client(us, "anywhere", timeout),
        &us.http_url("anywhere", "/echo"),
    )
    .await;
    let (eu2, us2) = (cpu(eu), cpu(us));
    // Per request, in µs (200 each; the relays' own idle work is in the figures too).
    let per = |s: f64| s * 1e6 / 200.0;
    eprintln!(
        "CPU per request: direct, holder {:.0} µs; forwarded, first relay {:.0} µs + holder {:.0} µs (first relay idle meanwhile: {:.0} µs)",
        per(eu1 - eu0),
        per(us2 - us1),
        per(eu2 - eu1),
        per(us1 - us0)
    );
    crate::ha::print_latency(direct, forwarded);

    // eu-1 dies: the agent binds in another region, and the relay left without the tunnel
    // finds it there (its placement is refreshed once the old holder is gone).
    let eu_agents = eu.agent_addr.to_string();
    fleet.relay_mut("eu-1").kill().unwrap();
    let holder = fdt_e2e::poll_until(FAILOVER_BOUND, "agent bound on another relay", || {
        let status = agent.status();
        let bound = agent.public_url("web").is_some();
        let eu_agents = eu_agents.clone();
        async move { (bound && status.relay != eu_agents).then_some(status.relay) }
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", fleet.logs()));
    let other = fleet
        .relays
        .iter()
        .find(|r| r.id != "eu-1" && r.agent_addr.to_string() != holder)
        .unwrap();
    let url = other.http_url("anywhere", "/echo?after=failover");
    fdt_e2e::poll_until(
        Duration::from_secs(15),
        "served through the other relay",
        || async {
            let r = Curl::new(&url).run().await.ok()?;
            (r.status == 200).then_some(())
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", fleet.logs()));
    // The placement feed told the relays left that the name was bound again: they dropped
    // the answers they had (stale ones included) instead of waiting for them to expire.
    let left: Vec<&fdt_e2e::RelayProcess> =
        fleet.relays.iter().filter(|r| r.id != "eu-1").collect();
    fdt_e2e::poll_until(Duration::from_secs(15), "the placement feed's news", || {
        let left = left.clone();
        async move {
            let mut dropped = 0.0;
            for r in left {
                dropped += r
                    .metric("fdt_relay_placements_invalidated_total")
                    .await
                    .ok()?;
            }
            (dropped >= 1.0).then_some(())
        }
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", fleet.logs()));
    agent.stop().await.unwrap();
    fleet.cloud().shutdown.cancel();
}

fdt_cloud::on_both_databases!(visitors_of_any_relay_reach_a_tunnel_held_on_another);
