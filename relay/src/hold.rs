//! Hold and forward: requests for a name whose agent is reconnecting wait for it.
//!
//! When a name's last tunnel goes away the registry keeps a tombstone for it. A request for
//! such a name is held for `limits.hold_ms`: its body is buffered (within a per-name and a
//! relay-wide budget of requests and bytes), and it is forwarded once, when a tunnel binds the
//! name again — the waiting is woken by the tombstone being dropped, never by polling. What
//! cannot be held, or is not forwarded in time, is refused with 503 `tunnel_reconnecting`
//! through [`refused`], the one place such refusals are recorded.
//!
//! Nothing here outlives the visitor: budget is held by a [`HoldTicket`] owned by the request's
//! future, so a visitor that disconnects (hyper drops the future) releases it at once.

use crate::config::Limits;
use crate::pages::EdgeError;
use crate::registry::{HostWatch, Registry, Tunnel};
use crate::server::Shared;
use bytes::{Bytes, BytesMut};
use http::request::Parts;
use http::{HeaderMap, HeaderValue, Method, Request, header};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
use tokio::time::Instant;

/// Only names that went offline this recently are held: an agent gone for longer is not
/// reconnecting, and its visitors get "offline" at once rather than after the hold window.
pub const HOLD_RECENT: Duration = Duration::from_secs(300);

/// Why a request for a reconnecting name was refused rather than held and forwarded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HoldRefusal {
    /// The name already has `hold_max_requests` requests waiting.
    #[error("too many requests already held for this name")]
    NameRequests,
    /// The request (head and body) does not fit in the name's remaining `hold_max_bytes`.
    #[error("request too large for the name's remaining hold budget")]
    NameBytes,
    /// The relay as a whole holds as many requests or bytes as it allows.
    #[error("relay-wide hold budget exhausted")]
    RelayFull,
    /// No tunnel bound the name within `hold_ms`.
    #[error("the agent did not return within the hold window")]
    Expired,
    /// The relay forgot the name while the request waited (its tombstone was evicted).
    #[error("the name is no longer known")]
    Forgotten,
    /// The relay is shutting down.
    #[error("the relay is shutting down")]
    RelayStopping,
    /// Another account's tunnel bound the name: held requests go only to the account that
    /// held the name when they arrived.
    #[error("the name was bound by another account")]
    OtherOwner,
}

impl HoldRefusal {
    /// Short stable label for logs and traffic records.
    pub fn as_str(self) -> &'static str {
        match self {
            HoldRefusal::NameRequests => "name_requests",
            HoldRefusal::NameBytes => "name_bytes",
            HoldRefusal::RelayFull => "relay_full",
            HoldRefusal::Expired => "expired",
            HoldRefusal::Forgotten => "forgotten",
            HoldRefusal::RelayStopping => "relay_stopping",
            HoldRefusal::OtherOwner => "other_owner",
        }
    }
}

/// How much may be held at once, per name and relay-wide.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HoldCaps {
    /// Requests per name.
    pub name_requests: usize,
    /// Bytes per name.
    pub name_bytes: u64,
    /// Requests relay-wide.
    pub total_requests: usize,
    /// Bytes relay-wide.
    pub total_bytes: u64,
}

impl From<&Limits> for HoldCaps {
    fn from(l: &Limits) -> Self {
        let n = |v: u32| usize::try_from(v).unwrap_or(usize::MAX);
        Self {
            name_requests: n(l.hold_max_requests),
            name_bytes: l.hold_max_bytes,
            total_requests: n(l.hold_max_total_requests),
            total_bytes: l.hold_max_total_bytes,
        }
    }
}

/// Requests and bytes currently held.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct HoldUsage {
    /// Requests.
    pub requests: usize,
    /// Bytes (heads and bodies).
    pub bytes: u64,
}

#[derive(Debug, Default)]
struct BudgetState {
    total: HoldUsage,
    /// Only names with something held; entries are removed when they fall to zero.
    names: HashMap<String, HoldUsage>,
}

/// Bookkeeping of everything held, per name and in total.
#[derive(Debug, Default)]
pub struct HoldBudget {
    state: Mutex<BudgetState>,
}

