//! Counts of refused certificate events, by reason, since the process started. Kept in memory,
//! not in the database: a refusal is an unauthenticated request, and must not cost a write.

use fdt_api::domains::cert_event::{CertEventRefusals, ProvenanceError};
use std::sync::atomic::{AtomicU64, Ordering};

/// Why an event was refused (the counted reasons).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Its provenance did not hold.
    Provenance(ProvenanceError),
    /// Signed, but about no verified domain (or not that row).
    UnknownDomain,
}

/// The counters.
#[derive(Debug, Default)]
pub struct Refusals {
    malformed: AtomicU64,
    unknown_cluster: AtomicU64,
    stale: AtomicU64,
    bad_signature: AtomicU64,
    unknown_domain: AtomicU64,
}

impl Refusals {
    /// Counts one refusal.
    pub fn count(&self, r: Refusal) {
        let counter = match r {
            Refusal::Provenance(ProvenanceError::Malformed(_)) => &self.malformed,
            Refusal::Provenance(ProvenanceError::UnknownCluster) => &self.unknown_cluster,
            Refusal::Provenance(ProvenanceError::Stale) => &self.stale,
            Refusal::Provenance(ProvenanceError::BadSignature) => &self.bad_signature,
            Refusal::UnknownDomain => &self.unknown_domain,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// The counts now.
    pub fn snapshot(&self) -> CertEventRefusals {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        CertEventRefusals {
            malformed: get(&self.malformed),
            unknown_cluster: get(&self.unknown_cluster),
            stale: get(&self.stale),
            bad_signature: get(&self.bad_signature),
            unknown_domain: get(&self.unknown_domain),
        }
    }
}
