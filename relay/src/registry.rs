//! Live tunnels of this relay: which host name or port belongs to which agent connection.

use crate::policy::CompiledPolicy;
use fdt_proto::{Frame, FrameKind, Proto, StreamHeader, TunnelId};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

/// Names whose agent went away are remembered this long, so visitors get "tunnel offline"
/// (502) rather than "no such tunnel" (404) while the agent reconnects.
const TOMBSTONE_TTL: Duration = Duration::from_secs(24 * 3600);
/// Upper bound on remembered offline names, so a churn of random names cannot grow memory.
const MAX_TOMBSTONES: usize = 10_000;
/// Time allowed to open a stream to the agent before the visitor gets a 502.
const OPEN_TIMEOUT: Duration = Duration::from_secs(5);

/// One bound tunnel.
#[derive(Debug)]
pub struct Tunnel {
    /// Relay-assigned id.
    pub id: TunnelId,
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
    /// URL given to the agent.
    pub public_url: String,
    /// Edge policy.
    pub policy: CompiledPolicy,
    /// The agent connection.
    pub conn: quinn::Connection,
    /// Concurrent streams allowed on this tunnel.
    pub streams: Arc<Semaphore>,
    /// Concurrent streams allowed on the agent's session (shared by its tunnels).
    pub session_streams: Arc<Semaphore>,
    /// Cancelled when the tunnel is released (stops its TCP listener).
    pub cancel: CancellationToken,
    /// Pooled keep-alive HTTP/1.1 client over agent streams (http tunnels).
    pub http: Option<crate::agent_pool::AgentClient>,
}

/// Why a stream to the agent could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The tunnel or its session has no free stream slot.
    #[error("too many concurrent streams on this tunnel")]
    Busy,
    /// The agent connection is gone or did not accept a stream in time.
    #[error("tunnel agent unreachable: {0}")]
    Offline(String),
}

/// A data stream to the agent with its stream-limit permits.
#[derive(Debug)]
pub struct AgentStream {
    /// Bytes to the agent.
    pub send: quinn::SendStream,
    /// Bytes from the agent.
    pub recv: quinn::RecvStream,
    /// Released when the stream is dropped.
    pub permits: (OwnedSemaphorePermit, OwnedSemaphorePermit),
}

/// A pooled HTTP stream to the agent with its session stream slot.
#[derive(Debug)]
pub struct HttpStream {
    /// Bytes to the agent.
    pub send: quinn::SendStream,
    /// Bytes from the agent.
    pub recv: quinn::RecvStream,
    /// Session stream slot, released when the stream is dropped.
    pub permit: OwnedSemaphorePermit,
}

impl Tunnel {
    /// Opens a data stream to the agent for one visitor connection (tcp, tls) and writes its
    /// header. Never waits for a slot: a full tunnel answers [`OpenError::Busy`] at once.
    pub async fn open(
        &self,
        visitor: SocketAddr,
        sni: Option<String>,
    ) -> Result<AgentStream, OpenError> {
        let p1 = self.try_request_slot()?;
        let (send, recv, p2) = self.open_stream(visitor, sni).await?;
        Ok(AgentStream {
            send,
            recv,
            permits: (p1, p2),
        })
    }

    /// Opens a stream that will carry many HTTP/1.1 exchanges (see [`crate::agent_pool`]).
    /// Its header names no visitor: each request carries its own in `x-fdt-visitor`.
    pub async fn open_http_stream(&self) -> Result<HttpStream, OpenError> {
        let unspecified = SocketAddr::from(([0, 0, 0, 0], 0));
        let (send, recv, permit) = self.open_stream(unspecified, None).await?;
        Ok(HttpStream { send, recv, permit })
    }

    /// Takes one of the tunnel's concurrency slots (a visitor connection or an HTTP exchange).
    pub fn try_request_slot(&self) -> Result<OwnedSemaphorePermit, OpenError> {
        self.streams
            .clone()
            .try_acquire_owned()
            .map_err(|_| OpenError::Busy)
    }

    async fn open_stream(
        &self,
        visitor: SocketAddr,
        sni: Option<String>,
    ) -> Result<(quinn::SendStream, quinn::RecvStream, OwnedSemaphorePermit), OpenError> {
        let permit = self
            .session_streams
            .clone()
            .try_acquire_owned()
            .map_err(|_| OpenError::Busy)?;
        let header = StreamHeader {
            tunnel: self.id,
            visitor,
            proto: self.proto,
            sni,
        };
        let bytes = Frame::to_bytes(FrameKind::StreamHeader, &header)
            .map_err(|e| OpenError::Offline(e.to_string()))?;
        let (mut send, recv) = tokio::time::timeout(OPEN_TIMEOUT, self.conn.open_bi())
            .await
            .map_err(|_| OpenError::Offline("timed out opening a stream".into()))?
            .map_err(|e| OpenError::Offline(e.to_string()))?;
        send.write_all(&bytes)
            .await
            .map_err(|e| OpenError::Offline(e.to_string()))?;
        Ok((send, recv, permit))
    }
}

