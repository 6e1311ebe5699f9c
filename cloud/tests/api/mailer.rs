//! The outbox through SMTP, against a real SMTP server (aiosmtpd filing into a Maildir):
//! due emails are sent once, with the sender, recipient, subject and body; a server that
//! cannot be reached leaves the email unsent with its error, retried after a backoff; an
//! email given up is shown to operators, who can send it again.

use super::billing::account;
use crate::common::{TestApp, TestDb};
use axum::http::StatusCode;
use fdt_cloud::clock::Clock;
use fdt_cloud::config::{SmtpConfig, SmtpSecurity};
use fdt_cloud::mailer::{Mailer, send_due};
use fdt_cloud::store::NewEmail;
use fdt_cloud::testing::SmtpSink;

on_both_databases!(
    the_outbox_is_sent_through_smtp_once_and_retried_when_the_server_is_down,
    operators_see_an_email_given_up_and_can_send_it_again
);

fn smtp(port: u16) -> SmtpConfig {
    SmtpConfig {
        host: "127.0.0.1".into(),
        port,
        security: SmtpSecurity::None,
        username: None,
        password: None,
        from: "FlyingDarkDevTunnel <billing@fdt.test>".into(),
    }
}

async fn queue(app: &TestApp, account: &fdt_api::AccountId, subject: &str) {
    app.state
        .store()
        .queue_email(
            &NewEmail {
                account,
                kind: "dunning_reminder",
                subject,
                body: "Your payment is past due.\nPay the open invoice to keep your plan.",
            },
            app.clock.now(),
        )
        .await
        .unwrap();
}

async fn the_outbox_is_sent_through_smtp_once_and_retried_when_the_server_is_down(db: &TestDb) {
    let sink = SmtpSink::start().await;
    let app = TestApp::new(db);
    let (_, a) = account(&app, "a@example.com").await;
    let ops = app.operator("ops@example.com").await;
    queue(&app, &a, "Payment past due").await;
    queue(&app, &a, "Second reminder").await;

    let mailer = Mailer::new(&smtp(sink.port)).unwrap();
    assert_eq!(send_due(&app.state, &mailer).await.unwrap(), 2);
    let got = sink.messages();
    assert_eq!(got.len(), 2, "{got:#?}");
    let first = got
        .iter()
        .find(|m| m.contains("Subject: Payment past due"))
        .unwrap();
    assert!(
        first.contains("From: FlyingDarkDevTunnel <billing@fdt.test>"),
        "{first}"
    );
    assert!(first.contains("To: a@example.com"), "{first}");
    assert!(
        first.contains("Pay the open invoice to keep your plan."),
        "{first}"
    );
    // Sent once: the next pass has nothing to do; operators see when.
    assert_eq!(send_due(&app.state, &mailer).await.unwrap(), 0);
    let outbox = app.get("/v1/admin/billing/outbox", Some(&ops)).await;
    let emails = outbox.json["emails"].as_array().unwrap();
    assert!(
        emails.iter().all(|e| e["sent_at"].is_string()),
        "{}",
        outbox.json
    );

    // The server is down: not sent, kept with its error, retried a minute later; the pass
    // stops there, so the email after it has not used an attempt.
    queue(&app, &a, "Third reminder").await;
    queue(&app, &a, "Fourth reminder").await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let down = Mailer::new(&smtp(port)).unwrap();
    assert_eq!(send_due(&app.state, &down).await.unwrap(), 0);
    let due = app
        .state
        .store()
        .due_emails(app.clock.now(), 10)
        .await
        .unwrap();
    assert_eq!(due.len(), 1, "the third waits for its backoff: {due:?}");
    assert_eq!(
        (due[0].subject.as_str(), due[0].attempts),
        ("Fourth reminder", 0)
    );
    app.clock.advance(time::Duration::seconds(61));
    let due = app
        .state
        .store()
        .due_emails(app.clock.now(), 10)
        .await
        .unwrap();
    assert_eq!(due.len(), 2);
    assert_eq!(due[0].attempts, 1);
    // Back up: both delivered.
    assert_eq!(send_due(&app.state, &mailer).await.unwrap(), 2);
    assert_eq!(sink.messages().len(), 4);
}

async fn operators_see_an_email_given_up_and_can_send_it_again(db: &TestDb) {
    let sink = SmtpSink::start().await;
    let app = TestApp::new(db);
    let (ta, a) = account(&app, "a@example.com").await;
    let ops = app.operator("ops@example.com").await;
    queue(&app, &a, "Payment past due").await;
    let outbox = app.get("/v1/admin/billing/outbox", Some(&ops)).await;
    let id = outbox.json["emails"][0]["id"].as_i64().unwrap();
    let retry = format!("/v1/admin/billing/outbox/{id}/retry");
    // Not given up: nothing to send again.
    app.post(&retry, serde_json::json!({}), Some(&ops))
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");
    // The mail server refused it for good (what the mailer records on a 5xx).
    app.state
        .store()
        .email_failed(id, "550 5.1.1 mailbox unavailable", None, app.clock.now())
        .await
        .unwrap();
    let mailer = Mailer::new(&smtp(sink.port)).unwrap();
    assert_eq!(send_due(&app.state, &mailer).await.unwrap(), 0);
    let outbox = app.get("/v1/admin/billing/outbox", Some(&ops)).await;
    let e = &outbox.json["emails"][0];
    assert!(e["failed_at"].is_string(), "{e}");
    assert_eq!(e["attempts"], 1, "{e}");
    assert_eq!(e["last_error"], "550 5.1.1 mailbox unavailable", "{e}");
    assert!(e["sent_at"].is_null(), "{e}");

    // Only operators may send it again; then it goes out on the next pass, once.
    app.post(&retry, serde_json::json!({}), Some(&ta))
        .await
        .assert_error(StatusCode::FORBIDDEN, "forbidden");
    for bad in [
        "/v1/admin/billing/outbox/999999/retry",
        "/v1/admin/billing/outbox/x/retry",
    ] {
        app.post(bad, serde_json::json!({}), Some(&ops))
            .await
            .assert_error(StatusCode::NOT_FOUND, "not_found");
    }
    let r = app.post(&retry, serde_json::json!({}), Some(&ops)).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.json);
    assert_eq!(send_due(&app.state, &mailer).await.unwrap(), 1);
    assert_eq!(sink.messages().len(), 1);
    let outbox = app.get("/v1/admin/billing/outbox", Some(&ops)).await;
    let e = &outbox.json["emails"][0];
    assert!(e["sent_at"].is_string() && e["failed_at"].is_null(), "{e}");
    app.post(&retry, serde_json::json!({}), Some(&ops))
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");
    let audit = app.audit_actions(&ops).await;
    assert!(
        audit
            .iter()
            .any(|(a, t)| a == "billing.email.retry" && *t == id.to_string()),
        "{audit:?}"
    );
}
