//! Change events shared between `fdt-cloud` replicas on one PostgreSQL database, with
//! `LISTEN`/`NOTIFY`: each replica sends the changes its handlers publish to the
//! [`CHANNEL`] channel and re-publishes, to its own pages, those other replicas sent.
//!
//! Events are hints (a page refetches what it shows), so this is best effort with a bounded
//! cost: the outgoing queue holds [`QUEUE`] changes and drops past that; a change is a few
//! dozen bytes; a lost listening connection is re-opened with a growing pause, and the pages
//! are told that everything may have changed (they refetch), since notifications sent meanwhile
//! are gone. The stream's periodic checks (`http::events`) catch the rest.

use super::{Change, Topic};
use fdt_api::AccountId;
use sqlx::PgPool;
use sqlx::postgres::PgListener;
use std::time::Duration;
use tokio::sync::{broadcast, mpsc, watch};
use tokio_util::sync::CancellationToken;

/// The notification channel.
pub const CHANNEL: &str = "fdt_events";
/// Changes waiting to be sent to the other replicas before new ones are dropped.
pub const QUEUE: usize = 1_024;
/// Changes sent in one statement.
const BATCH: usize = 64;
/// A payload longer than this is not ours (ours are under 80 bytes).
const MAX_PAYLOAD: usize = 256;
/// The payload format's version, first in every payload.
const VERSION: &str = "1";
/// Pauses between attempts to (re)open the listening connection.
const RETRY_MIN: Duration = Duration::from_secs(1);
const RETRY_MAX: Duration = Duration::from_secs(30);

/// `1 <origin> <topic> <account or ->`: the origin is the sending hub's random ID, so a
/// replica skips its own changes (it published them locally already).
pub(super) fn encode(origin: &str, c: &Change) -> String {
    let account = c.account.as_ref().map_or("-", AccountId::as_str);
    format!("{VERSION} {origin} {} {account}", c.topic.as_str())
}

/// The origin and the change in a payload; `None` for anything not in [`encode`]'s format
/// (anyone who can connect to the database can `NOTIFY`).
pub(super) fn decode(payload: &str) -> Option<(&str, Change)> {
    if payload.len() > MAX_PAYLOAD {
        return None;
    }
    let mut parts = payload.split(' ');
    let (Some(VERSION), Some(origin), Some(topic), Some(account), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return None;
    };
    let topic = Topic::parse(topic)?;
    let account = match account {
        "-" => None,
        a => Some(a.parse::<AccountId>().ok()?),
    };
    Some((origin, Change { account, topic }))
}

/// Sends queued changes to [`CHANNEL`] until `shutdown` or until every sender is gone.
pub(super) async fn send(
    pool: PgPool,
    origin: String,
    mut rx: mpsc::Receiver<Change>,
    shutdown: CancellationToken,
) {
    let mut batch: Vec<String> = Vec::with_capacity(BATCH);
    let mut failing = false;
    loop {
        let first = tokio::select! {
            c = rx.recv() => match c {
                Some(c) => c,
                None => return,
            },
            () = shutdown.cancelled() => return,
        };
        batch.clear();
        batch.push(encode(&origin, &first));
        while batch.len() < BATCH {
            let Ok(c) = rx.try_recv() else { break };
            let p = encode(&origin, &c);
            // A burst of one change (a page of tunnels ending) is sent once.
            if !batch.contains(&p) {
                batch.push(p);
            }
        }
        let sent = sqlx::query("SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p")
            .bind(CHANNEL)
            .bind(&batch)
            .execute(&pool)
            .await;
        match sent {
            Ok(_) => {
                failing = false;
                crate::metrics::events_fanout("sent", batch.len());
            }
            Err(e) => {
                // Once per run of failures: the database being down is reported elsewhere.
                if !failing {
                    tracing::warn!(error = %e, "change events not sent to other replicas");
                }
                failing = true;
                crate::metrics::events_fanout("failed", batch.len());
            }
        }
    }
}

/// Opens a listening connection and re-publishes on `local` what other replicas send, until
/// `shutdown`; `listening` says whether the connection is up.
pub(super) async fn receive(
    pool: PgPool,
    origin: String,
    local: broadcast::Sender<Change>,
    listening: watch::Sender<bool>,
    shutdown: CancellationToken,
) {
    let mut pause = RETRY_MIN;
    loop {
        let opened = tokio::select! {
            l = listen(&pool) => l,
            () = shutdown.cancelled() => return,
        };
        let mut listener = match opened {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(error = %e, retry_in = ?pause, "change events: cannot listen");
                tokio::select! {
                    () = tokio::time::sleep(pause) => {}
                    () = shutdown.cancelled() => return,
                }
                pause = (pause * 2).min(RETRY_MAX);
                continue;
            }
        };
        pause = RETRY_MIN;
        listening.send_replace(true);
        loop {
            let next = tokio::select! {
                n = listener.try_recv() => n,
                () = shutdown.cancelled() => return,
            };
            match next {
                Ok(Some(n)) => match decode(n.payload()) {
                    Some((from, change)) if from != origin => {
                        crate::metrics::events_fanout("received", 1);
                        let _ = local.send(change);
                    }
                    Some(_) => {}
                    None => tracing::debug!("change events: a notification not ours, ignored"),
                },
                // The connection was lost and opened again (`try_recv` reconnects): whatever
                // was sent meanwhile is gone.
                Ok(None) => everything_changed(&local),
                Err(e) => {
                    tracing::warn!(error = %e, "change events: listening connection lost");
                    listening.send_replace(false);
                    everything_changed(&local);
                    break;
                }
            }
        }
    }
}

async fn listen(pool: &PgPool) -> Result<PgListener, sqlx::Error> {
    let mut l = PgListener::connect_with(pool).await?;
    l.listen(CHANNEL).await?;
    Ok(l)
}

/// Tells every page to refetch: changes from other replicas may have been missed.
fn everything_changed(local: &broadcast::Sender<Change>) {
    for topic in Topic::ALL {
        let _ = local.send(Change {
            account: None,
            topic,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_round_trip_and_anything_else_is_refused() {
        let account = crate::random::new_account_id();
        let c = Change {
            account: Some(account.clone()),
            topic: Topic::Tunnels,
        };
        let p = encode("abc", &c);
        assert_eq!(p, format!("1 abc tunnels {account}"));
        assert_eq!(decode(&p), Some(("abc", c)));
        let all = Change {
            account: None,
            topic: Topic::Relays,
        };
        assert_eq!(decode(&encode("o", &all)), Some(("o", all)));
        for bad in [
            "",
            "garbage",
            "2 abc tunnels -",
            "1 abc nope -",
            "1 abc tunnels not-an-id",
            "1 abc tunnels - extra",
            "1 abc tunnels",
            &format!("1 {} tunnels -", "x".repeat(300)),
        ] {
            assert_eq!(decode(bad), None, "{bad:?}");
        }
    }
}
