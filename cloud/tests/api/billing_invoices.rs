//! Invoices and credit notes: a charge for an account is invoiced with the next number of its
//! series and no gaps (ten at once included), a redelivery issues nothing twice, tax follows
//! the billing profile (the EU reverse charge for a business in another member state), a
//! refund gets a credit note at its invoice's rate, and the PDF says so (read back with
//! poppler's `pdftotext`). Another account's invoice is 404.

use super::billing::{account, post, stripe_header};
use crate::common::{TestApp, TestDb};
use axum::http::StatusCode;
use fdt_cloud::config::StripeConfig;
use fdt_cloud::secret::Secret;
use serde_json::{Value, json};

on_both_databases!(invoices_are_numbered_without_gaps_taxed_and_credited);

const SECRET: &str = "whsec_invoice_tests_secret";

fn app(db: &TestDb) -> TestApp {
    TestApp::with_config(db, |c| {
        c.billing.stripe = Some(StripeConfig {
            webhook_secrets: vec![Secret::new(SECRET.into())],
            prices: [("price_pro".to_owned(), "pro".to_owned())].into(),
            ..Default::default()
        });
        let i = &mut c.billing.invoices;
        i.seller_name = "FDT Test Seller".into();
        i.seller_country = "DE".into();
        i.seller_vat_id = Some("DE123456789".into());
        i.tax_rates = [("DE".to_owned(), 1900), ("FR".to_owned(), 2000)].into();
    })
}

async fn charge(app: &TestApp, event: &str, charge: &str, account: &str, amount: i64) -> Value {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let body = json!({"id": event, "object": "event", "type": "charge.succeeded",
        "created": now, "data": {"object": {"id": charge, "object": "charge",
        "amount": amount, "currency": "eur", "metadata": {"account_id": account}}}})
    .to_string();
    let r = post(
        app,
        "stripe",
        &[("stripe-signature", stripe_header(SECRET, now, &body))],
        &body,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json);
    r.json
}

