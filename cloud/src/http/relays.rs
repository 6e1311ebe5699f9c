//! `/v1/relay/…`: the control plane's side of its relays, authenticated by a relay secret.
//!
//! - `GET /v1/relay/revocations` — the feed relays poll to close the live sessions of revoked
//!   authtokens within seconds;
//! - `POST /v1/relay/heartbeat` — registration, health, load, ended tunnels and usage;
//! - `POST /v1/relay/bindings` — a relay asks before binding a name: reservations, plan limits
//!   and live bindings on other relays are checked, and the tunnel is recorded online;
//! - `GET /v1/relay/placement` — which relays hold a name, for a relay that does not and
//!   forwards the visitor to one that does; `GET /v1/relay/placement/changes` — the names
//!   bound since a cursor, waited for (the feed relays drop stale placement answers by).
//!
//! And for people: `GET /v1/relays`, the fleet with its health.

use super::extract::{ApiJson, Authenticated, RelayCaller};
use crate::error::ApiError;
use crate::events::Topic;
use crate::fleet;
use crate::fleet::bind::BindError;
use crate::fleet::heartbeat::HeartbeatError;
use crate::state::AppState;
use crate::traffic::{PrepareReplayError, PreparedReplay};
use axum::Json;
use axum::extract::{Query, State};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use fdt_api::ReplayOrder;
use fdt_api::relays::{MAX_HEARTBEAT_ITEMS, MAX_PLACEMENT_CHANGES, MAX_PLACEMENT_WAIT_SECS};
use fdt_api::validate::{check_agent_version, check_label, check_region, parse_day};
use fdt_api::{
    BindingGranted, BindingRequest, Placement, PlacementChanges, PlacementChangesQuery,
    PlacementQuery, RelayHeartbeat, RelayHeartbeatAck, RelayList, RelayStatus, RevocationList,
    RevocationsQuery, TunnelProto,
};
use std::time::Duration;

/// Most revocations one answer holds; a relay that gets this many asks again at once.
pub const MAX_REVOCATIONS_PER_PAGE: i64 = 1_000;

/// `GET /v1/relay/revocations?after=<cursor>` → the authtokens revoked after the cursor and
/// the cursor to pass next; 401 unless `Authorization: Bearer` carries a relay secret.
pub async fn revocations(
    State(st): State<AppState>,
    _relay: RelayCaller,
    query: Result<Query<RevocationsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<RevocationList>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::InvalidBody(e.body_text()))?;
    let (revoked, cursor) = st
        .store()
        .revocations_after(q.after.max(0), MAX_REVOCATIONS_PER_PAGE)
        .await?;
    Ok(Json(RevocationList { revoked, cursor }))
}

fn check_heartbeat(hb: &RelayHeartbeat) -> Result<(), ApiError> {
    check_label("relay_id", &hb.relay_id)?;
    check_region(&hb.region)?;
    check_agent_version(&hb.version)?;
    let bad = |m: &str| Err(ApiError::InvalidBody(m.to_owned()));
    if hb.boot_id.is_empty() || hb.boot_id.len() > 64 {
        return bad("boot_id must be 1 to 64 characters");
    }
    if hb.agent_addr.is_empty() || hb.agent_addr.len() > 255 || hb.server_name.len() > 255 {
        return bad("agent_addr and server_name must be 1 to 255 characters");
    }
    if hb.seq == 0 || hb.capacity == 0 || !(1..=1000).contains(&hb.weight) {
        return bad("seq and capacity must be at least 1, weight 1 to 1000");
    }
    if hb.ended.len() > MAX_HEARTBEAT_ITEMS || hb.usage.len() > MAX_HEARTBEAT_ITEMS {
        return bad("ended and usage hold at most 2000 entries each");
    }
    for u in &hb.usage {
        parse_day("usage.day", &u.day)?;
    }
    Ok(())
}

/// `POST /v1/relay/heartbeat` → 200 with the interval and evictions; 422 for a malformed
/// report (nothing of it is stored).
pub async fn heartbeat(
    State(st): State<AppState>,
    _relay: RelayCaller,
    ApiJson(hb): ApiJson<RelayHeartbeat>,
) -> Result<Json<RelayHeartbeatAck>, ApiError> {
    check_heartbeat(&hb)?;
    if hb.replay_results.len() > MAX_HEARTBEAT_ITEMS {
        return Err(ApiError::InvalidBody(
            "replay_results holds at most 2000 entries".into(),
        ));
    }
    let reply = fleet::heartbeat::ingest(&st, &hb).await?;
    Ok(Json(RelayHeartbeatAck {
        interval_secs: st.fleet().heartbeat_secs,
        evict: reply.evict,
        evict_reasons: reply
            .reasons
            .into_iter()
            .map(|(tunnel, reason)| fdt_api::EvictReason { tunnel, reason })
            .collect(),
        replays: reply.replays.into_iter().map(replay_order).collect(),
        drain: reply.drain,
        move_agents: reply.move_agents,
        // Without a token the relay only cannot forward: it still serves its own tunnels.
        peer_token: st
            .agent_tokens()
            .peer_token(&hb.relay_id, &hb.region, st.clock().now())
            .inspect_err(|e| tracing::error!(error = %e, "relay identity token not issued"))
            .ok(),
    }))
}

