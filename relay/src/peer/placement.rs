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
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    /// A control plane answering placement questions: `app` is held by `us-1`, every other
    /// name by nobody, and every question 503 while `down` is set; counts the questions.
    async fn control() -> (ControlClient, Arc<AtomicUsize>, Arc<AtomicBool>) {
        let asked = Arc::new(AtomicUsize::new(0));
        let down = Arc::new(AtomicBool::new(false));
        let (counter, is_down) = (asked.clone(), down.clone());
        let app = axum::Router::new().route(
            "/v1/relay/placement",
            axum::routing::get(move |q: axum::extract::Query<fdt_api::PlacementQuery>| {
                counter.fetch_add(1, Ordering::SeqCst);
                let relays = match (q.subdomain.as_deref(), q.region.as_deref(), q.port) {
                    (Some("app"), None, None) => vec![relay("us-1", "us", TunnelProto::Http)],
                    (None, Some("eu"), Some(20_005)) => {
                        vec![relay("eu-2", "eu", TunnelProto::Tcp)]
                    }
                    _ => Vec::new(),
                };
                let answer = fdt_api::Placement {
                    relays,
                    ttl_secs: 60,
                };
                let status = if is_down.load(Ordering::SeqCst) {
                    axum::http::StatusCode::SERVICE_UNAVAILABLE
                } else {
                    axum::http::StatusCode::OK
                };
                async move { (status, axum::Json(answer)) }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        let cfg = crate::config::RelayConfig {
            cloud_url: Some(url),
            relay_secret: Some(crate::config::RelaySecret::new(
                "relay-secret-for-tests-0123",
            )),
            relay_id: "eu-1".into(),
            region: "eu".into(),
            ..Default::default()
        };
        (
            ControlClient::from_config(&cfg).unwrap().unwrap(),
            asked,
            down,
        )
    }

    #[tokio::test]
    async fn answers_are_kept_forgotten_on_demand_and_made_up_names_never_asked() {
        let (control, asked, down) = control().await;
        let p = Placements::new(control);
        let http = TunnelProto::Http;
        let found = p
            .find(Name::Label("app"), http, |_| true)
            .await
            .map(|r| r.relay_id);
        assert_eq!(found.as_deref(), Some("us-1"));
        assert!(p.find(Name::Label("app"), http, |_| true).await.is_some());
        assert_eq!(asked.load(Ordering::SeqCst), 1, "the answer is kept");
        // The holder no longer has it: asked again.
        p.forget(Name::Label("app"));
        assert!(p.find(Name::Label("app"), http, |_| true).await.is_some());
        assert_eq!(asked.load(Ordering::SeqCst), 2);
        // Another kind of traffic on the same name is not a holder (and not a new question).
        assert!(
            p.find(Name::Label("app"), TunnelProto::Tls, |_| true)
                .await
                .is_none()
        );
        assert_eq!(asked.load(Ordering::SeqCst), 2);
        // Nobody holds it: remembered as such.
        assert!(p.find(Name::Label("ghost"), http, |_| true).await.is_none());
        assert!(p.find(Name::Label("ghost"), http, |_| true).await.is_none());
        assert_eq!(asked.load(Ordering::SeqCst), 3);
        // Many asking at once about a name not known yet: one question.
        let ask = || p.find(Name::Label("app2"), http, |_| true);
        let answers = tokio::join!(ask(), ask(), ask(), ask(), ask());
        assert_eq!(answers, (None, None, None, None, None), "nobody holds app2");
        assert_eq!(asked.load(Ordering::SeqCst), 4);
        // A visitor who gives up mid-question leaves nothing behind: the next one asks again
        // (a stale record made every later question wait, then fail).
        // Polled once (the question goes out), then dropped.
        let gave_up = tokio::select! {
            biased;
            found = p.find(Name::Label("app3"), http, |_| true) => Some(found),
            () = std::future::ready(()) => None,
        };
        assert_eq!(gave_up, None, "cancelled before the answer");
        assert!(p.asking.lock().unwrap().is_empty());
        let before = asked.load(Ordering::SeqCst);
        assert!(p.find(Name::Label("app3"), http, |_| true).await.is_none());
        assert_eq!(asked.load(Ordering::SeqCst), before + 1, "asked again");
        // An expired answer still serves while no question can be answered.
        p.cache().get_mut("app").unwrap().until = Instant::now() - Duration::from_secs(1);
        down.store(true, Ordering::SeqCst);
        let stale = p
            .find(Name::Label("app"), http, |_| true)
            .await
            .map(|r| r.relay_id);
        assert_eq!(stale.as_deref(), Some("us-1"));
        let before = asked.load(Ordering::SeqCst);
        // What is not a label is never asked about.
        for bad in ["", "Upper", "a.b", "-x", &"l".repeat(64)] {
            assert!(p.find(Name::Label(bad), http, |_| true).await.is_none());
        }
        assert_eq!(asked.load(Ordering::SeqCst), before);
    }

    #[tokio::test]
    async fn a_port_scan_spends_the_ports_budget_not_the_names() {
        let (control, asked, _down) = control().await;
        let p = Placements::new(control);
        // A scan of 300 ports nobody holds: the ports' burst is asked, then their rate.
        let started = Instant::now();
        for port in 30_000..30_300 {
            assert!(
                p.find(Name::Port(port), TunnelProto::Tcp, |_| true)
                    .await
                    .is_none()
            );
        }
        let refilled = started.elapsed().as_secs_f64() * f64::from(PORT_LOOKUPS_PER_SECOND);
        let scanned = asked.load(Ordering::SeqCst);
        let burst = 2 * PORT_LOOKUPS_PER_SECOND as usize;
        assert!(
            scanned >= burst && scanned as f64 <= burst as f64 + refilled.ceil() + 1.0,
            "{scanned} questions in {:?}",
            started.elapsed()
        );
        // Names are still asked about.
        let found = p
            .find(Name::Label("app"), TunnelProto::Http, |_| true)
            .await;
        assert_eq!(found.map(|r| r.relay_id).as_deref(), Some("us-1"));
        assert_eq!(asked.load(Ordering::SeqCst), scanned + 1);
    }

    #[tokio::test]
    async fn ports_are_asked_about_in_this_relays_region_apart_from_labels() {
        let (control, asked, _down) = control().await;
        let p = Placements::new(control);
        let tcp = TunnelProto::Tcp;
        let found = p.find(Name::Port(20_005), tcp, |_| true).await;
        assert_eq!(found.map(|r| r.relay_id).as_deref(), Some("eu-2"));
        assert!(p.find(Name::Port(20_005), tcp, |_| true).await.is_some());
        assert_eq!(asked.load(Ordering::SeqCst), 1, "the answer is kept");
        // A label that reads like the port is another name.
        assert!(p.find(Name::Label("20005"), tcp, |_| true).await.is_none());
        assert_eq!(asked.load(Ordering::SeqCst), 2);
        assert!(p.find(Name::Port(20_006), tcp, |_| true).await.is_none());
        p.forget(Name::Port(20_005));
        assert!(p.find(Name::Port(20_005), tcp, |_| true).await.is_some());
        assert_eq!(asked.load(Ordering::SeqCst), 4);
        // Port 0 is never asked about.
        assert!(p.find(Name::Port(0), tcp, |_| true).await.is_none());
        assert_eq!(asked.load(Ordering::SeqCst), 4);
    }

    fn relay(id: &str, region: &str, proto: TunnelProto) -> PlacedRelay {
        PlacedRelay {
            relay_id: id.into(),
            region: region.into(),
            agent_addr: format!("{id}.example:7443"),
            server_name: "relay.example".into(),
            proto,
        }
    }

    #[test]
    fn picks_another_relay_of_the_right_kind_nearest_first() {
        let http = TunnelProto::Http;
        let all = [
            relay("eu-1", "eu", http),
            relay("eu-2", "eu", http),
            relay("us-1", "us", http),
        ];
        let not_eu1 = |r: &PlacedRelay| r.relay_id != "eu-1";
        for _ in 0..20 {
            let p = pick(&all, "eu", not_eu1).map(|r| r.relay_id);
            assert_eq!(p.as_deref(), Some("eu-2"), "its region first");
            // Elsewhere: any of the usable ones.
            let p = pick(&all, "ap", not_eu1).map(|r| r.relay_id);
            assert!(p.is_some_and(|id| id != "eu-1"));
        }
        // Without a usable one in the region, another region's.
        let p = pick(&all, "eu", |r| r.region == "us").map(|r| r.relay_id);
        assert_eq!(p.as_deref(), Some("us-1"));
        assert_eq!(pick(&all[..1], "eu", not_eu1), None);
        assert_eq!(pick(&all, "ap", |r| r.proto == TunnelProto::Tls), None);
        assert_eq!(pick(&[], "ap", |_| true), None);
    }
}
