//! Ranking tests: region order, health, configured relays and the weighted draw.

use super::*;
use fdt_api::RelayLoad;

fn record(id: &str, region: &str, seen: OffsetDateTime) -> RelayRecord {
    RelayRecord {
        id: id.into(),
        region: region.into(),
        agent_addr: format!("{id}.example:7443"),
        server_name: format!("{id}.example"),
        version: "test".into(),
        capacity: 100,
        weight: 100,
        draining: false,
        load: RelayLoad::default(),
        last_seen_at: seen,
    }
}

fn ids(r: Vec<Candidate>) -> Vec<String> {
    r.into_iter().map(|r| r.id).collect()
}

#[test]
fn region_then_failover_then_the_rest() {
    let now = OffsetDateTime::now_utc();
    let fleet = [
        record("us-1", "us", now),
        record("eu-1", "eu", now),
        record("ap-1", "ap", now),
    ];
    let failover = BTreeMap::from([("eu".to_string(), vec!["ap".to_string()])]);
    let c = candidates(&fleet, &[], now);
    assert_eq!(
        ids(ranked(c.clone(), Some("eu"), &failover, || 0.5)),
        ["eu-1", "ap-1", "us-1"]
    );
    assert_eq!(ids(ranked(c, Some("us"), &failover, || 0.5))[0], "us-1");
}

#[test]
fn unhealthy_and_draining_relays_are_left_out_full_ones_go_last() {
    let now = OffsetDateTime::now_utc();
    let stale = now - time::Duration::seconds(60);
    let mut draining = record("eu-3", "eu", now);
    draining.draining = true;
    let mut full = record("eu-4", "eu", now);
    full.load.sessions = 100;
    let fleet = [
        record("eu-1", "eu", stale),
        record("eu-2", "eu", now),
        draining,
        full,
    ];
    let cutoff = now - time::Duration::seconds(20);
    let got = ids(ranked(
        candidates(&fleet, &[], cutoff),
        Some("eu"),
        &BTreeMap::new(),
        || 0.5,
    ));
    assert_eq!(got, ["eu-2", "eu-4"]);
}

#[test]
fn configured_relays_fill_in_unless_registered() {
    let now = OffsetDateTime::now_utc();
    let stale = now - time::Duration::seconds(60);
    let entry = |id: &str| RelayEntry {
        id: id.into(),
        region: "eu".into(),
        addr: "x:1".into(),
        server_name: "x".into(),
    };
    // eu-1 is configured but registered stale: the registry knows better.
    let fleet = [record("eu-1", "eu", stale)];
    let got = ids(ranked(
        candidates(&fleet, &[entry("eu-1"), entry("eu-9")], now),
        None,
        &BTreeMap::new(),
        || 0.5,
    ));
    assert_eq!(got, ["eu-9"]);
}

#[test]
fn draws_follow_weight_times_free_capacity() {
    let now = OffsetDateTime::now_utc();
    let mut heavy = record("a", "eu", now);
    heavy.weight = 300;
    let mut busy = record("b", "eu", now);
    busy.load.sessions = 50; // half free: share 50
    let fleet = [heavy, busy, record("c", "eu", now)];
    let c = candidates(&fleet, &[], now);
    // A deterministic generator (xorshift) over many draws.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut uniform = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        ((x >> 11) as f64 + 1.0) / ((1u64 << 53) as f64)
    };
    let mut firsts = BTreeMap::<String, u32>::new();
    for _ in 0..9_000 {
        let top = ranked(c.clone(), Some("eu"), &BTreeMap::new(), &mut uniform);
        *firsts.entry(top[0].id.clone()).or_default() += 1;
    }
    // Shares 300 : 50 : 100 → 6000 : 1000 : 2000 expected.
    let (a, b, c) = (firsts["a"], firsts["b"], firsts["c"]);
    assert!((5_600..6_400).contains(&a), "{firsts:?}");
    assert!((800..1_200).contains(&b), "{firsts:?}");
    assert!((1_750..2_250).contains(&c), "{firsts:?}");
}
