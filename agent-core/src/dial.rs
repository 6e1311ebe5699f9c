//! Reaching a relay: resolving its address, the per-address-family UDP endpoint, and trying the
//! relays the cloud lists with staggered starts ("happy eyeballs", RFC 8305 style) so a dead
//! first relay costs a short stagger instead of the whole QUIC handshake timeout.

use crate::agent::RelayTarget;
use anyhow::Context;
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::task::JoinSet;

/// Time a dial gets before the next relay's dial starts alongside it.
pub const STAGGER: Duration = Duration::from_millis(300);
/// Longest a QUIC handshake may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

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
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::sync::{Arc, Mutex};
    use tokio::time::Instant;

    /// A dial plan: per index, after how long it answers and whether it succeeds.
    fn plan(
        outcomes: &'static [(u64, bool)],
        started: Arc<Mutex<Vec<(usize, Duration)>>>,
    ) -> impl FnMut(usize) -> std::pin::Pin<Box<dyn Future<Output = anyhow::Result<usize>> + Send>>
    {
        let t0 = Instant::now();
        move |i| {
            started.lock().unwrap().push((i, t0.elapsed()));
            let (ms, ok) = outcomes[i];
            Box::pin(async move {
                tokio::time::sleep(Duration::from_millis(ms)).await;
                if ok {
                    Ok(i)
                } else {
                    Err(anyhow::anyhow!("relay {i} down"))
                }
            })
        }
    }

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_first_relay_costs_one_stagger() {
        let started = Arc::default();
        let t0 = Instant::now();
        let won = race(
            3,
            STAGGER,
            plan(
                &[(10_000, false), (50, true), (1, true)],
                Arc::clone(&started),
            ),
        )
        .await
        .unwrap();
        assert_eq!(won.0, 1);
        assert_eq!(t0.elapsed(), ms(350));
        assert_eq!(*started.lock().unwrap(), [(0, ms(0)), (1, ms(300))]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_failure_starts_the_next_dial_at_once() {
        let started = Arc::default();
        let won = race(
            3,
            STAGGER,
            plan(
                &[(20, false), (400, false), (10, true)],
                Arc::clone(&started),
            ),
        )
        .await
        .unwrap();
        assert_eq!(won.0, 2);
        assert_eq!(
            *started.lock().unwrap(),
            [(0, ms(0)), (1, ms(20)), (2, ms(320))]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_first_answer_wins_even_from_an_earlier_relay() {
        let started = Arc::default();
        let won = race(
            2,
            STAGGER,
            plan(&[(310, true), (100, true)], Arc::clone(&started)),
        )
        .await
        .unwrap();
        assert_eq!(won.0, 0);
    }

    #[tokio::test(start_paused = true)]
    async fn all_failing_reports_the_last_error() {
        let started = Arc::default();
        let err = race(
            2,
            STAGGER,
            plan(&[(1, false), (1, false)], Arc::clone(&started)),
        )
        .await
        .unwrap_err();
        assert_eq!(err.to_string(), "relay 1 down");
        let none = race(0, STAGGER, plan(&[], started)).await.unwrap_err();
        assert_eq!(none.to_string(), "no relay to connect to");
    }
}
