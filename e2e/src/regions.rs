//! Two regions, for the stories where a relay dies: a control plane in this process whose
//! fleet fails `eu` over to `us` (heartbeats every second, a relay unhealthy after 3 s of
//! silence), and two real `fdt-relay` processes, `eu-1` in `eu` and `us-1` in `us`, that
//! register by heartbeat and serve one certificate for `localhost` (so an agent trusts both
//! with one CA). Their HTTP tunnels' public URLs are on the HTTP edges, which curl and reqwest
//! reach without a certificate for the tunnel's name.
//!
//! [`TwoRegions::start_behind`] puts an impairment proxy ([`crate::impair::UdpProxy`]) in
//! front of each relay's agent port and has the relays advertise it, so agents reach them only
//! through the impaired path (loss, delay, a [`crate::impair::Partition`]).

use crate::cloud::CloudAccount;
use crate::impair::{Counters, UdpConfig, UdpProxy};
use crate::{Agent, Cloud, HttpOrigin, RelayProcess, RelayProcessOptions, TlsFiles};
use fdt_agent_core::CloudLogin;
use fdt_agent_core::Connect;
use fdt_agent_core::config::TunnelConfig;
use fdt_cloud::Store;
use fdt_proto::Proto;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::{CancellationToken, DropGuard};

/// How long the relays get to register.
const SETTLE: Duration = Duration::from_secs(20);

/// The control plane and its two relays; the relays are SIGKILLed when dropped.
pub struct TwoRegions {
    /// The control plane.
    pub cloud: Cloud,
    /// `eu-1`, region `eu` (fails over to `us`).
    pub eu: RelayProcess,
    /// `us-1`, region `us`.
    pub us: RelayProcess,
    /// The certificate both relays serve, and its CA.
    pub tls: TlsFiles,
    /// The counters of the proxies in front of `eu` and `us`, when started behind them.
    pub proxies: Option<[Arc<Counters>; 2]>,
    _proxies_stop: Option<DropGuard>,
    _tls_dir: tempfile::TempDir,
}

impl TwoRegions {
    /// Starts the control plane on `store` and both relays, and waits (bounded) until both
    /// have been heard from within the health window.
    pub async fn start(store: Store) -> anyhow::Result<Self> {
        Self::start_behind(store, None).await
    }

    /// [`TwoRegions::start`], with agents reaching each relay only through its own proxy
    /// configured by `path` (when given). The proxies stop when this is dropped.
    pub async fn start_behind(store: Store, path: Option<UdpConfig>) -> anyhow::Result<Self> {
        // Bound first, so the relays can advertise them; forwarding starts once the relays'
        // agent ports are known.
        let sockets = match &path {
            Some(_) => Some((
                tokio::net::UdpSocket::bind("127.0.0.1:0").await?,
                tokio::net::UdpSocket::bind("127.0.0.1:0").await?,
            )),
            None => None,
        };
        let advertised = match &sockets {
            Some((eu, us)) => [Some(eu.local_addr()?), Some(us.local_addr()?)],
            None => [None, None],
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let cloud = Cloud::start_with(listener, store, |c| {
            c.relays.clear();
            c.fleet.heartbeat_secs = 1;
            c.fleet.unhealthy_after_secs = 3;
            c.fleet.failover = BTreeMap::from([("eu".to_string(), vec!["us".to_string()])]);
        });
        let tls_dir = tempfile::tempdir()?;
        let tls = TlsFiles::issue(tls_dir.path(), &["localhost".to_string()])?;
        let relay = |id: &str, region: &str, advertise| RelayProcessOptions {
            advertise_agent_addr: advertise,
            ..RelayProcessOptions::fleet(id, region, &cloud.url, &tls)
        };
        let eu_opts = relay("eu-1", "eu", advertised[0]);
        let us_opts = relay("us-1", "us", advertised[1]);
        let (eu, us) = tokio::join!(RelayProcess::start(&eu_opts), RelayProcess::start(&us_opts));
        let (eu, us) = (eu?, us?);
        let (proxies, stop) = match (sockets, path) {
            (Some((eu_socket, us_socket)), Some(config)) => {
                let stop = CancellationToken::new();
                let eu_proxy = UdpProxy::new(eu_socket, eu.agent_addr, config.clone());
                let us_proxy = UdpProxy::new(us_socket, us.agent_addr, config);
                let counters = [eu_proxy.counters(), us_proxy.counters()];
                tokio::spawn(eu_proxy.run(stop.clone()));
                tokio::spawn(us_proxy.run(stop.clone()));
                (Some(counters), Some(stop.drop_guard()))
            }
            _ => (None, None),
        };
        let regions = Self {
            cloud,
            eu,
            us,
            tls,
            proxies,
            _proxies_stop: stop,
            _tls_dir: tls_dir,
        };
        let fresh = crate::poll_until(SETTLE, "both relays heartbeating", || async {
            let listed = regions.cloud.state.store().list_relays().await.ok()?;
            let cutoff = time::OffsetDateTime::now_utc() - time::Duration::seconds(3);
            let fresh: Vec<_> = listed
                .iter()
                .filter(|r| r.last_seen_at >= cutoff)
                .map(|r| (r.id.clone(), r.region.clone()))
                .collect();
            (fresh.len() == 2).then_some(fresh)
        })
        .await
        .map_err(|e| anyhow::anyhow!("{e}\n{}", regions.logs()))?;
        let pair = |id: &str, region: &str| (id.to_string(), region.to_string());
        anyhow::ensure!(
            fresh == [pair("eu-1", "eu"), pair("us-1", "us")],
            "registered {fresh:?}"
        );
        Ok(regions)
    }

    /// How an agent of `account` preferring `eu` logs in (trusting the relays' CA).
    pub fn login(&self, account: &CloudAccount) -> CloudLogin {
        CloudLogin {
            api_url: self.cloud.url.clone(),
            authtoken: account.authtoken_secret(),
            region: Some("eu".into()),
            relay_ca: Some(self.tls.ca.clone()),
        }
    }

    /// An agent of `account` preferring `eu`, with one HTTP tunnel `name` on `sub` to a new
    /// origin (returned, to keep it serving), bound (bounded wait; the relays' logs on failure).
    pub async fn bound_agent(
        &self,
        account: &CloudAccount,
        name: &str,
        sub: &str,
    ) -> (Agent, HttpOrigin) {
        let origin = HttpOrigin::start().await.expect("origin");
        let mut tunnel = TunnelConfig::new(Proto::Http, origin.addr.to_string());
        tunnel.subdomain = Some(sub.into());
        let connect = Connect::Cloud(self.login(account));
        let mut agent = Agent::spawn(connect, vec![(name, tunnel)]).expect("agent");
        if let Err(e) = agent.wait_bound().await {
            panic!("{e}\n{}", self.logs());
        }
        (agent, origin)
    }

    /// Both relays' logs (their last 8 KiB), for a failure message.
    pub fn logs(&self) -> String {
        crate::relay_process::tail_logs([&self.eu, &self.us])
    }
}