impl HoldBudget {
    fn lock(&self) -> std::sync::MutexGuard<'_, BudgetState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes one request slot and `bytes` for `host`, or says which cap refuses it.
    pub fn reserve(
        &self,
        caps: HoldCaps,
        host: &str,
        bytes: u64,
    ) -> Result<HoldTicket<'_>, HoldRefusal> {
        let mut s = self.lock();
        let name = s.names.get(host).copied().unwrap_or_default();
        if name.requests >= caps.name_requests {
            return Err(HoldRefusal::NameRequests);
        }
        if name.bytes.saturating_add(bytes) > caps.name_bytes {
            return Err(HoldRefusal::NameBytes);
        }
        if s.total.requests >= caps.total_requests
            || s.total.bytes.saturating_add(bytes) > caps.total_bytes
        {
            return Err(HoldRefusal::RelayFull);
        }
        s.total.requests += 1;
        s.total.bytes += bytes;
        let entry = s.names.entry(host.to_string()).or_default();
        entry.requests += 1;
        entry.bytes += bytes;
        Ok(HoldTicket {
            budget: self,
            caps,
            host: host.to_string(),
            bytes,
        })
    }

    /// What is held for `host`.
    pub fn usage(&self, host: &str) -> HoldUsage {
        self.lock().names.get(host).copied().unwrap_or_default()
    }

    /// What is held relay-wide.
    pub fn total(&self) -> HoldUsage {
        self.lock().total
    }
}

/// One held request's share of the budget; released when dropped.
#[derive(Debug)]
pub struct HoldTicket<'a> {
    budget: &'a HoldBudget,
    caps: HoldCaps,
    host: String,
    bytes: u64,
}

impl HoldTicket<'_> {
    /// Grows the reservation to at least `bytes` (a body longer than announced), within caps.
    pub fn cover(&mut self, bytes: u64) -> Result<(), HoldRefusal> {
        let Some(more) = bytes.checked_sub(self.bytes).filter(|&m| m > 0) else {
            return Ok(());
        };
        let mut s = self.budget.lock();
        let name = s.names.get(&self.host).copied().unwrap_or_default();
        if name.bytes.saturating_add(more) > self.caps.name_bytes {
            return Err(HoldRefusal::NameBytes);
        }
        if s.total.bytes.saturating_add(more) > self.caps.total_bytes {
            return Err(HoldRefusal::RelayFull);
        }
        s.total.bytes += more;
        if let Some(e) = s.names.get_mut(&self.host) {
            e.bytes += more;
        }
        self.bytes = bytes;
        Ok(())
    }
}

impl Drop for HoldTicket<'_> {
    fn drop(&mut self) {
        let mut s = self.budget.lock();
        s.total.requests = s.total.requests.saturating_sub(1);
        s.total.bytes = s.total.bytes.saturating_sub(self.bytes);
        if let Some(e) = s.names.get_mut(&self.host) {
            e.requests = e.requests.saturating_sub(1);
            e.bytes = e.bytes.saturating_sub(self.bytes);
            if e.requests == 0 {
                s.names.remove(&self.host);
            }
        }
    }
}

/// Holds `req` for `host` (a name whose agent is away) for at most `window`, and returns the
/// tunnel that bound the name meanwhile with the request, its body buffered. Refusals are
/// recorded through [`refused`] and answered 503 `tunnel_reconnecting`.
pub async fn hold(
    shared: &Shared,
    host: &str,
    req: Request<Incoming>,
    window: Duration,
    visitor: std::net::IpAddr,
) -> Result<(Arc<Tunnel>, Request<Full<Bytes>>), EdgeError> {
    let at = SystemTime::now();
    let deadline = Instant::now() + window;
    let (mut parts, body) = req.into_parts();
    let caps = HoldCaps::from(&shared.cfg.limits);
    // Whose name it is now: the request may only ever reach a tunnel of theirs. A name bound
    // again since the edge looked it up is routed like any new request.
    let owner = match shared.registry.offline_owner(host) {
        Some((o, _)) => Ok(o.account),
        None => match shared.registry.lookup_host(host) {
            crate::registry::HostLookup::Online(t) => Ok(t.account.clone()),
            _ => Err(HoldRefusal::Forgotten),
        },
    };
    let held = async { hold_parts(&shared.registry, caps, host, &owner?, &parts, body).await };
    let outcome = tokio::select! {
        r = tokio::time::timeout_at(deadline, held) => {
            r.unwrap_or(Err(HoldError::Refused(HoldRefusal::Expired)))
        }
        () = shared.shutdown.cancelled() => Err(HoldError::Refused(HoldRefusal::RelayStopping)),
    };
    match outcome {
        Ok((tunnel, body)) => {
            // The body is complete: the agent hop needs neither `Expect` nor chunking.
            parts.headers.remove(header::EXPECT);
            parts.headers.remove(header::TRANSFER_ENCODING);
            parts
                .headers
                .insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
            Ok((tunnel, Request::from_parts(parts, Full::new(body))))
        }
        Err(HoldError::Refused(reason)) => {
            refused(
                shared,
                &Refused {
                    method: &parts.method,
                    host,
                    path: parts.uri.path_and_query().map_or("/", |p| p.as_str()),
                    headers: &parts.headers,
                    visitor,
                },
                at,
                reason,
            );
            Err(EdgeError::Reconnecting(host.to_string()))
        }
        Err(HoldError::Body(e)) => {
            tracing::debug!(error = %e, host, "held request's body could not be read");
            Err(EdgeError::BadRequest("the request body could not be read"))
        }
    }
}

