//! The retention worker: deletes traffic-log records older than their account's plan keeps
//! them (`inspection_retention_days`), and their bodies in the object store; expired device
//! sign-in codes; and old entries of the tunnel-config feed.

use crate::state::AppState;
use crate::store::Job;
use fdt_api::Plan;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Records deleted per statement; a sweep repeats until a batch comes back short.
const BATCH: i64 = 1_000;

/// Runs [`sweep`] every `traffic.retention_interval_secs` until `shutdown`.
pub async fn run(state: AppState, shutdown: CancellationToken) {
    let every = Duration::from_secs(state.traffic().retention_interval_secs.max(1));
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.cancelled() => return,
        }
        let Some(swept) = crate::jobs::leased(&state, Job::Retention, every, sweep(&state)).await
        else {
            continue;
        };
        crate::metrics::job_run(Job::Retention.name(), swept.is_ok());
        match swept {
            Ok(0) => {}
            Ok(n) => tracing::info!(records = n, "traffic log: expired records deleted"),
            Err(e) => tracing::warn!(error = %e, "traffic log retention sweep failed"),
        }
    }
}

/// Deletes expired records and their bodies now; returns how many records went. A body whose
/// deletion fails is logged and left (its record is gone, so nothing points at it).
pub async fn sweep(state: &AppState) -> Result<u64, crate::store::StoreError> {
    let now = state.clock().now();
    let mut deleted = 0u64;
    for plan in Plan::ALL {
        let days = i64::from(plan.entitlements().inspection_retention_days);
        let cutoff = now - time::Duration::days(days);
        loop {
            let (n, keys) = state.store().expire_requests(plan, cutoff, BATCH).await?;
            for key in &keys {
                if let Err(e) = state.bodies().delete(key).await {
                    tracing::warn!(%key, error = %e, "traffic log: body not deleted");
                }
            }
            deleted += n as u64;
            if i64::try_from(n).unwrap_or(0) < BATCH {
                break;
            }
        }
    }
    // Rate-limit windows that ended are dead rows (the next attempt would restart them).
    let windows = state.store().sweep_windows(now).await?;
    if windows > 0 {
        tracing::debug!(windows, "rate-limit windows swept");
    }
    // Device sign-in codes live minutes; a day later nobody can ask about them.
    let stale_codes = state
        .store()
        .purge_device_codes(now - time::Duration::days(1))
        .await?;
    if stale_codes > 0 {
        tracing::debug!(stale_codes, "expired device codes deleted");
    }
    // Relays read the tunnel-config feed every two seconds; a day-old entry has been read.
    // Each account's newest stays: it is the version of its definitions.
    let old_changes = state
        .store()
        .purge_tunnel_config_changes(now - time::Duration::days(1))
        .await?;
    if old_changes > 0 {
        tracing::debug!(old_changes, "old tunnel-config feed entries deleted");
    }
    Ok(deleted)
}
