//! Checkout against Stripe as tests can have it: localstripe (customers, subscriptions,
//! invoices, refunds, signed webhooks) behind the in-repo emulator of Checkout Sessions and the
//! portal. A person starts a checkout, pays on the hosted page, localstripe's signed
//! `customer.subscription.created` reaches the cloud over HTTP, and the plan follows; then
//! cancelling, the portal, and operators' refunds checked against the ledger.

use super::billing::{account, plan};
use crate::common::{TestApp, TestDb};
use axum::http::StatusCode;
use fdt_api::Plan;
use fdt_cloud::billing::verify::hmac_hex;
use fdt_cloud::config::{PaypalConfig, RazorpayConfig, StripeConfig};
use fdt_cloud::secret::Secret;
use fdt_cloud::testing::paypal::FakePaypal;
use fdt_cloud::testing::paypal::signing::{TEST_SIGNING_KEY, signed_headers};
use fdt_cloud::testing::razorpay::FakeRazorpay;
use fdt_cloud::testing::stripe::{LocalStripe, StripeEmulator};
use serde_json::{Value, json};
use std::time::Duration;

on_both_databases!(
    a_stripe_checkout_pays_for_pro_and_can_be_cancelled_and_refunded,
    a_razorpay_checkout_is_proven_by_its_payment_signature,
    a_paypal_checkout_uses_one_oauth_token_and_cancels_and_refunds,
);

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

/// Two customers and an operator.
pub(super) struct People {
    pub(super) ta: String,
    pub(super) a: fdt_api::AccountId,
    pub(super) tb: String,
    pub(super) ops: String,
}

pub(super) async fn people(app: &TestApp) -> People {
    let (ta, a) = account(app, "a@example.com").await;
    let (tb, _) = account(app, "b@example.com").await;
    let ops = app.operator("ops@example.com").await;
    People { ta, a, tb, ops }
}

/// The webhook ID the PayPal fake signs for in these tests.
const PAYPAL_WEBHOOK_ID: &str = "WH-TEST-CHECKOUT";

/// The PayPal fake, and what the app needs to verify the webhooks it signs: its CA (written
/// to a scratch directory) trusted, its certificate host allowed.
pub(super) struct Paypal {
    pub(super) fake: FakePaypal,
    ca: tempfile::TempDir,
}

impl Paypal {
    /// The fake with `plans` (ID, price, currency), REST app `pp-client`/`pp-secret`.
    pub(super) async fn start(plans: &[(&str, &str, &str)]) -> Self {
        let fake = FakePaypal::start("pp-client", "pp-secret", plans)
            .await
            .unwrap();
        let ca = tempfile::tempdir().unwrap();
        std::fs::write(ca.path().join("paypal-ca.pem"), fake.ca_pem()).unwrap();
        Self { fake, ca }
    }

    /// `[billing.paypal]` for the fake, without plans.
    pub(super) fn config(&self) -> PaypalConfig {
        PaypalConfig {
            webhook_id: PAYPAL_WEBHOOK_ID.into(),
            cert_hosts: vec![self.fake.cert_host()],
            extra_roots: Some(self.ca.path().join("paypal-ca.pem")),
            client_id: Some("pp-client".into()),
            client_secret: Some(Secret::new("pp-secret".into())),
            api_base: self.fake.url.clone(),
            ..Default::default()
        }
    }

    /// An app that sells pro through the fake's plan `P-PRO`.
    pub(super) fn app_selling_pro(&self, db: &TestDb) -> TestApp {
        TestApp::with_config(db, |c| {
            c.billing.paypal = Some(PaypalConfig {
                plans: [("P-PRO".to_owned(), "pro".to_owned())].into(),
                checkout: [("pro".to_owned(), "P-PRO".to_owned())].into(),
                ..self.config()
            });
        })
    }

    /// Serves `app` and sends the fake's webhooks to it; the app's base URL.
    pub(super) async fn hook(&self, app: &TestApp) -> String {
        let base = app.serve().await;
        self.fake.set_webhook(
            &format!("{base}/v1/billing/webhooks/paypal"),
            PAYPAL_WEBHOOK_ID,
        );
        base
    }

