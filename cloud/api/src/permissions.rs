//! Permissions and the built-in role templates. Every `/v1` route a person calls names the
//! permission it needs in the control plane's route table; a caller's role grants a set of
//! them. Until organisations exist each account is the owner of its own resources, and
//! operators (admin accounts) also hold [`Permission::Operator`].

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
    pub const ALL: [Permission; 12] = [
        Self::AccountRead,
        Self::TunnelsRead,
        Self::TunnelsWrite,
        Self::AuthtokensRead,
        Self::AuthtokensWrite,
        Self::TrafficRead,
        Self::TrafficReplay,
        Self::BillingRead,
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
            Self::Billing => vec![P::AccountRead, P::BillingRead],
        }
    }
}

/// An organisation the caller belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct OrgMembership {
    /// The organisation.
    pub id: crate::ids::OrgId,
    /// Its name.
    pub name: String,
    /// The caller's role there, when it is a built-in template.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<RoleTemplate>,
    /// The caller's role's name there (`developer`, `custom:deployers`).
    pub role_name: String,
    /// What that role allows (nothing for a role this server does not know).
    pub permissions: Vec<Permission>,
}

/// A member of the organisation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Member {
    /// The member's account.
    pub account_id: crate::ids::AccountId,
    /// Its email.
    pub email: String,
    /// Its role, when it is a built-in template.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<RoleTemplate>,
    /// Its role's name (`developer`, `custom:deployers`).
    pub role_name: String,
}

/// `GET /v1/members`: the members of the organisation the call acts in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct MemberList {
    /// By email.
    pub members: Vec<Member>,
}

/// `POST /v1/invitations`: invite someone by email, with a role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateInvitation {
    /// Who (the address their account signs in with).
    pub email: String,
    /// The role they get on accepting (built-in, or `custom:<name>`).
    pub role: crate::roles::Role,
}

/// An invitation sent (its token went by email only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Invitation {
    /// The organisation.
    pub org_id: crate::ids::OrgId,
    /// Who.
    pub email: String,
    /// The role on accepting.
    pub role: crate::roles::Role,
    /// Until when it can be accepted.
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "schema", schemars(schema_with = "crate::schema::date_time"))]
    pub expires_at: time::OffsetDateTime,
}

/// `POST /v1/invitations/accept`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct AcceptInvitation {
    /// The token from the invitation email.
    pub token: String,
}

/// `PUT /v1/members/{id}/role`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct SetMemberRole {
    /// The new role (built-in, or `custom:<name>`).
    pub role: crate::roles::Role,
}

/// `POST /v1/scim/tokens`: a SCIM token for the organisation the call acts in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateScimToken {
    /// What to call it (the identity provider's name, say).
    pub name: String,
}

/// A SCIM token as listed (its secret is shown once, at creation).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ScimToken {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// The account that made it.
    pub created_by: String,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "schema", schemars(schema_with = "crate::schema::date_time"))]
    pub created_at: time::OffsetDateTime,
}

/// A new SCIM token, with its secret (`fdt_scim_…`), shown only here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct CreatedScimToken {
    /// The token.
    #[serde(flatten)]
    pub info: ScimToken,
    /// The bearer secret for `Authorization: Bearer …` at `/scim/v2`.
    pub token: String,
    /// The SCIM base URL to give the identity provider.
    pub scim_url: String,
}

/// `GET /v1/scim/tokens`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ScimTokenList {
    /// Newest first.
    pub tokens: Vec<ScimToken>,
}

/// `GET`/`PUT /v1/scim/settings`: the role of a provisioned member, by its groups.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct ScimSettings {
    /// The role of a member in no mapped group (never owner).
    pub default_role: RoleTemplate,
    /// Group displayName (case-insensitive) → role (never owner); a member in several
    /// mapped groups gets the strongest (admin, developer, billing, viewer).
    #[serde(default)]
    pub group_roles: std::collections::BTreeMap<String, RoleTemplate>,
}

/// `GET /v1/orgs`: the caller's organisations.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct OrgList {
    /// By name.
    pub orgs: Vec<OrgMembership>,
    /// The organisation this call acted in (`X-FDT-Org`, the console's choice, or the
    /// caller's own).
    pub acting: crate::ids::OrgId,
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
