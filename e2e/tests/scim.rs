//! SCIM 2.0 end to end: PyPI's `scim2-cli` compliance checks (`scim2 test`, scim2-tester)
//! against a served control plane, and deprovisioning closing a member's live agent through
//! a real relay (SQLite and PostgreSQL). The other provisioning stories (roles from groups,
//! organisation scoping, refusals) are in the cloud crate's API tests.

use fdt_api::{AccessToken, CreatedScimToken};
use fdt_e2e::Cloud;
use serde_json::json;

/// `POST /v1/scim/tokens` as `who`.
async fn scim_token(cloud: &Cloud, who: &AccessToken) -> CreatedScimToken {
    let resp = reqwest::Client::new()
        .post(format!("{}/v1/scim/tokens", cloud.url))
        .bearer_auth(who.expose_secret())
        .json(&json!({"name": "Okta"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    resp.json().await.unwrap()
}

/// The `scim2` command (scim2-cli, installed by the test command).
fn scim2() -> std::process::Command {
    std::process::Command::new("scim2")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scim2_cli_compliance_checks_pass() {
    fdt_e2e::init_tracing();
    fdt_e2e::install_crypto();
    let db = fdt_cloud::testing::TestDb::sqlite().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let cloud = Cloud::start(listener, db.store.clone(), Vec::new());
    let owner = cloud.account("owner@scim.test").await.unwrap();
    let token = scim_token(&cloud, &owner.access_token).await;
    assert!(token.token.starts_with("fdt_scim_"));
    assert_eq!(token.scim_url, format!("{}/scim/v2", cloud.url));

    let url = token.scim_url.clone();
    let secret = token.token.clone();
    let out = tokio::task::spawn_blocking(move || {
        scim2()
            .args(["--url", &url, "test"])
            .env(
                "SCIM_CLI_HEADERS",
                format!("Authorization: Bearer {secret}"),
            )
            .output()
    })
    .await
    .unwrap()
    .expect("scim2 (pip install scim2-cli) on PATH");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}\n{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    let passed = lines.iter().filter(|l| l.starts_with("SUCCESS")).count();
    let failed: Vec<&str> = lines
        .iter()
        .filter(|l| l.starts_with("ERROR") || l.starts_with("CRITICAL"))
        .copied()
        .collect();
    assert!(failed.is_empty(), "scim2 test failures: {failed:#?}");
    // Nothing skipped either: scim2 exits 1 on any check that did not succeed.
    assert!(out.status.success(), "scim2 test: {}\n{stdout}", out.status);
    assert!(passed > 60, "{passed} checks passed:\n{stdout}");
}

/// Deprovisioning through SCIM closes the member's live agent: its authtoken for the
/// organisation is revoked, and the relay, reading the revocation feed, ends the session.
async fn scim_deprovisioning_closes_the_members_live_agent(db: &fdt_e2e::cloud::TestDb) {
    use fdt_agent_core::config::TunnelConfig;
    use fdt_agent_core::{CloudLogin, Connect};
    use fdt_cloud::config::RelayEntry;
    use fdt_e2e::{HttpOrigin, Stack, StackOptions};

    fdt_e2e::install_crypto();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api_url = format!("http://{}", listener.local_addr().unwrap());
    let stack = Stack::start(StackOptions::attached_to(&api_url))
        .await
        .unwrap();
    let relays = vec![RelayEntry {
        id: "local-1".into(),
        region: "local".into(),
        addr: stack.agent_addr.to_string(),
        server_name: fdt_e2e::stack::BASE_DOMAIN.into(),
    }];
    let cloud = Cloud::start(listener, db.store.clone(), relays);
    let owner = cloud.account("owner@corp.test").await.unwrap();
    let dev = cloud.account("dev@corp.test").await.unwrap();
    let http = reqwest::Client::new();
    let call = |method: reqwest::Method, path: &str, who: &AccessToken| {
        http.request(method, format!("{}{path}", cloud.url))
            .bearer_auth(who.expose_secret().to_owned())
    };

    // The developer joins by invitation and makes an authtoken for the organisation.
    let org = cloud
        .invite_and_join(&owner, &dev, "dev@corp.test", "developer")
        .await
        .unwrap();
    let made = call(reqwest::Method::POST, "/v1/authtokens", &dev.access_token)
        .header("x-fdt-org", &org)
        .json(&json!({"description": "dev laptop"}))
        .send()
        .await
        .unwrap();
    assert_eq!(made.status(), 201);
    let secret = made.json::<serde_json::Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();

    // The identity provider links the member.
    let token = scim_token(&cloud, &owner.access_token).await;
    let user = http
        .post(format!("{}/Users", token.scim_url))
        .bearer_auth(&token.token)
        .header("content-type", "application/scim+json")
        .body(json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "dev@corp.test"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(user.status(), 201);
    let user_id = user.json::<serde_json::Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // The member's agent serves.
    let origin = HttpOrigin::start().await.unwrap();
    let mut tunnel = TunnelConfig::new(fdt_proto::Proto::Http, origin.addr.to_string());
    tunnel.subdomain = Some("scimmy".into());
    let mut agent = stack
        .spawn_agent_via(
            Connect::Cloud(CloudLogin {
                api_url: cloud.url.clone(),
                authtoken: secret,
                region: None,
                relay_ca: Some(stack.ca_path()),
            }),
            vec![("web", tunnel)],
        )
        .unwrap();
    agent.wait_bound().await.unwrap();
    let r = stack
        .curl(&stack.http_url("scimmy", "/echo"))
        .run()
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());

    // Deprovisioned (Okta's PATCH active=false): the agent is closed for good.
    let patched = http
        .patch(format!("{}/Users/{user_id}", token.scim_url))
        .bearer_auth(&token.token)
        .header("content-type", "application/scim+json")
        .body(
            json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "replace", "path": "active", "value": false}]})
            .to_string(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(patched.status(), 200);
    let why = agent.wait_stopped().await.unwrap();
    assert!(why.contains("revoked"), "{why}");
    let r = stack
        .curl(&stack.http_url("scimmy", "/echo"))
        .run()
        .await
        .unwrap();
    assert!(matches!(r.status, 404 | 502), "{} {}", r.status, r.text());
    cloud.shutdown.cancel();
    stack.shutdown().await.unwrap();
}

fdt_cloud::on_both_databases!(scim_deprovisioning_closes_the_members_live_agent);
