//! The domains worker: reads DNS for domains whose check is due, and orders certificates for
//! verified `terminate` domains that have none or whose renewal is due. One pass per
//! `worker_interval_secs`, bounded in how much it takes on, until shutdown.

use crate::domains::acme::{Acme, retry_delay};
use crate::domains::{DomainError, install_certificate, verify};
use crate::events::Topic;
use crate::state::AppState;
use crate::store::incident_kind::{EXPIRING, RENEWAL_FAILED, VALIDATION_LOST};
use crate::store::{CheckRecorded, CheckResult, DomainRecord, Job, StoreError};
use fdt_api::VerificationState;
use hickory_resolver::TokioResolver;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Most domains checked per pass.
const CHECKS_PER_PASS: i64 = 50;
/// Most certificates ordered per pass (orders are slow and the CA limits them).
const ORDERS_PER_PASS: i64 = 5;
/// A certificate with less than this left raises an `expiring` incident.
const EXPIRY_WARNING: time::Duration = time::Duration::days(7);
/// Most certificates looked at per expiry sweep.
const EXPIRY_SWEEP_LIMIT: i64 = 100_000;
/// Longest wait between checks of a pending domain.
const MAX_PENDING_WAIT_SECS: u64 = 3600;

/// When to read DNS again after a check that found `found` on a domain with `misses` misses.
fn next_wait(st: &AppState, found: bool, misses: u32) -> time::Duration {
    let cfg = st.domains();
    let secs = if found {
        cfg.recheck_secs
    } else {
        cfg.pending_check_secs
            .saturating_mul(1u64 << misses.min(7))
            .min(MAX_PENDING_WAIT_SECS.max(cfg.pending_check_secs))
    };
    time::Duration::seconds(i64::try_from(secs).unwrap_or(i64::MAX / 2))
}

/// Reads the domain's TXT record now and records what was seen.
pub async fn check_one(
    st: &AppState,
    resolver: &TokioResolver,
    d: &DomainRecord,
) -> Result<CheckRecorded, StoreError> {
    let result = verify::check_txt(resolver, &d.domain, &d.txt_token).await;
    let found = result == CheckResult::Found;
    let misses = if found { 0 } else { d.misses.saturating_add(1) };
    let now = st.clock().now();
    let next = now + next_wait(st, found, misses);
    let recorded = st
        .store()
        .record_domain_check(
            &d.id,
            &d.txt_token,
            &result,
            now,
            next,
            st.domains().lost_after_misses,
        )
        .await?;
    match (recorded, d.state) {
        (CheckRecorded::Verified, VerificationState::Verified) | (CheckRecorded::Unchanged, _) => {}
        (CheckRecorded::Gone, _) => {}
        (r, _) => {
            tracing::info!(domain = %d.domain, id = %d.id, outcome = ?r, "domain verification changed");
            let event = match (r, &result) {
                (CheckRecorded::Verified, _) => Some(("verified", String::new())),
                (CheckRecorded::Lost, CheckResult::Missing(why)) => Some(("lost", why.clone())),
                _ => None,
            };
            if let Some((kind, detail)) = event {
                st.store()
                    .add_domain_event(&d.id, kind, &detail, now)
                    .await?;
            }
            match (r, &result) {
                (CheckRecorded::Lost, CheckResult::Missing(why)) => {
                    st.store()
                        .open_domain_incident(&d.id, VALIDATION_LOST, why, now)
                        .await?;
                }
                (CheckRecorded::Verified, _) => {
                    st.store()
                        .close_domain_incident(&d.id, VALIDATION_LOST, now)
                        .await?;
                }
                _ => {}
            }
            st.events().publish(&d.account, Topic::Tunnels);
        }
    }
    Ok(recorded)
}

/// One pass of DNS checks; returns how many domains were checked.
pub async fn check_due(st: &AppState) -> Result<usize, StoreError> {
    let due = st
        .store()
        .due_domain_checks(st.clock().now(), CHECKS_PER_PASS)
        .await?;
    if due.is_empty() {
        return Ok(0);
    }
    let resolver = match verify::resolver(st.domains()) {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(error = %e, "no DNS resolver: domain checks wait");
            return Ok(0);
        }
    };
    for d in &due {
        check_one(st, &resolver, d).await?;
    }
    Ok(due.len())
}

