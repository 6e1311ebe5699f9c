//! Custom domains at the relay: which verified domain routes to which of its account's names
//! ([`CustomDomains::lookup`]), and the certificates served for them ([`DomainResolver`]).
//!
//! The control plane is the source of truth; `control::domains` polls it and swaps in whole new
//! tables, so a lookup never sees half an update, and handshakes in progress keep the
//! certificate they started with (rustls resolves once per handshake: swapping drops nothing).

mod resolver;

pub use resolver::DomainResolver;

use crate::tls::CertStore;
use fdt_api::{AccountId, DomainId, DomainMode, FailurePolicy, RelayDomain};
use rustls::sign::CertifiedKey;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

/// One verified custom domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomDomain {
    /// Its ID at the control plane.
    pub id: DomainId,
    /// The name (`*.example.com` for a wildcard).
    pub domain: String,
    /// The account whose tunnel must serve it.
    pub account: AccountId,
    /// Where TLS ends.
    pub mode: DomainMode,
    /// The subdomain under the base domain it serves.
    pub target: Option<String>,
    /// What visitors see while it is offline.
    pub failure: FailurePolicy,
}

impl From<RelayDomain> for CustomDomain {
    fn from(d: RelayDomain) -> Self {
        Self {
            id: d.id,
            domain: d.domain,
            account: d.account,
            mode: d.mode,
            target: d.target,
            failure: d.failure,
        }
    }
}

/// Domains by exact name and by wildcard parent.
#[derive(Debug, Default)]
struct Table {
    exact: HashMap<String, Arc<CustomDomain>>,
    wildcard: HashMap<String, Arc<CustomDomain>>,
}

impl Table {
    fn build(domains: impl IntoIterator<Item = CustomDomain>) -> Self {
        let mut t = Self::default();
        for d in domains {
            let d = Arc::new(d);
            match d.domain.strip_prefix("*.") {
                Some(parent) => t.wildcard.insert(parent.to_owned(), d),
                None => t.exact.insert(d.domain.clone(), d),
            };
        }
        t
    }

    fn lookup(&self, host: &str) -> Option<Arc<CustomDomain>> {
        self.exact.get(host).cloned().or_else(|| {
            let (label, parent) = host.split_once('.')?;
            if label.is_empty() {
                return None;
            }
            self.wildcard.get(parent).cloned()
        })
    }
}

/// The verified custom domains this relay serves, and their certificates.
#[derive(Debug, Default)]
pub struct CustomDomains {
    table: RwLock<Arc<Table>>,
    certs: RwLock<Arc<CertStore>>,
}

impl CustomDomains {
    /// The domain `host` (lower case, no port) belongs to, if any.
    pub fn lookup(&self, host: &str) -> Option<Arc<CustomDomain>> {
        let table = self
            .table
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        table.lookup(host)
    }

    /// Replaces every domain at once.
    pub fn replace(&self, domains: impl IntoIterator<Item = CustomDomain>) {
        let table = Arc::new(Table::build(domains));
        *self
            .table
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = table;
    }

    /// Replaces every certificate at once: each key served for its domain's name.
    pub fn replace_certificates(&self, certs: &[(String, Arc<CertifiedKey>)]) {
        let mut store = CertStore::new();
        for (name, key) in certs {
            store.add(std::slice::from_ref(name), key.clone());
        }
        *self
            .certs
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(store);
    }

    /// The certificate for `sni` among the custom domains' (no default).
    pub fn certificate(&self, sni: &str) -> Option<Arc<CertifiedKey>> {
        let store = self
            .certs
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        store.resolve_name(Some(sni))
    }

    /// When the first of the custom domains' certificates expires (Unix seconds).
    pub fn earliest_certificate_expiry(&self) -> Option<i64> {
        self.certs
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
            .earliest_expiry()
    }

    /// How many domains are served.
    pub fn len(&self) -> usize {
        let t = self
            .table
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        t.exact.len() + t.wildcard.len()
    }

    /// Whether no domain is served.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn domain(name: &str) -> CustomDomain {
        CustomDomain {
            id: "dom_0000000000000000000000".parse().unwrap(),
            domain: name.into(),
            account: "acc_0000000000000000000000".parse().unwrap(),
            mode: DomainMode::Terminate,
            target: Some("app".into()),
            failure: FailurePolicy::ErrorPage,
        }
    }

    #[test]
    fn lookups_match_exact_names_and_one_label_wildcards() {
        let d = CustomDomains::default();
        d.replace([domain("app.example.com"), domain("*.wild.example")]);
        assert_eq!(d.len(), 2);
        assert!(d.lookup("app.example.com").is_some());
        assert!(d.lookup("x.app.example.com").is_none());
        assert!(d.lookup("a.wild.example").is_some());
        assert!(d.lookup("wild.example").is_none());
        assert!(d.lookup("a.b.wild.example").is_none());
        d.replace([]);
        assert!(d.lookup("app.example.com").is_none());
        assert!(d.is_empty());
    }
}
