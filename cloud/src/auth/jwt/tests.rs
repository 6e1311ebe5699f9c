//! Access-token tests: expiry, algorithm pinning and the key on disk.

#![allow(clippy::unwrap_used)]
use super::*;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;

fn tokens() -> AccessTokens {
    AccessTokens::new(
        Arc::new(SigningKey::generate().unwrap()),
        &AuthConfig::default(),
    )
}

fn ids() -> (AccountId, SessionId) {
    (
        crate::random::new_account_id(),
        crate::random::new_session_id(),
    )
}

#[test]
fn issued_tokens_verify_until_they_expire() {
    let t = tokens();
    let (acc, ses) = ids();
    let now = OffsetDateTime::now_utc();
    let tok = t.issue(&acc, &ses, now).unwrap();
    let claims = t.verify(tok.expose_secret(), now).unwrap();
    assert_eq!((claims.sub, claims.sid), (acc, ses));
    let later = now + time::Duration::seconds(600 + 5);
    assert!(matches!(
        t.verify(tok.expose_secret(), later),
        Err(AccessTokenError::Expired)
    ));
}

#[test]
fn alg_none_and_hs256_are_refused() {
    let t = tokens();
    let (acc, ses) = ids();
    let now = OffsetDateTime::now_utc();
    let claims = serde_json::to_vec(&t.claims(&acc, &ses, now)).unwrap();
    let none = format!(
        "{}.{}.",
        B64.encode(br#"{"alg":"none","typ":"JWT"}"#),
        B64.encode(&claims)
    );
    assert!(matches!(
        t.verify(&none, now),
        Err(AccessTokenError::WrongAlgorithm)
    ));
    // HS256 keyed with the public key: the classic algorithm-confusion attack.
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some(t.signing_key().kid().to_owned());
    let hs = jsonwebtoken::encode(
        &header,
        &t.claims(&acc, &ses, now),
        &EncodingKey::from_secret(t.signing_key().public_pem().as_bytes()),
    )
    .unwrap();
    assert!(matches!(
        t.verify(&hs, now),
        Err(AccessTokenError::WrongAlgorithm)
    ));
}

#[test]
fn key_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let a = SigningKey::load_or_create(dir.path()).unwrap();
    let b = SigningKey::load_or_create(dir.path()).unwrap();
    assert_eq!(a.kid(), b.kid());
    assert_eq!(
        std::fs::read_to_string(dir.path().join(PUBLIC_KEY_FILE)).unwrap(),
        a.public_pem()
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join(SIGNING_KEY_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
