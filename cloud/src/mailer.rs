//! Sends the email outbox through `[smtp]`: a worker takes the rows due, sends each with
//! lettre (rustls with ring), and records what happened. A temporary failure (4xx, a refused
//! or broken connection) is retried with backoff — 1, 2, 4 … minutes, at most an hour apart —
//! up to [`MAX_ATTEMPTS`]; a permanent refusal (5xx: no such mailbox, relaying denied) is not
//! retried. The error is kept on the row for operators.

use crate::config::{SmtpConfig, SmtpSecurity};
use crate::state::AppState;
use crate::store::{DueEmail, StoreError};
use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Attempts before an email is given up.
pub const MAX_ATTEMPTS: i64 = 8;
/// Emails taken per pass.
const BATCH: i64 = 50;
/// How often the worker looks for due emails.
const INTERVAL: Duration = Duration::from_secs(10);
/// One SMTP conversation's limit.
const TIMEOUT: Duration = Duration::from_secs(30);
/// Most bytes of an error kept on the row.
const MAX_ERROR: usize = 300;

/// Why the transport could not be set up.
#[derive(Debug, thiserror::Error)]
#[error("smtp: {0}")]
pub struct MailerError(String);

/// The configured SMTP server.
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl Mailer {
    /// The transport `cfg` describes.
    pub fn new(cfg: &SmtpConfig) -> Result<Self, MailerError> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let err = |e: &dyn std::fmt::Display| MailerError(e.to_string());
        let builder = match cfg.security {
            SmtpSecurity::Starttls => {
                AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&cfg.host)
                    .map_err(|e| err(&e))?
            }
            SmtpSecurity::Tls => {
                AsyncSmtpTransport::<Tokio1Executor>::relay(&cfg.host).map_err(|e| err(&e))?
            }
            SmtpSecurity::None => {
                AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&cfg.host)
            }
        };
        let mut builder = builder.port(cfg.port).timeout(Some(TIMEOUT));
        if let (Some(u), Some(p)) = (&cfg.username, &cfg.password) {
            builder = builder.credentials(Credentials::new(u.clone(), p.expose().clone()));
        }
        Ok(Self {
            transport: builder.build(),
            from: cfg.from.parse().map_err(|e| err(&e))?,
        })
    }

    /// Sends one email: `Ok`, or the error and whether it is permanent.
    async fn send(&self, e: &DueEmail) -> Result<(), (String, bool)> {
        let to: Mailbox = e
            .recipient
            .parse()
            .map_err(|err| (format!("recipient: {err}"), true))?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(e.subject.clone())
            .header(ContentType::TEXT_PLAIN)
            .body(e.body.clone())
            .map_err(|err| (format!("message: {err}"), true))?;
        self.transport
            .send(message)
            .await
            .map(drop)
            .map_err(|err| (err.to_string(), err.is_permanent()))
    }
}

/// When the attempt after `attempts` failed ones runs: 1, 2, 4 … minutes after `now`, at most
/// an hour; `None` once [`MAX_ATTEMPTS`] are used.
pub fn next_attempt(attempts: i64, now: time::OffsetDateTime) -> Option<time::OffsetDateTime> {
    if attempts + 1 >= MAX_ATTEMPTS {
        return None;
    }
    let minutes = 1i64 << attempts.clamp(0, 6);
    Some(now + time::Duration::minutes(minutes.min(60)))
}

/// One pass: sends what is due, stopping at the first temporary failure; the number sent.
pub async fn send_due(st: &AppState, mailer: &Mailer) -> Result<usize, StoreError> {
    let due = st.store().due_emails(st.clock().now(), BATCH).await?;
    let mut sent = 0;
    for e in &due {
        match mailer.send(e).await {
            Ok(()) => {
                st.store().email_sent(e.seq, st.clock().now()).await?;
                sent += 1;
            }
            Err((why, permanent)) => {
                let now = st.clock().now();
                let retry = if permanent {
                    None
                } else {
                    next_attempt(e.attempts, now)
                };
                let why = fdt_api::validate::cut(&why, MAX_ERROR);
                tracing::warn!(email = e.seq, permanent, retry = retry.is_some(), error = %why, "email not sent");
                st.store().email_failed(e.seq, why, retry, now).await?;
                // A temporary failure is most likely the server's (down, blackholed, busy):
                // the rest wait for the next pass rather than each for its own timeout.
                if !permanent {
                    break;
                }
            }
        }
    }
    Ok(sent)
}

/// Sends the outbox every [`INTERVAL`] until `shutdown`.
pub async fn run(st: AppState, mailer: Mailer, shutdown: CancellationToken) {
    loop {
        let job = crate::store::Job::Mailer;
        let round = crate::jobs::leased(&st, job, INTERVAL, send_due(&st, &mailer)).await;
        if let Some(round) = &round {
            crate::metrics::job_run(job.name(), round.is_ok());
        }
        match round {
            // Another replica sent this round.
            None => {}
            Some(Ok(0)) => {}
            Some(Ok(n)) => tracing::info!(sent = n, "outbox emails sent"),
            Some(Err(e)) => tracing::warn!(error = %e, "outbox: storage failed"),
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(INTERVAL) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_and_stop() {
        let now = time::OffsetDateTime::UNIX_EPOCH;
        let mins = |a| next_attempt(a, now).map(|t| (t - now).whole_minutes());
        assert_eq!(mins(0), Some(1));
        assert_eq!(mins(1), Some(2));
        assert_eq!(mins(5), Some(32));
        assert_eq!(mins(6), Some(60));
        assert_eq!(mins(MAX_ATTEMPTS - 1), None);
    }
}
