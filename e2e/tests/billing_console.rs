//! Paying for a plan in a real browser (headless Chromium over WebDriver): sign up, see an
//! agent's fourth tunnel refused on the free plan (three online), open Billing, "Upgrade to
//! pro with Stripe", pay on the provider's page (PyPI's localstripe behind the in-repo
//! Checkout emulator), come back to Billing, which shows the confirmation once localstripe's
//! signed `customer.subscription.created` has reached the cloud; then the relay takes the
//! fourth tunnel. With the subscription live, "Upgrade to team" changes its plan (no second
//! checkout) and the page follows until Stripe's event moves it; operators see the
//! subscription, the charge waiting for their acknowledgement and the ledger export on their
//! billing page. Screenshots: `e2e/output/screenshots/billing-*`.
//!
//! Needs the UI bundle, Debian's chromium and chromium-driver, and localstripe (all set up
//! by the test command).

use fdt_agent_core::config::TunnelConfig;
use fdt_agent_core::{CloudLogin, Connect};
use fdt_cloud::config::StripeConfig;
use fdt_cloud::secret::Secret;
use fdt_cloud::testing::stripe::{LocalStripe, StripeEmulator};
use fdt_e2e::browser::Browser;
use fdt_e2e::{Cloud, HttpOrigin, Stack, StackOptions};
use fdt_proto::Proto;
use std::time::Duration;

