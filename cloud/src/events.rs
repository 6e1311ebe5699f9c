//! Change events for live pages: handlers publish "this account's tunnels changed", and
//! `GET /v1/events` streams the topics to the account's open pages (Server-Sent Events), which
//! refetch what shows them. Events carry no data: a page always reads the API, so a missed
//! or duplicated event costs a refetch at most.

use fdt_api::AccountId;
use tokio::sync::broadcast;

/// What changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Topic {
    /// Tunnels online, reserved names.
    Tunnels,
    /// Traffic-log records and replay jobs.
    Requests,
    /// Authtokens.
    Authtokens,
    /// Relay health (admins only).
    Relays,
    /// Accounts changed by an admin (admins only).
    Admin,
}

impl Topic {
    /// The topic's name in the event (`{"topic": "tunnels"}`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Tunnels => "tunnels",
            Self::Requests => "requests",
            Self::Authtokens => "authtokens",
            Self::Relays => "relays",
            Self::Admin => "admin",
        }
    }

    /// Whether only admins get this topic.
    pub fn admin_only(self) -> bool {
        matches!(self, Self::Relays | Self::Admin)
    }
}

/// One change: a topic, for one account or (`None`) for everyone it concerns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The account whose data changed; `None` for fleet-wide changes.
    pub account: Option<AccountId>,
    /// What changed.
    pub topic: Topic,
}

/// The in-process hub. Within one `fdt-cloud` process only: pages served by another instance
/// still see changes through the stream's periodic checks (see `http::events`).
#[derive(Debug, Clone)]
pub struct Events {
    tx: broadcast::Sender<Change>,
}

impl Events {
    /// A hub whose slow subscribers lose events past `capacity` (and then refetch everything).
    pub fn new(capacity: usize) -> Self {
        let (tx, _) = broadcast::channel(capacity.max(16));
        Self { tx }
    }

    /// Announces that `account`'s `topic` changed.
    pub fn publish(&self, account: &AccountId, topic: Topic) {
        // No subscribers is not an error.
        let _ = self.tx.send(Change {
            account: Some(account.clone()),
            topic,
        });
    }

    /// Announces a fleet-wide change (admins' pages).
    pub fn publish_all(&self, topic: Topic) {
        let _ = self.tx.send(Change {
            account: None,
            topic,
        });
    }

    /// A receiver of every change from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Change> {
        self.tx.subscribe()
    }
}

impl Default for Events {
    fn default() -> Self {
        Self::new(1024)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn subscribers_see_changes_after_subscribing() {
        let events = Events::default();
        let account = crate::random::new_account_id();
        events.publish(&account, Topic::Tunnels);
        let mut rx = events.subscribe();
        events.publish(&account, Topic::Requests);
        events.publish_all(Topic::Relays);
        let first = rx.recv().await.expect("change");
        assert_eq!(first.topic, Topic::Requests);
        assert_eq!(first.account.as_ref(), Some(&account));
        let second = rx.recv().await.expect("change");
        assert_eq!((second.topic, second.account), (Topic::Relays, None));
        assert!(Topic::Admin.admin_only() && !Topic::Tunnels.admin_only());
    }
}
