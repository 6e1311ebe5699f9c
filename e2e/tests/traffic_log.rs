//! The cloud traffic log and replays end to end, on SQLite and (with `FDT_TEST_PG_URL`)
//! PostgreSQL: an agent on a pro plan with `log_bodies` serves requests through a relay
//! attached to the cloud; the relay ships their records (Authorization redacted, bodies kept);
//! a replay queued in the cloud travels cloud → relay heartbeat → agent → local service, and its
//! result comes back; another account sees none of it.

use fdt_agent_core::config::TunnelConfig;
use fdt_agent_core::{CloudLogin, Connect};
use fdt_api::Plan;
use fdt_e2e::cloud::TestDb as Db;
use fdt_e2e::{Cloud, HttpOrigin};
use fdt_proto::Proto;
use serde_json::{Value, json};
use std::sync::atomic::Ordering;
use std::time::Duration;

fdt_cloud::on_both_databases!(
    requests_are_logged_and_replayed_through_the_cloud,
    a_hundred_records_with_64_kib_bodies_are_all_stored,
);

async fn api(
    cloud: &Cloud,
    token: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut curl = fdt_e2e::client::Curl::new(&format!("{}{path}", cloud.url))
        .header(&format!("Authorization: Bearer {token}"))
        .arg("-X")
        .arg(method);
    if let Some(b) = body {
        curl = curl
            .header("Content-Type: application/json")
            .arg("--data-binary")
            .arg(b.to_string());
    }
    let r = curl.run().await.unwrap();
    (
        r.status,
        serde_json::from_slice(&r.body).unwrap_or(Value::Null),
    )
}

/// A cloud with an attached relay, and an agent of `email` (on the pro plan) serving `sub`
/// with `log_bodies`; returns them with the account's API access token.
async fn logging_agent(
    db: &Db,
    email: &str,
    sub: &str,
    origin: &HttpOrigin,
) -> (Cloud, fdt_e2e::Stack, fdt_e2e::Agent, String) {
    let (cloud, stack) = Cloud::with_attached_relay(db.store.clone()).await.unwrap();
    let owner = cloud.account(email).await.unwrap();
    let me = owner.client.me().await.unwrap();
    cloud
        .state
        .store()
        .set_account_plan(&me.id, Plan::Pro)
        .await
        .unwrap();
    let token = owner.access_token.expose_secret().to_owned();
    let mut t = TunnelConfig::new(Proto::Http, origin.addr.to_string());
    t.subdomain = Some(sub.into());
    t.log_bodies = true;
    let login = CloudLogin {
        api_url: cloud.url.clone(),
        authtoken: owner.authtoken_secret(),
        region: None,
        relay_ca: Some(stack.ca_path()),
    };
    let mut agent = stack
        .spawn_agent_via(Connect::Cloud(login), vec![("web", t)])
        .unwrap();
    agent.wait_bound().await.unwrap();
    (cloud, stack, agent, token)
}

