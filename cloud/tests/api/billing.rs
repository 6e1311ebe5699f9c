//! Billing webhooks: verified on the raw bytes as each provider documents (Stripe's
//! `t=…,v1=…` with a 300 s tolerance, Razorpay's body HMAC), stored before processing, one
//! effect per event ID however concurrent, never moving a subscription backwards or to another
//! account; the account's plan follows its subscriptions.

use crate::common::{TestApp, TestDb};
use axum::body::Body;
use axum::http::{Method, StatusCode};
use fdt_api::{AccountId, Plan};
use fdt_cloud::billing::verify::hmac_hex;
use fdt_cloud::config::{RazorpayConfig, StripeConfig};
use fdt_cloud::secret::Secret;
use serde_json::{Value, json};

on_both_databases!(
    an_event_whose_processing_never_finished_is_processed_on_redelivery,
    stripe_webhooks_are_verified_on_raw_bytes_and_move_the_plan,
    the_same_stripe_event_ten_times_at_once_has_one_effect,
    razorpay_webhooks_are_verified_and_deduplicated,
);

const STRIPE_SECRET: &str = "whsec_e2e_current_secret";
const STRIPE_OLD_SECRET: &str = "whsec_e2e_previous_secret";
const RZP_SECRET: &str = "rzp_webhook_secret_for_tests";

fn app(db: &TestDb) -> TestApp {
    TestApp::with_config(db, |c| {
        c.billing.stripe = Some(StripeConfig {
            webhook_secrets: vec![
                Secret::new(STRIPE_SECRET.into()),
                Secret::new(STRIPE_OLD_SECRET.into()),
            ],
            prices: [("price_pro", "pro"), ("price_team", "team")]
                .into_iter()
                .map(|(a, b)| (a.to_owned(), b.to_owned()))
                .collect(),
            ..Default::default()
        });
        c.billing.razorpay = Some(RazorpayConfig {
            webhook_secret: Secret::new(RZP_SECRET.into()),
            plans: [("plan_pro".to_owned(), "pro".to_owned())]
                .into_iter()
                .collect(),
            ..Default::default()
        });
    })
}

pub(crate) async fn account(app: &TestApp, email: &str) -> (String, AccountId) {
    let t = app.signed_up(email).await;
    let id = app
        .state
        .store()
        .account_by_email(email)
        .await
        .unwrap()
        .unwrap()
        .id;
    (t.access, id)
}

fn subscription_event(
    id: &str,
    kind: &str,
    created: i64,
    sub: &str,
    account: &AccountId,
    status: &str,
    price: &str,
) -> String {
    json!({
        "id": id, "object": "event", "type": kind, "created": created,
        "data": {"object": {"id": sub, "object": "subscription", "status": status,
            "current_period_end": created + 30 * 86400,
            "metadata": {"account_id": account.as_str()},
            "items": {"data": [{"price": {"id": price}}]}}}
    })
    .to_string()
}

pub(crate) async fn post(
    app: &TestApp,
    provider: &str,
    headers: &[(&str, String)],
    body: &str,
) -> crate::common::TestResponse {
    let mut req = TestApp::request(
        Method::POST,
        &format!("/v1/billing/webhooks/{provider}"),
        None,
        None,
    )
    .header("content-type", "application/json");
    for (k, v) in headers {
        req = req.header(*k, v);
    }
    app.call(req.body(Body::from(body.to_owned())).unwrap())
        .await
}

pub(crate) fn stripe_header(secret: &str, t: i64, body: &str) -> String {
    format!(
        "t={t},v1={}",
        hmac_hex(
            secret.as_bytes(),
            &[format!("{t}.").as_bytes(), body.as_bytes()]
        )
    )
}

pub(crate) async fn plan(app: &TestApp, id: &AccountId) -> Plan {
    app.state.store().account_plan(id).await.unwrap().unwrap()
}

async fn rejections(app: &TestApp, ops: &str) -> Value {
    let r = app
        .get("/v1/admin/billing/webhook-rejections", Some(ops))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json);
    r.json["providers"].clone()
}

