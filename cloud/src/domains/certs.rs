//! Reading a certificate chain and key (from ACME or an upload): both parse, the key belongs to
//! the leaf, the leaf names the domain, and when it is due for renewal.

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use time::{Duration, OffsetDateTime};

/// Most certificates in an uploaded chain.
const MAX_CHAIN: usize = 8;

/// Why a chain or key was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertError {
    /// The chain holds no PEM `CERTIFICATE` (or more than [`MAX_CHAIN`]).
    #[error("the chain must hold 1 to {MAX_CHAIN} PEM certificates")]
    Chain,
    /// The key is not one PEM private key of a kind we can sign with.
    #[error("the key must be one PEM private key (ECDSA P-256/P-384, Ed25519 or RSA)")]
    Key,
    /// A certificate is not valid X.509.
    #[error("certificate {0} of the chain is not valid X.509")]
    X509(usize),
    /// The key does not belong to the first certificate.
    #[error("the private key does not belong to the first certificate")]
    KeyMismatch,
    /// The leaf does not cover the domain.
    #[error("the certificate does not cover {0}")]
    WrongName(String),
    /// The leaf has expired (or is not valid yet).
    #[error("the certificate is not valid now")]
    NotValidNow,
}

/// A chain and key that passed [`check`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedCert {
    /// Start of the leaf's validity.
    pub not_before: OffsetDateTime,
    /// End of the leaf's validity.
    pub not_after: OffsetDateTime,
}

