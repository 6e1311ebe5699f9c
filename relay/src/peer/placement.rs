//! Which relays hold a name — a label under the base domain, or a TCP port of this relay's
//! region — asked of the control plane (`GET /v1/relay/placement`), kept for the few seconds
//! the answer says, forgotten at once when the relay it named says it does not hold the name
//! (see [`Placements::forget`]).
//!
//! Visitors choose the names, so the lookups they can cause are bounded: a name that is not a
//! label under the base domain is never asked about (ports are only those this relay listens
//! on), an answer of "nobody" is kept too, at most
//! [`MAX_LOOKUPS`] questions are in flight at once and [`LOOKUPS_PER_SECOND`] asked per second
//! (beyond either a name counts as unknown: a flood of made-up names costs the control plane a
//! bounded rate per relay), ports have a smaller budget of their own (a port scan never
//! starves names), and the cache holds at most [`MAX_CACHED`] names.

use crate::control::client::ControlClient;
use fdt_api::{PlacedRelay, TunnelProto};
use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

/// Questions to the control plane in flight at once.
pub const MAX_LOOKUPS: usize = 32;
/// Questions to the control plane per second (and the burst allowed above it, twice that).
pub const LOOKUPS_PER_SECOND: u32 = 200;
/// Names remembered at once.
pub const MAX_CACHED: usize = 20_000;
/// How long "nobody holds it" is kept.
const NEGATIVE_TTL: Duration = Duration::from_secs(2);
/// How long "nobody holds the port" is kept: scanners sweep port ranges, and the placement
/// feed drops the answer as soon as the port is bound.
const NEGATIVE_PORT_TTL: Duration = Duration::from_secs(10);
/// Questions about ports in flight at once, and asked per second (twice that in a burst):
/// a budget of their own, so a port scan never starves the questions about names.
pub const MAX_PORT_LOOKUPS: usize = 8;
/// See [`MAX_PORT_LOOKUPS`].
pub const PORT_LOOKUPS_PER_SECOND: u32 = 50;
/// The longest an answer is kept, whatever the control plane says.
const MAX_TTL: Duration = Duration::from_secs(30);
/// Time the control plane has to answer.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(3);

#[derive(Debug)]
struct Cached {
    relays: Arc<[PlacedRelay]>,
    until: Instant,
}

/// The placement cache of one relay.
#[derive(Debug)]
pub struct Placements {
    control: ControlClient,
    cache: Mutex<HashMap<String, Cached>>,
    /// Questions in flight, by name: everyone else asking about the name meanwhile waits for
    /// that answer (an answer expiring under a stream of requests costs one question).
    asking: Mutex<HashMap<String, Answer>>,
    lookups: Semaphore,
    rate: governor::DefaultDirectRateLimiter,
    port_lookups: Semaphore,
    port_rate: governor::DefaultDirectRateLimiter,
}

/// A name placement knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Name<'a> {
    /// A label under the base domain: http and tls tunnels (custom domains by their route's
    /// label).
    Label(&'a str),
    /// A TCP port of this relay's region (every relay of the region listens on its reserved
    /// ports).
    Port(u16),
}

impl Name<'_> {
    /// The name's key in the cache and the question table: a label as it is, a port with a
    /// suffix no label has (so the two never meet).
    fn key(self) -> String {
        match self {
            Name::Label(l) => l.to_owned(),
            Name::Port(p) => format!("{p}/tcp"),
        }
    }

    /// The name a placement question (from the feed) names, if a relay of `region` can
    /// know it (a port of another region is another address).
    pub fn of_query<'q>(q: &'q fdt_api::PlacementQuery, region: &str) -> Option<Name<'q>> {
        match (&q.subdomain, &q.region, q.port) {
            (Some(label), None, None) => Some(Name::Label(label)),
            (None, Some(r), Some(port)) if r == region => Some(Name::Port(port)),
            _ => None,
        }
    }

    /// The question about the name, for a relay of `region`.
    fn query(self, region: &str) -> fdt_api::PlacementQuery {
        match self {
            Name::Label(label) => fdt_api::PlacementQuery {
                subdomain: Some(label.to_owned()),
                ..Default::default()
            },
            Name::Port(port) => fdt_api::PlacementQuery {
                region: Some(region.to_owned()),
                port: Some(port),
                ..Default::default()
            },
        }
    }
}

