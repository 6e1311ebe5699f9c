//! A local development certificate authority, so `https://app.localhost` works on a laptop.
//!
//! On first use [`DevCa::load_or_create`] writes a fresh CA certificate (`ca.pem`) and its
//! private key (`ca.key`, mode 0600) into a directory; later runs reload them, so the user
//! trusts the CA once. [`DevCa::issue`] then mints short-lived leaf server certificates signed
//! by it. The CA's subject name is derived from its own public key: it is unique per install and
//! can be rebuilt on reload without an X.509 parser.

use std::fmt;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, PublicKeyData, date_time_ymd,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use sha2::{Digest, Sha256};

/// File name of the CA certificate inside the CA directory.
pub const CA_CERT_FILE: &str = "ca.pem";
/// File name of the CA private key inside the CA directory.
pub const CA_KEY_FILE: &str = "ca.key";

/// How long a newly created CA certificate is valid.
const CA_VALIDITY: Duration = Duration::from_secs(10 * 365 * 24 * 3600);
/// How long an issued leaf certificate is valid.
const LEAF_VALIDITY: Duration = Duration::from_secs(365 * 24 * 3600);
/// How far back validity starts, to tolerate clocks that are a little behind.
const BACKDATE: Duration = Duration::from_secs(24 * 3600);

/// Why the development CA could not be loaded, created or used.
#[derive(Debug, thiserror::Error)]
pub enum DevCaError {
    /// Reading or writing a CA file failed.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done ("reading", "writing", ...).
        action: &'static str,
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// Only one of `ca.pem` / `ca.key` exists; the directory needs fixing by hand.
    #[error("{missing} is missing while {present} exists; remove both to create a new CA")]
    Incomplete {
        /// The file that is missing.
        missing: PathBuf,
        /// The file that exists.
        present: PathBuf,
    },
    /// A CA file does not hold what it should (bad PEM, or key and certificate do not match).
    #[error("invalid CA file {path}: {reason}")]
    InvalidFile {
        /// The offending file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// `issue` was called without any name.
    #[error("a certificate needs at least one name")]
    NoNames,
    /// A name given to `issue` is neither a DNS name, a `*.` wildcard nor an IP address.
    #[error("not a valid certificate name: {0:?}")]
    InvalidName(String),
    /// Certificate generation failed (for example a name that is not a valid DNS name).
    #[error("certificate generation failed: {0}")]
    Generate(#[from] rcgen::Error),
}

/// A loaded development CA, able to issue leaf server certificates.
pub struct DevCa {
    /// The directory holding `ca.pem` and `ca.key`.
    dir: PathBuf,
    /// The CA certificate, PEM-encoded, as stored on disk.
    ca_pem: String,
    /// The CA certificate, DER-encoded, appended to every issued chain.
    ca_der: CertificateDer<'static>,
    /// The issuer identity (name, key identifier, usages) and signing key.
    issuer: Issuer<'static, KeyPair>,
}

impl fmt::Debug for DevCa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The issuer's own Debug hides the key; keep the PEM out of logs for brevity.
        f.debug_struct("DevCa")
            .field("dir", &self.dir)
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

impl DevCa {
    /// Loads the CA from `dir`, or creates the directory and a new CA there if it has none.
    pub fn load_or_create(dir: &Path) -> Result<DevCa, DevCaError> {
        let cert_path = dir.join(CA_CERT_FILE);
        let key_path = dir.join(CA_KEY_FILE);
        match (exists(&cert_path)?, exists(&key_path)?) {
            (true, true) => Self::load(dir, &cert_path, &key_path),
            (false, false) => Self::create(dir, &cert_path, &key_path),
            (true, false) => Err(DevCaError::Incomplete {
                missing: key_path,
                present: cert_path,
            }),
            (false, true) => Err(DevCaError::Incomplete {
                missing: cert_path,
                present: key_path,
            }),
        }
    }

    /// Issues a leaf server certificate for `names` (DNS names, wildcards or IP addresses).
    ///
    /// Returns the chain (leaf, then CA) and the leaf's fresh private key. The leaf is valid
    /// for about a year. Note that browsers and rustls ignore a wildcard with fewer than two
    /// labels after it: `*.localhost` does not cover `app.localhost`, `*.fdt.localhost` covers
    /// `app.fdt.localhost`; issue exact names for single-label parents.
    pub fn issue(
        &self,
        names: &[String],
    ) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), DevCaError> {
        let Some(first) = names.first() else {
            return Err(DevCaError::NoNames);
        };
        if let Some(bad) = names.iter().find(|n| !valid_name(n)) {
            return Err(DevCaError::InvalidName(bad.clone()));
        }
        let mut params = CertificateParams::new(names.to_vec())?;
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, first.as_str());
        dn.push(DnType::OrganizationName, "FlyingDarkDevTunnel development");
        params.distinguished_name = dn;
        set_validity(&mut params, LEAF_VALIDITY);
        params.is_ca = IsCa::ExplicitNoCa;
        // ECDSA keys only sign; key encipherment would be meaningless.
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;

        let key = KeyPair::generate()?;
        let leaf = params.signed_by(&key, &self.issuer)?;
        let key_der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        Ok((vec![leaf.der().clone(), self.ca_der.clone()], key_der))
    }

    /// The CA certificate in PEM form, for users to add to their trust store.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// The path of the CA certificate file (`<dir>/ca.pem`).
    pub fn ca_path(&self) -> PathBuf {
        self.dir.join(CA_CERT_FILE)
    }

