//! `GET /v1/events`: the caller's change events as Server-Sent Events (`data: {"topic": …}`),
//! for live pages. Changes made through this process arrive at once (the [`Events`] hub), and
//! on PostgreSQL those made through another replica too (`LISTEN`/`NOTIFY`,
//! `events::fanout`); changes no handler sees — a relay going silent, a tunnel ended by a
//! heartbeat — and any the fan-out lost are found by comparing a fingerprint of the account's
//! tunnels (and, for admins, the fleet) every few seconds.
//!
//! [`Events`]: crate::events::Events

use super::extract::Authenticated;
use crate::error::ApiError;
use crate::events::{Change, Topic};
use crate::state::AppState;
use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use std::collections::VecDeque;
use std::convert::Infallible;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;

/// How often the stream compares fingerprints.
const CHECK_EVERY: Duration = Duration::from_secs(2);

struct Feed {
    st: AppState,
    who: Authenticated,
    is_admin: bool,
    rx: tokio::sync::broadcast::Receiver<Change>,
    tick: tokio::time::Interval,
    tunnels: Option<String>,
    relays: Option<String>,
    queue: VecDeque<Topic>,
}

impl Feed {
    fn wants(&self, c: &Change) -> bool {
        match &c.account {
            Some(a) => *a == self.who.account_id && (!c.topic.admin_only() || self.is_admin),
            None => !c.topic.admin_only() || self.is_admin,
        }
    }

    fn push(&mut self, topic: Topic) {
        // Coalesced: a topic already waiting is not queued twice.
        if !self.queue.contains(&topic) {
            self.queue.push_back(topic);
        }
    }

    /// Compares fingerprints; `false` when the session has ended (the stream stops).
    async fn check(&mut self) -> Result<bool, ApiError> {
        let st = self.st.clone();
        let store = st.store();
        if store
            .live_session_account(&self.who.session_id)
            .await?
            .as_ref()
            != Some(&self.who.account_id)
        {
            return Ok(false);
        }
        let tunnels = store
            .list_tunnels(&self.who.account_id, self.st.healthy_cutoff())
            .await?;
        let fp: String = tunnels
            .iter()
            .map(|t| format!("{}@{};", t.id, t.relay_id))
            .collect();
        if self.tunnels.as_ref().is_some_and(|old| *old != fp) {
            self.push(Topic::Tunnels);
        }
        self.tunnels = Some(fp);
        if self.is_admin {
            let cutoff = self.st.healthy_cutoff();
            let fp: String = store
                .list_relays()
                .await?
                .iter()
                .map(|r| {
                    format!(
                        "{}:{}:{}:{}:{}:{};",
                        r.id,
                        r.heard_since(cutoff),
                        r.draining,
                        r.load.sessions,
                        r.load.tunnels,
                        r.load.connections
                    )
                })
                .collect();
            if self.relays.as_ref().is_some_and(|old| *old != fp) {
                self.push(Topic::Relays);
            }
            self.relays = Some(fp);
        }
        Ok(true)
    }
}

/// `GET /v1/events`.
pub async fn stream(
    State(st): State<AppState>,
    who: Authenticated,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let is_admin = st.store().is_admin(&who.person).await?;
    let rx = st.events().subscribe();
    let mut tick = tokio::time::interval(CHECK_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let feed = Feed {
        st,
        who,
        is_admin,
        rx,
        tick,
        tunnels: None,
        relays: None,
        queue: VecDeque::new(),
    };
    let events = futures_util::stream::unfold(feed, |mut f| async move {
        loop {
            if let Some(topic) = f.queue.pop_front() {
                let data = format!("{{\"topic\":\"{}\"}}", topic.as_str());
                return Some((Ok(Event::default().data(data)), f));
            }
            tokio::select! {
                change = f.rx.recv() => match change {
                    Ok(c) => if f.wants(&c) { f.push(c.topic) },
                    // Missed some: everything may have changed.
                    Err(RecvError::Lagged(_)) => {
                        for t in [Topic::Tunnels, Topic::Requests, Topic::Authtokens] {
                            f.push(t);
                        }
                    }
                    Err(RecvError::Closed) => return None,
                },
                _ = f.tick.tick() => match f.check().await {
                    Ok(true) => {}
                    Ok(false) => return None,
                    Err(e) => {
                        tracing::debug!(error = %e, "event stream check failed");
                    }
                },
            }
        }
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}
