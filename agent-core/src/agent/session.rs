//! One control session on one QUIC connection: `Hello`, binding the tunnels (and asking again
//! for names the relay could not decide yet), routing data streams to their local targets,
//! running the replay jobs the relay sends, until the session closes.

use super::live::{BoundAnswer, LiveTunnels, Step};
use super::tunnels::TunnelSet;
use crate::bind_retry::BindRetries;
use crate::config::ResolvedTunnel;
use crate::forward::{LocalTarget, Targets, accept_streams};
use crate::inspect::Inspector;
use crate::replay::{JobResult, ReplayJobs};
use crate::status::{AgentStatus, Counters, SessionState, TunnelStatus};
use crate::version::AGENT_VERSION;
use anyhow::Context;
use fdt_proto::frame::FrameReader;
use fdt_proto::session::{AgentEvent, AgentSession, CloseReason, Timing};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{Notify, watch};
use tokio_util::sync::CancellationToken;

/// What every session of one agent shares and what outlives each of them: the tunnels to
/// bind, the status, the counters, the bound targets and the replay jobs.
pub(super) struct SessionDriver {
    /// The tunnels wanted now; every session follows it live.
    pub(super) tunnels: TunnelSet,
    /// The definitions the status's tunnel lines show (see [`Self::show_tunnels`]).
    pub(super) shown: Mutex<Vec<ResolvedTunnel>>,
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
    /// Ask for the account's cloud-managed tunnels.
    pub(super) managed: bool,
    /// The replica group this session belongs to and its index, when the agent keeps two.
    pub(super) ha_group: Option<(String, u8)>,
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

    /// Makes the status's tunnel lines match `desired`, in its order: a new or redefined
    /// tunnel gets a fresh line (no URL yet, no error), the others keep theirs.
    pub(super) fn show_tunnels(&self, desired: &[ResolvedTunnel]) {
        let mut shown = self.shown.lock().unwrap_or_else(|e| e.into_inner());
        if *shown == desired {
            return;
        }
        self.status.send_modify(|s| {
            let mut old = std::mem::take(&mut s.tunnels);
            s.tunnels = desired
                .iter()
                .map(|t| {
                    let same = shown.iter().any(|o| o == t);
                    match old.iter().position(|l| l.name == t.spec.name) {
                        Some(i) if same => old.swap_remove(i),
                        _ => TunnelStatus::offline(t),
                    }
                })
                .collect();
        });
        *shown = desired.to_vec();
    }

    /// Performs `steps` on `session`: binds, and releases (whose local targets go at once,
    /// so no new stream reaches a tunnel being released).
    fn apply(&self, session: &mut AgentSession, steps: Vec<Step>) {
        let now = Instant::now();
        for step in steps {
            match step {
                Step::Bind(t) => session.bind(now, t.spec),
                Step::Unbind(id) => {
                    let gone = self
                        .targets
                        .write()
                        .unwrap_or_else(|e| e.into_inner())
                        .remove(&id);
                    if let Some(t) = gone {
                        tracing::info!(name = %t.tunnel.spec.name, "tunnel stopped");
                    }
                    session.unbind(id);
                }
            }
        }
    }

