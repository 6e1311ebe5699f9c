//! Reserving a name for an account: a subdomain (any region), or a TCP address (a port of
//! `fleet.reserved_tcp_ports` in a region, picked here). A reserved name is refused to every
//! other account's binds, online or not; the plan limits how many each account holds.

use crate::random::new_reserved_name_id;
use crate::state::AppState;
use crate::store::{ReserveOutcome, ReservedRecord, StoreError};
use fdt_api::plans::limit;
use fdt_api::validate::{ValidationError, check_label, check_region};
use fdt_api::{AccountId, Plan, ReservedKind};

/// The name asked for.
#[derive(Debug, Clone, Copy)]
pub struct Wanted<'a> {
    /// Subdomain or TCP address.
    pub kind: ReservedKind,
    /// The subdomain (subdomain reservations only).
    pub subdomain: Option<&'a str>,
    /// The region (TCP address reservations only).
    pub region: Option<&'a str>,
    /// The owner's note, already trimmed and checked.
    pub description: Option<&'a str>,
}

/// Why a name was not reserved.
#[derive(Debug, thiserror::Error)]
pub enum ReserveError {
    /// The kind and the fields given do not match.
    #[error("{0}")]
    Malformed(&'static str),
    /// A field breaks a rule.
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// The account no longer exists.
    #[error("account no longer exists")]
    AccountGone,
    /// The account holds as many reservations of this kind as its plan allows.
    #[error("plan limit {limit} ({max}) reached on the {plan} plan")]
    LimitReached {
        /// The limit's name.
        limit: &'static str,
        /// Its value on the plan.
        max: u32,
        /// The account's plan.
        plan: Plan,
    },
    /// Another account reserved the name, or has it online.
    #[error("that name is reserved or online under another account")]
    Taken,
    /// No port of the reservable range is free in the region.
    #[error("no TCP port is free to reserve in that region")]
    Exhausted,
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Reserves `wanted` for `account` within its plan.
pub async fn reserve(
    st: &AppState,
    account: &AccountId,
    wanted: Wanted<'_>,
) -> Result<ReservedRecord, ReserveError> {
    let plan = st
        .store()
        .account_plan(account)
        .await?
        .ok_or(ReserveError::AccountGone)?;
    let ent = plan.entitlements();
    let id = new_reserved_name_id();
    let now = st.clock().now();
    let (outcome, limit_name, max) = match wanted.kind {
        ReservedKind::Subdomain => {
            let (Some(sub), None) = (wanted.subdomain, wanted.region) else {
                return Err(ReserveError::Malformed(
                    "a subdomain reservation names `subdomain` (and no `region`)",
                ));
            };
            let sub = sub.to_ascii_lowercase();
            check_label("subdomain", &sub)?;
            let o = st
                .store()
                .reserve_subdomain(
                    &id,
                    account,
                    &sub,
                    wanted.description,
                    ent.reserved_subdomains,
                    now,
                )
                .await?;
            (o, limit::RESERVED_SUBDOMAINS, ent.reserved_subdomains)
        }
        ReservedKind::TcpAddress => {
            let (None, Some(region)) = (wanted.subdomain, wanted.region) else {
                return Err(ReserveError::Malformed(
                    "a tcp_address reservation names `region` (and no `subdomain`)",
                ));
            };
            check_region(region)?;
            let o = st
                .store()
                .reserve_tcp_address(
                    &id,
                    account,
                    region,
                    st.fleet().reserved_tcp_ports,
                    wanted.description,
                    ent.tcp_addresses,
                    now,
                )
                .await?;
            (o, limit::TCP_ADDRESSES, ent.tcp_addresses)
        }
    };
    match outcome {
        ReserveOutcome::Reserved(r) => {
            tracing::info!(account = %account, reservation = %r.id, "name reserved");
            Ok(r)
        }
        ReserveOutcome::LimitReached => Err(ReserveError::LimitReached {
            limit: limit_name,
            max,
            plan,
        }),
        ReserveOutcome::Taken => Err(ReserveError::Taken),
        ReserveOutcome::Exhausted => Err(ReserveError::Exhausted),
    }
}
