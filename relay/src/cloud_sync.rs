//! The relay's side of the control plane (when `cloud_url` and `relay_secret` are set):
//!
//! - **bind authorisation** — before a cloud-issued agent token (one with `atk`) binds a name,
//!   `POST /v1/relay/bindings` checks reservations, plan limits and live bindings on other
//!   relays, and records the tunnel online;
//! - **heartbeats** — `POST /v1/relay/heartbeat` registers the relay, reports its load, the
//!   tunnels that ended and the traffic counted per account, and brings back evictions.
//!   Reports are exactly-once: a heartbeat whose answer was lost is resent unchanged (same
//!   `seq`), and new reports wait for the next one.
//!
//! Usage is counted on the hot path with relaxed atomics in [`Counters`] shared by the tunnels
//! of an account; the heartbeat swaps them to zero.

use crate::config::RelayConfig;
use fdt_api::{
    AccountId, AuthtokenId, BindingGranted, BindingRequest, ErrorBody, RelayHeartbeat,
    RelayHeartbeatAck, RelayLoad, TunnelId, TunnelProto, UsageReport,
};
use fdt_proto::{ErrorCode, ProtoError};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Longest wait between heartbeats after repeated failures.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// Ended tunnels remembered while the cloud is unreachable (older ones are dropped: the cloud
/// reaps them when the relay restarts or goes silent anyway).
const MAX_PENDING_ENDED: usize = 100_000;

/// Traffic of one account on this relay since the last heartbeat.
#[derive(Debug, Default)]
pub struct Counters {
    requests: AtomicU64,
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
    connections: AtomicU64,
}

impl Counters {
    /// One HTTP request.
    pub fn request(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
    }

    /// One visitor connection.
    pub fn connection(&self) {
        self.connections.fetch_add(1, Ordering::Relaxed);
    }

    /// Bytes from visitors (`inbound`) and to them (`outbound`).
    pub fn bytes(&self, inbound: u64, outbound: u64) {
        self.bytes_in.fetch_add(inbound, Ordering::Relaxed);
        self.bytes_out.fetch_add(outbound, Ordering::Relaxed);
    }

    fn take(&self) -> [u64; 4] {
        [
            self.requests.swap(0, Ordering::Relaxed),
            self.bytes_in.swap(0, Ordering::Relaxed),
            self.bytes_out.swap(0, Ordering::Relaxed),
            self.connections.swap(0, Ordering::Relaxed),
        ]
    }
}

/// Per-account [`Counters`], handed to tunnels at bind.
#[derive(Debug, Default)]
pub struct UsageMeter {
    accounts: Mutex<HashMap<String, Arc<Counters>>>,
}

impl UsageMeter {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Counters>>> {
        self.accounts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The counters of `account`.
    pub fn counters(&self, account: &str) -> Arc<Counters> {
        self.lock().entry(account.to_owned()).or_default().clone()
    }

    /// Takes every account's counts (zeroing them) and forgets accounts without tunnels.
    fn take(&self) -> Vec<(String, [u64; 4])> {
        let mut accounts = self.lock();
        let out = accounts
            .iter()
            .map(|(a, c)| (a.clone(), c.take()))
            .filter(|(_, n)| n.iter().any(|&v| v > 0))
            .collect();
        accounts.retain(|_, c| Arc::strong_count(c) > 1);
        out
    }
}

/// Talks to the control plane for this relay.
#[derive(Debug)]
pub struct CloudSync {
    client: reqwest::Client,
    base: String,
    secret: String,
    relay_id: String,
    region: String,
    boot_id: String,
    ended: Mutex<Vec<TunnelId>>,
    replays_done: Mutex<Vec<fdt_api::ReplayOutcome>>,
    wake: tokio::sync::Notify,
    /// Request records for the cloud traffic log.
    pub traffic: Arc<crate::traffic_log::TrafficQueue>,
    /// An operator asked this relay to drain (from the heartbeat answer).
    draining: std::sync::atomic::AtomicBool,
}

/// What the relay asks before binding.
#[derive(Debug, Clone)]
pub struct BindAsk<'a> {
    /// `sub` of the agent's token.
    pub account: &'a str,
    /// `atk` of the agent's token.
    pub authtoken: &'a str,
    /// Traffic kind.
    pub proto: fdt_proto::Proto,
    /// Subdomain (http, tls).
    pub subdomain: Option<&'a str>,
    /// Port (tcp).
    pub port: Option<u16>,
    /// The relay chose the name.
    pub random: bool,
    /// Public URL.
    pub public_url: &'a str,
    /// Pooling asked for.
    pub pooling: bool,
    /// Agent version.
    pub agent_version: &'a str,
}

