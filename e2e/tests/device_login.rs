//! `fdt login` end to end: the real `fdt` binary asks the cloud for a device code and prints
//! it; a user signed in to the console in Chromium opens the link, approves the code; the
//! command saves the authtoken it gets, and that authtoken binds a tunnel that serves.

use fdt_agent_core::config::{ConfigFile, TunnelConfig};
use fdt_agent_core::{CloudLogin, Connect};
use fdt_e2e::browser::Browser;
use fdt_e2e::{Cloud, HttpOrigin};
use fdt_proto::Proto;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fdt_login_approved_in_chromium_binds_a_tunnel() {
    fdt_e2e::init_tracing();
    let db = fdt_cloud::testing::TestDb::sqlite().await;
    let (cloud, stack) = Cloud::with_attached_relay(db.store.clone()).await.unwrap();
    let b = Browser::start().await.unwrap();
    let base = cloud.url.clone();

    // Signed in to the console first.
    b.open(&format!("{base}/signup")).await.unwrap();
    b.fill("#f-email", "device@example.com").await.unwrap();
    b.fill("#f-password", "a long device password")
        .await
        .unwrap();
    b.click("main form button[type=submit]").await.unwrap();
    b.wait_text("h1", "Tunnels").await.unwrap();

    // `fdt login` prints the code and the link, and waits.
    let home = tempfile::tempdir().unwrap();
    let config = home.path().join("fdt.toml");
    let mut child = tokio::process::Command::new(fdt_e2e::workspace_binary("fdt").unwrap())
        .args(["--config"])
        .arg(&config)
        .args(["--api-url", &base, "login", "--no-browser"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let link = fdt_e2e::within(Duration::from_secs(20), "the login link", async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if let Some(url) = line.strip_prefix("or open ") {
                return url.to_owned();
            }
        }
        panic!("fdt login ended without printing a link");
    })
    .await
    .unwrap();
    assert!(link.starts_with(&format!("{base}/device?code=")), "{link}");
    let code = link.rsplit_once('=').unwrap().1.to_owned();

    // The console page shows that code; approving it signs the machine in.
    b.open(&link).await.unwrap();
    b.wait_text("h1", "Sign in a device").await.unwrap();
    let shown = b
        .js("return document.querySelector('#device-code').value;")
        .await
        .unwrap();
    assert_eq!(shown, code.as_str());
    // It names the device that asks (the machine's name), so a stranger's code stands out.
    let device = b
        .js("return document.querySelector('#device-name').textContent;")
        .await
        .unwrap();
    assert_eq!(device, fdt_agent_core::login::machine_name());
    b.screenshot("device-approve").await.unwrap();
    let problems = b.accessibility_problems().await.unwrap();
    assert!(problems.is_empty(), "accessibility: {problems:#?}");
    b.click("#device-approve").await.unwrap();
    b.wait_text("[role=status]", "Device signed in")
        .await
        .unwrap();

    let status = fdt_e2e::within(Duration::from_secs(30), "fdt login to finish", child.wait())
        .await
        .unwrap()
        .unwrap();
    let mut rest = String::new();
    while let Ok(Some(line)) = lines.next_line().await {
        rest.push_str(&line);
        rest.push('\n');
    }
    assert!(status.success(), "fdt login failed: {rest}");
    assert!(rest.contains("Signed in."), "{rest}");

    // The saved file holds a working authtoken and the API URL, owner-only.
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&config).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let file = ConfigFile::load(&config).unwrap();
    assert_eq!(file.api_url.as_deref(), Some(base.as_str()));
    let token = file.authtoken.unwrap().0;
    assert!(token.starts_with("fdt_"));

    // The same code cannot be approved twice.
    b.open(&link).await.unwrap();
    b.click("#device-approve").await.unwrap();
    b.wait_text("[role=status]", "No device is waiting")
        .await
        .unwrap();

    let origin = HttpOrigin::start().await.unwrap();
    let mut t = TunnelConfig::new(Proto::Http, origin.addr.to_string());
    t.subdomain = Some("device-login".into());
    let login = CloudLogin {
        api_url: base.clone(),
        authtoken: token,
        region: None,
        relay_ca: Some(stack.ca_path()),
    };
    let mut agent = stack
        .spawn_agent_via(Connect::Cloud(login), vec![("web", t)])
        .unwrap();
    agent.wait_bound().await.unwrap();
    let r = stack
        .curl(&stack.http_url("device-login", "/echo"))
        .run()
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
}
