//! Replays, as is and edited: they reach the local service, and nothing else.

use super::{echo_of, setup};
use fdt_agent_core::InspectConfig;
use fdt_e2e::HttpOrigin;
use serde_json::json;
use std::sync::atomic::Ordering;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replays_reach_the_local_service_and_nothing_else() {
    let (stack, origin, agent) = setup(&["rp"], InspectConfig::default()).await;
    let other = HttpOrigin::start().await.unwrap();
    agent
        .http
        .post(stack.http_url("rp", "/echo?orig=1"))
        .header("X-Keep", "yes")
        .body("original body")
        .send()
        .await
        .unwrap();
    let list = agent.wait_requests("", 1).await.unwrap();
    let id = list[0]["id"].as_str().unwrap().to_string();
    let seen_before = origin.stats.requests.load(Ordering::SeqCst);

    // As is.
    let r = agent
        .replay(&json!({"id": id, "tunnel_name": "rp"}))
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["status"], 200);
    assert_eq!(
        origin.stats.requests.load(Ordering::SeqCst),
        seen_before + 1
    );
    let new_id = r.json()["id"].as_str().unwrap().to_string();
    let ex = agent.wait_exchange(&new_id, |_| true).await.unwrap();
    assert_eq!(ex["replay_of"], id.as_str());
    let echoed = echo_of(&ex);
    assert_eq!(echoed["body"], "original body");
    assert_eq!(echoed["path"], "/echo?orig=1");
    assert_eq!(echoed["headers"]["x-keep"], json!(["yes"]));

    // Edited: method, path, headers and body.
    let modify = json!({
        "method": "PUT",
        "path": "/echo?edited=1",
        "headers": {"set": {"X-Edited": "it's \"yes\""}, "remove": ["X-Keep"]},
        "body": {"base64": "Y2hhbmdlZA=="},
    });
    let r = agent
        .replay(&json!({"id": id, "modify": modify}))
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.text);
    let ex = agent
        .wait_exchange(r.json()["id"].as_str().unwrap(), |_| true)
        .await
        .unwrap();
    let echoed = echo_of(&ex);
    assert_eq!(echoed["method"], "PUT");
    assert_eq!(echoed["path"], "/echo?edited=1");
    assert_eq!(echoed["body"], "changed");
    assert_eq!(echoed["headers"]["x-edited"], json!(["it's \"yes\""]));
    assert!(echoed["headers"].get("x-keep").is_none());
    assert_eq!(
        origin.stats.requests.load(Ordering::SeqCst),
        seen_before + 2
    );

    // Anything aimed elsewhere is refused before a byte leaves the agent.
    let other_port = other.addr.port();
    let refused = [
        json!({"id": id, "modify": {"path": "http://169.254.169.254/latest/meta-data/"}}),
        json!({"id": id, "modify": {"path": format!("http://127.0.0.1:{other_port}/echo")}}),
        json!({"id": id, "modify": {"path": format!("//127.0.0.1:{other_port}/echo")}}),
        json!({"id": id, "modify": {"path": "/a/../../etc"}}),
        json!({"id": id, "modify": {"headers": {"set": {"Host": format!("127.0.0.1:{other_port}")}}}}),
        json!({"id": id, "modify": {"headers": {"set": {"Host": "169.254.169.254"}}}}),
    ];
    for body in refused {
        let r = agent.replay(&body).await.unwrap();
        assert_eq!(r.status, 400, "{body}: {}", r.text);
        assert_eq!(r.json()["error"]["code"], "replay_refused", "{}", r.text);
    }
    let r = agent
        .replay(&json!({"id": id, "url": "http://169.254.169.254/"}))
        .await
        .unwrap();
    assert_eq!(r.status, 400, "{}", r.text);
    let r = agent
        .replay(&json!({"id": id, "tunnel_name": "other"}))
        .await
        .unwrap();
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(
        origin.stats.requests.load(Ordering::SeqCst),
        seen_before + 2
    );
    assert_eq!(other.stats.requests.load(Ordering::SeqCst), 0);

    // A web page of another origin cannot drive replays (no CORS preflight for a form POST).
    let body = json!({"id": id}).to_string();
    let cross = agent
        .http
        .post(agent.api_url("/api/requests/http"))
        .header("Origin", "https://evil.example")
        .header("Content-Type", "application/json")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(cross.status(), 403);
    let form = agent
        .http
        .post(agent.api_url("/api/requests/http"))
        .header("Content-Type", "text/plain")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), 415);
    assert_eq!(
        origin.stats.requests.load(Ordering::SeqCst),
        seen_before + 2
    );

    // The library entry point applies the same guard.
    let spec = fdt_agent_core::ReplaySpec {
        method: "GET".into(),
        path: "http://169.254.169.254/".into(),
        headers: vec![],
        body: Default::default(),
        replay_of: None,
    };
    let e = agent.handle.replay("rp", spec, None).await.unwrap_err();
    assert!(matches!(e, fdt_agent_core::ReplayError::Refused(_)), "{e}");
}
