//! Which plan an account is entitled to: the best of its subscriptions that are not
//! canceled (trialing, active, past due), free without one.

use super::events::SubStatus;
use crate::state::AppState;
use crate::store::StoreError;
use fdt_api::{AccountId, Plan};

/// The best plan among the account's subscriptions that entitle it; free without one.
pub async fn entitled_plan(st: &AppState, account: &AccountId) -> Result<Plan, StoreError> {
    let subs = st.store().subscriptions(account).await?;
    let rank = |p: Plan| Plan::ALL.iter().position(|x| *x == p).unwrap_or(0);
    Ok(subs
        .iter()
        .filter(|s| s.status != SubStatus::Canceled.as_str())
        .filter_map(|s| s.plan.parse::<Plan>().ok())
        .max_by_key(|p| rank(*p))
        .unwrap_or(Plan::Free))
}
