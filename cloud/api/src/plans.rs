//! Plans, their entitlements, and usage: `GET /v1/plans`, `GET /v1/plan`, `GET /v1/usage`.
//!
//! The limits are modelled on ngrok's tiers: a free plan good for trying things out, a paid
//! plan for one developer, a team plan. They live here, in code shared by the server, the agent
//! and the UI, so the console shows exactly what the server enforces.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

const GIB: u64 = 1 << 30;

/// A plan an account can be on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum Plan {
    /// Free: a few tunnels, one reserved subdomain, no TCP addresses.
    Free,
    /// One developer.
    Pro,
    /// A team.
    Team,
}

impl Plan {
    /// Every plan, cheapest first.
    pub const ALL: [Plan; 3] = [Plan::Free, Plan::Pro, Plan::Team];

    /// Its place in [`Plan::ALL`]: a higher plan has a higher rank (upgrades go up).
    pub fn rank(self) -> usize {
        match self {
            Plan::Free => 0,
            Plan::Pro => 1,
            Plan::Team => 2,
        }
    }

    /// The name as stored and sent (`free`, `pro`, `team`).
    pub fn as_str(self) -> &'static str {
        match self {
            Plan::Free => "free",
            Plan::Pro => "pro",
            Plan::Team => "team",
        }
    }

    /// What the plan allows.
    pub fn entitlements(self) -> Entitlements {
        match self {
            Plan::Free => Entitlements {
                online_tunnels: 3,
                reserved_subdomains: 1,
                tcp_addresses: 0,
                custom_domains: 0,
                requests_per_minute: 4_000,
                bandwidth_bytes_per_month: GIB,
                inspection_retention_days: 1,
                log_bodies: false,
                browser_warning: true,
            },
            Plan::Pro => Entitlements {
                online_tunnels: 20,
                reserved_subdomains: 10,
                tcp_addresses: 2,
                custom_domains: 5,
                requests_per_minute: 20_000,
                bandwidth_bytes_per_month: 100 * GIB,
                inspection_retention_days: 7,
                log_bodies: true,
                browser_warning: false,
            },
            Plan::Team => Entitlements {
                online_tunnels: 200,
                reserved_subdomains: 100,
                tcp_addresses: 20,
                custom_domains: 50,
                requests_per_minute: 100_000,
                bandwidth_bytes_per_month: 1024 * GIB,
                inspection_retention_days: 30,
                log_bodies: true,
                browser_warning: false,
            },
        }
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A plan name that is not one of [`Plan::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown plan {0:?} (expected free, pro or team)")]
pub struct UnknownPlan(pub String);

impl FromStr for Plan {
    type Err = UnknownPlan;

    fn from_str(s: &str) -> Result<Self, UnknownPlan> {
        Plan::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| UnknownPlan(s.to_owned()))
    }
}

/// The limits of a plan. Each field's name is the `limit` an error names when it is hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Entitlements {
    /// Tunnels online at once, across all agents and relays (each pooled member counts).
    pub online_tunnels: u32,
    /// Subdomains reserved.
    pub reserved_subdomains: u32,
    /// TCP addresses reserved.
    pub tcp_addresses: u32,
    /// Custom domains.
    pub custom_domains: u32,
    /// HTTP requests per minute per tunnel, enforced at the relay.
    pub requests_per_minute: u32,
    /// Bytes through tunnels per calendar month (UTC), both directions.
    pub bandwidth_bytes_per_month: u64,
    /// Days the traffic log is kept.
    pub inspection_retention_days: u32,
    /// Request and response bodies may be kept in the cloud traffic log (for tunnels that
    /// opt in).
    pub log_bodies: bool,
    /// Browsers see a warning page ("served through FDT by a free account") before a
    /// tunnel's site, once per visitor and host; the relay enforces it (the token's `warn`).
    #[serde(default)]
    pub browser_warning: bool,
}

/// Names of the limits, as errors report them.
pub mod limit {
    /// [`super::Entitlements::online_tunnels`].
    pub const ONLINE_TUNNELS: &str = "online_tunnels";
    /// [`super::Entitlements::reserved_subdomains`].
    pub const RESERVED_SUBDOMAINS: &str = "reserved_subdomains";
    /// [`super::Entitlements::tcp_addresses`].
    pub const TCP_ADDRESSES: &str = "tcp_addresses";
    /// [`super::Entitlements::custom_domains`].
    pub const CUSTOM_DOMAINS: &str = "custom_domains";
    /// [`super::Entitlements::bandwidth_bytes_per_month`].
    pub const BANDWIDTH: &str = "bandwidth";
}

/// One plan of the catalogue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct PlanInfo {
    /// The plan.
    pub plan: Plan,
    /// What it allows.
    pub entitlements: Entitlements,
}

/// `GET /v1/plans`: every plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct PlanList {
    /// Cheapest first.
    pub plans: Vec<PlanInfo>,
}

/// `GET /v1/plan`: the caller's plan and how much of it is in use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct AccountPlan {
    /// The plan.
    pub plan: Plan,
    /// Its limits.
    pub entitlements: Entitlements,
    /// Current use of each limit.
    pub in_use: PlanUsage,
}

/// How much of each limit is used now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct PlanUsage {
    /// Tunnels online now.
    pub online_tunnels: u32,
    /// Subdomains reserved.
    pub reserved_subdomains: u32,
    /// TCP addresses reserved.
    pub tcp_addresses: u32,
    /// Bytes this calendar month (UTC), both directions.
    pub bandwidth_bytes_this_month: u64,
}

/// `GET /v1/usage?from=YYYY-MM-DD&to=YYYY-MM-DD`: the query (both days included; default the
/// last 30 days).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct UsageQuery {
    /// First day (UTC), `YYYY-MM-DD`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// Last day (UTC), `YYYY-MM-DD`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
}

/// Traffic of one account on one UTC day.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct UsageDay {
    /// The day, `YYYY-MM-DD`.
    pub day: String,
    /// HTTP requests.
    pub requests: u64,
    /// Bytes from visitors to the agent.
    pub bytes_in: u64,
    /// Bytes from the agent to visitors.
    pub bytes_out: u64,
    /// TCP and TLS connections (and HTTP connections) accepted.
    pub connections: u64,
}

/// `GET /v1/usage`: days with traffic, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct UsageList {
    /// The days.
    pub days: Vec<UsageDay>,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn plans_round_trip_and_grow() {
        for (i, p) in Plan::ALL.into_iter().enumerate() {
            assert_eq!(p.as_str().parse::<Plan>().unwrap(), p);
            assert_eq!(p.rank(), i, "rank is the place in ALL");
        }
        assert!("gold".parse::<Plan>().is_err());
        // Each plan allows at least what the cheaper one does.
        for w in Plan::ALL.windows(2) {
            let (a, b) = (w[0].entitlements(), w[1].entitlements());
            assert!(a.online_tunnels < b.online_tunnels);
            assert!(a.reserved_subdomains < b.reserved_subdomains);
            assert!(a.tcp_addresses < b.tcp_addresses);
            assert!(a.bandwidth_bytes_per_month < b.bandwidth_bytes_per_month);
        }
        // Only the free plan shows browsers the warning page.
        for p in Plan::ALL {
            assert_eq!(p.entitlements().browser_warning, p == Plan::Free, "{p}");
        }
    }
}