    /// The types of the first `n` events delivered, once they are; each was accepted.
    pub(super) async fn delivered(&self, n: usize) -> Vec<String> {
        let d = self.fake.wait_delivered(n).await;
        assert_eq!(d.len(), n, "{d:?}");
        assert!(d.iter().all(|d| d.status == 200), "{d:?}");
        d.into_iter().map(|d| d.event_type).collect()
    }

    /// Delivers event `id` of type `kind` about `resource` (a `kind_of`) to the app at `base`
    /// by hand, created `at` and signed as the fake signs (the committed test key, the
    /// certificate on the fake's host); asserts it is accepted.
    pub(super) async fn deliver(
        &self,
        base: &str,
        at: time::OffsetDateTime,
        id: &str,
        kind: &str,
        kind_of: &str,
        resource: Value,
    ) {
        let at = at
            .replace_nanosecond(0)
            .unwrap()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap();
        let body = json!({"id": id, "event_version": "1.0", "create_time": at,
            "resource_type": kind_of, "event_type": kind, "resource": resource})
        .to_string();
        let cert = format!(
            "https://{}/v1/notifications/certs/CERT-1",
            self.fake.cert_host()
        );
        let headers = signed_headers(
            body.as_bytes(),
            TEST_SIGNING_KEY,
            PAYPAL_WEBHOOK_ID,
            &cert,
            id,
            &at,
        )
        .unwrap();
        let mut req = reqwest::Client::new()
            .post(format!("{base}/v1/billing/webhooks/paypal"))
            .header("content-type", "application/json")
            .body(body);
        for (k, v) in headers {
            req = req.header(k, v);
        }
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    }
}

