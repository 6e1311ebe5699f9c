//! Live tunnels of this relay: which host name or port belongs to which agent connection.
//!
//! A host name normally maps to one tunnel. When every tunnel bound to it asked for pooling
//! and all belong to one account, the name maps to a pool of them and each lookup (one HTTP
//! request, one TLS passthrough connection) picks the next live member, round-robin.
//!
//! A name whose last tunnel went away leaves a tombstone. Besides telling visitors the name is
//! offline rather than unknown, the tombstone carries the signal requests held for the name
//! (see [`crate::hold`]) wait on: it is dropped, waking them, when the name is bound again.

use crate::policy::CompiledPolicy;
use fdt_proto::{Frame, FrameKind, Proto, StreamHeader, TunnelId};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
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
    /// The control plane's ID for it (tunnels of cloud-issued tokens).
    pub cloud_id: Option<fdt_api::TunnelId>,
    /// Traffic counters of its account (reported in heartbeats).
    pub usage: Arc<crate::cloud_sync::Counters>,
    /// Bodies go to the cloud traffic log (the plan allows it and the agent asked).
    pub log_bodies: bool,
    /// Browsers get the warning page before the site (the plan's `warn` claim; see
    /// [`crate::interstitial`]).
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
        reason: &'static str,
    },
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

/// The tunnels serving one host name: one, or several that all asked for pooling.
#[derive(Debug)]
struct Pool {
    /// Never empty while the pool is in the map.
    members: Vec<Arc<Tunnel>>,
    /// Round-robin position; atomic so lookups only need the read lock.
    cursor: AtomicUsize,
}

impl Pool {
    fn new(tunnel: Arc<Tunnel>) -> Self {
        Self {
            members: vec![tunnel],
            cursor: AtomicUsize::new(0),
        }
    }

    /// The next member in turn, skipping members whose agent connection is known to be closed
    /// (a pooled agent that reconnected leaves its old binding here until the relay notices).
    fn pick(&self) -> Option<&Arc<Tunnel>> {
        let n = self.members.len();
        let start = self.cursor.fetch_add(1, Ordering::Relaxed);
        (0..n)
            .map(|i| &self.members[start.wrapping_add(i) % n])
            .find(|t| t.conn.close_reason().is_none())
            .or_else(|| self.members.get(start % n.max(1)))
    }
}

#[derive(Debug, Default)]
struct Inner {
    hosts: HashMap<String, Pool>,
    ports: HashMap<u16, Arc<Tunnel>>,
    tombstones: HashMap<String, Tombstone>,
}