async fn stripe_webhooks_are_verified_on_raw_bytes_and_move_the_plan(db: &TestDb) {
    let app = app(db);
    let (ta, a) = account(&app, "a@example.com").await;
    let (_, b) = account(&app, "b@example.com").await;
    let ops = app.operator("ops@example.com").await;
    let now = app.state.clock().now().unix_timestamp();
    let created = subscription_event(
        "evt_1",
        "customer.subscription.created",
        now,
        "sub_1",
        &a,
        "active",
        "price_pro",
    );
    let sig =
        |t: i64, body: &str| vec![("stripe-signature", stripe_header(STRIPE_SECRET, t, body))];

    // Refused, storing nothing and changing nothing: signed 301 s ago, 600 s ahead, a
    // re-serialised body, no header, another secret.
    let refused = |r: crate::common::TestResponse| {
        r.assert_error(StatusCode::BAD_REQUEST, "invalid_body");
        assert!(
            r.json["error"]["message"]
                .as_str()
                .unwrap()
                .starts_with("webhook refused"),
            "{}",
            r.json
        );
    };
    refused(post(&app, "stripe", &sig(now - 301, &created), &created).await);
    refused(post(&app, "stripe", &sig(now + 600, &created), &created).await);
    let reserialised =
        serde_json::to_string_pretty(&serde_json::from_str::<Value>(&created).unwrap()).unwrap();
    refused(post(&app, "stripe", &sig(now, &created), &reserialised).await);
    refused(post(&app, "stripe", &[], &created).await);
    let forged = vec![(
        "stripe-signature",
        stripe_header("whsec_someone_else", now, &created),
    )];
    refused(post(&app, "stripe", &forged, &created).await);
    assert_eq!(plan(&app, &a).await, Plan::Free);
    let counts = rejections(&app, &ops).await;
    assert_eq!(
        counts[0],
        json!({"provider": "stripe", "malformed": 1, "stale": 2, "mismatch": 2})
    );
    // Operators only.
    app.get("/v1/admin/billing/webhook-rejections", Some(&ta))
        .await
        .assert_error(StatusCode::FORBIDDEN, "forbidden");

    // One good v1 among bad ones (the previous secret's, a garbage one): accepted.
    let good = stripe_header(STRIPE_OLD_SECRET, now, &created);
    let mixed = format!(
        "t={now},v1={},{}",
        "0".repeat(64),
        good.split_once(',').unwrap().1
    );
    let r = post(&app, "stripe", &[("stripe-signature", mixed)], &created).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json);
    assert_eq!(
        (r.json["duplicate"].as_bool(), r.json["state"].as_str()),
        (Some(false), Some("processed"))
    );
    assert_eq!(plan(&app, &a).await, Plan::Pro);
    let subs = app.get("/v1/billing/subscriptions", Some(&ta)).await;
    assert_eq!(
        subs.json["subscriptions"][0]["status"], "active",
        "{}",
        subs.json
    );
    assert_eq!(subs.json["subscriptions"][0]["plan"], "pro");

    // An upgrade; then an older event (created before it) arriving late changes nothing.
    let upgrade = subscription_event(
        "evt_2",
        "customer.subscription.updated",
        now + 10,
        "sub_1",
        &a,
        "active",
        "price_team",
    );
    assert_eq!(
        post(&app, "stripe", &sig(now, &upgrade), &upgrade)
            .await
            .json["state"],
        "processed"
    );
    assert_eq!(plan(&app, &a).await, Plan::Team);
    let late = subscription_event(
        "evt_0",
        "customer.subscription.updated",
        now - 10,
        "sub_1",
        &a,
        "past_due",
        "price_pro",
    );
    let r = post(&app, "stripe", &sig(now, &late), &late).await;
    assert_eq!(r.json["state"], "ignored", "{}", r.json);
    assert_eq!(plan(&app, &a).await, Plan::Team);
    // The same subscription claimed for another account: refused, nothing moves.
    let stolen = subscription_event(
        "evt_3",
        "customer.subscription.updated",
        now + 20,
        "sub_1",
        &b,
        "active",
        "price_team",
    );
    let r = post(&app, "stripe", &sig(now, &stolen), &stolen).await;
    assert_eq!(r.json["state"], "failed", "{}", r.json);
    assert_eq!(plan(&app, &b).await, Plan::Free);
    // Events not acted on, and prices that are no plan, are stored and ignored with a reason.
    let other_price = subscription_event(
        "evt_4",
        "customer.subscription.updated",
        now + 30,
        "sub_9",
        &b,
        "active",
        "price_gold",
    );
    let r = post(&app, "stripe", &sig(now, &other_price), &other_price).await;
    assert!(
        r.json["detail"].as_str().unwrap().contains("price_gold"),
        "{}",
        r.json
    );
    // Deleted: the plan goes back to free.
    let deleted = subscription_event(
        "evt_5",
        "customer.subscription.deleted",
        now + 40,
        "sub_1",
        &a,
        "active",
        "price_team",
    );
    assert_eq!(
        post(&app, "stripe", &sig(now, &deleted), &deleted)
            .await
            .json["state"],
        "processed"
    );
    assert_eq!(plan(&app, &a).await, Plan::Free);
    // Operators see every stored event with what processing did, and replay one: idempotent
    // (the upgrade is applied again, changing nothing), audited, operators only.
    let events = app.get("/v1/admin/billing/events", Some(&ops)).await;
    assert_eq!(events.status, StatusCode::OK, "{}", events.json);
    let listed = events.json["events"].as_array().unwrap();
    let state_of = |id: &str| {
        listed
            .iter()
            .find(|e| e["event_id"] == id)
            .map(|e| {
                (
                    e["state"].as_str().unwrap().to_owned(),
                    e["id"].as_i64().unwrap(),
                )
            })
            .unwrap()
    };
    assert_eq!(state_of("evt_0").0, "ignored");
    assert_eq!(state_of("evt_3").0, "failed");
    let (state, seq) = state_of("evt_5");
    assert_eq!(state, "processed");
    assert_eq!(
        listed.len(),
        6,
        "refused deliveries are not stored: {listed:?}"
    );
    let path = format!("/v1/admin/billing/events/{seq}/replay");
    app.post(&path, json!({}), Some(&ta))
        .await
        .assert_error(StatusCode::FORBIDDEN, "forbidden");
    let r = app.post(&path, json!({}), Some(&ops)).await;
    assert_eq!(r.json["state"], "processed", "{}", r.json);
    assert_eq!(plan(&app, &a).await, Plan::Free);
    app.post(
        "/v1/admin/billing/events/999999/replay",
        json!({}),
        Some(&ops),
    )
    .await
    .assert_error(StatusCode::NOT_FOUND, "not_found");
    assert!(
        app.audit_actions(&ops)
            .await
            .contains(&("billing.event.replay".into(), seq.to_string()))
    );

    // A provider with no configuration here, or none at all: 400 naming the field.
    for p in ["paypal", "bitcoin"] {
        let r = post(&app, p, &[], "{}").await;
        r.assert_error(StatusCode::BAD_REQUEST, "validation_failed");
        assert_eq!(r.json["error"]["field"], "provider", "{}", r.json);
    }
}

