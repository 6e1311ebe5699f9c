//! `GET /metrics`: the process's Prometheus metrics ([`crate::metrics`]), for the bearer of
//! `[metrics] token`, or any loopback peer with `loopback_without_token` (`fdt-cloud dev`).

use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::{ConnectInfo, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::net::SocketAddr;

/// Prometheus' text exposition format.
const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// `GET /metrics` → 200 with the text, 401 without the token.
pub(super) async fn serve(State(st): State<AppState>, parts: Parts) -> Result<Response, ApiError> {
    if !allowed(&st, &parts) {
        tracing::warn!("metrics scrape refused: no or wrong metrics token");
        return Err(ApiError::Unauthorized("metrics need the metrics token"));
    }
    let Some(handle) = crate::metrics::handle() else {
        return Ok((
            StatusCode::SERVICE_UNAVAILABLE,
            "another metrics recorder is installed in this process",
        )
            .into_response());
    };
    let (in_use, idle, max) = st.store().pool_connections();
    crate::metrics::db_pool(in_use, idle, max);
    // The gauges read from the database: when it fails, the rest is still served (and the
    // database's trouble shows in the pool gauges and the 5xx of other routes).
    match st.store().list_relays().await {
        Ok(relays) => crate::metrics::relays(&relays, st.healthy_cutoff(), st.clock().now()),
        Err(e) => tracing::warn!(error = %e, "metrics: relays not read"),
    }
    match st.store().replay_job_counts().await {
        Ok(counts) => crate::metrics::replay_jobs(&counts),
        Err(e) => tracing::warn!(error = %e, "metrics: replay jobs not read"),
    }
    match st.store().open_domain_incident_counts().await {
        Ok(counts) => crate::metrics::domain_incidents(&counts),
        Err(e) => tracing::warn!(error = %e, "metrics: domain incidents not read"),
    }
    Ok(([(header::CONTENT_TYPE, CONTENT_TYPE)], handle.render()).into_response())
}

/// The metrics token presented (compared as digests, in constant time), or a loopback TCP
/// peer when that is allowed.
fn allowed(st: &AppState, parts: &Parts) -> bool {
    let cfg = st.metrics();
    let loopback = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .is_some_and(|ConnectInfo(a)| a.ip().is_loopback());
    if cfg.loopback_without_token && loopback {
        return true;
    }
    let Some(token) = &cfg.token else {
        return false;
    };
    let presented = super::extract::bearer_token(parts).unwrap_or_default();
    let want = crate::random::secret_hash(token.expose());
    let got = crate::random::secret_hash(presented);
    want.iter().zip(&got).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0 && want.len() == got.len()
}
