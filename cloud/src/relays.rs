//! Choosing relays for an agent: the fleet is every relay that heartbeats (healthy, not
//! draining) plus configured `[[relays]]` that do not heartbeat. They are ranked by region —
//! the agent's preferred region, then that region's failover regions in order, then the rest —
//! and within a region by a weighted random draw, so new agents spread over a region's relays
//! in proportion to `weight × free capacity` instead of all rushing to the emptiest one between
//! two heartbeats. Full relays come last in their region: tried, but only when nothing else
//! answers.

use crate::config::RelayEntry;
use crate::store::RelayRecord;
use fdt_api::RelayInfo;
use std::collections::BTreeMap;
use time::OffsetDateTime;

/// A relay that may be offered to agents.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// What the agent is told.
    pub info: RelayInfo,
    /// Share of new agents: weight × free fraction of capacity; 0 when full.
    pub share: f64,
}

/// The relays to offer: registered relays heard from at or after `healthy_cutoff` and not
/// draining, then configured relays that never registered (their health is unknown, so they
/// are assumed up with an average share).
pub fn candidates(
    registered: &[RelayRecord],
    configured: &[RelayEntry],
    healthy_cutoff: OffsetDateTime,
) -> Vec<Candidate> {
    let mut out: Vec<Candidate> = registered
        .iter()
        .filter(|r| r.heard_since(healthy_cutoff) && !r.draining)
        .map(|r| {
            let cap = f64::from(r.capacity.max(1));
            let free = (1.0 - f64::from(r.load.sessions) / cap).max(0.0);
            Candidate {
                info: RelayInfo {
                    id: r.id.clone(),
                    region: r.region.clone(),
                    addr: r.agent_addr.clone(),
                    server_name: r.server_name.clone(),
                },
                share: f64::from(r.weight) * free,
            }
        })
        .collect();
    out.extend(
        configured
            .iter()
            .filter(|c| !registered.iter().any(|r| r.id == c.id))
            .map(|c| Candidate {
                info: RelayInfo {
                    id: c.id.clone(),
                    region: c.region.clone(),
                    addr: c.addr.clone(),
                    server_name: c.server_name.clone(),
                },
                share: 100.0,
            }),
    );
    out
}

/// Orders `candidates` for an agent preferring `region` (see the module docs). `uniform`
/// returns values in (0, 1]; tests pass a fixed sequence.
pub fn ranked(
    candidates: Vec<Candidate>,
    region: Option<&str>,
    failover: &BTreeMap<String, Vec<String>>,
    mut uniform: impl FnMut() -> f64,
) -> Vec<RelayInfo> {
    let next_regions = region.and_then(|r| failover.get(r));
    let group = |c: &Candidate| -> usize {
        match region {
            None => 0,
            Some(r) if c.info.region == r => 0,
            Some(_) => next_regions
                .and_then(|n| n.iter().position(|x| *x == c.info.region))
                .map_or(usize::MAX, |i| i + 1),
        }
    };
    // Efraimidis–Spirakis: sorting by -ln(u)/share draws without replacement with
    // probabilities proportional to share.
    let mut keyed: Vec<(usize, bool, f64, Candidate)> = candidates
        .into_iter()
        .map(|c| {
            let full = c.share <= 0.0;
            let key = if full {
                0.0
            } else {
                -uniform().clamp(f64::MIN_POSITIVE, 1.0).ln() / c.share
            };
            (group(&c), full, key, c)
        })
        .collect();
    keyed.sort_by(|a, b| {
        (a.0, a.1)
            .cmp(&(b.0, b.1))
            .then(a.2.total_cmp(&b.2))
            .then_with(|| a.3.info.id.cmp(&b.3.info.id))
    });
    keyed.into_iter().map(|(_, _, _, c)| c.info).collect()
}

#[cfg(test)]
mod tests {
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

    fn ids(r: Vec<RelayInfo>) -> Vec<String> {
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
}
