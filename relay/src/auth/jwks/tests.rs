#![allow(clippy::unwrap_used)]

use super::*;
use crate::auth::{AuthError, TokenSigner, TokenVerifier};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A JWKS served from memory, counting fetches; `None` makes fetches fail.
#[derive(Debug, Default)]
struct FakeSource {
    doc: Mutex<Option<String>>,
    fetches: AtomicUsize,
}

impl JwksSource for Arc<FakeSource> {
    fn fetch(&self) -> FetchFuture<'_> {
        Box::pin(async move {
            self.fetches.fetch_add(1, Ordering::SeqCst);
            let doc = self.doc.lock().unwrap().clone();
            doc.map(String::into_bytes)
                .ok_or_else(|| JwksError::Fetch("cloud down".into()))
        })
    }
}

impl FakeSource {
    fn publish(&self, keys: &[(&str, &TokenSigner)]) {
        *self.doc.lock().unwrap() = Some(jwks_json(keys));
    }

    fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }
}

fn jwks_json(keys: &[(&str, &TokenSigner)]) -> String {
    let keys: Vec<_> = keys
        .iter()
        .map(|(kid, s)| {
            serde_json::json!({
                "kty": "OKP", "crv": "Ed25519", "kid": kid, "alg": "EdDSA", "use": "sig",
                "x": URL_SAFE_NO_PAD.encode(s.public_key_raw()),
            })
        })
        .collect();
    serde_json::json!({ "keys": keys }).to_string()
}

fn signer() -> TokenSigner {
    TokenSigner::generate().unwrap()
}

fn token(s: &TokenSigner, kid: &str) -> String {
    let mut claims = TokenSigner::claims("acct", 60);
    claims.iss = Some(crate::auth::DEFAULT_CLOUD_ISSUER.into());
    s.sign_with_kid(&claims, kid)
}

/// A verifier over the fake source, already fetched once.
async fn verifier(source: &Arc<FakeSource>, opts: JwksOptions) -> TokenVerifier {
    let keys = JwksKeys::new(Box::new(source.clone()), opts);
    keys.refresh().await.unwrap();
    TokenVerifier::new(Vec::new(), Some(keys))
}

#[tokio::test]
async fn jwks_with_two_keys_verifies_each_by_kid() {
    let (a, b) = (signer(), signer());
    let source = Arc::new(FakeSource::default());
    source.publish(&[("a", &a), ("b", &b)]);
    let v = verifier(&source, JwksOptions::default()).await;
    assert_eq!(v.verify(&token(&a, "a")).unwrap().sub, "acct");
    assert_eq!(v.verify(&token(&b, "b")).unwrap().sub, "acct");
    // The kid picks the key: a's signature under b's ID is a bad signature, not a fallback.
    assert!(matches!(
        v.verify(&token(&a, "b")),
        Err(AuthError::BadSignature)
    ));
    // Without a kid every published key is tried; a published key is the control plane's, so
    // its tokens need the control plane's issuer.
    let mut claims = TokenSigner::claims("acct", 60);
    assert!(matches!(
        v.verify(&a.sign(&claims)),
        Err(AuthError::WrongIssuer(_))
    ));
    claims.iss = Some(crate::auth::DEFAULT_CLOUD_ISSUER.into());
    assert!(v.verify(&a.sign(&claims)).is_ok());
}

#[tokio::test]
async fn unknown_kid_is_refused_and_refetches_at_most_once_per_interval() {
    let (a, stranger) = (signer(), signer());
    let source = Arc::new(FakeSource::default());
    source.publish(&[("a", &a)]);
    let v = verifier(&source, JwksOptions::default()).await;
    assert_eq!(source.fetches(), 1);
    assert!(matches!(
        v.verify(&token(&stranger, "x")),
        Err(AuthError::UnknownKey(k)) if k == "x"
    ));
    // The first unknown kid refetches; more within 30 s do not.
    for _ in 0..3 {
        assert!(matches!(
            v.verify_fresh(&token(&stranger, "x")).await,
            Err(AuthError::UnknownKey(_))
        ));
    }
    assert_eq!(source.fetches(), 2);
}

#[tokio::test]
async fn rotation_is_picked_up_on_refresh_and_on_an_unknown_kid() {
    let (old, new) = (signer(), signer());
    let source = Arc::new(FakeSource::default());
    source.publish(&[("old", &old)]);
    let opts = JwksOptions {
        min_refetch_interval: Duration::from_millis(50),
        ..JwksOptions::default()
    };
    let v = verifier(&source, opts).await;

    // The cloud rotates: both keys are published, new tokens use the new one.
    source.publish(&[("new", &new), ("old", &old)]);
    assert!(matches!(
        v.verify(&token(&new, "new")),
        Err(AuthError::UnknownKey(_))
    ));
    assert!(v.verify_fresh(&token(&new, "new")).await.is_ok());
    assert!(
        v.verify(&token(&old, "old")).is_ok(),
        "old key still published"
    );

    // The old key is retired: a scheduled refresh drops it.
    source.publish(&[("new", &new)]);
    v.jwks().unwrap().refresh().await.unwrap();
    assert!(matches!(
        v.verify(&token(&old, "old")),
        Err(AuthError::UnknownKey(_))
    ));
    tokio::time::sleep(Duration::from_millis(60)).await;
    assert!(v.verify_fresh(&token(&old, "old")).await.is_err());
}

