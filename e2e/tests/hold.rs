//! Hold and forward: requests for a name whose agent is reconnecting wait for it (within a
//! window and a budget) and reach the local service exactly once when it is back; what cannot
//! be held is refused 503 `tunnel_reconnecting`.

use fdt_agent_core::config::TunnelConfig;
use fdt_e2e::pattern::{Pattern, pattern_sha256};
use fdt_e2e::stack::test_limits;
use fdt_e2e::{CurlResponse, HttpOrigin, Stack, StackOptions, poll_until};
use fdt_proto::Proto;
use fdt_relay::config::Limits;
use fdt_relay::edge::hold_budget::{HoldBudget, HoldUsage};
use fdt_relay::registry::{HostLookup, Registry};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

const MIB: u64 = 1024 * 1024;

fn http_tunnel(origin: &HttpOrigin, sub: &str) -> TunnelConfig {
    let mut t = TunnelConfig::new(Proto::Http, origin.addr.to_string());
    t.subdomain = Some(sub.to_string());
    t
}

/// Test limits with holding on for `ms`.
fn holding(ms: u64) -> Limits {
    Limits {
        hold_ms: ms,
        ..test_limits()
    }
}

async fn stack_with(limits: Limits) -> Stack {
    Stack::start(StackOptions {
        limits,
        ..StackOptions::default()
    })
    .await
    .unwrap()
}

fn registry(stack: &Stack) -> &Registry {
    stack.relay().unwrap().registry()
}

fn holds(stack: &Stack) -> &HoldBudget {
    stack.relay().unwrap().holds()
}

/// A relay with `limits` and an origin, and `sub` bound by an agent that then left: the agent
/// answered once, stopped, and the relay has noticed (the name is offline, not still bound to
/// the dead connection).
async fn offline_name(sub: &str, limits: Limits) -> (Stack, HttpOrigin) {
    let stack = stack_with(limits).await;
    let origin = HttpOrigin::start().await.unwrap();
    let mut agent = stack
        .agent(vec![(sub, http_tunnel(&origin, sub))])
        .await
        .unwrap();
    let r = stack
        .curl(&stack.http_url(sub, "/echo"))
        .run()
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    agent.stop().await.unwrap();
    let host = stack.host(sub);
    poll_until(Duration::from_secs(10), "name offline at the relay", || {
        let offline = matches!(registry(&stack).lookup_host(&host), HostLookup::Offline);
        async move { offline.then_some(()) }
    })
    .await
    .unwrap();
    (stack, origin)
}

/// Asserts the relay's answer to a request it could not hold.
fn assert_reconnecting(r: &CurlResponse) {
    assert_eq!(r.status, 503, "{}", r.text());
    assert_eq!(r.error_code().as_deref(), Some("tunnel_reconnecting"));
    assert!(r.header("retry-after").is_some(), "{:?}", r.headers);
}

/// Waits until `n` requests are held for `sub`.
async fn held(stack: &Stack, sub: &str, n: usize) {
    let host = stack.host(sub);
    poll_until(Duration::from_secs(10), "requests held", || {
        let now = holds(stack).usage(&host).requests;
        async move { (now == n).then_some(()) }
    })
    .await
    .unwrap();
}