impl std::fmt::Display for Name<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Name::Label(l) => f.write_str(l),
            Name::Port(p) => write!(f, "tcp port {p}"),
        }
    }
}

/// The answer to a question in flight: `None` until it comes (or when it failed).
type Answer = tokio::sync::watch::Receiver<Option<Arc<[PlacedRelay]>>>;

impl Placements {
    /// Placements asked of `control` (whose relay ID and region are this relay's).
    pub fn new(control: ControlClient) -> Self {
        Self {
            control,
            cache: Mutex::default(),
            asking: Mutex::default(),
            lookups: Semaphore::new(MAX_LOOKUPS),
            rate: per_second(LOOKUPS_PER_SECOND),
            port_lookups: Semaphore::new(MAX_PORT_LOOKUPS),
            port_rate: per_second(PORT_LOOKUPS_PER_SECOND),
        }
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, HashMap<String, Cached>> {
        self.cache.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A relay other than this one holding `name` for `proto` traffic and passing `usable`,
    /// preferring this relay's region; `None` when none does, or it cannot be known now.
    pub async fn find(
        &self,
        name: Name<'_>,
        proto: TunnelProto,
        usable: impl Fn(&PlacedRelay) -> bool,
    ) -> Option<PlacedRelay> {
        let key = name.key();
        let relays = match self.cached(&key) {
            (Some(r), true) => r,
            // Expired (or never known): ask; an expired answer still serves when no question
            // can be asked now (the lookup budget spent by a flood of made-up names, or the
            // control plane unreachable), so known names keep being forwarded.
            (stale, _) => match self.ask(name, &key).await {
                Some(r) => r,
                None => stale?,
            },
        };
        let me = self.control.relay_id();
        pick(&relays, self.control.region(), |r| {
            r.relay_id != me && r.proto == proto && usable(r)
        })
    }

    /// What is cached under `key`, and whether it is still fresh.
    fn cached(&self, key: &str) -> (Option<Arc<[PlacedRelay]>>, bool) {
        let cache = self.cache();
        match cache.get(key) {
            Some(c) => (Some(c.relays.clone()), c.until > Instant::now()),
            None => (None, false),
        }
    }

    /// Asks the control plane about `name` (cached under `key`), or waits for the question
    /// already in flight.
    async fn ask(&self, name: Name<'_>, key: &str) -> Option<Arc<[PlacedRelay]>> {
        match name {
            Name::Label(label) => fdt_api::validate::check_label("subdomain", label).ok()?,
            Name::Port(0) => return None,
            Name::Port(_) => {}
        }
        // Decided under the lock, acted on after it is released.
        let waiting = {
            let mut asking = self.asking.lock().unwrap_or_else(PoisonError::into_inner);
            match asking.get(key) {
                Some(rx) => Err(rx.clone()),
                None => {
                    let (tx, rx) = tokio::sync::watch::channel(None);
                    asking.insert(key.to_owned(), rx);
                    Ok(tx)
                }
            }
        };
        let tx = match waiting {
            Ok(tx) => tx,
            Err(mut rx) => {
                // Completes when the answer is sent, or with an error when the question
                // failed (its sender dropped): either way the value is what there is.
                let _ = tokio::time::timeout(LOOKUP_TIMEOUT, rx.changed()).await;
                return rx.borrow().clone();
            }
        };
        // Removed however this ends: a visitor who gives up mid-question cancels this
        // future, and a record left behind would make every later question wait on nothing.
        let _asking = AskingGuard {
            asking: &self.asking,
            key,
        };
        let answer = self.ask_now(name, key).await;
        tx.send_replace(answer.clone());
        answer
    }

    async fn ask_now(&self, name: Name<'_>, key: &str) -> Option<Arc<[PlacedRelay]>> {
        let (lookups, rate, negative_ttl) = match name {
            Name::Label(_) => (&self.lookups, &self.rate, NEGATIVE_TTL),
            Name::Port(_) => (&self.port_lookups, &self.port_rate, NEGATIVE_PORT_TTL),
        };
        let Ok(_slot) = lookups.try_acquire() else {
            tracing::debug!(%name, "placement lookups all busy: name treated as unknown");
            return None;
        };
        if rate.check().is_err() {
            tracing::debug!(
                %name,
                "placement lookups over their rate: name treated as unknown"
            );
            return None;
        }
        let query = name.query(self.control.region());
        let answer = tokio::time::timeout(LOOKUP_TIMEOUT, self.control.placement(&query)).await;
        let placement = match answer {
            Ok(Ok(p)) => p,
            Ok(Err(e)) => {
                tracing::debug!(%name, error = %e, "placement lookup failed");
                return None;
            }
            Err(_) => {
                tracing::debug!(%name, "placement lookup timed out");
                return None;
            }
        };
        let ttl = if placement.relays.is_empty() {
            negative_ttl
        } else {
            Duration::from_secs(placement.ttl_secs).min(MAX_TTL)
        };
        let relays: Arc<[PlacedRelay]> = placement.relays.into();
        let mut cache = self.cache();
        if cache.len() >= MAX_CACHED {
            let now = Instant::now();
            cache.retain(|_, c| c.until > now);
            if cache.len() >= MAX_CACHED {
                cache.clear();
            }
        }
        cache.insert(
            key.to_owned(),
            Cached {
                relays: relays.clone(),
                until: Instant::now() + ttl,
            },
        );
        Some(relays)
    }

    /// Forgets what is known of `name` (a relay it named does not hold it any more, or the
    /// placement feed says it was bound again); whether anything was known.
    pub fn forget(&self, name: Name<'_>) -> bool {
        self.cache().remove(&name.key()).is_some()
    }

    /// Forgets every answer; how many there were.
    pub fn forget_all(&self) -> usize {
        let mut cache = self.cache();
        let n = cache.len();
        cache.clear();
        n
    }
}

/// A rate of `n` a second, with bursts of twice that.
fn per_second(n: u32) -> governor::DefaultDirectRateLimiter {
    governor::RateLimiter::direct(
        governor::Quota::per_second(NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN))
            .allow_burst(NonZeroU32::new(2 * n).unwrap_or(NonZeroU32::MIN)),
    )
}

/// Removes a name's question-in-flight record when dropped.
struct AskingGuard<'a> {
    asking: &'a Mutex<HashMap<String, Answer>>,
    key: &'a str,
}

impl Drop for AskingGuard<'_> {
    fn drop(&mut self) {
        self.asking
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(self.key);
    }
}

/// Among `relays`, one passing `usable`: in `region` if any is, else any; spread at random
/// over equals (a pooled name's relays, or an agent's two, share its visitors).
fn pick(
    relays: &[PlacedRelay],
    region: &str,
    usable: impl Fn(&PlacedRelay) -> bool,
) -> Option<PlacedRelay> {
    let usable: Vec<&PlacedRelay> = relays.iter().filter(|r| usable(r)).collect();
    let local: Vec<&PlacedRelay> = usable
        .iter()
        .copied()
        .filter(|r| r.region == region)
        .collect();
    let from = if local.is_empty() { usable } else { local };
    if from.is_empty() {
        return None;
    }
    Some(from[rand::random_range(0..from.len())].clone())
}

#[cfg(test)]
mod tests;
