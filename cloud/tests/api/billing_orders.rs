//! Paying once: a Razorpay order paid in its hosted checkout (the callback's signature over
//! the stored order, and the signed `order.paid`, each give the 30 days once), and a PayPal
//! order captured when the person comes back from approving it. The purchase entitles like a
//! subscription, cannot be cancelled or changed (it does not renew), and ends by itself.

use super::billing::plan;
use super::billing_checkout::{Paypal, People, ledger_charge, people};
use crate::common::{TestApp, TestDb};
use axum::http::StatusCode;
use fdt_api::Plan;
use fdt_cloud::billing::verify::hmac_hex;
use fdt_cloud::config::{OncePrice, PaypalConfig, RazorpayConfig};
use fdt_cloud::secret::Secret;
use fdt_cloud::testing::razorpay::FakeRazorpay;
use serde_json::{Value, json};

on_both_databases!(
    a_razorpay_order_gives_thirty_days_once,
    a_paypal_order_is_captured_when_the_person_returns,
);

const RZP_KEY_SECRET: &str = "rzp_key_secret_for_order_tests";
const RZP_WEBHOOK_SECRET: &str = "rzp_webhook_secret_for_orders";

fn once(plan: &str, amount: i64, currency: &str) -> std::collections::BTreeMap<String, OncePrice> {
    [(
        plan.to_owned(),
        OncePrice {
            amount,
            currency: currency.to_owned(),
        },
    )]
    .into()
}

/// A client that does not follow redirects (the test looks at them).
fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// The hidden inputs of `page` (`name="…" value="…"`), unescaped.
fn hidden_inputs(page: &str) -> Vec<(String, String)> {
    page.split("<input ")
        .skip(1)
        .filter_map(|tag| {
            let attr = |name: &str| {
                let start = tag.find(&format!("{name}=\""))? + name.len() + 2;
                let end = start + tag[start..].find('"')?;
                Some(
                    tag[start..end]
                        .replace("&quot;", "\"")
                        .replace("&lt;", "<")
                        .replace("&gt;", ">")
                        .replace("&amp;", "&"),
                )
            };
            Some((attr("name")?, attr("value")?))
        })
        .collect()
}

