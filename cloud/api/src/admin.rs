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
    /// The admin who acted.
    pub actor: AccountId,
    /// What (`user.suspend`, `user.unsuspend`, `user.plan`, `tunnel.close`, `relay.drain`).
    pub action: String,
    /// On what (an account, tunnel or relay ID).
    pub target: String,
    /// Details (JSON).
    pub detail: serde_json::Value,
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
