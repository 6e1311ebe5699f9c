//! Keeping the relay's custom domains in step with the control plane: polls
//! `GET /v1/relay/domains` and, when its version moves, installs the new table and fetches the
//! certificates whose version changed (`GET /v1/relay/domains/{id}/certificate`).
//!
//! A certificate that fails to load keeps its previous version in service (if any) and is
//! fetched again at the next poll.

use crate::control::client::ControlClient;
use crate::domains::{CustomDomain, CustomDomains};
use fdt_api::{DomainId, DomainMode, RelayCertificate};
use fdt_proto::Backoff;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How often the control plane is asked when all is well.
pub const POLL_INTERVAL: Duration = Duration::from_secs(2);
/// Longest wait between polls after repeated errors.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// A certificate in service: its version and key.
type Installed = HashMap<DomainId, (i64, Arc<CertifiedKey>)>;

/// Parses a certificate answer into a signing key whose key matches its leaf.
fn certified(c: &RelayCertificate) -> Result<Arc<CertifiedKey>, String> {
    let chain = CertificateDer::pem_slice_iter(c.chain_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("chain: {e}"))?;
    if chain.is_empty() {
        return Err("empty chain".into());
    }
    let key =
        PrivateKeyDer::from_pem_slice(c.key_pem.as_bytes()).map_err(|e| format!("key: {e}"))?;
    let signer = rustls::crypto::ring::sign::any_supported_type(&key).map_err(|e| e.to_string())?;
    let ck = CertifiedKey::new(chain, signer);
    ck.keys_match().map_err(|e| e.to_string())?;
    Ok(Arc::new(ck))
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
        let current = installed.get(&d.id).filter(|(v, _)| *v == want).cloned();
        let entry = match current {
            Some(e) => Some(e),
            None => match client.domain_certificate(&d.id).await {
                Ok(c) => match certified(&c) {
                    Ok(key) => {
                        tracing::info!(domain = %d.domain, version = c.version, "certificate installed");
                        Some((c.version, key))
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
            names.push((d.domain.clone(), e.1.clone()));
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
    loop {
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = shutdown.cancelled() => return,
        }
        match client.domains().await {
            Ok(page) => {
                backoff.reset();
                wait = POLL_INTERVAL;
                if seen == Some(page.version) {
                    continue;
                }
                let version = page.version;
                if sync(&client, &domains, &mut installed, page).await {
                    seen = Some(version);
                }
            }
            Err(e) => {
                wait = backoff.next_delay(rand::random());
                tracing::warn!(error = %e, retry_in_ms = wait.as_millis() as u64, "custom-domain poll failed");
            }
        }
    }
}
