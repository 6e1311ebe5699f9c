//! Tunnels started and stopped in a running agent through its local API (ngrok's `POST` and
//! `DELETE /api/tunnels`), all on the agent's one QUIC connection, with curl as the client.

use fdt_agent_core::config::TunnelConfig;
use fdt_e2e::{Curl, HttpOrigin, Stack, StackOptions, poll_until};
use fdt_proto::Proto;
use std::time::Duration;

/// Serves the agent's local API on a loopback port; returns its base URL.
async fn serve_api(agent: &fdt_e2e::Agent) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(fdt_agent_core::api::serve(
        listener,
        agent.handle.clone(),
        agent.handle.shutdown.clone(),
    ));
    base
}

fn post_json(url: &str, body: &serde_json::Value) -> Curl {
    Curl::new(url)
        .args([
            "-X",
            "POST",
            "-H",
            "content-type: application/json",
            "--data-binary",
        ])
        .arg(body.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tunnels_start_and_stop_live_on_one_connection_without_dropping_others() {
    let stack = Stack::start(StackOptions::default()).await.unwrap();
    let (first, second, third) = (
        HttpOrigin::start().await.unwrap(),
        HttpOrigin::start().await.unwrap(),
        HttpOrigin::start().await.unwrap(),
    );
    let mut held = TunnelConfig::new(Proto::Http, first.addr.to_string());
    held.subdomain = Some("live-held".into());
    let agent = stack.agent(vec![("held", held)]).await.unwrap();
    let api = serve_api(&agent).await;
    let relay = stack.relay().unwrap();
    assert_eq!(relay.agent_connections(), 1);

    // A slow request is in flight on the first tunnel while the others come and go.
    let slow = stack
        .curl(&stack.http_url("live-held", "/hold?ms=1500"))
        .run();
    let slow = tokio::spawn(slow);
    first
        .stats
        .wait_holds(1, Duration::from_secs(10))
        .await
        .unwrap();

    let start = serde_json::json!({
        "name": "added", "proto": "http", "addr": second.addr.port(), "subdomain": "live-added",
    });
    let r = post_json(&format!("{api}/api/tunnels"), &start)
        .run()
        .await
        .unwrap();
    assert_eq!(r.status, 201, "{}", r.text());
    let created = r.json().unwrap();
    assert_eq!(created["name"], "added");
    assert_eq!(created["uri"], "/api/tunnels/added");
    assert!(
        created["public_url"]
            .as_str()
            .is_some_and(|u| u.contains("live-added.")),
        "{created}"
    );
    let r = stack
        .curl(&stack.http_url("live-added", "/echo"))
        .run()
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        second.stats.echoed.lock().unwrap().len(),
        1,
        "served by the new tunnel's origin"
    );

    // Same name again: 409, and the running tunnel is untouched.
    let r = post_json(&format!("{api}/api/tunnels"), &start)
        .run()
        .await
        .unwrap();
    assert_eq!(
        (r.status, r.error_code().as_deref()),
        (409, Some("name_in_use"))
    );
    let r = Curl::new(&format!("{api}/api/tunnels/added"))
        .run()
        .await
        .unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.json().unwrap()["public_url"], created["public_url"]);

    // A tcp tunnel too, on the same connection.
    let tcp = serde_json::json!({"name": "raw", "proto": "tcp", "addr": third.addr.to_string()});
    let r = post_json(&format!("{api}/api/tunnels"), &tcp)
        .run()
        .await
        .unwrap();
    assert_eq!(r.status, 201, "{}", r.text());
    assert!(
        r.json().unwrap()["public_url"]
            .as_str()
            .is_some_and(|u| u.starts_with("tcp://"))
    );
    let list = Curl::new(&format!("{api}/api/tunnels"))
        .run()
        .await
        .unwrap()
        .json()
        .unwrap();
    let names: Vec<_> = list["tunnels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].clone())
        .collect();
    assert_eq!(names, ["held", "added", "raw"]);
    assert_eq!(
        relay.agent_connections(),
        1,
        "every tunnel rides the agent's one connection"
    );

    // Stopped: 204, then gone for visitors and for the API.
    let r = Curl::new(&format!("{api}/api/tunnels/added"))
        .args(["-X", "DELETE"])
        .run()
        .await
        .unwrap();
    assert_eq!(r.status, 204, "{}", r.text());
    let offline = poll_until(
        Duration::from_secs(10),
        "the stopped tunnel to go offline",
        || async {
            let r = stack
                .curl(&stack.http_url("live-added", "/echo"))
                .run()
                .await
                .ok()?;
            (r.status != 200).then_some(r)
        },
    )
    .await
    .unwrap();
    assert!(
        matches!(offline.status, 404 | 502),
        "{}: {}",
        offline.status,
        offline.text()
    );
    let r = Curl::new(&format!("{api}/api/tunnels/added"))
        .run()
        .await
        .unwrap();
    assert_eq!(r.status, 404);

    // The name is free again: started anew, it is served at once.
    let r = post_json(&format!("{api}/api/tunnels"), &start)
        .run()
        .await
        .unwrap();
    assert_eq!(r.status, 201, "{}", r.text());
    let r = stack
        .curl(&stack.http_url("live-added", "/echo"))
        .run()
        .await
        .unwrap();
    assert_eq!(r.status, 200);

    // The request held through all of it completed whole.
    let r = slow.await.unwrap().unwrap();
    assert_eq!((r.status, r.text().as_str()), (200, "held"));
    assert_eq!(relay.agent_connections(), 1);
    assert_eq!(agent.status().reconnects, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_start_the_relay_refuses_answers_with_its_code_and_leaves_nothing() {
    let stack = Stack::start(StackOptions::default()).await.unwrap();
    let origin = HttpOrigin::start().await.unwrap();
    let mut t = TunnelConfig::new(Proto::Http, origin.addr.to_string());
    t.subdomain = Some("taken".into());
    let _owner = stack
        .agent_as("someone-else", vec![("t", t)])
        .await
        .unwrap();
    let agent = stack.agent(vec![]).await.unwrap();
    let api = serve_api(&agent).await;
    let body = serde_json::json!({
        "name": "mine", "proto": "http", "addr": origin.addr.port(), "subdomain": "taken",
    });
    let r = post_json(&format!("{api}/api/tunnels"), &body)
        .run()
        .await
        .unwrap();
    assert_eq!(r.status, 409, "{}", r.text());
    assert_eq!(r.error_code().as_deref(), Some("name_in_use"));
    let r = Curl::new(&format!("{api}/api/tunnels/mine"))
        .run()
        .await
        .unwrap();
    assert_eq!(r.status, 404, "a refused start leaves nothing behind");
    // Bad input never reaches the relay: 400 naming the field.
    let bad =
        serde_json::json!({"name": "x", "proto": "http", "addr": "80", "cidr_deny": ["nope"]});
    let r = post_json(&format!("{api}/api/tunnels"), &bad)
        .run()
        .await
        .unwrap();
    assert_eq!(r.status, 400);
    assert_eq!(r.json().unwrap()["error"]["field"], "cidr_deny[0]");
}
