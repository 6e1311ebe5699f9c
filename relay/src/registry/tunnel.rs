//! One bound tunnel: what it serves, whose it is, its policy and limits, and the way to its
//! agent.

use crate::agents::streams::{AgentStream, OpenError, StreamOpener};
use crate::agents::upstream::AgentClient;
use crate::edge::policy::CompiledPolicy;
use crate::usage::Counters;
use fdt_proto::{Proto, TunnelId};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

/// One bound tunnel.
#[derive(Debug)]
pub struct Tunnel {
    /// Relay-assigned id.
    pub id: TunnelId,
    /// The control plane's ID for it (tunnels of cloud-issued tokens).
    pub cloud_id: Option<fdt_api::TunnelId>,
    /// Traffic counters of its account (reported in heartbeats).
    pub usage: Arc<Counters>,
    /// Bodies go to the cloud traffic log (the plan allows it and the agent asked).
    pub log_bodies: bool,
    /// Browsers get the warning page before the site (the plan's `warn` claim; see
    /// [`crate::edge::interstitial`]).
    pub browser_warning: bool,
    /// HTTP request rate limit (the plan's requests per minute), if any.
    pub rate: Option<governor::DefaultDirectRateLimiter>,
    /// The agent's label for it.
    pub name: String,
    /// Account that bound it.
    pub account: String,
    /// Traffic kind.
    pub proto: Proto,
    /// Host name for http/tls tunnels.
    pub host: Option<String>,
    /// Public port for tcp tunnels.
    pub port: Option<u16>,
    /// Whether the agent asked to share the host name with its account's other pooling binds.
    pub pooling: bool,
    /// URL given to the agent.
    pub public_url: String,
    /// Edge policy.
    pub policy: CompiledPolicy,
    /// Opens streams on the agent connection.
    pub opener: StreamOpener,
    /// Concurrent streams allowed on this tunnel.
    pub streams: Arc<Semaphore>,
    /// Cancelled when the tunnel is released (stops its TCP listener).
    pub cancel: CancellationToken,
    /// Pooled keep-alive HTTP/1.1 client over agent streams (http tunnels).
    pub http: Option<AgentClient>,
    /// Commands to the agent session that owns the tunnel (replays from the cloud).
    pub commands: tokio::sync::mpsc::Sender<SessionCommand>,
}

/// What other tasks ask of an agent session.
#[derive(Debug)]
pub enum SessionCommand {
    /// Send the agent a replay for one of its tunnels.
    Replay {
        /// Job ID.
        job: String,
        /// The tunnel.
        tunnel: TunnelId,
        /// The request.
        request: fdt_proto::ReplaySpec,
    },
    /// Close one of the session's tunnels and tell the agent why.
    Unbind {
        /// The tunnel.
        tunnel: TunnelId,
        /// Why, for people.
        reason: std::borrow::Cow<'static, str>,
    },
    /// Push the account's cloud-managed tunnels to a managed session's agent.
    Definitions {
        /// Their version.
        version: u64,
        /// The definitions.
        tunnels: Vec<fdt_proto::ManagedTunnel>,
    },
}

impl Tunnel {
    /// The agent connection.
    pub fn conn(&self) -> &quinn::Connection {
        self.opener.conn()
    }

    /// Opens a data stream to the agent for one visitor connection (tcp, tls) and writes its
    /// header. Never waits for a slot: a full tunnel answers [`OpenError::Busy`] at once.
    pub async fn open(
        &self,
        visitor: SocketAddr,
        sni: Option<String>,
    ) -> Result<AgentStream, OpenError> {
        let p1 = self.try_request_slot()?;
        let (send, recv, p2) = self.opener.open(visitor, sni).await?;
        Ok(AgentStream {
            send,
            recv,
            permits: (p1, p2),
        })
    }

    /// Takes one of the tunnel's concurrency slots (a visitor connection or an HTTP exchange).
    pub fn try_request_slot(&self) -> Result<OwnedSemaphorePermit, OpenError> {
        self.streams
            .clone()
            .try_acquire_owned()
            .map_err(|_| OpenError::Busy)
    }
}