/// Waits until the relay holds nothing.
async fn nothing_held(stack: &Stack) {
    poll_until(Duration::from_secs(10), "hold budget released", || {
        let total = holds(stack).total();
        async move { (total == HoldUsage::default()).then_some(()) }
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_posted_while_the_agent_restarts_arrives_once_and_intact() {
    let (stack, origin) = offline_name("hook", holding(15_000)).await;
    let before = origin.stats.requests.load(Ordering::SeqCst);

    // A webhook-style POST with a Content-Length body, and a chunked one (curl sends
    // `Expect: 100-continue` for it): both are held, bodies buffered.
    let body = stack.scratch().join("payload.bin");
    std::fs::write(&body, Pattern::new(11).take(MIB as usize)).unwrap();
    let url = stack.http_url("hook", "/upload");
    let post = stack
        .curl(&url)
        .header("Content-Type: application/octet-stream")
        .arg("--data-binary")
        .arg(format!("@{}", body.display()));
    let post = tokio::spawn(post.run());
    let chunked = stack.curl(&url).arg("-X").arg("POST");
    let chunked = tokio::spawn(chunked.upload_pattern(12, 300 * 1024));
    held(&stack, "hook", 2).await;

    // The agent comes back a moment later, as a reconnecting one does.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let _agent = stack
        .agent(vec![("hook", http_tunnel(&origin, "hook"))])
        .await
        .unwrap();

    let r = post.await.unwrap().unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json().unwrap();
    assert_eq!(v["len"], MIB);
    assert_eq!(v["sha256"], pattern_sha256(11, MIB));
    let (r, sent) = chunked.await.unwrap().unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json().unwrap()["sha256"], sent.as_str());
    assert_eq!(
        origin.stats.requests.load(Ordering::SeqCst) - before,
        2,
        "each held request reached the origin exactly once"
    );
    nothing_held(&stack).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn held_request_is_refused_503_when_the_agent_does_not_return() {
    let (stack, origin) = offline_name("late", holding(1_000)).await;
    let before = origin.stats.requests.load(Ordering::SeqCst);

    for url in [
        stack.http_url("late", "/echo"),
        stack.https_url("late", "/echo"),
    ] {
        let started = Instant::now();
        let r = stack
            .curl(&url)
            .arg("--data-binary")
            .arg("payload")
            .run()
            .await
            .unwrap();
        let waited = started.elapsed();
        assert_reconnecting(&r);
        assert!(
            waited >= Duration::from_millis(900),
            "held for the window first: {waited:?}"
        );
        assert!(waited < Duration::from_secs(5), "{waited:?}");
    }
    assert_eq!(origin.stats.requests.load(Ordering::SeqCst), before);
    nothing_held(&stack).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_the_per_name_budget_requests_are_refused_at_once() {
    let (stack, origin) = offline_name(
        "full",
        Limits {
            hold_max_requests: 2,
            hold_max_bytes: 64 * 1024,
            ..holding(20_000)
        },
    )
    .await;
    let url = stack.http_url("full", "/echo");
    let waiting: Vec<_> = (0..2)
        .map(|_| tokio::spawn(stack.curl(&url).run()))
        .collect();
    held(&stack, "full", 2).await;

    // Over the count, and (another name would have its own budget) over the bytes.
    let started = Instant::now();
    let r = stack.curl(&url).run().await.unwrap();
    assert_reconnecting(&r);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "refused at once"
    );
    assert_eq!(holds(&stack).usage(&stack.host("full")).requests, 2);

    // The held ones are still forwarded when the agent is back.
    let _agent = stack
        .agent(vec![("full", http_tunnel(&origin, "full"))])
        .await
        .unwrap();
    for w in waiting {
        let r = w.await.unwrap().unwrap();
        assert_eq!(r.status, 200, "{}", r.text());
    }
    nothing_held(&stack).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_over_the_byte_budget_is_not_held() {
    let (stack, origin) = offline_name(
        "big",
        Limits {
            hold_max_bytes: 64 * 1024,
            ..holding(20_000)
        },
    )
    .await;
    let before = origin.stats.requests.load(Ordering::SeqCst);
    let body = stack.scratch().join("big.bin");
    std::fs::write(&body, vec![b'x'; 100 * 1024]).unwrap();
    let started = Instant::now();
    let r = stack
        .curl(&stack.http_url("big", "/upload"))
        .arg("--data-binary")
        .arg(format!("@{}", body.display()))
        .run()
        .await
        .unwrap();
    assert_reconnecting(&r);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "refused at once"
    );
    assert_eq!(origin.stats.requests.load(Ordering::SeqCst), before);
    nothing_held(&stack).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_visitor_that_gives_up_releases_its_hold() {
    let (stack, _origin) = offline_name("quit", holding(20_000)).await;
    let impatient = stack
        .curl(&stack.http_url("quit", "/echo"))
        .timeout(Duration::from_secs(1));
    let impatient = tokio::spawn(impatient.run());
    held(&stack, "quit", 1).await;
    let _ = impatient.await.unwrap();
    // Released well before the 20 s window ends.
    nothing_held(&stack).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn held_request_meets_the_policy_of_the_tunnel_that_serves_it() {
    let (stack, origin) = offline_name("guarded", holding(15_000)).await;
    let before = origin.stats.requests.load(Ordering::SeqCst);
    let url = stack.http_url("guarded", "/echo");
    let anonymous = tokio::spawn(stack.curl(&url).run());
    let authed = tokio::spawn(stack.curl(&url).arg("-u").arg("user:secret").run());
    held(&stack, "guarded", 2).await;

    // The agent comes back with basic auth turned on.
    let mut t = http_tunnel(&origin, "guarded");
    t.basic_auth = vec!["user:secret".into()];
    let _agent = stack.agent(vec![("guarded", t)]).await.unwrap();

    let r = anonymous.await.unwrap().unwrap();
    assert_eq!(r.status, 401, "{}", r.text());
    let r = authed.await.unwrap().unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(
        r.json().unwrap()["headers"].get("authorization").is_none(),
        "credentials stay at the edge"
    );
    assert_eq!(origin.stats.requests.load(Ordering::SeqCst) - before, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_names_are_not_held() {
    let stack = stack_with(holding(20_000)).await;
    let started = Instant::now();
    let r = stack
        .curl(&stack.http_url("neverbound", "/x"))
        .run()
        .await
        .unwrap();
    assert_eq!(r.status, 404, "{}", r.text());
    assert_eq!(r.error_code().as_deref(), Some("tunnel_not_found"));
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "answered at once"
    );
    assert_eq!(holds(&stack).total(), HoldUsage::default());
}

/// Regression: while a name's agent reconnected, another account could bind the name and
/// receive the visitors' held requests (cookies, Authorization, webhook bodies).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_account_cannot_take_a_held_name_within_the_grace_period() {
    let (stack, _origin) = offline_name("steal", holding(3_000)).await;
    let thief_origin = HttpOrigin::start().await.unwrap();
    let url = stack.http_url("steal", "/echo");
    let post = stack
        .curl(&url)
        .header("Authorization: Bearer visitor-secret")
        .arg("--data-binary")
        .arg("webhook-body");
    let post = tokio::spawn(post.run());
    held(&stack, "steal", 1).await;

    let taken = stack
        .agent_as(
            "mallory",
            vec![("steal", http_tunnel(&thief_origin, "steal"))],
        )
        .await;
    let Err(err) = taken else {
        panic!("another account must be refused the name");
    };
    assert!(
        format!("{err:#}").contains("already bound"),
        "refused as in use: {err:#}"
    );
    assert_reconnecting(&post.await.unwrap().unwrap());
    assert_eq!(thief_origin.stats.requests.load(Ordering::SeqCst), 0);
    nothing_held(&stack).await;
}

/// Past the grace period another account may bind the name, but requests held for the old
/// owner still never reach it: they are refused 503.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn held_requests_never_reach_another_accounts_tunnel() {
    let limits = Limits {
        name_grace_ms: 3_000,
        ..holding(3_000)
    };
    let (stack, _origin) = offline_name("moved", limits).await;
    // Held after part of the grace period has run, so the hold outlasts it.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let thief_origin = HttpOrigin::start().await.unwrap();
    let post = stack
        .curl(&stack.http_url("moved", "/echo"))
        .arg("--data-binary")
        .arg("webhook-body");
    let post = tokio::spawn(post.run());
    held(&stack, "moved", 1).await;
    let mut thief = None;
    poll_until(Duration::from_secs(10), "the grace period ends", || {
        let stack = &stack;
        let origin = &thief_origin;
        async move {
            stack
                .agent_as("mallory", vec![("moved", http_tunnel(origin, "moved"))])
                .await
                .ok()
        }
    })
    .await
    .map(|a| thief = Some(a))
    .unwrap();
    assert_reconnecting(&post.await.unwrap().unwrap());
    assert_eq!(thief_origin.stats.requests.load(Ordering::SeqCst), 0);
    // New requests are the new owner's.
    let r = stack
        .curl(&stack.http_url("moved", "/echo"))
        .run()
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(thief_origin.stats.requests.load(Ordering::SeqCst), 1);
    drop(thief);
}