#[tokio::test]
async fn failed_or_empty_fetches_keep_the_previous_keys() {
    let a = signer();
    let source = Arc::new(FakeSource::default());
    source.publish(&[("a", &a)]);
    let v = verifier(&source, JwksOptions::default()).await;
    *source.doc.lock().unwrap() = None;
    assert!(v.jwks().unwrap().refresh().await.is_err());
    *source.doc.lock().unwrap() = Some(r#"{"keys":[]}"#.into());
    assert!(matches!(
        v.jwks().unwrap().refresh().await,
        Err(JwksError::NoUsableKey)
    ));
    assert!(v.verify(&token(&a, "a")).is_ok());
}

#[test]
fn only_ed25519_signing_keys_with_a_kid_are_taken() {
    let a = signer();
    let x = URL_SAFE_NO_PAD.encode(a.public_key_raw());
    let doc = serde_json::json!({"keys": [
        {"kty": "RSA", "kid": "rsa", "n": "AQAB", "e": "AQAB"},
        {"kty": "OKP", "crv": "X25519", "kid": "ecdh", "x": x},
        {"kty": "OKP", "crv": "Ed25519", "kid": "enc", "use": "enc", "x": x},
        {"kty": "OKP", "crv": "Ed25519", "x": x},
        {"kty": "OKP", "crv": "Ed25519", "kid": "short", "x": "AAAA"},
        {"kty": "OKP", "crv": "Ed25519", "kid": "good", "x": x},
    ]});
    let keys = parse_jwks(doc.to_string().as_bytes()).unwrap();
    let kids: Vec<_> = keys.iter().map(|k| k.kid().unwrap()).collect();
    assert_eq!(kids, ["good"]);
    assert!(matches!(parse_jwks(b"not json"), Err(JwksError::Parse(_))));
}

#[tokio::test]
async fn pem_keys_and_jwks_work_together() {
    let (pem_signer, cloud) = (signer(), signer());
    let source = Arc::new(FakeSource::default());
    source.publish(&[("c", &cloud)]);
    let keys = JwksKeys::new(Box::new(source.clone()), JwksOptions::default());
    keys.refresh().await.unwrap();
    let v = TokenVerifier::from_public_pems(&[pem_signer.public_pem().to_string()])
        .unwrap()
        .with_jwks(keys);
    assert!(
        v.verify(&pem_signer.mint("self-hosted", 60, vec![]))
            .is_ok()
    );
    assert!(v.verify(&token(&cloud, "c")).is_ok());
    // A kid the JWKS lacks still verifies with a PEM key that signed it.
    assert!(v.verify(&token(&pem_signer, "elsewhere")).is_ok());
}

#[tokio::test]
async fn http_source_needs_no_global_crypto_provider_and_reports_failures() {
    // Nothing in this test binary installs a process-wide rustls provider.
    assert!(matches!(
        HttpJwksSource::new("ftp://cloud.example/jwks"),
        Err(JwksError::BadUrl(_))
    ));
    let source = HttpJwksSource::new("http://127.0.0.1:9/v1/jwks").unwrap();
    assert!(matches!(source.fetch().await, Err(JwksError::Fetch(_))));
}

/// A token with `claims`, signed by `s` under `kid` (none: like self-hosted tokens).
fn signed_json(s: &TokenSigner, kid: Option<&str>, claims: &serde_json::Value) -> String {
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
    header.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(&header, claims, &s.key).unwrap()
}

fn peer_claims(exp_from_now: i64) -> serde_json::Value {
    let now = i64::try_from(crate::auth::unix_now()).unwrap();
    serde_json::json!({
        "iss": crate::auth::DEFAULT_CLOUD_ISSUER, "sub": "eu-1", "region": "eu",
        "aud": fdt_api::PEER_AUDIENCE, "iat": now, "exp": now + exp_from_now,
    })
}

#[tokio::test]
async fn relay_identities_verify_only_as_relay_identities_and_only_with_the_jwks() {
    let source = Arc::new(FakeSource::default());
    let s = signer();
    source.publish(&[("k1", &s)]);
    let v = verifier(&source, JwksOptions::default()).await;

    let peer = signed_json(&s, Some("k1"), &peer_claims(60));
    let claims = v.verify_peer(&peer).await.unwrap();
    assert_eq!(
        (claims.sub.as_str(), claims.region.as_str()),
        ("eu-1", "eu")
    );
    // Never an agent's token, and an agent's token is never an identity.
    assert!(matches!(v.verify(&peer), Err(AuthError::WrongAudience)));
    assert!(matches!(
        v.verify_peer(&token(&s, "k1")).await,
        Err(AuthError::WrongAudience | AuthError::Malformed)
    ));
    // Expired, another issuer, no key ID (the fixed keys of self-hosted tokens are not
    // asked), a key the JWKS does not have: refused.
    let expired = signed_json(&s, Some("k1"), &peer_claims(-120));
    assert!(matches!(
        v.verify_peer(&expired).await,
        Err(AuthError::Expired)
    ));
    let mut foreign = peer_claims(60);
    foreign["iss"] = "someone-else".into();
    let foreign = signed_json(&s, Some("k1"), &foreign);
    assert!(matches!(
        v.verify_peer(&foreign).await,
        Err(AuthError::WrongIssuer(_))
    ));
    let no_kid = signed_json(&s, None, &peer_claims(60));
    assert!(matches!(
        v.verify_peer(&no_kid).await,
        Err(AuthError::Malformed)
    ));
    let other = signer();
    let unknown = signed_json(&other, Some("k9"), &peer_claims(60));
    assert!(matches!(
        v.verify_peer(&unknown).await,
        Err(AuthError::UnknownKey(_))
    ));
    let spoofed = signed_json(&other, Some("k1"), &peer_claims(60));
    assert!(matches!(
        v.verify_peer(&spoofed).await,
        Err(AuthError::BadSignature)
    ));
    // Without a JWKS nothing is an identity.
    let fixed = TokenVerifier::from_public_pems(&[s.public_pem().to_owned()]).unwrap();
    assert!(fixed.verify_peer(&peer).await.is_err());
}
