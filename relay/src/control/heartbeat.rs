//! Heartbeats: `POST /v1/relay/heartbeat` registers the relay, reports its load, the tunnels
//! that ended, replay results and the traffic counted per account, and brings back evictions,
//! replay orders and the drain state.
//!
//! Reports are exactly-once: a heartbeat whose answer was lost is resent unchanged (same
//! `seq`), and new reports wait for the next one.

use crate::control::client::{ControlClient, is_final};
use crate::control::report_queue;
use crate::control::reporter::{Reporter, Reports};
use crate::edge::conn_limit::IpLimiter;
use crate::metrics::RelayMetrics;
use crate::registry::SessionCommand;
use crate::state::{SessionCount, Tunnels};
use crate::usage::UsageMeter;
use fdt_api::{RelayHeartbeat, RelayLoad, TunnelId};
use fdt_proto::Backoff;
use std::sync::Arc;

/// Most bytes of a reason the cloud gives for closing a tunnel that reach the agent.
const MAX_EVICT_REASON_BYTES: usize = 200;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Room kept in every heartbeat for what is not a list (IDs, addresses, load), on top of
/// what they measure: the fixed fields are measured exactly, this only absorbs the `seq` of a
/// resend growing by a digit.
const HEARTBEAT_SLACK: usize = 64;

/// What the heartbeat task reads and acts on: its own handles, nothing else of the relay.
#[derive(Debug)]
pub struct Heartbeats {
    /// The control plane.
    pub client: ControlClient,
    /// Ended tunnels and replay results waiting to be reported.
    pub reporter: Arc<Reporter>,
    /// Traffic per account.
    pub usage: Arc<UsageMeter>,
    /// Live tunnels (evictions close them).
    pub tunnels: Tunnels,
    /// Live agent sessions (load).
    pub sessions: Arc<SessionCount>,
    /// Visitor connections (load).
    pub conn_limit: Arc<IpLimiter>,
    /// What the relay advertises: the agents' address and TLS server name, capacity, weight.
    pub advert: Advert,
    /// Set when the relay stops: the last heartbeats say it is draining.
    pub shutdown: CancellationToken,
    /// When the control plane last answered, and failures, for `/metrics`.
    pub metrics: Arc<RelayMetrics>,
    /// This relay's identity for its peers, renewed by every answer.
    pub identity: Arc<crate::control::identity::Identity>,
    /// Whether to move the agents away (an operator's drain, with somewhere to go).
    pub moving: crate::state::MoveAsk,
}

/// What a relay advertises about itself in every heartbeat.
#[derive(Debug, Clone)]
pub struct Advert {
    /// Address agents connect to.
    pub agent_addr: String,
    /// TLS server name agents check.
    pub server_name: String,
    /// Agent sessions this relay takes.
    pub capacity: u32,
    /// Share of new agents, relative to other relays of the region.
    pub weight: u32,
}

