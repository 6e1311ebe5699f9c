//! Answers the edge gives itself: unknown names, unreachable upstreams, oversized or slow
//! request heads, and proxy-style request targets.

use fdt_agent_core::config::TunnelConfig;
use fdt_e2e::{HttpOrigin, Stack, StackOptions, raw_request, within};
use fdt_proto::Proto;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn with_web_tunnel() -> (Stack, HttpOrigin, fdt_e2e::Agent) {
    let stack = Stack::start(StackOptions::default()).await.unwrap();
    let origin = HttpOrigin::start().await.unwrap();
    let mut t = TunnelConfig::new(Proto::Http, origin.addr.to_string());
    t.subdomain = Some("web".into());
    let agent = stack.agent(vec![("web", t)]).await.unwrap();
    (stack, origin, agent)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_host_is_404_json_or_html_page() {
    let stack = Stack::start(StackOptions::default()).await.unwrap();
    for url in [
        stack.http_url("nosuch", "/x"),
        stack.https_url("nosuch", "/x"),
    ] {
        let r = stack.curl(&url).run().await.unwrap();
        assert_eq!(r.status, 404, "{url}");
        assert_eq!(r.header("content-type"), Some("application/json"));
        let v = r.json().unwrap();
        assert_eq!(v["error"]["code"], "tunnel_not_found");
        assert_eq!(v["error"]["status"], 404);

        let page = stack
            .curl(&url)
            .header("Accept: text/html,application/xhtml+xml")
            .run()
            .await
            .unwrap();
        assert_eq!(page.status, 404);
        assert!(
            page.header("content-type")
                .unwrap()
                .starts_with("text/html"),
            "{:?}",
            page.headers
        );
        let html = page.text();
        assert!(
            html.contains("<html") && html.contains("tunnel_not_found"),
            "{html}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_origin_port_is_502_upstream_unreachable() {
    let stack = Stack::start(StackOptions::default()).await.unwrap();
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let mut t = TunnelConfig::new(Proto::Http, closed.to_string());
    t.subdomain = Some("down".into());
    let _agent = stack.agent(vec![("down", t)]).await.unwrap();
    for url in [stack.http_url("down", "/"), stack.https_url("down", "/")] {
        let r = stack.curl(&url).run().await.unwrap();
        assert_eq!(r.status, 502, "{url}: {}", r.text());
        assert_eq!(r.error_code().as_deref(), Some("upstream_unreachable"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_request_head_is_431() {
    let (stack, origin, _agent) = with_web_tunnel().await;
    let big = format!("X-Big: {}", "a".repeat(64 * 1024));
    let r = stack
        .curl(&stack.http_url("web", "/echo"))
        .header(&big)
        .run()
        .await
        .unwrap();
    assert_eq!(r.status, 431);
    // Just under the limit still passes.
    let ok = format!("X-Big: {}", "a".repeat(8 * 1024));
    let r = stack
        .curl(&stack.http_url("web", "/echo"))
        .header(&ok)
        .run()
        .await
        .unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(
        origin
            .stats
            .requests
            .load(std::sync::atomic::Ordering::SeqCst),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_request_head_is_cut_off() {
    let (stack, _origin, _agent) = with_web_tunnel().await;
    let header_timeout = stack.config().limits.header_read_timeout();
    let mut s = TcpStream::connect(stack.http_addr).await.unwrap();
    s.write_all(b"GET /echo HTTP/1.1\r\nHost: web.localhost\r\nX-Partial: ")
        .await
        .unwrap();
    let started = Instant::now();
    // Read until the relay closes (EOF or reset); whatever it sends is not a 200.
    let got = within(
        header_timeout + Duration::from_secs(9),
        "relay closing a slow visitor",
        async {
            let mut buf = Vec::new();
            let _ = s.read_to_end(&mut buf).await;
            buf
        },
    )
    .await
    .unwrap();
    // A visitor cut off mid-headers is told why before the connection closes.
    assert!(
        got.starts_with(b"HTTP/1.1 408 "),
        "{}",
        String::from_utf8_lossy(&got)
    );
    // It was the timeout that closed it, not an immediate refusal of a valid prefix.
    assert!(
        started.elapsed() >= header_timeout / 2,
        "closed after {:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn absolute_form_is_400_and_connect_is_405() {
    let (stack, origin, _agent) = with_web_tunnel().await;
    let r = raw_request(
        stack.http_addr,
        b"GET http://web.localhost/echo HTTP/1.1\r\nHost: web.localhost\r\nConnection: close\r\n\r\n",
    )
    .await
    .unwrap();
    assert_eq!(r.status, 400, "{}", r.head);
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(v["error"]["code"], "bad_request");

    let r = raw_request(
        stack.http_addr,
        b"CONNECT web.localhost:443 HTTP/1.1\r\nHost: web.localhost:443\r\nConnection: close\r\n\r\n",
    )
    .await
    .unwrap();
    assert_eq!(r.status, 405, "{}", r.head);
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(v["error"]["code"], "method_not_allowed");

    // The same target in origin form is served.
    let r = raw_request(
        stack.http_addr,
        b"GET /echo HTTP/1.1\r\nHost: web.localhost\r\nConnection: close\r\n\r\n",
    )
    .await
    .unwrap();
    assert_eq!(r.status, 200, "{}", r.head);
    assert_eq!(
        origin
            .stats
            .requests
            .load(std::sync::atomic::Ordering::SeqCst),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_over_the_tokens_rate_get_429_with_retry_after() {
    let stack = Stack::start(StackOptions::default()).await.unwrap();
    let origin = HttpOrigin::start().await.unwrap();
    let mut t = TunnelConfig::new(Proto::Http, origin.addr.to_string());
    t.subdomain = Some("rated".into());
    // A plan's requests_per_minute arrives as the token's `rpm` claim: 3 → a burst of 3.
    let mut claims = fdt_relay::auth::TokenSigner::claims(fdt_e2e::stack::DEFAULT_ACCOUNT, 3600);
    claims.rpm = 3;
    let mut agent = stack
        .spawn_agent(stack.sign(&claims), vec![("rated", t)])
        .unwrap();
    agent.wait_bound().await.unwrap();
    let url = stack.http_url("rated", "/echo");
    for i in 0..3 {
        let r = stack.curl(&url).run().await.unwrap();
        assert_ne!(r.status, 429, "request {i} is within the burst");
    }
    let r = stack.curl(&url).run().await.unwrap();
    assert_eq!(r.status, 429, "{}", r.text());
    assert_eq!(r.error_code().as_deref(), Some("tunnel_rate_limited"));
    assert_eq!(r.header("retry-after"), Some("1"));
}
