//! Operator actions reaching a real relay: a drain asked through the admin API reaches the
//! relay in its heartbeat answer, the relay reports itself draining, and agents are no longer
//! sent to it; undoing the drain brings it back. On SQLite and (with `FDT_TEST_PG_URL`)
//! PostgreSQL.

use fdt_api::{AgentSessionRequest, ErrorCode};
use fdt_e2e::Cloud;
use fdt_e2e::cloud::TestDb as Db;
use std::time::Duration;

fdt_cloud::on_both_databases!(
    a_drained_relay_gets_no_new_agents,
    a_force_closed_tunnel_is_announced_to_its_agent,
    a_smaller_plan_stops_the_newest_tunnels_over_its_limit_with_the_reason,
);

/// An account made an operator.
pub(crate) async fn operator(cloud: &Cloud) -> fdt_e2e::cloud::CloudAccount {
    let ops = cloud.account("ops@example.com").await.unwrap();
    assert!(
        cloud
            .state
            .store()
            .grant_admin("ops@example.com")
            .await
            .unwrap()
    );
    ops
}

async fn relay_draining(cloud: &Cloud) -> Option<bool> {
    let relays = cloud.state.store().list_relays().await.unwrap();
    relays.iter().find(|r| r.id == "local").map(|r| r.draining)
}

async fn a_drained_relay_gets_no_new_agents(db: &Db) {
    let (cloud, stack) = Cloud::with_attached_relay(db.store.clone()).await.unwrap();
    let ops = operator(&cloud).await;
    let token = ops.access_token.expose_secret().to_owned();
    fdt_e2e::poll_until(Duration::from_secs(10), "relay registered", || async {
        (relay_draining(&cloud).await == Some(false)).then_some(())
    })
    .await
    .unwrap();

    let drain = |on: bool| drain(&cloud, &token, "local", on);
    assert_eq!(drain(true).await.unwrap().status, 204);
    fdt_e2e::poll_until(
        Duration::from_secs(10),
        "relay reports draining",
        || async { (relay_draining(&cloud).await == Some(true)).then_some(()) },
    )
    .await
    .unwrap();
    let err = ops
        .client
        .agent_session(&ops.authtoken.token, &AgentSessionRequest::default())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(&ErrorCode::NoRelayAvailable), "{err}");

    assert_eq!(drain(false).await.unwrap().status, 204);
    fdt_e2e::poll_until(Duration::from_secs(10), "relay back in service", || async {
        (relay_draining(&cloud).await == Some(false)).then_some(())
    })
    .await
    .unwrap();
    let ok = ops
        .client
        .agent_session(&ops.authtoken.token, &AgentSessionRequest::default())
        .await
        .unwrap();
    assert_eq!(ok.relays[0].id, "local");
    stack.shutdown().await.unwrap();
}

async fn a_force_closed_tunnel_is_announced_to_its_agent(db: &Db) {
    let (cloud, stack) = Cloud::with_attached_relay(db.store.clone()).await.unwrap();
    let ops = operator(&cloud).await;
    let owner = cloud.account("owner@example.com").await.unwrap();
    let origin = fdt_e2e::HttpOrigin::start().await.unwrap();
    let mut t =
        fdt_agent_core::config::TunnelConfig::new(fdt_proto::Proto::Http, origin.addr.to_string());
    t.subdomain = Some("closeme".into());
    let login = fdt_agent_core::CloudLogin {
        api_url: cloud.url.clone(),
        authtoken: owner.authtoken_secret(),
        region: None,
        relay_ca: Some(stack.ca_path()),
    };
    let mut agent = stack
        .spawn_agent_via(fdt_agent_core::Connect::Cloud(login), vec![("web", t)])
        .unwrap();
    agent.wait_bound().await.unwrap();
    let url = stack.http_url("closeme", "/echo");
    assert_eq!(stack.curl(&url).run().await.unwrap().status, 200);
    let tunnel = owner.live_tunnels().await.unwrap()[0].id.clone();

    let r = fdt_e2e::client::Curl::new(&format!("{}/v1/admin/tunnels/{tunnel}", cloud.url))
        .header(&format!(
            "Authorization: Bearer {}",
            ops.access_token.expose_secret()
        ))
        .arg("-X")
        .arg("DELETE")
        .run()
        .await
        .unwrap();
    assert_eq!(r.status, 204, "{}", r.text());
    // Within a heartbeat the relay closes it and tells the agent, which shows why.
    let status = fdt_e2e::poll_until(Duration::from_secs(10), "agent told of the close", || {
        let s = agent.status();
        async move {
            s.tunnels
                .iter()
                .find(|t| t.name == "web")
                .and_then(|t| t.error.clone())
                .map(|e| (e, s.tunnels[0].public_url.clone()))
        }
    })
    .await
    .unwrap();
    assert!(status.0.contains("closed by the relay"), "{}", status.0);
    assert_eq!(status.1, None);
    let r = stack.curl(&url).run().await.unwrap();
    assert_ne!(
        r.status, 200,
        "the closed tunnel no longer reaches the origin"
    );
    let _ = agent.stop().await;
    stack.shutdown().await.unwrap();
}

