//! id_token checks against a fixed RSA key (a test-only key, made for these tests).

#![allow(clippy::unwrap_used)]
use super::*;
use jsonwebtoken::{EncodingKey, Header, encode};
use serde_json::json;

const KEY_PEM: &str = include_str!("test-only-rsa-key.pem");
/// The key's modulus, base64url (its exponent is 65537, `AQAB`).
const KEY_N: &str = "oLHbNEFZtB1c8vjo6LFo2L9mBLRVmPDEgbl4ExyTqG0dCV3Qha0mIZ_DHp00Luag5QQ3LNYRBGJ8dNN90k7pPCgOqpA7R4aqutE4A0ek6ldPl6mL_zJgVypsK-DuWjFkRmYNEwZnvuXnMjKm5zbfzZaItKF8nR32ZhArAqTDksq_ZMZVQK-djVw2GLXV0V3Zprg1dcTOe5U3UoeAvB01GL6BY3OrkTEjiftmNmi9lEQVfEnjw8LX32s29ONx0Am6v_86civUkSFnOK8CfBLENz1fqTxy21xfwwlt6D4ksZdqgZVQAQJrsWG1aSCXE6hf-WKl9ONO6RsEJXql8NajOw";
const ISS: &str = "https://idp.corp.test";
const CLIENT: &str = "fdt-client";
const NOW: i64 = 1_800_000_000;

fn keys() -> JwkSet {
    serde_json::from_value(json!({"keys": [
        {"kty": "RSA", "kid": "k1", "use": "sig", "alg": "RS256", "n": KEY_N, "e": "AQAB"}
    ]}))
    .unwrap()
}

fn sign(claims: &Value, kid: Option<&str>) -> String {
    let mut h = Header::new(Algorithm::RS256);
    h.kid = kid.map(str::to_owned);
    encode(
        &h,
        claims,
        &EncodingKey::from_rsa_pem(KEY_PEM.as_bytes()).unwrap(),
    )
    .unwrap()
}

fn good() -> Value {
    json!({
        "iss": ISS, "aud": CLIENT, "sub": "u-1", "exp": NOW + 300, "iat": NOW,
        "nonce": "n-1", "email": "Alice@Corp.test", "email_verified": true,
        "groups": ["Engineering", "Everyone"]
    })
}

fn check(token: &str) -> Result<Identity, IdTokenError> {
    let expect = Expect {
        issuer: ISS,
        client_id: CLIENT,
        nonce: "n-1",
        groups_claim: "groups",
        now: OffsetDateTime::from_unix_timestamp(NOW).unwrap(),
    };
    verify(token, &keys(), &expect)
}

fn with(change: impl FnOnce(&mut serde_json::Map<String, Value>)) -> String {
    let mut c = good();
    change(c.as_object_mut().unwrap());
    sign(&c, Some("k1"))
}

#[test]
fn a_good_token_gives_the_identity() {
    let id = check(&sign(&good(), Some("k1"))).unwrap();
    assert_eq!(id.sub, "u-1");
    assert_eq!(id.email.as_deref(), Some("alice@corp.test"));
    assert_eq!(id.groups, ["Engineering", "Everyone"]);
}

#[test]
fn wrong_audience_issuer_nonce_and_time_are_refused() {
    let wrong_aud = with(|c| {
        c.insert("aud".into(), json!("someone-else"));
    });
    assert!(matches!(check(&wrong_aud), Err(IdTokenError::Invalid(_))));
    let wrong_iss = with(|c| {
        c.insert("iss".into(), json!("https://evil.test"));
    });
    assert!(matches!(check(&wrong_iss), Err(IdTokenError::Invalid(_))));
    let wrong_nonce = with(|c| {
        c.insert("nonce".into(), json!("n-2"));
    });
    assert_eq!(check(&wrong_nonce), Err(IdTokenError::Nonce));
    let no_nonce = with(|c| {
        c.remove("nonce");
    });
    assert_eq!(check(&no_nonce), Err(IdTokenError::Nonce));
    let expired = with(|c| {
        c.insert("exp".into(), json!(NOW - LEEWAY_SECS - 1));
    });
    assert_eq!(check(&expired), Err(IdTokenError::Expired));
    let future = with(|c| {
        c.insert("iat".into(), json!(NOW + LEEWAY_SECS + 1));
    });
    assert_eq!(check(&future), Err(IdTokenError::Expired));
    // Several audiences: only with azp naming us.
    let shared = with(|c| {
        c.insert("aud".into(), json!([CLIENT, "other"]));
    });
    assert!(matches!(check(&shared), Err(IdTokenError::Invalid(_))));
    let ours = with(|c| {
        c.insert("aud".into(), json!([CLIENT, "other"]));
        c.insert("azp".into(), json!(CLIENT));
    });
    assert!(check(&ours).is_ok());
}

#[test]
fn unverified_emails_do_not_count() {
    let t = with(|c| {
        c.insert("email_verified".into(), json!(false));
    });
    assert_eq!(check(&t).unwrap().email, None);
}

#[test]
fn forged_or_unsigned_tokens_are_refused() {
    let t = sign(&good(), Some("k1"));
    // A changed payload under the old signature.
    let mut parts: Vec<String> = t.split('.').map(str::to_owned).collect();
    let mut other = good();
    other["sub"] = json!("admin");
    parts[1] = base64::Engine::encode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        other.to_string(),
    );
    assert!(matches!(
        check(&parts.join(".")),
        Err(IdTokenError::Invalid(_))
    ));
    // alg none, and HS256 keyed with anything: refused before any key is looked at.
    let none = format!(
        "{}.{}.",
        base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            r#"{"alg":"none","kid":"k1"}"#
        ),
        parts[1]
    );
    assert!(check(&none).is_err());
    let hs = encode(
        &Header::new(Algorithm::HS256),
        &good(),
        &EncodingKey::from_secret(KEY_N.as_bytes()),
    )
    .unwrap();
    assert!(matches!(check(&hs), Err(IdTokenError::Algorithm(_))));
    assert!(matches!(
        check(&sign(&good(), Some("k9"))),
        Err(IdTokenError::UnknownKey(_))
    ));
    assert!(matches!(
        check("not.a.jwt"),
        Err(IdTokenError::Malformed(_))
    ));
}
