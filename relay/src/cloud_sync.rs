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
use crate::report_queue::{self, ReportQueue};
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
/// Bytes (of JSON) of ended tunnels kept: a tunnel ID is about 30.
const MAX_PENDING_ENDED_BYTES: usize = 4 << 20;
/// Replay results kept while the cloud is unreachable, and their bytes.
const MAX_PENDING_REPLAYS: usize = 10_000;
const MAX_PENDING_REPLAYS_BYTES: usize = 4 << 20;
/// Longest replay error reported, in bytes (cut on a character boundary).
pub const MAX_REPLAY_ERROR: usize = 500;
/// Room kept in every heartbeat for what is not a list (IDs, addresses, load), on top of
/// what they measure: the fixed fields are measured exactly, this only absorbs the `seq` of a
/// resend growing by a digit.
const HEARTBEAT_SLACK: usize = 64;

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

    /// Adds counts taken earlier back (a heartbeat that could not carry them).
    fn give_back(&self, account: &str, counts: [u64; 4]) {
        let c = self.counters(account);
        c.requests.fetch_add(counts[0], Ordering::Relaxed);
        c.bytes_in.fetch_add(counts[1], Ordering::Relaxed);
        c.bytes_out.fetch_add(counts[2], Ordering::Relaxed);
        c.connections.fetch_add(counts[3], Ordering::Relaxed);
    }
}

/// Why a request to the control plane failed.
#[derive(Debug, thiserror::Error)]
pub enum PostError {
    /// No answer (connection refused, timeout) or an unreadable one.
    #[error("{0}")]
    Transport(String),
    /// The control plane answered with an error status.
    #[error("HTTP {status} {detail}")]
    Status {
        /// The status code.
        status: u16,
        /// The error body's message, if it had one.
        detail: String,
    },
}

impl PostError {
    /// True when sending the same body again must get the same answer: a 4xx other than 401
    /// (a relay secret being rotated), 408 and 429. Such a body is split, trimmed or dropped,
    /// never resent as it is.
    pub fn is_final(&self) -> bool {
        matches!(self, Self::Status { status, .. }
            if (400..500).contains(status) && !matches!(status, 401 | 408 | 429))
    }
}

/// Talks to the control plane for this relay.
pub struct CloudSync {
    client: reqwest::Client,
    base: String,
    secret: String,
    relay_id: String,
    region: String,
    boot_id: String,
    ended: Mutex<ReportQueue<TunnelId>>,
    replays_done: Mutex<ReportQueue<fdt_api::ReplayOutcome>>,
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
            ended: Mutex::new(ReportQueue::new(MAX_PENDING_ENDED, MAX_PENDING_ENDED_BYTES)),
            replays_done: Mutex::new(ReportQueue::new(
                MAX_PENDING_REPLAYS,
                MAX_PENDING_REPLAYS_BYTES,
            )),
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
    pub async fn post_json<T: serde::Serialize>(
        &self,
        path: &str,
        body: &T,
    ) -> Result<(), PostError> {
        self.post(path, body).await.map(drop)
    }

