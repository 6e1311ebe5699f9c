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

use crate::edge::context::Edge;
use crate::edge::error::EdgeError;
use crate::edge::hold_budget::{HoldBudget, HoldCaps, HoldRefusal};
use crate::registry::{HostWatch, Registry, Tunnel};
use bytes::{Bytes, BytesMut};
use http::request::Parts;
use http::{HeaderMap, HeaderValue, Method, Request, header};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::time::Instant;

/// Only names that went offline this recently are held: an agent gone for longer is not
/// reconnecting, and its visitors get "offline" at once rather than after the hold window.
pub const HOLD_RECENT: Duration = Duration::from_secs(300);

/// Holds `req` for `host` (a name whose agent is away) for at most `window`, and returns the
/// tunnel that bound the name meanwhile with the request, its body buffered. Refusals are
/// recorded through [`refused`] and answered 503 `tunnel_reconnecting`.
pub async fn hold(
    edge: &Edge,
    host: &str,
    req: Request<Incoming>,
    window: Duration,
    visitor: std::net::IpAddr,
) -> Result<(Arc<Tunnel>, Request<Full<Bytes>>), EdgeError> {
    let at = SystemTime::now();
    let deadline = Instant::now() + window;
    let (mut parts, body) = req.into_parts();
    let caps = HoldCaps::from(&edge.cfg.limits);
    // Whose name it is now: the request may only ever reach a tunnel of theirs. A name bound
    // again since the edge looked it up is routed like any new request.
    let owner = match edge.registry.offline_owner(host) {
        Some((o, _)) => Ok(o.account),
        None => match edge.registry.lookup_host(host) {
            crate::registry::HostLookup::Online(t) => Ok(t.account.clone()),
            _ => Err(HoldRefusal::Forgotten),
        },
    };
    let held = async {
        hold_parts(
            &edge.registry,
            &edge.holds,
            caps,
            host,
            &owner?,
            &parts,
            body,
        )
        .await
    };
    let outcome = tokio::select! {
        r = tokio::time::timeout_at(deadline, held) => {
            r.unwrap_or(Err(HoldError::Refused(HoldRefusal::Expired)))
        }
        () = edge.lifecycle.shutdown.cancelled() => Err(HoldError::Refused(HoldRefusal::RelayStopping)),
    };
    match outcome {
        Ok((tunnel, body)) => {
            edge.metrics.hold_ended("forwarded");
            // The body is complete: the agent hop needs neither `Expect` nor chunking.
            parts.headers.remove(header::EXPECT);
            parts.headers.remove(header::TRANSFER_ENCODING);
            parts
                .headers
                .insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
            Ok((tunnel, Request::from_parts(parts, Full::new(body))))
        }
        Err(HoldError::Refused(reason)) => {
            edge.metrics.hold_ended(reason.as_str());
            refused(
                edge,
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
pub fn refused(edge: &Edge, r: &Refused<'_>, at: SystemTime, reason: HoldRefusal) {
    let at_ms = at
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    tracing::info!(
        method = %r.method, host = r.host, path = r.path, at_ms, reason = reason.as_str(),
        "request refused: tunnel reconnecting and the request could not be held ({reason})"
    );
    let (Some(queue), Some((owner, _))) = (&edge.traffic, edge.registry.offline_owner(r.host))
    else {
        return;
    };
    let label = r
        .host
        .strip_suffix(&format!(".{}", edge.cfg.base_domain))
        .filter(|l| !l.contains('.'));
    if let Some(mut log) = crate::control::traffic_log::ExchangeLog::start(
        queue,
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
    budget: &HoldBudget,
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
    let mut ticket = budget.reserve(caps, host, head.saturating_add(declared))?;
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
