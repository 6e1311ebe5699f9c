//! HTTP/1.1 and HTTP/2 through an http tunnel with curl: forwarding headers, hop-by-hop
//! stripping, bodies, and the Host / SNI agreement on the HTTPS edge.

use fdt_agent_core::config::TunnelConfig;
use fdt_e2e::{HttpOrigin, Stack, StackOptions};
use fdt_proto::Proto;
use serde_json::Value;

async fn setup(names: &[&str]) -> (Stack, HttpOrigin, fdt_e2e::Agent) {
    let stack = Stack::start(StackOptions::default()).await.unwrap();
    let origin = HttpOrigin::start().await.unwrap();
    let tunnels = names
        .iter()
        .map(|n| {
            let mut t = TunnelConfig::new(Proto::Http, origin.addr.to_string());
            t.subdomain = Some((*n).to_string());
            (*n, t)
        })
        .collect();
    let agent = stack.agent(tunnels).await.unwrap();
    (stack, origin, agent)
}

/// Values of header `name` as the origin saw them.
fn seen<'a>(echo: &'a Value, name: &str) -> Option<&'a str> {
    echo["headers"][name][0].as_str()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http1_reaches_origin_with_forwarded_headers_and_without_hop_by_hop() {
    let (stack, _origin, _agent) = setup(&["web"]).await;
    let r = stack
        .curl(&stack.http_url("web", "/echo?x=1"))
        .arg("--http1.1")
        .header("Connection: x-foo")
        .header("X-Foo: secret-hop")
        .header("Keep-Alive: timeout=5")
        .header("X-Kept: yes")
        .arg("--data-binary")
        .arg("hello body")
        .run()
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.http_version, "1.1");
    let echo = r.json().unwrap();
    assert_eq!(echo["method"], "POST");
    assert_eq!(echo["path"], "/echo?x=1");
    assert_eq!(echo["body"], "hello body");
    assert_eq!(seen(&echo, "x-forwarded-for"), Some("127.0.0.1"));
    assert_eq!(seen(&echo, "x-forwarded-proto"), Some("http"));
    assert_eq!(seen(&echo, "x-forwarded-host"), Some("web.localhost"));
    let host = format!("web.localhost:{}", stack.http_addr.port());
    assert_eq!(seen(&echo, "host"), Some(host.as_str()));
    assert_eq!(seen(&echo, "x-kept"), Some("yes"));
    assert!(echo["headers"].get("x-foo").is_none(), "{echo}");
    assert!(echo["headers"].get("keep-alive").is_none(), "{echo}");
    // The agent→origin hop may carry its own Connection header, but never the visitor's token.
    let conn = seen(&echo, "connection").unwrap_or("");
    assert!(!conn.contains("x-foo"), "{echo}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn visitor_x_forwarded_for_is_extended_not_trusted() {
    let (stack, _origin, _agent) = setup(&["xff"]).await;
    let r = stack
        .curl(&stack.http_url("xff", "/echo"))
        .header("X-Forwarded-For: 203.0.113.7")
        .header("X-Forwarded-Proto: https")
        .run()
        .await
        .unwrap();
    assert_eq!(r.status, 200);
    let echo = r.json().unwrap();
    assert_eq!(
        seen(&echo, "x-forwarded-for"),
        Some("203.0.113.7, 127.0.0.1")
    );
    assert_eq!(seen(&echo, "x-forwarded-proto"), Some("http"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_over_https_reaches_origin() {
    let (stack, _origin, _agent) = setup(&["h2"]).await;
    let r = stack
        .curl(&stack.https_url("h2", "/echo"))
        .arg("--http2")
        .header("X-Kept: yes")
        .run()
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.http_version, "2");
    let echo = r.json().unwrap();
    assert_eq!(echo["method"], "GET");
    assert_eq!(echo["version"], "HTTP/1.1", "the agent hop is HTTP/1.1");
    assert_eq!(seen(&echo, "x-forwarded-for"), Some("127.0.0.1"));
    assert_eq!(seen(&echo, "x-forwarded-proto"), Some("https"));
    assert_eq!(seen(&echo, "x-forwarded-host"), Some("h2.localhost"));
    assert_eq!(seen(&echo, "x-kept"), Some("yes"));
    // The origin gets a Host header even though HTTP/2 only has :authority.
    let host = format!("h2.localhost:{}", stack.https_addr.port());
    assert_eq!(seen(&echo, "host"), Some(host.as_str()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http1_over_https_and_many_requests_on_one_h2_connection() {
    let (stack, origin, _agent) = setup(&["multi"]).await;
    let r = stack
        .curl(&stack.https_url("multi", "/echo"))
        .arg("--http1.1")
        .run()
        .await
        .unwrap();
    assert_eq!((r.status, r.http_version.as_str()), (200, "1.1"));
    // curl reuses one connection for several URLs; each is a separate exchange upstream.
    let url = stack.https_url("multi", "/echo");
    let before = origin
        .stats
        .requests
        .load(std::sync::atomic::Ordering::SeqCst);
    let r = stack
        .curl(&url)
        .arg("--http2")
        .args(["-o", "/dev/null", &url, "-o", "/dev/null", &url])
        .run()
        .await
        .unwrap();
    assert_eq!(r.status, 200);
    let after = origin
        .stats
        .requests
        .load(std::sync::atomic::Ordering::SeqCst);
    assert_eq!(after - before, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_that_differs_from_sni_is_misdirected() {
    let (stack, _origin, _agent) = setup(&["a", "b"]).await;
    let port = stack.https_addr.port();
    for version in ["--http1.1", "--http2"] {
        let r = stack
            .curl(&stack.https_url("a", "/echo"))
            .arg(version)
            .resolve("b.localhost", port)
            .header(&format!("Host: b.localhost:{port}"))
            .run()
            .await
            .unwrap();
        assert_eq!(r.status, 421, "{version}: {}", r.text());
        assert_eq!(r.error_code().as_deref(), Some("misdirected_request"));
    }
    // The same request with a matching name goes through.
    let r = stack
        .curl(&stack.https_url("b", "/echo"))
        .run()
        .await
        .unwrap();
    assert_eq!(r.status, 200);
}
