//! The placement feed: the control plane tells this relay which names were bound since it
//! last asked (`GET /v1/relay/placement/changes`, a question that waits up to 25 s for a
//! bind), and the relay forgets what it knew of each. A tunnel that moved, or came online
//! while this relay remembered "nobody", is then found at the next visitor's question rather
//! than after its answer's lifetime (5 s, kept as the fallback when the feed is down).

use crate::control::client::ControlClient;
use crate::metrics::RelayMetrics;
use crate::peer::placement::{Name, Placements};
use fdt_proto::Backoff;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Shortest time between two questions: a burst of binds (agents reconnecting after an
/// outage) costs the control plane a bounded rate of answers per relay.
const MIN_INTERVAL: Duration = Duration::from_millis(200);
/// Longest wait between questions after repeated errors.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Asks the control plane for placement changes until shutdown, forgetting each changed name
/// `placements` knows.
pub async fn run(
    control: ControlClient,
    placements: Arc<Placements>,
    metrics: Arc<RelayMetrics>,
    shutdown: CancellationToken,
) {
    let mut after: Option<i64> = None;
    let mut wait = Duration::ZERO;
    let mut backoff = Backoff::new(Duration::from_secs(1), MAX_BACKOFF);
    loop {
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = shutdown.cancelled() => return,
        }
        let answer = tokio::select! {
            a = control.placement_changes(after) => a,
            () = shutdown.cancelled() => return,
        };
        match answer {
            Ok(changes) => {
                backoff.reset();
                wait = MIN_INTERVAL;
                // The first answer only sets the cursor: nothing is cached yet that predates it.
                if after.is_some() {
                    let forgotten = if changes.complete {
                        changes
                            .names
                            .iter()
                            .filter_map(|q| Name::of_query(q, control.region()))
                            .filter(|name| placements.forget(*name))
                            .count()
                    } else {
                        placements.forget_all()
                    };
                    metrics.placements_invalidated(forgotten as u64);
                }
                after = Some(after.unwrap_or(i64::MIN).max(changes.next));
            }
            Err(e) => {
                wait = backoff.next_delay(rand::random());
                tracing::debug!(error = %e, retry_in_ms = wait.as_millis() as u64, "placement feed failed: answers expire instead");
            }
        }
    }
}
