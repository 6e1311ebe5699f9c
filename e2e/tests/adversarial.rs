//! The edge against a hostile visitor: raw bytes on real TCP and TLS sockets to a real relay,
//! where curl would refuse to send them. Each test names the attack; each fails if the edge's
//! answer to it changes.

#![allow(clippy::unwrap_used)]

use bytes::Bytes;
use fdt_agent_core::config::TunnelConfig;
use fdt_e2e::client::tls_client_config;
use fdt_e2e::{HttpOrigin, Stack, StackOptions};
use fdt_proto::Proto;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Longest any one raw exchange may take before the test calls the edge stuck. Far above the
/// edge's own timeouts (1 s for headers in the test limits), so never a timing assertion.
const STUCK: Duration = Duration::from_secs(15);

fn http_tunnel(origin: &HttpOrigin, sub: &str) -> TunnelConfig {
    let mut t = TunnelConfig::new(Proto::Http, origin.addr.to_string());
    t.subdomain = Some(sub.to_string());
    t
}

/// Writes `request` on a fresh connection to `addr`, then reads until the edge closes it.
async fn raw(addr: SocketAddr, request: &[u8]) -> String {
    let mut sock = TcpStream::connect(addr).await.unwrap();
    sock.write_all(request).await.unwrap();
    read_to_close(&mut sock).await
}

