//! An in-process relay on loopback, plus helpers to spawn agents against it.

use crate::client::Curl;
use fdt_agent_core::config::TunnelConfig;
use fdt_agent_core::status::{AgentStatus, SessionState};
use fdt_agent_core::{AgentHandle, AgentOptions, Connect, RelayTarget};
use fdt_relay::auth::jwks::{HttpJwksSource, JwksKeys, JwksOptions};
use fdt_relay::auth::{TokenSigner, TokenVerifier};
use fdt_relay::config::Limits;
use fdt_relay::tls::CertStore;
use fdt_relay::tls::DevCa;
use fdt_relay::tls::OnDemandResolver;
use fdt_relay::{Listeners, Relay, RelayConfig};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpSocket};

/// Base domain of every test relay; curl and the harness map `*.localhost` to 127.0.0.1.
pub const BASE_DOMAIN: &str = "localhost";
/// The secret a relay attached to the in-process control plane presents to it (heartbeats,
/// bind checks, revocation feed); [`crate::Cloud`] accepts it.
pub const RELAY_SECRET: &str = "e2e-relay-secret-0123456789";
/// The key of the e2e relays' cluster (their region, `local`) for certificate events.
pub const CERT_EVENT_KEY: &str = "e2e-cert-event-key-0123456789abcdef";
/// Account of the tokens minted by [`Stack::agent`].
pub const DEFAULT_ACCOUNT: &str = "e2e";
/// How long an agent gets to connect and bind its tunnels.
pub const BIND_TIMEOUT: Duration = Duration::from_secs(15);
/// Size of the TCP tunnel port window each stack picks at random.
const TCP_WINDOW: u16 = 300;

/// How to configure a [`Stack`].
#[derive(Debug, Clone)]
pub struct StackOptions {
    /// Relay limits; [`StackOptions::default`] uses [`test_limits`].
    pub limits: Limits,
    /// A control plane's JWKS URL whose keys the relay accepts besides the stack's own key.
    pub jwks_url: Option<String>,
    /// A control plane whose authtoken revocation feed the relay polls (with `relay_secret`).
    pub cloud_url: Option<String>,
    /// The relay's secret for `cloud_url`.
    pub relay_secret: Option<String>,
    /// The relay's cluster key for certificate events (reports of installed certificates).
    pub cert_event_key: Option<String>,
}

impl StackOptions {
    /// A relay attached to the control plane at `api_url` (its JWKS, heartbeats, bind checks,
    /// revocations and traffic log), with the e2e relay secret.
    pub fn attached_to(api_url: &str) -> Self {
        Self {
            jwks_url: Some(format!("{api_url}/v1/jwks")),
            cloud_url: Some(api_url.to_owned()),
            relay_secret: Some(RELAY_SECRET.into()),
            cert_event_key: Some(CERT_EVENT_KEY.into()),
            ..Self::default()
        }
    }
}

impl Default for StackOptions {
    fn default() -> Self {
        Self {
            limits: test_limits(),
            jwks_url: None,
            cloud_url: None,
            relay_secret: None,
            cert_event_key: None,
        }
    }
}

/// Limits small enough for tests: 1 s header timeout, 16 KiB heads, 500 ms drain, and no
/// holding of requests for reconnecting agents (tests of it turn it on), so a stopped agent's
/// name answers 502 at once.
pub fn test_limits() -> Limits {
    Limits {
        header_read_timeout_ms: 1_000,
        max_header_bytes: 16 * 1024,
        drain_timeout_ms: 500,
        tls_hello_timeout_ms: 3_000,
        hold_ms: 0,
        ..Limits::default()
    }
}

/// A running relay with its own data directory, dev CA and token signing key.
#[derive(Debug)]
pub struct Stack {
    dir: tempfile::TempDir,
    cfg: RelayConfig,
    signer: TokenSigner,
    ca: DevCa,
    relay: Option<Relay>,
    /// UDP address agents connect to.
    pub agent_addr: SocketAddr,
    /// Plain-HTTP edge.
    pub http_addr: SocketAddr,
    /// HTTPS / TLS-passthrough edge.
    pub https_addr: SocketAddr,
}

