//! A fleet in several regions for the scale-out stories: a control plane in this process
//! (heartbeats every second, a relay unhealthy after 3 s of silence, every region failing over
//! to the others) and one real `fdt-relay` process per region, all serving one certificate for
//! `localhost` from one CA (agents and the relays' peer connections trust it), each with an
//! HTTPS edge (tunnels' public URLs are `https://`; tests reach HTTP tunnels on the HTTP edges).
//! Relays forward visitors of names they do not hold to the relay that does.
//! [`Fleet::start_external`] attaches the relays to another control plane (replicas behind a
//! balancer), optionally each in its own namespace of a [`Lan`].

use crate::cloud::CloudAccount;
use crate::netns::Lan;
use crate::{Agent, Cloud, HttpOrigin, RelayProcess, RelayProcessOptions, TlsFiles};
use fdt_agent_core::config::TunnelConfig;
use fdt_agent_core::{CloudLogin, Connect};
use fdt_cloud::Store;
use fdt_proto::Proto;
use std::collections::BTreeMap;
use std::time::Duration;

/// Three relays in three regions, the scale-out stories' fleet.
pub const THREE_REGIONS: &[(&str, &str)] = &[("eu-1", "eu"), ("us-1", "us"), ("ap-1", "ap")];

/// How long the relays get to register.
const SETTLE: Duration = Duration::from_secs(20);

/// The control plane and its relays; the relays are SIGKILLed when dropped.
pub struct Fleet {
    /// The control plane in this process, unless the fleet was started on another
    /// ([`Fleet::start_external`]).
    cloud: Option<Cloud>,
    /// The control plane's base URL, as relays and agents reach it.
    pub cloud_url: String,
    /// The relays, in the order asked for.
    pub relays: Vec<RelayProcess>,
    /// The certificate every relay serves, and its CA.
    pub tls: TlsFiles,
    tls_dir: tempfile::TempDir,
    /// The namespaces the relays run in, when they do (dropped after the relays).
    lan: Option<Lan>,
}

impl Fleet {
    /// Starts the control plane on `store` and one relay per `(id, region)`, and waits
    /// (bounded) until every relay has been heard from within the health window.
    pub async fn start(store: Store, relays: &[(&str, &str)]) -> anyhow::Result<Self> {
        Self::start_in_process(store, relays, None).await
    }

    /// Like [`Fleet::start`], with every relay listening on the TCP port range `ports` for
    /// its region (`tcp_forward`), each on its own loopback address (`127.a.b.2`, `127.a.b.3`,
    /// … for a random `a.b`: they all listen on the same ports, and so may another test's
    /// fleet at the same time), and the control plane reserving TCP addresses in that range.
    pub async fn start_tcp_regions(
        store: Store,
        relays: &[(&str, &str)],
        ports: (u16, u16),
    ) -> anyhow::Result<Self> {
        Self::start_in_process(store, relays, Some(ports)).await
    }

    /// Relays attached to the control plane at `cloud_url` (e.g. replicas behind a balancer,
    /// reachable from `lan`'s namespaces when given), one per member of `lan` when given;
    /// `store` is that control plane's database, read to see the relays registered. The
    /// control plane's fleet settings must give heartbeats every second.
    pub async fn start_external(
        cloud_url: &str,
        store: &Store,
        relays: &[(&str, &str)],
        lan: Option<Lan>,
    ) -> anyhow::Result<Self> {
        Self::start_relays(None, cloud_url.to_owned(), store, relays, lan, None).await
    }

    async fn start_in_process(
        store: Store,
        relays: &[(&str, &str)],
        tcp_ports: Option<(u16, u16)>,
    ) -> anyhow::Result<Self> {
        let regions: Vec<String> = relays.iter().map(|(_, r)| (*r).to_owned()).collect();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let cloud = Cloud::start_with(listener, store.clone(), |c| {
            c.relays.clear();
            c.fleet.heartbeat_secs = 1;
            c.fleet.unhealthy_after_secs = 3;
            if let Some(ports) = tcp_ports {
                c.fleet.reserved_tcp_ports = ports;
            }
            c.fleet.failover = regions
                .iter()
                .map(|r| {
                    let others = regions.iter().filter(|o| *o != r).cloned().collect();
                    (r.clone(), others)
                })
                .collect::<BTreeMap<_, _>>();
        });
        let url = cloud.url.clone();
        Self::start_relays(Some(cloud), url, &store, relays, None, tcp_ports).await
    }