impl CloudSync {
    /// A client for `cfg`'s control plane, or `None` when it has none.
    pub fn new(cfg: &RelayConfig) -> anyhow::Result<Option<Self>> {
        let (Some(url), Some(secret)) = (&cfg.cloud_url, &cfg.relay_secret) else {
            return Ok(None);
        };
        Ok(Some(Self {
            client: crate::revocations::client().map_err(anyhow::Error::msg)?,
            base: url.trim_end_matches('/').to_owned(),
            secret: secret.expose().to_owned(),
            relay_id: cfg.relay_id.clone(),
            region: cfg.region.clone(),
            boot_id: format!(
                "{:016x}{:016x}",
                rand::random::<u64>(),
                rand::random::<u64>()
            ),
            ended: Mutex::new(Vec::new()),
            replays_done: Mutex::new(Vec::new()),
            traffic: Default::default(),
            draining: Default::default(),
            wake: tokio::sync::Notify::new(),
        }))
    }

    /// This relay's ID.
    pub fn relay_id(&self) -> &str {
        &self.relay_id
    }

    /// POSTs `body` to `path` of the control plane; any 2xx is success.
    pub async fn post_json<T: serde::Serialize>(&self, path: &str, body: &T) -> Result<(), String> {
        let resp = self
            .client
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.secret)
            .json(body)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = resp.status();
        let bytes = read_capped(resp).await?;
        if status.is_success() {
            return Ok(());
        }
        let detail = serde_json::from_slice::<ErrorBody>(&bytes)
            .map(|b| b.error.message)
            .unwrap_or_default();
        Err(format!("HTTP {} {detail}", status.as_u16()))
    }

    /// The region this relay registered in.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// Asks the control plane whether the agent may bind; the cloud's tunnel ID when it may.
    /// Refusals map to protocol error codes the agent understands; an unreachable cloud is
    /// [`ErrorCode::Unavailable`] (the agent retries).
    pub async fn authorize(&self, ask: &BindAsk<'_>) -> Result<BindingGranted, ProtoError> {
        let unavailable =
            |m: String| ProtoError::new(ErrorCode::Unavailable, format!("control plane: {m}"));
        let account: AccountId = ask
            .account
            .parse()
            .map_err(|_| ProtoError::new(ErrorCode::AuthFailed, "token names no cloud account"))?;
        let authtoken: AuthtokenId = ask
            .authtoken
            .parse()
            .map_err(|_| ProtoError::new(ErrorCode::AuthFailed, "token names no authtoken"))?;
        let body = BindingRequest {
            relay_id: self.relay_id.clone(),
            boot_id: self.boot_id.clone(),
            account_id: account,
            authtoken_id: Some(authtoken),
            proto: match ask.proto {
                fdt_proto::Proto::Http => TunnelProto::Http,
                fdt_proto::Proto::Tls => TunnelProto::Tls,
                fdt_proto::Proto::Tcp => TunnelProto::Tcp,
            },
            subdomain: ask.subdomain.map(str::to_owned),
            port: ask.port,
            random: ask.random,
            public_url: ask.public_url.to_owned(),
            pooling: ask.pooling,
            agent_version: ask.agent_version.chars().take(128).collect(),
        };
        let resp = self
            .client
            .post(format!("{}/v1/relay/bindings", self.base))
            .bearer_auth(&self.secret)
            .json(&body)
            .send()
            .await
            .map_err(|e| unavailable(e.to_string()))?;
        let status = resp.status();
        let bytes = read_capped(resp).await.map_err(unavailable)?;
        if status.is_success() {
            return serde_json::from_slice(&bytes).map_err(|e| unavailable(e.to_string()));
        }
        let err: Option<ErrorBody> = serde_json::from_slice(&bytes).ok();
        let (code, message) = err.map_or_else(
            || (String::new(), format!("HTTP {}", status.as_u16())),
            |b| (b.error.code.as_str().to_owned(), b.error.message),
        );
        Err(match code.as_str() {
            "name_in_use" => ProtoError::new(ErrorCode::NameInUse, message),
            "name_reserved" => ProtoError::new(ErrorCode::NameNotAllowed, message),
            // Final for the agent: retrying cannot help until an operator acts.
            "account_suspended" | "forbidden" => ProtoError::new(ErrorCode::AuthFailed, message),
            // The token names an account the cloud no longer has.
            "not_found" => ProtoError::new(ErrorCode::AuthFailed, message),
            "limit_exceeded" => ProtoError::new(ErrorCode::LimitExceeded, message),
            "validation_failed" | "invalid_body" => {
                ProtoError::new(ErrorCode::InvalidName, message)
            }
            _ if status.is_server_error() || status.as_u16() == 401 => unavailable(message),
            _ => ProtoError::new(ErrorCode::Internal, format!("control plane: {message}")),
        })
    }

    /// Reports a tunnel the cloud knows (by its ID) as ended, in the next heartbeat.
    pub fn ended(&self, id: TunnelId) {
        {
            let mut ended = self.ended.lock().unwrap_or_else(|e| e.into_inner());
            if ended.len() >= MAX_PENDING_ENDED {
                ended.remove(0);
            }
            ended.push(id);
        }
        self.wake.notify_one();
    }

    /// Reports an agent's replay result in the next heartbeat (sent early).
    pub fn replay_done(&self, job: String, status: Option<u16>, error: Option<String>) {
        let Ok(job_id) = job.parse() else {
            tracing::debug!(%job, "replay result for a job ID the cloud did not make");
            return;
        };
        {
            let mut done = self.replays_done.lock().unwrap_or_else(|e| e.into_inner());
            if done.len() >= MAX_PENDING_ENDED {
                done.remove(0);
            }
            done.push(fdt_api::ReplayOutcome {
                job_id,
                status,
                error: error.map(|e| e.chars().take(500).collect()),
            });
        }
        self.wake.notify_one();
    }

    fn take_replays_done(&self, max: usize) -> Vec<fdt_api::ReplayOutcome> {
        let mut done = self.replays_done.lock().unwrap_or_else(|e| e.into_inner());
        let n = done.len().min(max);
        done.drain(..n).collect()
    }

    fn take_ended(&self, max: usize) -> Vec<TunnelId> {
        let mut ended = self.ended.lock().unwrap_or_else(|e| e.into_inner());
        let n = ended.len().min(max);
        ended.drain(..n).collect()
    }

    async fn send_heartbeat(&self, hb: &RelayHeartbeat) -> Result<RelayHeartbeatAck, String> {
        let resp = self
            .client
            .post(format!("{}/v1/relay/heartbeat", self.base))
            .bearer_auth(&self.secret)
            .json(hb)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = resp.status();
        let bytes = read_capped(resp).await?;
        if !status.is_success() {
            let detail = serde_json::from_slice::<ErrorBody>(&bytes)
                .map(|b| b.error.message)
                .unwrap_or_default();
            return Err(format!("HTTP {} {detail}", status.as_u16()));
        }
        serde_json::from_slice(&bytes).map_err(|e| format!("bad answer: {e}"))
    }
}

