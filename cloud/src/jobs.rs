//! One round of a background job, run only under the job's lease: with several replicas of the
//! control plane on one PostgreSQL database, each round runs on one of them
//! ([`crate::store::Store::try_job_lease`]).

use crate::state::AppState;
use crate::store::Job;

/// Runs `round` if this replica gets `job`'s lease for it: `Some(its output)`; `None` when
/// another replica holds the lease or started a round less than `every` (the job's interval)
/// ago (nothing run), or when the lease could not be asked for (logged, and counted as a
/// failed round of the job).
pub(crate) async fn leased<T>(
    st: &AppState,
    job: Job,
    every: std::time::Duration,
    round: impl Future<Output = T>,
) -> Option<T> {
    let lease = match st.store().try_job_lease(job, every).await {
        Ok(Some(lease)) => lease,
        Ok(None) => {
            tracing::debug!(job = job.name(), "another replica runs or ran this round");
            return None;
        }
        Err(e) => {
            crate::metrics::job_run(job.name(), false);
            tracing::warn!(job = job.name(), error = %e, "background job: no lease");
            return None;
        }
    };
    let out = round.await;
    if let Err(e) = lease.release().await {
        // The lock goes with the connection or its next use; the round itself is done.
        tracing::warn!(job = job.name(), error = %e, "background job: lease not released");
    }
    Some(out)
}