/// Checks a PEM chain and key for `domain` at `now`.
pub fn check(
    chain_pem: &str,
    key_pem: &str,
    domain: &str,
    now: OffsetDateTime,
) -> Result<CheckedCert, CertError> {
    let chain = CertificateDer::pem_slice_iter(chain_pem.as_bytes())
        .take(MAX_CHAIN + 1)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| CertError::Chain)?;
    if chain.is_empty() || chain.len() > MAX_CHAIN {
        return Err(CertError::Chain);
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).map_err(|_| CertError::Key)?;
    let signer =
        rustls::crypto::ring::sign::any_supported_type(&key).map_err(|_| CertError::Key)?;
    let certified = rustls::sign::CertifiedKey::new(chain.clone(), signer);
    certified.keys_match().map_err(|_| CertError::KeyMismatch)?;
    let (_, leaf) =
        x509_parser::parse_x509_certificate(chain[0].as_ref()).map_err(|_| CertError::X509(0))?;
    let validity = leaf.validity();
    let not_before = validity.not_before.to_datetime();
    let not_after = validity.not_after.to_datetime();
    if now < not_before || now >= not_after {
        return Err(CertError::NotValidNow);
    }
    let names: Vec<String> = leaf
        .subject_alternative_name()
        .ok()
        .flatten()
        .map(|san| {
            san.value
                .general_names
                .iter()
                .filter_map(|n| match n {
                    x509_parser::extensions::GeneralName::DNSName(d) => {
                        Some(d.to_ascii_lowercase())
                    }
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    let covered = names.iter().any(|n| {
        n == domain || (n.starts_with("*.") && fdt_api::domains::domain_matches(n, domain))
    });
    if !covered {
        return Err(CertError::WrongName(domain.to_owned()));
    }
    Ok(CheckedCert {
        not_before,
        not_after,
    })
}

/// When a certificate valid from `not_before` to `not_after` is renewed: at two thirds of its
/// lifetime, less up to a fifteenth of it at random (`jitter` in `0.0..1.0`), so certificates
/// issued together are not all renewed in the same minute.
pub fn renew_after(
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
    jitter: f64,
) -> OffsetDateTime {
    let life = (not_after - not_before).max(Duration::ZERO);
    let spread = life / 15;
    let early = spread * jitter.clamp(0.0, 1.0);
    not_before + life * 2 / 3 - early
}

/// The self-signed certificate that answers a TLS-ALPN-01 challenge for `domain` (RFC 8737):
/// its only name is `domain`, and its critical `acmeIdentifier` extension holds the SHA-256 of
/// the key authorization. Returns the certificate and its fresh key, as PEM.
pub fn tls_alpn_certificate(
    domain: &str,
    key_authorization: &str,
) -> Result<(String, String), rcgen::Error> {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(key_authorization.as_bytes());
    let mut params = rcgen::CertificateParams::new(vec![domain.to_owned()])?;
    params.custom_extensions = vec![rcgen::CustomExtension::new_acme_identifier(&digest)];
    let key = rcgen::KeyPair::generate()?;
    let cert = params.self_signed(&key)?;
    Ok((cert.pem(), key.serialize_pem()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_tls_alpn_certificate_names_the_domain_and_carries_the_digest_critically() {
        use sha2::Digest;
        let (pem, key) = tls_alpn_certificate("app.example.com", "token.thumbprint").unwrap();
        // Its key signs: a PKCS#8 key ring takes.
        let key = PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap();
        rustls::crypto::ring::sign::any_supported_type(&key).unwrap();
        let der = CertificateDer::pem_slice_iter(pem.as_bytes())
            .next()
            .unwrap()
            .unwrap();
        let (_, cert) = x509_parser::parse_x509_certificate(der.as_ref()).unwrap();
        let names: Vec<String> = cert
            .subject_alternative_name()
            .unwrap()
            .unwrap()
            .value
            .general_names
            .iter()
            .map(|n| n.to_string())
            .collect();
        assert_eq!(names, ["DNSName(app.example.com)"]);
        // id-pe-acmeIdentifier (RFC 8737 §3): critical, an OCTET STRING of the SHA-256 of the
        // key authorization.
        let ext = cert
            .extensions()
            .iter()
            .find(|e| e.oid.to_id_string() == "1.3.6.1.5.5.7.1.31")
            .unwrap();
        assert!(ext.critical);
        let digest = sha2::Sha256::digest(b"token.thumbprint");
        let mut expected = vec![0x04, 0x20];
        expected.extend_from_slice(&digest);
        assert_eq!(ext.value, expected.as_slice());
    }

    fn issue(names: &[&str]) -> (String, String) {
        let key = rcgen::KeyPair::generate().unwrap();
        let params =
            rcgen::CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                .unwrap();
        let cert = params.self_signed(&key).unwrap();
        (cert.pem(), key.serialize_pem())
    }

    #[test]
    fn a_chain_is_checked_against_its_key_name_and_time() {
        let now = OffsetDateTime::now_utc();
        let (chain, key) = issue(&["app.example.test"]);
        let ok = check(&chain, &key, "app.example.test", now).unwrap();
        assert!(ok.not_after > now);
        assert_eq!(
            check(&chain, &key, "other.example.test", now),
            Err(CertError::WrongName("other.example.test".into()))
        );
        let (_, other_key) = issue(&["app.example.test"]);
        assert_eq!(
            check(&chain, &other_key, "app.example.test", now),
            Err(CertError::KeyMismatch)
        );
        assert_eq!(
            check("", &key, "app.example.test", now),
            Err(CertError::Chain)
        );
        assert_eq!(
            check(&chain, "nope", "app.example.test", now),
            Err(CertError::Key)
        );
        assert_eq!(
            check(
                &chain,
                &key,
                "app.example.test",
                ok.not_after + Duration::seconds(1)
            ),
            Err(CertError::NotValidNow)
        );
        let (wild, wkey) = issue(&["*.example.test"]);
        assert!(check(&wild, &wkey, "a.example.test", now).is_ok());
        assert!(check(&wild, &wkey, "*.example.test", now).is_ok());
    }

    #[test]
    fn renewal_is_due_at_two_thirds_of_the_lifetime_with_jitter_earlier() {
        let nb = OffsetDateTime::UNIX_EPOCH;
        let na = nb + Duration::days(90);
        assert_eq!(renew_after(nb, na, 0.0), nb + Duration::days(60));
        assert_eq!(renew_after(nb, na, 1.0), nb + Duration::days(54));
        let mid = renew_after(nb, na, 0.5);
        assert!(mid > nb + Duration::days(54) && mid < nb + Duration::days(60));
    }
}
