//! OpenID Connect single sign-on, per organisation: `PUT`/`GET`/`DELETE /v1/sso`.

use crate::permissions::RoleTemplate;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `PUT /v1/sso`: the organisation's identity provider.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct SsoConfigRequest {
    /// The issuer (`https://idp.example.com`); its `/.well-known/openid-configuration` is read.
    pub issuer: String,
    /// The client id registered there for this organisation.
    pub client_id: String,
    /// The client secret, for a confidential client (absent: a public client, PKCE only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    /// Email domains that may sign in (`corp.example`); at least one.
    pub allowed_domains: Vec<String>,
    /// The id_token claim holding group names (default `groups`).
    #[serde(default = "default_groups_claim")]
    pub groups_claim: String,
    /// Group name (case-insensitive) → role (never owner); the strongest one wins.
    #[serde(default)]
    pub group_roles: BTreeMap<String, RoleTemplate>,
    /// The role of someone in no mapped group (never owner).
    pub default_role: RoleTemplate,
}

fn default_groups_claim() -> String {
    "groups".into()
}

/// `GET /v1/sso`: the provider as set (the secret is never shown).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct SsoConfig {
    /// The issuer.
    pub issuer: String,
    /// The client id.
    pub client_id: String,
    /// Whether a client secret is set.
    pub has_client_secret: bool,
    /// Email domains that may sign in.
    pub allowed_domains: Vec<String>,
    /// The group claim.
    pub groups_claim: String,
    /// Group name → role.
    pub group_roles: BTreeMap<String, RoleTemplate>,
    /// The role of someone in no mapped group.
    pub default_role: RoleTemplate,
    /// Where members start signing in (`…/sso/start?org=org_…`).
    pub login_url: String,
    /// The redirect URI to register at the provider.
    pub redirect_uri: String,
}