async fn the_same_stripe_event_ten_times_at_once_has_one_effect(db: &TestDb) {
    let app = app(db);
    let (_, a) = account(&app, "a@example.com").await;
    let now = app.state.clock().now().unix_timestamp();
    let body = subscription_event(
        "evt_once",
        "customer.subscription.created",
        now,
        "sub_once",
        &a,
        "trialing",
        "price_pro",
    );
    let headers = vec![("stripe-signature", stripe_header(STRIPE_SECRET, now, &body))];
    let answers =
        futures_util::future::join_all((0..10).map(|_| post(&app, "stripe", &headers, &body)))
            .await;
    let fresh: Vec<&Value> = answers
        .iter()
        .inspect(|r| assert_eq!(r.status, StatusCode::OK, "{}", r.json))
        .map(|r| &r.json)
        .filter(|j| j["duplicate"] == false)
        .collect();
    assert_eq!(fresh.len(), 1, "{answers:?}");
    assert_eq!(fresh[0]["state"], "processed");
    assert_eq!(plan(&app, &a).await, Plan::Pro);
}

async fn razorpay_webhooks_are_verified_and_deduplicated(db: &TestDb) {
    let app = app(db);
    let (_, a) = account(&app, "a@example.com").await;
    let now = app.state.clock().now().unix_timestamp();
    let event = |kind: &str, status: &str, at: i64| {
        json!({"entity": "event", "account_id": "acc_rzp", "event": kind, "contains": ["subscription"],
            "created_at": at,
            "payload": {"subscription": {"entity": {"id": "sub_R1", "entity": "subscription", "plan_id": "plan_pro",
                "status": status, "current_end": at + 30 * 86400, "notes": {"account_id": a.as_str()}}}}})
        .to_string()
    };
    let signed = |id: &str, body: &str| {
        vec![
            (
                "x-razorpay-signature",
                hmac_hex(RZP_SECRET.as_bytes(), &[body.as_bytes()]),
            ),
            ("x-razorpay-event-id", id.to_owned()),
        ]
    };
    let activated = event("subscription.activated", "active", now);
    let r = post(
        &app,
        "razorpay",
        &signed("rzp_evt_1", &activated),
        &activated,
    )
    .await;
    assert_eq!(r.json["state"], "processed", "{}", r.json);
    assert_eq!(plan(&app, &a).await, Plan::Pro);
    // The same event ID again: one effect.
    let r = post(
        &app,
        "razorpay",
        &signed("rzp_evt_1", &activated),
        &activated,
    )
    .await;
    assert_eq!(r.json["duplicate"], true, "{}", r.json);
    // A re-serialised body: refused.
    let pretty =
        serde_json::to_string_pretty(&serde_json::from_str::<Value>(&activated).unwrap()).unwrap();
    post(&app, "razorpay", &signed("rzp_evt_2", &activated), &pretty)
        .await
        .assert_error(StatusCode::BAD_REQUEST, "invalid_body");
    // Halted (payments failing): past due, still entitled; cancelled: free.
    let halted = event("subscription.halted", "halted", now + 5);
    post(&app, "razorpay", &signed("rzp_evt_3", &halted), &halted).await;
    assert_eq!(plan(&app, &a).await, Plan::Pro);
    let cancelled = event("subscription.cancelled", "cancelled", now + 9);
    post(
        &app,
        "razorpay",
        &signed("rzp_evt_4", &cancelled),
        &cancelled,
    )
    .await;
    assert_eq!(plan(&app, &a).await, Plan::Free);
    // No event ID header: not an event.
    let mut no_id = signed("x", &halted);
    no_id.pop();
    post(&app, "razorpay", &no_id, &halted)
        .await
        .assert_error(StatusCode::BAD_REQUEST, "invalid_body");
}

