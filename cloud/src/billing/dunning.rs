//! Dunning: when a subscription becomes past due, a case opens with a grace period
//! (`[billing] grace_days`) and reminders written to the email outbox on a schedule
//! ([`REMINDER_DAYS`]); a payment that goes through closes it as recovered; when the grace
//! period ends the subscription is canceled here and the plan follows (free, unless another
//! subscription entitles it). The sweep runs every minute; every step is visible (the account's
//! `GET /v1/billing/dunning`, the operators' queue and outbox).

use super::entitlement::entitled_plan;
use super::events::SubStatus;
use crate::state::AppState;
use crate::store::{DunningRecord, NewEmail, StoreError};
use fdt_api::AccountId;
use std::time::Duration;
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;

/// Days after the case opens on which reminders are written (within the grace period).
pub const REMINDER_DAYS: [i64; 3] = [0, 3, 6];
/// How often the sweep runs.
const SWEEP_EVERY: Duration = Duration::from_secs(60);
/// Most cases handled per sweep.
const SWEEP_LIMIT: i64 = 500;

fn day(t: OffsetDateTime) -> String {
    fdt_api::validate::format_day(t.date())
}

/// When the reminder after `sent` reminders is due, if one is left before the grace ends.
fn next_reminder(d: &DunningRecord, sent: i64) -> Option<OffsetDateTime> {
    let k = usize::try_from(sent).ok()?;
    let at = d.started_at + time::Duration::days(*REMINDER_DAYS.get(k)?);
    (at < d.grace_ends_at).then_some(at)
}

async fn email(
    st: &AppState,
    account: &AccountId,
    kind: &str,
    subject: &str,
    body: &str,
) -> Result<(), StoreError> {
    st.store()
        .queue_email(
            &NewEmail {
                account,
                kind,
                subject,
                body,
            },
            st.clock().now(),
        )
        .await
}

/// Follows a subscription's new status: past due opens a case (and writes the first reminder),
/// active again closes it as recovered, canceled closes it.
pub async fn on_status(
    st: &AppState,
    account: &AccountId,
    provider: &str,
    subscription_id: &str,
    status: SubStatus,
) -> Result<(), StoreError> {
    let now = st.clock().now();
    match status {
        SubStatus::PastDue => {
            let grace = now + time::Duration::days(i64::from(st.billing().grace_days));
            if st
                .store()
                .open_dunning(account, provider, subscription_id, now, grace)
                .await?
                .is_some()
            {
                tracing::info!(%account, provider, subscription_id, "dunning opened");
                sweep(st).await?;
            }
        }
        SubStatus::Active | SubStatus::Trialing => {
            if st.store().close_dunning(account, "recovered", now).await? {
                email(
                    st,
                    account,
                    "payment_recovered",
                    "Your payment went through",
                    "Thank you: your payment went through and your plan continues.",
                )
                .await?;
            }
        }
        SubStatus::Canceled => {
            st.store().close_dunning(account, "canceled", now).await?;
        }
    }
    Ok(())
}

/// Writes due reminders and downgrades accounts whose grace period ended; returns how many
/// cases it acted on.
pub async fn sweep(st: &AppState) -> Result<usize, StoreError> {
    let now = st.clock().now();
    let due = st.store().due_dunning(now, SWEEP_LIMIT).await?;
    let mut acted = 0;
    for d in &due {
        if d.grace_ends_at <= now {
            if !st
                .store()
                .close_dunning(&d.account, "downgraded", now)
                .await?
            {
                continue;
            }
            st.store()
                .cancel_subscriptions_locally(&d.account, &d.provider, &d.subscription_id, now)
                .await?;
            let plan = entitled_plan(st, &d.account).await?;
            super::entitlement::set_plan(st, &d.account, plan).await?;
            email(
                st,
                &d.account,
                "downgraded",
                &format!("Your plan is now {plan}"),
                &format!(
                    "The payment for your subscription did not go through by {}, so your \
                     account is on the {plan} plan now. Pay the open invoice to get it back.",
                    day(d.grace_ends_at)
                ),
            )
            .await?;
            st.events()
                .publish(&d.account, crate::events::Topic::Tunnels);
            tracing::info!(account = %d.account, %plan, "dunning: grace ended, downgraded");
            acted += 1;
        } else if d.next_reminder_at.is_some_and(|t| t <= now) {
            let next = next_reminder(d, d.reminders_sent + 1);
            // Only the sweep that moves the counter writes the email.
            if !st
                .store()
                .advance_dunning(d.seq, d.reminders_sent, next)
                .await?
            {
                continue;
            }
            email(
                st,
                &d.account,
                "dunning_reminder",
                "Your payment did not go through",
                &format!(
                    "We could not charge your payment method. Please update it by {}: after \
                     that day your account moves to the free plan.",
                    day(d.grace_ends_at)
                ),
            )
            .await?;
            acted += 1;
        }
    }
    Ok(acted)
}

/// Sweeps every minute until `shutdown`, ending one-time payments whose period is over too.
pub async fn run(st: AppState, shutdown: CancellationToken) {
    let job = crate::store::Job::Dunning;
    loop {
        let round = async {
            let mut ok = true;
            if let Err(e) = sweep(&st).await {
                ok = false;
                tracing::warn!(error = %e, "dunning sweep failed");
            }
            // One-time payments end on the same beat.
            if let Err(e) = super::orders::expire(&st).await {
                ok = false;
                tracing::warn!(error = %e, "ending one-time payments failed");
            }
            crate::metrics::job_run(job.name(), ok);
        };
        // `None`: another replica ran this round.
        let _ = crate::jobs::leased(&st, job, SWEEP_EVERY, round).await;
        tokio::select! {
            _ = tokio::time::sleep(SWEEP_EVERY) => {}
            _ = shutdown.cancelled() => return,
        }
    }
}
