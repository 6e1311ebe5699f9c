//! Endpoint pooling: several agents of one account serving one name, each HTTP request and each
//! TLS passthrough connection balanced across them, and the rules that keep names safe (other
//! accounts are refused; a bind without pooling takes the name over as before).

use fdt_agent_core::config::TunnelConfig;
use fdt_e2e::client::tls_client_config;
use fdt_e2e::{HttpOrigin, Stack, StackOptions, TlsEcho, poll_until, within};
use fdt_proto::Proto;
use rustls::pki_types::ServerName;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const NAME: &str = "pool";

fn pooled_http(origin: &HttpOrigin, pooling: bool) -> TunnelConfig {
    let mut t = TunnelConfig::new(Proto::Http, origin.addr.to_string());
    t.subdomain = Some(NAME.to_string());
    t.pooling_enabled = pooling;
    t
}

fn hits(o: &HttpOrigin) -> usize {
    o.stats.requests.load(Ordering::SeqCst)
}

/// Sends `n` requests one after the other through the relay; every one must succeed.
async fn requests(stack: &Stack, n: usize) {
    let url = stack.http_url(NAME, "/echo");
    for i in 0..n {
        let r = stack.curl(&url).run().await.unwrap();
        assert_eq!(r.status, 200, "request {i}: {}", r.text());
    }
}

/// Waits until the relay holds exactly `n` tunnels (e.g. after an agent left).
async fn registry_holds(stack: &Stack, n: usize) {
    let registry = stack.relay().unwrap().registry();
    poll_until(Duration::from_secs(10), "relay registry size", || async {
        (registry.len() == n).then_some(())
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pooled_http_agents_share_requests_and_survive_one_leaving() {
    let stack = Stack::start(StackOptions::default()).await.unwrap();
    let (origin_a, origin_b) = (
        HttpOrigin::start().await.unwrap(),
        HttpOrigin::start().await.unwrap(),
    );
    let _a = stack
        .agent(vec![(NAME, pooled_http(&origin_a, true))])
        .await
        .unwrap();
    let mut b = stack
        .agent(vec![(NAME, pooled_http(&origin_b, true))])
        .await
        .unwrap();
    assert_eq!(
        b.public_url(NAME).unwrap(),
        _a.public_url(NAME).unwrap(),
        "both agents serve the same URL"
    );

    requests(&stack, 40).await;
    let (ha, hb) = (hits(&origin_a), hits(&origin_b));
    assert_eq!(ha + hb, 40);
    assert!(ha >= 10 && hb >= 10, "unbalanced: a={ha} b={hb}");

    // B leaves: A keeps the name and answers everything.
    b.stop().await.unwrap();
    registry_holds(&stack, 1).await;
    requests(&stack, 10).await;
    assert_eq!((hits(&origin_a), hits(&origin_b)), (ha + 10, hb));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pooled_names_refuse_other_accounts_and_yield_to_a_non_pooling_bind() {
    let stack = Stack::start(StackOptions::default()).await.unwrap();
    let origins = [
        HttpOrigin::start().await.unwrap(),
        HttpOrigin::start().await.unwrap(),
        HttpOrigin::start().await.unwrap(),
        HttpOrigin::start().await.unwrap(),
    ];
    let _a = stack
        .agent_as("alice", vec![(NAME, pooled_http(&origins[0], true))])
        .await
        .unwrap();
    let _b = stack
        .agent_as("alice", vec![(NAME, pooled_http(&origins[1], true))])
        .await
        .unwrap();

    // Pooling does not open the name to another account.
    let mut mallory = stack
        .spawn_agent(
            stack.token("mallory"),
            vec![(NAME, pooled_http(&origins[2], true))],
        )
        .unwrap();
    let err = mallory.wait_bound().await.unwrap_err().to_string();
    assert!(err.contains("name_in_use"), "{err}");
    mallory.stop().await.unwrap();

    // A same-account agent without pooling takes the name over from the whole pool.
    let _c = stack
        .agent_as("alice", vec![(NAME, pooled_http(&origins[3], false))])
        .await
        .unwrap();
    registry_holds(&stack, 1).await;
    let before: Vec<usize> = origins.iter().map(hits).collect();
    requests(&stack, 10).await;
    let after: Vec<usize> = origins.iter().map(hits).collect();
    assert_eq!(after[2], 0, "mallory's origin was reached");
    assert_eq!(
        (
            after[0] - before[0],
            after[1] - before[1],
            after[3] - before[3]
        ),
        (0, 0, 10)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pooled_tls_passthrough_balances_connections() {
    let stack = Stack::start(StackOptions::default()).await.unwrap();
    let host = stack.host(NAME);
    let origins = [
        TlsEcho::start(stack.dev_ca(), std::slice::from_ref(&host))
            .await
            .unwrap(),
        TlsEcho::start(stack.dev_ca(), std::slice::from_ref(&host))
            .await
            .unwrap(),
    ];
    let mut agents = Vec::new();
    for o in &origins {
        let mut t = TunnelConfig::new(Proto::Tls, o.addr.to_string());
        t.subdomain = Some(NAME.into());
        t.pooling_enabled = true;
        agents.push(stack.agent(vec![(NAME, t)]).await.unwrap());
    }
    let connector =
        tokio_rustls::TlsConnector::from(tls_client_config(stack.dev_ca().ca_pem()).unwrap());
    let mut seen = [0usize; 2];
    for i in 0..6 {
        let tcp = TcpStream::connect(stack.https_addr).await.unwrap();
        let name = ServerName::try_from(host.clone()).unwrap();
        let mut tls = within(
            Duration::from_secs(10),
            "TLS handshake",
            connector.connect(name, tcp),
        )
        .await
        .unwrap()
        .unwrap();
        let leaf = tls.get_ref().1.peer_certificates().unwrap()[0].clone();
        let which = origins
            .iter()
            .position(|o| o.leaf == leaf)
            .expect("the certificate is neither origin's");
        seen[which] += 1;
        let msg = format!("connection {i}\n");
        tls.write_all(msg.as_bytes()).await.unwrap();
        let mut back = vec![0u8; msg.len()];
        within(
            Duration::from_secs(10),
            "TLS echo",
            tls.read_exact(&mut back),
        )
        .await
        .unwrap()
        .unwrap();
        assert_eq!(back, msg.as_bytes());
    }
    assert_eq!(seen, [3, 3], "connections are not round-robin");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_tunnels_cannot_pool() {
    let stack = Stack::start(StackOptions::default()).await.unwrap();
    let origin = HttpOrigin::start().await.unwrap();
    let mut t = TunnelConfig::new(Proto::Tcp, origin.addr.to_string());
    // The agent's own validation refuses this, so send the spec as another client would.
    let mut resolved = t.resolve("raw").unwrap();
    resolved.spec.pooling = true;
    t.pooling_enabled = true;
    assert!(t.resolve("raw").is_err());
    let (mut handle, _join) = fdt_agent_core::spawn(fdt_agent_core::AgentOptions {
        connect: fdt_agent_core::Connect::Relay {
            relay: fdt_agent_core::RelayTarget {
                addr: stack.agent_addr.to_string(),
                server_name: Some(fdt_e2e::stack::BASE_DOMAIN.into()),
                ca_file: Some(stack.ca_path()),
            },
            token: stack.token("e2e"),
        },
        tunnels: vec![resolved],
        managed: false,
        ha: false,
    });
    let err = handle
        .wait_bound(Duration::from_secs(15))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("pooling is supported for http and tls tunnels")
            && err.contains("invalid_policy"),
        "{err}"
    );
    handle.shutdown.cancel();
}
