//! Choosing relays for an agent. For now the fleet is the configured `[[relays]]` list; the
//! ranking puts relays in the agent's preferred region first and otherwise keeps the
//! configured order (health, weights and load come with relay registration).

use crate::config::RelayEntry;
use fdt_api::RelayInfo;

/// `relays` ranked for an agent preferring `region`: that region's relays first, each group in
/// configured order.
pub fn ranked(relays: &[RelayEntry], region: Option<&str>) -> Vec<RelayInfo> {
    let preferred = |r: &&RelayEntry| Some(r.region.as_str()) == region;
    relays
        .iter()
        .filter(preferred)
        .chain(relays.iter().filter(|r| !preferred(r)))
        .map(|r| RelayInfo {
            id: r.id.clone(),
            region: r.region.clone(),
            addr: r.addr.clone(),
            server_name: r.server_name.clone(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn relay(id: &str, region: &str) -> RelayEntry {
        RelayEntry {
            id: id.into(),
            region: region.into(),
            addr: format!("{id}.example:7443"),
            server_name: format!("{id}.example"),
        }
    }

    #[test]
    fn preferred_region_first_then_configured_order() {
        let fleet = [
            relay("us-1", "us"),
            relay("eu-1", "eu"),
            relay("us-2", "us"),
        ];
        let ids = |r: Vec<RelayInfo>| r.into_iter().map(|r| r.id).collect::<Vec<_>>();
        assert_eq!(ids(ranked(&fleet, Some("eu"))), ["eu-1", "us-1", "us-2"]);
        assert_eq!(ids(ranked(&fleet, None)), ["us-1", "eu-1", "us-2"]);
        assert_eq!(ids(ranked(&fleet, Some("ap"))), ["us-1", "eu-1", "us-2"]);
    }
}
