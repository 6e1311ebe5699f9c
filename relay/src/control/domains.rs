//! Keeping the relay's custom domains in step with the control plane: polls
//! `GET /v1/relay/domains` and, when its version moves, installs the new table and fetches the
//! certificates whose version changed (`GET /v1/relay/domains/{id}/certificate`).
//!
//! A certificate that fails to load keeps its previous version in service (if any) and is
//! fetched again at the next poll. With a `cert_event_key`, each version put in service is
//! reported to the control plane ([`InstallReports`]).

use crate::control::cert_reports::{InService, InstallReports};
use crate::control::client::ControlClient;
use crate::domains::{CustomDomain, CustomDomains};
use crate::tls::certs::CertStore;
use fdt_api::{DomainId, DomainMode, RelayCertificate};
use fdt_proto::Backoff;
use rustls::sign::CertifiedKey;
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How often the control plane is asked when all is well.
pub const POLL_INTERVAL: Duration = Duration::from_secs(2);
/// Longest wait between polls after repeated errors.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// A certificate in service: its version, the domain's name and the key.
type Installed = HashMap<DomainId, (i64, String, Arc<CertifiedKey>)>;

/// Parses a certificate answer into a signing key whose key matches its leaf.
fn certified(c: &RelayCertificate) -> Result<Arc<CertifiedKey>, String> {
    CertStore::from_pem(
        c.chain_pem.as_bytes(),
        c.key_pem.as_bytes(),
        Path::new("<control plane: chain>"),
        Path::new("<control plane: key>"),
    )
    .map_err(|e| e.to_string())
}

/// One poll: installs the domains and brings certificates to their versions. Returns whether
/// every certificate is current (else the next poll tries again even at the same version).
async fn sync(
    client: &ControlClient,
    domains: &CustomDomains,
    installed: &mut Installed,
    page: fdt_api::RelayDomains,
) -> bool {
    let mut complete = true;
    let mut next: Installed = HashMap::new();
    let mut names = Vec::new();
    for d in &page.domains {
        let Some(want) = d.cert_version.filter(|_| d.mode == DomainMode::Terminate) else {
            continue;
        };
        let current = installed.get(&d.id).filter(|(v, _, _)| *v == want).cloned();
        let entry = match current {
            Some(e) => Some(e),
            None => match client.domain_certificate(&d.id).await {
                Ok(c) => match certified(&c) {
                    Ok(key) => {
                        tracing::info!(domain = %d.domain, version = c.version, "certificate installed");
                        Some((c.version, d.domain.clone(), key))
                    }
                    Err(e) => {
                        tracing::warn!(domain = %d.domain, error = %e, "unusable certificate from the control plane");
                        complete = false;
                        installed.get(&d.id).cloned()
                    }
                },
                Err(e) => {
                    tracing::warn!(domain = %d.domain, error = %e, "fetching a certificate failed");
                    complete = false;
                    installed.get(&d.id).cloned()
                }
            },
        };
        if let Some(e) = entry {
            names.push((d.domain.clone(), e.2.clone()));
            next.insert(d.id.clone(), e);
        }
    }
    // Certificates first: a domain that appears is served with its certificate from its first
    // request on.
    domains.replace_certificates(&names);
    domains.replace(page.domains.into_iter().map(CustomDomain::from));
    *installed = next;
    complete
}

/// Polls the control plane every [`POLL_INTERVAL`] (backing off on errors) until `shutdown`.
pub async fn run_poller(
    client: ControlClient,
    domains: Arc<CustomDomains>,
    shutdown: CancellationToken,
) {
    let mut seen: Option<i64> = None;
    let mut installed = Installed::new();
    let mut wait = Duration::ZERO;
    let mut backoff = Backoff::new(POLL_INTERVAL, MAX_BACKOFF);
    let mut reports = InstallReports::default();
    loop {
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = shutdown.cancelled() => return,
        }
        match client.domains(seen).await {
            Ok(page) => {
                backoff.reset();
                wait = POLL_INTERVAL;
                if !page.unchanged && seen != Some(page.version) {
                    let version = page.version;
                    if sync(&client, &domains, &mut installed, page).await {
                        seen = Some(version);
                    }
                }
                // Every poll: a report that failed is sent again.
                let in_service: Vec<InService<'_>> = installed
                    .iter()
                    .map(|(id, (v, name, _))| (id, name.as_str(), *v))
                    .collect();
                reports.send(&client, &in_service).await;
            }
            Err(e) => {
                wait = backoff.next_delay(rand::random());
                tracing::warn!(error = %e, retry_in_ms = wait.as_millis() as u64, "custom-domain poll failed");
            }
        }
    }
}
