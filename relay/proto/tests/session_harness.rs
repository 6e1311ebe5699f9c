//! Deterministic tests of [`AgentSession`] against [`RelaySession`] over a simulated network
//! with virtual time, seeded loss, delay and reordering (see `sim/mod.rs`).
//!
//! Every message crosses the frame codec on its way, so codec and state machines are tested
//! together. No test sleeps or reads the clock beyond picking an origin for virtual time.
#![allow(clippy::unwrap_used)]

mod sim;

use fdt_proto::session::{AgentEvent, AgentState, CloseReason, RelayEvent, RelayState, Timing};
use fdt_proto::{
    ClientMessage, ErrorCode, ManagedTunnel, PROTOCOL_VERSION, ServerMessage, TunnelId,
};
use sim::{Fate, GOOD_TOKEN, Sim};
use std::collections::BTreeMap;
use std::time::Duration;

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn error_code(r: &CloseReason) -> Option<ErrorCode> {
    match r {
        CloseReason::Error(e) => Some(e.code),
        _ => None,
    }
}

#[test]
fn happy_path_sends_binds_queued_before_welcome() {
    let mut sim = Sim::ok(1);
    sim.bind("web", Some("web"));
    sim.bind("api", None);
    sim.run_for(secs(1));
    assert_eq!(sim.agent.state(), &AgentState::Ready);
    assert_eq!(sim.relay.state(), &RelayState::Ready);
    assert!(matches!(&sim.agent_events[0].1, AgentEvent::Ready { session } if session == "s1"));
    let bound: Vec<(&str, &str)> = (sim.agent_events.iter())
        .filter_map(|(_, e)| match e {
            AgentEvent::Bound {
                name, public_url, ..
            } => Some((name.as_str(), public_url.as_str())),
            _ => None,
        })
        .collect();
    assert_eq!(bound.len(), 2);
    assert_eq!(bound[0], ("web", "https://web.example.test"));
    assert_eq!(bound[1].0, "api");
    assert_eq!(sim.relay.tunnels().len(), 2);
    assert_eq!(sim.bound_names(), ["api", "web"]);
}

#[test]
fn bad_token_closes_with_auth_failed_and_no_reconnect() {
    let mut sim = Sim::new(2, "forged", 10);
    sim.bind("web", None);
    sim.run_for(secs(1));
    let (_, reason) = sim.agent_closed().unwrap();
    assert_eq!(error_code(&reason), Some(ErrorCode::AuthFailed));
    assert!(!reason.should_reconnect());
    assert_eq!(
        error_code(&sim.relay_closed().unwrap().1),
        Some(ErrorCode::AuthFailed)
    );
    assert!(
        !sim.relay_events
            .iter()
            .any(|(_, e)| matches!(e, RelayEvent::Bind { .. }))
    );
}

#[test]
fn wrong_protocol_version_is_unsupported() {
    let mut sim = Sim::ok(3);
    // Swap the agent's Hello for one from a future agent.
    assert!(matches!(
        sim.agent.poll_transmit(),
        Some(ClientMessage::Hello { .. })
    ));
    let hello = ClientMessage::Hello {
        version: PROTOCOL_VERSION + 1,
        token: GOOD_TOKEN.into(),
        agent: "fdt/9".into(),
        managed: false,
        ha_group: None,
        ha_replica: 0,
    };
    sim.a2r.send(sim.now, &mut sim.rng, &hello);
    sim.run_for(secs(1));
    let (_, reason) = sim.relay_closed().unwrap();
    assert_eq!(error_code(&reason), Some(ErrorCode::UnsupportedVersion));
    let (_, reason) = sim.agent_closed().unwrap();
    assert_eq!(error_code(&reason), Some(ErrorCode::UnsupportedVersion));
    assert!(!reason.should_reconnect());
}

