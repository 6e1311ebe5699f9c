//! The agent's life: connect, run a session, and after it ends reconnect with backoff
//! (re-binding the same names) until told to stop or refused for good.

use super::options::{AgentError, Connect};
use super::session::SessionDriver;
use crate::cloud::{ExchangeError, Exchanger};
use crate::dial::{self, EndpointSlot, RelayTarget};
use crate::status::SessionState;
use fdt_proto::Backoff;
use fdt_proto::session::CloseReason;
use std::time::{Duration, Instant};

/// A session ready for at least this long before it broke counts as a working session lost
/// (a relay killed, a path cut), retried at once on another relay. A shorter one does not: a
/// relay that accepts sessions and drops them must not get a reconnect loop without backoff.
const STABLE: Duration = Duration::from_secs(1);
/// The first retry after a working session is lost waits a random part of this, so that the
/// agents of a dead relay (whose own detection is already spread over a keep-alive interval)
/// do not all reach the cloud and the next relay in the same instant.
const LOST_RETRY_JITTER: Duration = Duration::from_millis(100);
/// The longest wait (jittered down to half) after an attempt that got a token and relays from
/// the cloud but reached no relay: a path cut between agent and relays. The backoff's own cap
/// (30 s) would leave an agent offline for up to that long after the path comes back; this
/// bounds it, at the price of one token exchange per retry (relay tokens are single-use per
/// relay, so one cannot be kept for the next attempt).
const UNREACHABLE_RETRY_CAP: Duration = Duration::from_secs(8);

/// What one connect attempt got to: whether it got relays to dial, the relay it reached and
/// when its session became ready.
#[derive(Default)]
struct AttemptState {
    planned: bool,
    relay: Option<String>,
    ready: Option<Instant>,
}

impl AttemptState {
    /// Whether the attempt ran a working session (see [`STABLE`]).
    fn was_stable(&self) -> bool {
        self.ready.is_some_and(|t| t.elapsed() >= STABLE)
    }
}

/// The wait before the next attempt after one that failed (no session): the backoff's
/// `delay`, at most [`UNREACHABLE_RETRY_CAP`] (jittered by `unit` in `[0, 1)`) when the cloud
/// answered but no relay did, counted from the attempt's start, since dials that timed out (a
/// path cut) have already waited `elapsed`.
fn failed_attempt_wait(delay: Duration, unreached: bool, elapsed: Duration, unit: f64) -> Duration {
    let delay = if unreached {
        delay.min(UNREACHABLE_RETRY_CAP.mul_f64(0.5 + 0.5 * unit.clamp(0.0, 1.0)))
    } else {
        delay
    };
    delay.saturating_sub(elapsed)
}

/// How long the standby waits for the primary's first relay before picking one anyway (the
/// two must not race to the same relay at start).
const STANDBY_WAITS_FOR_PRIMARY: Duration = Duration::from_secs(15);

/// Runs one agent until it stops for good.
pub(super) struct Runner {
    /// Where each attempt gets its relays and credentials.
    pub(super) connect: Connect,
    /// What the sessions share.
    pub(super) session: SessionDriver,
    /// Which of the agent's two replica sessions this runner keeps, when it keeps two.
    pub(super) replica: Option<Replica>,
}

/// One of an agent's two replica sessions (`--ha`): which one, and which relay each is on, so
/// that they never share one.
pub(super) struct Replica {
    /// 0: the primary; 1: the standby.
    pub(super) me: usize,
    /// The relay address each replica's session is on now.
    pub(super) on: std::sync::Arc<tokio::sync::watch::Sender<[Option<String>; 2]>>,
}

impl Replica {
    /// The relay the other replica is on now.
    fn other(&self) -> Option<String> {
        self.on.borrow()[1 - self.me].clone()
    }

    /// Records that this replica is between sessions.
    fn clear(&self) {
        self.on.send_modify(|on| on[self.me] = None);
    }

    /// Records `relay` as this replica's, unless the other replica is on it already (both
    /// reconnecting at once, e.g. after the agent's own network dropped): `false` then.
    fn claim(&self, relay: &str) -> bool {
        let mut won = false;
        self.on.send_if_modified(|on| {
            if on[1 - self.me].as_deref() == Some(relay) {
                return false;
            }
            on[self.me] = Some(relay.to_owned());
            won = true;
            true
        });
        won
    }

