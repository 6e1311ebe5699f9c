//! The outbox through SMTP, against a real SMTP server (aiosmtpd filing into a Maildir):
//! due emails are sent once, with the sender, recipient, subject and body; a server that
//! cannot be reached leaves the email unsent with its error, retried after a backoff.

use super::billing::account;
use crate::common::{TestApp, TestDb};
use fdt_cloud::clock::Clock;
use fdt_cloud::config::{SmtpConfig, SmtpSecurity};
use fdt_cloud::mailer::{Mailer, send_due};
use fdt_cloud::store::NewEmail;
use fdt_cloud::testing::SmtpSink;

on_both_databases!(the_outbox_is_sent_through_smtp_once_and_retried_when_the_server_is_down);

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
