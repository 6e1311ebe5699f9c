#![allow(clippy::unwrap_used)]

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use super::*;

/// A self-signed certified key for `name`, its name stored in the end-entity slot.
fn key_for(name: &str) -> Arc<CertifiedKey> {
    let ck = rcgen::generate_simple_self_signed(vec![name.to_owned()]).unwrap();
    let der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(ck.signing_key.serialize_der()));
    let signer = rustls::crypto::ring::sign::any_supported_type(&der).unwrap();
    Arc::new(CertifiedKey::new(vec![ck.cert.der().clone()], signer))
}

fn leaf(key: &Arc<CertifiedKey>) -> &CertificateDer<'static> {
    &key.cert[0]
}

fn store() -> (CertStore, Arc<CertifiedKey>, Arc<CertifiedKey>) {
    let exact = key_for("api.example.com");
    let wild = key_for("*.example.com");
    let mut store = CertStore::new();
    store.add(
        &["api.example.com".into(), "API2.Example.com.".into()],
        exact.clone(),
    );
    store.add(&["*.example.com".into()], wild.clone());
    (store, exact, wild)
}

#[test]
fn exact_beats_wildcard() {
    let (store, exact, _) = store();
    let got = store.resolve_name(Some("api.example.com")).unwrap();
    assert_eq!(leaf(&got), leaf(&exact));
    let got = store.resolve_name(Some("API.EXAMPLE.COM.")).unwrap();
    assert_eq!(leaf(&got), leaf(&exact));
    let got = store.resolve_name(Some("api2.example.com")).unwrap();
    assert_eq!(leaf(&got), leaf(&exact));
}

#[test]
fn wildcard_covers_exactly_one_label() {
    let (store, _, wild) = store();
    let got = store.resolve_name(Some("app.example.com")).unwrap();
    assert_eq!(leaf(&got), leaf(&wild));
    assert!(store.resolve_name(Some("example.com")).is_none());
    assert!(store.resolve_name(Some("a.b.example.com")).is_none());
    assert!(store.resolve_name(Some(".example.com")).is_none());
    assert!(store.resolve_name(Some("app.example.org")).is_none());
}

#[test]
fn default_catches_no_sni_and_no_match() {
    let (mut store, _, _) = store();
    assert!(store.resolve_name(None).is_none());
    let fallback = key_for("fallback.invalid");
    store.set_default(fallback.clone());
    assert_eq!(leaf(&store.resolve_name(None).unwrap()), leaf(&fallback));
    let got = store.resolve_name(Some("other.test")).unwrap();
    assert_eq!(leaf(&got), leaf(&fallback));
    let got = store.resolve_name(Some("a.b.example.com")).unwrap();
    assert_eq!(leaf(&got), leaf(&fallback));
}

#[test]
fn empty_store_resolves_nothing() {
    let store = CertStore::new();
    assert!(store.is_empty());
    assert!(store.resolve_name(Some("example.com")).is_none());
    assert!(store.resolve_name(None).is_none());
}

#[test]
fn load_pem_files_round_trip_and_mismatch() {
    let dir = std::env::temp_dir().join(format!("fdt-certs-{}", std::process::id()));
    fs::create_dir_all(&dir).unwrap();
    let a = rcgen::generate_simple_self_signed(vec!["a.test".to_owned()]).unwrap();
    let b = rcgen::generate_simple_self_signed(vec!["b.test".to_owned()]).unwrap();
    let (cert, key, other_key, empty) = (
        dir.join("a.pem"),
        dir.join("a.key"),
        dir.join("b.key"),
        dir.join("empty.pem"),
    );
    fs::write(&cert, a.cert.pem()).unwrap();
    fs::write(&key, a.signing_key.serialize_pem()).unwrap();
    fs::write(&other_key, b.signing_key.serialize_pem()).unwrap();
    fs::write(&empty, "").unwrap();

    let loaded = CertStore::load_pem_files(&cert, &key).unwrap();
    assert_eq!(leaf(&loaded), a.cert.der());
    assert!(matches!(
        CertStore::load_pem_files(&cert, &other_key),
        Err(CertError::KeyMismatch { .. })
    ));
    assert!(matches!(
        CertStore::load_pem_files(&empty, &key),
        Err(CertError::NoCertificate(_))
    ));
    assert!(matches!(
        CertStore::load_pem_files(&cert, &empty),
        Err(CertError::NoPrivateKey(_))
    ));
    assert!(matches!(
        CertStore::load_pem_files(&dir.join("missing.pem"), &key),
        Err(CertError::Io { .. })
    ));
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn server_config_uses_store_and_alpn() {
    let (store, _, _) = store();
    let config = server_config(Arc::new(store), vec![b"h2".to_vec(), b"http/1.1".to_vec()]);
    assert_eq!(
        config.alpn_protocols,
        vec![b"h2".to_vec(), b"http/1.1".to_vec()]
    );
}
