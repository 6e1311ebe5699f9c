//! Live tunnels of this relay: which host name or port belongs to which agent connection.
//!
//! A host name normally maps to one tunnel. When every tunnel bound to it asked for pooling
//! and all belong to one account, the name maps to all of them ([`host`]) and each lookup (one HTTP
//! request, one TLS passthrough connection) picks the next live member, round-robin.
//!
//! A name whose last tunnel went away leaves a tombstone. Besides telling visitors the name is
//! offline rather than unknown, the tombstone carries the signal requests held for the name
//! (see [`crate::edge::hold`]) wait on: it is dropped, waking them, when the name is bound again.

mod host;
mod tunnel;

pub use tunnel::{SessionCommand, Tunnel};

use fdt_proto::{Proto, TunnelId};
use host::HostTunnels;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// Names whose agent went away are remembered this long, so visitors get "tunnel offline"
/// (502) rather than "no such tunnel" (404) while the agent reconnects.
const TOMBSTONE_TTL: Duration = Duration::from_secs(24 * 3600);
/// Upper bound on remembered offline names, so a churn of random names cannot grow memory.
const MAX_TOMBSTONES: usize = 10_000;

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

/// Like [`HostLookup`], but an offline name comes with a way to wait for it to be bound again.
#[derive(Debug)]
pub enum HostWatch {
    /// A live tunnel.
    Online(Arc<Tunnel>),
    /// The name had a tunnel whose agent is gone. Nothing is ever sent on the receiver: its
    /// `changed()` completes (with an error) once the tombstone is gone — the name was bound
    /// again, or forgotten — and the caller looks the name up again.
    Offline(watch::Receiver<()>),
    /// Never seen.
    Unknown,
}

/// Who last held an offline name: requests refused while it reconnects are logged for them.
#[derive(Debug, Clone)]
pub struct NameOwner {
    /// The account.
    pub account: String,
    /// The control plane's ID of the tunnel that went away.
    pub cloud_id: Option<fdt_api::TunnelId>,
    /// Whether that tunnel logged bodies.
    pub log_bodies: bool,
}

/// A name whose last tunnel went away.
#[derive(Debug)]
struct Tombstone {
    /// When it went away.
    at: Instant,
    /// Dropped with the tombstone, which wakes the requests held for the name.
    rebound: watch::Sender<()>,
    /// Who held it.
    owner: NameOwner,
}

impl Tombstone {
    fn new(owner: NameOwner) -> Self {
        Self {
            at: Instant::now(),
            rebound: watch::channel(()).0,
            owner,
        }
    }

    fn live(&self) -> bool {
        self.at.elapsed() < TOMBSTONE_TTL
    }
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
    hosts: HashMap<String, HostTunnels>,
    ports: HashMap<u16, Arc<Tunnel>>,
    tombstones: HashMap<String, Tombstone>,
}

/// All live tunnels, shared by the edges and the agent endpoint.
#[derive(Debug)]
pub struct Registry {
    inner: RwLock<Inner>,
    next_id: AtomicU64,
    /// How long an offline name stays its last account's.
    name_grace: Duration,
}

impl Default for Registry {
    fn default() -> Self {
        Self::with_name_grace(Duration::from_secs(60))
    }
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty registry where a name stays its account's for `grace` after its last tunnel
    /// went away (see [`Registry::insert`]).
    pub fn with_name_grace(grace: Duration) -> Self {
        Self {
            inner: RwLock::default(),
            next_id: AtomicU64::default(),
            name_grace: grace,
        }
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
        match self.watch_host(host) {
            HostWatch::Online(t) => HostLookup::Online(t),
            HostWatch::Offline(_) => HostLookup::Offline,
            HostWatch::Unknown => HostLookup::Unknown,
        }
    }

    /// Looks up `host` like [`Registry::lookup_host`]; when it is offline, also subscribes to
    /// its being bound again, under the same lock, so a bind in between cannot be missed.
    pub fn watch_host(&self, host: &str) -> HostWatch {
        let inner = self.read();
        if let Some(t) = inner.hosts.get(host).and_then(HostTunnels::pick) {
            return HostWatch::Online(t.clone());
        }
        match inner.tombstones.get(host) {
            Some(t) if t.live() => HostWatch::Offline(t.rebound.subscribe()),
            _ => HostWatch::Unknown,
        }
    }

