//! Header rules and host rewrite applied at the edge, seen from the origin and the visitor.

use fdt_agent_core::config::TunnelConfig;
use fdt_e2e::{HttpOrigin, Stack, StackOptions};
use fdt_proto::Proto;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_and_response_header_rules_and_host_rewrite() {
    let stack = Stack::start(StackOptions::default()).await.unwrap();
    let origin = HttpOrigin::start().await.unwrap();
    let mut rules = TunnelConfig::new(Proto::Http, origin.addr.to_string());
    rules.subdomain = Some("rules".into());
    rules.request_header_add = vec!["X-Added: from-edge".into()];
    rules.request_header_remove = vec!["X-Drop-Me".into()];
    rules.response_header_add = vec!["X-Served-By: fdt".into()];
    rules.response_header_remove = vec!["Content-Type".into()];
    rules.host_header = Some("rewrite".into());
    let mut keep = TunnelConfig::new(Proto::Http, origin.addr.to_string());
    keep.subdomain = Some("keep".into());
    let _agent = stack
        .agent(vec![("rules", rules), ("keep", keep)])
        .await
        .unwrap();

    let r = stack
        .curl(&stack.http_url("rules", "/echo"))
        .header("X-Drop-Me: secret")
        .header("X-Kept: yes")
        .run()
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    let echo = r.json().unwrap();
    let h = &echo["headers"];
    assert_eq!(h["x-added"][0], "from-edge", "{echo}");
    assert!(h.get("x-drop-me").is_none(), "{echo}");
    assert_eq!(h["x-kept"][0], "yes");
    // `rewrite` sends the local address the agent forwards to as Host.
    assert_eq!(h["host"][0], origin.addr.to_string(), "{echo}");
    // The edge and the agent hop's own metadata never reach the service.
    assert!(h.get("x-fdt-visitor").is_none(), "{echo}");
    assert_eq!(r.header("x-served-by"), Some("fdt"));
    assert!(r.header("content-type").is_none(), "{:?}", r.headers);

    // Without rules the visitor's Host is preserved and nothing is added.
    let r = stack
        .curl(&stack.http_url("keep", "/echo"))
        .run()
        .await
        .unwrap();
    let echo = r.json().unwrap();
    let host = echo["headers"]["host"][0].as_str().unwrap().to_string();
    assert!(host.starts_with("keep.localhost"), "{echo}");
    assert!(echo["headers"].get("x-added").is_none());
    assert!(r.header("x-served-by").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_upstream_is_verified_unless_told_otherwise() {
    let stack = Stack::start(StackOptions::default()).await.unwrap();
    // The origin's certificate comes from the stack's dev CA, which public roots do not trust.
    let origin = HttpOrigin::start_tls(stack.dev_ca(), &["127.0.0.1".to_string()])
        .await
        .unwrap();
    let url = format!("https://127.0.0.1:{}", origin.addr.port());
    let mut strict = TunnelConfig::new(Proto::Http, url.clone());
    strict.subdomain = Some("strict".into());
    let mut insecure = TunnelConfig::new(Proto::Http, url);
    insecure.subdomain = Some("lax".into());
    insecure.upstream_insecure = true;
    let _agent = stack
        .agent(vec![("strict", strict), ("lax", insecure)])
        .await
        .unwrap();

    let ok = stack
        .curl(&stack.http_url("lax", "/echo"))
        .run()
        .await
        .unwrap();
    assert_eq!(ok.status, 200, "{}", ok.text());
    assert_eq!(ok.json().unwrap()["path"], "/echo");

    let refused = stack
        .curl(&stack.http_url("strict", "/echo"))
        .run()
        .await
        .unwrap();
    assert_eq!(refused.status, 502, "{}", refused.text());
    assert_eq!(
        refused.error_code().as_deref(),
        Some("upstream_unreachable")
    );
    assert_eq!(
        origin
            .stats
            .requests
            .load(std::sync::atomic::Ordering::SeqCst),
        1,
        "only the insecure tunnel's request reached the origin"
    );
}