    /// Creates a new CA key and certificate and writes them, key first.
    fn create(dir: &Path, cert_path: &Path, key_path: &Path) -> Result<DevCa, DevCaError> {
        create_dir(dir)?;
        let key = KeyPair::generate()?;
        let params = ca_params(&key, Some(CA_VALIDITY));
        let cert = params.self_signed(&key)?;
        let ca_pem = cert.pem();
        write_file(key_path, key.serialize_pem().as_bytes(), true)?;
        write_file(cert_path, ca_pem.as_bytes(), false)?;
        Ok(DevCa {
            dir: dir.to_path_buf(),
            ca_pem,
            ca_der: cert.der().clone(),
            issuer: Issuer::new(params, key),
        })
    }

    /// Reads an existing CA and checks that its key and certificate belong together.
    fn load(dir: &Path, cert_path: &Path, key_path: &Path) -> Result<DevCa, DevCaError> {
        let key_pem = read_file(key_path)?;
        let key = KeyPair::from_pem(&key_pem).map_err(|e| invalid(key_path, e.to_string()))?;
        let ca_pem = read_file(cert_path)?;
        let ca_der = {
            let mut reader = ca_pem.as_bytes();
            match rustls_pemfile::certs(&mut reader).next() {
                Some(Ok(der)) => der,
                Some(Err(e)) => return Err(invalid(cert_path, e.to_string())),
                None => return Err(invalid(cert_path, "no CERTIFICATE block".into())),
            }
        };
        // Without an X.509 parser, check that the certificate carries this key's
        // SubjectPublicKeyInfo; the subject name is a function of that key (see `ca_params`).
        let spki = key.subject_public_key_info();
        if !ca_der.windows(spki.len()).any(|w| w == spki.as_slice()) {
            return Err(invalid(
                cert_path,
                format!("does not match {}", key_path.display()),
            ));
        }
        let params = ca_params(&key, None);
        Ok(DevCa {
            dir: dir.to_path_buf(),
            ca_pem,
            ca_der,
            issuer: Issuer::new(params, key),
        })
    }
}

/// The CA certificate parameters; only the subject name and usages matter when reloading.
fn ca_params(key: &KeyPair, validity: Option<Duration>) -> CertificateParams {
    let digest = Sha256::digest(key.subject_public_key_info());
    let tag: String = digest.iter().take(4).map(|b| format!("{b:02x}")).collect();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "FlyingDarkDevTunnel development");
    dn.push(
        DnType::CommonName,
        format!("FlyingDarkDevTunnel Dev CA {tag}"),
    );
    let mut params = CertificateParams::default();
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    if let Some(validity) = validity {
        set_validity(&mut params, validity);
    }
    params
}

/// Makes `params` valid from a day ago until `len` from now.
fn set_validity(params: &mut CertificateParams, len: Duration) {
    // A clock before 1970 is treated as 1970; rcgen's date type is built from the epoch so
    // that the `time` crate need not be a direct dependency.
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let epoch = date_time_ymd(1970, 1, 1);
    params.not_before = epoch + now.saturating_sub(BACKDATE);
    params.not_after = epoch + now + len;
}

/// Whether `name` is a DNS name, a wildcard (`*.` and a DNS name) or an IP address.
fn valid_name(name: &str) -> bool {
    match name.strip_prefix("*.") {
        Some(rest) => matches!(ServerName::try_from(rest), Ok(ServerName::DnsName(_))),
        None => ServerName::try_from(name).is_ok(),
    }
}

/// Whether `path` exists, treating errors other than "not found" as failures.
fn exists(path: &Path) -> Result<bool, DevCaError> {
    match fs::metadata(path) {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(source) => Err(io_error("checking", path, source)),
    }
}

/// Creates the CA directory (private to the user on Unix).
fn create_dir(dir: &Path) -> Result<(), DevCaError> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder
        .create(dir)
        .map_err(|source| io_error("creating directory", dir, source))
}

/// Reads a whole text file.
fn read_file(path: &Path) -> Result<String, DevCaError> {
    fs::read_to_string(path).map_err(|source| io_error("reading", path, source))
}

/// Writes `contents` to `path` through a temporary file and a rename, so a crash never
/// leaves a half-written file; `private` makes the file readable by the owner only.
fn write_file(path: &Path, contents: &[u8], private: bool) -> Result<(), DevCaError> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".tmp{}", std::process::id()));
    let tmp = PathBuf::from(tmp);
    let result = (|| {
        // A stale temporary file could carry wider permissions; start from scratch.
        let _ = fs::remove_file(&tmp);
        let mut options = fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, if private { 0o600 } else { 0o644 });
        #[cfg(not(unix))]
        let _ = private;
        let mut file = options.open(&tmp)?;
        file.write_all(contents)?;
        file.sync_all()?;
        fs::rename(&tmp, path)
    })();
    result.map_err(|source| {
        let _ = fs::remove_file(&tmp);
        io_error("writing", path, source)
    })
}

/// Builds a [`DevCaError::Io`].
fn io_error(action: &'static str, path: &Path, source: io::Error) -> DevCaError {
    DevCaError::Io {
        action,
        path: path.to_path_buf(),
        source,
    }
}

/// Builds a [`DevCaError::InvalidFile`].
fn invalid(path: &Path, reason: String) -> DevCaError {
    DevCaError::InvalidFile {
        path: path.to_path_buf(),
        reason,
    }
}

#[cfg(test)]
mod tests;