/// Closes a tunnel the control plane ended (stopped by its owner or an operator, or taken over
/// by the same agent on another relay): its session tells the agent; a tunnel no longer here
/// is reported ended so the cloud stops asking.
fn evict(shared: &crate::server::Shared, sync: &CloudSync, id: TunnelId) {
    let Some(tunnel) = shared.registry.by_cloud_id(id.as_str()) else {
        sync.ended(id);
        return;
    };
    tracing::info!(url = %tunnel.public_url, tunnel = %id, "tunnel closed by the control plane");
    let cmd = crate::registry::SessionCommand::Unbind {
        tunnel: tunnel.id,
        reason: "closed by the control plane (stopped, or bound again elsewhere)",
    };
    if tunnel.commands.try_send(cmd).is_err() {
        // The session is gone or swamped: close the tunnel here; the agent learns it later.
        shared.tunnel_gone(&tunnel);
    }
}

/// Hands a replay to the session of the tunnel it names; a tunnel no longer here is left to
/// the cloud, which sends the job again to wherever the name is bound then.
fn deliver_replay(shared: &crate::server::Shared, order: fdt_api::ReplayOrder) {
    let Some(tunnel) = shared.registry.by_cloud_id(order.tunnel_id.as_str()) else {
        tracing::debug!(job = %order.job_id, "replay for a tunnel no longer on this relay");
        return;
    };
    let cmd = crate::registry::SessionCommand::Replay {
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

async fn read_capped(mut resp: reqwest::Response) -> Result<Vec<u8>, String> {
    const MAX: usize = 1 << 20;
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| e.to_string())? {
        if body.len() + chunk.len() > MAX {
            return Err("answer too large".into());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Sends heartbeats until shutdown: at once on start, then every interval the cloud asks for,
/// and early (after a short debounce) when tunnels end. Applies the evictions it is sent.
pub async fn run_heartbeats(
    shared: Arc<crate::server::Shared>,
    sync: Arc<CloudSync>,
    agent_addr: String,
    server_name: String,
) {
    let cfg = &shared.cfg;
    let mut interval = Duration::from_secs(5);
    let mut seq = 0u64;
    let mut inflight: Option<RelayHeartbeat> = None;
    let mut failures = 0u32;
    let mut first = true;
    loop {
        if !first {
            let wait = if failures > 0 {
                Duration::from_millis(250)
                    .saturating_mul(1 << failures.min(7))
                    .min(MAX_BACKOFF)
            } else {
                interval
            };
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = sync.wake.notified(), if failures == 0 => {
                    // Let a burst of ended tunnels gather into one report.
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                _ = shared.shutdown.cancelled() => return,
            }
        }
        first = false;
        let hb = match inflight.take() {
            Some(hb) => hb,
            None => {
                seq += 1;
                let day = fdt_api::validate::format_day(time::OffsetDateTime::now_utc().date());
                RelayHeartbeat {
                    relay_id: sync.relay_id.clone(),
                    boot_id: sync.boot_id.clone(),
                    seq,
                    region: sync.region.clone(),
                    agent_addr: agent_addr.clone(),
                    server_name: server_name.clone(),
                    version: concat!("fdt-relay/", env!("CARGO_PKG_VERSION")).into(),
                    capacity: cfg.capacity,
                    weight: cfg.weight,
                    draining: shared.shutdown.is_cancelled()
                        || sync.draining.load(Ordering::Relaxed),
                    load: RelayLoad {
                        sessions: u32::try_from(shared.sessions()).unwrap_or(u32::MAX),
                        tunnels: u32::try_from(shared.registry.len()).unwrap_or(u32::MAX),
                        connections: u32::try_from(shared.limiter.total()).unwrap_or(u32::MAX),
                    },
                    ended: sync.take_ended(fdt_api::relays::MAX_HEARTBEAT_ITEMS),
                    usage: shared
                        .usage
                        .take()
                        .into_iter()
                        .filter_map(|(account, [requests, bytes_in, bytes_out, connections])| {
                            Some(UsageReport {
                                account_id: account.parse().ok()?,
                                day: day.clone(),
                                requests,
                                bytes_in,
                                bytes_out,
                                connections,
                            })
                        })
                        .take(fdt_api::relays::MAX_HEARTBEAT_ITEMS)
                        .collect(),
                    replay_results: sync.take_replays_done(fdt_api::relays::MAX_HEARTBEAT_ITEMS),
                }
            }
        };
        match sync.send_heartbeat(&hb).await {
            Ok(ack) => {
                if failures > 0 {
                    tracing::info!("control plane reachable again");
                }
                failures = 0;
                interval = Duration::from_secs(ack.interval_secs.clamp(1, 300));
                if sync.draining.swap(ack.drain, Ordering::Relaxed) != ack.drain {
                    tracing::info!(draining = ack.drain, "drain state set by the control plane");
                    // Report the new state at once rather than a heartbeat later.
                    sync.wake.notify_one();
                }
                for order in ack.replays {
                    deliver_replay(&shared, order);
                }
                for id in ack.evict {
                    evict(&shared, &sync, id);
                }
            }
            Err(e) => {
                failures = failures.saturating_add(1);
                if failures == 1 || failures.is_multiple_of(10) {
                    tracing::warn!(error = %e, failures, "heartbeat to the control plane failed");
                }
                inflight = Some(hb);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meter_hands_out_shared_counters_and_takes_them() {
        let meter = UsageMeter::default();
        let a = meter.counters("acc_a");
        let a2 = meter.counters("acc_a");
        a.request();
        a2.request();
        a.bytes(10, 20);
        a2.connection();
        let taken = meter.take();
        assert_eq!(taken, vec![("acc_a".to_string(), [2, 10, 20, 1])]);
        // Taken means zeroed: nothing to report next time.
        assert!(meter.take().is_empty());
        // Accounts whose tunnels are gone are forgotten.
        drop((a, a2));
        assert!(meter.take().is_empty());
        assert!(meter.lock().is_empty());
    }
}
