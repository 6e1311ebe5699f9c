//! Server certificates for the TLS-terminating edge, chosen by SNI.
//!
//! A [`CertStore`] maps host names to [`CertifiedKey`]s: exact names first, then wildcards
//! (`*.example.com` covers exactly one extra label, as in RFC 6125), then an optional default
//! for visitors that send no name or an unknown one. It implements rustls'
//! [`ResolvesServerCert`], and [`server_config`] wraps it (or any other resolver) in a
//! ring-backed `ServerConfig`.

use std::collections::HashMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::ServerConfig;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

/// Why a certificate and key pair could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum CertError {
    /// A file could not be read.
    #[error("reading {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// A file is not valid PEM.
    #[error("parsing PEM in {path}: {source}")]
    Pem {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The certificate file holds no `CERTIFICATE` block.
    #[error("no certificate found in {0}")]
    NoCertificate(PathBuf),
    /// The key file holds no private key block.
    #[error("no private key found in {0}")]
    NoPrivateKey(PathBuf),
    /// The key is of a type or algorithm rustls cannot sign with.
    #[error("unsupported private key in {path}: {source}")]
    UnsupportedKey {
        /// The key file.
        path: PathBuf,
        /// The rustls error.
        #[source]
        source: rustls::Error,
    },
    /// The private key does not belong to the first certificate of the chain.
    #[error("the key in {key} does not match the certificate in {cert}: {source}")]
    KeyMismatch {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
        /// The rustls error.
        #[source]
        source: rustls::Error,
    },
}

/// Certificates keyed by exact host name and by wildcard, plus an optional default.
#[derive(Debug, Default)]
pub struct CertStore {
    /// Certificates by exact lower-case name.
    exact: HashMap<String, Arc<CertifiedKey>>,
    /// Certificates by the parent of a wildcard (`example.com` for `*.example.com`).
    wildcard: HashMap<String, Arc<CertifiedKey>>,
    /// Certificate used when nothing else matches.
    default: Option<Arc<CertifiedKey>>,
}

impl CertStore {
    /// An empty store that resolves nothing.
    pub fn new() -> CertStore {
        CertStore::default()
    }

    /// Serves `key` for each of `names` (exact names or `*.parent` wildcards); later adds win.
    pub fn add(&mut self, names: &[String], key: Arc<CertifiedKey>) {
        for name in names {
            let name = normalise(name);
            match name.strip_prefix("*.") {
                Some(parent) if !parent.is_empty() => {
                    self.wildcard.insert(parent.to_owned(), Arc::clone(&key));
                }
                _ => {
                    self.exact.insert(name, Arc::clone(&key));
                }
            }
        }
    }

    /// Serves `key` to visitors whose name matches nothing (or who send no name).
    pub fn set_default(&mut self, key: Arc<CertifiedKey>) {
        self.default = Some(key);
    }

    /// When the first of the store's certificates expires (Unix seconds), if it holds any.
    pub fn earliest_expiry(&self) -> Option<i64> {
        self.exact
            .values()
            .chain(self.wildcard.values())
            .chain(self.default.iter())
            .filter_map(|k| not_after(k))
            .min()
    }

    /// Whether the store holds no certificate at all.
    pub fn is_empty(&self) -> bool {
        self.exact.is_empty() && self.wildcard.is_empty() && self.default.is_none()
    }

    /// Reads a PEM certificate chain and private key into a [`CertifiedKey`] (ring signer).
    pub fn load_pem_files(cert: &Path, key: &Path) -> Result<Arc<CertifiedKey>, CertError> {
        Self::from_pem(&read(cert)?, &read(key)?, cert, key)
    }

    /// Parses a PEM chain and private key into a [`CertifiedKey`] whose key matches its leaf;
    /// errors name `cert` and `key` as where they came from.
    pub fn from_pem(
        cert_pem: &[u8],
        key_pem: &[u8],
        cert: &Path,
        key: &Path,
    ) -> Result<Arc<CertifiedKey>, CertError> {
        let chain = rustls_pemfile::certs(&mut &*cert_pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|source| CertError::Pem {
                path: cert.to_path_buf(),
                source,
            })?;
        if chain.is_empty() {
            return Err(CertError::NoCertificate(cert.to_path_buf()));
        }
        let key_der = rustls_pemfile::private_key(&mut &*key_pem)
            .map_err(|source| CertError::Pem {
                path: key.to_path_buf(),
                source,
            })?
            .ok_or_else(|| CertError::NoPrivateKey(key.to_path_buf()))?;
        let signer =
            rustls::crypto::ring::sign::any_supported_type(&key_der).map_err(|source| {
                CertError::UnsupportedKey {
                    path: key.to_path_buf(),
                    source,
                }
            })?;
        let certified = CertifiedKey::new(chain, signer);
        // Catch a swapped key before the first handshake does.
        certified
            .keys_match()
            .map_err(|source| CertError::KeyMismatch {
                cert: cert.to_path_buf(),
                key: key.to_path_buf(),
                source,
            })?;
        Ok(Arc::new(certified))
    }

    /// The certificate for `sni`: exact match, else one-label wildcard, else the default.
    pub fn resolve_name(&self, sni: Option<&str>) -> Option<Arc<CertifiedKey>> {
        let found = sni.and_then(|name| {
            let name = normalise(name);
            self.exact.get(&name).or_else(|| {
                let (label, parent) = name.split_once('.')?;
                if label.is_empty() {
                    return None;
                }
                self.wildcard.get(parent)
            })
        });
        found.or(self.default.as_ref()).cloned()
    }
}

impl ResolvesServerCert for CertStore {
    fn resolve(&self, client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.resolve_name(client_hello.server_name())
    }
}

/// A TLS server configuration (ring provider, safe default versions) using resolver `store`.
pub fn server_config(store: Arc<dyn ResolvesServerCert>, alpn: Vec<Vec<u8>>) -> Arc<ServerConfig> {
    let mut config =
        ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            // Only fails for a provider without cipher suites for TLS 1.2/1.3; ring has both.
            .expect("the ring provider supports the default protocol versions")
            .with_no_client_auth()
            .with_cert_resolver(store);
    config.alpn_protocols = alpn;
    Arc::new(config)
}

/// Lower-cases a name and drops one trailing dot, so lookups ignore both.
fn normalise(name: &str) -> String {
    name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase()
}

/// Reads a whole file.
fn read(path: &Path) -> Result<Vec<u8>, CertError> {
    fs::read(path).map_err(|source| CertError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// When `key`'s leaf certificate expires (Unix seconds); `None` when it cannot be parsed.
pub fn not_after(key: &CertifiedKey) -> Option<i64> {
    let leaf = key.cert.first()?;
    let (_, cert) = x509_parser::parse_x509_certificate(leaf.as_ref()).ok()?;
    Some(cert.validity().not_after.timestamp())
}

/// When the leaf of the PEM chain at `path` expires (Unix seconds), for a certificate loaded
/// from a file; `None` when it cannot be read or parsed.
pub fn pem_file_expiry(path: &Path) -> Option<i64> {
    let pem = std::fs::read(path).ok()?;
    let leaf = rustls_pemfile::certs(&mut pem.as_slice()).next()?.ok()?;
    let (_, cert) = x509_parser::parse_x509_certificate(leaf.as_ref()).ok()?;
    Some(cert.validity().not_after.timestamp())
}

#[cfg(test)]
mod tests;
