//! Cloud-managed tunnels end to end: definitions made through the control plane's API reach
//! the real `fdt start --managed` binary over its relay session and are applied live —
//! added, edited, stopped, started, deleted — on one QUIC connection, without dropping the
//! other tunnels' requests in flight. curl is the visitor.

use fdt_e2e::{Cloud, Curl, HttpOrigin, poll_until};
use serde_json::json;
use std::process::Stdio;
use std::time::Duration;

/// Calls the control plane's API as `bearer`.
async fn api(
    base: &str,
    bearer: &str,
    method: &str,
    path: &str,
    body: Option<serde_json::Value>,
) -> (u16, serde_json::Value) {
    let mut c = Curl::new(&format!("{base}{path}"))
        .args(["-X", method])
        .header(&format!("Authorization: Bearer {bearer}"));
    if let Some(b) = body {
        c = c
            .header("content-type: application/json")
            .arg("--data-binary")
            .arg(b.to_string());
    }
    let r = c.run().await.unwrap();
    let json = serde_json::from_slice(&r.body).unwrap_or(serde_json::Value::Null);
    (r.status, json)
}

fn definition(name: &str, origin: &HttpOrigin, sub: &str) -> serde_json::Value {
    json!({
        "name": name,
        "definition": {"proto": "http", "addr": origin.addr.to_string(), "subdomain": sub},
    })
}

/// Waits until `url` answers `status` through the relay.
async fn served(stack: &fdt_e2e::Stack, url: &str, status: u16) {
    poll_until(Duration::from_secs(20), url, || async {
        let r = stack.curl(url).run().await.ok()?;
        (r.status == status).then_some(())
    })
    .await
    .unwrap();
}