impl Stack {
    /// Starts a relay on 127.0.0.1 with OS-chosen ports and a random TCP tunnel port window.
    pub async fn start(opts: StackOptions) -> anyhow::Result<Stack> {
        crate::install_crypto();
        crate::init_tracing();
        let dir = tempfile::Builder::new().prefix("fdt-e2e-").tempdir()?;
        let signer = TokenSigner::load_or_create(dir.path())?;
        let ca = DevCa::load_or_create(&dir.path().join("dev-ca"))?;
        let (tcp_port_min, tcp_port_max) = pick_tcp_window()?;
        let lo = Ipv4Addr::LOCALHOST;
        let any = SocketAddr::from((lo, 0));
        let cfg = RelayConfig {
            base_domain: BASE_DOMAIN.into(),
            data_dir: dir.path().to_path_buf(),
            agent_listen: any,
            http_listen: Some(any),
            https_listen: Some(any),
            tcp_bind_ip: lo.into(),
            tcp_port_min,
            tcp_port_max,
            limits: opts.limits,
            jwks_url: opts.jwks_url,
            cloud_url: opts.cloud_url,
            relay_secret: opts.relay_secret.map(fdt_relay::config::RelaySecret::new),
            cert_event_key: opts.cert_event_key.map(fdt_relay::config::RelaySecret::new),
            ..RelayConfig::default()
        };
        let listeners = bind_listeners(any, any, any)?;
        let relay = start_relay(&cfg, listeners, &signer).await?;
        let (agent_addr, http_addr, https_addr) = addrs(&relay)?;
        Ok(Stack {
            dir,
            cfg,
            signer,
            ca,
            relay: Some(relay),
            agent_addr,
            http_addr,
            https_addr,
        })
    }

    /// The running relay.
    pub fn relay(&self) -> Option<&Relay> {
        self.relay.as_ref()
    }

    /// The relay configuration (ports resolved to what was actually bound are in the fields).
    pub fn config(&self) -> &RelayConfig {
        &self.cfg
    }

    /// The dev CA (to issue origin certificates from it).
    pub fn dev_ca(&self) -> &DevCa {
        &self.ca
    }

    /// Path of the dev CA certificate (`--cacert` for curl, `ca_file` for agents).
    pub fn ca_path(&self) -> PathBuf {
        self.ca.ca_path()
    }