/// A visitor request refused while its tunnel reconnects.
#[derive(Debug)]
pub struct Refused<'a> {
    /// Method.
    pub method: &'a Method,
    /// Host name.
    pub host: &'a str,
    /// Path and query.
    pub path: &'a str,
    /// Request headers.
    pub headers: &'a HeaderMap,
    /// The visitor's address.
    pub visitor: std::net::IpAddr,
}

/// Records a request refused 503 because it could not be held (see [`HoldRefusal`]): logged,
/// and — when the name belonged to a cloud account — put in the cloud traffic log with the
/// error code `tunnel_reconnecting`, so it can be found and replayed once the agent is back.
pub fn refused(shared: &Shared, r: &Refused<'_>, at: SystemTime, reason: HoldRefusal) {
    let at_ms = at
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    tracing::info!(
        method = %r.method, host = r.host, path = r.path, at_ms, reason = reason.as_str(),
        "request refused: tunnel reconnecting and the request could not be held ({reason})"
    );
    let (Some(sync), Some((owner, _))) = (&shared.cloud, shared.registry.offline_owner(r.host))
    else {
        return;
    };
    let label = r
        .host
        .strip_suffix(&format!(".{}", shared.cfg.base_domain))
        .filter(|l| !l.contains('.'));
    if let Some(mut log) = crate::traffic_log::ExchangeLog::start(
        sync,
        &owner.account,
        owner.cloud_id.as_ref(),
        label,
        r.method.as_str(),
        r.host,
        r.path,
        r.headers,
        r.visitor,
        false,
    ) {
        log.edge_error(503, "tunnel_reconnecting");
    }
}

#[derive(Debug)]
enum HoldError {
    Refused(HoldRefusal),
    /// The visitor's body failed (disconnect, malformed framing): the visitor's fault.
    Body(hyper::Error),
}

impl From<HoldRefusal> for HoldError {
    fn from(r: HoldRefusal) -> Self {
        HoldError::Refused(r)
    }
}

/// Reserves budget, buffers the body, then waits for the name to be bound again.
async fn hold_parts(
    registry: &Registry,
    caps: HoldCaps,
    host: &str,
    owner: &str,
    parts: &Parts,
    mut body: Incoming,
) -> Result<(Arc<Tunnel>, Bytes), HoldError> {
    let head = head_size(parts);
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0);
    let mut ticket = registry
        .holds()
        .reserve(caps, host, head.saturating_add(declared))?;
    // Capacity only up to what the budget accepted, so a lying Content-Length costs nothing.
    let mut buf = BytesMut::with_capacity(usize::try_from(declared).unwrap_or(0));
    while let Some(frame) = body.frame().await {
        // Trailers are dropped: the agent hop gets a plain length-delimited body.
        if let Ok(data) = frame.map_err(HoldError::Body)?.into_data() {
            ticket.cover(head + (buf.len() + data.len()) as u64)?;
            buf.extend_from_slice(&data);
        }
    }
    let tunnel = wait_bound(registry, host, owner).await?;
    drop(ticket);
    Ok((tunnel, buf.freeze()))
}