#[test]
fn heartbeats_keep_an_idle_session_alive() {
    let mut sim = Sim::ok(4);
    sim.bind("web", None);
    sim.run_for(secs(1000));
    assert_eq!(sim.agent.state(), &AgentState::Ready);
    assert_eq!(sim.relay.state(), &RelayState::Ready);
    assert!(sim.agent_closed().is_none() && sim.relay_closed().is_none());
    // Hello + Bind + one heartbeat per 10 s interval.
    assert!(
        sim.a2r.sent >= 2 + 95,
        "only {} messages sent",
        sim.a2r.sent
    );
    assert_eq!(sim.bound_names(), ["web"]);
}

#[test]
fn lost_relay_to_agent_traffic_times_the_agent_out() {
    let mut sim = Sim::ok(5);
    sim.run_for(secs(5));
    sim.r2a.loss_per_mille = 1000;
    let cut = sim.at();
    sim.run_for(secs(120));
    let (at, reason) = sim.agent_closed().unwrap();
    assert_eq!(reason, CloseReason::TimedOut);
    assert!(reason.should_reconnect());
    let idle = Timing::default().idle_timeout;
    assert!(
        at >= cut && at <= cut + idle,
        "closed at {at:?}, cut at {cut:?}"
    );
    // Heartbeats stop once the agent gives up, so the relay times out as well.
    assert_eq!(
        error_code(&sim.relay_closed().unwrap().1),
        Some(ErrorCode::Timeout)
    );
}

#[test]
fn lost_agent_to_relay_traffic_times_the_relay_out() {
    let mut sim = Sim::ok(6);
    sim.bind("web", Some("web"));
    sim.run_for(secs(5));
    sim.a2r.loss_per_mille = 1000;
    sim.run_for(secs(120));
    let (_, reason) = sim.relay_closed().unwrap();
    assert_eq!(error_code(&reason), Some(ErrorCode::Timeout));
    // The relay's Error still reaches the agent, which may reconnect.
    let (_, reason) = sim.agent_closed().unwrap();
    assert_eq!(error_code(&reason), Some(ErrorCode::Timeout));
    assert!(reason.should_reconnect());
    assert!(sim.registry.is_empty(), "closed session's names released");
}

fn hold_bound_answers(sim: &mut Sim, fate: Fate) {
    sim.r2a.filter = Some(Box::new(move |m| match m {
        ServerMessage::Bound { .. } => fate,
        _ => Fate::Deliver,
    }));
}

#[test]
fn lost_bind_answer_fails_with_timeout_after_the_handshake_timeout() {
    let mut sim = Sim::ok(7);
    sim.run_for(secs(1));
    hold_bound_answers(&mut sim, Fate::Drop);
    sim.bind("web", Some("web"));
    let asked = sim.at();
    sim.run_for(secs(30));
    assert_eq!(
        sim.bind_failures(),
        [("web".to_string(), ErrorCode::Timeout)]
    );
    let failed_at = (sim.agent_events.iter())
        .find_map(|(at, e)| matches!(e, AgentEvent::BindFailed { .. }).then_some(*at))
        .unwrap();
    assert_eq!(failed_at - asked, Timing::default().handshake_timeout);
    assert_eq!(
        sim.agent.state(),
        &AgentState::Ready,
        "a lost answer is not fatal"
    );
}

#[test]
fn late_bind_answer_is_ignored_and_its_tunnel_released() {
    let mut sim = Sim::ok(7);
    hold_bound_answers(&mut sim, Fate::Hold);
    sim.bind("web", Some("web"));
    sim.run_for(Timing::default().handshake_timeout + secs(1));
    assert_eq!(
        sim.bind_failures(),
        [("web".to_string(), ErrorCode::Timeout)]
    );
    sim.r2a.filter = None;
    sim.r2a.release_held(sim.now, false);
    sim.run_for(secs(1));
    assert!(sim.agent.bound().is_empty());
    assert!(
        !sim.agent_events
            .iter()
            .any(|(_, e)| matches!(e, AgentEvent::Bound { .. }))
    );
    assert_eq!(sim.agent.state(), &AgentState::Ready);
    // Regression: the relay kept the late tunnel (and its name) for the whole session, so a
    // retry of the timed-out bind got NameInUse from its own session.
    assert!(sim.relay.tunnels().is_empty());
    sim.bind("web", Some("web"));
    sim.run_for(secs(1));
    assert_eq!(sim.bound_names(), ["web"]);
}

