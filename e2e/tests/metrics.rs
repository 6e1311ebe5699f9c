//! The relay's `/metrics` on its admin listener, after real traffic: requests by status
//! class, refusals by reason, connections by listener, visitor bytes, agent sessions, tunnels
//! by protocol and QUIC statistics, in Prometheus text that `promtool check metrics` accepts.

use fdt_agent_core::config::TunnelConfig;
use fdt_e2e::prom::{promtool_check, value};
use fdt_e2e::{HttpOrigin, Stack, StackOptions, TcpEcho, raw_request};
use fdt_proto::Proto;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_metrics_count_real_traffic_and_pass_promtool() {
    let stack = Stack::start(StackOptions::default()).await.unwrap();
    let origin = HttpOrigin::start().await.unwrap();
    let echo = TcpEcho::start().await.unwrap();
    let mut web = TunnelConfig::new(Proto::Http, origin.addr.to_string());
    web.subdomain = Some("web".into());
    let tcp = TunnelConfig::new(Proto::Tcp, echo.addr.to_string());
    let agent = stack.agent(vec![("web", web), ("raw", tcp)]).await.unwrap();
    let admin = stack
        .relay()
        .unwrap()
        .admin_addr
        .expect("the stack binds an admin listener");
    let scrape = || async move {
        let r = raw_request(
            admin,
            b"GET /metrics HTTP/1.1\r\nHost: admin\r\nConnection: close\r\n\r\n",
        )
        .await
        .unwrap();
        assert_eq!(r.status, 200, "{}", r.head);
        assert!(r.head.contains("text/plain; version=0.0.4"), "{}", r.head);
        String::from_utf8(r.body).unwrap()
    };
    let before = scrape().await;

    // Three forwarded requests (one with a 1000-byte body), one for nobody's name, one with a
    // head over the relay's limit.
    for _ in 0..2 {
        let r = stack
            .curl(&stack.http_url("web", "/echo"))
            .run()
            .await
            .unwrap();
        assert_eq!(r.status, 200);
    }
    let body = "x".repeat(1000);
    let r = stack
        .curl(&stack.http_url("web", "/echo"))
        .arg("--data-binary")
        .arg(&body)
        .run()
        .await
        .unwrap();
    assert_eq!(r.status, 200);
    let r = stack
        .curl(&stack.http_url("nobody", "/"))
        .run()
        .await
        .unwrap();
    assert_eq!(r.status, 404);
    let huge = format!(
        "GET / HTTP/1.1\r\nHost: web.localhost\r\nX-Big: {}\r\nConnection: close\r\n\r\n",
        "a".repeat(stack.config().limits.max_header_bytes + 1024)
    );
    let r = raw_request(stack.http_addr, huge.as_bytes()).await.unwrap();
    assert_eq!(r.status, 431);
    // One TCP connection through the tcp tunnel.
    let mut s = tokio::net::TcpStream::connect(agent.tcp_addr("raw").unwrap())
        .await
        .unwrap();
    s.write_all(b"ping").await.unwrap();
    let mut pong = [0u8; 4];
    s.read_exact(&mut pong).await.unwrap();
    assert_eq!(&pong, b"ping");
    drop(s);

    let text = scrape().await;
    promtool_check(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let diff = |series: &str| {
        value(&text, series).unwrap_or_else(|| panic!("{series} missing:\n{text}"))
            - value(&before, series).unwrap_or(0.0)
    };
    assert_eq!(diff(r#"fdt_relay_http_requests_total{class="2xx"}"#), 3.0);
    assert_eq!(
        diff(r#"fdt_relay_http_requests_total{class="4xx"}"#),
        1.0,
        "404; hyper's own 431 is a refusal"
    );
    assert_eq!(
        diff(r#"fdt_relay_refusals_total{reason="tunnel_not_found"}"#),
        1.0
    );
    assert_eq!(
        diff(r#"fdt_relay_refusals_total{reason="header_too_large"}"#),
        1.0
    );
    assert_eq!(
        diff(r#"fdt_relay_visitor_connections_total{listener="tcp"}"#),
        1.0
    );
    assert!(diff(r#"fdt_relay_visitor_connections_total{listener="http"}"#) >= 5.0);
    assert_eq!(diff("fdt_relay_upstream_response_seconds_count"), 3.0);
    assert!(diff(r#"fdt_relay_visitor_bytes_total{direction="in"}"#) >= 1000.0);
    assert!(diff(r#"fdt_relay_visitor_bytes_total{direction="out"}"#) > 0.0);
    assert_eq!(value(&text, "fdt_relay_agent_sessions"), Some(1.0));
    assert_eq!(
        value(&text, "fdt_relay_agent_sessions_started_total"),
        Some(1.0)
    );
    assert_eq!(
        value(&text, r#"fdt_relay_tunnels{proto="http"}"#),
        Some(1.0)
    );
    assert_eq!(value(&text, r#"fdt_relay_tunnels{proto="tcp"}"#), Some(1.0));
    assert!(value(&text, "fdt_relay_quic_sent_packets_total").unwrap() > 0.0);
    assert!(value(&text, r#"fdt_relay_quic_rtt_seconds{stat="max"}"#).unwrap() > 0.0);
    assert_eq!(value(&text, "fdt_relay_draining"), Some(0.0));
    // At least the admin listener, the QUIC acceptor and a session are tasks.
    assert!(
        value(&text, "fdt_relay_runtime_tasks").unwrap() >= 3.0,
        "{text}"
    );
    // Nothing a visitor sent became a label; no series for what this relay does not have.
    assert!(!text.contains("nobody"), "{text}");
    // The stack's relay issues certificates from its dev CA: the CA's expiry bounds them.
    let ca_expiry = value(
        &text,
        r#"fdt_relay_certificate_expiry_timestamp_seconds{source="dev_ca"}"#,
    )
    .expect("the dev CA's expiry");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert!(ca_expiry > now + 86400.0, "{ca_expiry}");
    assert!(!text.contains("fdt_relay_control_heartbeat_age"), "{text}");

    // Health: 200 while serving; anything but the two routes is 404.
    let r = raw_request(
        admin,
        b"GET /healthz HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    )
    .await
    .unwrap();
    assert_eq!(r.status, 200);
    let r = raw_request(
        admin,
        b"GET /other HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    )
    .await
    .unwrap();
    assert_eq!(r.status, 404);

    // A connection that never sends a request is closed (the request head has 5 s), not held.
    let mut idle = tokio::net::TcpStream::connect(admin).await.unwrap();
    let mut buf = [0u8; 64];
    let n = tokio::time::timeout(std::time::Duration::from_secs(30), idle.read(&mut buf))
        .await
        .expect("the admin listener closes an idle connection")
        .unwrap_or(0);
    assert_eq!(n, 0, "{:?}", String::from_utf8_lossy(&buf[..n]));
}