async fn read_to_close<S: tokio::io::AsyncRead + Unpin>(sock: &mut S) -> String {
    let mut out = Vec::new();
    let read = tokio::time::timeout(STUCK, async {
        let mut buf = [0u8; 16 * 1024];
        loop {
            match sock.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => out.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(read.is_ok(), "the edge kept the connection open");
    String::from_utf8_lossy(&out).into_owned()
}

fn status_of(response: &str) -> Option<u16> {
    response
        .strip_prefix("HTTP/1.1 ")
        .and_then(|r| r.get(..3))
        .and_then(|s| s.parse().ok())
}

/// A stack with one agent serving `web` and `other` from two origins.
async fn two_tunnels() -> (Stack, HttpOrigin, HttpOrigin, fdt_e2e::Agent) {
    let stack = Stack::start(StackOptions::default()).await.unwrap();
    let web = HttpOrigin::start().await.unwrap();
    let other = HttpOrigin::start().await.unwrap();
    let agent = stack
        .agent(vec![
            ("web", http_tunnel(&web, "web")),
            ("other", http_tunnel(&other, "other")),
        ])
        .await
        .unwrap();
    (stack, web, other, agent)
}

fn requests(o: &HttpOrigin) -> usize {
    o.stats.requests.load(Ordering::SeqCst)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_connections_are_closed_within_the_header_timeout() {
    let (stack, web, _other, _agent) = two_tunnels().await;
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
    let name = rustls::pki_types::ServerName::try_from(stack.host("web")).unwrap();
    let mut tls = tokio_rustls::TlsConnector::from(tls)
        .connect(name, sock)
        .await
        .unwrap();
    let closed = read_to_close(&mut tls).await;
    assert!(status_of(&closed).is_none(), "{closed}");
    assert_eq!(requests(&web), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_variants_route_to_the_same_tunnel_or_nowhere() {
    let (stack, web, other, _agent) = two_tunnels().await;
    let host = stack.host("web");
    let port = stack.http_addr.port();
    for (h, want) in [
        (host.to_uppercase(), 200),
        (format!("{host}."), 200),
        (format!("{host}:{port}"), 200),
        (format!("{}:{port}", host.to_uppercase()), 200),
        // Userinfo is not part of a Host header.
        (format!("user@{host}"), 400),
        // A suffix trick: the tunnel's name followed by another domain.
        (format!("{host}.evil.example"), 404),
        (format!("evil-{host}"), 404),
        // Punycode of a name nobody bound.
        ("xn--wb-yja.localhost".to_string(), 404),
        (String::new(), 400),
    ] {
        let req = format!("GET /echo HTTP/1.1\r\nHost: {h}\r\nConnection: close\r\n\r\n");
        let r = raw(stack.http_addr, req.as_bytes()).await;
        assert_eq!(status_of(&r), Some(want), "Host: {h:?} → {r}");
    }
    assert_eq!(requests(&web), 4);
    assert_eq!(requests(&other), 0);
    // Two Host headers: refused, whatever they name.
    let req = format!(
        "GET /echo HTTP/1.1\r\nHost: {host}\r\nHost: {}\r\nConnection: close\r\n\r\n",
        stack.host("other")
    );
    assert_eq!(
        status_of(&raw(stack.http_addr, req.as_bytes()).await),
        Some(400)
    );
    assert_eq!((requests(&web), requests(&other)), (4, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_requests_are_routed_and_checked_one_by_one() {
    let stack = Stack::start(StackOptions::default()).await.unwrap();
    let open = HttpOrigin::start().await.unwrap();
    let private = HttpOrigin::start().await.unwrap();
    let mut locked = http_tunnel(&private, "private");
    locked.basic_auth = vec!["alice:s3cret".into()];
    let _agent = stack
        .agent(vec![
            ("open", http_tunnel(&open, "open")),
            ("private", locked),
        ])
        .await
        .unwrap();
    // One connection: a request the open tunnel serves, then one for the private tunnel
    // without credentials, then one with another Host and no Host at all.
    let req = format!(
        "GET /echo HTTP/1.1\r\nHost: {}\r\n\r\n\
         GET /echo HTTP/1.1\r\nHost: {}\r\n\r\n\
         GET /echo HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
        stack.host("open"),
        stack.host("private"),
        stack.host("open"),
    );
    let r = raw(stack.http_addr, req.as_bytes()).await;
    let statuses: Vec<&str> = r
        .match_indices("HTTP/1.1 ")
        .map(|(i, _)| &r[i + 9..i + 12])
        .collect();
    assert_eq!(statuses, ["200", "401", "200"], "{r}");
    assert_eq!(
        requests(&private),
        0,
        "the second request had no credentials"
    );
    assert_eq!(requests(&open), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_smuggling_framings_are_refused_before_the_agent() {
    let (stack, web, other, _agent) = two_tunnels().await;
    let host = stack.host("web");
    let attacks: [(&str, String); 5] = [
        (
            "two CLs",
            "Content-Length: 4\r\nContent-Length: 5\r\n\r\nabcde".into(),
        ),
        ("CL +5", "Content-Length: +5\r\n\r\nabcde".into()),
        (
            "chunked, identity",
            "Transfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n".into(),
        ),
        (
            "space before colon",
            "Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n".into(),
        ),
        ("CL not a number", "Content-Length: 5x\r\n\r\nabcde".into()),
    ];
    for (name, rest) in attacks {
        let req = format!("POST /echo HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n{rest}");
        let r = raw(stack.http_addr, req.as_bytes()).await;
        assert_eq!(status_of(&r), Some(400), "{name}: {r}");
    }
    assert_eq!(requests(&web), 0, "nothing reached the agent");

    // CL+TE: hyper drops Content-Length before the edge sees the request (chunked wins, RFC
    // 9112 §6.3) and closes the connection after answering, so a request smuggled behind the
    // body is never read: the other tunnel gets nothing.
    let req = format!(
        "POST /echo HTTP/1.1\r\nHost: {host}\r\nContent-Length: 4\r\n\
         Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n\
         GET /echo HTTP/1.1\r\nHost: {}\r\n\r\n",
        stack.host("other")
    );
    let r = raw(stack.http_addr, req.as_bytes()).await;
    assert_eq!(r.matches("HTTP/1.1 ").count(), 1, "{r}");
    assert!(r.to_ascii_lowercase().contains("connection: close"), "{r}");
    assert_eq!(requests(&other), 0, "the smuggled request was not served");

    // A chunk size past u64: the head was fine, so it is found while the body streams to the
    // agent. The exchange fails (the local service never gets a complete body) and the
    // connection closes; nothing behind it is read.
    let req = format!(
        "POST /upload HTTP/1.1\r\nHost: {host}\r\nTransfer-Encoding: chunked\r\n\r\n\
         FFFFFFFFFFFFFFFFF1\r\nx\r\n0\r\n\r\nGET /echo HTTP/1.1\r\nHost: {}\r\n\r\n",
        stack.host("other")
    );
    let r = raw(stack.http_addr, req.as_bytes()).await;
    assert!(
        matches!(status_of(&r), Some(400 | 502) | None),
        "chunk-size overflow: {r}"
    );
    assert!(r.matches("HTTP/1.1 ").count() <= 1, "{r}");
    assert_eq!(requests(&other), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_headers_and_huge_headers_get_431() {
    let (stack, web, _other, _agent) = two_tunnels().await;
    let host = stack.host("web");
    let many: String = (0..10_000).map(|i| format!("X-H{i}: v\r\n")).collect();
    let huge = format!("X-Big: {}\r\n", "a".repeat(1 << 20));
    for (name, headers) in [("10k headers", many), ("1 MiB header", huge)] {
        let req = format!("GET /echo HTTP/1.1\r\nHost: {host}\r\n{headers}\r\n");
        let mut sock = TcpStream::connect(stack.http_addr).await.unwrap();
        // The edge may close before everything is written: that is a refusal too.
        let _ = sock.write_all(req.as_bytes()).await;
        let r = read_to_close(&mut sock).await;
        assert!(
            matches!(status_of(&r), Some(431) | None),
            "{name}: {}",
            &r[..r.len().min(200)]
        );
    }
    assert_eq!(requests(&web), 0);
    // The edge still serves.
    let req = format!("GET /echo HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    assert_eq!(
        status_of(&raw(stack.http_addr, req.as_bytes()).await),
        Some(200)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_authorization_is_not_authorization_and_never_reaches_the_service() {
    let stack = Stack::start(StackOptions::default()).await.unwrap();
    let origin = HttpOrigin::start().await.unwrap();
    let mut t = http_tunnel(&origin, "private");
    t.basic_auth = vec!["alice:s3cret".into()];
    let _agent = stack.agent(vec![("private", t)]).await.unwrap();
    let host = stack.host("private");
    let creds = "Basic YWxpY2U6czNjcmV0"; // alice:s3cret
    // The right credentials in the proxy header: refused, as without any.
    let req = format!(
        "GET /echo HTTP/1.1\r\nHost: {host}\r\nProxy-Authorization: {creds}\r\nConnection: close\r\n\r\n"
    );
    assert_eq!(
        status_of(&raw(stack.http_addr, req.as_bytes()).await),
        Some(401)
    );
    assert_eq!(requests(&origin), 0);
    // Both: admitted by Authorization; neither header reaches the service.
    let req = format!(
        "GET /echo HTTP/1.1\r\nHost: {host}\r\nAuthorization: {creds}\r\n\
         Proxy-Authorization: {creds}\r\nConnection: close\r\n\r\n"
    );
    let r = raw(stack.http_addr, req.as_bytes()).await;
    assert_eq!(status_of(&r), Some(200), "{r}");
    let seen = origin.stats.echoed.lock().unwrap().clone();
    let headers = &seen[0].2;
    assert!(
        !headers
            .iter()
            .any(|(k, _)| k == "authorization" || k == "proxy-authorization"),
        "{headers:?}"
    );
}

/// An HTTP/2 client over TLS to the HTTPS edge.
async fn h2(stack: &Stack, sni: &str) -> hyper::client::conn::http2::SendRequest<Empty<Bytes>> {
    let mut cfg =
        (*tls_client_config(&std::fs::read_to_string(stack.ca_path()).unwrap()).unwrap()).clone();
    cfg.alpn_protocols = vec![b"h2".to_vec()];
    let sock = TcpStream::connect(stack.https_addr).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from(sni.to_string()).unwrap();
    let tls = tokio_rustls::TlsConnector::from(Arc::new(cfg))
        .connect(name, sock)
        .await
        .unwrap();
    let (send, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tls))
            .await
            .unwrap();
    tokio::spawn(conn);
    send
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h2_host_and_authority_must_agree_and_one_authority_is_forwarded() {
    let (stack, web, other, _agent) = two_tunnels().await;
    let host = stack.host("web");
    let port = stack.https_addr.port();
    let mut send = h2(&stack, &host).await;
    // `:authority` routes to `web`, a `host` header names `other`: refused.
    let req = http::Request::get(format!("https://{host}:{port}/echo"))
        .header("host", stack.host("other"))
        .body(Empty::new())
        .unwrap();
    let r = send.send_request(req).await.unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!((requests(&web), requests(&other)), (0, 0));
    // Agreeing (case and port aside): served, and the service sees the routed authority.
    let req = http::Request::get(format!("https://{host}:{port}/echo"))
        .header("host", host.to_uppercase())
        .body(Empty::new())
        .unwrap();
    let r = send.send_request(req).await.unwrap();
    assert_eq!(r.status(), 200);
    let body = r.into_body().collect().await.unwrap().to_bytes();
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        v["headers"]["host"],
        serde_json::json!([format!("{host}:{port}")])
    );
}

/// A stack with `limits` (on top of the test limits) and one agent serving `web`.
async fn one_tunnel(limits: fdt_relay::config::Limits) -> (Stack, HttpOrigin, fdt_e2e::Agent) {
    let stack = Stack::start(StackOptions {
        limits,
        ..StackOptions::default()
    })
    .await
    .unwrap();
    let web = HttpOrigin::start().await.unwrap();
    let agent = stack
        .agent(vec![("web", http_tunnel(&web, "web"))])
        .await
        .unwrap();
    (stack, web, agent)
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
    let held = stack.relay().unwrap().shared().limiter.total();
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

/// One HTTP/2 frame: 9-byte header, then `payload`.
fn h2_frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = u32::try_from(payload.len()).unwrap().to_be_bytes();
    let mut f = vec![len[1], len[2], len[3], kind, flags];
    f.extend_from_slice(&stream.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h2_headers_and_rst_stream_flood_gets_goaway() {
    let (stack, web, _other, _agent) = two_tunnels().await;
    let host = stack.host("web");
    // HPACK, no Huffman: :method GET, :path /, :scheme http (static table), then :authority as
    // a literal without indexing (name index 1).
    let mut block = vec![0x82, 0x84, 0x86, 0x01, u8::try_from(host.len()).unwrap()];
    block.extend_from_slice(host.as_bytes());
    let mut flood = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    flood.extend(h2_frame(0x4, 0, 0, &[]));
    for i in 0..5_000u32 {
        let stream = 2 * i + 1;
        // HEADERS with END_STREAM | END_HEADERS, then RST_STREAM (CANCEL) at once.
        flood.extend(h2_frame(0x1, 0x5, stream, &block));
        flood.extend(h2_frame(0x3, 0, stream, &8u32.to_be_bytes()));
    }
    let mut sock = TcpStream::connect(stack.http_addr).await.unwrap();
    // The edge may stop reading once it has had enough: a write error is an answer too.
    let _ = sock.write_all(&flood).await;
    let mut goaway = false;
    let read = tokio::time::timeout(STUCK, async {
        let mut head = [0u8; 9];
        while sock.read_exact(&mut head).await.is_ok() {
            let len = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
            let mut payload = vec![0u8; len];
            if sock.read_exact(&mut payload).await.is_err() {
                break;
            }
            if head[3] == 0x7 {
                goaway = true;
                break;
            }
        }
    })
    .await;
    assert!(read.is_ok(), "the edge neither sent GOAWAY nor closed");
    assert!(goaway, "a rapid-reset flood ends in GOAWAY");
    assert!(
        requests(&web) < 5_000,
        "{} of 5000 reset requests reached the service",
        requests(&web)
    );
    let r = stack
        .curl(&stack.http_url("web", "/echo"))
        .run()
        .await
        .unwrap();
    assert_eq!(r.status, 200, "the edge still serves");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h2_huge_header_lists_are_refused() {
    let (stack, web, _other, _agent) = two_tunnels().await;
    let host = stack.host("web");
    let mut send = h2(&stack, &host).await;
    let req = http::Request::get(format!("https://{host}/echo"))
        .header("x-big", "a".repeat(64 * 1024))
        .body(Empty::new())
        .unwrap();
    // 431, or the stream (or connection) refused outright: never served.
    if let Ok(r) = send.send_request(req).await {
        assert_eq!(r.status(), 431);
    }
    let mut send = h2(&stack, &host).await;
    let mut req = http::Request::get(format!("https://{host}/echo"));
    for i in 0..10_000 {
        req = req.header(format!("x-h{i}"), "v");
    }
    if let Ok(r) = send.send_request(req.body(Empty::new()).unwrap()).await {
        assert_eq!(r.status(), 431);
    }
    assert_eq!(requests(&web), 0);
}