    /// POSTs `body` to `path`; the answer's body on a 2xx.
    async fn post<T: serde::Serialize>(&self, path: &str, body: &T) -> Result<Vec<u8>, PostError> {
        let resp = self
            .client
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.secret)
            .json(body)
            .send()
            .await
            .map_err(|e| PostError::Transport(e.to_string()))?;
        let status = resp.status();
        let bytes = read_capped(resp).await.map_err(PostError::Transport)?;
        if status.is_success() {
            return Ok(bytes);
        }
        let detail = serde_json::from_slice::<ErrorBody>(&bytes)
            .map(|b| b.error.message)
            .unwrap_or_default();
        Err(PostError::Status {
            status: status.as_u16(),
            detail,
        })
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
        lock(&self.ended).push(id);
        self.wake.notify_one();
    }

    /// Reports an agent's replay result in the next heartbeat (sent early). The session has
    /// checked that the job was delivered to it; the error text is the agent's, so it is
    /// cleaned of control characters and cut to [`MAX_REPLAY_ERROR`] bytes.
    pub fn replay_done(&self, job: String, status: Option<u16>, error: Option<String>) {
        let Ok(job_id) = job.parse() else {
            tracing::debug!(job = %fdt_api::validate::cut(&job, 64), "replay result for a job ID the cloud did not make");
            return;
        };
        lock(&self.replays_done).push(fdt_api::ReplayOutcome {
            job_id,
            status,
            error: error.map(|e| clean_error(&e)),
        });
        self.wake.notify_one();
    }

    /// The lists of the next heartbeat: ended tunnels first (the cloud needs them to free
    /// names), then replay results, then usage, at most `max_items` in all and `budget` bytes
    /// of JSON array elements in all.
    fn take_reports(&self, usage: &UsageMeter, budget: usize, max_items: usize) -> Reports {
        let max_items = max_items.min(fdt_api::relays::MAX_HEARTBEAT_ITEMS);
        let (ended, used) = lock(&self.ended).take(budget, max_items);
        let budget = budget - used;
        let (replay_results, used) =
            lock(&self.replays_done).take(budget, max_items.saturating_sub(ended.len()));
        let mut budget = budget - used;
        let mut room = max_items.saturating_sub(ended.len() + replay_results.len());
        let day = fdt_api::validate::format_day(time::OffsetDateTime::now_utc().date());
        let mut reports = Vec::new();
        for (account, counts) in usage.take() {
            let report = account.parse().ok().map(|account_id| UsageReport {
                account_id,
                day: day.clone(),
                requests: counts[0],
                bytes_in: counts[1],
                bytes_out: counts[2],
                connections: counts[3],
            });
            let Some(report) = report else { continue };
            let cost = report_queue::json_len(&report) + usize::from(!reports.is_empty());
            if room == 0 || cost > budget {
                // Counted again next time rather than lost.
                usage.give_back(&account, counts);
                continue;
            }
            budget -= cost;
            room -= 1;
            reports.push(report);
        }
        Reports {
            ended,
            usage: reports,
            replay_results,
        }
    }

    /// Puts the lists of a heartbeat that was not applied back to be sent again.
    fn put_back(&self, usage: &UsageMeter, reports: Reports) {
        lock(&self.ended).put_back(reports.ended);
        lock(&self.replays_done).put_back(reports.replay_results);
        for u in reports.usage {
            usage.give_back(
                u.account_id.as_str(),
                [u.requests, u.bytes_in, u.bytes_out, u.connections],
            );
        }
    }

    async fn send_heartbeat(&self, hb: &RelayHeartbeat) -> Result<RelayHeartbeatAck, PostError> {
        let bytes = self.post("/v1/relay/heartbeat", hb).await?;
        serde_json::from_slice(&bytes).map_err(|e| PostError::Transport(format!("bad answer: {e}")))
    }
}

