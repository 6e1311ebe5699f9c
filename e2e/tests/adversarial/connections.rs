//! Connections themselves: silent ones, a ClientHello without SNI, ten thousand idle ones from
//! one address, and requests in flight when the relay shuts down.

use super::{STUCK, one_tunnel, raw, read_to_close, requests, status_of, two_tunnels};
use fdt_e2e::client::tls_client_config;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_connections_are_closed_within_the_header_timeout() {
    // A name no other story uses: stories run in parallel processes, and one that keeps
    // sending `web.` requests to a relay port it no longer owns (a killed relay's) could reach
    // this stack's tunnel when the port is reused here, and be counted as a forwarded request.
    const NAME: &str = "silent-conns";
    let stack = fdt_e2e::Stack::start(fdt_e2e::StackOptions::default())
        .await
        .unwrap();
    let web = fdt_e2e::HttpOrigin::start().await.unwrap();
    let _agent = stack
        .agent(vec![("web", super::http_tunnel(&web, NAME))])
        .await
        .unwrap();
    // Plain HTTP: not one byte.
    let mut sock = TcpStream::connect(stack.http_addr).await.unwrap();
    assert_eq!(read_to_close(&mut sock).await, "");
    // A slice of the HTTP/2 preface, which keeps hyper-util guessing the version: closed too
    // (with a 408, as bytes of a request had come).
    let r = raw(stack.http_addr, b"PRI * HT").await;
    assert!(r.is_empty() || status_of(&r) == Some(408), "{r}");
    // HTTPS: a full handshake, then silence.
    let tls = tls_client_config(&std::fs::read_to_string(stack.ca_path()).unwrap()).unwrap();
    let sock = TcpStream::connect(stack.https_addr).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from(stack.host(NAME)).unwrap();
    let mut tls = tokio_rustls::TlsConnector::from(tls)
        .connect(name, sock)
        .await
        .unwrap();
    let closed = read_to_close(&mut tls).await;
    assert!(status_of(&closed).is_none(), "{closed}");
    assert_eq!(requests(&web), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_hello_without_sni_is_refused_and_the_edge_goes_on() {
    let (stack, web, _other, _agent) = two_tunnels().await;
    let tls = tls_client_config(&std::fs::read_to_string(stack.ca_path()).unwrap()).unwrap();
    // An IP address as the server name: rustls sends no SNI at all.
    let sock = TcpStream::connect(stack.https_addr).await.unwrap();
    let ip = rustls::pki_types::ServerName::IpAddress(std::net::Ipv4Addr::LOCALHOST.into());
    let hello = tokio::time::timeout(
        STUCK,
        tokio_rustls::TlsConnector::from(tls).connect(ip, sock),
    )
    .await
    .expect("the edge answers or closes a ClientHello without SNI");
    assert!(hello.is_err(), "no certificate is served without a name");
    assert_eq!(requests(&web), 0);
    let r = stack
        .curl(&stack.https_url("web", "/echo"))
        .run()
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_idle_connections_from_one_address_hit_the_cap_and_others_are_served() {
    const CAP: u32 = 500;
    let (stack, web, _agent) = one_tunnel(fdt_relay::config::Limits {
        max_conns_per_ip: CAP,
        // Idle sockets would otherwise be closed after a second (silent connections).
        header_read_timeout_ms: 60_000,
        ..fdt_e2e::stack::test_limits()
    })
    .await;
    let mut idle = Vec::with_capacity(10_000);
    for _ in 0..10_000 {
        // Refused connections are closed by the edge; the kernel may still complete the
        // handshake first, so every connect succeeds or fails quickly.
        if let Ok(Ok(s)) = tokio::time::timeout(STUCK, TcpStream::connect(stack.http_addr)).await {
            idle.push(s);
        }
    }
    let held = stack.relay().unwrap().visitor_connections();
    assert!(
        held <= u64::from(CAP),
        "{held} connections held past the cap"
    );
    // Another address is still served.
    let sock = tokio::net::TcpSocket::new_v4().unwrap();
    sock.bind("127.0.0.2:0".parse().unwrap()).unwrap();
    let mut other = sock.connect(stack.http_addr).await.unwrap();
    let req = format!(
        "GET /echo HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
        stack.host("web")
    );
    other.write_all(req.as_bytes()).await.unwrap();
    let r = read_to_close(&mut other).await;
    assert_eq!(status_of(&r), Some(200), "{r}");
    assert_eq!(requests(&web), 1);
    drop(idle);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_shutdown_lets_100_requests_in_flight_finish() {
    let (stack, web, _agent) = one_tunnel(fdt_relay::config::Limits {
        drain_timeout_ms: 30_000,
        ..fdt_e2e::stack::test_limits()
    })
    .await;
    let req = format!(
        "GET /hold?ms=1500 HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
        stack.host("web")
    );
    let addr = stack.http_addr;
    let inflight: Vec<_> = (0..100)
        .map(|_| {
            let req = req.clone();
            tokio::spawn(async move { raw(addr, req.as_bytes()).await })
        })
        .collect();
    web.stats.wait_holds(100, STUCK).await.unwrap();
    // What SIGTERM runs in fdt-relay's main: stop accepting, drain, close.
    stack.shutdown().await.unwrap();
    for r in inflight {
        let r = r.await.unwrap();
        assert_eq!(status_of(&r), Some(200), "{r}");
        assert!(r.ends_with("held"), "{r}");
    }
}
