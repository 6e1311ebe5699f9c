//! `/v1/relay/…`: the control plane's side of its relays, authenticated by a relay secret.
//!
//! - `GET /v1/relay/revocations` — the feed relays poll to close the live sessions of revoked
//!   authtokens within seconds;
//! - `POST /v1/relay/heartbeat` — registration, health, load, ended tunnels and usage;
//! - `POST /v1/relay/bindings` — a relay asks before binding a name: reservations, plan limits
//!   and live bindings on other relays are checked, and the tunnel is recorded online.
//!
//! And for people: `GET /v1/relays`, the fleet with its health.

use super::extract::{ApiJson, Authenticated};
use crate::error::ApiError;
use crate::random::new_tunnel_id;
use crate::state::AppState;
use crate::store::{BindLimits, BindOutcome, NewBinding, ReservationKey, name_key};
use axum::Json;
use axum::extract::{FromRequestParts, Query, State};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use fdt_api::relays::MAX_HEARTBEAT_ITEMS;
use fdt_api::validate::{check_agent_version, check_label, check_region, parse_day};
use fdt_api::{
    BindingGranted, BindingRequest, RelayHeartbeat, RelayHeartbeatAck, RelayList, RelayStatus,
    RevocationList, RevocationsQuery, TunnelProto,
};

/// Most revocations one answer holds; a relay that gets this many asks again at once.
pub const MAX_REVOCATIONS_PER_PAGE: i64 = 1_000;

/// A caller that presented one of the configured relay secrets.
#[derive(Debug, Clone, Copy)]
pub struct RelayCaller;

impl FromRequestParts<AppState> for RelayCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, st: &AppState) -> Result<Self, ApiError> {
        let presented = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim())
            .ok_or(ApiError::Unauthorized("missing bearer relay secret"))?;
        if st.is_relay_secret(presented) {
            Ok(Self)
        } else {
            tracing::warn!(path = %parts.uri.path(), "relay call refused: wrong relay secret");
            Err(ApiError::Unauthorized("not a relay secret"))
        }
    }
}

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
    let outcome = st.store().apply_heartbeat(&hb, st.clock().now()).await?;
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
    let replays = super::traffic::replay_orders(&st, &hb.relay_id).await?;
    let drain = st.store().drain_requested(&hb.relay_id).await?;
    if outcome.restarted {
        tracing::info!(relay = %hb.relay_id, region = %hb.region, "relay restarted: its earlier tunnels are offline");
    }
    if !outcome.applied {
        tracing::debug!(relay = %hb.relay_id, seq = hb.seq, "repeated heartbeat ignored");
    }
    Ok(Json(RelayHeartbeatAck {
        interval_secs: st.fleet().heartbeat_secs,
        evict: outcome.evict,
        replays,
        drain,
    }))
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
    let Some((region, boot)) = st
        .store()
        .healthy_relay_boot(&req.relay_id, st.healthy_cutoff())
        .await?
    else {
        return Err(ApiError::NoRelayAvailable);
    };
    if boot != req.boot_id {
        return Err(ApiError::NoRelayAvailable);
    }
    let reservation = match (req.proto, &req.subdomain, req.port) {
        (TunnelProto::Http | TunnelProto::Tls, Some(s), None) => {
            check_label("subdomain", s)?;
            ReservationKey::Subdomain(s)
        }
        (TunnelProto::Tcp, None, Some(port)) => ReservationKey::TcpAddress {
            region: &region,
            port,
        },
        _ => {
            return Err(ApiError::InvalidBody(
                "http and tls bindings name a subdomain, tcp bindings a port".into(),
            ));
        }
    };
    if req.public_url.is_empty() || req.public_url.len() > 512 {
        return Err(ApiError::InvalidBody(
            "public_url must be 1 to 512 characters".into(),
        ));
    }
    let plan = st
        .store()
        .account_plan(&req.account_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    if st.store().is_suspended(&req.account_id).await? {
        return Err(ApiError::AccountSuspended);
    }
    let now = st.clock().now();
    let key = name_key(req.proto, req.subdomain.as_deref(), &region, req.port);
    let id = new_tunnel_id();
    let limits = BindLimits {
        entitlements: plan.entitlements(),
        healthy_cutoff: st.healthy_cutoff(),
        month_start: fdt_api::validate::format_day(now.date().replace_day(1).unwrap_or(now.date())),
        grace_cutoff: now
            - time::Duration::seconds(
                i64::try_from(st.fleet().name_grace_secs).unwrap_or(i64::MAX),
            ),
    };
    let outcome = st
        .store()
        .claim_binding(
            &NewBinding {
                id: &id,
                name_key: &key,
                reservation,
                account_id: &req.account_id,
                authtoken_id: req.authtoken_id.as_ref(),
                relay_id: &req.relay_id,
                boot_id: &req.boot_id,
                proto: req.proto,
                public_url: &req.public_url,
                pooling: req.pooling,
                agent_version: &req.agent_version,
            },
            &limits,
            now,
        )
        .await?;
    let shown = req
        .subdomain
        .clone()
        .unwrap_or_else(|| format!("port {}", req.port.unwrap_or_default()));
    match outcome {
        BindOutcome::Granted { replaced } => {
            tracing::info!(account = %req.account_id, tunnel = %id, relay = %req.relay_id, name = %shown, replaced = replaced.len(), "tunnel online");
            st.events()
                .publish(&req.account_id, crate::events::Topic::Tunnels);
            Ok(Json(BindingGranted {
                tunnel_id: id,
                replaced: replaced.into_iter().map(|(t, _)| t).collect(),
            }))
        }
        BindOutcome::InUse => Err(ApiError::NameInUse(format!(
            "{shown} is online elsewhere; stop that tunnel first, or enable pooling on both"
        ))),
        BindOutcome::Reserved => Err(ApiError::NameReserved(format!(
            "{shown} is reserved by another account"
        ))),
        BindOutcome::LimitExceeded(limit, value) => Err(ApiError::LimitExceeded {
            limit,
            message: format!("plan limit {limit} ({value}) reached on the {plan} plan"),
        }),
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