    /// Who last held offline `host`, and how long ago it went offline.
    pub fn offline_owner(&self, host: &str) -> Option<(NameOwner, std::time::Duration)> {
        let inner = self.read();
        let t = inner.tombstones.get(host).filter(|t| t.live())?;
        Some((t.owner.clone(), t.at.elapsed()))
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
    /// older session is then replaced or joined — replacing is how a reconnecting agent gets
    /// its name back before the relay has noticed its previous connection died).
    /// A name offline for less than the grace period stays its last account's.
    pub fn check_host(&self, host: &str, account: &str) -> Result<(), ClaimError> {
        let inner = self.read();
        match inner.hosts.get(host) {
            Some(pool) if pool.members.iter().any(|t| t.account != account) => {
                Err(ClaimError::InUse(host.to_string()))
            }
            _ if self.in_grace_for_another(&inner, host, account) => {
                Err(ClaimError::InUse(host.to_string()))
            }
            _ => Ok(()),
        }
    }

    /// Whether `host` went offline less than the grace period ago under another account than
    /// `account`: its owner is reconnecting, and requests held for it must reach only them.
    fn in_grace_for_another(&self, inner: &Inner, host: &str, account: &str) -> bool {
        inner
            .tombstones
            .get(host)
            .is_some_and(|t| t.owner.account != account && t.at.elapsed() < self.name_grace)
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

    /// Installs a tunnel under its host or port. A same-account holder is joined when it and
    /// the new tunnel all ask for pooling and carry the same kind of traffic (an http and a tls
    /// tunnel cannot share visitors), and replaced otherwise.
    pub fn insert(&self, tunnel: Arc<Tunnel>) -> Result<(), ClaimError> {
        let mut inner = self.write();
        if let Some(host) = &tunnel.host {
            if self.in_grace_for_another(&inner, host, &tunnel.account) {
                return Err(ClaimError::InUse(host.clone()));
            }
            match inner.hosts.get_mut(host) {
                Some(pool) if pool.members.iter().any(|t| t.account != tunnel.account) => {
                    return Err(ClaimError::InUse(host.clone()));
                }
                Some(pool)
                    if tunnel.pooling
                        && pool
                            .members
                            .iter()
                            .all(|t| t.pooling && t.proto == tunnel.proto) =>
                {
                    pool.members.push(tunnel.clone());
                }
                Some(pool) => {
                    for old in &pool.members {
                        old.cancel.cancel();
                    }
                    *pool = HostTunnels::new(tunnel.clone());
                }
                None => {
                    inner
                        .hosts
                        .insert(host.clone(), HostTunnels::new(tunnel.clone()));
                }
            }
            inner.tombstones.remove(host);
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

    /// The live tunnel the control plane knows as `cloud_id`.
    pub fn by_cloud_id(&self, cloud_id: &str) -> Option<Arc<Tunnel>> {
        let inner = self.read();
        inner
            .hosts
            .values()
            .flat_map(|p| p.members.iter())
            .chain(inner.ports.values())
            .find(|t| t.cloud_id.as_ref().is_some_and(|c| c.as_str() == cloud_id))
            .cloned()
    }

    /// Removes a tunnel (only if it is still registered under its name); when it was the
    /// last one serving its host, remembers the host as offline.
    pub fn remove(&self, tunnel: &Tunnel) {
        tunnel.cancel.cancel();
        let mut inner = self.write();
        if let Some(host) = &tunnel.host
            && let Some(pool) = inner.hosts.get_mut(host)
            && let Some(i) = pool.members.iter().position(|t| t.id == tunnel.id)
        {
            pool.members.remove(i);
            if pool.members.is_empty() {
                inner.hosts.remove(host);
                if inner.tombstones.len() >= MAX_TOMBSTONES {
                    inner.tombstones.retain(|_, t| t.live());
                    if inner.tombstones.len() >= MAX_TOMBSTONES {
                        inner.tombstones.clear();
                    }
                }
                let owner = NameOwner {
                    account: tunnel.account.clone(),
                    cloud_id: tunnel.cloud_id.clone(),
                    log_bodies: tunnel.log_bodies,
                };
                inner.tombstones.insert(host.clone(), Tombstone::new(owner));
            }
        }
        if let Some(port) = tunnel.port
            && inner.ports.get(&port).is_some_and(|t| t.id == tunnel.id)
        {
            inner.ports.remove(&port);
        }
    }

    /// Number of live tunnels (host and port bound, each pool member counted).
    pub fn len(&self) -> usize {
        let inner = self.read();
        inner.hosts.values().map(|p| p.members.len()).sum::<usize>() + inner.ports.len()
    }

    /// Live tunnels by protocol: `[http, tls, tcp]`.
    pub fn count_by_proto(&self) -> [usize; 3] {
        let inner = self.read();
        let mut n = [0; 3];
        let tunnels = inner
            .hosts
            .values()
            .flat_map(|p| p.members.iter())
            .chain(inner.ports.values());
        for t in tunnels {
            n[match t.proto {
                Proto::Http => 0,
                Proto::Tls => 1,
                Proto::Tcp => 2,
            }] += 1;
        }
        n
    }

    /// True when no tunnel is bound.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests;