/// How long a relay may reuse a placement answer. Short, because a tunnel that moves (its
/// agent reconnected elsewhere) is only found again once the answer expires or the relay it
/// names says it no longer holds the name.
pub const PLACEMENT_TTL_SECS: u64 = 5;

/// `GET /v1/relay/placement?subdomain=<label>` (http and tls names) or
/// `?region=<region>&port=<port>` (TCP addresses) → the healthy relays holding a live tunnel
/// on the name (on the boot they bound it in); 422 for a label or region that is not one, 400
/// for a query naming neither or both.
pub async fn placement(
    State(st): State<AppState>,
    _relay: RelayCaller,
    query: Result<Query<PlacementQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Placement>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::InvalidBody(e.body_text()))?;
    let key = match (&q.subdomain, &q.region, q.port) {
        (Some(sub), None, None) => {
            check_label("subdomain", sub)?;
            crate::store::name_key(TunnelProto::Http, Some(sub), "", None)
        }
        (None, Some(region), Some(port)) if port != 0 => {
            check_region(region)?;
            crate::store::name_key(TunnelProto::Tcp, None, region, Some(port))
        }
        _ => {
            return Err(ApiError::InvalidBody(
                "name either `subdomain`, or `region` and `port` (1-65535)".into(),
            ));
        }
    };
    let relays = st.store().placement(&key, st.healthy_cutoff()).await?;
    Ok(Json(Placement {
        relays,
        ttl_secs: PLACEMENT_TTL_SECS,
    }))
}

/// How far before a relay's cursor the placement feed reads again: a bind that started just
/// before another (its transaction slower, or its replica's clock behind) may commit after it.
const PLACEMENT_REREAD_MS: i64 = 2_000;

/// `GET /v1/relay/placement/changes?after=<cursor>&wait_secs=<n>` → the names bound since the
/// cursor (and those of the [`PLACEMENT_REREAD_MS`] before it again), waiting up to
/// `wait_secs` (at most 25) for a bind when there is none yet; `next` is the cursor to ask
/// with. Without `after`, at once: no names and the current cursor. Every replica's binds
/// wake the wait (the event hub is shared through PostgreSQL).
pub async fn placement_changes(
    State(st): State<AppState>,
    _relay: RelayCaller,
    query: Result<Query<PlacementChangesQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<PlacementChanges>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::InvalidBody(e.body_text()))?;
    let Some(after) = q.after else {
        let next = st.store().latest_bound_at().await?;
        return Ok(Json(PlacementChanges {
            names: Vec::new(),
            complete: true,
            next,
        }));
    };
    let wait = Duration::from_secs(
        q.wait_secs
            .unwrap_or(MAX_PLACEMENT_WAIT_SECS)
            .min(MAX_PLACEMENT_WAIT_SECS),
    );
    let deadline = tokio::time::Instant::now() + wait;
    // Subscribed before the first read: a bind between the read and the wait wakes it.
    let mut changes = st.events().subscribe();
    let read = || async {
        let limit = i64::try_from(MAX_PLACEMENT_CHANGES + 1).unwrap_or(i64::MAX);
        st.store()
            .bound_since(after.saturating_sub(PLACEMENT_REREAD_MS), limit)
            .await
    };
    let mut rows = read().await?;
    // Only a bind after the cursor answers early (or more rows than one answer lists: the
    // window alone may fill it); the window read again rides along.
    while rows.len() <= MAX_PLACEMENT_CHANGES && !rows.iter().any(|(_, at)| *at > after) {
        let change = tokio::select! {
            c = tokio::time::timeout_at(deadline, changes.recv()) => c,
            // The server is stopping: answer with what there is.
            () = st.events().closing() => break,
        };
        match change {
            Err(_) | Ok(Err(tokio::sync::broadcast::error::RecvError::Closed)) => break,
            Ok(Ok(c)) if c.topic != Topic::Tunnels => {}
            // A change to tunnels, or changes missed (lagged): read again.
            Ok(_) => rows = read().await?,
        }
    }
    let complete = rows.len() <= MAX_PLACEMENT_CHANGES;
    rows.truncate(MAX_PLACEMENT_CHANGES);
    let next = if complete {
        rows.iter().map(|(_, at)| *at).max().unwrap_or(after)
    } else {
        st.store().latest_bound_at().await?
    }
    .max(after);
    let mut names: Vec<PlacementQuery> = rows
        .iter()
        .filter_map(|(key, _)| placement_name(key))
        .collect();
    names.sort_by(|a, b| (&a.subdomain, &a.region, a.port).cmp(&(&b.subdomain, &b.region, b.port)));
    names.dedup();
    Ok(Json(PlacementChanges {
        names,
        complete,
        next,
    }))
}

