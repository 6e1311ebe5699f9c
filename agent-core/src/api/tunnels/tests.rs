//! The tunnel routes' input checks and answers, on a handle whose agent is not connected.

#![allow(clippy::unwrap_used)]

use super::*;
use crate::agent::TunnelSet;
use crate::status::SessionState;
use axum::body::Body;
use axum::http::{Request, header};
use http_body_util::BodyExt;
use std::sync::Arc;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

/// An agent handle with tunnel `web` defined, whose status never changes.
fn handle() -> (AgentHandle, watch::Sender<AgentStatus>) {
    let set = TunnelSet::default();
    let web = TunnelConfig::new(Proto::Http, "8000")
        .resolve("web")
        .unwrap();
    set.add(web).unwrap();
    let (tx, status) = watch::channel(AgentStatus {
        state: SessionState::Online,
        relay: "relay.test:443".into(),
        session: None,
        tunnels: vec![TunnelStatus {
            name: "web".into(),
            proto: "http".into(),
            public_url: Some("https://web.relay.test".into()),
            addr: "http://localhost:8000".into(),
            error: None,
            error_code: None,
            managed_id: None,
        }],
        last_error: None,
        reconnects: 0,
    });
    let agent = AgentHandle {
        status,
        counters: Arc::default(),
        shutdown: CancellationToken::new(),
        inspector: None,
        replays: set.replays(),
        tunnels: Some(set),
        standby: None,
    };
    (agent, tx)
}

async fn call(
    agent: &AgentHandle,
    method: &str,
    path: &str,
    body: &str,
) -> (u16, serde_json::Value) {
    let req = Request::builder()
        .method(method)
        .uri(path)
        .header(header::HOST, "127.0.0.1:4040")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    let resp = crate::api::app(agent.clone()).oneshot(req).await.unwrap();
    let status = resp.status().as_u16();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    let json = if bytes.is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap()
    };
    (status, json)
}