    /// A scratch directory removed with the stack.
    pub fn scratch(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// A token for `account`, valid for an hour, for any name.
    pub fn token(&self, account: &str) -> String {
        self.signer.mint(account, 3600, vec![])
    }

    /// A token with `claims`, signed by this relay's key (claims from
    /// [`TokenSigner::claims`], adjusted).
    pub fn sign(&self, claims: &fdt_relay::auth::AgentClaims) -> String {
        self.signer.sign(claims)
    }

    /// `NAME.localhost`.
    pub fn host(&self, sub: &str) -> String {
        format!("{sub}.{BASE_DOMAIN}")
    }

    /// `http://NAME.localhost:PORT{path}` on the plain-HTTP edge.
    pub fn http_url(&self, sub: &str, path: &str) -> String {
        format!("http://{}:{}{path}", self.host(sub), self.http_addr.port())
    }

    /// `https://NAME.localhost:PORT{path}` on the HTTPS edge.
    pub fn https_url(&self, sub: &str, path: &str) -> String {
        format!(
            "https://{}:{}{path}",
            self.host(sub),
            self.https_addr.port()
        )
    }

    /// A curl command for `url`, trusting the dev CA, with `*.localhost` mapped to 127.0.0.1.
    pub fn curl(&self, url: &str) -> Curl {
        Curl::new(url).cacert(&self.ca_path())
    }

    /// Spawns an agent of [`DEFAULT_ACCOUNT`] and waits until its tunnels are bound.
    pub async fn agent(&self, tunnels: Vec<(&str, TunnelConfig)>) -> anyhow::Result<Agent> {
        self.agent_as(DEFAULT_ACCOUNT, tunnels).await
    }

    /// Spawns an agent with a token for `account` and waits until its tunnels are bound.
    pub async fn agent_as(
        &self,
        account: &str,
        tunnels: Vec<(&str, TunnelConfig)>,
    ) -> anyhow::Result<Agent> {
        let mut agent = self.spawn_agent(self.token(account), tunnels)?;
        agent.wait_bound().await?;
        Ok(agent)
    }

    /// Spawns an agent with `token` without waiting for it.
    pub fn spawn_agent(
        &self,
        token: String,
        tunnels: Vec<(&str, TunnelConfig)>,
    ) -> anyhow::Result<Agent> {
        let connect = Connect::Relay {
            relay: RelayTarget {
                addr: self.agent_addr.to_string(),
                server_name: Some(BASE_DOMAIN.into()),
                ca_file: Some(self.ca_path()),
            },
            token,
        };
        self.spawn_agent_via(connect, tunnels)
    }

    /// Spawns an agent that connects as `connect` says (e.g. through a control plane) without
    /// waiting for it.
    pub fn spawn_agent_via(
        &self,
        connect: Connect,
        tunnels: Vec<(&str, TunnelConfig)>,
    ) -> anyhow::Result<Agent> {
        Agent::spawn(connect, tunnels)
    }

    /// Shuts the relay down gracefully and starts a new one on the same agent, HTTP and HTTPS
    /// ports, with the same signing key and dev CA.
    pub async fn restart_relay(&mut self) -> anyhow::Result<()> {
        if let Some(relay) = self.relay.take() {
            crate::within(Duration::from_secs(30), "relay shutdown", relay.shutdown()).await?;
        }
        // The old sockets close as the relay's tasks wind down; poll until the ports are free.
        let (agent, http, https) = (self.agent_addr, self.http_addr, self.https_addr);
        let listeners = crate::poll_until(Duration::from_secs(15), "relay ports free", || async {
            bind_listeners(agent, http, https).ok()
        })
        .await?;
        self.relay = Some(start_relay(&self.cfg, listeners, &self.signer).await?);
        Ok(())
    }

    /// Shuts the relay down gracefully.
    pub async fn shutdown(mut self) -> anyhow::Result<()> {
        if let Some(relay) = self.relay.take() {
            crate::within(Duration::from_secs(30), "relay shutdown", relay.shutdown()).await?;
        }
        Ok(())
    }
}

fn addrs(relay: &Relay) -> anyhow::Result<(SocketAddr, SocketAddr, SocketAddr)> {
    let http = relay
        .http_addr
        .ok_or_else(|| anyhow::anyhow!("no HTTP edge"))?;
    let https = relay
        .https_addr
        .ok_or_else(|| anyhow::anyhow!("no HTTPS edge"))?;
    Ok((relay.agent_addr, http, https))
}

async fn start_relay(
    cfg: &RelayConfig,
    listeners: Listeners,
    signer: &TokenSigner,
) -> anyhow::Result<Relay> {
    let mut verifier = TokenVerifier::from_public_pems(&[signer.public_pem().to_string()])?;
    if let Some(url) = &cfg.jwks_url {
        let keys = JwksKeys::new(Box::new(HttpJwksSource::new(url)?), JwksOptions::default());
        verifier = verifier.with_jwks(keys);
    }
    // A fresh load of the same CA files: same CA, as after a real relay restart.
    let ca = DevCa::load_or_create(&cfg.data_dir.join("dev-ca"))?;
    let resolver = Arc::new(OnDemandResolver::new(CertStore::new(), ca, BASE_DOMAIN));
    Relay::start(cfg.clone(), listeners, verifier, resolver).await
}

fn tcp_listener(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let sock = TcpSocket::new_v4()?;
    // Connections of a previous relay on this port may linger in TIME_WAIT.
    sock.set_reuseaddr(true)?;
    sock.bind(addr)?;
    sock.listen(1024)
}

fn bind_listeners(
    agent: SocketAddr,
    http: SocketAddr,
    https: SocketAddr,
) -> std::io::Result<Listeners> {
    Ok(Listeners {
        agent: std::net::UdpSocket::bind(agent)?,
        http: Some(tcp_listener(http)?),
        https: Some(tcp_listener(https)?),
        admin: Some(tcp_listener(SocketAddr::from(([127, 0, 0, 1], 0)))?),
    })
}

/// A random window of [`TCP_WINDOW`] ports in 30000–60000 whose probed ports are free, so
/// parallel test processes rarely hand out the same TCP tunnel ports.
fn pick_tcp_window() -> anyhow::Result<(u16, u16)> {
    for _ in 0..50 {
        let min = 30_000 + rand::random::<u16>() % (30_000 - TCP_WINDOW);
        let max = min + TCP_WINDOW - 1;
        let free = (0..4).all(|_| {
            let port = min + rand::random::<u16>() % TCP_WINDOW;
            std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok()
        });
        if free {
            return Ok((min, max));
        }
    }
    anyhow::bail!("no free TCP port window found")
}

/// An agent spawned by a [`Stack`]; stopped when dropped.
#[derive(Debug)]
pub struct Agent {
    /// The agent's handle (status, counters, shutdown token).
    pub handle: AgentHandle,
    join: Option<tokio::task::JoinHandle<Result<(), fdt_agent_core::agent::AgentError>>>,
}

impl Agent {
    /// Spawns an agent that connects as `connect` says, without waiting for it (for relays
    /// that are not a [`Stack`], e.g. [`crate::RelayProcess`]).
    pub fn spawn(connect: Connect, tunnels: Vec<(&str, TunnelConfig)>) -> anyhow::Result<Agent> {
        Self::spawn_with(connect, tunnels, false)
    }

