//! Permissions and the built-in role templates. Every `/v1` route a person calls names the
//! permission it needs in the control plane's route table; a caller's role grants a set of
//! them in its organisation (organisations also make roles of their own: [`crate::roles`]).
//! Operators (admin accounts) also hold [`Permission::Operator`], which no role grants.

use serde::{Deserialize, Serialize};

/// One thing a caller may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub enum Permission {
    /// See the account (or organisation) itself and its live events.
    #[serde(rename = "account:read")]
    AccountRead,
    /// See tunnels, reserved names, managed tunnel definitions and relays.
    #[serde(rename = "tunnels:read")]
    TunnelsRead,
    /// Start, stop, define, reserve and release them.
    #[serde(rename = "tunnels:write")]
    TunnelsWrite,
    /// See authtokens.
    #[serde(rename = "authtokens:read")]
    AuthtokensRead,
    /// Create and revoke authtokens, and approve device sign-ins (which create one).
    #[serde(rename = "authtokens:write")]
    AuthtokensWrite,
    /// Read the traffic log.
    #[serde(rename = "traffic:read")]
    TrafficRead,
    /// Replay logged requests to the agent.
    #[serde(rename = "traffic:replay")]
    TrafficReplay,
    /// See the plan, limits and usage.
    #[serde(rename = "billing:read")]
    BillingRead,
    /// Change the plan: start a checkout, cancel a subscription, open the provider's portal.
    #[serde(rename = "billing:write")]
    BillingWrite,
    /// See the organisation's members.
    #[serde(rename = "members:read")]
    MembersRead,
    /// Invite, remove and change the roles of members.
    #[serde(rename = "members:write")]
    MembersWrite,
    /// Manage how people arrive: SCIM tokens and group-to-role mappings, single sign-on.
    #[serde(rename = "identity:write")]
    IdentityWrite,
    /// Operate the service: every account, tunnel and relay, and the audit log.
    #[serde(rename = "operator")]
    Operator,
}

impl Permission {
    /// Every permission.
    pub const ALL: [Permission; 13] = [
        Self::AccountRead,
        Self::TunnelsRead,
        Self::TunnelsWrite,
        Self::AuthtokensRead,
        Self::AuthtokensWrite,
        Self::TrafficRead,
        Self::TrafficReplay,
        Self::BillingRead,
        Self::BillingWrite,
        Self::MembersRead,
        Self::MembersWrite,
        Self::IdentityWrite,
        Self::Operator,
    ];

    /// The name as sent (`tunnels:write`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AccountRead => "account:read",
            Self::TunnelsRead => "tunnels:read",
            Self::TunnelsWrite => "tunnels:write",
            Self::AuthtokensRead => "authtokens:read",
            Self::AuthtokensWrite => "authtokens:write",
            Self::TrafficRead => "traffic:read",
            Self::TrafficReplay => "traffic:replay",
            Self::BillingRead => "billing:read",
            Self::BillingWrite => "billing:write",
            Self::MembersRead => "members:read",
            Self::MembersWrite => "members:write",
            Self::IdentityWrite => "identity:write",
            Self::Operator => "operator",
        }
    }

    /// Whether it only lets a caller look (`…:read`).
    pub fn is_read(self) -> bool {
        self.as_str().ends_with(":read")
    }
}

/// A built-in role template.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum RoleTemplate {
    /// Everything in the organisation.
    Owner,
    /// Everything in the organisation (members and roles too, once those exist).
    Admin,
    /// Tunnels, authtokens and the traffic log.
    Developer,
    /// Reads everything, changes nothing.
    Viewer,
    /// The plan, invoices and usage.
    Billing,
}

impl RoleTemplate {
    /// Every built-in template.
    pub const ALL: [RoleTemplate; 5] = [
        Self::Owner,
        Self::Admin,
        Self::Developer,
        Self::Viewer,
        Self::Billing,
    ];

    /// What it grants. [`Permission::Operator`] is never granted by a role: it belongs to
    /// the service's own operators.
    pub fn permissions(self) -> Vec<Permission> {
        use Permission as P;
        let org = P::ALL.into_iter().filter(|p| *p != P::Operator);
        match self {
            Self::Owner | Self::Admin => org.collect(),
            Self::Developer => vec![
                P::AccountRead,
                P::TunnelsRead,
                P::TunnelsWrite,
                P::AuthtokensRead,
                P::AuthtokensWrite,
                P::TrafficRead,
                P::TrafficReplay,
            ],
            Self::Viewer => org.filter(|p| p.is_read()).collect(),
            Self::Billing => vec![P::AccountRead, P::BillingRead, P::BillingWrite],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_the_wire_and_templates_grant_what_they_say() {
        for p in Permission::ALL {
            assert_eq!(
                serde_json::to_string(&p).unwrap_or_default(),
                format!("\"{}\"", p.as_str())
            );
        }
        for t in RoleTemplate::ALL {
            assert!(!t.permissions().contains(&Permission::Operator), "{t:?}");
            assert!(t.permissions().contains(&Permission::AccountRead), "{t:?}");
        }
        assert!(
            RoleTemplate::Viewer
                .permissions()
                .iter()
                .all(|p| p.is_read())
        );
        assert!(
            !RoleTemplate::Developer
                .permissions()
                .contains(&Permission::BillingRead)
        );
        assert!(
            !RoleTemplate::Billing
                .permissions()
                .contains(&Permission::TunnelsRead)
        );
        assert_eq!(
            RoleTemplate::Owner.permissions().len(),
            Permission::ALL.len() - 1
        );
    }
}
