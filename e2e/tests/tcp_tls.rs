//! Raw TCP tunnels under concurrency, and TLS passthrough: the visitor's TLS session ends at
//! the origin, not at the relay, even when the ClientHello arrives in many pieces.

use fdt_agent_core::config::TunnelConfig;
use fdt_e2e::client::{ChunkedStart, tls_client_config};
use fdt_e2e::{Pattern, Stack, StackOptions, TcpEcho, TlsEcho, within};
use fdt_proto::Proto;
use rustls::pki_types::ServerName;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinSet;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_tunnel_echoes_200_concurrent_connections() {
    let stack = Stack::start(StackOptions::default()).await.unwrap();
    let echo = TcpEcho::start().await.unwrap();
    let agent = stack
        .agent(vec![(
            "echo",
            TunnelConfig::new(Proto::Tcp, echo.addr.to_string()),
        )])
        .await
        .unwrap();
    let public = agent.tcp_addr("echo").unwrap();
    let (lo, hi) = (stack.config().tcp_port_min, stack.config().tcp_port_max);
    assert!(
        (lo..=hi).contains(&public.port()),
        "{public} outside {lo}-{hi}"
    );

    let mut set = JoinSet::new();
    for i in 0..200u64 {
        set.spawn(async move {
            // Distinct data per connection, so crossed streams would be detected.
            let data = Pattern::new(1000 + i).take(16 * 1024 + i as usize);
            let sock = TcpStream::connect(public).await.unwrap();
            let (mut r, mut w) = sock.into_split();
            let sent = data.clone();
            let writer = tokio::spawn(async move {
                w.write_all(&sent).await.unwrap();
                w.shutdown().await.unwrap();
            });
            let mut back = Vec::new();
            r.read_to_end(&mut back).await.unwrap();
            writer.await.unwrap();
            assert!(
                back == data,
                "connection {i}: echo differs ({} bytes)",
                back.len()
            );
        });
    }
    within(Duration::from_secs(60), "200 TCP echo connections", async {
        while let Some(r) = set.join_next().await {
            r.unwrap();
        }
    })
    .await
    .unwrap();
}

/// A TLS tunnel `pass` to a TLS echo origin whose certificate comes from the stack's dev CA.
async fn passthrough_setup() -> (Stack, TlsEcho, fdt_e2e::Agent) {
    let stack = Stack::start(StackOptions::default()).await.unwrap();
    let origin = TlsEcho::start(stack.dev_ca(), &["pass.localhost".to_string()])
        .await
        .unwrap();
    let mut t = TunnelConfig::new(Proto::Tls, origin.addr.to_string());
    t.subdomain = Some("pass".into());
    let agent = stack.agent(vec![("pass", t)]).await.unwrap();
    assert_eq!(
        agent.public_url("pass").unwrap(),
        format!("tls://pass.localhost:{}", stack.https_addr.port())
    );
    (stack, origin, agent)
}

/// Handshakes over `io` with SNI `pass.localhost`, checks the peer certificate is the
/// origin's, and echoes a few messages through the TLS session; returns the closed session.
async fn tls_echo_via<IO>(
    stack: &Stack,
    origin: &TlsEcho,
    io: IO,
) -> tokio_rustls::client::TlsStream<IO>
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    let connector =
        tokio_rustls::TlsConnector::from(tls_client_config(stack.dev_ca().ca_pem()).unwrap());
    let name = ServerName::try_from("pass.localhost").unwrap();
    let mut tls = within(
        Duration::from_secs(10),
        "TLS handshake",
        connector.connect(name, io),
    )
    .await
    .unwrap()
    .unwrap();
    let leaf = &tls.get_ref().1.peer_certificates().unwrap()[0];
    // The relay would mint its own certificate for this name from the same CA; only the
    // origin holds this one.
    assert!(*leaf == origin.leaf, "the certificate is not the origin's");
    within(Duration::from_secs(10), "TLS echo", async {
        for i in 0..5 {
            let msg = format!("message {i} through a TLS session the relay cannot read\n");
            tls.write_all(msg.as_bytes()).await.unwrap();
            tls.flush().await.unwrap();
            let mut back = vec![0u8; msg.len()];
            tls.read_exact(&mut back).await.unwrap();
            assert_eq!(back, msg.as_bytes());
        }
        tls.shutdown().await.unwrap();
    })
    .await
    .unwrap();
    tls
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_passthrough_ends_at_the_origin() {
    let (stack, origin, _agent) = passthrough_setup().await;
    let tcp = TcpStream::connect(stack.https_addr).await.unwrap();
    tls_echo_via(&stack, &origin, tcp).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_passthrough_with_client_hello_split_over_many_writes() {
    let (stack, origin, _agent) = passthrough_setup().await;
    let tcp = TcpStream::connect(stack.https_addr).await.unwrap();
    tcp.set_nodelay(true).unwrap();
    // 7-byte writes 3 ms apart for the first 2 KiB: the ClientHello (a few hundred bytes)
    // reaches the relay in dozens of segments, its record header split too.
    let chunked = ChunkedStart::new(tcp, 2048, 7, Duration::from_millis(3));
    let tls = tls_echo_via(&stack, &origin, chunked).await;
    let writes = tls.get_ref().0.writes;
    assert!(writes >= 20, "the hello went out in only {writes} writes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_tunnel_names_are_still_terminated_by_the_relay() {
    // Control for the passthrough tests: an http tunnel's name gets the relay's certificate.
    let (stack, origin, _agent) = passthrough_setup().await;
    let http_origin = fdt_e2e::HttpOrigin::start().await.unwrap();
    let mut t = TunnelConfig::new(Proto::Http, http_origin.addr.to_string());
    t.subdomain = Some("term".into());
    let _agent2 = stack.agent(vec![("term", t)]).await.unwrap();
    let connector =
        tokio_rustls::TlsConnector::from(tls_client_config(stack.dev_ca().ca_pem()).unwrap());
    let tcp = TcpStream::connect(stack.https_addr).await.unwrap();
    let name = ServerName::try_from("term.localhost").unwrap();
    let tls = within(
        Duration::from_secs(10),
        "TLS handshake",
        connector.connect(name, tcp),
    )
    .await
    .unwrap()
    .unwrap();
    let leaf = &tls.get_ref().1.peer_certificates().unwrap()[0];
    assert!(*leaf != origin.leaf);
}
