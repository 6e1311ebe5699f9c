//! Organisations in the console, in Chromium: an owner invites a teammate from Settings; the
//! teammate follows the invitation link from the email, joins, and the pages act in the
//! organisation joined (its authtokens are theirs to see); switching back to their own
//! organisation shows their own again.

use fdt_api::CreateAuthtokenRequest;
use fdt_e2e::Cloud;
use fdt_e2e::browser::Browser;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_joins_by_the_emailed_link_and_switches_organisations() {
    fdt_e2e::init_tracing();
    fdt_e2e::install_crypto();
    let db = fdt_cloud::testing::TestDb::sqlite().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let cloud = Cloud::start(listener, db.store.clone(), Vec::new());
    let owner = cloud.account("owner@team.test").await.unwrap();
    let _dev = cloud.account("dev@team.test").await.unwrap();
    owner
        .client
        .create_authtoken(&CreateAuthtokenRequest {
            description: Some("team build box".into()),
        })
        .await
        .unwrap();
    let b = Browser::start().await.unwrap();
    let sign_in = |email: &'static str| {
        let b = &b;
        let url = cloud.url.clone();
        async move {
            b.open(&format!("{url}/login")).await.unwrap();
            b.fill("#f-email", email).await.unwrap();
            b.fill("#f-password", fdt_e2e::cloud::PASSWORD)
                .await
                .unwrap();
            b.click("main form button[type=submit]").await.unwrap();
            b.wait_text("h1", "Tunnels").await.unwrap();
        }
    };

    // The owner invites from Settings → Members.
    sign_in("owner@team.test").await;
    b.open(&format!("{}/settings", cloud.url)).await.unwrap();
    b.wait_text("#members-table", "owner@team.test")
        .await
        .unwrap();
    b.fill("#f-invite-email", "dev@team.test").await.unwrap();
    b.click("#invite-form button[type=submit]").await.unwrap();
    b.wait_text(
        "[role=status]",
        "Invitation sent to dev@team.test as developer",
    )
    .await
    .unwrap();
    b.click("header form button[type=submit]").await.unwrap();
    b.wait_text("h1", "Sign in").await.unwrap();

    let mail = cloud
        .state
        .store()
        .outbox_for("dev@team.test")
        .await
        .unwrap();
    let link = mail[0]
        .1
        .split_whitespace()
        .find(|w| w.starts_with("http") && w.contains("/settings?invite=fdi_"))
        .unwrap()
        .to_owned();
    assert!(link.starts_with(&cloud.url), "{link}");

    sign_in("dev@team.test").await;

    // The emailed link fills the code in; joining switches to the organisation.
    b.open(&link).await.unwrap();
    b.wait_text("h1", "Settings").await.unwrap();
    b.click("#join-form button[type=submit]").await.unwrap();
    b.wait_text("h1", "Tunnels").await.unwrap();
    b.open(&format!("{}/authtokens", cloud.url)).await.unwrap();
    b.wait_text("main", "team build box").await.unwrap();
    b.open(&format!("{}/settings", cloud.url)).await.unwrap();
    b.wait_text("#orgs-table", "Acting here").await.unwrap();
    b.wait_text("#orgs-table", "developer").await.unwrap();
    // A developer may not list the members: the section says so.
    b.wait_text("section[aria-labelledby=members-h]", "cannot see")
        .await
        .unwrap();
    b.screenshot("orgs-acting-in-team").await.unwrap();
    let a11y = b.accessibility_problems().await.unwrap();
    assert!(a11y.is_empty(), "{a11y:#?}");

    // Back to their own organisation: its authtokens, not the team's.
    b.click("#orgs-table form button[type=submit]")
        .await
        .unwrap();
    b.wait_text("h1", "Tunnels").await.unwrap();
    b.open(&format!("{}/authtokens", cloud.url)).await.unwrap();
    b.wait_text("main", "Authtokens").await.unwrap();
    let text = b
        .js("return document.querySelector('main').innerText")
        .await
        .unwrap();
    assert!(!text.to_string().contains("team build box"), "{text}");

    // A used code is refused with a reason.
    b.open(&link).await.unwrap();
    b.wait_text("h1", "Settings").await.unwrap();
    b.click("#join-form button[type=submit]").await.unwrap();
    b.wait_text("[role=alert]", "not valid").await.unwrap();
    b.close().await.unwrap();
}