/// Starts a one-time checkout over HTTP (so the URLs it makes name the server's address);
/// asserts 201.
async fn order_checkout(base: &str, token: &str, provider: &str) -> Value {
    let r = browser()
        .post(format!("{base}/v1/billing/checkout"))
        .bearer_auth(token)
        .json(&json!({"provider": provider, "plan": "pro", "once": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    r.json().await.unwrap()
}

async fn one_time_rows(app: &TestApp, token: &str) -> Vec<Value> {
    let subs = app.get("/v1/billing/subscriptions", Some(token)).await;
    assert_eq!(subs.status, StatusCode::OK, "{}", subs.json);
    subs.json["subscriptions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["renews"] == false)
        .cloned()
        .collect()
}

async fn a_razorpay_order_gives_thirty_days_once(db: &TestDb) {
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
            orders: once("pro", 49900, "INR"),
        });
    });
    let base = app.serve().await;
    rzp.set_webhook(&format!("{base}/v1/billing/webhooks/razorpay"));
    let People { ta, a, tb, .. } = people(&app).await;

    let options = app.get("/v1/billing/options", Some(&ta)).await;
    assert_eq!(
        options.json["providers"][0]["once"],
        json!(["pro"]),
        "{}",
        options.json
    );
    // Team has no one-time price; Stripe is not set up (and sells subscriptions only).
    for (body, field) in [
        (
            json!({"provider": "razorpay", "plan": "team", "once": true}),
            "plan",
        ),
        (
            json!({"provider": "stripe", "plan": "pro", "once": true}),
            "provider",
        ),
    ] {
        let r = app.post("/v1/billing/checkout", body, Some(&ta)).await;
        r.assert_error(StatusCode::BAD_REQUEST, "validation_failed");
        assert_eq!(r.json["error"]["field"], field, "{}", r.json);
    }

    let r = order_checkout(&base, &ta, "razorpay").await;
    let checkout = r["id"].as_str().unwrap().to_owned();
    let order = r["reference"].as_str().unwrap().to_owned();
    let url = r["url"].as_str().unwrap().to_owned();
    assert_eq!(
        url,
        format!("{base}/v1/billing/razorpay/orders/{checkout}/pay")
    );
    let held = rzp.order(&order).unwrap();
    assert_eq!(held["amount"], 49900, "{held}");
    assert_eq!(held["currency"], "INR");
    assert_eq!(held["receipt"], checkout.as_str());
    assert_eq!(held["notes"]["account_id"], a.as_str());

    // Our page posts the order to Razorpay's hosted checkout, and may post nowhere else.
    let page = browser().get(&url).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.contains(&format!("form-action {}", rzp.url)), "{csp}");
    let html = page.text().await.unwrap();
    assert!(
        html.contains(&format!("action=\"{}/v1/checkout/embedded\"", rzp.url)),
        "{html}"
    );
    let fields = hidden_inputs(&html);
    let get = |k: &str| fields.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    assert_eq!(get("order_id").as_deref(), Some(order.as_str()));
    assert_eq!(get("key_id").as_deref(), Some("rzp_test_key"));
    let callback = get("callback_url").unwrap();
    assert_eq!(
        callback,
        format!("{base}/v1/billing/razorpay/orders/callback")
    );
    let missing = browser()
        .get(format!("{base}/v1/billing/razorpay/orders/chk_nothing/pay"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);

    // The person pays there: Razorpay's signed order.paid arrives first and gives the plan.
    let hosted = browser()
        .post(format!("{}/v1/checkout/embedded", rzp.url))
        .form(&fields)
        .send()
        .await
        .unwrap();
    assert_eq!(hosted.status(), 200);
    let paid: Value = browser()
        .post(format!("{}/checkout/{order}/pay", rzp.url))
        .header("accept", "application/json")
        .form(&[("callback_url", callback.as_str())])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(plan(&app, &a).await, Plan::Pro);
    let fields = paid["fields"].clone();
    let payment = fields["razorpay_payment_id"].as_str().unwrap().to_owned();

    // The callback: forged or foreign signatures are refused; the real one lands on Billing
    // and gives nothing twice.
    let to = callback.as_str();
    let post = |form: Vec<(String, String)>| async move {
        browser().post(to).form(&form).send().await.unwrap()
    };
    let pairs = |order: &str, payment: &str, sig: &str| {
        vec![
            ("razorpay_order_id".to_owned(), order.to_owned()),
            ("razorpay_payment_id".to_owned(), payment.to_owned()),
            ("razorpay_signature".to_owned(), sig.to_owned()),
        ]
    };
    let forged = hmac_hex(
        RZP_WEBHOOK_SECRET.as_bytes(),
        &[order.as_bytes(), b"|", payment.as_bytes()],
    );
    let r = post(pairs(&order, &payment, &forged)).await;
    assert_eq!(r.status(), 400);
    let page = r.text().await.unwrap();
    assert!(page.contains("signature does not match"), "{page}");
    let r = post(pairs("order_not_ours", &payment, &forged)).await;
    assert_eq!(r.status(), 404);
    let r = post(vec![("error[code]".into(), "BAD_REQUEST_ERROR".into())]).await;
    assert_eq!(r.status(), 303);
    assert!(
        r.headers()["location"]
            .to_str()
            .unwrap()
            .ends_with("/billing?payment_failed=razorpay")
    );
    let sig = fields["razorpay_signature"].as_str().unwrap();
    let r = post(pairs(&order, &payment, sig)).await;
    assert_eq!(r.status(), 303);
    assert_eq!(
        r.headers()["location"].to_str().unwrap(),
        format!("{base}/billing?checkout={checkout}")
    );
    let status = app
        .get(&format!("/v1/billing/checkout/{checkout}"), Some(&ta))
        .await;
    assert_eq!(status.json["state"], "active", "{}", status.json);

    let rows = one_time_rows(&app, &ta).await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["subscription_id"], order.as_str());
    assert_eq!(rows[0]["status"], "active");
    // Nothing to cancel or change at Razorpay, and no second purchase while it runs.
    let path = format!("/v1/billing/subscriptions/razorpay/{order}");
    app.post(&format!("{path}/cancel"), json!({}), Some(&ta))
        .await
        .assert_error(StatusCode::CONFLICT, "conflict");
    app.post(&format!("{path}/cancel"), json!({}), Some(&tb))
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");
    let r = app
        .post(
            "/v1/billing/checkout",
            json!({"provider": "razorpay", "plan": "pro", "once": true}),
            Some(&ta),
        )
        .await;
    r.assert_error(StatusCode::CONFLICT, "conflict");

    // Thirty days later it ends, and the plan with it.
    app.clock
        .advance(time::Duration::days(30) + time::Duration::seconds(1));
    assert_eq!(
        fdt_cloud::billing::orders::expire(&app.state)
            .await
            .unwrap(),
        1
    );
    assert_eq!(plan(&app, &a).await, Plan::Free);
    // (The access token has expired by now: the store is read directly.)
    let rows = app.state.store().subscriptions(&a).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].status, "canceled");
    assert!(!rows[0].renews);
    assert_eq!(
        fdt_cloud::billing::orders::expire(&app.state)
            .await
            .unwrap(),
        0
    );
}

