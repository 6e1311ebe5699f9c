use super::*;
use crate::control::reporter::{MAX_PENDING_ENDED, MAX_PENDING_REPLAYS};

fn worst_header() -> RelayHeartbeat {
    let long = "a".repeat(255);
    RelayHeartbeat {
        relay_id: "r".repeat(63),
        boot_id: "b".repeat(64),
        seq: u64::MAX,
        region: "region".into(),
        agent_addr: long.clone(),
        server_name: long,
        version: "v".repeat(128),
        capacity: u32::MAX,
        weight: 1000,
        draining: true,
        load: RelayLoad {
            sessions: u32::MAX,
            tunnels: u32::MAX,
            connections: u32::MAX,
        },
        ended: Vec::new(),
        usage: Vec::new(),
        replay_results: Vec::new(),
    }
}

fn job(n: usize) -> String {
    format!("rpl_{n:0>22}")
}

#[test]
fn worst_case_heartbeat_fits_the_clouds_limit() {
    let reporter = Reporter::default();
    let usage = UsageMeter::default();
    // Every queue as full as it gets, with the largest items an agent can cause: errors of
    // control characters (escaped to six bytes each before), quotes and backslashes.
    for n in 0..MAX_PENDING_ENDED {
        reporter.ended(
            format!("tun_{n:0>22}")
                .parse()
                .unwrap_or_else(|_| unreachable!()),
        );
    }
    let nasty = "\u{1}\"\\".repeat(1000);
    for n in 0..MAX_PENDING_REPLAYS {
        reporter.replay_done(job(n), Some(599), Some(nasty.clone()));
    }
    let mut held = Vec::new();
    for n in 0..5000 {
        let c = usage.counters(&format!("acc_{n:0>22}"));
        c.bytes(u64::MAX, u64::MAX);
        c.request();
        c.connection();
        held.push(c);
    }
    let mut sent = 0;
    // Drain everything, heartbeat after heartbeat: each one fits.
    for _ in 0..1000 {
        let hb = fill_heartbeat(&reporter, &usage, worst_header(), usize::MAX);
        let len = serde_json::to_vec(&hb)
            .map(|v| v.len())
            .unwrap_or(usize::MAX);
        assert!(
            len <= fdt_api::relays::MAX_HEARTBEAT_BYTES,
            "{len} bytes with {} ended, {} usage, {} replays",
            hb.ended.len(),
            hb.usage.len(),
            hb.replay_results.len()
        );
        assert!(hb.ended.len() <= fdt_api::relays::MAX_HEARTBEAT_ITEMS);
        assert!(hb.usage.len() <= fdt_api::relays::MAX_HEARTBEAT_ITEMS);
        assert!(hb.replay_results.len() <= fdt_api::relays::MAX_HEARTBEAT_ITEMS);
        let n = hb.ended.len() + hb.usage.len() + hb.replay_results.len();
        if n == 0 {
            break;
        }
        sent += n;
    }
    // The replay queue is bounded in bytes, not only in count: ~1 KiB results overflow
    // it. What it kept went out; nothing was lost on the way.
    let dropped = reporter.replays_dropped();
    assert!(dropped > 0);
    assert_eq!(reporter.replays_queued_bytes(), 0);
    let kept = MAX_PENDING_REPLAYS - usize::try_from(dropped).unwrap_or(0);
    assert_eq!(sent, MAX_PENDING_ENDED + kept + 5000);
}