/// Waits until `url` no longer answers 200 through the relay (the tunnel is down).
async fn not_served(stack: &fdt_e2e::Stack, url: &str) {
    poll_until(Duration::from_secs(20), url, || async {
        let r = stack.curl(url).run().await.ok()?;
        (r.status != 200).then_some(())
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cloud_defined_tunnels_are_applied_live_by_fdt_start_managed() {
    fdt_e2e::init_tracing();
    let db = fdt_cloud::testing::TestDb::sqlite().await;
    let (cloud, stack) = Cloud::with_attached_relay(db.store.clone()).await.unwrap();
    let account = cloud.account("managed@example.com").await.unwrap();
    let bearer = account.access_token.expose_secret().to_owned();
    let base = cloud.url.clone();
    let (one, two, three) = (
        HttpOrigin::start().await.unwrap(),
        HttpOrigin::start().await.unwrap(),
        HttpOrigin::start().await.unwrap(),
    );
    let (status, web) = api(
        &base,
        &bearer,
        "POST",
        "/v1/tunnel-configs",
        Some(definition("web", &one, "managed-web")),
    )
    .await;
    assert_eq!(status, 201, "{web}");
    let web_id = web["id"].as_str().unwrap().to_owned();

    // The real binary, with no local tunnel: everything it runs comes from the cloud.
    let home = tempfile::tempdir().unwrap();
    let config = home.path().join("fdt.toml");
    std::fs::write(
        &config,
        format!(
            "authtoken = {:?}\napi_url = {base:?}\nrelay_ca = {:?}\n",
            account.authtoken_secret(),
            stack.ca_path()
        ),
    )
    .unwrap();
    let api_port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let local_api = format!("http://127.0.0.1:{api_port}");
    let mut fdt = tokio::process::Command::new(fdt_e2e::workspace_binary("fdt").unwrap())
        .arg("--config")
        .arg(&config)
        .args(["--api-addr", &format!("127.0.0.1:{api_port}")])
        .args([
            "--inspect=false",
            "--log-format",
            "json",
            "start",
            "--managed",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    served(&stack, &stack.http_url("managed-web", "/echo"), 200).await;
    let relay = stack.relay().unwrap();
    assert_eq!(relay.agent_connections(), 1);

    // The agent's own API lists it as managed and will not stop it locally.
    let local = Curl::new(&format!("{local_api}/api/tunnels/web"))
        .run()
        .await
        .unwrap();
    assert_eq!(local.status, 200, "{}", local.text());
    let stop_locally = Curl::new(&format!("{local_api}/api/tunnels/web"))
        .args(["-X", "DELETE"])
        .run()
        .await
        .unwrap();
    assert_eq!(stop_locally.status, 409, "{}", stop_locally.text());
    assert!(stop_locally.text().contains("managed_tunnel"));

    // A second definition comes up beside it, on the same connection.
    let (status, api_def) = api(
        &base,
        &bearer,
        "POST",
        "/v1/tunnel-configs",
        Some(definition("api", &two, "managed-api")),
    )
    .await;
    assert_eq!(status, 201, "{api_def}");
    let api_id = api_def["id"].as_str().unwrap().to_owned();
    served(&stack, &stack.http_url("managed-api", "/echo"), 200).await;

    // Editing "api" (to the third origin) while a slow request is in flight on "web": the
    // edit is applied, the request in flight completes.
    let slow = tokio::spawn(
        stack
            .curl(&stack.http_url("managed-web", "/hold?ms=2000"))
            .run(),
    );
    one.stats
        .wait_holds(1, Duration::from_secs(10))
        .await
        .unwrap();
    let (status, edited) = api(
        &base,
        &bearer,
        "PUT",
        &format!("/v1/tunnel-configs/{api_id}"),
        Some(definition("api", &three, "managed-api")),
    )
    .await;
    assert_eq!(status, 200, "{edited}");
    let before = three
        .stats
        .requests
        .load(std::sync::atomic::Ordering::SeqCst);
    poll_until(Duration::from_secs(20), "the edit applied", || async {
        let r = stack
            .curl(&stack.http_url("managed-api", "/echo"))
            .run()
            .await
            .ok()?;
        (r.status == 200
            && three
                .stats
                .requests
                .load(std::sync::atomic::Ordering::SeqCst)
                > before)
            .then_some(())
    })
    .await
    .unwrap();
    let slow = slow.await.unwrap().unwrap();
    assert_eq!(
        slow.status,
        200,
        "the request in flight on web: {}",
        slow.text()
    );

    // Stop, start, delete through the cloud.
    let (status, _) = api(
        &base,
        &bearer,
        "POST",
        &format!("/v1/tunnels/{api_id}/stop"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    not_served(&stack, &stack.http_url("managed-api", "/echo")).await;
    served(&stack, &stack.http_url("managed-web", "/echo"), 200).await;
    let (status, _) = api(
        &base,
        &bearer,
        "POST",
        &format!("/v1/tunnels/{api_id}/start"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    served(&stack, &stack.http_url("managed-api", "/echo"), 200).await;
    let (status, _) = api(
        &base,
        &bearer,
        "DELETE",
        &format!("/v1/tunnel-configs/{web_id}"),
        None,
    )
    .await;
    assert_eq!(status, 204);
    not_served(&stack, &stack.http_url("managed-web", "/echo")).await;
    let gone = Curl::new(&format!("{local_api}/api/tunnels/web"))
        .run()
        .await
        .unwrap();
    assert_eq!(gone.status, 404, "{}", gone.text());
    served(&stack, &stack.http_url("managed-api", "/echo"), 200).await;

    // All of it on the agent's one connection.
    assert_eq!(relay.agent_connections(), 1);
    fdt.start_kill().unwrap();
    let _ = fdt.wait().await;
}

/// The console's `/managed` page in Chromium: define, edit, stop and delete a managed tunnel,
/// the list following each step live.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_defines_edits_stops_and_deletes_managed_tunnels() {
    fdt_e2e::init_tracing();
    let db = fdt_cloud::testing::TestDb::sqlite().await;
    let store = db.store.clone();
    let cloud = Cloud::start(
        tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
        store,
        Vec::new(),
    );
    let base = cloud.url.clone();
    let b = fdt_e2e::browser::Browser::start().await.unwrap();
    b.open(&format!("{base}/signup")).await.unwrap();
    b.fill("#f-email", "managed-ui@example.com").await.unwrap();
    b.fill("#f-password", "a long managed password")
        .await
        .unwrap();
    b.click("main form button[type=submit]").await.unwrap();
    b.wait_text("h1", "Tunnels").await.unwrap();

    b.open(&format!("{base}/managed")).await.unwrap();
    b.wait_text("h1", "Managed tunnels").await.unwrap();
    b.fill("#f-managed-name", "web-ui").await.unwrap();
    b.fill("#f-managed-addr", "0").await.unwrap();
    b.click("#managed-save").await.unwrap();
    // The server's check names the problem; nothing is saved.
    b.wait_text("#managed-error", "port").await.unwrap();
    b.fill("#f-managed-addr", "8080").await.unwrap();
    b.fill("#f-managed-subdomain", "web-ui").await.unwrap();
    b.fill("#f-managed-basic-auth", "alice:secret-pass")
        .await
        .unwrap();
    b.click("#managed-save").await.unwrap();
    b.wait_text("table", "web-ui").await.unwrap();
    b.wait_text("table", "running").await.unwrap();
    let problems = b.accessibility_problems().await.unwrap();
    assert!(problems.is_empty(), "accessibility: {problems:#?}");
    b.screenshot("managed-tunnels").await.unwrap();

    // Edit: the form fills in, the change is saved over the same definition.
    b.click("button[aria-label='Edit web-ui']").await.unwrap();
    b.wait_text("#managed-form h2", "Edit managed tunnel")
        .await
        .unwrap();
    b.fill("#f-managed-addr", "9090").await.unwrap();
    b.click("#managed-save").await.unwrap();
    b.wait_text("table", "9090").await.unwrap();

    // Stop, then delete (the confirmation answered yes).
    b.js("[...document.querySelectorAll('table button')].find(x => x.textContent === 'Stop').click(); return true;")
        .await
        .unwrap();
    b.wait_text("table", "stopped").await.unwrap();
    b.js("window.confirm = () => true; [...document.querySelectorAll('table button')].find(x => x.textContent === 'Delete').click(); return true;")
        .await
        .unwrap();
    b.wait_text(".state-title", "No managed tunnels")
        .await
        .unwrap();
}