/// A binding's name key as a placement question.
fn placement_name(key: &str) -> Option<PlacementQuery> {
    Some(match crate::store::NameKey::parse(key)? {
        crate::store::NameKey::Host(label) => PlacementQuery {
            subdomain: Some(label.to_owned()),
            ..Default::default()
        },
        crate::store::NameKey::Tcp { region, port } => PlacementQuery {
            region: Some(region.to_owned()),
            port: Some(port),
            ..Default::default()
        },
    })
}

/// A due replay as the relay reads it: the body in base64.
fn replay_order(r: PreparedReplay) -> ReplayOrder {
    ReplayOrder {
        job_id: r.job_id,
        tunnel_id: r.tunnel_id,
        method: r.method,
        path: r.path,
        headers: r.headers,
        body: r.body.map(|b| B64.encode(b)),
    }
}

/// `POST /v1/relay/bindings` → 200 with the tunnel ID; 409 `name_in_use` / `name_reserved`,
/// 403 `limit_exceeded` (with `limit`), 503 when the relay is not registered and healthy.
pub async fn bind(
    State(st): State<AppState>,
    _relay: RelayCaller,
    ApiJson(req): ApiJson<BindingRequest>,
) -> Result<Json<BindingGranted>, ApiError> {
    check_label("relay_id", &req.relay_id)?;
    check_agent_version(&req.agent_version)?;
    let granted = fleet::bind::bind(&st, &req).await?;
    Ok(Json(BindingGranted {
        tunnel_id: granted.tunnel_id,
        replaced: granted.replaced,
    }))
}

impl From<BindError> for ApiError {
    fn from(e: BindError) -> Self {
        match e {
            BindError::RelayUnavailable => Self::NoRelayAvailable,
            BindError::Malformed(m) => Self::InvalidBody(m.to_owned()),
            BindError::Invalid(v) => Self::Validation(v),
            BindError::UnknownAccount => Self::NotFound,
            BindError::Suspended => Self::AccountSuspended,
            BindError::NameInUse { shown } => Self::NameInUse(format!(
                "{shown} is online elsewhere; stop that tunnel first, or enable pooling on both"
            )),
            BindError::NameReserved { shown } => {
                Self::NameReserved(format!("{shown} is reserved by another account"))
            }
            e @ BindError::LimitExceeded { limit, .. } => Self::LimitExceeded {
                limit,
                message: e.to_string(),
            },
            BindError::Store(e) => e.into(),
        }
    }
}

impl From<HeartbeatError> for ApiError {
    fn from(e: HeartbeatError) -> Self {
        match e {
            HeartbeatError::Store(e) => e.into(),
            HeartbeatError::Replays(PrepareReplayError::Store(e)) => e.into(),
            HeartbeatError::Replays(PrepareReplayError::Body(e)) => {
                Self::internal("traffic log body store", &e)
            }
            HeartbeatError::Replays(e) => Self::internal("replay orders for a heartbeat", &e),
        }
    }
}

/// `GET /v1/relays` → every registered relay and whether it is healthy.
pub async fn list(
    State(st): State<AppState>,
    _who: Authenticated,
) -> Result<Json<RelayList>, ApiError> {
    let cutoff = st.healthy_cutoff();
    let relays = st.store().list_relays().await?;
    Ok(Json(RelayList {
        relays: relays
            .into_iter()
            .map(|r| RelayStatus {
                healthy: r.heard_since(cutoff) && !r.draining,
                id: r.id,
                region: r.region,
                agent_addr: r.agent_addr,
                version: r.version,
                draining: r.draining,
                capacity: r.capacity,
                weight: r.weight,
                load: r.load,
                last_seen_at: r.last_seen_at,
            })
            .collect(),
    }))
}
