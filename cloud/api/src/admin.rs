//! `/v1/admin/…`: operators' view — users (search, suspend, change plan), live tunnels (force
//! close), relays (drain), usage and the audit log. Only admin accounts may call these; every
//! action is written to the audit log.

use crate::ids::AccountId;
use crate::plans::Plan;
use crate::tunnels::TunnelInfo;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// An account as operators see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct AdminUser {
    /// Account ID.
    pub id: AccountId,
    /// Email.
    pub email: String,
    /// Plan.
    pub plan: Plan,
    /// Is an operator.
    pub admin: bool,
    /// Suspended (cannot log in, exchange authtokens or bind; its tunnels were closed).
    pub suspended: bool,
    /// Creation time.
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "schema", schemars(schema_with = "crate::schema::date_time"))]
    pub created_at: OffsetDateTime,
}

/// `GET /v1/admin/users?q=&limit=`: the query.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct AdminUserQuery {
    /// Email contains this (case-insensitive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub q: Option<String>,
    /// Page size (default 50, at most 500).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
}

/// `GET /v1/admin/users`: oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct AdminUserList {
    /// The accounts.
    pub users: Vec<AdminUser>,
}

/// `PUT /v1/admin/users/{id}/plan`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct SetPlanRequest {
    /// The new plan.
    pub plan: Plan,
}

/// `PUT /v1/admin/relays/{id}/drain`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct DrainRequest {
    /// True: send the relay no new agents (it keeps its current ones); false: undo.
    pub draining: bool,
}

/// A live tunnel with its account, for operators.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct AdminTunnel {
    /// The owner.
    pub account_id: AccountId,
    /// The tunnel.
    #[serde(flatten)]
    pub tunnel: TunnelInfo,
}

/// `GET /v1/admin/tunnels`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct AdminTunnelList {
    /// Live tunnels, oldest first.
    pub tunnels: Vec<AdminTunnel>,
}

/// One admin action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct AuditEntry {
    /// Sequence number (newest is highest).
    pub seq: i64,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "schema", schemars(schema_with = "crate::schema::date_time"))]
    pub at: OffsetDateTime,
    /// Who acted: an account ID, or `anonymous` (a failed sign-in).
    pub actor: String,
    /// The organisation (today: the account) whose chain the entry is also in; empty for
    /// operators' actions on the fleet.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub scope: String,
    /// What (`auth.login`, `auth.login_failed`, `authtoken.create`, `authtoken.revoke`,
    /// `device.approve`, `device.deny`, `user.suspend`, `user.unsuspend`, `user.plan`,
    /// `tunnel.close`, `relay.drain`, `audit.checkpoint`).
    pub action: String,
    /// On what (an account, tunnel or relay ID).
    pub target: String,
    /// Details (JSON).
    pub detail: serde_json::Value,
    /// The client's address, when known.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub ip: String,
    /// The client's user agent, when known.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub user_agent: String,
}

/// `GET /v1/admin/audit/verify`: whether the audit log's chains and checkpoints hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct AuditVerification {
    /// Every chain links and every checkpoint matches.
    pub ok: bool,
    /// Rows checked.
    pub rows: u64,
    /// The last row's `seq` (0 for an empty log).
    pub head_seq: i64,
    /// The last row's hash, hex.
    pub head_hash: String,
    /// The first broken row, when a chain is broken.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_broken: Option<AuditBreak>,
    /// Signed checkpoints checked against the log.
    pub checkpoints: u64,
    /// The first checkpoint the log does not match (a cut tail, or rewritten rows), in words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint_error: Option<String>,
}

/// Where and why a chain is broken.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct AuditBreak {
    /// The row's `seq` (its index in the log).
    pub seq: i64,
    /// `global`, or the scope whose chain breaks there.
    pub chain: String,
    /// Why, in words.
    pub reason: String,
}

/// `POST /v1/admin/audit/checkpoints`: a signed checkpoint of the log's head, to keep
/// elsewhere; `fdt-cloud audit verify --checkpoint` checks the log against it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct AuditCheckpoint {
    /// The head row's `seq`.
    pub seq: i64,
    /// Its hash, hex.
    pub hash: String,
    /// The same, signed by the control plane's key (an EdDSA JWT: claims `seq`, `hash`,
    /// `iat`, `sub` = `audit-checkpoint`); its public key is in `/v1/jwks`.
    pub token: String,
}

/// `GET /v1/admin/audit?before=&limit=`: newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct AuditList {
    /// The entries.
    pub entries: Vec<AuditEntry>,
}

/// `GET /v1/admin/audit`: the query.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// Entries with a lower `seq` only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<i64>,
    /// Page size (default 100, at most 1000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
}

/// How a secret stands against its maximum age.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum SecretHealth {
    /// Well within its maximum age.
    Green,
    /// Four fifths of its maximum age or more: rotate soon.
    Amber,
    /// Past its maximum age.
    Red,
}

/// One of the control plane's secrets, by a public fingerprint (never the secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct SecretAge {
    /// `access_token_key`, `agent_token_key` or `relay_secret`.
    pub kind: String,
    /// A key's `kid`, or `sha256:` and the start of a relay secret's digest.
    pub id: String,
    /// Whether it signs or is presented now (an agent key kept only to verify is not).
    pub current: bool,
    /// Whole days since it was created (keys) or first seen (relay secrets).
    pub age_days: u32,
    /// The configured maximum.
    pub max_age_days: u32,
    /// Green, amber or red.
    pub health: SecretHealth,
    /// How to rotate it.
    pub rotate_with: String,
}

/// `GET /v1/admin/secrets`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct SecretAgeList {
    /// The secrets, worst first.
    pub secrets: Vec<SecretAge>,
}
