//! Edge policy seen from a real client: basic auth, IP allow/deny lists (not fooled by
//! X-Forwarded-For) and the per-tunnel stream limit.

use fdt_agent_core::config::TunnelConfig;
use fdt_e2e::stack::test_limits;
use fdt_e2e::{HttpOrigin, Stack, StackOptions, within};
use fdt_proto::Proto;
use fdt_relay::config::Limits;
use std::time::{Duration, Instant};

fn http_tunnel(origin: &HttpOrigin, sub: &str) -> TunnelConfig {
    let mut t = TunnelConfig::new(Proto::Http, origin.addr.to_string());
    t.subdomain = Some(sub.to_string());
    t
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic_auth_challenges_refuses_and_admits_and_hides_credentials() {
    let stack = Stack::start(StackOptions::default()).await.unwrap();
    let origin = HttpOrigin::start().await.unwrap();
    let mut t = http_tunnel(&origin, "private");
    t.basic_auth = vec!["alice:s3cret".into()];
    let _agent = stack.agent(vec![("private", t)]).await.unwrap();
    let url = stack.http_url("private", "/echo");

    let none = stack.curl(&url).run().await.unwrap();
    assert_eq!(none.status, 401, "{}", none.text());
    assert!(
        none.header("www-authenticate")
            .unwrap()
            .starts_with("Basic "),
        "{:?}",
        none.headers
    );
    assert_eq!(none.error_code().as_deref(), Some("auth_required"));

    for wrong in ["alice:wrong", "mallory:s3cret", "alice:s3cret2"] {
        let r = stack.curl(&url).arg("-u").arg(wrong).run().await.unwrap();
        assert_eq!(r.status, 401, "{wrong}");
        assert!(r.header("www-authenticate").is_some());
    }
    let before = origin
        .stats
        .requests
        .load(std::sync::atomic::Ordering::SeqCst);
    assert_eq!(before, 0, "refused requests must not reach the origin");

    for (scheme, url) in [
        ("http", url.clone()),
        ("https", stack.https_url("private", "/echo")),
    ] {
        let ok = stack
            .curl(&url)
            .arg("-u")
            .arg("alice:s3cret")
            .run()
            .await
            .unwrap();
        assert_eq!(ok.status, 200, "{scheme}: {}", ok.text());
        let echo = ok.json().unwrap();
        assert!(
            echo["headers"].get("authorization").is_none(),
            "{scheme}: the origin saw the edge credentials: {echo}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cidr_lists_use_the_socket_address_not_forwarded_headers() {
    let stack = Stack::start(StackOptions::default()).await.unwrap();
    let origin = HttpOrigin::start().await.unwrap();
    let mut deny = http_tunnel(&origin, "deny");
    deny.cidr_deny = vec!["127.0.0.0/8".parse().unwrap()];
    let mut allow10 = http_tunnel(&origin, "allow10");
    allow10.cidr_allow = vec!["10.0.0.0/8".parse().unwrap()];
    let mut allow127 = http_tunnel(&origin, "allow127");
    allow127.cidr_allow = vec!["127.0.0.1/32".parse().unwrap()];
    let _agent = stack
        .agent(vec![
            ("deny", deny),
            ("allow10", allow10),
            ("allow127", allow127),
        ])
        .await
        .unwrap();

    let spoofs = [
        None,
        Some("X-Forwarded-For: 10.1.2.3"),
        Some("X-Real-IP: 10.1.2.3"),
        Some("Forwarded: for=10.1.2.3"),
    ];
    for name in ["deny", "allow10"] {
        for spoof in spoofs {
            for url in [
                stack.http_url(name, "/echo"),
                stack.https_url(name, "/echo"),
            ] {
                let mut c = stack.curl(&url);
                if let Some(h) = spoof {
                    c = c.header(h);
                }
                let r = c.run().await.unwrap();
                assert_eq!(r.status, 403, "{url} with {spoof:?}: {}", r.text());
                assert_eq!(r.error_code().as_deref(), Some("ip_forbidden"));
            }
        }
    }
    assert_eq!(
        origin
            .stats
            .requests
            .load(std::sync::atomic::Ordering::SeqCst),
        0
    );
    let r = stack
        .curl(&stack.http_url("allow127", "/echo"))
        .header("X-Forwarded-For: 10.1.2.3")
        .run()
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn third_concurrent_request_gets_503_when_tunnel_allows_two_streams() {
    let limits = Limits {
        max_streams_per_tunnel: 2,
        ..test_limits()
    };
    let stack = Stack::start(StackOptions {
        limits,
        ..StackOptions::default()
    })
    .await
    .unwrap();
    let origin = HttpOrigin::start().await.unwrap();
    let _agent = stack
        .agent(vec![("busy", http_tunnel(&origin, "busy"))])
        .await
        .unwrap();
    let hold = stack.http_url("busy", "/hold?ms=15000");
    let mut holders = Vec::new();
    for _ in 0..2 {
        let c = stack.curl(&hold).timeout(Duration::from_secs(20));
        holders.push(tokio::spawn(c.run()));
    }
    origin
        .stats
        .wait_holds(2, Duration::from_secs(10))
        .await
        .unwrap();

    let started = Instant::now();
    let r = within(
        Duration::from_secs(10),
        "third request",
        stack.curl(&stack.http_url("busy", "/echo")).run(),
    )
    .await
    .unwrap()
    .unwrap();
    let took = started.elapsed();
    assert_eq!(r.status, 503, "{}", r.text());
    assert_eq!(r.error_code().as_deref(), Some("tunnel_busy"));
    assert!(r.header("retry-after").is_some(), "{:?}", r.headers);
    // Refused at once rather than queued behind the 15 s holds.
    assert!(took < Duration::from_secs(5), "503 took {took:?}");
    for h in holders {
        h.abort();
    }
}
