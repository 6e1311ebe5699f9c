//! Reporting the custom-domain certificate versions this relay has in service, as signed
//! `installed` certificate events (`POST /v1/cert-events`), so the control plane can show where
//! each certificate is replicated. Each (domain, version) is reported once it is installed;
//! a report the control plane refuses for good (a 4xx other than 401, 408, 429) is not sent
//! again, one that fails otherwise is retried at the next poll.

use crate::control::client::{ControlClient, is_final};
use fdt_api::{CertEvent, CertEventKind, DomainId};
use sha2::{Digest, Sha256};
use std::collections::HashMap;

/// Most reports sent per poll (the rest wait for the next one).
const MAX_PER_POLL: usize = 32;

/// A certificate in service: domain ID, name and version.
pub(crate) type InService<'a> = (&'a DomainId, &'a str, i64);

/// What has been reported, per domain.
#[derive(Debug, Default)]
pub(crate) struct InstallReports {
    reported: HashMap<DomainId, i64>,
}

/// The event ID of relay `relay`'s install of `version` of domain `id`: the same after a
/// restart, so a report sent again is a duplicate at the control plane, not a second event.
fn event_id(relay: &str, id: &DomainId, version: i64) -> String {
    let digest = Sha256::digest(format!("{relay}\n{id}\n{version}").as_bytes());
    format!("inst-{}", fdt_api::hex::encode(&digest[..16]))
}

impl InstallReports {
    /// The reports `in_service` still needs (forgetting domains no longer served), at most
    /// [`MAX_PER_POLL`].
    fn due<'a>(&mut self, in_service: &[InService<'a>]) -> Vec<InService<'a>> {
        self.reported
            .retain(|id, _| in_service.iter().any(|(d, _, _)| *d == id));
        in_service
            .iter()
            .filter(|(id, _, v)| self.reported.get(*id) != Some(v))
            .take(MAX_PER_POLL)
            .copied()
            .collect()
    }

    /// Sends what is due; stops at the first error that is worth retrying.
    pub(crate) async fn send(&mut self, client: &ControlClient, in_service: &[InService<'_>]) {
        if !client.reports_installs() {
            return;
        }
        for (id, domain, version) in self.due(in_service) {
            let event = CertEvent {
                id: event_id(client.relay_id(), id, version),
                domain: domain.to_owned(),
                domain_id: Some(id.clone()),
                kind: CertEventKind::Installed,
                version: Some(version),
                detail: String::new(),
            };
            let now = time::OffsetDateTime::now_utc().unix_timestamp();
            match client.cert_event(&event, now).await {
                None => return,
                Some(Ok(receipt)) => {
                    tracing::debug!(%domain, version, outcome = %receipt.outcome, "certificate install reported");
                    self.reported.insert(id.clone(), version);
                }
                Some(Err(e)) if is_final(&e) => {
                    tracing::warn!(%domain, version, error = %e, "certificate install report refused; not sending it again");
                    self.reported.insert(id.clone(), version);
                }
                Some(Err(e)) => {
                    tracing::warn!(%domain, version, error = %e, "certificate install report failed; retrying at the next poll");
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn domain(c: char) -> DomainId {
        DomainId::from_suffix(&c.to_string().repeat(fdt_api::ids::ID_SUFFIX_LEN)).unwrap()
    }

    #[test]
    fn each_version_is_due_until_reported_and_gone_domains_are_forgotten() {
        let (a, b) = (domain('a'), domain('b'));
        let mut r = InstallReports::default();
        let due = r.due(&[(&a, "a.test", 1), (&b, "b.test", 1)]);
        assert_eq!(due.len(), 2);
        r.reported.insert(a.clone(), 1);
        assert_eq!(
            r.due(&[(&a, "a.test", 1), (&b, "b.test", 1)]),
            [(&b, "b.test", 1)]
        );
        // A new version is due again; a domain no longer served is forgotten.
        assert_eq!(r.due(&[(&a, "a.test", 2)]), [(&a, "a.test", 2)]);
        assert!(!r.reported.contains_key(&b));
    }

    #[test]
    fn event_ids_are_stable_labels_that_differ_per_relay_domain_and_version() {
        let a = domain('a');
        let id = event_id("relay-eu-1", &a, 3);
        assert_eq!(id, event_id("relay-eu-1", &a, 3));
        assert!(
            fdt_api::domains::cert_event::is_label(&id) && id.len() <= 64,
            "{id}"
        );
        assert_ne!(id, event_id("relay-eu-2", &a, 3));
        assert_ne!(id, event_id("relay-eu-1", &a, 4));
        assert_ne!(id, event_id("relay-eu-1", &domain('b'), 3));
    }
}
