//! `/v1/relay/…`: what relays ask the control plane. Authenticated by a relay secret
//! (`Authorization: Bearer <secret>`), not by a login or an authtoken.

use crate::ids::{AccountId, AuthtokenId, TunnelId};
use crate::tunnels::TunnelProto;
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

/// Most entries of each list in one heartbeat; a relay with more sends the rest next time.
pub const MAX_HEARTBEAT_ITEMS: usize = 2_000;

/// Largest heartbeat body the cloud accepts, in bytes.
pub const MAX_HEARTBEAT_BYTES: usize = 1 << 20;

/// `POST /v1/relay/heartbeat`: a relay registers (first heartbeat of a boot) and reports its
/// state, ended tunnels and traffic since the last heartbeat the cloud acknowledged.
///
/// `(boot_id, seq)` makes reports exactly-once: the cloud applies a heartbeat only if its `seq`
/// is above the last one applied for that boot, so a retried heartbeat (answer lost) counts
/// nothing twice. A new `boot_id` means the relay restarted: its earlier tunnels are gone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct RelayHeartbeat {
    /// Relay ID (`a-z 0-9 -`, at most 63), unique in the fleet.
    pub relay_id: String,
    /// Random per process start.
    pub boot_id: String,
    /// 1, 2, 3, … within one boot.
    pub seq: u64,
    /// Region served (`eu`, `us`, …).
    pub region: String,
    /// QUIC address agents dial, `host:port`.
    pub agent_addr: String,
    /// Name the relay's certificate is checked against.
    pub server_name: String,
    /// Relay software version.
    pub version: String,
    /// Agent sessions it takes at most.
    pub capacity: u32,
    /// Relative share of new agents (1–1000) among relays of a region.
    pub weight: u32,
    /// Draining: send it no new agents.
    pub draining: bool,
    /// Load now.
    pub load: RelayLoad,
    /// Tunnels that ended since the last acknowledged heartbeat.
    #[serde(default)]
    pub ended: Vec<TunnelId>,
    /// Traffic since the last acknowledged heartbeat, per account and UTC day.
    #[serde(default)]
    pub usage: Vec<UsageReport>,
    /// Replays run since the last acknowledged heartbeat.
    #[serde(default)]
    pub replay_results: Vec<crate::traffic::ReplayOutcome>,
}

/// A relay's load.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct RelayLoad {
    /// Agent sessions.
    pub sessions: u32,
    /// Tunnels bound.
    pub tunnels: u32,
    /// Visitor connections open.
    pub connections: u32,
}

/// Traffic of one account on one UTC day, as counted by one relay since its last report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct UsageReport {
    /// The account.
    pub account_id: AccountId,
    /// The day, `YYYY-MM-DD`.
    pub day: String,
    /// HTTP requests.
    pub requests: u64,
    /// Bytes from visitors.
    pub bytes_in: u64,
    /// Bytes to visitors.
    pub bytes_out: u64,
    /// Visitor connections accepted.
    pub connections: u64,
}

/// Why the cloud ends a tunnel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct EvictReason {
    /// The tunnel.
    pub tunnel: TunnelId,
    /// What the agent is told (at most 200 bytes).
    pub reason: String,
}

/// The answer to a heartbeat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct RelayHeartbeatAck {
    /// Seconds until the next heartbeat is due.
    pub interval_secs: u64,
    /// Tunnels the relay must close: taken over on another relay, or stopped by their owner.
    pub evict: Vec<TunnelId>,
    /// Why, for those of [`RelayHeartbeatAck::evict`] the cloud gives a reason for (a plan
    /// that no longer allows them), to pass on to the agent. Absent from older clouds.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub evict_reasons: Vec<EvictReason>,
    /// Replays for tunnels on this relay, to hand to their agents.
    #[serde(default)]
    pub replays: Vec<crate::traffic::ReplayOrder>,
    /// An operator asked the relay to drain: report `draining` and take no new agents.
    #[serde(default)]
    pub drain: bool,
    /// Drained, and another healthy relay can take its agents: ask them to move there (spread
    /// over the relay's drain time). Absent from older clouds.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub move_agents: bool,
    /// The relay's identity for its peers: a short-lived token the cloud signs (audience
    /// [`PEER_AUDIENCE`], `sub` the relay's ID) that the relay presents when it forwards a
    /// visitor to the relay holding the tunnel. Absent from older clouds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer_token: Option<String>,
}

/// Audience of relay identity tokens ([`RelayHeartbeatAck::peer_token`]); never accepted as
/// an agent token (whose audience is `fdt-relay`).
pub const PEER_AUDIENCE: &str = "fdt-relay-peer";

/// `GET /v1/relay/placement?subdomain=<label>` or `?region=<region>&port=<port>`: the query.
/// Either names one name: a label under the base domain (http and tls tunnels), or a TCP
/// address (a port of a region: every relay of the region listens on its reserved ports).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct PlacementQuery {
    /// The name's label under the base domain (http and tls tunnels).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subdomain: Option<String>,
    /// The region of a TCP address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// The port of a TCP address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
}

