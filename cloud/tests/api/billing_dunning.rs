//! Dunning: a past-due subscription opens a case with reminders in the outbox on a schedule;
//! a payment that goes through closes it as recovered; at the end of the grace period the
//! account moves to free, and the provider's next event still applies. All of it is visible.

use super::billing::{account, plan, post};
use crate::common::{PASSWORD, TestApp, TestDb};
use axum::http::StatusCode;
use fdt_api::{AccountId, Plan};
use fdt_cloud::billing::dunning::sweep;
use fdt_cloud::billing::verify::hmac_hex;
use fdt_cloud::config::StripeConfig;
use fdt_cloud::secret::Secret;
use serde_json::{Value, json};

on_both_databases!(a_past_due_subscription_gets_reminders_then_moves_to_free_after_its_grace);

const SECRET: &str = "whsec_dunning_tests_secret";

async fn status(app: &TestApp, a: &AccountId, id: &str, at: i64, status: &str) -> Value {
    let body =
        json!({"id": id, "object": "event", "type": "customer.subscription.updated", "created": at,
        "data": {"object": {"id": "sub_d", "status": status, "metadata": {"account_id": a.as_str()},
            "items": {"data": [{"price": {"id": "price_pro"}}]}}}})
        .to_string();
    let t = app.state.clock().now().unix_timestamp();
    let sig = hmac_hex(
        SECRET.as_bytes(),
        &[format!("{t}.").as_bytes(), body.as_bytes()],
    );
    let r = post(
        app,
        "stripe",
        &[("stripe-signature", format!("t={t},v1={sig}"))],
        &body,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json);
    r.json
}

async fn outbox(app: &TestApp, ops: &str) -> Vec<String> {
    let r = app.get("/v1/admin/billing/outbox", Some(ops)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json);
    let mut kinds: Vec<String> = r.json["emails"]
        .as_array()
        .unwrap()
        .iter()
        .inspect(|e| assert_eq!(e["to"], "a@example.com"))
        .map(|e| e["kind"].as_str().unwrap().to_owned())
        .collect();
    kinds.reverse();
    kinds
}

async fn login(app: &TestApp, email: &str) -> String {
    let r = app.login(email, PASSWORD).await;
    r.json["access_token"].as_str().unwrap().to_owned()
}

async fn a_past_due_subscription_gets_reminders_then_moves_to_free_after_its_grace(db: &TestDb) {
    let app = TestApp::with_config(db, |c| {
        c.billing.stripe = Some(StripeConfig {
            webhook_secrets: vec![Secret::new(SECRET.into())],
            prices: [("price_pro".to_owned(), "pro".to_owned())]
                .into_iter()
                .collect(),
            ..Default::default()
        });
    });
    let (ta, a) = account(&app, "a@example.com").await;
    app.operator("ops@example.com").await;
    let t0 = 1_800_000_000;
    assert_eq!(
        status(&app, &a, "evt_1", t0, "active").await["state"],
        "processed"
    );
    assert_eq!(plan(&app, &a).await, Plan::Pro);

    // Past due: a case opens, the first reminder is written at once, the plan stays.
    status(&app, &a, "evt_2", t0 + 1, "past_due").await;
    let ops = login(&app, "ops@example.com").await;
    assert_eq!(outbox(&app, &ops).await, ["dunning_reminder"]);
    let mine = app.get("/v1/billing/dunning", Some(&ta)).await;
    let case = &mine.json["cases"][0];
    assert_eq!(
        (case["state"].as_str(), case["reminders_sent"].as_i64()),
        (Some("open"), Some(1)),
        "{}",
        mine.json
    );
    let opened = time::OffsetDateTime::parse(
        case["started_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let grace = time::OffsetDateTime::parse(
        case["grace_ends_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    assert_eq!(grace - opened, time::Duration::days(7));
    assert_eq!(plan(&app, &a).await, Plan::Pro);
    // Nothing is due again the same day; on day 3 the second reminder.
    assert_eq!(sweep(&app.state).await.unwrap(), 0);
    app.clock.advance(time::Duration::days(3));
    assert_eq!(sweep(&app.state).await.unwrap(), 1);
    assert_eq!(sweep(&app.state).await.unwrap(), 0, "one reminder per slot");
    let ops = login(&app, "ops@example.com").await;
    assert_eq!(
        outbox(&app, &ops).await,
        ["dunning_reminder", "dunning_reminder"]
    );
    let queue = app.get("/v1/admin/billing/dunning", Some(&ops)).await;
    assert_eq!(
        queue.json["cases"].as_array().unwrap().len(),
        1,
        "{}",
        queue.json
    );

    // The payment goes through: recovered.
    status(&app, &a, "evt_3", t0 + 2, "active").await;
    assert_eq!(
        outbox(&app, &ops).await,
        ["dunning_reminder", "dunning_reminder", "payment_recovered"]
    );
    let queue = app.get("/v1/admin/billing/dunning", Some(&ops)).await;
    assert_eq!(queue.json["cases"], json!([]));

    // Past due again, and nothing pays for seven days: free, with an email saying so.
    status(&app, &a, "evt_4", t0 + 3, "past_due").await;
    app.clock.advance(time::Duration::days(3));
    sweep(&app.state).await.unwrap();
    app.clock.advance(time::Duration::days(4));
    assert_eq!(sweep(&app.state).await.unwrap(), 1);
    assert_eq!(plan(&app, &a).await, Plan::Free);
    let ops = login(&app, "ops@example.com").await;
    let kinds = outbox(&app, &ops).await;
    assert_eq!(
        kinds.last().map(String::as_str),
        Some("downgraded"),
        "{kinds:?}"
    );
    assert_eq!(
        kinds.iter().filter(|k| *k == "dunning_reminder").count(),
        4,
        "{kinds:?}"
    );
    let ta = login(&app, "a@example.com").await;
    let mine = app.get("/v1/billing/dunning", Some(&ta)).await;
    let states: Vec<&str> = mine.json["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["downgraded", "recovered"]);
    let subs = app.get("/v1/billing/subscriptions", Some(&ta)).await;
    assert_eq!(subs.json["subscriptions"][0]["status"], "canceled");

    // The provider's next event (the customer paid after all) still applies.
    status(&app, &a, "evt_5", t0 + 4, "active").await;
    assert_eq!(plan(&app, &a).await, Plan::Pro);
    // Only operators see the queue and the outbox.
    app.get("/v1/admin/billing/outbox", Some(&ta))
        .await
        .assert_error(StatusCode::FORBIDDEN, "forbidden");
}