    async fn start_relays(
        cloud: Option<Cloud>,
        cloud_url: String,
        store: &Store,
        relays: &[(&str, &str)],
        lan: Option<Lan>,
        tcp_ports: Option<(u16, u16)>,
    ) -> anyhow::Result<Self> {
        let tls_dir = tempfile::tempdir()?;
        let tls = TlsFiles::issue(tls_dir.path(), &["localhost".to_string()])?;
        let subnet: (u8, u8) = (rand::random_range(1..=254), rand::random_range(0..=255));
        let opts: Vec<_> = relays
            .iter()
            .enumerate()
            .map(|(i, (id, region))| {
                let ns = lan.as_ref().and_then(|l| l.members.get(i));
                // Relays sharing TCP ports each have their own loopback address.
                let loopback = match tcp_ports {
                    Some(_) => std::net::Ipv4Addr::new(127, subnet.0, subnet.1, 2 + i as u8),
                    None => std::net::Ipv4Addr::LOCALHOST,
                };
                RelayProcessOptions {
                    https_edge: true,
                    bind_ip: ns.map_or(loopback, |n| n.ns_ip).into(),
                    netns: ns.map(|n| n.name.clone()),
                    tcp_forward: tcp_ports,
                    ..RelayProcessOptions::fleet(id, region, &cloud_url, &tls)
                }
            })
            .collect();
        let started = futures_util::future::join_all(opts.iter().map(RelayProcess::start)).await;
        let relays = started.into_iter().collect::<anyhow::Result<Vec<_>>>()?;
        let fleet = Self {
            cloud,
            cloud_url,
            relays,
            tls,
            tls_dir,
            lan,
        };
        let want = fleet.relays.len();
        crate::poll_until(SETTLE, "every relay heartbeating", || async {
            let listed = store.list_relays().await.ok()?;
            let cutoff = time::OffsetDateTime::now_utc() - time::Duration::seconds(3);
            let fresh = listed.iter().filter(|r| r.last_seen_at >= cutoff).count();
            (fresh == want).then_some(())
        })
        .await
        .map_err(|e| anyhow::anyhow!("{e}\n{}", fleet.logs()))?;
        Ok(fleet)
    }

    /// The control plane in this process.
    ///
    /// # Panics
    /// When the fleet runs on another control plane ([`Fleet::start_external`]): a test's
    /// mistake.
    pub fn cloud(&self) -> &Cloud {
        self.cloud
            .as_ref()
            .expect("this fleet's control plane is not in this process")
    }

    /// The LAN the relays are on, when they are in namespaces.
    pub fn lan(&self) -> Option<&Lan> {
        self.lan.as_ref()
    }

    /// The relay `id`.
    pub fn relay(&self, id: &str) -> &RelayProcess {
        self.relays
            .iter()
            .find(|r| r.id == id)
            .unwrap_or_else(|| panic!("no relay {id} in this fleet"))
    }

    /// The relay `id`, to stop it.
    pub fn relay_mut(&mut self, id: &str) -> &mut RelayProcess {
        self.relays
            .iter_mut()
            .find(|r| r.id == id)
            .unwrap_or_else(|| panic!("no relay {id} in this fleet"))
    }

    /// The CA that issued the relays' certificate (for origins whose certificate the tests
    /// check).
    pub fn dev_ca(&self) -> anyhow::Result<fdt_relay::tls::DevCa> {
        Ok(fdt_relay::tls::DevCa::load_or_create(
            &self.tls_dir.path().join("dev-ca"),
        )?)
    }

    /// How an agent of `account` preferring `region` logs in (trusting the relays' CA).
    pub fn login(&self, account: &CloudAccount, region: &str) -> CloudLogin {
        CloudLogin {
            api_url: self.cloud_url.clone(),
            authtoken: account.authtoken_secret(),
            region: Some(region.into()),
            relay_ca: Some(self.tls.ca.clone()),
        }
    }

    /// An agent of `account` preferring `region` with `tunnels`, bound (bounded wait; the
    /// relays' logs on failure).
    pub async fn bound_agent(
        &self,
        account: &CloudAccount,
        region: &str,
        tunnels: Vec<(&str, TunnelConfig)>,
    ) -> Agent {
        let connect = Connect::Cloud(self.login(account, region));
        let mut agent = Agent::spawn(connect, tunnels).expect("agent");
        if let Err(e) = agent.wait_bound().await {
            panic!("{e}\n{}", self.logs());
        }
        agent
    }

    /// An HTTP tunnel on `sub` to a new origin (returned, to keep it serving).
    pub async fn http_tunnel(sub: &str) -> (TunnelConfig, HttpOrigin) {
        let origin = HttpOrigin::start().await.expect("origin");
        let mut tunnel = TunnelConfig::new(Proto::Http, origin.addr.to_string());
        tunnel.subdomain = Some(sub.into());
        (tunnel, origin)
    }

    /// A client that sends requests for tunnel `sub` to `relay`'s HTTP edge (wherever it
    /// listens), with `timeout` on each.
    pub fn client(relay: &RelayProcess, sub: &str, timeout: Duration) -> reqwest::Client {
        reqwest::Client::builder()
            .resolve(
                &format!("{sub}.{}", crate::stack::BASE_DOMAIN),
                relay.http_addr,
            )
            .timeout(timeout)
            .build()
            .expect("a reqwest client")
    }

    /// Every relay's log (its last 8 KiB), for a failure message.
    pub fn logs(&self) -> String {
        crate::relay_process::tail_logs(self.relays.iter())
    }
}