    /// [`Agent::spawn`], keeping a standby session on a second relay when `ha`.
    pub fn spawn_with(
        connect: Connect,
        tunnels: Vec<(&str, TunnelConfig)>,
        ha: bool,
    ) -> anyhow::Result<Agent> {
        let tunnels = tunnels
            .into_iter()
            .map(|(name, t)| t.resolve(name))
            .collect::<Result<Vec<_>, _>>()?;
        let (handle, join) = fdt_agent_core::spawn(AgentOptions {
            connect,
            tunnels,
            managed: false,
            ha,
        });
        Ok(Agent {
            handle,
            join: Some(join),
        })
    }

    /// Waits (bounded by [`BIND_TIMEOUT`]) until every tunnel is bound or one failed.
    pub async fn wait_bound(&mut self) -> anyhow::Result<AgentStatus> {
        self.handle.wait_bound(BIND_TIMEOUT).await
    }

    /// Waits (15 s at most) until the agent has stopped for good, as a revoked authtoken
    /// stops it: why it stopped.
    pub async fn wait_stopped(&self) -> anyhow::Result<String> {
        let status = crate::poll_until(std::time::Duration::from_secs(15), "agent stopped", || {
            let s = self.status();
            async move { (s.state == fdt_agent_core::status::SessionState::Stopped).then_some(s) }
        })
        .await?;
        Ok(status.last_error.unwrap_or_default())
    }

    /// Current status.
    pub fn status(&self) -> AgentStatus {
        self.handle.status.borrow().clone()
    }

    /// The standby session's status, when the agent keeps one.
    pub fn standby_status(&self) -> Option<AgentStatus> {
        self.handle.standby.as_ref().map(|s| s.borrow().clone())
    }

    /// Public URL of tunnel `name`, once bound.
    pub fn public_url(&self, name: &str) -> Option<String> {
        let s = self.handle.status.borrow();
        s.tunnels
            .iter()
            .find(|t| t.name == name)
            .and_then(|t| t.public_url.clone())
    }

    /// Loopback address of tcp tunnel `name` (its `tcp://host:port` URL's port on 127.0.0.1).
    pub fn tcp_addr(&self, name: &str) -> anyhow::Result<SocketAddr> {
        let url = self
            .public_url(name)
            .ok_or_else(|| anyhow::anyhow!("tunnel {name} has no public URL"))?;
        let port = url
            .rsplit_once(':')
            .and_then(|(_, p)| p.parse::<u16>().ok())
            .ok_or_else(|| anyhow::anyhow!("no port in {url}"))?;
        Ok(SocketAddr::from((Ipv4Addr::LOCALHOST, port)))
    }

    /// Cancels the agent and waits (bounded) until it reports [`SessionState::Stopped`].
    pub async fn stop(&mut self) -> anyhow::Result<()> {
        self.handle.shutdown.cancel();
        let mut rx = self.handle.status.clone();
        crate::within(
            Duration::from_secs(10),
            "agent stop",
            rx.wait_for(|s| s.state == SessionState::Stopped),
        )
        .await??;
        if let Some(join) = self.join.take() {
            crate::within(Duration::from_secs(10), "agent task end", join).await???;
        }
        Ok(())
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        self.handle.shutdown.cancel();
    }
}