/// What a host name currently maps to.
#[derive(Debug, Clone)]
pub enum HostLookup {
    /// A live tunnel.
    Online(Arc<Tunnel>),
    /// The name had a tunnel whose agent is gone.
    Offline,
    /// Never seen.
    Unknown,
}

/// Why a name could not be claimed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ClaimError {
    /// Another account's session holds it.
    #[error("{0} is already bound by another agent")]
    InUse(String),
}

#[derive(Debug, Default)]
struct Inner {
    hosts: HashMap<String, Arc<Tunnel>>,
    ports: HashMap<u16, Arc<Tunnel>>,
    tombstones: HashMap<String, Instant>,
}

/// All live tunnels, shared by the edges and the agent endpoint.
#[derive(Debug, Default)]
pub struct Registry {
    inner: RwLock<Inner>,
    next_id: AtomicU64,
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// A fresh tunnel id.
    pub fn next_id(&self) -> TunnelId {
        TunnelId(self.next_id.fetch_add(1, Ordering::Relaxed) + 1)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Inner> {
        self.inner.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Inner> {
        self.inner.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Looks up the tunnel serving `host` (lower-case, no port).
    pub fn lookup_host(&self, host: &str) -> HostLookup {
        let inner = self.read();
        if let Some(t) = inner.hosts.get(host) {
            return HostLookup::Online(t.clone());
        }
        match inner.tombstones.get(host) {
            Some(at) if at.elapsed() < TOMBSTONE_TTL => HostLookup::Offline,
            _ => HostLookup::Unknown,
        }
    }

    /// The tunnel bound to a public TCP port.
    pub fn lookup_port(&self, port: u16) -> Option<Arc<Tunnel>> {
        self.read().ports.get(&port).cloned()
    }

    /// Whether `host` is held by a live tunnel.
    pub fn host_taken(&self, host: &str) -> bool {
        self.read().hosts.contains_key(host)
    }

    /// Whether `host` may be claimed by `account` (free, or held by the same account, whose
    /// older session is then replaced — this is how a reconnecting agent gets its name back
    /// before the relay has noticed its previous connection died).
    pub fn check_host(&self, host: &str, account: &str) -> Result<(), ClaimError> {
        match self.read().hosts.get(host) {
            Some(t) if t.account != account => Err(ClaimError::InUse(host.to_string())),
            _ => Ok(()),
        }
    }

    /// Frees `port` for `account`: its own older tunnel there is cancelled (its listener then
    /// closes); another account's tunnel makes this an error.
    pub fn release_port_for(&self, port: u16, account: &str) -> Result<(), ClaimError> {
        match self.read().ports.get(&port) {
            Some(t) if t.account != account => Err(ClaimError::InUse(format!("port {port}"))),
            Some(t) => {
                t.cancel.cancel();
                Ok(())
            }
            None => Ok(()),
        }
    }

    /// Installs a tunnel under its host or port, replacing a same-account holder.
    pub fn insert(&self, tunnel: Arc<Tunnel>) -> Result<(), ClaimError> {
        let mut inner = self.write();
        if let Some(host) = &tunnel.host {
            if let Some(old) = inner.hosts.get(host) {
                if old.account != tunnel.account {
                    return Err(ClaimError::InUse(host.clone()));
                }
                old.cancel.cancel();
            }
            inner.tombstones.remove(host);
            inner.hosts.insert(host.clone(), tunnel.clone());
        }
        if let Some(port) = tunnel.port {
            if let Some(old) = inner.ports.get(&port) {
                if old.account != tunnel.account {
                    return Err(ClaimError::InUse(format!("port {port}")));
                }
                old.cancel.cancel();
            }
            inner.ports.insert(port, tunnel);
        }
        Ok(())
    }

    /// Removes a tunnel (only if it is still the one registered under its name) and
    /// remembers its host as offline.
    pub fn remove(&self, tunnel: &Tunnel) {
        tunnel.cancel.cancel();
        let mut inner = self.write();
        if let Some(host) = &tunnel.host
            && inner.hosts.get(host).is_some_and(|t| t.id == tunnel.id)
        {
            inner.hosts.remove(host);
            if inner.tombstones.len() >= MAX_TOMBSTONES {
                inner
                    .tombstones
                    .retain(|_, at| at.elapsed() < TOMBSTONE_TTL);
                if inner.tombstones.len() >= MAX_TOMBSTONES {
                    inner.tombstones.clear();
                }
            }
            inner.tombstones.insert(host.clone(), Instant::now());
        }
        if let Some(port) = tunnel.port
            && inner.ports.get(&port).is_some_and(|t| t.id == tunnel.id)
        {
            inner.ports.remove(&port);
        }
    }

    /// Number of live tunnels (host and port bound).
    pub fn len(&self) -> usize {
        let inner = self.read();
        inner.hosts.len() + inner.ports.len()
    }

    /// True when no tunnel is bound.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
