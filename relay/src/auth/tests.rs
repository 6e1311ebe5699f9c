#![allow(clippy::unwrap_used)]
use super::*;
use base64::Engine;

fn pair() -> (TokenSigner, TokenVerifier) {
    let s = TokenSigner::generate().unwrap();
    let v = TokenVerifier::from_public_pems(&[s.public_pem().to_string()]).unwrap();
    (s, v)
}

#[test]
fn valid_token_verifies() {
    let (s, v) = pair();
    let c = v.verify(&s.mint("acct1", 60, vec!["app".into()])).unwrap();
    assert_eq!(c.sub, "acct1");
    assert!(c.may_bind("APP"));
    assert!(!c.may_bind("other"));
}

#[test]
fn expired_wrong_audience_and_wrong_key_refused() {
    let (s, v) = pair();
    let now = unix_now();
    let mut c = AgentClaims {
        sub: "a".into(),
        aud: AGENT_AUDIENCE.into(),
        exp: now - 3600,
        iat: now - 7200,
        names: vec![],
        max_tunnels: 0,
        atk: None,
        rpm: 0,
        bodies: false,
        warn: false,
        iss: None,
        jti: None,
    };
    assert!(matches!(v.verify(&s.sign(&c)), Err(AuthError::Expired)));
    c.exp = now + 60;
    c.aud = "someone-else".into();
    assert!(matches!(
        v.verify(&s.sign(&c)),
        Err(AuthError::WrongAudience)
    ));
    let other = TokenSigner::generate().unwrap();
    assert!(matches!(
        v.verify(&other.mint("a", 60, vec![])),
        Err(AuthError::BadSignature)
    ));
}

#[test]
fn alg_none_and_hmac_refused() {
    let (s, v) = pair();
    let good = s.mint("a", 60, vec![]);
    let payload = good.split('.').nth(1).unwrap();
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let none = format!(
        "{}.{}.",
        b64.encode(r#"{"alg":"none","typ":"JWT"}"#),
        payload
    );
    assert!(matches!(v.verify(&none), Err(AuthError::Malformed)));
    let hs = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &serde_json::json!({"sub":"a","aud":AGENT_AUDIENCE,"exp":unix_now()+60}),
        &EncodingKey::from_secret(s.public_pem().as_bytes()),
    )
    .unwrap();
    assert!(matches!(v.verify(&hs), Err(AuthError::Malformed)));
    assert!(matches!(v.verify("garbage"), Err(AuthError::Malformed)));
}

#[test]
fn signing_key_persists() {
    let dir = std::env::temp_dir().join(format!("fdt-auth-{}", rand::random::<u64>()));
    std::fs::create_dir_all(&dir).unwrap();
    let a = TokenSigner::load_or_create(&dir).unwrap();
    let b = TokenSigner::load_or_create(&dir).unwrap();
    assert_eq!(a.public_pem(), b.public_pem());
    let v = TokenVerifier::from_files(&[dir.join("agent-signing.pub")]).unwrap();
    v.verify(&b.mint("x", 60, vec![])).unwrap();
    std::fs::remove_dir_all(&dir).ok();
}

fn cloud_pair() -> (TokenSigner, TokenVerifier) {
    let s = TokenSigner::generate().unwrap();
    let raw: [u8; 32] = s.public_key_raw().try_into().unwrap();
    let v = TokenVerifier::new(vec![VerifyingKey::from_raw("k1".into(), &raw)], None);
    (s, v)
}

#[tokio::test]
async fn cloud_tokens_need_the_clouds_issuer() {
    let (s, v) = cloud_pair();
    let mut c = TokenSigner::claims("acct", 60);
    // Missing, or another issuer: refused, though the signature is good.
    assert!(matches!(
        v.verify(&s.sign_with_kid(&c, "k1")),
        Err(AuthError::WrongIssuer(_))
    ));
    c.iss = Some("someone-else".into());
    assert!(matches!(
        v.verify(&s.sign_with_kid(&c, "k1")),
        Err(AuthError::WrongIssuer(_))
    ));
    c.iss = Some(DEFAULT_CLOUD_ISSUER.into());
    v.verify(&s.sign_with_kid(&c, "k1")).unwrap();
    // A configured issuer replaces the default.
    let v = v.with_issuer("cloud.example");
    assert!(v.verify(&s.sign_with_kid(&c, "k1")).is_err());
    c.iss = Some("cloud.example".into());
    v.verify(&s.sign_with_kid(&c, "k1")).unwrap();
    // Self-hosted tokens (keys without an ID) carry no issuer.
    let (s, v) = pair();
    v.verify_fresh(&s.mint("acct", 60, vec![])).await.unwrap();
}

#[tokio::test]
async fn a_token_id_is_accepted_once_per_relay() {
    let (s, v) = cloud_pair();
    let mut c = TokenSigner::claims("acct", 60);
    c.iss = Some(DEFAULT_CLOUD_ISSUER.into());
    c.jti = Some("tok-1".into());
    let token = s.sign_with_kid(&c, "k1");
    v.verify_fresh(&token).await.unwrap();
    // The same bind replayed on a new connection.
    assert!(matches!(
        v.verify_fresh(&token).await,
        Err(AuthError::Replayed)
    ));
    // Clones share what they have seen (one verifier per relay, cloned per session).
    assert!(v.clone().verify_fresh(&token).await.is_err());
    // Another relay (another verifier) takes it once.
    let (_, other) = (0, TokenVerifier::new(v.fixed.to_vec(), None));
    other.verify_fresh(&token).await.unwrap();
    c.jti = Some("tok-2".into());
    v.verify_fresh(&s.sign_with_kid(&c, "k1")).await.unwrap();
    // Self-hosted tokens have no ID and are reused on every reconnect.
    let (s, v) = pair();
    let t = s.mint("acct", 60, vec![]);
    v.verify_fresh(&t).await.unwrap();
    v.verify_fresh(&t).await.unwrap();
}

#[test]
fn seen_token_ids_are_forgotten_after_expiry() {
    let seen = SeenTokens::default();
    seen.first_use("a", 100, 50).unwrap();
    assert!(seen.first_use("a", 100, 120).is_err(), "within the leeway");
    seen.first_use("a", 100, 100 + LEEWAY_SECS + 1).unwrap();
}
