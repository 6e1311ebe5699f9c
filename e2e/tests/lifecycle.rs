//! Agents and relays coming and going: an agent that stops, a relay restart the agent rides
//! out, and a name held by one account that another cannot take.

use fdt_agent_core::config::TunnelConfig;
use fdt_agent_core::status::SessionState;
use fdt_e2e::{HttpOrigin, Stack, StackOptions, poll_until};
use fdt_proto::Proto;
use std::time::Duration;

fn http_tunnel(origin: &HttpOrigin, sub: &str) -> TunnelConfig {
    let mut t = TunnelConfig::new(Proto::Http, origin.addr.to_string());
    t.subdomain = Some(sub.to_string());
    t
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopped_agent_gives_502_tunnel_offline() {
    let stack = Stack::start(StackOptions::default()).await.unwrap();
    let origin = HttpOrigin::start().await.unwrap();
    let mut agent = stack
        .agent(vec![("gone", http_tunnel(&origin, "gone"))])
        .await
        .unwrap();
    let url = stack.http_url("gone", "/echo");
    assert_eq!(stack.curl(&url).run().await.unwrap().status, 200);

    agent.stop().await.unwrap();
    assert_eq!(agent.status().state, SessionState::Stopped);
    for url in [url, stack.https_url("gone", "/echo")] {
        let r = stack.curl(&url).run().await.unwrap();
        assert_eq!(r.status, 502, "{url}: {}", r.text());
        assert_eq!(r.error_code().as_deref(), Some("tunnel_offline"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_reconnects_after_relay_restart() {
    let mut stack = Stack::start(StackOptions::default()).await.unwrap();
    let origin = HttpOrigin::start().await.unwrap();
    let agent = stack
        .agent(vec![("phoenix", http_tunnel(&origin, "phoenix"))])
        .await
        .unwrap();
    let first_session = agent.status().session.clone().unwrap();
    let url = stack.http_url("phoenix", "/echo");
    assert_eq!(stack.curl(&url).run().await.unwrap().status, 200);
    let ports = (stack.agent_addr, stack.http_addr, stack.https_addr);

    stack.restart_relay().await.unwrap();
    assert_eq!(
        (stack.agent_addr, stack.http_addr, stack.https_addr),
        ports,
        "the new relay uses the same ports"
    );
    let (s, u) = (&stack, url.clone());
    poll_until(
        Duration::from_secs(20),
        "tunnel answering again",
        move || {
            let c = s.curl(&u).timeout(Duration::from_secs(2));
            async move { c.run().await.ok().filter(|r| r.status == 200) }
        },
    )
    .await
    .unwrap();
    let status = agent.status();
    assert!(status.reconnects >= 1, "{status:?}");
    assert_eq!(status.state, SessionState::Online);
    assert_ne!(status.session.as_deref(), Some(first_session.as_str()));
    // HTTPS works too: the new relay serves certificates from the same dev CA.
    let r = stack
        .curl(&stack.https_url("phoenix", "/echo"))
        .run()
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    stack.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_account_cannot_take_a_bound_name() {
    let stack = Stack::start(StackOptions::default()).await.unwrap();
    let origin_a = HttpOrigin::start().await.unwrap();
    let origin_b = HttpOrigin::start().await.unwrap();
    let _alice = stack
        .agent_as("alice", vec![("shared", http_tunnel(&origin_a, "shared"))])
        .await
        .unwrap();

    let mut bob = stack
        .spawn_agent(
            stack.token("bob"),
            vec![("shared", http_tunnel(&origin_b, "shared"))],
        )
        .unwrap();
    let err = bob.wait_bound().await.unwrap_err().to_string();
    assert!(err.contains("name_in_use"), "{err}");
    let status = bob.status();
    assert_eq!(status.state, SessionState::Online, "bob's session stays up");
    assert!(status.tunnels[0].public_url.is_none());

    // Alice keeps the name, and her origin keeps answering.
    for url in [
        stack.http_url("shared", "/echo"),
        stack.https_url("shared", "/echo"),
    ] {
        let r = stack.curl(&url).run().await.unwrap();
        assert_eq!(r.status, 200, "{url}");
    }
    let hits = |o: &HttpOrigin| o.stats.requests.load(std::sync::atomic::Ordering::SeqCst);
    assert_eq!((hits(&origin_a), hits(&origin_b)), (2, 0));
    bob.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_account_reconnecting_takes_its_name_back() {
    let stack = Stack::start(StackOptions::default()).await.unwrap();
    let origin_a = HttpOrigin::start().await.unwrap();
    let origin_b = HttpOrigin::start().await.unwrap();
    let _first = stack
        .agent(vec![("mine", http_tunnel(&origin_a, "mine"))])
        .await
        .unwrap();
    // A second session of the same account replaces the first (as after a silent reconnect).
    let _second = stack
        .agent(vec![("mine", http_tunnel(&origin_b, "mine"))])
        .await
        .unwrap();
    let r = stack
        .curl(&stack.http_url("mine", "/echo"))
        .run()
        .await
        .unwrap();
    assert_eq!(r.status, 200);
    let hits = |o: &HttpOrigin| o.stats.requests.load(std::sync::atomic::Ordering::SeqCst);
    assert_eq!((hits(&origin_a), hits(&origin_b)), (0, 1));
}
