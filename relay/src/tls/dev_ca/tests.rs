#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use rustls::{ClientConfig, ClientConnection, RootCertStore, ServerConfig, ServerConnection};

use super::*;

/// A fresh, empty directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let dir =
            std::env::temp_dir().join(format!("fdt-devca-{tag}-{}-{nanos}", std::process::id()));
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Runs an in-memory handshake to `name`, trusting only `ca`'s certificate.
fn handshake(ca: &DevCa, names: &[&str], name: &str) -> Result<(), rustls::Error> {
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let (chain, key) = ca.issue(&names).unwrap();
    let server = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();

    let mut roots = RootCertStore::empty();
    let mut pem = ca.ca_pem().as_bytes();
    for cert in rustls_pemfile::certs(&mut pem) {
        roots.add(cert.unwrap()).unwrap();
    }
    let client = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();

    let server_name = ServerName::try_from(name.to_owned()).unwrap();
    let mut client = ClientConnection::new(Arc::new(client), server_name).unwrap();
    let mut server = ServerConnection::new(Arc::new(server)).unwrap();
    for _ in 0..10 {
        if !client.is_handshaking() && !server.is_handshaking() {
            return Ok(());
        }
        let mut buf = Vec::new();
        while client.wants_write() {
            client.write_tls(&mut buf).unwrap();
        }
        let mut rd = buf.as_slice();
        while !rd.is_empty() {
            server.read_tls(&mut rd).unwrap();
            server.process_new_packets()?;
        }
        let mut buf = Vec::new();
        while server.wants_write() {
            server.write_tls(&mut buf).unwrap();
        }
        let mut rd = buf.as_slice();
        while !rd.is_empty() {
            client.read_tls(&mut rd).unwrap();
            client.process_new_packets()?;
        }
    }
    panic!("handshake did not finish");
}

#[test]
fn issued_cert_completes_a_real_handshake() {
    let dir = TempDir::new("handshake");
    let ca = DevCa::load_or_create(&dir.0).unwrap();
    handshake(
        &ca,
        &["localhost", "*.localhost", "app.localhost"],
        "app.localhost",
    )
    .unwrap();
    handshake(&ca, &["localhost", "*.fdt.localhost"], "app.fdt.localhost").unwrap();
    handshake(&ca, &["localhost"], "localhost").unwrap();
}

#[test]
fn single_label_wildcard_is_not_honoured_by_rustls() {
    let dir = TempDir::new("wildcard");
    let ca = DevCa::load_or_create(&dir.0).unwrap();
    let err = handshake(&ca, &["localhost", "*.localhost"], "app.localhost").unwrap_err();
    assert!(
        matches!(
            err,
            rustls::Error::InvalidCertificate(
                rustls::CertificateError::NotValidForNameContext { .. }
            )
        ),
        "{err:?}"
    );
}

#[test]
fn reload_gives_the_same_ca_and_it_still_signs() {
    let dir = TempDir::new("reload");
    let first = DevCa::load_or_create(&dir.0).unwrap();
    let second = DevCa::load_or_create(&dir.0).unwrap();
    assert_eq!(first.ca_pem(), second.ca_pem());
    assert_eq!(first.ca_der, second.ca_der);
    assert_eq!(second.ca_path(), dir.0.join("ca.pem"));
    assert_eq!(
        fs::read_to_string(second.ca_path()).unwrap(),
        first.ca_pem()
    );
    // A leaf from the reloaded CA chains to the certificate written by the first one.
    handshake(&second, &["app.localhost"], "app.localhost").unwrap();
    let other = TempDir::new("reload-other");
    let unrelated = DevCa::load_or_create(&other.0).unwrap();
    assert_ne!(unrelated.ca_pem(), first.ca_pem());
}

#[cfg(unix)]
#[test]
fn key_file_is_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = TempDir::new("mode");
    DevCa::load_or_create(&dir.0).unwrap();
    let mode = fs::metadata(dir.0.join(CA_KEY_FILE))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn half_present_or_mismatched_files_are_errors() {
    let dir = TempDir::new("broken");
    DevCa::load_or_create(&dir.0).unwrap();
    let other = TempDir::new("broken-other");
    DevCa::load_or_create(&other.0).unwrap();
    // Another CA's certificate next to this key.
    fs::copy(other.0.join(CA_CERT_FILE), dir.0.join(CA_CERT_FILE)).unwrap();
    assert!(matches!(
        DevCa::load_or_create(&dir.0),
        Err(DevCaError::InvalidFile { .. })
    ));
    fs::remove_file(dir.0.join(CA_KEY_FILE)).unwrap();
    assert!(matches!(
        DevCa::load_or_create(&dir.0),
        Err(DevCaError::Incomplete { .. })
    ));
}

#[test]
fn issue_refuses_bad_input() {
    let dir = TempDir::new("names");
    let ca = DevCa::load_or_create(&dir.0).unwrap();
    assert!(matches!(ca.issue(&[]), Err(DevCaError::NoNames)));
    for bad in ["bad name", "café.localhost", "*.", "a.*.localhost", ""] {
        assert!(
            matches!(
                ca.issue(&[bad.to_string()]),
                Err(DevCaError::InvalidName(_))
            ),
            "{bad}"
        );
    }
    let (chain, _) = ca.issue(&["127.0.0.1".to_string()]).unwrap();
    assert_eq!(chain.len(), 2);
}
