//! Access tokens that must be refused with 401: `alg: none`, a wrong key, a past `exp`, a wrong
//! `aud` or `iss`, a missing claim, a subject that is not the session's.

use crate::common::{TestApp, TestDb};
use axum::http::StatusCode;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use fdt_cloud::auth::jwt::SigningKey;
use fdt_cloud::clock::Clock as _;
use serde_json::{Value, json};

on_both_databases!(forged_or_misaddressed_access_tokens_get_401);

/// The claims of a JWT, decoded without checking anything.
fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&B64.decode(payload).unwrap()).unwrap()
}

fn with(claims: &Value, key: &str, value: Value) -> Value {
    let mut c = claims.clone();
    c[key] = value;
    c
}

async fn forged_or_misaddressed_access_tokens_get_401(db: &TestDb) {
    let app = TestApp::new(db);
    let tokens = app.signed_up("jwt@example.com").await;
    let claims = claims_of(&tokens.access);
    let now = app.clock.now().unix_timestamp();

    // Control: the same claims re-signed with the server's key are accepted, so each refusal
    // below is caused by the one thing changed.
    let control = app.key.sign(&claims).unwrap();
    assert_eq!(
        app.get("/v1/auth/me", Some(&control)).await.status,
        StatusCode::OK
    );

    let other_key = SigningKey::generate().unwrap();
    let ours = app.key.sign(&claims).unwrap();
    let theirs = other_key.sign(&claims).unwrap();
    // Our header (with our kid) and payload, but a signature by another key.
    let spliced = {
        let (head, _) = ours.rsplit_once('.').unwrap();
        let (_, sig) = theirs.rsplit_once('.').unwrap();
        format!("{head}.{sig}")
    };
    let none_header = |kid: bool| {
        let header = if kid {
            json!({"alg": "none", "typ": "JWT", "kid": app.key.kid()})
        } else {
            json!({"alg": "none", "typ": "JWT"})
        };
        B64.encode(header.to_string())
    };
    let payload = B64.encode(claims.to_string());
    let mut no_exp = claims.clone();
    no_exp.as_object_mut().unwrap().remove("exp");
    let someone_else = fdt_cloud::random::new_account_id().to_string();

    let cases: Vec<(&str, String)> = vec![
        ("alg none", format!("{}.{payload}.", none_header(false))),
        (
            "alg none with our kid",
            format!("{}.{payload}.", none_header(true)),
        ),
        ("signed by another key", theirs.clone()),
        ("another key's signature under our kid", spliced),
        (
            "past exp",
            app.key
                .sign(&with(
                    &with(&claims, "exp", json!(now - 3600)),
                    "iat",
                    json!(now - 4200),
                ))
                .unwrap(),
        ),
        (
            "wrong aud (a relay token)",
            app.key
                .sign(&with(&claims, "aud", json!("fdt-relay")))
                .unwrap(),
        ),
        (
            "wrong iss",
            app.key
                .sign(&with(&claims, "iss", json!("evil-cloud")))
                .unwrap(),
        ),
        ("missing exp", app.key.sign(&no_exp).unwrap()),
        (
            "sub not the session's account",
            app.key
                .sign(&with(&claims, "sub", json!(someone_else)))
                .unwrap(),
        ),
        ("payload edited after signing", {
            let (head, rest) = ours.split_once('.').unwrap();
            let (_, sig) = rest.split_once('.').unwrap();
            let edited = B64.encode(with(&claims, "exp", json!(now + 999_999)).to_string());
            format!("{head}.{edited}.{sig}")
        }),
    ];
    for (what, token) in cases {
        let r = app.get("/v1/auth/me", Some(&token)).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{what} was accepted");
        assert_eq!(r.code(), "unauthorized", "{what}");
    }
}
