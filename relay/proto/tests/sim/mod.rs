//! The simulated network and relay I/O layer behind `session_harness.rs`.
//!
//! Two [`Link`]s (one per direction) carry encoded frames with a seeded delay, jitter (which
//! reorders) and loss, plus a per-test filter that can drop or hold chosen messages. [`Sim`]
//! advances virtual time from one due timer or delivery to the next, playing the relay I/O
//! layer (token check, name registry) and checking invariants on every step.
#![allow(clippy::unwrap_used, dead_code)]

use bytes::BytesMut;
use fdt_proto::frame::FrameReader;
use fdt_proto::session::{AgentEvent, AgentSession, CloseReason, RelayEvent, RelaySession, Timing};
use fdt_proto::{
    ClientMessage, ErrorCode, Frame, FrameKind, ManagedTunnel, Proto, ProtoError, ServerMessage,
    TunnelId, TunnelSpec,
};
use serde::{Serialize, de::DeserializeOwned};
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

pub const GOOD_TOKEN: &str = "good-token";

/// xorshift64*: tiny, seedable, good enough to pick losses and delays.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next_u64() % n }
    }
    pub fn per_mille(&mut self, p: u32) -> bool {
        self.below(1000) < u64::from(p)
    }
}

/// What the network does with one message, decided by a test's filter.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Fate {
    Deliver,
    Drop,
    /// Kept aside until the test releases it.
    Hold,
}

pub type Filter<M> = Box<dyn FnMut(&M) -> Fate>;

/// One direction of the simulated network.
pub struct Link<M> {
    pub kind: FrameKind,
    pub loss_per_mille: u32,
    pub delay: Duration,
    pub jitter_ms: u64,
    pub filter: Option<Filter<M>>,
    pub in_flight: Vec<(Instant, u64, BytesMut)>,
    pub held: Vec<BytesMut>,
    pub reader: FrameReader,
    pub seq: u64,
    pub sent: usize,
}

impl<M: Serialize + DeserializeOwned> Link<M> {
    pub fn new(kind: FrameKind) -> Self {
        Self {
            kind,
            loss_per_mille: 0,
            delay: Duration::from_millis(20),
            jitter_ms: 0,
            filter: None,
            in_flight: Vec::new(),
            held: Vec::new(),
            reader: FrameReader::new(),
            seq: 0,
            sent: 0,
        }
    }

    pub fn send(&mut self, now: Instant, rng: &mut Rng, msg: &M) {
        self.sent += 1;
        let fate = self.filter.as_mut().map_or(Fate::Deliver, |f| f(msg));
        let mut bytes = BytesMut::new();
        Frame::encode(self.kind, msg, &mut bytes).unwrap();
        match fate {
            Fate::Drop => {}
            Fate::Hold => self.held.push(bytes),
            Fate::Deliver if rng.per_mille(self.loss_per_mille) => {}
            Fate::Deliver => {
                let at = now + self.delay + Duration::from_millis(rng.below(self.jitter_ms + 1));
                self.enqueue(at, bytes);
            }
        }
    }

    fn enqueue(&mut self, at: Instant, bytes: BytesMut) {
        self.in_flight.push((at, self.seq, bytes));
        self.seq += 1;
    }

    /// Puts held messages back on the wire, newest first when `reverse`.
    pub fn release_held(&mut self, now: Instant, reverse: bool) {
        let mut held = std::mem::take(&mut self.held);
        if reverse {
            held.reverse();
        }
        for b in held {
            self.enqueue(now + self.delay, b);
        }
    }

    pub fn next_due(&self) -> Option<Instant> {
        self.in_flight.iter().map(|(at, ..)| *at).min()
    }

    /// Decodes every message due by `now`, in arrival order.
    pub fn take_due(&mut self, now: Instant) -> Vec<M> {
        self.in_flight.sort_by_key(|(at, seq, _)| (*at, *seq));
        let n = self
            .in_flight
            .iter()
            .take_while(|(at, ..)| *at <= now)
            .count();
        let mut out = Vec::new();
        for (_, _, bytes) in self.in_flight.drain(..n) {
            self.reader.push(&bytes);
            while let Some(m) = self.reader.next(self.kind).unwrap() {
                out.push(m);
            }
        }
        assert!(
            self.reader.take_remaining().is_empty(),
            "partial frame left"
        );
        out
    }
}