/// `GET /v1/relay/placement`: the healthy relays holding a live tunnel on the name now.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Placement {
    /// Each relay once, by ID; empty when no relay holds the name.
    pub relays: Vec<PlacedRelay>,
    /// How long the answer may be reused, in seconds.
    pub ttl_secs: u64,
}

/// Longest a placement-changes question waits for a change, in seconds.
pub const MAX_PLACEMENT_WAIT_SECS: u64 = 25;
/// Most names one placement-changes answer lists.
pub const MAX_PLACEMENT_CHANGES: usize = 1_000;

/// `GET /v1/relay/placement/changes?after=<cursor>&wait_secs=<n>`: the query.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct PlacementChangesQuery {
    /// The `next` of the previous answer; absent on a relay's first question, which is
    /// answered at once, without names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<i64>,
    /// How long to wait for a change when there is none yet, in seconds (at most
    /// [`MAX_PLACEMENT_WAIT_SECS`], the default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait_secs: Option<u64>,
}

/// `GET /v1/relay/placement/changes`: the names bound (or bound again, on another relay)
/// since the cursor — the names whose placement a relay may hold stale answers about.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct PlacementChanges {
    /// Each name as a placement question names it (`subdomain`, or `region` and `port`).
    pub names: Vec<PlacementQuery>,
    /// Whether every changed name is listed; when not, the relay forgets all it knows.
    pub complete: bool,
    /// The cursor to ask with next.
    pub next: i64,
}

/// A relay holding a name, as a peer reaches it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct PlacedRelay {
    /// Its ID.
    pub relay_id: String,
    /// Its region.
    pub region: String,
    /// Its QUIC address (`host:port`), where agents and peers connect.
    pub agent_addr: String,
    /// The name its certificate is checked against.
    pub server_name: String,
    /// What the name carries there: `http` (forwarded request by request) or `tls`
    /// (connections passed through).
    pub proto: TunnelProto,
}

/// `POST /v1/relay/bindings`: a relay asks before it binds a name for an agent. The cloud
/// checks reservations, the account's plan limits and live bindings elsewhere, and records
/// the tunnel as online.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct BindingRequest {
    /// The asking relay.
    pub relay_id: String,
    /// Its boot.
    pub boot_id: String,
    /// The agent's account (`sub` of its token).
    pub account_id: AccountId,
    /// The authtoken its token was exchanged for (`atk`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authtoken_id: Option<AuthtokenId>,
    /// Traffic kind.
    pub proto: TunnelProto,
    /// The subdomain (http, tls).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subdomain: Option<String>,
    /// The port (tcp).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// Whether the agent asked for a name chosen for it (a refused random name is retried).
    #[serde(default)]
    pub random: bool,
    /// Public URL it will get.
    pub public_url: String,
    /// Whether the agent asked for pooling.
    #[serde(default)]
    pub pooling: bool,
    /// Agent software version.
    pub agent_version: String,
    /// The agent keeps two sessions on two relays (high availability) and this is their group:
    /// its bindings of the name on other relays stay, instead of this one taking the name
    /// over. 8 to 32 ASCII letters and digits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ha_group: Option<String>,
    /// Which of the group's two sessions asks: 0 or 1. Its own older bindings of the name are
    /// replaced wherever they are; only the other replica's stay.
    #[serde(default, skip_serializing_if = "is_zero_u8")]
    pub ha_replica: u8,
}

fn is_zero_u8(v: &u8) -> bool {
    *v == 0
}

/// The answer to an accepted binding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct BindingGranted {
    /// The tunnel's ID; the relay reports it in `ended` when the tunnel goes.
    pub tunnel_id: TunnelId,
    /// Tunnels the cloud ended by this bind (a same-agent takeover), which the relay holding
    /// them must close; the cloud also sends them in that relay's next heartbeat answer.
    pub replaced: Vec<TunnelId>,
}

/// A relay as the fleet view shows it: `GET /v1/relays`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct RelayStatus {
    /// Relay ID.
    pub id: String,
    /// Region.
    pub region: String,
    /// QUIC address.
    pub agent_addr: String,
    /// Software version.
    pub version: String,
    /// Heard from within the health window and not draining.
    pub healthy: bool,
    /// Draining.
    pub draining: bool,
    /// Agent sessions it takes.
    pub capacity: u32,
    /// Weight.
    pub weight: u32,
    /// Load at its last heartbeat.
    pub load: RelayLoad,
    /// Last heartbeat.
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "schema", schemars(schema_with = "crate::schema::date_time"))]
    pub last_seen_at: time::OffsetDateTime,
}

/// `GET /v1/relays`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct RelayList {
    /// Registered relays, by region then ID.
    pub relays: Vec<RelayStatus>,
}
