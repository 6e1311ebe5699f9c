//! `/v1/relay/…`: what relays ask the control plane. Authenticated by a relay secret
//! (`Authorization: Bearer <secret>`), not by a login or an authtoken.

use crate::ids::AuthtokenId;
use serde::{Deserialize, Serialize};

/// `GET /v1/relay/revocations?after=<cursor>`: the query.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct RevocationsQuery {
    /// The `cursor` of the previous answer; 0 (or absent) for the whole feed.
    #[serde(default)]
    pub after: i64,
}

/// `GET /v1/relay/revocations`: authtokens revoked after the cursor, in revocation order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct RevocationList {
    /// IDs of the revoked authtokens; a relay closes the sessions opened with them.
    pub revoked: Vec<AuthtokenId>,
    /// Pass as `after` next time; equal to the request's when nothing new was revoked.
    pub cursor: i64,
}
