//! Reaching a relay: resolving its address, the per-address-family UDP endpoint, and trying the
//! relays the cloud lists with staggered starts ("happy eyeballs", RFC 8305 style) so a dead
//! first relay costs a short stagger instead of the whole QUIC handshake timeout.

use anyhow::Context;
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinSet;

/// How to reach the relay.
#[derive(Debug, Clone)]
pub struct RelayTarget {
    /// `host:port` (UDP).
    pub addr: String,
    /// Name checked against the relay's certificate (defaults to the host of `addr`).
    pub server_name: Option<String>,
    /// Extra CA (PEM) to trust, e.g. a dev relay's CA; system web roots otherwise.
    pub ca_file: Option<PathBuf>,
}

/// Time a dial gets before the next relay's dial starts alongside it.
pub const STAGGER: Duration = Duration::from_millis(300);
/// Longest a QUIC handshake may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Concurrent data streams the agent accepts from the relay.
const MAX_STREAMS: u32 = 4096;

/// Runs `dial(0)`, then `dial(1)` once `dial(0)` failed or `stagger` passed without an answer,
/// and so on; the first success wins and the attempts still running are aborted (dropping a
/// quinn `Connecting` abandons its handshake). `Err` carries the last failure.
pub async fn race<T, F, Fut>(n: usize, stagger: Duration, mut dial: F) -> anyhow::Result<(usize, T)>
where
    T: Send + 'static,
    F: FnMut(usize) -> Fut,
    Fut: Future<Output = anyhow::Result<T>> + Send + 'static,
{
    let mut running = JoinSet::new();
    let mut next = 0;
    let mut last = None;
    let mut start = |running: &mut JoinSet<_>, next: &mut usize| {
        let i = *next;
        let fut = dial(i);
        running.spawn(async move { (i, fut.await) });
        *next += 1;
    };
    loop {
        if running.is_empty() {
            if next == n {
                return Err(last.unwrap_or_else(|| anyhow::anyhow!("no relay to connect to")));
            }
            start(&mut running, &mut next);
        }
        tokio::select! {
            Some(r) = running.join_next() => match r {
                Ok((i, Ok(t))) => return Ok((i, t)),
                Ok((_, Err(e))) => {
                    last = Some(e);
                    if next < n {
                        start(&mut running, &mut next);
                    }
                }
                Err(e) => last = Some(anyhow::Error::from(e).context("dial task")),
            },
            _ = tokio::time::sleep(stagger), if next < n => start(&mut running, &mut next),
        }
    }
}

/// Resolves `relay` to a socket address and the name to check in its certificate.
pub async fn resolve_relay(relay: &RelayTarget) -> anyhow::Result<(SocketAddr, String)> {
    let addr = &relay.addr;
    let sa = tokio::net::lookup_host(addr)
        .await
        .with_context(|| format!("resolving relay {addr}"))?
        .next()
        .with_context(|| format!("relay {addr} has no address"))?;
    let name = match &relay.server_name {
        Some(n) => n.clone(),
        None => {
            let host = addr.rsplit_once(':').map_or(addr.as_str(), |(h, _)| h);
            let host = host.trim_start_matches('[').trim_end_matches(']');
            if host.parse::<std::net::IpAddr>().is_ok() {
                "localhost".to_string()
            } else {
                host.to_string()
            }
        }
    };
    Ok((sa, name))
}

/// The QUIC client configuration for relays: TLS 1.3 with the web roots plus `ca_file`, and
/// the same transport parameters as the relay's.
pub fn client_config(ca_file: Option<&Path>) -> anyhow::Result<quinn::ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots =
        rustls::RootCertStore::from_iter(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(ca) = ca_file {
        let pem =
            std::fs::read(ca).with_context(|| format!("reading relay CA {}", ca.display()))?;
        for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
            roots.add(cert.with_context(|| format!("parsing {}", ca.display()))?)?;
        }
    }
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_root_certificates(roots)
        .with_no_client_auth();
    tls.alpn_protocols = vec![fdt_proto::ALPN.to_vec()];
    let crypto = quinn::crypto::rustls::QuicClientConfig::try_from(tls)?;
    let mut cfg = quinn::ClientConfig::new(Arc::new(crypto));
    let mut transport = quinn::TransportConfig::default();
    transport.max_concurrent_bidi_streams(MAX_STREAMS.into());
    transport.max_concurrent_uni_streams(0u32.into());
    fdt_proto::transport::apply(&mut transport);
    // Liveness: the agent pings a quiet relay often and asks for a short idle timeout, so a
    // dead relay is noticed within 1.6 s (see `AGENT_IDLE_TIMEOUT_MS`).
    transport.keep_alive_interval(Some(Duration::from_millis(
        fdt_proto::transport::AGENT_KEEP_ALIVE_MS,
    )));
    transport.max_idle_timeout(Some(
        Duration::from_millis(fdt_proto::transport::AGENT_IDLE_TIMEOUT_MS).try_into()?,
    ));
    cfg.transport_config(Arc::new(transport));
    Ok(cfg)
}