fn numbers(list: &Value) -> Vec<String> {
    let mut n: Vec<String> = list["invoices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["number"].as_str().unwrap().to_owned())
        .collect();
    n.sort();
    n
}

async fn invoices_are_numbered_without_gaps_taxed_and_credited(db: &TestDb) {
    let app = app(db);
    let (ta, a) = account(&app, "a@example.com").await;
    let (tb, b) = account(&app, "b@example.com").await;
    let ops = app.operator("ops@example.com").await;

    // The profile is checked and normalised.
    for (body, field) in [
        (json!({"name": "X", "country": "France"}), "country"),
        (json!({"name": "X", "vat_id": "FR40303265045"}), "country"),
        (json!({"name": "", "country": "FR"}), "name"),
        (
            json!({"name": "X", "country": "FR", "vat_id": "FR-40/3"}),
            "vat_id",
        ),
    ] {
        let r = app.put("/v1/billing/profile", body, Some(&ta)).await;
        r.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        assert_eq!(r.json["error"]["field"], field, "{}", r.json);
    }
    let r = app
        .put(
            "/v1/billing/profile",
            json!({"name": "Müller SARL", "country": "fr", "vat_id": "FR 40 303 265 045",
                "address": "1 rue de Rivoli\n75001 Paris"}),
            Some(&ta),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json);
    assert_eq!(r.json["vat_id"], "FR40303265045");
    assert_eq!(r.json["country"], "FR");

    // A French business from a German seller: reverse charge, no VAT.
    let r = charge(&app, "evt_a1", "ch_a1", a.as_str(), 1190).await;
    assert!(
        r["detail"]
            .as_str()
            .unwrap()
            .contains("document number 1 issued"),
        "{r}"
    );
    // No profile: the seller's country's rate, 19 %.
    charge(&app, "evt_b1", "ch_b1", b.as_str(), 1190).await;
    // A redelivery issues nothing and uses no number.
    let r = charge(&app, "evt_a1", "ch_a1", a.as_str(), 1190).await;
    assert_eq!(r["duplicate"], true, "{r}");

    let la = app.get("/v1/billing/invoices", Some(&ta)).await;
    assert_eq!(numbers(&la.json), ["FDT-000001"]);
    let ia = &la.json["invoices"][0];
    assert_eq!(
        (ia["net"].as_i64(), ia["tax"].as_i64(), ia["total"].as_i64()),
        (Some(1190), Some(0), Some(1190))
    );
    assert_eq!(ia["reverse_charge"], true);
    let lb = app.get("/v1/billing/invoices", Some(&tb)).await;
    let ib = &lb.json["invoices"][0];
    assert_eq!(ib["number"], "FDT-000002");
    assert_eq!(
        (
            ib["net"].as_i64(),
            ib["tax"].as_i64(),
            ib["tax_rate_bp"].as_i64()
        ),
        (Some(1000), Some(190), Some(1900))
    );

    // A refund of part of b's charge: a credit note at the invoice's rate.
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let body = json!({"id": "evt_re1", "object": "event", "type": "refund.created",
        "created": now, "data": {"object": {"id": "re_b1", "object": "refund",
        "charge": "ch_b1", "amount": 500, "currency": "eur"}}})
    .to_string();
    let r = post(
        &app,
        "stripe",
        &[("stripe-signature", stripe_header(SECRET, now, &body))],
        &body,
    )
    .await;
    assert_eq!(r.json["state"], "processed", "{}", r.json);
    let lb = app.get("/v1/billing/invoices", Some(&tb)).await;
    let cn = lb.json["invoices"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["kind"] == "credit_note")
        .cloned()
        .unwrap();
    assert_eq!(cn["number"], "FDT-CN-000001", "{cn}");
    assert_eq!(cn["corrects"], "FDT-000002");
    assert_eq!(
        (cn["net"].as_i64(), cn["tax"].as_i64(), cn["total"].as_i64()),
        (Some(-420), Some(-80), Some(-500))
    );

    // Ten charges at once: ten numbers, in a row, none twice.
    let runs = (0..10).map(|n| {
        let app = &app;
        let b = b.clone();
        async move {
            charge(
                app,
                &format!("evt_c{n}"),
                &format!("ch_c{n}"),
                b.as_str(),
                100,
            )
            .await;
        }
    });
    futures_util::future::join_all(runs).await;
    let all = app.get("/v1/admin/billing/invoices", Some(&ops)).await;
    let invoices: Vec<String> = numbers(&all.json)
        .into_iter()
        .filter(|n| !n.contains("-CN-"))
        .collect();
    let want: Vec<String> = (1..=12).map(|n| format!("FDT-{n:06}")).collect();
    assert_eq!(invoices, want);
    assert!(all.json["invoices"][0]["account"].is_string());

    // A subscription's paid invoice without metadata: the stored subscription says whose.
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let sub = json!({"id": "evt_sub_a", "object": "event", "type": "customer.subscription.created",
        "created": now, "data": {"object": {"id": "sub_a", "object": "subscription",
        "status": "active", "current_period_end": now + 86400,
        "metadata": {"account_id": a.as_str()},
        "items": {"data": [{"price": {"id": "price_pro"}}]}}}})
    .to_string();
    let r = post(
        &app,
        "stripe",
        &[("stripe-signature", stripe_header(SECRET, now, &sub))],
        &sub,
    )
    .await;
    assert_eq!(r.json["state"], "processed", "{}", r.json);
    let paid = json!({"id": "evt_inv_a", "object": "event", "type": "invoice.paid",
        "created": now, "data": {"object": {"id": "in_a", "charge": "ch_sub_a",
        "amount_paid": 1190, "currency": "eur", "subscription": "sub_a"}}})
    .to_string();
    let r = post(
        &app,
        "stripe",
        &[("stripe-signature", stripe_header(SECRET, now, &paid))],
        &paid,
    )
    .await;
    assert!(
        r.json["detail"]
            .as_str()
            .unwrap()
            .contains("document number 13 issued"),
        "{}",
        r.json
    );
    let la = app.get("/v1/billing/invoices", Some(&ta)).await;
    assert_eq!(numbers(&la.json), ["FDT-000001", "FDT-000013"]);

    // The PDF: the account's own only, and it says what the invoice says.
    let id = ia["id"].as_str().unwrap();
    let path = format!("/v1/billing/invoices/{id}/pdf");
    app.get(&path, Some(&tb))
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");
    let r = app.get(&path, Some(&ta)).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.headers["content-type"], "application/pdf");
    assert!(r.raw.starts_with(b"%PDF-"));
    let text = pdf_text(&r.raw);
    for want in [
        "Invoice FDT-000001",
        "FDT Test Seller",
        "VAT ID DE123456789",
        "Müller SARL",
        "75001 Paris",
        "VAT ID FR40303265045",
        "Net: 11.90 EUR",
        "VAT 0.00 %: 0.00 EUR",
        "Total: 11.90 EUR",
        "Reverse charge",
    ] {
        assert!(text.contains(want), "{want:?} not in:\n{text}");
    }
    let cn_pdf = app
        .get(
            &format!("/v1/billing/invoices/{}/pdf", cn["id"].as_str().unwrap()),
            Some(&tb),
        )
        .await;
    let text = pdf_text(&cn_pdf.raw);
    assert!(text.contains("Credit note FDT-CN-000001"), "{text}");
    assert!(text.contains("Corrects invoice FDT-000002"), "{text}");
    assert!(text.contains("Total: -5.00 EUR"), "{text}");
}

/// The PDF's text as poppler's `pdftotext` reads it.
fn pdf_text(pdf: &[u8]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("invoice.pdf");
    std::fs::write(&path, pdf).unwrap();
    let out = std::process::Command::new("pdftotext")
        .arg(&path)
        .arg("-")
        .output()
        .expect("pdftotext (Debian's poppler-utils) reads the invoices");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}
