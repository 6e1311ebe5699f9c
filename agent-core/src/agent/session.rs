//! One control session on one QUIC connection: `Hello`, binding the tunnels (and asking again
//! for names the relay could not decide yet), routing data streams to their local targets,
//! running the replay jobs the relay sends, until the session closes.

use crate::bind_retry::BindRetries;
use crate::config::ResolvedTunnel;
use crate::forward::{LocalTarget, Targets, accept_streams};
use crate::inspect::Inspector;
use crate::replay::{JobResult, ReplayJobs};
use crate::status::{AgentStatus, Counters, SessionState};
use crate::version::AGENT_VERSION;
use anyhow::Context;
use fdt_proto::frame::FrameReader;
use fdt_proto::session::{AgentEvent, AgentSession, CloseReason, Timing};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{Notify, watch};
use tokio_util::sync::CancellationToken;

/// What every session of one agent shares and what outlives each of them: the tunnels to
/// bind, the status, the counters, the bound targets and the replay jobs.
pub(super) struct SessionDriver {
    /// Tunnels to bind on every session.
    pub(super) tunnels: Vec<ResolvedTunnel>,
    /// The status the handle watches.
    pub(super) status: watch::Sender<AgentStatus>,
    /// Traffic counters.
    pub(super) counters: Arc<Counters>,
    /// Cancelled to stop the agent.
    pub(super) shutdown: CancellationToken,
    /// The bound tunnels' local sides, by tunnel id.
    pub(super) targets: Targets,
    /// Woken whenever a tunnel is bound, for streams that raced ahead of their `Bound`.
    pub(super) bound: Arc<Notify>,
    /// Captured traffic, when inspection is on.
    pub(super) inspector: Option<Inspector>,
    /// Replays the relay asks for (queued in the cloud).
    pub(super) jobs: Arc<ReplayJobs>,
}

impl SessionDriver {
    /// The host (and port) of tunnel `name`'s public URL, which replays may keep as Host.
    fn public_host(&self, name: &str) -> Option<String> {
        let s = self.status.borrow();
        let url = s
            .tunnels
            .iter()
            .find(|t| t.name == name)?
            .public_url
            .clone()?;
        let rest = url.split_once("://").map_or(url.as_str(), |(_, r)| r);
        Some(rest.split('/').next().unwrap_or(rest).to_string())
    }

    /// Forgets the bound tunnels after a session ended, before the next attempt.
    pub(super) fn set_offline(&self) {
        self.targets
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        self.status.send_modify(|s| {
            s.state = SessionState::Reconnecting;
            s.session = None;
            s.reconnects += 1;
            for t in &mut s.tunnels {
                t.public_url = None;
            }
        });
    }

