//! Organisations, members and invitations (`/v1/orgs`, `/v1/members`, `/v1/invitations`),
//! and SCIM set-up (`/v1/scim/tokens`, `/v1/scim/settings`).

use crate::permissions::{Permission, RoleTemplate};
use crate::roles::Role;
use serde::{Deserialize, Serialize};

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
    pub role: Role,
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
    pub role: Role,
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
    pub role: Role,
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
