//! What a relay's heartbeat changes: the relay is registered (or refreshed), tunnels of an
//! earlier boot and the ones it reports ended go offline (their names enter the reconnect
//! grace), usage is counted once per `(boot_id, seq)`, finished replays are recorded — and
//! the answer carries the tunnels to evict, the replays due and whether to drain.

use crate::state::AppState;
use crate::store::StoreError;
use crate::traffic::{PrepareReplayError, PreparedReplay, prepare_replays};
use fdt_api::{RelayHeartbeat, TunnelId};

/// What the relay is told back.
#[derive(Debug, Clone)]
pub struct Reply {
    /// Tunnels it must close.
    pub evict: Vec<TunnelId>,
    /// Reasons given for some of them.
    pub reasons: Vec<(TunnelId, String)>,
    /// Replays due on its tunnels.
    pub replays: Vec<PreparedReplay>,
    /// Whether an operator asked it to drain.
    pub drain: bool,
    /// Whether it should move its agents to other relays now (drained, and another healthy
    /// relay can take them).
    pub move_agents: bool,
}

/// Why a heartbeat could not be taken in.
#[derive(Debug, thiserror::Error)]
pub enum HeartbeatError {
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The replays due could not be built.
    #[error(transparent)]
    Replays(#[from] PrepareReplayError),
}

/// Takes in `hb` (already checked for shape) at the clock's now. A repeat of a heartbeat
/// already applied only refreshes the relay's health; its reports are not counted again.
pub async fn ingest(st: &AppState, hb: &RelayHeartbeat) -> Result<Reply, HeartbeatError> {
    let outcome = st.store().apply_heartbeat(hb, st.clock().now()).await?;
    if outcome.applied {
        for r in &hb.replay_results {
            let error = r.error.as_deref().map(|e| fdt_api::validate::cut(e, 500));
            st.store()
                .finish_replay(
                    &hb.relay_id,
                    r.job_id.as_str(),
                    r.status,
                    error,
                    st.clock().now(),
                )
                .await?;
        }
    }
    let replays = prepare_replays(st, &hb.relay_id).await?;
    let drain = st.store().drain_requested(&hb.relay_id).await?;
    // A drained relay sends its agents away only when another relay can take them: draining
    // the last one must not take every tunnel offline.
    let move_agents = drain && {
        let cutoff = st.healthy_cutoff();
        st.store()
            .list_relays()
            .await?
            .iter()
            .any(|r| r.id != hb.relay_id && !r.draining && r.last_seen_at >= cutoff)
    };
    if outcome.restarted {
        tracing::info!(relay = %hb.relay_id, region = %hb.region, "relay restarted: its earlier tunnels are offline");
    }
    if !outcome.applied {
        tracing::debug!(relay = %hb.relay_id, seq = hb.seq, "repeated heartbeat ignored");
    }
    Ok(Reply {
        evict: outcome.evict,
        reasons: outcome.reasons,
        replays,
        drain,
        move_agents,
    })
}