    /// One connection's life. `Ok((reason, was_ready))` once the session ends.
    pub(super) async fn run(
        &self,
        conn: quinn::Connection,
        addr: SocketAddr,
        token: String,
    ) -> anyhow::Result<(CloseReason, bool)> {
        let (mut send, mut recv) = conn.open_bi().await.context("opening control stream")?;
        let now = Instant::now();
        let mut session = AgentSession::new(now, Timing::default(), token, AGENT_VERSION.into());
        let by_name: HashMap<String, ResolvedTunnel> = self
            .tunnels
            .iter()
            .map(|t| (t.spec.name.clone(), t.clone()))
            .collect();
        for t in &self.tunnels {
            session.bind(now, t.spec.clone());
        }
        let (job_tx, mut job_rx) = tokio::sync::mpsc::channel::<JobResult>(64);
        let streams = tokio::spawn(accept_streams(
            conn.clone(),
            self.targets.clone(),
            self.bound.clone(),
            self.counters.clone(),
        ));
        let mut reader = FrameReader::new();
        let mut buf = vec![0u8; 16 * 1024];
        let mut was_ready = false;
        let mut retries = BindRetries::default();
        let result = 'outer: loop {
            let mut out = bytes::BytesMut::new();
            session.encode_transmits(&mut out)?;
            if !out.is_empty() {
                send.write_all(&out)
                    .await
                    .context("writing control stream")?;
            }
            while let Some(ev) = session.poll_event() {
                match ev {
                    AgentEvent::Ready { session: id } => {
                        was_ready = true;
                        tracing::info!(session = %id, relay = %addr, "connected to relay");
                        self.status.send_modify(|s| {
                            s.state = SessionState::Online;
                            s.session = Some(id);
                            s.last_error = None;
                        });
                    }
                    AgentEvent::Bound {
                        name,
                        tunnel,
                        public_url,
                    } => {
                        if retries.succeeded(&name) {
                            self.status.send_modify(|s| s.last_error = None);
                        }
                        if let Some(t) = by_name.get(&name) {
                            let target = LocalTarget::new(t.clone())
                                .map_err(|e| anyhow::anyhow!("TLS set-up for {name}: {e}"))?
                                .with_inspector(self.inspector.clone());
                            self.targets
                                .write()
                                .unwrap_or_else(|e| e.into_inner())
                                .insert(tunnel, Arc::new(target));
                            self.bound.notify_waiters();
                            tracing::info!(%name, url = %public_url, addr = %t.upstream.display(), "tunnel online");
                            self.status.send_modify(|s| {
                                if let Some(ts) = s.tunnels.iter_mut().find(|x| x.name == name) {
                                    ts.public_url = Some(public_url.clone());
                                    ts.error = None;
                                }
                            });
                        }
                    }
                    AgentEvent::BindFailed { name, error }
                        if BindRetries::is_retryable(error.code) =>
                    {
                        // The relay could not decide (e.g. its control plane is down): ask
                        // again later on this session instead of giving the name up.
                        let delay = retries.schedule(&name, Instant::now(), rand::random());
                        tracing::warn!(%name, %error, retry_in = ?delay, "relay could not bind the tunnel yet; retrying");
                        self.status.send_modify(|s| {
                            s.last_error = Some(format!("tunnel {name}: {error}; retrying"));
                        });
                    }
                    AgentEvent::BindFailed { name, error } => {
                        tracing::error!(%name, %error, "relay refused the tunnel");
                        self.status.send_modify(|s| {
                            if let Some(ts) = s.tunnels.iter_mut().find(|x| x.name == name) {
                                ts.error = Some(error.to_string());
                            }
                        });
                    }
                    AgentEvent::Unbound {
                        name,
                        tunnel,
                        reason,
                    } => {
                        // Closed on the relay's side (stopped from the console, or bound
                        // again elsewhere): not re-bound on this session.
                        tracing::warn!(%name, %reason, "relay closed the tunnel");
                        self.targets
                            .write()
                            .unwrap_or_else(|e| e.into_inner())
                            .remove(&tunnel);
                        self.status.send_modify(|s| {
                            if let Some(ts) = s.tunnels.iter_mut().find(|x| x.name == name) {
                                ts.public_url = None;
                                ts.error = Some(format!("closed by the relay: {reason}"));
                            }
                        });
                    }
                    AgentEvent::Replay {
                        job,
                        tunnel,
                        request,
                    } => {
                        // The same guarded replay as the local API's: this tunnel's
                        // configured upstream only; the result comes back on `job_rx`.
                        let name = self
                            .targets
                            .read()
                            .unwrap_or_else(|e| e.into_inner())
                            .get(&tunnel)
                            .map(|t| t.tunnel.spec.name.clone());
                        let public_host = name.as_ref().and_then(|n| self.public_host(n));
                        // Not bound here: the job fails as an unknown tunnel, named by its id.
                        let name = name.unwrap_or_else(|| tunnel.to_string());
                        self.jobs
                            .start(job, name, public_host, request, job_tx.clone());
                    }
                    AgentEvent::Closed(reason) => break 'outer Ok((reason, was_ready)),
                }
            }
            // Saturates after ~584,000 years; the cast cannot matter.
            let rtt_us = u64::try_from(conn.rtt().as_micros()).unwrap_or(u64::MAX);
            self.counters
                .rtt_us
                .store(rtt_us, std::sync::atomic::Ordering::Relaxed);
            let deadline = session
                .poll_timeout()
                .unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
            let deadline = retries.next_due().map_or(deadline, |due| due.min(deadline));
            tokio::select! {
                r = recv.read(&mut buf) => match r {
                    Ok(Some(n)) => {
                        reader.push(&buf[..n]);
                        if let Err(e) = session.handle_frames(Instant::now(), &mut reader) {
                            break Err(anyhow::anyhow!("relay sent an invalid frame: {e}"));
                        }
                    }
                    Ok(None) => break Ok((CloseReason::TimedOut, was_ready)),
                    Err(e) => break Err(anyhow::Error::from(e).context("control stream")),
                },
                _ = tokio::time::sleep_until(deadline.into()) => {
                    let now = Instant::now();
                    session.handle_timeout(now);
                    for name in retries.take_due(now) {
                        if let Some(t) = by_name.get(&name) {
                            session.bind(now, t.spec.clone());
                        }
                    }
                }
                Some(r) = job_rx.recv() => {
                    session.replay_result(r.job, r.status, r.error);
                }
                _ = self.shutdown.cancelled() => {
                    session.close(CloseReason::Local);
                }
            }
        };
        streams.abort();
        let code = if matches!(result, Ok((CloseReason::Local, _))) {
            0u32
        } else {
            1u32
        };
        conn.close(code.into(), b"agent session over");
        result
    }
}