    /// The standby's first attempt waits (bounded) until the primary is on a relay.
    async fn wait_turn(&self) {
        if self.me == 0 {
            return;
        }
        let mut rx = self.on.subscribe();
        let _ = tokio::time::timeout(STANDBY_WAITS_FOR_PRIMARY, rx.wait_for(|on| on[0].is_some()))
            .await;
    }
}

/// Where each connect attempt gets its token and relays.
enum Source {
    /// The same relay and token every time.
    Fixed { relay: RelayTarget, token: String },
    /// A fresh exchange at the cloud every time.
    Cloud(Exchanger),
}

impl Source {
    fn new(connect: &Connect) -> Result<Self, AgentError> {
        match connect {
            Connect::Relay { relay, token } => Ok(Self::Fixed {
                relay: relay.clone(),
                token: token.clone(),
            }),
            Connect::Cloud(login) => Exchanger::new(login).map(Self::Cloud).map_err(|e| match e {
                ExchangeError::Refused(m) => AgentError::AuthtokenRefused(m),
                other => AgentError::Setup(other.to_string()),
            }),
        }
    }

    /// The token to present and the relays to try, best first.
    async fn plan(&self) -> Result<(String, Vec<RelayTarget>), AttemptError> {
        match self {
            Self::Fixed { relay, token } => Ok((token.clone(), vec![relay.clone()])),
            Self::Cloud(exchanger) => match exchanger.exchange().await {
                Ok(x) => Ok((x.token, x.relays)),
                Err(ExchangeError::Refused(m)) => {
                    Err(AttemptError::Fatal(AgentError::AuthtokenRefused(m)))
                }
                Err(ExchangeError::Rejected(m)) => Err(AttemptError::Fatal(AgentError::Setup(
                    format!("the cloud rejected the agent's request: {m}"),
                ))),
                Err(e) => Err(AttemptError::Failed(e.into())),
            },
        }
    }
}

/// Why one connect attempt failed.
enum AttemptError {
    /// Retrying cannot help (the credentials were refused).
    Fatal(AgentError),
    /// Anything worth retrying after a backoff.
    Failed(anyhow::Error),
}

impl From<anyhow::Error> for AttemptError {
    fn from(e: anyhow::Error) -> Self {
        Self::Failed(e)
    }
}