#[tokio::test]
async fn bad_input_gets_400_naming_the_field() {
    let (agent, _tx) = handle();
    let long = "a".repeat(200);
    let cases = [
        (
            r#"{"name":"x","proto":"ftp","addr":"80"}"#.to_string(),
            "proto",
        ),
        (
            r#"{"name":"x","proto":"http","addr":"0"}"#.to_string(),
            "addr",
        ),
        (
            r#"{"name":"x","proto":"http","addr":80,"cidr_allow":["10.0.0.0/33"]}"#.to_string(),
            "cidr_allow[0]",
        ),
        (
            format!(r#"{{"name":"{long}","proto":"http","addr":"80"}}"#),
            "name",
        ),
        (r#"{"proto":"http","addr":"80"}"#.to_string(), "name"),
        (
            r#"{"name":"x","proto":"http","addr":"80","colour":"red"}"#.to_string(),
            "colour",
        ),
        (
            r#"{"name":"x","proto":"tcp","addr":"22","remote_addr":"nohost"}"#.to_string(),
            "remote_addr",
        ),
        (
            r#"{"name":"x","proto":"tcp","addr":"22","auth":"u:p"}"#.to_string(),
            "basic_auth",
        ),
        (
            r#"{"name":"x","proto":"http","addr":"80","hostname":"app.example.com"}"#.to_string(),
            "hostname",
        ),
    ];
    for (body, field) in cases {
        let (status, json) = call(&agent, "POST", "/api/tunnels", &body).await;
        assert_eq!(status, 400, "{body} -> {json}");
        assert_eq!(json["error"]["field"], field, "{body} -> {json}");
        assert!(
            json["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty())
        );
    }
    let (status, json) = call(&agent, "POST", "/api/tunnels", "not json").await;
    assert_eq!(status, 400, "{json}");
    // Nothing was added by any of them.
    let names: Vec<_> = agent
        .tunnels
        .as_ref()
        .unwrap()
        .snapshot()
        .into_iter()
        .map(|t| t.spec.name)
        .collect();
    assert_eq!(names, ["web"]);
}

#[tokio::test]
async fn a_name_in_use_gets_409_and_unknown_names_404() {
    let (agent, _tx) = handle();
    let (status, json) = call(
        &agent,
        "POST",
        "/api/tunnels",
        r#"{"name":"web","proto":"tcp","addr":22}"#,
    )
    .await;
    assert_eq!(
        (status, json["error"]["code"].as_str()),
        (409, Some("name_in_use")),
        "{json}"
    );
    let (status, json) = call(&agent, "GET", "/api/tunnels/web", "").await;
    assert_eq!(status, 200);
    assert_eq!(json["public_url"], "https://web.relay.test");
    assert_eq!(json["uri"], "/api/tunnels/web");
    assert_eq!(json["proto"], "https");
    assert_eq!(call(&agent, "GET", "/api/tunnels/nope", "").await.0, 404);
    assert_eq!(call(&agent, "DELETE", "/api/tunnels/nope", "").await.0, 404);
    assert_eq!(call(&agent, "DELETE", "/api/tunnels/web", "").await.0, 204);
    assert!(agent.tunnels.as_ref().unwrap().get("web").is_none());
    assert_eq!(call(&agent, "DELETE", "/api/tunnels/web", "").await.0, 404);
}

#[tokio::test(start_paused = true)]
async fn a_start_that_is_never_bound_times_out_and_leaves_nothing_behind() {
    let (agent, _tx) = handle();
    let (status, json) = call(
        &agent,
        "POST",
        "/api/tunnels",
        r#"{"name":"ssh","proto":"tcp","addr":"22"}"#,
    )
    .await;
    assert_eq!(
        (status, json["error"]["code"].as_str()),
        (504, Some("bind_timeout")),
        "{json}"
    );
    assert!(agent.tunnels.as_ref().unwrap().get("ssh").is_none());
}

#[tokio::test]
async fn a_start_the_relay_refuses_is_removed_and_maps_the_code() {
    let (agent, tx) = handle();
    let a = agent.clone();
    let call_fut = tokio::spawn(async move {
        call(
            &a,
            "POST",
            "/api/tunnels",
            r#"{"name":"api","proto":"http","addr":"9000","subdomain":"taken"}"#,
        )
        .await
    });
    // Play the session's part: the tunnel gets its line, then the relay's refusal.
    let set = agent.tunnels.clone().unwrap();
    let mut changes = set.subscribe();
    changes
        .wait_for(|d| d.iter().any(|t| t.spec.name == "api"))
        .await
        .unwrap();
    tx.send_modify(|s| {
        let mut line = TunnelStatus::offline(&set.get("api").unwrap());
        line.error = Some("subdomain taken (name_in_use)".into());
        line.error_code = Some(ErrorCode::NameInUse);
        s.tunnels.push(line);
    });
    let (status, json) = call_fut.await.unwrap();
    assert_eq!(
        (status, json["error"]["code"].as_str()),
        (409, Some("name_in_use")),
        "{json}"
    );
    assert!(set.get("api").is_none());
}

#[tokio::test]
async fn the_status_shows_an_ha_agents_standby_session() {
    let (agent, _tx) = handle();
    let (_, alone) = call(&agent, "GET", "/api/status", "").await;
    assert_eq!(alone["standby"], serde_json::Value::Null);
    assert_eq!(alone["status"]["relay"], "relay.test:443");
    let mut standby = agent.status.borrow().clone();
    standby.relay = "other.test:443".into();
    let (_standby_tx, standby_rx) = watch::channel(standby);
    let agent = AgentHandle {
        standby: Some(standby_rx),
        ..agent
    };
    let (status, both) = call(&agent, "GET", "/api/status", "").await;
    assert_eq!(status, 200);
    assert_eq!(both["status"]["relay"], "relay.test:443");
    assert_eq!(both["standby"]["relay"], "other.test:443");
    assert_eq!(both["standby"]["tunnels"][0]["name"], "web");
}
