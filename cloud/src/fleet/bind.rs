//! Whether a relay may bind a name for an account: the relay must be registered, healthy and
//! on the boot it says; reservations, the names of tunnels that ended moments ago (the
//! reconnect grace) and live tunnels of others refuse the name; the plan limits how many
//! tunnels are online and how much traffic a month carries. A granted bind records the
//! tunnel online and tells the account's live pages.

use crate::events::Topic;
use crate::random::new_tunnel_id;
use crate::state::AppState;
use crate::store::{BindLimits, BindOutcome, NewBinding, ReservationKey, StoreError, name_key};
use fdt_api::validate::{ValidationError, check_label};
use fdt_api::{BindingRequest, Plan, TunnelId, TunnelProto};

/// A bind that was granted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Granted {
    /// The new tunnel.
    pub tunnel_id: TunnelId,
    /// Tunnels of the same agent this one took the name from (their relays close them).
    pub replaced: Vec<TunnelId>,
}

/// Why a bind was refused. The names (`shown`) read as the person knows them: the
/// subdomain, or `port N`.
#[derive(Debug, thiserror::Error)]
pub enum BindError {
    /// The relay is not registered, not healthy, or asks from another boot.
    #[error("relay is not registered and healthy")]
    RelayUnavailable,
    /// The request names neither a subdomain (http, tls) nor a port (tcp) as its protocol
    /// needs, or has a public URL out of bounds.
    #[error("{0}")]
    Malformed(&'static str),
    /// A field breaks a rule.
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// The account does not exist.
    #[error("no such account")]
    UnknownAccount,
    /// The account is suspended.
    #[error("account suspended")]
    Suspended,
    /// A live tunnel of someone else (or one without pooling) holds the name, or its owner's
    /// reconnect grace does.
    #[error("{shown} is in use")]
    NameInUse {
        /// The name.
        shown: String,
    },
    /// Another account reserved the name.
    #[error("{shown} is reserved")]
    NameReserved {
        /// The name.
        shown: String,
    },
    /// A plan limit was reached.
    #[error("plan limit {limit} ({value}) reached on the {plan} plan")]
    LimitExceeded {
        /// The limit's name.
        limit: &'static str,
        /// Its value on the plan.
        value: u64,
        /// The account's plan.
        plan: Plan,
    },
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Decides `req` from a relay (its secret already checked) and records the tunnel when
/// granted. Checks run in a fixed order — relay, request shape, account, then the name and
/// plan in one transaction — so a refused bind stores nothing.
pub async fn bind(st: &AppState, req: &BindingRequest) -> Result<Granted, BindError> {
    let Some((region, boot)) = st
        .store()
        .healthy_relay_boot(&req.relay_id, st.healthy_cutoff())
        .await?
    else {
        return Err(BindError::RelayUnavailable);
    };
    if boot != req.boot_id {
        return Err(BindError::RelayUnavailable);
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
            return Err(BindError::Malformed(
                "http and tls bindings name a subdomain, tcp bindings a port",
            ));
        }
    };
    if req
        .ha_group
        .as_deref()
        .is_some_and(|g| !fdt_api::validate::valid_ha_group(g))
        || req.ha_replica > 1
    {
        return Err(BindError::Malformed(
            "ha_group must be 8 to 32 ASCII letters and digits, ha_replica 0 or 1",
        ));
    }
    if req.public_url.is_empty() || req.public_url.len() > 512 {
        return Err(BindError::Malformed(
            "public_url must be 1 to 512 characters",
        ));
    }
    let plan = st
        .store()
        .account_plan(&req.account_id)
        .await?
        .ok_or(BindError::UnknownAccount)?;
    if st.store().is_suspended(&req.account_id).await? {
        return Err(BindError::Suspended);
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
                ha_group: req.ha_group.as_deref().map(|g| (g, req.ha_replica)),
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
            st.events().publish(&req.account_id, Topic::Tunnels);
            Ok(Granted {
                tunnel_id: id,
                replaced: replaced.into_iter().map(|(t, _)| t).collect(),
            })
        }
        BindOutcome::InUse => Err(BindError::NameInUse { shown }),
        BindOutcome::Reserved => Err(BindError::NameReserved { shown }),
        BindOutcome::LimitExceeded(limit, value) => {
            Err(BindError::LimitExceeded { limit, value, plan })
        }
    }
}