async fn requests_are_logged_and_replayed_through_the_cloud(db: &Db) {
    let origin = HttpOrigin::start().await.unwrap();
    let (cloud, stack, mut agent, token) =
        logging_agent(db, "logged@example.com", "logged", &origin).await;
    let other = cloud.account("nosy@example.com").await.unwrap();

    let r = stack
        .curl(&stack.http_url("logged", "/echo?order=42"))
        .header("Authorization: Bearer visitor-secret")
        .header("Content-Type: application/json")
        .arg("--data-binary")
        .arg("{\"order\":42}")
        .run()
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());

    // The record reaches the cloud within the relay's shipping interval.
    let record = fdt_e2e::poll_until(
        Duration::from_secs(15),
        "request in the cloud traffic log",
        || {
            let (cloud, token) = (&cloud, token.clone());
            async move {
                let (status, list) =
                    api(cloud, &token, "GET", "/v1/requests?path=order%3D42", None).await;
                (status == 200)
                    .then(|| list["requests"].get(0).cloned())
                    .flatten()
            }
        },
    )
    .await
    .unwrap();
    assert_eq!(record["method"], "POST");
    assert_eq!(record["status"], 200);
    assert_eq!(record["host"], stack.host("logged"));
    assert_eq!(record["visitor_ip"], "127.0.0.1");
    let auth = record["request_headers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h[0].as_str().unwrap().eq_ignore_ascii_case("authorization"))
        .cloned();
    assert_eq!(auth, Some(json!(["authorization", "[redacted]"])));
    assert_eq!(record["has_request_body"], true, "{record}");
    assert!(record["bytes_out"].as_u64().unwrap() > 0);
    let id = record["id"].as_str().unwrap().to_owned();
    let body = fdt_e2e::client::Curl::new(&format!("{}/v1/requests/{id}/request-body", cloud.url))
        .header(&format!("Authorization: Bearer {token}"))
        .run()
        .await
        .unwrap();
    assert_eq!(body.body, b"{\"order\":42}");

    // Another account: 404 for the record, its body and a replay of it.
    let nosy = other.access_token.expose_secret().to_owned();
    assert_eq!(
        api(&cloud, &nosy, "GET", &format!("/v1/requests/{id}"), None)
            .await
            .0,
        404
    );
    assert_eq!(
        api(
            &cloud,
            &nosy,
            "POST",
            &format!("/v1/requests/{id}/replay"),
            Some(json!({}))
        )
        .await
        .0,
        404
    );

    // A replay aimed elsewhere is refused; an edited one reaches the local service.
    let (status, _) = api(
        &cloud,
        &token,
        "POST",
        &format!("/v1/requests/{id}/replay"),
        Some(json!({"modify": {"path": "http://169.254.169.254/latest"}})),
    )
    .await;
    assert_eq!(status, 400);
    let seen = origin.stats.requests.load(Ordering::SeqCst);
    let (status, job) = api(
        &cloud,
        &token,
        "POST",
        &format!("/v1/requests/{id}/replay"),
        Some(
            json!({"modify": {"path": "/echo?replayed=1", "set_headers": [["X-Replayed", "yes"]]}}),
        ),
    )
    .await;
    assert_eq!(status, 202, "{job}");
    let job_id = job["id"].as_str().unwrap().to_owned();
    let done = fdt_e2e::poll_until(Duration::from_secs(20), "replay done", || {
        let (cloud, token, job_id) = (&cloud, token.clone(), job_id.clone());
        async move {
            let (_, j) = api(cloud, &token, "GET", &format!("/v1/replays/{job_id}"), None).await;
            matches!(j["state"].as_str(), Some("done" | "failed")).then_some(j)
        }
    })
    .await
    .unwrap();
    assert_eq!(done["state"], "done", "{done}");
    assert_eq!(done["status"], 200);
    assert_eq!(
        origin.stats.requests.load(Ordering::SeqCst),
        seen + 1,
        "exactly one replay reached the origin"
    );

    let _ = agent.stop().await;
    stack.shutdown().await.unwrap();
}

/// Regression: records were batched 500 at a time with no byte budget, so 100 requests with
/// 64 KiB bodies (both ways) made one batch over the cloud's 8 MiB, which was refused with 413
/// and resent forever: the relay's whole traffic log stalled.
async fn a_hundred_records_with_64_kib_bodies_are_all_stored(db: &Db) {
    let origin = HttpOrigin::start().await.unwrap();
    let (cloud, stack, _agent, token) =
        logging_agent(db, "bulk@example.com", "bulk", &origin).await;

    let body = stack.scratch().join("64k.bin");
    std::fs::write(&body, vec![b'a'; 64 * 1024]).unwrap();
    for n in 0..100 {
        let r = stack
            .curl(&stack.http_url("bulk", &format!("/echo?bulk={n}")))
            .header("Content-Type: application/octet-stream")
            .arg("--data-binary")
            .arg(format!("@{}", body.display()))
            .run()
            .await
            .unwrap();
        assert_eq!(r.status, 200, "{}", r.text());
    }
    let stored = fdt_e2e::poll_until(Duration::from_secs(30), "100 records stored", || {
        let (cloud, token) = (&cloud, token.clone());
        async move {
            let (status, list) = api(
                cloud,
                &token,
                "GET",
                "/v1/requests?path=bulk%3D&limit=500",
                None,
            )
            .await;
            let list = list["requests"].as_array().cloned().unwrap_or_default();
            (status == 200 && list.len() == 100).then_some(list)
        }
    })
    .await
    .unwrap();
    assert!(stored.iter().all(|r| r["has_request_body"] == true));
}
