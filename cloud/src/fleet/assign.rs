//! Choosing relays for an agent (relay assignment and region choice): the fleet is every relay that heartbeats (healthy, not
//! draining) plus configured `[[relays]]` that do not heartbeat. They are ranked by region —
//! the agent's preferred region, then that region's failover regions in order, then the rest —
//! and within a region by a weighted random draw, so new agents spread over a region's relays
//! in proportion to `weight × free capacity` instead of all rushing to the emptiest one between
//! two heartbeats. Full relays come last in their region: tried, but only when nothing else
//! answers.

use crate::config::RelayEntry;
use crate::state::AppState;
use crate::store::{RelayRecord, StoreError};
use std::collections::BTreeMap;
use time::OffsetDateTime;

/// A relay that may be offered to agents.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// Relay ID.
    pub id: String,
    /// Region it serves.
    pub region: String,
    /// QUIC address agents dial, `host:port`.
    pub addr: String,
    /// Name its certificate is checked against.
    pub server_name: String,
    /// Share of new agents: weight × free fraction of capacity; 0 when full.
    pub share: f64,
}

/// The relays for an agent preferring `region`, best first (see the module docs); empty when
/// no relay can take it.
pub async fn relays_for(st: &AppState, region: Option<&str>) -> Result<Vec<Candidate>, StoreError> {
    let registered = st.store().list_relays().await?;
    let offered = candidates(&registered, st.configured_relays(), st.healthy_cutoff());
    Ok(ranked(
        offered,
        region,
        &st.fleet().failover,
        rand::random::<f64>,
    ))
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
                id: r.id.clone(),
                region: r.region.clone(),
                addr: r.agent_addr.clone(),
                server_name: r.server_name.clone(),
                share: f64::from(r.weight) * free,
            }
        })
        .collect();
    out.extend(
        configured
            .iter()
            .filter(|c| !registered.iter().any(|r| r.id == c.id))
            .map(|c| Candidate {
                id: c.id.clone(),
                region: c.region.clone(),
                addr: c.addr.clone(),
                server_name: c.server_name.clone(),
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
) -> Vec<Candidate> {
    let next_regions = region.and_then(|r| failover.get(r));
    let group = |c: &Candidate| -> usize {
        match region {
            None => 0,
            Some(r) if c.region == r => 0,
            Some(_) => next_regions
                .and_then(|n| n.iter().position(|x| *x == c.region))
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
            .then_with(|| a.3.id.cmp(&b.3.id))
    });
    keyed.into_iter().map(|(_, _, _, c)| c).collect()
}

#[cfg(test)]
mod tests;
