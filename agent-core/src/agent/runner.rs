//! The agent's life: connect, run a session, and after it ends reconnect with backoff
//! (re-binding the same names) until told to stop or refused for good.

use super::options::{AgentError, Connect};
use super::session::SessionDriver;
use crate::cloud::{ExchangeError, Exchanger};
use crate::dial::{self, EndpointSlot, RelayTarget};
use crate::status::SessionState;
use fdt_proto::Backoff;
use fdt_proto::session::CloseReason;
use std::time::Duration;

/// Runs one agent until it stops for good.
pub(super) struct Runner {
    /// Where each attempt gets its relays and credentials.
    pub(super) connect: Connect,
    /// What the sessions share.
    pub(super) session: SessionDriver,
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
        let result = 'attempts: loop {
            let outcome = tokio::select! {
                r = self.attempt(&source, &mut endpoint, &client_cfg) => r,
                _ = shutdown.cancelled() => break Ok(()),
            };
            let delay = match outcome {
                Ok((reason, was_ready)) => {
                    if was_ready {
                        backoff.reset();
                    }
                    match reason {
                        CloseReason::Local => break Ok(()),
                        CloseReason::GoingAway { retry_after } => {
                            tracing::info!("relay is going away; reconnecting");
                            retry_after.max(backoff.next_delay(rand::random()))
                        }
                        r if !r.should_reconnect() => {
                            let msg = match r {
                                CloseReason::Error(e) => e.to_string(),
                                CloseReason::Revoked(why) => format!("credentials revoked: {why}"),
                                other => format!("{other:?}"),
                            };
                            break Err(AgentError::Refused(msg));
                        }
                        r => {
                            tracing::warn!(reason = ?r, "session lost; reconnecting");
                            backoff.next_delay(rand::random())
                        }
                    }
                }
                Err(AttemptError::Fatal(e)) => break Err(e),
                Err(AttemptError::Failed(e)) => {
                    tracing::warn!(error = %format!("{e:#}"), "cannot reach relay");
                    status.send_modify(|s| s.last_error = Some(format!("{e:#}")));
                    backoff.next_delay(rand::random())
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

    /// One connect attempt: get a token and relays, reach the first relay that answers, and
    /// run the session there. `Ok((reason, was_ready))` once the session ends.
    async fn attempt(
        &self,
        source: &Source,
        slot: &mut EndpointSlot,
        client_cfg: &quinn::ClientConfig,
    ) -> Result<(CloseReason, bool), AttemptError> {
        let (token, relays) = source.plan().await?;
        let (conn, addr, relay) = dial::reach(&relays, slot, client_cfg).await?;
        self.session
            .status
            .send_modify(|s| s.relay = relay.addr.clone());
        Ok(self.session.run(conn, addr, token).await?)
    }
}
