//! Checkout against Stripe as tests can have it: localstripe (customers, subscriptions,
//! invoices, refunds, signed webhooks) behind the in-repo emulator of Checkout Sessions and the
//! portal. A person starts a checkout, pays on the hosted page, localstripe's signed
//! `customer.subscription.created` reaches the cloud over HTTP, and the plan follows; then
//! cancelling, the portal, and operators' refunds checked against the ledger.

use super::billing::{account, plan, post, stripe_header};
use crate::common::{TestApp, TestDb};
use axum::http::StatusCode;
use fdt_api::Plan;
use fdt_cloud::config::StripeConfig;
use fdt_cloud::secret::Secret;
use fdt_cloud::testing::stripe::{LocalStripe, StripeEmulator};
use serde_json::{Value, json};
use std::time::Duration;

on_both_databases!(a_stripe_checkout_pays_for_pro_and_can_be_cancelled_and_refunded);

const SECRET: &str = "whsec_checkout_tests";

fn stripe_app(db: &TestDb, api_base: &str) -> TestApp {
    TestApp::with_config(db, |c| {
        c.billing.stripe = Some(StripeConfig {
            webhook_secrets: vec![Secret::new(SECRET.into())],
            prices: [("price_pro".to_owned(), "pro".to_owned())].into(),
            secret_key: Some(Secret::new("sk_test_fdt".into())),
            api_base: api_base.to_owned(),
            checkout: [("pro".to_owned(), "price_pro".to_owned())].into(),
        });
    })
}

