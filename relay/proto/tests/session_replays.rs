//! Replays over the session: the relay hands replay jobs to the agent that holds the tunnel,
//! results come back once, and open jobs are bounded. Deterministic, over the simulated
//! network of `sim/mod.rs` (virtual time, seeded loss, delay and reordering), like
//! `session_harness.rs`.
#![allow(clippy::unwrap_used)]

mod sim;

use fdt_proto::TunnelId;
use fdt_proto::session::{AgentEvent, AgentState, RelayEvent};
use sim::Sim;
use std::time::Duration;

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

#[test]
fn replays_reach_the_agent_for_its_tunnels_only_and_results_come_back() {
    let mut sim = Sim::ok(7);
    sim.bind("web", Some("web"));
    sim.run_for(secs(1));
    let tunnel = sim.relay.tunnels()[0];
    let spec = fdt_proto::ReplaySpec {
        method: "POST".into(),
        path: "/hook".into(),
        headers: vec![("x-replay".into(), "1".into())],
        body: Some("e30=".into()),
    };
    sim.relay.replay("rpl_1".into(), tunnel, spec.clone());
    // A tunnel this session does not hold is not sent.
    sim.relay
        .replay("rpl_2".into(), TunnelId(999), spec.clone());
    sim.run_for(secs(1));
    let replays: Vec<_> = (sim.agent_events.iter())
        .filter_map(|(_, e)| match e {
            AgentEvent::Replay {
                job,
                tunnel: t,
                request,
            } => Some((job.clone(), *t, request.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(replays, [("rpl_1".to_string(), tunnel, spec)]);
    sim.agent.replay_result("rpl_1".into(), Some(201), None);
    sim.run_for(secs(1));
    let results: Vec<_> = (sim.relay_events.iter())
        .filter_map(|(_, e)| match e {
            RelayEvent::ReplayResult { job, status, error } => {
                Some((job.clone(), *status, error.clone()))
            }
            _ => None,
        })
        .collect();
    assert_eq!(results, [("rpl_1".to_string(), Some(201), None)]);
    // The session goes on.
    assert_eq!(sim.agent.state(), &AgentState::Ready);
}

/// A bodiless `GET /` to replay.
fn get_root() -> fdt_proto::ReplaySpec {
    fdt_proto::ReplaySpec {
        method: "GET".into(),
        path: "/".into(),
        headers: vec![],
        body: None,
    }
}

/// Job IDs of the replay results the relay reported.
fn result_jobs(sim: &Sim) -> Vec<(String, Option<u16>)> {
    (sim.relay_events.iter())
        .filter_map(|(_, e)| match e {
            RelayEvent::ReplayResult { job, status, .. } => Some((job.clone(), *status)),
            _ => None,
        })
        .collect()
}

#[test]
fn replay_results_for_jobs_never_sent_or_already_answered_are_dropped() {
    let mut sim = Sim::ok(9);
    sim.bind("web", Some("web"));
    sim.run_for(secs(1));
    let tunnel = sim.relay.tunnels()[0];
    let spec = get_root();
    sim.relay.replay("rpl_sent".into(), tunnel, spec);
    sim.run_for(secs(1));
    // A forged job ID, the real one, then the real one again.
    sim.agent
        .replay_result("rpl_forged".into(), Some(200), Some("x".repeat(100)));
    sim.agent.replay_result("rpl_sent".into(), Some(204), None);
    sim.agent
        .replay_result("rpl_sent".into(), Some(500), Some("again".into()));
    sim.run_for(secs(1));
    assert_eq!(result_jobs(&sim), [("rpl_sent".to_string(), Some(204))]);
    // Dropping them is not a reason to end the session.
    assert_eq!(sim.agent.state(), &AgentState::Ready);
}

#[test]
fn open_replays_are_bounded_and_the_oldest_is_forgotten() {
    let mut sim = Sim::ok(10);
    sim.bind("web", Some("web"));
    sim.run_for(secs(1));
    let tunnel = sim.relay.tunnels()[0];
    let spec = get_root();
    for n in 0..=fdt_proto::session::MAX_OPEN_REPLAYS {
        sim.relay.replay(format!("rpl_{n}"), tunnel, spec.clone());
    }
    sim.run_for(secs(1));
    sim.agent.replay_result("rpl_0".into(), Some(200), None);
    let last = format!("rpl_{}", fdt_proto::session::MAX_OPEN_REPLAYS);
    sim.agent.replay_result(last.clone(), Some(200), None);
    sim.run_for(secs(1));
    assert_eq!(result_jobs(&sim), [(last, Some(200))]);
}