/// An agent and a relay session joined by two links, plus the relay I/O layer's registry.
pub struct Sim {
    pub base: Instant,
    pub now: Instant,
    pub rng: Rng,
    pub agent: AgentSession,
    pub relay: RelaySession,
    pub a2r: Link<ClientMessage>,
    pub r2a: Link<ServerMessage>,
    pub agent_events: Vec<(Duration, AgentEvent)>,
    pub relay_events: Vec<(Duration, RelayEvent)>,
    /// Subdomains held on the relay (by any session), with their tunnel.
    pub registry: BTreeMap<String, TunnelId>,
    /// Every tunnel the relay ever bound, with the spec name it was bound for.
    pub allocated: BTreeMap<TunnelId, String>,
    pub next_tunnel: u64,
    /// Tunnels the agent reported bound, ever: none may be reported twice.
    pub reported: BTreeSet<TunnelId>,
    /// The current agent session has reported `Closed`.
    pub agent_done: bool,
    /// The managed definitions the relay I/O layer pushes to a managed agent it accepts.
    pub definitions: Option<(u64, Vec<ManagedTunnel>)>,
}

impl Sim {
    pub fn new(seed: u64, token: &str, max_tunnels: usize) -> Self {
        // The only real clock read: an arbitrary origin for virtual time.
        let base = Instant::now();
        let t = Timing::default();
        Sim {
            base,
            now: base,
            rng: Rng::new(seed),
            agent: AgentSession::new(base, t, token.into(), "fdt/test".into()),
            relay: RelaySession::new(base, t, "s1".into(), 100, max_tunnels),
            a2r: Link::new(FrameKind::Client),
            r2a: Link::new(FrameKind::Server),
            agent_events: Vec::new(),
            relay_events: Vec::new(),
            registry: BTreeMap::new(),
            allocated: BTreeMap::new(),
            next_tunnel: 1,
            reported: BTreeSet::new(),
            agent_done: false,
            definitions: None,
        }
    }

    /// A sim whose agent asks for managed tunnels; the relay answers with `definitions`.
    pub fn managed(seed: u64, definitions: (u64, Vec<ManagedTunnel>)) -> Self {
        let mut sim = Self::ok(seed);
        let t = Timing::default();
        sim.agent = AgentSession::new(sim.base, t, GOOD_TOKEN.into(), "fdt/test".into()).managed();
        sim.definitions = Some(definitions);
        sim
    }

    pub fn ok(seed: u64) -> Self {
        Self::new(seed, GOOD_TOKEN, 10)
    }

    /// Starts a fresh connection (new sessions, empty links), keeping the relay's registry.
    pub fn reconnect(&mut self) {
        self.release_session_tunnels();
        let t = Timing::default();
        self.agent = AgentSession::new(self.now, t, GOOD_TOKEN.into(), "fdt/test".into());
        self.relay = RelaySession::new(self.now, t, "s2".into(), 100, 10);
        self.a2r.in_flight.clear();
        self.r2a.in_flight.clear();
        self.a2r.reader = FrameReader::new();
        self.r2a.reader = FrameReader::new();
        self.agent_done = false;
    }

    fn release_session_tunnels(&mut self) {
        let mine: Vec<TunnelId> = self.relay.tunnels().to_vec();
        self.registry.retain(|_, t| !mine.contains(t));
    }

    pub fn at(&self) -> Duration {
        self.now - self.base
    }

    pub fn spec(name: &str, sub: Option<&str>) -> TunnelSpec {
        TunnelSpec {
            name: name.into(),
            proto: Proto::Http,
            subdomain: sub.map(Into::into),
            remote_port: None,
            policy: Default::default(),
            pooling: false,
            log_bodies: false,
        }
    }

    pub fn bind(&mut self, name: &str, sub: Option<&str>) {
        self.agent.bind(self.now, Self::spec(name, sub));
    }