const EMAIL: &str = "payer@example.com";
const PASSWORD: &str = "a long paying password";
const WEBHOOK_SECRET: &str = "whsec_e2e_billing_console";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_up_pay_for_pro_with_stripe_and_the_relay_takes_more_tunnels() {
    fdt_e2e::init_tracing();
    fdt_e2e::install_crypto();
    let db = fdt_cloud::testing::TestDb::sqlite().await;
    let ls = LocalStripe::start().await;
    ls.price("price_pro", 1200, "usd").await.unwrap();
    ls.price("price_team", 4900, "usd").await.unwrap();
    let emu = StripeEmulator::start(&ls.url).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api_url = format!("http://{}", listener.local_addr().unwrap());
    let stack = Stack::start(StackOptions::attached_to(&api_url))
        .await
        .unwrap();
    let cloud = Cloud::start_with(listener, db.store.clone(), |c| {
        c.fleet.heartbeat_secs = 1;
        c.fleet.unhealthy_after_secs = 5;
        c.billing.stripe = Some(StripeConfig {
            webhook_secrets: vec![Secret::new(WEBHOOK_SECRET.into())],
            prices: [
                ("price_pro".to_owned(), "pro".to_owned()),
                ("price_team".to_owned(), "team".to_owned()),
            ]
            .into(),
            secret_key: Some(Secret::new("sk_test_fdt".into())),
            api_base: emu.url.clone(),
            checkout: [
                ("pro".to_owned(), "price_pro".to_owned()),
                ("team".to_owned(), "price_team".to_owned()),
            ]
            .into(),
        });
    });
    emu.webhook(
        &ls,
        &format!("{}/v1/billing/webhooks/stripe", cloud.url),
        WEBHOOK_SECRET,
    )
    .await
    .unwrap();
    let base = cloud.url.clone();
    let b = Browser::start().await.unwrap();
    let mut a11y = Vec::new();

    b.open(&format!("{base}/signup")).await.unwrap();
    b.fill("#f-email", EMAIL).await.unwrap();
    b.fill("#f-password", PASSWORD).await.unwrap();
    b.click("main form button[type=submit]").await.unwrap();
    b.wait_text("h1", "Tunnels").await.unwrap();
    b.open(&format!("{base}/authtokens")).await.unwrap();
    b.fill("#f-token-description", "billing test")
        .await
        .unwrap();
    b.click("main form button[type=submit]").await.unwrap();
    let token = b.wait_text("#new-token", "fdt_").await.unwrap();

    // Four tunnels on the free plan: three come online, the fourth is refused with its code.
    let origin = HttpOrigin::start().await.unwrap();
    let login = || {
        Connect::Cloud(CloudLogin {
            api_url: cloud.url.clone(),
            authtoken: token.trim().to_owned(),
            region: None,
            relay_ca: Some(stack.ca_path()),
        })
    };
    let tunnel = |n: u32| {
        let mut t = TunnelConfig::new(Proto::Http, origin.addr.to_string());
        t.subdomain = Some(format!("paid{n}"));
        t
    };
    let mut agent = stack
        .spawn_agent_via(
            login(),
            vec![
                ("t1", tunnel(1)),
                ("t2", tunnel(2)),
                ("t3", tunnel(3)),
                ("t4", tunnel(4)),
            ],
        )
        .unwrap();
    let refused = fdt_e2e::poll_until(Duration::from_secs(15), "three bound, one refused", || {
        let s = agent.status();
        async move {
            let bound = s.tunnels.iter().filter(|t| t.public_url.is_some()).count();
            let refused = s.tunnels.iter().find(|t| t.error.is_some())?;
            (bound == 3).then(|| refused.clone())
        }
    })
    .await
    .unwrap();
    assert_eq!(refused.name, "t4");
    assert_eq!(
        refused.error_code,
        Some(fdt_proto::ErrorCode::LimitExceeded),
        "{refused:?}"
    );

    // Billing: the free plan is current; pro can be bought with Stripe.
    b.open(&format!("{base}/billing")).await.unwrap();
    b.interactive().await.unwrap();
    b.wait_text("section[data-plan=free] h2", "current")
        .await
        .unwrap();
    // Billing details: a refused field says why under it; saved ones come back normalised.
    b.fill("#f-profile-name", "Payer GmbH").await.unwrap();
    b.fill("#f-profile-country", "Germany").await.unwrap();
    b.click("form.billing-profile button[type=submit]")
        .await
        .unwrap();
    b.wait_text("#f-profile-country-error", "alpha-2")
        .await
        .unwrap();
    b.fill("#f-profile-country", "de").await.unwrap();
    b.click("form.billing-profile button[type=submit]")
        .await
        .unwrap();
    let page = &b;
    b.until(
        Duration::from_secs(20),
        "the country saved as DE",
        || async move {
            let v = page
                .js("return document.querySelector('#f-profile-country').value")
                .await
                .ok()?;
            (v == "DE").then_some(())
        },
    )
    .await
    .unwrap();
    let store = cloud.state.store();
    let payer = store.account_by_email(EMAIL).await.unwrap().unwrap();
    let saved = store.billing_profile(&payer.id).await.unwrap().unwrap();
    assert_eq!(saved.country.as_deref(), Some("DE"));
    b.screenshot("billing-1-plans").await.unwrap();
    a11y.push(("billing-1-plans", b.accessibility_problems().await.unwrap()));
    b.click("section[data-plan=pro] button.upgrade[data-provider=stripe]")
        .await
        .unwrap();
    // The provider's page.
    b.wait_text("h1", "Pay for price_pro").await.unwrap();
    b.screenshot("billing-2-provider").await.unwrap();
    b.click("#pay").await.unwrap();
    // Back on Billing, which waits for the provider's word, then says so.
    b.wait_text("#checkout-status", "you are on the pro plan")
        .await
        .unwrap();
    let url = b.client.current_url().await.unwrap();
    assert!(
        url.as_str()
            .starts_with(&format!("{base}/billing?checkout=chk_")),
        "{url}"
    );
    b.wait_text("section[data-plan=pro] h2", "current")
        .await
        .unwrap();
    b.wait_text("table.subscriptions", "active").await.unwrap();
    b.screenshot("billing-3-paid").await.unwrap();
    a11y.push(("billing-3-paid", b.accessibility_problems().await.unwrap()));

    // The relay now takes the fourth tunnel (pro allows twenty).
    let mut second = stack
        .spawn_agent_via(login(), vec![("t4", tunnel(4))])
        .unwrap();
    second.wait_bound().await.unwrap();
    let r = stack
        .curl(&stack.http_url("paid4", "/echo"))
        .run()
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());

    // With a subscription, another plan is a change of its plan, not a second checkout: up to
    // team at once, the page following until Stripe's event moves the plan.
    b.open(&format!("{base}/billing")).await.unwrap();
    b.interactive().await.unwrap();
    b.wait_text("section[data-plan=pro] h2", "current")
        .await
        .unwrap();
    let checkouts = b
        .js("return document.querySelectorAll('section[data-plan=team] button.upgrade').length")
        .await
        .unwrap();
    assert_eq!(checkouts, 0, "no second checkout is offered");
    b.click("section[data-plan=team] button.change-plan")
        .await
        .unwrap();
    b.wait_text("section[data-plan=team] h2", "current")
        .await
        .unwrap();
    b.wait_text("table.subscriptions", "team").await.unwrap();
    b.screenshot("billing-4-changed").await.unwrap();
    a11y.push((
        "billing-4-changed",
        b.accessibility_problems().await.unwrap(),
    ));

    // The operators' billing page lists the provider's events and the invoice they produced.
    assert!(cloud.state.store().grant_admin(EMAIL).await.unwrap());
    b.open(&format!("{base}/admin/billing")).await.unwrap();
    b.interactive().await.unwrap();
    b.wait_text("table", "customer.subscription.created")
        .await
        .unwrap();
    b.wait_text("table", "stripe / sub_").await.unwrap();
    // The charge waits for an operator's acknowledgement; the export downloads the ledger
    // with the page's own sign-in.
    b.wait_text("table", "Acknowledge").await.unwrap();
    let csv = b
        .js("return fetch(document.querySelector('#ledger-download').href).then(r => r.text())")
        .await
        .unwrap();
    let csv = csv.as_str().unwrap_or_default();
    assert!(
        csv.starts_with("txn,at,kind,provider,reference,account,book,amount,currency\n"),
        "{csv}"
    );
    assert!(csv.contains(",charge,stripe,"), "{csv}");
    b.screenshot("billing-5-admin").await.unwrap();
    a11y.push(("billing-5-admin", b.accessibility_problems().await.unwrap()));

    for (page, problems) in a11y {
        assert!(problems.is_empty(), "{page}: {problems:?}");
    }
    let _ = second.stop().await;
    let _ = agent.stop().await;
    b.close().await.unwrap();
    stack.shutdown().await.unwrap();
    drop(emu);
}