async fn a_paypal_order_is_captured_when_the_person_returns(db: &TestDb) {
    let pp = Paypal::start(&[("P-PRO", "12.00", "USD")]).await;
    let app = TestApp::with_config(db, |c| {
        c.billing.paypal = Some(PaypalConfig {
            plans: [("P-PRO".to_owned(), "pro".to_owned())].into(),
            checkout: [("pro".to_owned(), "P-PRO".to_owned())].into(),
            orders: once("pro", 1200, "USD"),
            ..pp.config()
        });
    });
    let base = pp.hook(&app).await;
    let People { ta, a, ops, .. } = people(&app).await;
    let r = order_checkout(&base, &ta, "paypal").await;
    let checkout = r["id"].as_str().unwrap().to_owned();
    let order = r["reference"].as_str().unwrap().to_owned();
    let url = r["url"].as_str().unwrap().to_owned();
    assert!(url.starts_with(&pp.fake.url), "{url}");
    let held = pp.fake.order(&order).unwrap();
    let unit = &held["purchase_units"][0];
    assert_eq!(
        unit["amount"],
        json!({"currency_code": "USD", "value": "12.00"}),
        "{held}"
    );
    assert_eq!(unit["custom_id"], a.as_str());
    assert_eq!(unit["reference_id"], checkout.as_str());

    // Coming back without approving: PayPal refuses the capture, nothing is given.
    let early = browser()
        .get(format!(
            "{base}/v1/billing/paypal/orders/return?checkout={checkout}&token={order}"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(early.status(), 303);
    assert!(
        early.headers()["location"]
            .to_str()
            .unwrap()
            .ends_with("&failed=1"),
        "{:?}",
        early.headers()
    );
    assert_eq!(plan(&app, &a).await, Plan::Free);

    // Approved on PayPal's page, back to our return, which captures and gives the plan.
    let approved = browser().post(&url).send().await.unwrap();
    let back = approved.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        back.starts_with(&format!(
            "{base}/v1/billing/paypal/orders/return?checkout={checkout}&token={order}&PayerID="
        )),
        "{back}"
    );
    // Another order's token is not this checkout's.
    let wrong = browser()
        .get(format!(
            "{base}/v1/billing/paypal/orders/return?checkout={checkout}&token=ORDER-OTHER"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 404);
    for _ in 0..2 {
        let r = browser().get(&back).send().await.unwrap();
        assert_eq!(r.status(), 303);
        assert_eq!(
            r.headers()["location"].to_str().unwrap(),
            format!("{base}/billing?checkout={checkout}")
        );
    }
    assert_eq!(pp.fake.order(&order).unwrap()["status"], "COMPLETED");
    assert_eq!(plan(&app, &a).await, Plan::Pro);
    let rows = one_time_rows(&app, &ta).await;
    assert_eq!(rows.len(), 1, "one purchase for two returns: {rows:?}");
    let status = app
        .get(&format!("/v1/billing/checkout/{checkout}"), Some(&ta))
        .await;
    assert_eq!(status.json["state"], "active", "{}", status.json);
    // A one-time purchase has no subscription at PayPal to reconcile with.
    app.post(
        &format!("/v1/admin/billing/subscriptions/paypal/{order}/reconcile"),
        json!({}),
        Some(&ops),
    )
    .await
    .assert_error(StatusCode::CONFLICT, "conflict");

    // PayPal announces the capture (signed): the ledger has the charge.
    let capture = pp.fake.order(&order).unwrap()["capture_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(pp.delivered(1).await, ["PAYMENT.CAPTURE.COMPLETED"]);
    let charge = ledger_charge(&app, &ops, &capture).await;
    assert_eq!(charge["amount"], 1200, "{charge}");
    // An operator refunds part of it: an order's capture goes back by PayPal's v2 capture
    // refund (a subscription's sale by v1).
    let refund = |amount: i64| {
        let (app, ops) = (&app, ops.clone());
        let body = json!({"provider": "paypal", "charge": capture, "currency": "USD",
            "amount": amount});
        async move {
            app.post("/v1/admin/billing/refunds", body, Some(&ops))
                .await
        }
    };
    refund(1201)
        .await
        .assert_error(StatusCode::BAD_REQUEST, "validation_failed");
    let r = refund(500).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.json);
    assert!(
        r.json["refund_id"].as_str().unwrap().starts_with("REFUND-"),
        "{}",
        r.json
    );
    // PAYMENT.CAPTURE.REFUNDED books it.
    assert_eq!(pp.delivered(2).await[1], "PAYMENT.CAPTURE.REFUNDED");
    let charge = ledger_charge(&app, &ops, &capture).await;
    assert_eq!(charge["refunded"], 500, "{charge}");
}
