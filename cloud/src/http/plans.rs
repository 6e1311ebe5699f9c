//! `/v1/plans` (the catalogue), `/v1/plan` (the caller's plan and what of it is used) and
//! `/v1/usage` (traffic per day).

use super::extract::Authenticated;
use crate::error::ApiError;
use crate::state::AppState;
use axum::Json;
use axum::extract::{Query, State};
use fdt_api::validate::{format_day, parse_day};
use fdt_api::{AccountPlan, Plan, PlanInfo, PlanList, PlanUsage, UsageList, UsageQuery};

/// Longest range `GET /v1/usage` answers, in days.
pub const MAX_USAGE_DAYS: i64 = 400;

/// `GET /v1/plans` → every plan with its limits (public: the pricing page shows it).
pub async fn catalogue() -> Json<PlanList> {
    Json(PlanList {
        plans: Plan::ALL
            .into_iter()
            .map(|plan| PlanInfo {
                plan,
                entitlements: plan.entitlements(),
            })
            .collect(),
    })
}

/// `GET /v1/plan` → the caller's plan, its limits and current use.
pub async fn mine(
    State(st): State<AppState>,
    who: Authenticated,
) -> Result<Json<AccountPlan>, ApiError> {
    let plan = st
        .store()
        .account_plan(&who.account_id)
        .await?
        .ok_or(ApiError::Unauthorized("account no longer exists"))?;
    let today = st.clock().now().date();
    let month_start = format_day(today.replace_day(1).unwrap_or(today));
    let online = st
        .store()
        .list_tunnels(&who.account_id, st.healthy_cutoff())
        .await?
        .len();
    let counts = st.store().reservation_counts(&who.account_id).await?;
    let bytes = st
        .store()
        .bytes_since(&who.account_id, &month_start)
        .await?;
    Ok(Json(AccountPlan {
        plan,
        entitlements: plan.entitlements(),
        in_use: PlanUsage {
            online_tunnels: u32::try_from(online).unwrap_or(u32::MAX),
            reserved_subdomains: counts.subdomains,
            tcp_addresses: counts.tcp_addresses,
            bandwidth_bytes_this_month: bytes,
        },
    }))
}

/// `GET /v1/usage?from=&to=` → traffic per day (default: the last 30 days); 422 for a
/// malformed day or a range over [`MAX_USAGE_DAYS`].
pub async fn usage(
    State(st): State<AppState>,
    who: Authenticated,
    query: Result<Query<UsageQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<UsageList>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::InvalidBody(e.body_text()))?;
    let today = st.clock().now().date();
    let to = match &q.to {
        Some(d) => parse_day("to", d)?,
        None => today,
    };
    let from = match &q.from {
        Some(d) => parse_day("from", d)?,
        None => to - time::Duration::days(29),
    };
    if from > to || (to - from).whole_days() >= MAX_USAGE_DAYS {
        return Err(ApiError::InvalidBody(format!(
            "from must not be after to, and the range at most {MAX_USAGE_DAYS} days"
        )));
    }
    let days = st
        .store()
        .usage_days(&who.account_id, &format_day(from), &format_day(to))
        .await?;
    Ok(Json(UsageList { days }))
}
