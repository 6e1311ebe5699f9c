//! A region's TCP addresses on every relay of the region: three real `fdt-relay` processes
//! (`eu-1`, `eu-2` in `eu`, `us-1` in `us`), each listening on the same TCP port range on its
//! own loopback address (`tcp_forward`). An account reserves a TCP address in `eu`; its agent
//! binds it on one eu relay. A visitor of the port on either eu relay reaches the service (the
//! other relay forwards it over relay-to-relay QUIC, the bytes untouched, policy at the
//! holder); the same port in `us` is another address, served by nobody. Then the holder is
//! killed: the agent binds the address on the other eu relay, and the address keeps working.
//!
//! Needs the relay binary: `cargo build -p fdt-relay --bin fdt-relay` first.

use fdt_agent_core::config::TunnelConfig;
use fdt_e2e::cloud::TestDb as Db;
use fdt_e2e::fleet::Fleet;
use fdt_e2e::{RelayProcess, TcpEcho};
use fdt_proto::Proto;
use sha2::{Digest, Sha256};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The region's TCP range in this story (relays and reservations).
const PORTS: (u16, u16) = (24_610, 24_629);
/// A port of the range for a tunnel whose policy refuses every visitor (not reserved).
const GUARDED: u16 = PORTS.1;
/// A port of the range nobody binds.
const UNUSED: u16 = PORTS.1 - 1;
/// How long one visitor exchange may take.
const EXCHANGE: Duration = Duration::from_secs(20);
/// How long the agent gets to come back after its relay is killed.
const FAILOVER_BOUND: Duration = Duration::from_secs(30);

/// Connects to `relay`'s `port`, sends `payload`, closes its sending side and reads until the
/// service closes: what came back (empty when the relay closed without serving).
async fn exchange(relay: &RelayProcess, port: u16, payload: &[u8]) -> std::io::Result<Vec<u8>> {
    let addr = SocketAddr::new(relay.http_addr.ip(), port);
    tokio::time::timeout(EXCHANGE, async {
        let mut sock = TcpStream::connect(addr).await?;
        let (mut r, mut w) = sock.split();
        let send = async {
            w.write_all(payload).await?;
            w.shutdown().await
        };
        let mut back = Vec::new();
        // Written and read at once: a large payload must not wait for the echo to drain.
        let (sent, read) = tokio::join!(send, r.read_to_end(&mut back));
        match (sent, read) {
            (Ok(()), Ok(_)) => Ok(back),
            // A relay that closes without serving may reset mid-write: nothing came back.
            (Err(_), _) | (_, Err(_)) if back.is_empty() => Ok(Vec::new()),
            (Err(e), _) | (_, Err(e)) => Err(e),
        }
    })
    .await
    .map_err(|_| std::io::ErrorKind::TimedOut)?
}