    /// Plays the relay I/O layer: verifies tokens, answers binds from the registry.
    fn on_relay_event(&mut self, e: RelayEvent) {
        match &e {
            RelayEvent::Authenticate { token, managed, .. } if token == GOOD_TOKEN => {
                self.relay.accept();
                if let (true, Some((version, tunnels))) = (*managed, self.definitions.clone()) {
                    assert_eq!(self.relay.definitions(version, tunnels), 0);
                }
            }
            RelayEvent::Authenticate { .. } => self
                .relay
                .reject(ProtoError::new(ErrorCode::AuthFailed, "bad token")),
            RelayEvent::Bind { req, spec } => {
                let id = TunnelId(self.next_tunnel);
                let sub = spec
                    .subdomain
                    .clone()
                    .unwrap_or_else(|| format!("auto{}", id.0));
                if self.registry.contains_key(&sub) {
                    let err = ProtoError::new(ErrorCode::NameInUse, format!("{sub} is taken"));
                    self.relay.bind_failed(*req, err);
                } else {
                    self.next_tunnel += 1;
                    self.registry.insert(sub.clone(), id);
                    self.allocated.insert(id, spec.name.clone());
                    self.relay
                        .bound(*req, id, format!("https://{sub}.example.test"));
                }
            }
            RelayEvent::Unbind { tunnel } => self.registry.retain(|_, t| t != tunnel),
            RelayEvent::ReplayResult { .. } => {}
            RelayEvent::Closed(_) => self.release_session_tunnels(),
        }
        self.relay_events.push((self.at(), e));
    }

    fn record_agent_event(&mut self, e: AgentEvent) {
        assert!(!self.agent_done, "agent event {e:?} after Closed");
        self.agent_done = matches!(e, AgentEvent::Closed(_));
        if let AgentEvent::Bound { name, tunnel, .. } = &e {
            assert!(
                self.reported.insert(*tunnel),
                "{tunnel} reported bound twice"
            );
            assert_eq!(
                self.allocated.get(tunnel),
                Some(name),
                "{tunnel} mapped to wrong name"
            );
        }
        self.agent_events.push((self.at(), e));
    }

    /// Moves everything queued in either session onto the wire or into the event logs.
    pub fn pump(&mut self) {
        loop {
            let mut busy = false;
            while let Some(m) = self.agent.poll_transmit() {
                self.a2r.send(self.now, &mut self.rng, &m);
                busy = true;
            }
            while let Some(e) = self.agent.poll_event() {
                self.record_agent_event(e);
                busy = true;
            }
            while let Some(m) = self.relay.poll_transmit() {
                self.r2a.send(self.now, &mut self.rng, &m);
                busy = true;
            }
            while let Some(e) = self.relay.poll_event() {
                self.on_relay_event(e);
                busy = true;
            }
            if !busy {
                return;
            }
        }
    }

    /// Advances virtual time to `self.now + d`, delivering messages and firing timers.
    pub fn run_for(&mut self, d: Duration) {
        let end = self.now + d;
        for _ in 0..1_000_000 {
            self.pump();
            let next = [
                self.agent.poll_timeout(),
                self.relay.poll_timeout(),
                self.a2r.next_due(),
                self.r2a.next_due(),
            ]
            .into_iter()
            .flatten()
            .min();
            match next {
                Some(t) if t <= end => self.now = self.now.max(t),
                _ => {
                    self.now = end;
                    return;
                }
            }
            let now = self.now;
            for m in self.a2r.take_due(now) {
                self.relay.handle_message(now, m);
            }
            for m in self.r2a.take_due(now) {
                self.agent.handle_message(now, m);
            }
            if self.agent.poll_timeout().is_some_and(|t| t <= now) {
                self.agent.handle_timeout(now);
                let t = self.agent.poll_timeout();
                assert!(t.is_none_or(|t| t > now), "agent timer not in the future");
            }
            if self.relay.poll_timeout().is_some_and(|t| t <= now) {
                self.relay.handle_timeout(now);
                let t = self.relay.poll_timeout();
                assert!(t.is_none_or(|t| t > now), "relay timer not in the future");
            }
        }
        panic!("simulation did not reach its end time: a timer spins");
    }

    pub fn agent_closed(&self) -> Option<(Duration, CloseReason)> {
        self.agent_events.iter().find_map(|(at, e)| match e {
            AgentEvent::Closed(r) => Some((*at, r.clone())),
            _ => None,
        })
    }

    pub fn relay_closed(&self) -> Option<(Duration, CloseReason)> {
        self.relay_events.iter().find_map(|(at, e)| match e {
            RelayEvent::Closed(r) => Some((*at, r.clone())),
            _ => None,
        })
    }

    pub fn bound_names(&self) -> Vec<String> {
        let mut v: Vec<String> = self.agent.bound().values().cloned().collect();
        v.sort();
        v
    }

    pub fn bind_failures(&self) -> Vec<(String, ErrorCode)> {
        (self.agent_events.iter())
            .filter_map(|(_, e)| match e {
                AgentEvent::BindFailed { name, error } => Some((name.clone(), error.code)),
                _ => None,
            })
            .collect()
    }
}