impl Runner {
    /// Connects, runs sessions and reconnects until shutdown or a refusal; the status ends
    /// `Stopped` either way.
    pub(super) async fn run(self) -> Result<(), AgentError> {
        let status = &self.session.status;
        let shutdown = &self.session.shutdown;
        let setup = dial::client_config(self.connect.ca_file().map(|p| p.as_path()))
            .map_err(|e| AgentError::Setup(format!("{e:#}")))
            .and_then(|cfg| Ok((cfg, Source::new(&self.connect)?)));
        let (client_cfg, source) = match setup {
            Ok(x) => x,
            Err(e) => {
                status.send_modify(|s| {
                    s.state = SessionState::Stopped;
                    s.last_error = Some(e.to_string());
                });
                return Err(e);
            }
        };
        let mut endpoint = EndpointSlot::default();
        let mut backoff = Backoff::default();
        // Tunnels started or stopped while no session runs still show up in the status.
        let mut desired = self.session.tunnels.subscribe();
        // The relay to dial last next time: the one that just went away or went silent. The
        // cloud may list it as healthy for a few seconds more (until its heartbeats are missed).
        let mut avoid: Option<String> = None;
        if let Some(r) = &self.replica {
            tokio::select! {
                () = r.wait_turn() => {}
                _ = shutdown.cancelled() => return Ok(()),
            }
        }
        let result = 'attempts: loop {
            let mut state = AttemptState::default();
            let started = Instant::now();
            let outcome = tokio::select! {
                r = self.attempt(&source, &mut endpoint, &client_cfg, avoid.take(), &mut state) => r,
                _ = shutdown.cancelled() => break Ok(()),
            };
            if let Some(r) = &self.replica {
                r.clear();
            }
            let stable = state.was_stable();
            if stable {
                backoff.reset();
            }
            // A working session lost: retry at once (jitter only), dialling that relay last.
            let mut lost = |backoff: &mut Backoff| {
                if stable {
                    avoid = state.relay.clone();
                    LOST_RETRY_JITTER.mul_f64(rand::random())
                } else {
                    backoff.next_delay(rand::random())
                }
            };
            let delay = match outcome {
                Ok(CloseReason::Local) => break Ok(()),
                Ok(CloseReason::GoingAway { retry_after }) => {
                    tracing::info!("relay is going away; reconnecting");
                    avoid = state.relay.clone();
                    retry_after.max(backoff.next_delay(rand::random()))
                }
                Ok(r) if !r.should_reconnect() => {
                    let msg = match r {
                        CloseReason::Error(e) => e.to_string(),
                        CloseReason::Revoked(why) => format!("credentials revoked: {why}"),
                        other => format!("{other:?}"),
                    };
                    break Err(AgentError::Refused(msg));
                }
                Ok(r) => {
                    tracing::warn!(reason = ?r, "session lost; reconnecting");
                    lost(&mut backoff)
                }
                Err(AttemptError::Fatal(e)) => break Err(e),
                Err(AttemptError::Failed(e)) => {
                    tracing::warn!(error = %format!("{e:#}"), "cannot reach relay");
                    status.send_modify(|s| s.last_error = Some(format!("{e:#}")));
                    let delay = lost(&mut backoff);
                    if stable {
                        delay
                    } else {
                        let unreached = state.planned && state.relay.is_none();
                        failed_attempt_wait(delay, unreached, started.elapsed(), rand::random())
                    }
                }
            };
            self.session.set_offline();
            let wake = tokio::time::Instant::now() + delay;
            loop {
                tokio::select! {
                    _ = tokio::time::sleep_until(wake) => break,
                    Ok(()) = desired.changed() => {
                        let now = desired.borrow_and_update().clone();
                        self.session.show_tunnels(&now);
                    }
                    _ = shutdown.cancelled() => break 'attempts Ok(()),
                }
            }
        };
        status.send_modify(|s| {
            s.state = SessionState::Stopped;
            if let Err(e) = &result {
                s.last_error = Some(e.to_string());
            }
        });
        if let Some((_, endpoint)) = endpoint.0.take() {
            endpoint.close(0u32.into(), b"agent stopping");
            let _ = tokio::time::timeout(Duration::from_millis(500), endpoint.wait_idle()).await;
        }
        result
    }

    /// One connect attempt: get a token and relays, reach the first relay that answers
    /// (`avoid` last), and run the session there. `Ok(reason)` once the session ends; `state`
    /// says how far the attempt got either way.
    async fn attempt(
        &self,
        source: &Source,
        slot: &mut EndpointSlot,
        client_cfg: &quinn::ClientConfig,
        avoid: Option<String>,
        state: &mut AttemptState,
    ) -> Result<CloseReason, AttemptError> {
        let (token, mut relays) = source.plan().await?;
        if let Some(addr) = avoid {
            dial::demote(&mut relays, &addr);
        }
        if let Some(other) = self.replica.as_ref().and_then(Replica::other) {
            // Never the relay the other replica is on: the two are there to fail apart. A
            // fleet of one relay is not a path cut: the full backoff applies (`planned` unset).
            relays.retain(|r| r.addr != other);
            if relays.is_empty() {
                return Err(AttemptError::Failed(anyhow::anyhow!(
                    "no relay other than the replica session's {other} to stand by on"
                )));
            }
        }
        state.planned = true;
        let (conn, addr, relay) = dial::reach(&relays, slot, client_cfg).await?;
        if let Some(r) = &self.replica
            && !r.claim(&relay.addr)
        {
            conn.close(0u32.into(), b"the other replica is here");
            return Err(AttemptError::Failed(anyhow::anyhow!(
                "the replica session reached {} first",
                relay.addr
            )));
        }
        state.relay = Some(relay.addr.clone());
        self.session
            .status
            .send_modify(|s| s.relay = relay.addr.clone());
        Ok(self
            .session
            .run(conn, addr, token, &mut state.ready)
            .await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_cut_is_retried_within_the_cap_counted_from_the_attempts_start() {
        let s = Duration::from_secs;
        // Relays unreachable: a grown backoff is capped (4 to 8 s with the jitter), less the
        // time the timed-out dials took.
        assert_eq!(failed_attempt_wait(s(30), true, s(3), 1.0), s(5));
        assert_eq!(failed_attempt_wait(s(30), true, s(3), 0.0), s(1));
        assert_eq!(failed_attempt_wait(s(1), true, s(3), 1.0), Duration::ZERO);
        // The cloud itself failing keeps the whole backoff: each retry would cost it again.
        assert_eq!(failed_attempt_wait(s(30), false, s(3), 1.0), s(27));
    }
}