async fn a_regions_tcp_address_works_through_every_relay_of_the_region(db: &Db) {
    fdt_e2e::install_crypto();
    fdt_e2e::init_tracing();
    let relays = [("eu-1", "eu"), ("eu-2", "eu"), ("us-1", "us")];
    let mut fleet = Fleet::start_tcp_regions(db.store.clone(), &relays, PORTS)
        .await
        .unwrap();
    let cloud = fleet.cloud();
    let account = cloud.account("tcp-region@example.com").await.unwrap();
    let me = account.client.me().await.unwrap();
    cloud
        .state
        .store()
        .set_account_plan(&me.id, fdt_api::Plan::Pro)
        .await
        .unwrap();
    // The address, from the API: a port of the region's range.
    let reserved = reqwest::Client::new()
        .post(format!("{}/v1/reserved-names", cloud.url))
        .bearer_auth(account.access_token.expose_secret())
        .json(&serde_json::json!({"kind": "tcp_address", "region": "eu"}))
        .send()
        .await
        .unwrap();
    assert_eq!(reserved.status(), 201);
    let reserved: serde_json::Value = reserved.json().await.unwrap();
    let port = u16::try_from(reserved["port"].as_u64().unwrap()).unwrap();
    assert!((PORTS.0..UNUSED).contains(&port), "{reserved}");

    let echo = TcpEcho::start().await.unwrap();
    let mut tcp = TunnelConfig::new(Proto::Tcp, echo.addr.to_string());
    tcp.remote_port = Some(port);
    // A second tunnel whose policy refuses every loopback visitor: enforced by the holder
    // with the visitor's own address, however the visitor came.
    let mut guarded = TunnelConfig::new(Proto::Tcp, echo.addr.to_string());
    guarded.remote_port = Some(GUARDED);
    guarded.cidr_deny = vec!["127.0.0.0/8".parse().unwrap()];
    let mut agent = fleet
        .bound_agent(&account, "eu", vec![("tcp", tcp), ("guarded", guarded)])
        .await;
    let status = agent.status();
    let holder_id = fleet
        .relays
        .iter()
        .find(|r| r.agent_addr.to_string() == status.relay)
        .map(|r| r.id.clone())
        .unwrap_or_else(|| panic!("agent on {} — not a relay of the fleet", status.relay));
    assert!(holder_id.starts_with("eu-"), "bound on {holder_id}");
    let other_id = if holder_id == "eu-1" { "eu-2" } else { "eu-1" };
    let (holder, other, us) = (
        fleet.relay(&holder_id),
        fleet.relay(other_id),
        fleet.relay("us-1"),
    );

    // Through either relay of the region: the service, byte for byte (8 MiB each way).
    let payload: Vec<u8> = (0..8 << 20).map(|i: u32| (i % 251) as u8).collect();
    let mut took = Vec::new();
    for relay in [holder, other] {
        let started = std::time::Instant::now();
        let back = exchange(relay, port, &payload).await.unwrap();
        took.push(started.elapsed());
        assert_eq!(
            Sha256::digest(&back),
            Sha256::digest(&payload),
            "via {}: {} bytes back\n{}",
            relay.id,
            back.len(),
            fleet.logs()
        );
    }
    // For the record (`--no-capture`; release relays with FDT_E2E_BIN_DIR): the echo's
    // throughput direct and forwarded, never asserted.
    let mib_s = |d: Duration| 16.0 / d.as_secs_f64();
    eprintln!(
        "TCP echo of 8 MiB each way: direct {:.0} MiB/s, forwarded {:.0} MiB/s",
        mib_s(took[0]),
        mib_s(took[1])
    );
    // The holder's policy, with the visitor's address: refused through both.
    for relay in [holder, other] {
        let back = exchange(relay, GUARDED, b"let me in").await.unwrap();
        assert!(back.is_empty(), "via {}: {back:?}", relay.id);
    }
    // The same port in another region is another address (nobody holds it); a port of the
    // range nobody holds is closed at once.
    assert!(exchange(us, port, b"hello").await.unwrap().is_empty());
    assert!(exchange(other, UNUSED, b"hello").await.unwrap().is_empty());

    for (relay, series, at_least) in [
        (
            other,
            r#"fdt_relay_forwarded_total{kind="tcp",outcome="sent"}"#,
            1.0,
        ),
        (
            holder,
            r#"fdt_relay_forwarded_total{kind="tcp",outcome="received"}"#,
            2.0,
        ),
        (
            holder,
            r#"fdt_relay_refusals_total{reason="ip_forbidden"}"#,
            2.0,
        ),
        (
            other,
            r#"fdt_relay_forwarded_total{kind="tcp",outcome="refused"}"#,
            1.0,
        ),
    ] {
        let n = relay.metric(series).await.unwrap();
        assert!(n >= at_least, "{}: {series} = {n}", relay.id);
    }
    // us-1 found nobody holding the port in its region: nothing was sent anywhere.
    let sent = r#"fdt_relay_forwarded_total{kind="tcp",outcome="sent"}"#;
    assert_eq!(us.metric(sent).await.unwrap(), 0.0);

    // The holder dies: the agent binds the address on the other relay of the region, where
    // it now is served directly (and the address is the same).
    let dead_agents = holder.agent_addr.to_string();
    let other_agents = other.agent_addr.to_string();
    fleet.relay_mut(&holder_id).kill().unwrap();
    let killed = std::time::Instant::now();
    fdt_e2e::poll_until(FAILOVER_BOUND, "agent bound on the other eu relay", || {
        let status = agent.status();
        let bound = agent.public_url("tcp").is_some();
        let (dead, other) = (dead_agents.clone(), other_agents.clone());
        async move { (bound && status.relay != dead && status.relay == other).then_some(()) }
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", fleet.logs()));
    let other = fleet.relay(other_id);
    fdt_e2e::poll_until(Duration::from_secs(15), "served by the other relay", || {
        let payload = payload.clone();
        async move {
            let back = exchange(other, port, &payload).await.ok()?;
            (back == payload).then_some(())
        }
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", fleet.logs()));
    eprintln!(
        "TCP address {port}: held on {holder_id}, served through {other_id} too; after {holder_id} was killed, served by {other_id} {:?} later",
        killed.elapsed()
    );
    agent.stop().await.unwrap();
    fleet.cloud().shutdown.cancel();
}

fdt_cloud::on_both_databases!(a_regions_tcp_address_works_through_every_relay_of_the_region);
