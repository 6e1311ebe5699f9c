//! The web console and admin panel in a real browser (headless Chromium over WebDriver),
//! against a cloud with an attached relay and a real agent: sign up, create an authtoken,
//! watch the tunnel come online live, find a request in the traffic log, replay it with an
//! edited header and see it reach the local service; add a custom domain and see the records
//! to create; a non-admin is refused the admin panel
//! and its API; an admin uses it. Screenshots of each page: `e2e/output/screenshots/`.
//!
//! Needs the UI bundle (`scripts/build-ui.sh`, run by the test command) and Debian's chromium
//! and chromium-driver.

use fdt_agent_core::config::TunnelConfig;
use fdt_agent_core::{CloudLogin, Connect};
use fdt_api::Plan;
use fdt_e2e::browser::Browser;
use fdt_e2e::{Cloud, HttpOrigin};
use fdt_proto::Proto;
use std::time::Duration;

const EMAIL: &str = "browser@example.com";
const PASSWORD: &str = "a long browser password";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_end_to_end_in_chromium() {
    fdt_e2e::init_tracing();
    let db = fdt_cloud::testing::TestDb::sqlite().await;
    let (cloud, stack) = Cloud::with_attached_relay(db.store.clone()).await.unwrap();
    let b = Browser::start().await.unwrap();
    let base = cloud.url.clone();
    let mut load_ms = Vec::new();
    let mut a11y = Vec::new();

    // A page that needs a session sends the browser to sign in; sign-up works from there.
    load_ms.push(("login", b.open(&format!("{base}/traffic")).await.unwrap()));
    assert!(
        b.client
            .current_url()
            .await
            .unwrap()
            .as_str()
            .contains("/login?next=%2Ftraffic")
    );
    b.screenshot("01-login").await.unwrap();
    a11y.push(("01-login", b.accessibility_problems().await.unwrap()));
    load_ms.push(("signup", b.open(&format!("{base}/signup")).await.unwrap()));
    // Inline validation, before anything is sent.
    b.fill("#f-email", "not-an-email").await.unwrap();
    b.fill("#f-password", "short").await.unwrap();
    b.click("main form button[type=submit]").await.unwrap();
    b.wait_text("#f-email-error", "valid email").await.unwrap();
    b.wait_text("#f-password-error", "at least 10")
        .await
        .unwrap();
    b.screenshot("02-signup-errors").await.unwrap();
    a11y.push((
        "02-signup-errors",
        b.accessibility_problems().await.unwrap(),
    ));
    b.fill("#f-email", EMAIL).await.unwrap();
    b.fill("#f-password", PASSWORD).await.unwrap();
    b.click("main form button[type=submit]").await.unwrap();
    b.wait_text("h1", "Tunnels").await.unwrap();
    b.interactive().await.unwrap();
    b.wait_text(".state-title", "No tunnels online")
        .await
        .unwrap();

    // Pro plan: request bodies are kept, so the detail page shows them.
    let account = cloud
        .state
        .store()
        .account_by_email(EMAIL)
        .await
        .unwrap()
        .unwrap();
    cloud
        .state
        .store()
        .set_account_plan(&account.id, Plan::Pro)
        .await
        .unwrap();

    // An authtoken, shown once.
    load_ms.push((
        "authtokens",
        b.open(&format!("{base}/authtokens")).await.unwrap(),
    ));
    b.fill("#f-token-description", "browser test")
        .await
        .unwrap();
    b.click("main form button[type=submit]").await.unwrap();
    let token = b.wait_text("#new-token", "fdt_").await.unwrap();
    b.wait_text("table", "browser test").await.unwrap();
    b.screenshot("03-authtokens").await.unwrap();
    a11y.push(("03-authtokens", b.accessibility_problems().await.unwrap()));

    // A custom domain: the two records to create, with this domain's own values.
    load_ms.push(("domains", b.open(&format!("{base}/domains")).await.unwrap()));
    b.wait_text(".state-title", "No custom domains")
        .await
        .unwrap();
    b.fill("#f-domain-name", "shop.example.test").await.unwrap();
    b.fill("#f-domain-subdomain", "browser").await.unwrap();
    b.click("#domain-form button[type=submit]").await.unwrap();
    b.wait_text(".domain-card", "_fdt-challenge.shop.example.test")
        .await
        .unwrap();
    b.wait_text(".domain-card", "pending").await.unwrap();
    b.wait_text(".domain-card", "subdomain browser")
        .await
        .unwrap();
    b.screenshot("03b-domains").await.unwrap();
    a11y.push(("03b-domains", b.accessibility_problems().await.unwrap()));

    // The tunnels page, open before the agent starts, shows the tunnel without a reload.
    load_ms.push(("tunnels", b.open(&format!("{base}/")).await.unwrap()));
    b.until(Duration::from_secs(10), "live events connected", || async {
        b.client
            .find(fantoccini::Locator::Css(".live-dot.live-on"))
            .await
            .ok()
    })
    .await
    .unwrap();
    b.js("window.__same_page = 1; return 1;").await.unwrap();
    let origin = HttpOrigin::start().await.unwrap();
    let mut t = TunnelConfig::new(Proto::Http, origin.addr.to_string());
    t.subdomain = Some("browser".into());
    t.log_bodies = true;
    let login = CloudLogin {
        api_url: cloud.url.clone(),
        authtoken: token.trim().to_owned(),
        region: None,
        relay_ca: Some(stack.ca_path()),
    };
    let mut agent = stack
        .spawn_agent_via(Connect::Cloud(login), vec![("web", t)])
        .unwrap();
    agent.wait_bound().await.unwrap();
    b.wait_text(".tunnels-table", &stack.host("browser"))
        .await
        .unwrap();
    assert_eq!(
        b.js("return window.__same_page || 0;").await.unwrap(),
        1,
        "updated without a reload"
    );
    b.screenshot("04-tunnels-live").await.unwrap();
    a11y.push(("04-tunnels-live", b.accessibility_problems().await.unwrap()));

    // A request through the tunnel appears in the traffic log (live too).
    load_ms.push(("traffic", b.open(&format!("{base}/traffic")).await.unwrap()));
    let r = stack
        .curl(&stack.http_url("browser", "/echo?from=browser"))
        .header("Content-Type: application/json")
        .arg("--data-binary")
        .arg("{\"order\":7,\"items\":[\"tea\"]}")
        .run()
        .await
        .unwrap();
    assert_eq!(r.status, 200);
    b.wait_text(".traffic-table", "/echo?from=browser")
        .await
        .unwrap();
    b.screenshot("05-traffic").await.unwrap();
    a11y.push(("05-traffic", b.accessibility_problems().await.unwrap()));

    // Its detail page: headers and the pretty-printed JSON body; then a replay with an edited
    // header reaches the local service.
    b.click(".request-link").await.unwrap();
    b.wait_text("h1", "POST /echo?from=browser").await.unwrap();
    load_ms.push(("request", b.interactive().await.unwrap()));
    b.wait_text(".body-block", "\"items\": [").await.unwrap();
    b.screenshot("06-request").await.unwrap();
    a11y.push(("06-request", b.accessibility_problems().await.unwrap()));
    b.fill("#rp-headers", "X-Edited: from-the-browser")
        .await
        .unwrap();
    b.click(".replay-form button[type=submit]").await.unwrap();
    b.until(Duration::from_secs(30), "replay done", || async {
        let e = b
            .client
            .find(fantoccini::Locator::Css(".replay-status [data-state]"))
            .await
            .ok()?;
        (e.attr("data-state").await.ok()?? == "done").then_some(())
    })
    .await
    .unwrap();
    b.screenshot("07-replayed").await.unwrap();
    let replayed = origin
        .stats
        .echoed
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, _, h)| {
            h.iter()
                .any(|(k, v)| k == "x-edited" && v == "from-the-browser")
        })
        .count();
    assert_eq!(
        replayed, 1,
        "the edited replay reached the local service once"
    );

    load_ms.push(("usage", b.open(&format!("{base}/usage")).await.unwrap()));
    b.wait_text("h2", "pro plan").await.unwrap();
    b.screenshot("08-usage").await.unwrap();
    a11y.push(("08-usage", b.accessibility_problems().await.unwrap()));
    load_ms.push((
        "settings",
        b.open(&format!("{base}/settings")).await.unwrap(),
    ));
    b.wait_text(".facts", EMAIL).await.unwrap();
    // Dark theme: chosen in the page, remembered by the server on the next render.
    b.click(".topbar-end button[aria-pressed]").await.unwrap();
    b.open(&format!("{base}/settings")).await.unwrap();
    assert_eq!(
        b.js("return document.documentElement.dataset.theme;")
            .await
            .unwrap(),
        "dark"
    );
    b.screenshot("09-settings-dark").await.unwrap();
    a11y.push((
        "09-settings-dark",
        b.accessibility_problems().await.unwrap(),
    ));
    b.click(".topbar-end button[aria-pressed]").await.unwrap();

    // A non-admin: 403 on the admin page and on its API, from the browser's own session.
    b.client.goto(&format!("{base}/admin")).await.unwrap();
    b.wait_text("h1", "Admins only").await.unwrap();
    let status = b
        .client
        .execute_async(
            "const done = arguments[0]; fetch('/v1/admin/users').then(r => done(r.status));",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(status, 403);
    // Cookie-authenticated writes need the CSRF header (a cross-site form cannot add it).
    let status = b
        .client
        .execute_async(
            "const done = arguments[0]; fetch('/v1/authtokens', {method: 'POST', \
             headers: {'content-type': 'application/json'}, body: '{}'}).then(r => done(r.status));",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(status, 403);

    // An admin: users, tunnels, relays, audit log; suspending is audited.
    assert!(cloud.state.store().grant_admin(EMAIL).await.unwrap());
    cloud.account("someone@example.com").await.unwrap();
    load_ms.push((
        "admin-users",
        b.open(&format!("{base}/admin/users")).await.unwrap(),
    ));
    b.wait_text("table", "someone@example.com").await.unwrap();
    b.screenshot("10-admin-users").await.unwrap();
    a11y.push(("10-admin-users", b.accessibility_problems().await.unwrap()));
    load_ms.push((
        "admin-tunnels",
        b.open(&format!("{base}/admin/tunnels")).await.unwrap(),
    ));
    b.wait_text("table", &stack.host("browser")).await.unwrap();
    b.screenshot("11-admin-tunnels").await.unwrap();
    load_ms.push((
        "admin-relays",
        b.open(&format!("{base}/admin/relays")).await.unwrap(),
    ));
    b.wait_text("table", "local").await.unwrap();
    b.screenshot("12-admin-relays").await.unwrap();
    a11y.push(("12-admin-relays", b.accessibility_problems().await.unwrap()));
    b.click("table button.btn-small").await.unwrap();
    b.wait_text("table", "draining").await.unwrap();
    load_ms.push((
        "admin-audit",
        b.open(&format!("{base}/admin/audit")).await.unwrap(),
    ));
    b.wait_text("table", "relay.drain").await.unwrap();
    b.wait_text("#audit-verdict", "Intact").await.unwrap();
    b.screenshot("13-admin-audit").await.unwrap();
    a11y.push(("13-admin-audit", b.accessibility_problems().await.unwrap()));
    load_ms.push((
        "admin-secrets",
        b.open(&format!("{base}/admin/secrets")).await.unwrap(),
    ));
    b.wait_text("table", "access_token_key").await.unwrap();
    b.wait_text("table", "rotate-agent-key").await.unwrap();
    b.screenshot("14-admin-secrets").await.unwrap();
    a11y.push((
        "14-admin-secrets",
        b.accessibility_problems().await.unwrap(),
    ));

    load_ms.push((
        "admin-domains",
        b.open(&format!("{base}/admin/domains")).await.unwrap(),
    ));
    b.wait_text("table", "shop.example.test").await.unwrap();
    b.wait_text(".state-title", "No certificate events")
        .await
        .unwrap();
    b.screenshot("15-admin-domains").await.unwrap();
    a11y.push((
        "15-admin-domains",
        b.accessibility_problems().await.unwrap(),
    ));

    // Sign out ends the session: the pages send the browser back to sign in.
    b.open(&format!("{base}/settings")).await.unwrap();
    b.click("main form[action='/logout'] button").await.unwrap();
    b.wait_text("h1", "Sign in").await.unwrap();
    b.client.goto(&format!("{base}/tunnels")).await.unwrap();
    b.wait_text("h1", "Sign in").await.unwrap();

    for (page, problems) in &a11y {
        assert!(
            problems.is_empty(),
            "accessibility of {page}: {problems:#?}"
        );
    }
    for (page, ms) in &load_ms {
        println!("page {page}: interactive after {ms:.0} ms");
    }
    let worst = load_ms.iter().map(|(_, ms)| *ms).fold(0.0, f64::max);
    println!("slowest page interactive after {worst:.0} ms");
    let _ = agent.stop().await;
    b.close().await.unwrap();
    stack.shutdown().await.unwrap();
}