#[test]
fn reordered_bind_answers_map_to_the_right_names() {
    let mut sim = Sim::ok(8);
    hold_bound_answers(&mut sim, Fate::Hold);
    sim.bind("first", Some("one"));
    sim.bind("second", Some("two"));
    sim.run_for(secs(1));
    assert_eq!(sim.r2a.held.len(), 2);
    sim.r2a.release_held(sim.now, true);
    sim.run_for(secs(1));
    let by_name: BTreeMap<String, TunnelId> = (sim.agent.bound().iter())
        .map(|(t, n)| (n.clone(), *t))
        .collect();
    assert_eq!(by_name.get("first"), sim.registry.get("one"));
    assert_eq!(by_name.get("second"), sim.registry.get("two"));
    assert_eq!(by_name.len(), 2);
    // The later request's answer arrived first.
    let names: Vec<&str> = (sim.agent_events.iter())
        .filter_map(|(_, e)| match e {
            AgentEvent::Bound { name, .. } => Some(name.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(names, ["second", "first"]);
}

#[test]
fn going_away_closes_the_agent_for_reconnect() {
    let mut sim = Sim::ok(9);
    sim.run_for(secs(2));
    sim.relay.going_away("deploy", secs(5));
    sim.run_for(secs(1));
    let (_, reason) = sim.agent_closed().unwrap();
    assert_eq!(
        reason,
        CloseReason::GoingAway {
            retry_after: secs(5)
        }
    );
    assert!(reason.should_reconnect());
    assert!(matches!(
        sim.relay_closed().unwrap().1,
        CloseReason::GoingAway { .. }
    ));
}

#[test]
fn revoke_closes_the_agent_for_good() {
    let mut sim = Sim::ok(10);
    sim.bind("web", Some("web"));
    sim.run_for(secs(2));
    sim.relay.revoke("token revoked");
    sim.run_for(secs(1));
    let (_, reason) = sim.agent_closed().unwrap();
    assert_eq!(reason, CloseReason::Revoked("token revoked".into()));
    assert!(!reason.should_reconnect());
    assert!(sim.registry.is_empty());
}

#[test]
fn session_tunnel_limit_is_limit_exceeded() {
    let mut sim = Sim::new(11, GOOD_TOKEN, 2);
    for name in ["a", "b", "c"] {
        sim.bind(name, Some(name));
    }
    sim.run_for(secs(1));
    assert_eq!(sim.bound_names(), ["a", "b"]);
    assert_eq!(
        sim.bind_failures(),
        [("c".to_string(), ErrorCode::LimitExceeded)]
    );
    assert_eq!(sim.relay.state(), &RelayState::Ready);
}

#[test]
fn subdomain_held_elsewhere_is_name_in_use() {
    let mut sim = Sim::ok(12);
    sim.registry.insert("web".into(), TunnelId(999));
    sim.bind("mine", Some("web"));
    sim.run_for(secs(1));
    assert_eq!(
        sim.bind_failures(),
        [("mine".to_string(), ErrorCode::NameInUse)]
    );
    assert_eq!(sim.agent.state(), &AgentState::Ready);
}

#[test]
fn bind_before_hello_is_a_protocol_violation() {
    let mut sim = Sim::ok(13);
    assert!(sim.agent.poll_transmit().is_some(), "drop the Hello");
    let bind = ClientMessage::Bind {
        req: 1,
        spec: Sim::spec("web", None),
    };
    sim.a2r.send(sim.now, &mut sim.rng, &bind);
    sim.run_for(secs(1));
    let (_, reason) = sim.relay_closed().unwrap();
    assert_eq!(error_code(&reason), Some(ErrorCode::ProtocolViolation));
    let (_, reason) = sim.agent_closed().unwrap();
    assert_eq!(error_code(&reason), Some(ErrorCode::ProtocolViolation));
}

#[test]
fn bound_before_welcome_is_a_protocol_violation_for_the_agent() {
    let mut sim = Sim::ok(14);
    sim.a2r.loss_per_mille = 1000;
    let bound = ServerMessage::Bound {
        req: 1,
        tunnel: TunnelId(1),
        public_url: "https://x.example.test".into(),
    };
    sim.r2a.send(sim.now, &mut sim.rng, &bound);
    sim.run_for(secs(1));
    let (_, reason) = sim.agent_closed().unwrap();
    assert_eq!(error_code(&reason), Some(ErrorCode::ProtocolViolation));
}

/// Random binds, unbinds, relay shutdowns and reconnects over a lossy, reordering network.
/// Returns how many tunnels were bound, binds failed and sessions were started.
fn soak(seed: u64) -> (usize, usize, usize) {
    let mut sim = Sim::ok(seed);
    sim.a2r.loss_per_mille = 50;
    sim.r2a.loss_per_mille = 50;
    sim.a2r.jitter_ms = 400;
    sim.r2a.jitter_ms = 400;
    let (mut binds, mut sessions) = (0u32, 1);
    for _ in 0..400 {
        let step = Duration::from_millis(sim.rng.below(5_000));
        sim.run_for(step);
        match sim.rng.below(20) {
            0..=5 => {
                binds += 1;
                let sub = (sim.rng.below(3) == 0).then(|| format!("n{}", sim.rng.below(4)));
                sim.bind(&format!("t{binds}"), sub.as_deref());
            }
            6..=8 => {
                let bound: Vec<TunnelId> = sim.agent.bound().keys().copied().collect();
                if !bound.is_empty() {
                    let t = bound[sim.rng.below(bound.len() as u64) as usize];
                    sim.agent.unbind(t);
                }
            }
            9 if sim.rng.below(3) == 0 => sim.relay.going_away("soak", secs(1)),
            _ => {}
        }
        // The agent only believes in tunnels the relay holds for it.
        for t in sim.agent.bound().keys() {
            assert!(sim.relay.tunnels().contains(t), "{t} bound on agent only");
        }
        if matches!(sim.agent.state(), AgentState::Closed(_)) {
            sim.run_for(secs(2));
            sim.reconnect();
            sessions += 1;
        }
    }
    sim.run_for(secs(60));
    (sim.reported.len(), sim.bind_failures().len(), sessions)
}

#[test]
fn soak_with_loss_and_reordering_keeps_invariants() {
    let (mut bound, mut failed, mut sessions) = (0, 0, 0);
    for seed in 100..116 {
        let (b, f, s) = soak(seed);
        (bound, failed, sessions) = (bound + b, failed + f, sessions + s);
    }
    // The run is only worth something if it went through binds, failures and reconnects.
    eprintln!("soak: {bound} bound, {failed} failed, {sessions} sessions");
    assert!(
        bound > 100 && failed > 10 && sessions > 16,
        "{bound} {failed} {sessions}"
    );
}

#[test]
fn relay_closing_a_tunnel_tells_the_agent_once() {
    let mut sim = Sim::ok(8);
    sim.bind("web", Some("web"));
    sim.bind("api", Some("api"));
    sim.run_for(secs(1));
    let web = *sim
        .agent
        .bound()
        .iter()
        .find(|(_, n)| n.as_str() == "web")
        .unwrap()
        .0;
    sim.relay.unbound(web, "stopped by its owner");
    // Twice, or for a tunnel it does not hold: nothing more is sent.
    sim.relay.unbound(web, "again");
    sim.relay.unbound(TunnelId(999), "not ours");
    sim.run_for(secs(1));
    let unbound: Vec<_> = (sim.agent_events.iter())
        .filter_map(|(_, e)| match e {
            AgentEvent::Unbound {
                name,
                tunnel,
                reason,
            } => Some((name.clone(), *tunnel, reason.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(
        unbound,
        [("web".to_string(), web, "stopped by its owner".to_string())]
    );
    assert_eq!(sim.relay.tunnels().len(), 1);
    assert_eq!(sim.agent.bound().len(), 1);
    assert_eq!(sim.agent.state(), &AgentState::Ready);
}

fn managed_tunnels(n: usize, addr_len: usize) -> Vec<ManagedTunnel> {
    (0..n)
        .map(|i| {
            let mut config = serde_json::Map::new();
            config.insert("proto".into(), "http".into());
            config.insert("addr".into(), "8".repeat(addr_len).into());
            ManagedTunnel {
                id: format!("tcf_{i}"),
                name: format!("t{i}"),
                enabled: i % 3 != 0,
                config,
            }
        })
        .collect()
}

fn definitions_events(sim: &Sim) -> Vec<(u64, Vec<ManagedTunnel>)> {
    (sim.agent_events.iter())
        .filter_map(|(_, e)| match e {
            AgentEvent::Definitions { version, tunnels } => Some((*version, tunnels.clone())),
            _ => None,
        })
        .collect()
}

#[test]
fn a_managed_agent_gets_its_definitions_whole_even_when_they_span_frames() {
    // 60 definitions of ~2 KiB: three or more frames on the wire, one event at the agent.
    let tunnels = managed_tunnels(60, 2000);
    let mut sim = Sim::managed(21, (7, tunnels.clone()));
    sim.run_for(secs(1));
    assert_eq!(definitions_events(&sim), vec![(7, tunnels.clone())]);

    // A newer version replaces it; an older or equal one (a late duplicate) is ignored.
    let newer = managed_tunnels(2, 4);
    assert_eq!(sim.relay.definitions(9, newer.clone()), 0);
    assert_eq!(sim.relay.definitions(8, managed_tunnels(1, 4)), 0);
    assert_eq!(sim.relay.definitions(9, Vec::new()), 0);
    sim.run_for(secs(1));
    assert_eq!(definitions_events(&sim), vec![(7, tunnels), (9, newer)]);
    assert_eq!(sim.agent.state(), &AgentState::Ready);
}

#[test]
fn definitions_go_only_to_agents_that_asked_and_are_refused_by_the_others() {
    let mut sim = Sim::ok(22);
    sim.run_for(secs(1));
    assert!(!sim.relay.is_managed());
    assert_eq!(sim.relay.definitions(1, managed_tunnels(3, 4)), 0);
    sim.run_for(secs(1));
    assert!(definitions_events(&sim).is_empty());
    assert_eq!(sim.agent.state(), &AgentState::Ready);

    // A relay that pushes them anyway breaks the protocol.
    let msg = ServerMessage::TunnelDefinitions {
        version: 1,
        tunnels: managed_tunnels(1, 4),
        complete: true,
    };
    sim.r2a.send(sim.now, &mut sim.rng, &msg);
    sim.run_for(secs(1));
    let (_, reason) = sim.agent_closed().unwrap();
    assert_eq!(error_code(&reason), Some(ErrorCode::ProtocolViolation));
}

#[test]
fn the_relay_leaves_out_what_cannot_be_sent_and_the_agent_caps_the_set() {
    // One definition larger than a frame part is left out, not sent as an oversized frame.
    let mut sim = Sim::managed(23, (0, Vec::new()));
    sim.run_for(secs(1));
    let mut big = managed_tunnels(1, 60 * 1024);
    big.extend(managed_tunnels(2, 4));
    assert_eq!(sim.relay.definitions(1, big), 1);
    sim.run_for(secs(1));
    assert_eq!(
        definitions_events(&sim),
        vec![(0, Vec::new()), (1, managed_tunnels(2, 4))]
    );

    // A relay sending more than MAX_MANAGED_TUNNELS in parts is cut off by the agent.
    for part in 0..3 {
        let msg = ServerMessage::TunnelDefinitions {
            version: 2,
            tunnels: managed_tunnels(100, 1),
            complete: part == 2,
        };
        sim.r2a.send(sim.now, &mut sim.rng, &msg);
    }
    sim.run_for(secs(1));
    let (_, reason) = sim.agent_closed().unwrap();
    assert_eq!(error_code(&reason), Some(ErrorCode::ProtocolViolation));
    assert_eq!(definitions_events(&sim).len(), 2);
}