impl Heartbeats {
    /// Sends heartbeats until shutdown: at once on start, then every interval the cloud asks
    /// for, and early (after a short debounce) when tunnels end. Applies the evictions it is
    /// sent.
    ///
    /// A heartbeat that got no answer, or a 5xx, is resent unchanged (same `seq`: the cloud
    /// applies it once). One the cloud refused as malformed or too large (a final 4xx, see
    /// [`is_final`]) is never resent: its lists go back and the next heartbeat carries half as
    /// many items, down to one, and a single item the cloud still refuses is dropped and
    /// logged. Every heartbeat is built to fit [`fdt_api::relays::MAX_HEARTBEAT_BYTES`].
    pub async fn run(self) {
        let mut interval = Duration::from_secs(5);
        let mut seq = 0u64;
        let mut inflight: Option<RelayHeartbeat> = None;
        let mut backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(30));
        let mut failing = false;
        let mut failures = 0u32;
        let mut first = true;
        // An operator asked this relay to drain (from the last answer).
        let draining = AtomicBool::new(false);
        // Items per heartbeat; halved after each final refusal, reset by a success.
        let mut max_items = fdt_api::relays::MAX_HEARTBEAT_ITEMS;
        loop {
            if !first {
                let wait = if failing {
                    backoff.next_delay(rand::random())
                } else {
                    interval
                };
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = self.reporter.wake.notified(), if !failing => {
                        // Let a burst of ended tunnels gather into one report.
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    _ = self.shutdown.cancelled() => return,
                }
            }
            first = false;
            let mut hb = match inflight.take() {
                Some(hb) => hb,
                None => {
                    seq += 1;
                    let header = self.header(seq, draining.load(Ordering::Relaxed));
                    self.fill(header, max_items)
                }
            };
            match self.client.heartbeat(&hb).await {
                Ok(ack) => {
                    self.metrics.heartbeat_ok();
                    if failing {
                        tracing::info!("control plane reachable again");
                    }
                    failing = false;
                    failures = 0;
                    backoff.reset();
                    max_items = fdt_api::relays::MAX_HEARTBEAT_ITEMS;
                    interval = Duration::from_secs(ack.interval_secs.clamp(1, 300));
                    if draining.swap(ack.drain, Ordering::Relaxed) != ack.drain {
                        tracing::info!(
                            draining = ack.drain,
                            "drain state set by the control plane"
                        );
                        // Report the new state at once rather than a heartbeat later.
                        self.reporter.wake.notify_one();
                    }
                    self.moving.set(ack.move_agents);
                    if let Some(token) = ack.peer_token {
                        self.identity.set(token);
                    }
                    for order in ack.replays {
                        self.deliver_replay(order);
                    }
                    let mut reasons: std::collections::HashMap<_, _> = ack
                        .evict_reasons
                        .into_iter()
                        .map(|r| (r.tunnel, r.reason))
                        .collect();
                    for id in ack.evict {
                        let reason = reasons.remove(&id);
                        self.evict(id, reason);
                    }
                }
                Err(e) if is_final(&e) => {
                    self.metrics.heartbeat_failed();
                    // Nothing of a refused heartbeat was applied: its items go back, and the
                    // next one (a new `seq`) carries fewer. Without this a 413 was resent
                    // forever and the relay fell out of the fleet.
                    let reports = Reports::of(&mut hb);
                    let n = reports.len();
                    if n <= 1 {
                        tracing::error!(error = %e, items = n, "control plane refused a heartbeat; its report is dropped");
                        failing = true;
                    } else {
                        max_items = (n / 2).max(1);
                        tracing::warn!(error = %e, items = n, next = max_items, "control plane refused a heartbeat; sending its reports in smaller parts");
                        self.reporter.put_back(&self.usage, reports);
                        self.reporter.wake.notify_one();
                    }
                }
                Err(e) => {
                    self.metrics.heartbeat_failed();
                    failing = true;
                    failures = failures.saturating_add(1);
                    if failures == 1 || failures.is_multiple_of(10) {
                        tracing::warn!(error = %e, failures, "heartbeat to the control plane failed");
                    }
                    inflight = Some(hb);
                }
            }
        }
    }

    /// A heartbeat with this relay's state and empty lists.
    fn header(&self, seq: u64, drain_asked: bool) -> RelayHeartbeat {
        let count = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        RelayHeartbeat {
            relay_id: self.client.relay_id().to_owned(),
            boot_id: self.client.boot_id().to_owned(),
            seq,
            region: self.client.region().to_owned(),
            agent_addr: self.advert.agent_addr.clone(),
            server_name: self.advert.server_name.clone(),
            version: concat!("fdt-relay/", env!("CARGO_PKG_VERSION")).into(),
            capacity: self.advert.capacity,
            weight: self.advert.weight,
            draining: self.shutdown.is_cancelled() || drain_asked,
            load: RelayLoad {
                sessions: count(self.sessions.get()),
                tunnels: count(self.tunnels.registry.len()),
                connections: u32::try_from(self.conn_limit.total()).unwrap_or(u32::MAX),
            },
            ended: Vec::new(),
            usage: Vec::new(),
            replay_results: Vec::new(),
        }
    }

    /// Fills `hb`'s lists with as many queued reports as fit the cloud's body limit: the
    /// header (with its three empty lists) is measured as sent, and the lists' elements are
    /// taken within what is left.
    fn fill(&self, hb: RelayHeartbeat, max_items: usize) -> RelayHeartbeat {
        fill_heartbeat(&self.reporter, &self.usage, hb, max_items)
    }

    /// Closes a tunnel the control plane ended (stopped by its owner or an operator, or taken
    /// over by the same agent on another relay): its session tells the agent; a tunnel no
    /// longer here is reported ended so the cloud stops asking.
    fn evict(&self, id: TunnelId, reason: Option<String>) {
        let Some(tunnel) = self.tunnels.registry.by_cloud_id(id.as_str()) else {
            self.reporter.ended(id);
            return;
        };
        tracing::info!(url = %tunnel.public_url, tunnel = %id, "tunnel closed by the control plane");
        let reason = match reason {
            // The cloud's words, cut to what an agent's log line holds.
            Some(r) => std::borrow::Cow::Owned(
                fdt_api::validate::cut(&r, MAX_EVICT_REASON_BYTES).to_owned(),
            ),
            None => "closed by the control plane (stopped, or bound again elsewhere)".into(),
        };
        let cmd = SessionCommand::Unbind {
            tunnel: tunnel.id,
            reason,
        };
        if tunnel.commands.try_send(cmd).is_err() {
            // The session is gone or swamped: close the tunnel here; the agent learns it later.
            self.tunnels.release(&tunnel);
        }
    }

    /// Hands a replay to the session of the tunnel it names; a tunnel no longer here is left
    /// to the cloud, which sends the job again to wherever the name is bound then.
    fn deliver_replay(&self, order: fdt_api::ReplayOrder) {
        let Some(tunnel) = self.tunnels.registry.by_cloud_id(order.tunnel_id.as_str()) else {
            tracing::debug!(job = %order.job_id, "replay for a tunnel no longer on this relay");
            return;
        };
        let cmd = SessionCommand::Replay {
            job: order.job_id.to_string(),
            tunnel: tunnel.id,
            request: fdt_proto::ReplaySpec {
                method: order.method,
                path: order.path,
                headers: order.headers,
                body: order.body,
            },
        };
        if tunnel.commands.try_send(cmd).is_err() {
            tracing::warn!(job = %order.job_id, "agent session busy: replay left for the next delivery");
        }
    }
}

/// Fills `hb`'s lists from `reporter` and `usage` within the cloud's body limit.
fn fill_heartbeat(
    reporter: &Reporter,
    usage: &UsageMeter,
    mut hb: RelayHeartbeat,
    max_items: usize,
) -> RelayHeartbeat {
    let header = report_queue::json_len(&hb);
    let budget = fdt_api::relays::MAX_HEARTBEAT_BYTES.saturating_sub(header + HEARTBEAT_SLACK);
    let reports = reporter.take_reports(usage, budget, max_items);
    hb.ended = reports.ended;
    hb.usage = reports.usage;
    hb.replay_results = reports.replay_results;
    hb
}

#[cfg(test)]
mod tests;