/// Waits until a tunnel of `owner` serves `host` (the caller bounds the time). Another
/// account's tunnel is refused: the held request carries this visitor's cookies and
/// credentials for `owner`'s service.
async fn wait_bound(
    registry: &Registry,
    host: &str,
    owner: &str,
) -> Result<Arc<Tunnel>, HoldRefusal> {
    loop {
        let mut rebound = match registry.watch_host(host) {
            HostWatch::Online(t) if t.account == owner => return Ok(t),
            HostWatch::Online(_) => return Err(HoldRefusal::OtherOwner),
            HostWatch::Offline(rx) => rx,
            HostWatch::Unknown => return Err(HoldRefusal::Forgotten),
        };
        // Nothing is sent on it: this returns when the tombstone is dropped; look again.
        let _ = rebound.changed().await;
    }
}

/// Approximate bytes a request head occupies while held.
fn head_size(parts: &Parts) -> u64 {
    let headers: usize = parts
        .headers
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len() + 4)
        .sum();
    (parts.uri.to_string().len() + parts.method.as_str().len() + headers + 16) as u64
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const CAPS: HoldCaps = HoldCaps {
        name_requests: 2,
        name_bytes: 100,
        total_requests: 3,
        total_bytes: 150,
    };

    #[test]
    fn per_name_request_count_is_capped_and_released_on_drop() {
        let b = HoldBudget::default();
        let t1 = b.reserve(CAPS, "a", 10).unwrap();
        let _t2 = b.reserve(CAPS, "a", 10).unwrap();
        assert_eq!(
            b.reserve(CAPS, "a", 0).unwrap_err(),
            HoldRefusal::NameRequests
        );
        assert_eq!(
            b.usage("a"),
            HoldUsage {
                requests: 2,
                bytes: 20
            }
        );
        drop(t1);
        assert_eq!(
            b.usage("a"),
            HoldUsage {
                requests: 1,
                bytes: 10
            }
        );
        b.reserve(CAPS, "a", 0).unwrap();
    }

    #[test]
    fn per_name_bytes_are_capped_including_growth() {
        let b = HoldBudget::default();
        assert_eq!(
            b.reserve(CAPS, "a", 101).unwrap_err(),
            HoldRefusal::NameBytes
        );
        let mut t = b.reserve(CAPS, "a", 60).unwrap();
        assert_eq!(
            b.reserve(CAPS, "a", 41).unwrap_err(),
            HoldRefusal::NameBytes
        );
        // A body longer than announced grows the reservation until the cap.
        t.cover(90).unwrap();
        t.cover(50).unwrap(); // never shrinks
        assert_eq!(b.usage("a").bytes, 90);
        assert_eq!(t.cover(101).unwrap_err(), HoldRefusal::NameBytes);
        assert_eq!(b.usage("a").bytes, 90, "a refused growth takes nothing");
        // Other names have their own budget.
        let _other = b.reserve(CAPS, "b", 50).unwrap();
        drop(t);
        assert_eq!(b.usage("a"), HoldUsage::default());
        assert_eq!(
            b.total(),
            HoldUsage {
                requests: 1,
                bytes: 50
            }
        );
    }

    #[test]
    fn relay_wide_caps_apply_across_names() {
        let b = HoldBudget::default();
        let _a = b.reserve(CAPS, "a", 80).unwrap();
        let mut c = b.reserve(CAPS, "c", 10).unwrap();
        // Within b's own budget, but over the relay-wide bytes.
        assert_eq!(
            b.reserve(CAPS, "b", 61).unwrap_err(),
            HoldRefusal::RelayFull
        );
        assert_eq!(c.cover(71).unwrap_err(), HoldRefusal::RelayFull);
        let _b = b.reserve(CAPS, "b", 60).unwrap();
        assert_eq!(
            b.reserve(CAPS, "d", 0).unwrap_err(),
            HoldRefusal::RelayFull,
            "three requests held relay-wide"
        );
    }

    #[test]
    fn everything_is_released_when_tickets_drop() {
        let b = HoldBudget::default();
        let tickets: Vec<_> = ["a", "a", "b"]
            .into_iter()
            .map(|h| b.reserve(CAPS, h, 30).unwrap())
            .collect();
        assert_eq!(b.total().requests, 3);
        drop(tickets);
        assert_eq!(b.total(), HoldUsage::default());
        assert!(b.lock().names.is_empty(), "no entry left behind");
    }

    #[test]
    fn caps_come_from_limits() {
        let caps = HoldCaps::from(&Limits::default());
        assert_eq!(caps.name_requests, 64);
        assert_eq!(caps.name_bytes, 8 * 1024 * 1024);
        assert_eq!(caps.total_requests, 10_000);
        assert_eq!(caps.total_bytes, 256 * 1024 * 1024);
    }
}