async fn an_event_whose_processing_never_finished_is_processed_on_redelivery(db: &TestDb) {
    let app = app(db);
    let (_, a) = account(&app, "a@example.com").await;
    let now = app.state.clock().now().unix_timestamp();
    let body = subscription_event(
        "evt_stuck",
        "customer.subscription.created",
        now,
        "sub_s",
        &a,
        "active",
        "price_pro",
    );
    // Stored, and the process stopped before processing it.
    let stored = app
        .state
        .store()
        .insert_billing_event(
            &fdt_cloud::store::NewBillingEvent {
                provider: "stripe",
                event_id: "evt_stuck",
                event_type: "customer.subscription.created",
                created: now,
                body: &body,
            },
            app.state.clock().now(),
        )
        .await
        .unwrap();
    assert!(stored.is_some());
    let sign = |app: &TestApp| {
        let t = app.state.clock().now().unix_timestamp();
        vec![("stripe-signature", stripe_header(STRIPE_SECRET, t, &body))]
    };
    // A redelivery soon after: the first processing may still be running; left alone.
    let r = post(&app, "stripe", &sign(&app), &body).await;
    assert_eq!(
        (r.json["duplicate"].as_bool(), r.json["state"].as_str()),
        (Some(true), Some("received")),
        "{}",
        r.json
    );
    assert_eq!(plan(&app, &a).await, Plan::Free);
    // Later, the provider's retry is processed.
    app.clock.advance(time::Duration::minutes(6));
    let r = post(&app, "stripe", &sign(&app), &body).await;
    assert_eq!(r.json["state"], "processed", "{}", r.json);
    assert_eq!(plan(&app, &a).await, Plan::Pro);
    // And only once.
    let r = post(&app, "stripe", &sign(&app), &body).await;
    assert_eq!(
        (r.json["duplicate"].as_bool(), r.json["state"].as_str()),
        (Some(true), Some("processed"))
    );
}