/// Moves the relays at `addr` to the end of `relays`, keeping the others' order: the relay a
/// session was just lost on is dialled last, after the staggered dials of the others.
pub fn demote(relays: &mut [RelayTarget], addr: &str) {
    relays.sort_by_key(|r| r.addr == addr);
}

/// Completes a QUIC handshake with one of `relays`: staggered, best first (see [`race`]),
/// when they share an address family; one by one otherwise, because the endpoint is per
/// family and switching it closes the other family's dials.
pub async fn reach<'r>(
    relays: &'r [RelayTarget],
    slot: &mut EndpointSlot,
    client_cfg: &quinn::ClientConfig,
) -> anyhow::Result<(quinn::Connection, SocketAddr, &'r RelayTarget)> {
    let unreachable = |relay: &str, e: &anyhow::Error| {
        tracing::warn!(relay = %relay, error = %format!("{e:#}"), "relay unreachable");
    };
    let mut last = None;
    let mut resolved = Vec::new();
    for relay in relays {
        match resolve_relay(relay).await {
            Ok((addr, name)) => resolved.push((relay, addr, name)),
            Err(e) => {
                unreachable(&relay.addr, &e);
                last = Some(e);
            }
        }
    }
    let one_family = resolved
        .windows(2)
        .all(|w| w[0].1.is_ipv6() == w[1].1.is_ipv6());
    if let Some((_, first, _)) = resolved.first()
        && one_family
    {
        let endpoint = slot.for_addr(*first, client_cfg)?;
        let won = race(resolved.len(), STAGGER, |i| {
            let (relay, addr, name) = &resolved[i];
            let (relay, addr) = (relay.addr.clone(), *addr);
            let handshake = handshake(endpoint.clone(), addr, name.clone());
            async move {
                let r = handshake.await;
                if let Err(e) = &r {
                    unreachable(&relay, e);
                }
                r
            }
        })
        .await;
        match won {
            Ok((i, conn)) => return Ok((conn, resolved[i].1, resolved[i].0)),
            Err(e) => last = Some(e),
        }
    } else {
        for (relay, addr, name) in &resolved {
            let endpoint = slot.for_addr(*addr, client_cfg)?;
            match handshake(endpoint, *addr, name.clone()).await {
                Ok(conn) => return Ok((conn, *addr, relay)),
                Err(e) => {
                    unreachable(&relay.addr, &e);
                    last = Some(e);
                }
            }
        }
    }
    Err(last.unwrap_or_else(|| anyhow::anyhow!("no relay to connect to")))
}

/// Completes the QUIC handshake with `addr` on `endpoint`.
pub async fn handshake(
    endpoint: quinn::Endpoint,
    addr: SocketAddr,
    name: String,
) -> anyhow::Result<quinn::Connection> {
    tokio::time::timeout(HANDSHAKE_TIMEOUT, endpoint.connect(addr, &name)?)
        .await
        .context("QUIC handshake timed out")?
        .context("QUIC handshake")
}

/// The agent's UDP endpoint, bound to the address family of the relay it talks to: a socket
/// of the relay's own family lets the kernel set "don't fragment", without which QUIC cannot
/// run path-MTU discovery (a dual-stack socket talking to an IPv4-mapped address cannot).
#[derive(Default)]
pub struct EndpointSlot(pub Option<(bool, quinn::Endpoint)>);

impl EndpointSlot {
    /// The endpoint for `relay`'s family, replacing (and closing) one of the other family.
    pub fn for_addr(
        &mut self,
        relay: SocketAddr,
        cfg: &quinn::ClientConfig,
    ) -> anyhow::Result<quinn::Endpoint> {
        let v6 = relay.is_ipv6();
        if let Some((fam, ep)) = &self.0
            && *fam == v6
        {
            return Ok(ep.clone());
        }
        let bind: SocketAddr = if v6 {
            (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
        } else {
            (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
        };
        let socket = std::net::UdpSocket::bind(bind).context("opening a UDP socket")?;
        // Large buffers so bursts at gigabit rates are not dropped between polls; the kernel
        // may cap them, which only costs throughput.
        let sock = socket2::SockRef::from(&socket);
        let _ = sock.set_recv_buffer_size(4 << 20);
        let _ = sock.set_send_buffer_size(4 << 20);
        let runtime = quinn::default_runtime().context("no async runtime for QUIC")?;
        let mut endpoint =
            quinn::Endpoint::new(quinn::EndpointConfig::default(), None, socket, runtime)
                .context("starting the QUIC client endpoint")?;
        endpoint.set_default_client_config(cfg.clone());
        if let Some((_, old)) = self.0.replace((v6, endpoint.clone())) {
            old.close(0u32.into(), b"address family changed");
        }
        Ok(endpoint)
    }
}

#[cfg(test)]
mod tests;
