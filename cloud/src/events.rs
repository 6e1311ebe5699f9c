//! Change events for live pages: handlers publish "this account's tunnels changed", and
//! `GET /v1/events` streams the topics to the account's open pages (Server-Sent Events), which
//! refetch what shows them. Events carry no data: a page always reads the API, so a missed
//! or duplicated event costs a refetch at most.
//!
//! On PostgreSQL the hub is shared by the replicas ([`Events::share_through_postgres`], see
//! [`fanout`]): a change made through one replica reaches pages open on any of them.

use fdt_api::AccountId;
use std::sync::{Arc, OnceLock};
use tokio::sync::{broadcast, mpsc, watch};
use tokio_util::sync::CancellationToken;

pub mod fanout;

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
    /// Every topic.
    pub const ALL: [Self; 5] = [
        Self::Tunnels,
        Self::Requests,
        Self::Authtokens,
        Self::Relays,
        Self::Admin,
    ];

    /// The topic named `name` (as [`Topic::as_str`] writes it).
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == name)
    }

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

/// The hub: in process, and shared with the other replicas once
/// [`Events::share_through_postgres`] runs. Without it (SQLite, one process) pages served by
/// another instance would only see changes through the stream's periodic checks (see
/// `http::events`).
#[derive(Debug, Clone)]
pub struct Events {
    tx: broadcast::Sender<Change>,
    shared: Arc<OnceLock<Shared>>,
    /// Cancelled when the server stops: long waits for changes end then (a graceful
    /// shutdown waits for every request in flight).
    closing: CancellationToken,
}

#[derive(Debug)]
struct Shared {
    /// Changes to send to the other replicas.
    out: mpsc::Sender<Change>,
    /// Whether the listening connection is up.
    listening: watch::Receiver<bool>,
}

impl Events {
    /// A hub whose slow subscribers lose events past `capacity` (and then refetch everything).
    pub fn new(capacity: usize) -> Self {
        let (tx, _) = broadcast::channel(capacity.max(16));
        Self {
            tx,
            shared: Arc::default(),
            closing: CancellationToken::new(),
        }
    }

    /// Ends the waits for changes in flight: the server is stopping.
    pub fn close(&self) {
        self.closing.cancel();
    }

    /// Completes once the server is stopping.
    pub async fn closing(&self) {
        self.closing.cancelled().await;
    }

    /// Announces that `account`'s `topic` changed.
    pub fn publish(&self, account: &AccountId, topic: Topic) {
        self.announce(Change {
            account: Some(account.clone()),
            topic,
        });
    }

    /// Announces a fleet-wide change (admins' pages).
    pub fn publish_all(&self, topic: Topic) {
        self.announce(Change {
            account: None,
            topic,
        });
    }

    fn announce(&self, change: Change) {
        if let Some(shared) = self.shared.get()
            && shared.out.try_send(change.clone()).is_err()
        {
            // A full queue (the database is slow or down): the other replicas' pages find
            // the change on their next periodic check.
            crate::metrics::events_fanout("dropped", 1);
        }
        // No subscribers is not an error.
        let _ = self.tx.send(change);
    }

    /// Shares this hub with every replica on the same PostgreSQL database (`LISTEN`/`NOTIFY`
    /// on [`fanout::CHANNEL`]) until `shutdown`: changes published here are sent to them, and
    /// theirs are published here. Holds one of the pool's connections for listening. Only the
    /// first call starts anything; every call returns whether the listening connection is up.
    pub fn share_through_postgres(
        &self,
        pool: &sqlx::PgPool,
        shutdown: &CancellationToken,
    ) -> watch::Receiver<bool> {
        let shared = self.shared.get_or_init(|| {
            // Random per hub: a replica knows its own changes when they come back.
            let origin = crate::random::random_base62(16);
            let (out, rx) = mpsc::channel(fanout::QUEUE);
            let (up, listening) = watch::channel(false);
            tokio::spawn(fanout::send(
                pool.clone(),
                origin.clone(),
                rx,
                shutdown.clone(),
            ));
            tokio::spawn(fanout::receive(
                pool.clone(),
                origin,
                self.tx.clone(),
                up,
                shutdown.clone(),
            ));
            Shared { out, listening }
        });
        shared.listening.clone()
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

    /// Two replicas' hubs on one PostgreSQL database: a change published on one reaches the
    /// other's pages, and never comes back to its own a second time; a notification not in
    /// our format is ignored.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn replicas_on_postgres_share_changes() {
        let Some(db) = crate::testing::TestDb::postgres().await else {
            eprintln!("FDT_TEST_PG_URL is not set: skipped");
            return;
        };
        let url = db.postgres_url().expect("a PostgreSQL database").to_owned();
        let other = sqlx::PgPool::connect(&url).await.expect("second pool");
        let crate::store::Store::Postgres(pool) = &db.store else {
            panic!("a PostgreSQL store");
        };
        let shutdown = CancellationToken::new();
        let (a, b) = (Events::default(), Events::default());
        for (hub, pool) in [(&a, pool), (&b, &other)] {
            let mut up = hub.share_through_postgres(pool, &shutdown);
            tokio::time::timeout(std::time::Duration::from_secs(10), up.wait_for(|l| *l))
                .await
                .expect("listening within 10 s")
                .expect("listener alive");
        }
        let (mut on_a, mut on_b) = (a.subscribe(), b.subscribe());
        let next = async |rx: &mut broadcast::Receiver<Change>| {
            tokio::time::timeout(std::time::Duration::from_secs(10), rx.recv())
                .await
                .expect("a change within 10 s")
                .expect("hub alive")
        };
        let account = crate::random::new_account_id();
        a.publish(&account, Topic::Tunnels);
        let tunnels = Change {
            account: Some(account.clone()),
            topic: Topic::Tunnels,
        };
        assert_eq!(next(&mut on_a).await, tunnels);
        assert_eq!(next(&mut on_b).await, tunnels);
        sqlx::query("SELECT pg_notify($1, 'garbage 1 2')")
            .bind(fanout::CHANNEL)
            .execute(&other)
            .await
            .expect("notify");
        b.publish_all(Topic::Relays);
        let relays = Change {
            account: None,
            topic: Topic::Relays,
        };
        assert_eq!(next(&mut on_b).await, relays);
        // A's listener got its own Tunnels back before B's Relays (one connection delivers
        // in order): the next thing A's pages see is B's change, not an echo of A's.
        assert_eq!(next(&mut on_a).await, relays);
        shutdown.cancel();
        other.close().await;
        db.finish().await;
    }
}
