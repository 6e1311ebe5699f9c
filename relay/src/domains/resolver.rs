//! The HTTPS edge's certificate resolver: a custom domain's own certificate when the SNI names
//! one, else the relay's (configured certificates or the dev CA).

use super::CustomDomains;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use std::sync::Arc;

/// Custom domains' certificates first, then `fallback`.
#[derive(Debug)]
pub struct DomainResolver {
    domains: Arc<CustomDomains>,
    fallback: Arc<dyn ResolvesServerCert>,
}

impl DomainResolver {
    /// Resolves from `domains`, then from `fallback`.
    pub fn new(domains: Arc<CustomDomains>, fallback: Arc<dyn ResolvesServerCert>) -> Self {
        Self { domains, fallback }
    }
}

impl ResolvesServerCert for DomainResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        if let Some(name) = hello.server_name()
            && let Some(key) = self.domains.certificate(&name.to_ascii_lowercase())
        {
            return Some(key);
        }
        self.fallback.resolve(hello)
    }
}