impl std::fmt::Debug for CloudSync {
    // By hand so the relay secret never reaches a log line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CloudSync")
            .field("base", &self.base)
            .field("secret", &"***")
            .field("relay_id", &self.relay_id)
            .field("region", &self.region)
            .field("boot_id", &self.boot_id)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// An agent's error text as reported: control characters (which JSON escapes to six bytes
/// each) become spaces, and it is cut to [`MAX_REPLAY_ERROR`] bytes on a character boundary.
fn clean_error(e: &str) -> String {
    let cut = fdt_api::validate::cut(e, MAX_REPLAY_ERROR);
    cut.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// The lists one heartbeat carries.
#[derive(Debug, Default)]
struct Reports {
    ended: Vec<TunnelId>,
    usage: Vec<UsageReport>,
    replay_results: Vec<fdt_api::ReplayOutcome>,
}

impl Reports {
    fn len(&self) -> usize {
        self.ended.len() + self.usage.len() + self.replay_results.len()
    }

    fn of(hb: &mut RelayHeartbeat) -> Self {
        Self {
            ended: std::mem::take(&mut hb.ended),
            usage: std::mem::take(&mut hb.usage),
            replay_results: std::mem::take(&mut hb.replay_results),
        }
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
///
/// A heartbeat that got no answer, or a 5xx, is resent unchanged (same `seq`: the cloud
/// applies it once). One the cloud refused as malformed or too large (a final 4xx, see
/// [`PostError::is_final`]) is never resent: its lists go back and the next heartbeat carries
/// half as many items, down to one, and a single item the cloud still refuses is dropped and
/// logged. Every heartbeat is built to fit [`fdt_api::relays::MAX_HEARTBEAT_BYTES`].
pub async fn run_heartbeats(
    shared: Arc<crate::server::Shared>,
    sync: Arc<CloudSync>,
    agent_addr: String,
    server_name: String,
) {
    let mut interval = Duration::from_secs(5);
    let mut seq = 0u64;
    let mut inflight: Option<RelayHeartbeat> = None;
    let mut failures = 0u32;
    let mut first = true;
    // Items per heartbeat; halved after each final refusal, reset by a success.
    let mut max_items = fdt_api::relays::MAX_HEARTBEAT_ITEMS;
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
        let mut hb = match inflight.take() {
            Some(hb) => hb,
            None => {
                seq += 1;
                let header = heartbeat_header(&shared, &sync, seq, &agent_addr, &server_name);
                fill_heartbeat(&sync, &shared.usage, header, max_items)
            }
        };
        match sync.send_heartbeat(&hb).await {
            Ok(ack) => {
                if failures > 0 {
                    tracing::info!("control plane reachable again");
                }
                failures = 0;
                max_items = fdt_api::relays::MAX_HEARTBEAT_ITEMS;
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
            Err(e) if e.is_final() => {
                // Nothing of a refused heartbeat was applied: its items go back, and the next
                // one (a new `seq`) carries fewer. Without this a 413 was resent forever and
                // the relay fell out of the fleet.
                let reports = Reports::of(&mut hb);
                let n = reports.len();
                if n <= 1 {
                    tracing::error!(error = %e, items = n, "control plane refused a heartbeat; its report is dropped");
                    failures = failures.saturating_add(1);
                } else {
                    max_items = (n / 2).max(1);
                    tracing::warn!(error = %e, items = n, next = max_items, "control plane refused a heartbeat; sending its reports in smaller parts");
                    sync.put_back(&shared.usage, reports);
                    sync.wake.notify_one();
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

/// A heartbeat with this relay's state and empty lists.
fn heartbeat_header(
    shared: &crate::server::Shared,
    sync: &CloudSync,
    seq: u64,
    agent_addr: &str,
    server_name: &str,
) -> RelayHeartbeat {
    let cfg = &shared.cfg;
    RelayHeartbeat {
        relay_id: sync.relay_id.clone(),
        boot_id: sync.boot_id.clone(),
        seq,
        region: sync.region.clone(),
        agent_addr: agent_addr.to_owned(),
        server_name: server_name.to_owned(),
        version: concat!("fdt-relay/", env!("CARGO_PKG_VERSION")).into(),
        capacity: cfg.capacity,
        weight: cfg.weight,
        draining: shared.shutdown.is_cancelled() || sync.draining.load(Ordering::Relaxed),
        load: RelayLoad {
            sessions: u32::try_from(shared.sessions()).unwrap_or(u32::MAX),
            tunnels: u32::try_from(shared.registry.len()).unwrap_or(u32::MAX),
            connections: u32::try_from(shared.limiter.total()).unwrap_or(u32::MAX),
        },
        ended: Vec::new(),
        usage: Vec::new(),
        replay_results: Vec::new(),
    }
}

/// Fills `hb`'s lists with as many queued reports as fit the cloud's body limit: the header
/// (with its three empty lists) is measured as sent, and the lists' elements are taken
/// within what is left.
fn fill_heartbeat(
    sync: &CloudSync,
    usage: &UsageMeter,
    mut hb: RelayHeartbeat,
    max_items: usize,
) -> RelayHeartbeat {
    let header = report_queue::json_len(&hb);
    let budget = fdt_api::relays::MAX_HEARTBEAT_BYTES.saturating_sub(header + HEARTBEAT_SLACK);
    let reports = sync.take_reports(usage, budget, max_items);
    hb.ended = reports.ended;
    hb.usage = reports.usage;
    hb.replay_results = reports.replay_results;
    hb
}

#[cfg(test)]
mod tests;