/// GETs a Stripe-shaped URL with the test secret key.
async fn stripe_get(url: String) -> Value {
    reqwest::Client::new()
        .get(url)
        .basic_auth("sk_test_fdt", None::<&str>)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn upstream(ls: &LocalStripe, path: &str) -> Value {
    stripe_get(format!("{}{path}", ls.url)).await
}

async fn upstream_session(emu: &StripeEmulator, id: &str) -> Value {
    stripe_get(format!("{}/v1/checkout/sessions/{id}", emu.url)).await
}

async fn a_stripe_checkout_pays_for_pro_and_can_be_cancelled_and_refunded(db: &TestDb) {
    let ls = LocalStripe::start().await;
    ls.price("price_pro", 1200, "usd").await;
    let emu = StripeEmulator::start(&ls.url).await;
    let app = stripe_app(db, &emu.url);
    let base = app.serve().await;
    ls.webhook(&format!("{base}/v1/billing/webhooks/stripe"), SECRET)
        .await;
    let (ta, a) = account(&app, "a@example.com").await;
    let (tb, _) = account(&app, "b@example.com").await;
    let ops = app.operator("ops@example.com").await;

    // What cannot be bought is refused before any provider call, naming the field.
    for (body, field) in [
        (json!({"provider": "stripe", "plan": "free"}), "plan"),
        (json!({"provider": "stripe", "plan": "team"}), "plan"),
        (json!({"provider": "razorpay", "plan": "pro"}), "provider"),
        (json!({"provider": "square", "plan": "pro"}), "provider"),
    ] {
        let r = app.post("/v1/billing/checkout", body, Some(&ta)).await;
        r.assert_error(StatusCode::BAD_REQUEST, "validation_failed");
        assert_eq!(r.json["error"]["field"], field, "{}", r.json);
    }
    assert_eq!(emu.sessions(), 0);

    let r = app
        .post(
            "/v1/billing/checkout",
            json!({"provider": "stripe", "plan": "pro"}),
            Some(&ta),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.json);
    let checkout = r.json["id"].as_str().unwrap().to_owned();
    let url = r.json["url"].as_str().unwrap().to_owned();
    let session = r.json["reference"].as_str().unwrap().to_owned();
    assert!(url.starts_with(&emu.url), "{url}");
    let s = upstream(&ls, &format!("/v1/customers/{}", "x")).await;
    assert!(
        s["error"].is_object(),
        "localstripe answers errors as Stripe does"
    );

    // Another account cannot see the checkout.
    let r = app
        .get(&format!("/v1/billing/checkout/{checkout}"), Some(&tb))
        .await;
    r.assert_error(StatusCode::NOT_FOUND, "not_found");
    let r = app
        .get(&format!("/v1/billing/checkout/{checkout}"), Some(&ta))
        .await;
    assert_eq!(r.json["state"], "open", "{}", r.json);
    assert_eq!(r.json["entitled_plan"], "free");

    // The person pays on the provider's page and is sent back to the console.
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let page = browser.get(&url).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let paid = browser.post(&url).send().await.unwrap();
    assert_eq!(paid.status(), 303, "{:?}", paid.text().await);
    let back = paid.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        back.ends_with(&format!("/billing?checkout={checkout}")),
        "{back}"
    );

    // localstripe's signed event arrives over HTTP; the window polls until the plan moves.
    let mut state = Value::Null;
    for _ in 0..100 {
        let r = app
            .get(&format!("/v1/billing/checkout/{checkout}"), Some(&ta))
            .await;
        state = r.json;
        if state["state"] == "active" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(state["state"], "active", "{state}");
    assert_eq!(state["entitled_plan"], "pro");
    assert_eq!(plan(&app, &a).await, Plan::Pro);
    let subs = app.get("/v1/billing/subscriptions", Some(&ta)).await;
    let sub = subs.json["subscriptions"][0]["subscription_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(sub.starts_with("sub_"), "{}", subs.json);

    // A second checkout uses the same customer; so does the portal.
    let r = app
        .post(
            "/v1/billing/checkout",
            json!({"provider": "stripe", "plan": "pro"}),
            Some(&ta),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.json);
    let first = upstream_session(&emu, &session).await;
    let second = upstream_session(&emu, r.json["reference"].as_str().unwrap()).await;
    assert_eq!(first["customer"], second["customer"]);
    let customer = first["customer"].as_str().unwrap().to_owned();
    let r = app.post("/v1/billing/portal", json!({}), Some(&ta)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json);
    assert!(r.json["url"].as_str().unwrap().ends_with(&customer));
    let r = app.post("/v1/billing/portal", json!({}), Some(&tb)).await;
    r.assert_error(StatusCode::CONFLICT, "conflict");

    // Cancelling: not by another account; by the owner, at the end of the period.
    let cancel = format!("/v1/billing/subscriptions/stripe/{sub}/cancel");
    let r = app.post(&cancel, json!({}), Some(&tb)).await;
    r.assert_error(StatusCode::NOT_FOUND, "not_found");
    let r = app.post(&cancel, json!({}), Some(&ta)).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.json);
    let s = upstream(&ls, &format!("/v1/subscriptions/{sub}")).await;
    assert_eq!(s["cancel_at_period_end"], true, "{s}");
    assert_eq!(s["status"], "active", "paid until the period ends");
    let audit = app.audit_actions(&ops).await;
    assert!(
        audit
            .iter()
            .any(|(a, t)| a == "billing.cancel" && *t == sub),
        "{audit:?}"
    );
    assert!(
        audit
            .iter()
            .any(|(a, t)| a == "billing.checkout" && *t == checkout)
    );

    // Refunds: of the charge localstripe made, once the ledger has it.
    let charges = upstream(&ls, &format!("/v1/charges?customer={customer}")).await;
    let charge = charges["data"][0]["id"].as_str().unwrap().to_owned();
    let refund = |body: Value| {
        let app = &app;
        let ops = ops.clone();
        async move {
            app.post("/v1/admin/billing/refunds", body, Some(&ops))
                .await
        }
    };
    let r = refund(json!({"provider": "stripe", "charge": charge, "currency": "usd"})).await;
    r.assert_error(StatusCode::NOT_FOUND, "not_found");
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let event = json!({"id": "evt_charge_1", "object": "event", "type": "charge.succeeded",
        "created": now, "data": {"object": {"id": charge, "object": "charge", "amount": 1200,
        "currency": "usd", "metadata": {"account_id": a.as_str()}}}})
    .to_string();
    let r = post(
        &app,
        "stripe",
        &[("stripe-signature", stripe_header(SECRET, now, &event))],
        &event,
    )
    .await;
    assert_eq!(r.json["state"], "processed", "{}", r.json);
    for (body, field) in [
        (
            json!({"provider": "stripe", "charge": charge, "currency": "usd", "amount": 1201}),
            "amount",
        ),
        (
            json!({"provider": "stripe", "charge": charge, "currency": "usd", "amount": 0}),
            "amount",
        ),
        (
            json!({"provider": "stripe", "charge": charge, "currency": "eur", "amount": 100}),
            "currency",
        ),
        (
            json!({"provider": "stripe", "charge": charge, "currency": "usdx"}),
            "currency",
        ),
    ] {
        let r = refund(body).await;
        r.assert_error(StatusCode::BAD_REQUEST, "validation_failed");
        assert_eq!(r.json["error"]["field"], field, "{}", r.json);
    }
    let r =
        refund(json!({"provider": "stripe", "charge": charge, "currency": "usd", "amount": 500}))
            .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.json);
    let re = r.json["refund_id"].as_str().unwrap().to_owned();
    let at_stripe = upstream(&ls, &format!("/v1/refunds/{re}")).await;
    assert_eq!(at_stripe["amount"], 500, "{at_stripe}");
    assert_eq!(at_stripe["charge"], charge.as_str());
    // A refund by someone who is not an operator is refused.
    let r = app
        .post(
            "/v1/admin/billing/refunds",
            json!({"provider": "stripe", "charge": charge, "currency": "usd"}),
            Some(&ta),
        )
        .await;
    r.assert_error(StatusCode::FORBIDDEN, "forbidden");
    let audit = app.audit_actions(&ops).await;
    assert!(
        audit.iter().any(|(a, t)| a == "billing.refund" && *t == re),
        "{audit:?}"
    );
}