    /// Serves bound tunnel `t` as `id`: its local target, its line in the status.
    fn serve(
        &self,
        t: &ResolvedTunnel,
        id: fdt_proto::TunnelId,
        public_url: &str,
    ) -> anyhow::Result<()> {
        let name = &t.spec.name;
        let target = LocalTarget::new(t.clone())
            .map_err(|e| anyhow::anyhow!("TLS set-up for {name}: {e}"))?
            .with_inspector(self.inspector.clone());
        self.targets
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id, Arc::new(target));
        self.bound.notify_waiters();
        tracing::info!(%name, url = %public_url, addr = %t.upstream.display(), "tunnel online");
        self.status.send_modify(|s| {
            if let Some(ts) = s.tunnels.iter_mut().find(|x| x.name == *name) {
                ts.public_url = Some(public_url.to_string());
                ts.error = None;
                ts.error_code = None;
            }
        });
        Ok(())
    }

    /// Runs the enabled cloud-managed definitions (the set's change reaches every session
    /// through `desired_rx`); definitions that cannot run are logged and shown.
    fn apply_definitions(&self, version: u64, tunnels: &[fdt_proto::ManagedTunnel]) {
        let (run, bad) = super::managed::enabled(tunnels);
        tracing::info!(
            version,
            defined = tunnels.len(),
            running = run.len(),
            "cloud-managed tunnels updated"
        );
        let refused = self.tunnels.apply_managed(run);
        let mut problems: Vec<String> = bad.iter().map(ToString::to_string).collect();
        problems.extend(
            refused
                .iter()
                .map(|e| format!("managed tunnel not started: {e}")),
        );
        for p in &problems {
            tracing::warn!("{p}");
        }
        if let Some(first) = problems.into_iter().next() {
            self.status.send_modify(|s| s.last_error = Some(first));
        }
    }

    /// One connection's life: `Ok(reason)` once the session ends, or why it broke. `ready`
    /// is set when the relay accepts the session, so the caller knows, even from an error
    /// (the connection timing out), that a working session was lost.
    pub(super) async fn run(
        &self,
        conn: quinn::Connection,
        addr: SocketAddr,
        token: String,
        ready: &mut Option<Instant>,
    ) -> anyhow::Result<CloseReason> {
        let (mut send, mut recv) = conn.open_bi().await.context("opening control stream")?;
        let now = Instant::now();
        let mut session = AgentSession::new(now, Timing::default(), token, AGENT_VERSION.into());
        if self.managed {
            session = session.managed();
        }
        if let Some((group, replica)) = &self.ha_group {
            session = session.ha_group(group.clone(), *replica);
        }
        let mut desired_rx = self.tunnels.subscribe();
        let mut desired = desired_rx.borrow_and_update().clone();
        self.show_tunnels(&desired);
        let mut live = LiveTunnels::default();
        let steps = live.reconcile(&desired);
        self.apply(&mut session, steps);
        let (job_tx, mut job_rx) = tokio::sync::mpsc::channel::<JobResult>(64);
        let streams = tokio::spawn(accept_streams(
            conn.clone(),
            self.targets.clone(),
            self.bound.clone(),
            self.counters.clone(),
        ));
        let mut reader = FrameReader::new();
        let mut buf = vec![0u8; 16 * 1024];
        let mut retries = BindRetries::default();
        let result = 'outer: loop {
            while let Some(ev) = session.poll_event() {
                match ev {
                    AgentEvent::Ready { session: id } => {
                        *ready = Some(Instant::now());
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
                    } => match live.bound(&name, tunnel, &desired) {
                        BoundAnswer::Serve(t) => {
                            if retries.succeeded(&name) {
                                self.status.send_modify(|s| s.last_error = None);
                            }
                            self.serve(&t, tunnel, &public_url)?;
                        }
                        BoundAnswer::Release(steps) => self.apply(&mut session, steps),
                    },
                    AgentEvent::BindFailed { name, error } => {
                        // Retryable: the relay could not decide (e.g. its control plane is
                        // down); ask again later on this session instead of giving up.
                        let retry = BindRetries::is_retryable(error.code);
                        let (shown, steps) = live.refused(&name, retry, &desired);
                        self.apply(&mut session, steps);
                        match (shown, retry) {
                            // The answer to a bind superseded since: nothing to show.
                            (None, _) => {}
                            (Some(_), true) => {
                                let delay = retries.schedule(&name, Instant::now(), rand::random());
                                tracing::warn!(%name, %error, retry_in = ?delay, "relay could not bind the tunnel yet; retrying");
                                self.status.send_modify(|s| {
                                    s.last_error =
                                        Some(format!("tunnel {name}: {error}; retrying"));
                                });
                            }
                            (Some(_), false) => {
                                tracing::error!(%name, %error, "relay refused the tunnel");
                                self.status.send_modify(|s| {
                                    if let Some(ts) = s.tunnels.iter_mut().find(|x| x.name == name)
                                    {
                                        ts.error = Some(error.to_string());
                                        ts.error_code = Some(error.code);
                                    }
                                });
                            }
                        }
                    }
                    AgentEvent::Unbound {
                        name,
                        tunnel,
                        reason,
                    } => {
                        // Closed on the relay's side (stopped from the console, or bound
                        // again elsewhere): not re-bound on this session.
                        tracing::warn!(%name, %reason, "relay closed the tunnel");
                        live.closed(&name);
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
                    AgentEvent::Definitions { version, tunnels } => {
                        self.apply_definitions(version, &tunnels);
                    }
                    AgentEvent::Closed(reason) => break 'outer Ok(reason),
                }
            }
            // Written after the events: handling them may bind or release tunnels.
            let mut out = bytes::BytesMut::new();
            session.encode_transmits(&mut out)?;
            if !out.is_empty() {
                send.write_all(&out)
                    .await
                    .context("writing control stream")?;
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
                    Ok(None) => break Ok(CloseReason::TimedOut),
                    Err(e) => break Err(anyhow::Error::from(e).context("control stream")),
                },
                _ = tokio::time::sleep_until(deadline.into()) => {
                    let now = Instant::now();
                    session.handle_timeout(now);
                    let steps = retries.take_due(now).iter().filter_map(|n| live.retry(n)).collect();
                    self.apply(&mut session, steps);
                }
                r = desired_rx.changed() => {
                    if r.is_err() {
                        // The set is gone with the agent: nothing left to follow.
                        session.close(CloseReason::Local);
                        continue;
                    }
                    desired = desired_rx.borrow_and_update().clone();
                    self.show_tunnels(&desired);
                    let steps = live.reconcile(&desired);
                    self.apply(&mut session, steps);
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
        let code = if matches!(result, Ok(CloseReason::Local)) {
            0u32
        } else {
            1u32
        };
        conn.close(code.into(), b"agent session over");
        result
    }
}
