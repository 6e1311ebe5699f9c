//! Which plan an account is entitled to: the best of its subscriptions that are not
//! canceled (trialing, active, past due), free without one; and moving an account to a plan,
//! which ends the tunnels a smaller plan no longer allows.

use super::events::SubStatus;
use crate::state::AppState;
use crate::store::StoreError;
use fdt_api::{AccountId, Plan, TunnelId};

/// The best plan among the account's subscriptions that entitle it; free without one.
pub async fn entitled_plan(st: &AppState, account: &AccountId) -> Result<Plan, StoreError> {
    let subs = st.store().subscriptions(account).await?;
    Ok(subs
        .iter()
        .filter(|s| s.status != SubStatus::Canceled.as_str())
        // A duplicate is being cancelled and refunded: the subscription it duplicates counts.
        .filter(|s| s.duplicate_of.is_none())
        .filter_map(|s| s.plan.parse::<Plan>().ok())
        .max_by_key(|p| p.rank())
        .unwrap_or(Plan::Free))
}

/// The reason an agent is given for a tunnel its plan no longer allows.
pub fn over_limit_reason(plan: Plan) -> String {
    format!(
        "the account's plan is now {plan}, which allows {} online tunnels: this one was stopped",
        plan.entitlements().online_tunnels
    )
}

/// Puts `account` on `plan`. Online tunnels beyond the plan's count end at once (the newest
/// first: the ones running longest stay), each with [`over_limit_reason`], which their
/// relays pass to the agents. Returns the tunnels ended.
pub async fn set_plan(
    st: &AppState,
    account: &AccountId,
    plan: Plan,
) -> Result<Vec<TunnelId>, StoreError> {
    st.store().set_account_plan(account, plan).await?;
    let ended = st
        .store()
        .evict_over_limit(
            account,
            plan.entitlements().online_tunnels,
            st.healthy_cutoff(),
            &over_limit_reason(plan),
            st.clock().now(),
        )
        .await?;
    if !ended.is_empty() {
        tracing::info!(account = %account, %plan, ended = ended.len(), "tunnels over the plan's limit stopped");
    }
    st.events().publish(account, crate::events::Topic::Tunnels);
    Ok(ended)
}
