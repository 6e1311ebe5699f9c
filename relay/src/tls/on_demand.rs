//! Certificates minted on demand by the local dev CA.
//!
//! TLS clients (OpenSSL, webpki, browsers) refuse a wildcard directly under a single-label
//! domain, so `*.localhost` cannot cover `app.localhost`. Instead the relay issues an exact
//! certificate for each tunnel host the first time a visitor asks for it, and caches it.

use crate::tls::certs::CertStore;
use crate::tls::dev_ca::DevCa;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Most certificates kept in the cache; past this the cache is cleared (names are re-issued).
const MAX_CACHED: usize = 4096;

/// Resolves from a fixed store first, then issues from the dev CA for names under the base
/// domain.
#[derive(Debug)]
pub struct OnDemandResolver {
    store: CertStore,
    ca: DevCa,
    base_domain: String,
    cache: Mutex<HashMap<String, Arc<CertifiedKey>>>,
}

impl OnDemandResolver {
    /// A resolver issuing from `ca` for `base_domain` and its direct subdomains.
    pub fn new(store: CertStore, ca: DevCa, base_domain: &str) -> Self {
        Self {
            store,
            ca,
            base_domain: base_domain.to_ascii_lowercase(),
            cache: Mutex::default(),
        }
    }

    /// The certificate for `name`, issuing one if `name` is the base domain or one label under it.
    pub fn resolve_name(&self, name: Option<&str>) -> Option<Arc<CertifiedKey>> {
        let name = name.unwrap_or(&self.base_domain).to_ascii_lowercase();
        if let Some(k) = self.store.resolve_name(Some(&name)) {
            return Some(k);
        }
        let under_base = name == self.base_domain
            || name
                .strip_suffix(&self.base_domain)
                .and_then(|p| p.strip_suffix('.'))
                .is_some_and(|label| !label.is_empty() && !label.contains('.'));
        if !under_base {
            return None;
        }
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(k) = cache.get(&name) {
            return Some(k.clone());
        }
        let (chain, key) = match self.ca.issue(std::slice::from_ref(&name)) {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!(%name, error = %e, "dev CA could not issue");
                return None;
            }
        };
        let signer = rustls::crypto::ring::sign::any_supported_type(&key).ok()?;
        let ck = Arc::new(CertifiedKey::new(chain, signer));
        if cache.len() >= MAX_CACHED {
            cache.clear();
        }
        cache.insert(name, ck.clone());
        Some(ck)
    }
}

impl ResolvesServerCert for OnDemandResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.resolve_name(hello.server_name())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn issues_for_direct_subdomains_only_and_caches() {
        let dir = std::env::temp_dir().join(format!("fdt-devcerts-{}", rand::random::<u64>()));
        let ca = DevCa::load_or_create(&dir).unwrap();
        let r = OnDemandResolver::new(CertStore::new(), ca, "localhost");
        let a = r.resolve_name(Some("app.localhost")).unwrap();
        let b = r.resolve_name(Some("APP.localhost")).unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        assert!(r.resolve_name(Some("localhost")).is_some());
        assert!(r.resolve_name(Some("a.b.localhost")).is_none());
        assert!(r.resolve_name(Some("evil.com")).is_none());
        assert!(r.resolve_name(Some("xlocalhost")).is_none());
        std::fs::remove_dir_all(&dir).ok();
    }
}