/// A plan that shrinks (here an operator's change; a subscription's end does the same through
/// `billing::entitlement::set_plan`) stops the tunnels over its online limit at once, the
/// newest first; each agent is told why, and the others keep serving.
async fn a_smaller_plan_stops_the_newest_tunnels_over_its_limit_with_the_reason(db: &Db) {
    let (cloud, stack) = Cloud::with_attached_relay(db.store.clone()).await.unwrap();
    let ops = operator(&cloud).await;
    let owner = cloud.account("owner@example.com").await.unwrap();
    let id = cloud
        .state
        .store()
        .account_by_email("owner@example.com")
        .await
        .unwrap()
        .unwrap()
        .id;
    cloud
        .state
        .store()
        .set_account_plan(&id, fdt_api::Plan::Pro)
        .await
        .unwrap();
    let origin = fdt_e2e::HttpOrigin::start().await.unwrap();
    let login = || {
        fdt_agent_core::Connect::Cloud(fdt_agent_core::CloudLogin {
            api_url: cloud.url.clone(),
            authtoken: owner.authtoken_secret(),
            region: None,
            relay_ca: Some(stack.ca_path()),
        })
    };
    // Four agents, one tunnel each, started one after another (free allows three).
    let mut agents = Vec::new();
    for n in 1..=4 {
        let mut t = fdt_agent_core::config::TunnelConfig::new(
            fdt_proto::Proto::Http,
            origin.addr.to_string(),
        );
        t.subdomain = Some(format!("plan{n}"));
        let mut agent = stack.spawn_agent_via(login(), vec![("web", t)]).unwrap();
        agent.wait_bound().await.unwrap();
        agents.push(agent);
    }
    for n in 1..=4 {
        let url = stack.http_url(&format!("plan{n}"), "/echo");
        assert_eq!(stack.curl(&url).run().await.unwrap().status, 200);
    }

    let r = fdt_e2e::client::Curl::new(&format!("{}/v1/admin/users/{id}/plan", cloud.url))
        .header(&format!(
            "Authorization: Bearer {}",
            ops.access_token.expose_secret()
        ))
        .header("Content-Type: application/json")
        .arg("-X")
        .arg("PUT")
        .arg("--data")
        .arg(r#"{"plan":"free"}"#)
        .run()
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    // Within a heartbeat the newest tunnel's agent is told why.
    let newest = &agents[3];
    let error = fdt_e2e::poll_until(Duration::from_secs(10), "agent told of the limit", || {
        let s = newest.status();
        async move { s.tunnels.iter().find_map(|t| t.error.clone()) }
    })
    .await
    .unwrap();
    assert!(
        error.contains("plan is now free, which allows 3 online tunnels"),
        "{error}"
    );
    let r = stack
        .curl(&stack.http_url("plan4", "/echo"))
        .run()
        .await
        .unwrap();
    assert_ne!(
        r.status, 200,
        "the stopped tunnel no longer reaches the origin"
    );
    for (n, agent) in agents.iter().enumerate().take(3) {
        let url = stack.http_url(&format!("plan{}", n + 1), "/echo");
        assert_eq!(stack.curl(&url).run().await.unwrap().status, 200, "{url}");
        assert!(agent.status().tunnels.iter().all(|t| t.error.is_none()));
    }
    assert_eq!(owner.live_tunnels().await.unwrap().len(), 3);
    for mut agent in agents {
        let _ = agent.stop().await;
    }
    stack.shutdown().await.unwrap();
}

/// `PUT /v1/admin/relays/{relay}/drain` as the operator with access token `token`.
pub(crate) async fn drain(
    cloud: &Cloud,
    token: &str,
    relay: &str,
    on: bool,
) -> anyhow::Result<fdt_e2e::CurlResponse> {
    fdt_e2e::client::Curl::new(&format!("{}/v1/admin/relays/{relay}/drain", cloud.url))
        .header(&format!("Authorization: Bearer {token}"))
        .header("Content-Type: application/json")
        .arg("-X")
        .arg("PUT")
        .arg("--data-binary")
        .arg(format!("{{\"draining\":{on}}}"))
        .run()
        .await
}
