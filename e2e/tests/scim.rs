//! SCIM 2.0 end to end: PyPI's `scim2-cli` compliance checks (`scim2 test`, scim2-tester)
//! against a served control plane. The provisioning stories (roles from groups,
//! deprovisioning, organisation scoping) are in the cloud crate's API tests.

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