/// Records a failed order of `d`: its error and next attempt, an event, an incident.
async fn order_failed(
    st: &AppState,
    d: &DomainRecord,
    why: &str,
    retry_at: time::OffsetDateTime,
) -> Result<(), StoreError> {
    let now = st.clock().now();
    let store = st.store();
    store
        .record_certificate_failure(&d.id, why, retry_at)
        .await?;
    store.add_domain_event(&d.id, "failed", why, now).await?;
    store
        .open_domain_incident(&d.id, RENEWAL_FAILED, why, now)
        .await?;
    Ok(())
}

/// One pass of certificate orders; returns how many certificates were issued.
pub async fn issue_due(st: &AppState) -> Result<usize, StoreError> {
    let Some(acme) = Acme::from_config(st.domains()) else {
        return Ok(0);
    };
    let due = st
        .store()
        .domains_needing_certificates(st.clock().now(), ORDERS_PER_PASS)
        .await?;
    let mut issued = 0;
    for d in &due {
        let started = std::time::Instant::now();
        let result = match acme.order(st.store(), st.sealer(), &d.domain).await {
            Ok(cert) => install_certificate(st, d, &cert.chain_pem, &cert.key_pem, "acme")
                .await
                .map_err(|e| match e {
                    DomainError::Store(e) => Err(e),
                    other => Ok(other.to_string()),
                }),
            Err(crate::domains::acme::AcmeError::Store(e)) => return Err(e),
            Err(e) => {
                let wait = retry_delay(&e, d.cert_failures);
                let retry_at = st.clock().now() + wait;
                tracing::warn!(domain = %d.domain, error = %e, retry_in_s = wait.whole_seconds(), "certificate order failed");
                order_failed(st, d, &e.to_string(), retry_at).await?;
                st.events().publish(&d.account, Topic::Tunnels);
                continue;
            }
        };
        match result {
            Ok(version) => {
                issued += 1;
                st.store()
                    .close_domain_incident(&d.id, RENEWAL_FAILED, st.clock().now())
                    .await?;
                tracing::info!(domain = %d.domain, version, elapsed_ms = started.elapsed().as_millis() as u64, "certificate issued");
            }
            Err(Err(e)) => return Err(e),
            Err(Ok(why)) => {
                let retry_at = st.clock().now() + time::Duration::hours(1);
                tracing::warn!(domain = %d.domain, error = %why, "the CA's certificate was refused");
                order_failed(st, d, &why, retry_at).await?;
            }
        }
        st.events().publish(&d.account, Topic::Tunnels);
    }
    Ok(issued)
}

/// Opens an `expiring` incident for each served certificate with under [`EXPIRY_WARNING`]
/// left (or already expired), and closes it once a newer certificate is in service. Returns
/// how many are open after the pass.
pub async fn sweep_expiry(st: &AppState) -> Result<usize, StoreError> {
    let now = st.clock().now();
    let mut open = 0;
    for (id, not_after) in st.store().certificate_expiries(EXPIRY_SWEEP_LIMIT).await? {
        if not_after - now < EXPIRY_WARNING {
            let when = not_after
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default();
            let detail = if not_after <= now {
                format!("the certificate in service expired at {when}")
            } else {
                format!("the certificate in service expires at {when}")
            };
            st.store()
                .open_domain_incident(&id, EXPIRING, &detail, now)
                .await?;
            open += 1;
        } else {
            st.store().close_domain_incident(&id, EXPIRING, now).await?;
        }
    }
    Ok(open)
}

/// Runs DNS checks and certificate orders every `worker_interval_secs` until `shutdown`.
pub async fn run(st: AppState, shutdown: CancellationToken) {
    let interval = Duration::from_secs(st.domains().worker_interval_secs);
    loop {
        let round = async {
            let mut ok = true;
            if let Err(e) = check_due(&st).await {
                ok = false;
                tracing::warn!(error = %e, "domain checks failed");
            }
            if let Err(e) = issue_due(&st).await {
                ok = false;
                tracing::warn!(error = %e, "certificate orders failed");
            }
            if let Err(e) = sweep_expiry(&st).await {
                ok = false;
                tracing::warn!(error = %e, "certificate expiry sweep failed");
            }
            crate::metrics::job_run(Job::Domains.name(), ok);
        };
        // `None`: another replica ran this round.
        let _ = crate::jobs::leased(&st, Job::Domains, interval, round).await;
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = shutdown.cancelled() => return,
        }
    }
}
