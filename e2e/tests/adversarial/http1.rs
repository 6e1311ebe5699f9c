//! HTTP/1.1 framing and headers: host variants, pipelining, smuggling framings, header
//! floods and proxy credentials.

use super::{http_tunnel, raw, read_to_close, requests, status_of, two_tunnels};
use fdt_e2e::{HttpOrigin, Stack, StackOptions};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

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