/// All live tunnels, shared by the edges and the agent endpoint.
#[derive(Debug)]
pub struct Registry {
    inner: RwLock<Inner>,
    next_id: AtomicU64,
    holds: crate::hold::HoldBudget,
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
            holds: crate::hold::HoldBudget::default(),
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
        if let Some(t) = inner.hosts.get(host).and_then(Pool::pick) {
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

    /// Budget of the requests held for offline names.
    pub fn holds(&self) -> &crate::hold::HoldBudget {
        &self.holds
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
                    *pool = Pool::new(tunnel.clone());
                }
                None => {
                    inner.hosts.insert(host.clone(), Pool::new(tunnel.clone()));
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

    /// True when no tunnel is bound.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use std::collections::HashSet;

    /// Both ends of a QUIC connection over loopback, and the endpoints that keep them alive.
    /// Dropping the server end closes the client end (the registry holds the client end).
    struct Link {
        _endpoints: (quinn::Endpoint, quinn::Endpoint),
        _server_side: quinn::Connection,
        conn: quinn::Connection,
    }

    async fn connection() -> Link {
        let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        let key = rustls::pki_types::PrivateKeyDer::Pkcs8(
            rustls::pki_types::PrivatePkcs8KeyDer::from(cert.signing_key.serialize_der()),
        );
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut tls = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![cert.cert.der().clone()], key)
            .unwrap();
        tls.alpn_protocols = vec![b"t".to_vec()];
        let server_cfg = quinn::ServerConfig::with_crypto(Arc::new(
            quinn::crypto::rustls::QuicServerConfig::try_from(tls).unwrap(),
        ));
        let server = quinn::Endpoint::server(server_cfg, ([127, 0, 0, 1], 0).into()).unwrap();
        let mut roots = rustls::RootCertStore::empty();
        roots.add(cert.cert.der().clone()).unwrap();
        let mut tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13])
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        tls.alpn_protocols = vec![b"t".to_vec()];
        let mut client = quinn::Endpoint::client(([127, 0, 0, 1], 0).into()).unwrap();
        client.set_default_client_config(quinn::ClientConfig::new(Arc::new(
            quinn::crypto::rustls::QuicClientConfig::try_from(tls).unwrap(),
        )));
        let addr = server.local_addr().unwrap();
        let accept = tokio::spawn({
            let server = server.clone();
            async move { server.accept().await.unwrap().await.unwrap() }
        });
        let conn = client.connect(addr, "localhost").unwrap().await.unwrap();
        Link {
            _server_side: accept.await.unwrap(),
            _endpoints: (server, client),
            conn,
        }
    }

    struct Fixture {
        registry: Registry,
        link: Link,
    }

    impl Fixture {
        async fn new() -> Self {
            Self {
                registry: Registry::new(),
                link: connection().await,
            }
        }

        fn tunnel(&self, account: &str, host: &str, pooling: bool) -> Arc<Tunnel> {
            Arc::new(Tunnel {
                cloud_id: None,
                usage: Default::default(),
                rate: None,
                log_bodies: false,
                browser_warning: false,
                commands: tokio::sync::mpsc::channel(1).0,
                id: self.registry.next_id(),
                name: "web".into(),
                account: account.into(),
                proto: Proto::Http,
                host: Some(host.into()),
                port: None,
                pooling,
                public_url: format!("https://{host}"),
                policy: CompiledPolicy::default(),
                conn: self.link.conn.clone(),
                streams: Arc::new(Semaphore::new(8)),
                session_streams: Arc::new(Semaphore::new(8)),
                cancel: CancellationToken::new(),
                http: None,
            })
        }

        fn online(&self, host: &str) -> TunnelId {
            match self.registry.lookup_host(host) {
                HostLookup::Online(t) => t.id,
                other => panic!("{host} not online: {other:?}"),
            }
        }

        /// Which members `n` lookups reach, and how often.
        fn spread(&self, host: &str, n: usize) -> HashMap<TunnelId, usize> {
            let mut hits = HashMap::new();
            for _ in 0..n {
                *hits.entry(self.online(host)).or_default() += 1;
            }
            hits
        }
    }

    const HOST: &str = "app.example.test";

    #[tokio::test]
    async fn pooling_binds_of_one_account_join_and_share_round_robin() {
        let f = Fixture::new().await;
        let a = f.tunnel("acct", HOST, true);
        let b = f.tunnel("acct", HOST, true);
        let c = f.tunnel("acct", HOST, true);
        for t in [&a, &b, &c] {
            f.registry.insert(t.clone()).unwrap();
        }
        assert_eq!(f.registry.len(), 3);
        assert!(!a.cancel.is_cancelled() && !b.cancel.is_cancelled());
        let hits = f.spread(HOST, 30);
        assert_eq!(
            hits.keys().copied().collect::<HashSet<_>>(),
            HashSet::from([a.id, b.id, c.id])
        );
        assert!(hits.values().all(|&n| n == 10), "{hits:?}");
    }

    #[tokio::test]
    async fn removing_one_member_leaves_the_others_serving() {
        let f = Fixture::new().await;
        let a = f.tunnel("acct", HOST, true);
        let b = f.tunnel("acct", HOST, true);
        f.registry.insert(a.clone()).unwrap();
        f.registry.insert(b.clone()).unwrap();
        f.registry.remove(&a);
        assert_eq!(f.registry.len(), 1);
        assert_eq!(f.spread(HOST, 5), HashMap::from([(b.id, 5)]));
        // Removing a tunnel twice must not disturb the remaining member.
        f.registry.remove(&a);
        assert_eq!(f.online(HOST), b.id);
        f.registry.remove(&b);
        assert!(matches!(f.registry.lookup_host(HOST), HostLookup::Offline));
        assert!(f.registry.is_empty());
    }

    #[tokio::test]
    async fn another_account_cannot_join_a_pool() {
        let f = Fixture::new().await;
        f.registry.insert(f.tunnel("acct", HOST, true)).unwrap();
        let other = f.tunnel("other", HOST, true);
        assert_eq!(
            f.registry.check_host(HOST, "other"),
            Err(ClaimError::InUse(HOST.into()))
        );
        assert_eq!(
            f.registry.insert(other),
            Err(ClaimError::InUse(HOST.into()))
        );
        assert_eq!(f.registry.len(), 1);
    }

    #[tokio::test]
    async fn a_non_pooling_bind_of_the_account_takes_the_whole_pool_over() {
        let f = Fixture::new().await;
        let a = f.tunnel("acct", HOST, true);
        let b = f.tunnel("acct", HOST, true);
        f.registry.insert(a.clone()).unwrap();
        f.registry.insert(b.clone()).unwrap();
        let solo = f.tunnel("acct", HOST, false);
        f.registry.insert(solo.clone()).unwrap();
        assert!(a.cancel.is_cancelled() && b.cancel.is_cancelled());
        assert_eq!(f.spread(HOST, 4), HashMap::from([(solo.id, 4)]));
        // The replaced members going away later must not take the name offline.
        f.registry.remove(&a);
        f.registry.remove(&b);
        assert_eq!(f.online(HOST), solo.id);
    }

    #[tokio::test]
    async fn pooling_binds_replace_holders_they_cannot_join() {
        let f = Fixture::new().await;
        let solo = f.tunnel("acct", HOST, false);
        f.registry.insert(solo.clone()).unwrap();
        let pooled = f.tunnel("acct", HOST, true);
        f.registry.insert(pooled.clone()).unwrap();
        assert!(solo.cancel.is_cancelled());
        assert_eq!(f.spread(HOST, 4), HashMap::from([(pooled.id, 4)]));
        // A tls tunnel cannot join an http pool: the edges expect one kind per name.
        let mut tls = Arc::into_inner(f.tunnel("acct", HOST, true)).unwrap();
        tls.proto = Proto::Tls;
        let tls = Arc::new(tls);
        f.registry.insert(tls.clone()).unwrap();
        assert!(pooled.cancel.is_cancelled());
        assert_eq!(f.spread(HOST, 2), HashMap::from([(tls.id, 2)]));
        // Another account is refused whether the holder pools or not.
        assert!(f.registry.insert(f.tunnel("other", HOST, false)).is_err());
        assert!(f.registry.insert(f.tunnel("other", HOST, true)).is_err());
    }

    #[tokio::test]
    async fn binding_an_offline_name_wakes_its_watchers() {
        let f = Fixture::new().await;
        let gone = f.tunnel("acct", HOST, false);
        f.registry.insert(gone.clone()).unwrap();
        f.registry.remove(&gone);
        let HostWatch::Offline(mut rx) = f.registry.watch_host(HOST) else {
            panic!("offline name expected");
        };
        assert!(matches!(
            f.registry.watch_host("other.test"),
            HostWatch::Unknown
        ));
        let waiter = tokio::spawn(async move { rx.changed().await.is_err() });
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished(), "no wake-up before a bind");
        let back = f.tunnel("acct", HOST, false);
        f.registry.insert(back.clone()).unwrap();
        let closed = tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .unwrap()
            .unwrap();
        assert!(closed, "woken by the tombstone going away");
        assert!(matches!(f.registry.watch_host(HOST), HostWatch::Online(t) if t.id == back.id));
    }

    #[tokio::test]
    async fn members_with_a_closed_connection_are_skipped() {
        let f = Fixture::new().await;
        let live = f.tunnel("acct", HOST, true);
        f.registry.insert(live.clone()).unwrap();
        let dead_link = connection().await;
        dead_link.conn.close(0u32.into(), b"gone");
        let mut dead = Arc::into_inner(f.tunnel("acct", HOST, true)).unwrap();
        dead.conn = dead_link.conn.clone();
        f.registry.insert(Arc::new(dead)).unwrap();
        assert_eq!(f.spread(HOST, 6), HashMap::from([(live.id, 6)]));
    }
}
