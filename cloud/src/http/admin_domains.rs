//! `GET /v1/admin/domains`: every account's custom domains, for operators, with their
//! verification and certificate state and open incidents. Listed in `super::operators`.

use super::admin::{AdminCaller, query};
use crate::domains;
use crate::error::ApiError;
use crate::state::AppState;
use axum::Json;
use axum::extract::{Query, State};
use fdt_api::{AdminDomain, AdminDomainList, AdminDomainQuery};

/// Longest search string.
const MAX_Q_BYTES: usize = 253;

/// `GET /v1/admin/domains?q&limit` → domains whose name contains `q`, by name.
pub(super) async fn list(
    State(st): State<AppState>,
    _admin: AdminCaller,
    q: Result<Query<AdminDomainQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<AdminDomainList>, ApiError> {
    let q = query(q)?;
    if q.q.as_ref().is_some_and(|s| s.len() > MAX_Q_BYTES) {
        return Err(ApiError::InvalidBody(format!(
            "q is at most {MAX_Q_BYTES} bytes"
        )));
    }
    let limit = i64::from(q.limit.unwrap_or(100).clamp(1, 500));
    let rows = st.store().search_domains(q.q.as_deref(), limit).await?;
    let mut out = Vec::with_capacity(rows.len());
    for (d, open_incidents) in rows {
        let cert = st.store().latest_certificate(&d.id).await?;
        out.push(AdminDomain {
            account: d.account.clone(),
            open_incidents,
            domain: domains::to_api(d, cert.as_ref()),
        });
    }
    Ok(Json(AdminDomainList { domains: out }))
}