/// The ledger's charge `reference`, as operators list it (`null` when it is not there).
pub(super) async fn ledger_charge(app: &TestApp, ops: &str, reference: &str) -> Value {
    let txns = app.get("/v1/admin/ledger/transactions", Some(ops)).await;
    txns.json["transactions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["kind"] == "charge" && t["reference"] == reference)
        .cloned()
        .unwrap_or_default()
}

/// Starts a checkout of pro at `provider`; asserts 201.
pub(super) async fn checkout(
    app: &TestApp,
    token: &str,
    provider: &str,
) -> crate::common::TestResponse {
    let body = json!({"provider": provider, "plan": "pro"});
    let r = app.post("/v1/billing/checkout", body, Some(token)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.json);
    r
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

pub(super) async fn upstream(ls: &LocalStripe, path: &str) -> Value {
    stripe_get(format!("{}{path}", ls.url)).await
}

async fn upstream_session(emu: &StripeEmulator, id: &str) -> Value {
    stripe_get(format!("{}/v1/checkout/sessions/{id}", emu.url)).await
}

async fn a_stripe_checkout_pays_for_pro_and_can_be_cancelled_and_refunded(db: &TestDb) {
    let ls = LocalStripe::start().await;
    ls.price("price_pro", 1200, "usd").await.unwrap();
    let emu = StripeEmulator::start(&ls.url).await.unwrap();
    let app = stripe_app(db, &emu.url);
    let base = app.serve().await;
    emu.webhook(&ls, &format!("{base}/v1/billing/webhooks/stripe"), SECRET)
        .await
        .unwrap();
    let People { ta, a, tb, ops } = people(&app).await;

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
    let checkout_id = r.json["id"].as_str().unwrap().to_owned();
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
        .get(&format!("/v1/billing/checkout/{checkout_id}"), Some(&tb))
        .await;
    r.assert_error(StatusCode::NOT_FOUND, "not_found");
    let r = app
        .get(&format!("/v1/billing/checkout/{checkout_id}"), Some(&ta))
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
        back.ends_with(&format!("/billing?checkout={checkout_id}")),
        "{back}"
    );

    // localstripe's signed event arrives over HTTP; the window polls until the plan moves.
    let mut state = Value::Null;
    for _ in 0..100 {
        let r = app
            .get(&format!("/v1/billing/checkout/{checkout_id}"), Some(&ta))
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

    // Paying for pro again is refused while the subscription gives it.
    let r = app
        .post(
            "/v1/billing/checkout",
            json!({"provider": "stripe", "plan": "pro"}),
            Some(&ta),
        )
        .await;
    r.assert_error(StatusCode::CONFLICT, "conflict");
    // The portal uses the customer the checkout created.
    let first = upstream_session(&emu, &session).await;
    let customer = first["customer"].as_str().unwrap().to_owned();
    let held = upstream(&ls, &format!("/v1/customers/{customer}")).await;
    assert_eq!(held["metadata"]["account_id"], a.as_str(), "{held}");
    let r = app.post("/v1/billing/portal", json!({}), Some(&ta)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json);
    assert!(r.json["url"].as_str().unwrap().ends_with(&customer));
    let r = app.post("/v1/billing/portal", json!({}), Some(&tb)).await;
    r.assert_error(StatusCode::CONFLICT, "conflict");
    // Two checkouts of one account use one customer.
    let one = checkout(&app, &tb, "stripe").await;
    let two = checkout(&app, &tb, "stripe").await;
    let one = upstream_session(&emu, one.json["reference"].as_str().unwrap()).await;
    let two = upstream_session(&emu, two.json["reference"].as_str().unwrap()).await;
    assert_eq!(one["customer"], two["customer"]);
    assert_ne!(one["customer"], first["customer"]);

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
            .any(|(a, t)| a == "billing.checkout" && *t == checkout_id)
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
    let r = refund(
        json!({"provider": "stripe", "charge": "ch_not_in_the_ledger",
        "currency": "usd"}),
    )
    .await;
    r.assert_error(StatusCode::NOT_FOUND, "not_found");
    // localstripe's signed invoice.payment_succeeded put the charge in the ledger.
    let mut booked = Value::Null;
    for _ in 0..100 {
        let txns = app.get("/v1/admin/ledger/transactions", Some(&ops)).await;
        booked = txns.json["transactions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["kind"] == "charge" && t["reference"] == charge.as_str())
            .cloned()
            .unwrap_or_default();
        if !booked.is_null() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(booked["amount"], 1200, "{booked}");
    assert_eq!(booked["currency"], "USD");
    // The account has its invoice, whichever of the payment and the subscription localstripe
    // announced first (a payment booked before its subscription was known is invoiced when
    // the subscription arrives).
    let mut invoices = Value::Null;
    for _ in 0..100 {
        invoices = app.get("/v1/billing/invoices", Some(&ta)).await.json;
        if invoices["invoices"]
            .as_array()
            .is_some_and(|l| !l.is_empty())
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(invoices["invoices"][0]["total"], 1200, "{invoices}");
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

const RZP_KEY_SECRET: &str = "rzp_key_secret_for_checkout_tests";
const RZP_WEBHOOK_SECRET: &str = "rzp_webhook_secret_for_checkout";

async fn a_razorpay_checkout_is_proven_by_its_payment_signature(db: &TestDb) {
    let rzp = FakeRazorpay::start(
        "rzp_test_key",
        RZP_KEY_SECRET,
        RZP_WEBHOOK_SECRET,
        &[("plan_pro", 49900, "INR")],
    )
    .await
    .unwrap();
    let app = TestApp::with_config(db, |c| {
        c.billing.razorpay = Some(RazorpayConfig {
            webhook_secret: Secret::new(RZP_WEBHOOK_SECRET.into()),
            plans: [("plan_pro".to_owned(), "pro".to_owned())].into(),
            key_id: Some("rzp_test_key".into()),
            key_secret: Some(Secret::new(RZP_KEY_SECRET.into())),
            api_base: rzp.url.clone(),
            checkout: [("pro".to_owned(), "plan_pro".to_owned())].into(),
            orders: Default::default(),
        });
    });
    let base = app.serve().await;
    rzp.set_webhook(&format!("{base}/v1/billing/webhooks/razorpay"));
    let People { ta, a, tb, ops } = people(&app).await;

    let r = checkout(&app, &ta, "razorpay").await;
    let sub = r.json["reference"].as_str().unwrap().to_owned();
    let url = r.json["url"].as_str().unwrap().to_owned();
    let held = rzp.subscription(&sub).unwrap();
    assert_eq!(held["notes"]["account_id"], a.as_str(), "{held}");

    // The person pays; Checkout's handler gets the three fields.
    let proof: Value = reqwest::Client::new()
        .post(&url)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let pay_id = proof["razorpay_payment_id"].as_str().unwrap().to_owned();
    let send = |token: &str, body: Value| {
        let app = &app;
        let token = token.to_owned();
        async move {
            app.post("/v1/billing/razorpay/payments", body, Some(&token))
                .await
        }
    };
    // A signature made with the webhook secret, or over another payment, is refused.
    let forged = hmac_hex(
        RZP_WEBHOOK_SECRET.as_bytes(),
        &[pay_id.as_bytes(), b"|", sub.as_bytes()],
    );
    for body in [
        json!({"razorpay_subscription_id": sub, "razorpay_payment_id": pay_id,
            "razorpay_signature": forged}),
        json!({"razorpay_subscription_id": sub, "razorpay_payment_id": "pay_other",
            "razorpay_signature": proof["razorpay_signature"]}),
        json!({"razorpay_subscription_id": sub, "razorpay_payment_id": pay_id,
            "razorpay_signature": "zz"}),
    ] {
        let r = send(&ta, body).await;
        r.assert_error(StatusCode::BAD_REQUEST, "validation_failed");
        assert_eq!(r.json["error"]["field"], "razorpay_signature");
    }
    // Another account cannot claim this subscription's payment.
    send(&tb, proof.clone())
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");
    let r = send(&ta, proof.clone()).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json);
    // The webhooks were delivered before the page answered: the plan is in force.
    assert_eq!(r.json["state"], "active", "{}", r.json);
    assert_eq!(r.json["entitled_plan"], "pro");
    assert_eq!(plan(&app, &a).await, Plan::Pro);

    // Cancel at the end of the cycle.
    let r = app
        .post(
            &format!("/v1/billing/subscriptions/razorpay/{sub}/cancel"),
            json!({}),
            Some(&ta),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.json);
    assert_eq!(rzp.cancels(), vec![(sub.clone(), true)]);

    // A refund of the captured payment; Razorpay's refund event puts it in the ledger.
    let refund = |body: Value| {
        let app = &app;
        let ops = ops.clone();
        async move {
            app.post("/v1/admin/billing/refunds", body, Some(&ops))
                .await
        }
    };
    let r = refund(
        json!({"provider": "razorpay", "charge": pay_id, "currency": "INR",
        "amount": 50000}),
    )
    .await;
    r.assert_error(StatusCode::BAD_REQUEST, "validation_failed");
    let r = refund(
        json!({"provider": "razorpay", "charge": pay_id, "currency": "INR",
        "amount": 10000}),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.json);
    let charge = ledger_charge(&app, &ops, &pay_id).await;
    assert_eq!(charge["amount"], 49900, "{charge}");
    assert_eq!(charge["refunded"], 10000, "{charge}");
    // What is left is refundable; more than that is not.
    let r = refund(
        json!({"provider": "razorpay", "charge": pay_id, "currency": "INR",
        "amount": 39901}),
    )
    .await;
    r.assert_error(StatusCode::BAD_REQUEST, "validation_failed");
    assert_eq!(r.json["error"]["field"], "amount");
}

async fn a_paypal_checkout_uses_one_oauth_token_and_cancels_and_refunds(db: &TestDb) {
    let pp = Paypal::start(&[("P-PRO", "15.00", "USD")]).await;
    let app = pp.app_selling_pro(db);
    let base = pp.hook(&app).await;
    let People { ta, a, tb, ops } = people(&app).await;

    let r = checkout(&app, &ta, "paypal").await;
    let sub = r.json["reference"].as_str().unwrap().to_owned();
    let checkout = r.json["id"].as_str().unwrap().to_owned();
    let held = pp.fake.subscription(&sub).unwrap();
    assert_eq!(held["custom_id"], a.as_str(), "{held}");
    assert_eq!(held["subscriber"]["email_address"], "a@example.com");

    // Approving sends the person back to the console's billing page for this checkout.
    let approved = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(r.json["url"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    let back = approved.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        back.contains(&format!(
            "/billing?checkout={checkout}&subscription_id={sub}"
        )),
        "{back}"
    );

    // PayPal announces the subscription and its first payment, signed with its certificate
    // (fetched over https from the allowed host): the account is on pro, the sale in the
    // ledger with PayPal's fee.
    assert_eq!(
        pp.delivered(2).await,
        ["BILLING.SUBSCRIPTION.ACTIVATED", "PAYMENT.SALE.COMPLETED"]
    );
    assert_eq!(plan(&app, &a).await, Plan::Pro);
    let status = app
        .get(&format!("/v1/billing/checkout/{checkout}"), Some(&ta))
        .await;
    assert_eq!(status.json["state"], "active", "{}", status.json);
    let sale = pp.fake.sale_of(&sub).unwrap();
    let charge = ledger_charge(&app, &ops, &sale).await;
    assert_eq!(charge["amount"], 1500, "{charge}");

    let cancel = format!("/v1/billing/subscriptions/paypal/{sub}/cancel");
    app.post(&cancel, json!({}), Some(&tb))
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");
    // PayPal's event about the cancel is late (held back here): the subscription is still
    // live in the app, so a second cancel goes to PayPal, which refuses it (not active there
    // any more). Its message comes back as a 502, and nothing is retried.
    pp.fake.stop_webhooks();
    let r = app.post(&cancel, json!({}), Some(&ta)).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.json);
    let cancelled = pp.fake.subscription(&sub).unwrap();
    assert_eq!(cancelled["status"], "CANCELLED");
    let r = app.post(&cancel, json!({}), Some(&ta)).await;
    r.assert_error(StatusCode::BAD_GATEWAY, "upstream");
    assert!(
        r.json["error"]["message"].as_str().unwrap().contains("422"),
        "{}",
        r.json
    );
    // An operator reconciles it with PayPal (as after a lost event): cancelled here too, the
    // account back on free, and a third cancel is a 404 without a call to PayPal. Only
    // operators may; only subscriptions held here; the path's provider must be one.
    let reconcile = format!("/v1/admin/billing/subscriptions/paypal/{sub}/reconcile");
    let r = app.post(&reconcile, json!({}), Some(&ta)).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.json);
    app.post(
        "/v1/admin/billing/subscriptions/paypal/I-NOT-HELD/reconcile",
        json!({}),
        Some(&ops),
    )
    .await
    .assert_error(StatusCode::NOT_FOUND, "not_found");
    let r = app
        .post(
            &format!("/v1/admin/billing/subscriptions/bitcoin/{sub}/reconcile"),
            json!({}),
            Some(&ops),
        )
        .await;
    r.assert_error(StatusCode::BAD_REQUEST, "validation_failed");
    let r = app.post(&reconcile, json!({}), Some(&ops)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json);
    assert_eq!(r.json["state"], "processed", "{}", r.json);
    assert!(
        r.json["detail"].as_str().unwrap().contains("is canceled"),
        "{}",
        r.json
    );
    let subs = app.state.store().subscriptions(&a).await.unwrap();
    assert_eq!(subs[0].status, "canceled", "{subs:?}");
    assert_eq!(plan(&app, &a).await, Plan::Free);
    let audit = app.audit_actions(&ops).await;
    let target = format!("paypal/{sub}");
    assert!(
        audit
            .iter()
            .any(|(a, t)| a == "billing.subscription.reconcile" && *t == target),
        "{audit:?}"
    );
    app.post(&cancel, json!({}), Some(&ta))
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");
    // PayPal's late event, older than the reconciled state, changes nothing.
    pp.deliver(
        &base,
        time::OffsetDateTime::now_utc() - time::Duration::minutes(1),
        "WH-LATE-CANCEL",
        "BILLING.SUBSCRIPTION.CANCELLED",
        "subscription",
        cancelled,
    )
    .await;
    pp.hook(&app).await;

    // A refund of the sale; PayPal's PAYMENT.SALE.REFUNDED puts it in the ledger.
    let r = app
        .post(
            "/v1/admin/billing/refunds",
            json!({"provider": "paypal", "charge": sale, "currency": "USD", "amount": 250}),
            Some(&ops),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.json);
    assert!(r.json["refund_id"].as_str().unwrap().starts_with("REF-"));
    assert_eq!(pp.delivered(3).await[2], "PAYMENT.SALE.REFUNDED");
    let charge = ledger_charge(&app, &ops, &sale).await;
    assert_eq!(charge["refunded"], 250, "{charge}");
    // Four calls (subscribe, cancel twice, refund), one token.
    assert_eq!(pp.fake.tokens_issued(), 1);
}
