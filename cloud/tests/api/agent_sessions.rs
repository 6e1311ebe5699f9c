//! `POST /v1/agent/sessions` and `GET /v1/jwks`: an authtoken buys a relay token that verifies
//! with the published keys; unknown, malformed and revoked authtokens get 401.

use crate::common::{TestApp, TestDb, Tokens};
use axum::http::{StatusCode, header};
use fdt_cloud::config::RelayEntry;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Value, json};

on_both_databases!(
    authtoken_buys_a_relay_token_that_verifies_with_the_jwks,
    revoked_unknown_and_malformed_authtokens_get_401,
    relays_are_ranked_by_the_requested_region,
    no_relay_configured_is_503,
    revocation_feed_needs_the_relay_secret_and_lists_each_revocation_once,
);

fn relay(id: &str, region: &str) -> RelayEntry {
    RelayEntry {
        id: id.into(),
        region: region.into(),
        addr: format!("127.0.0.1:{}", 7000 + id.len()),
        server_name: "localhost".into(),
    }
}

fn app_with_relays(db: &TestDb) -> TestApp {
    TestApp::with_config(db, |c| {
        c.relays = vec![relay("us-1", "us"), relay("eu-1", "eu")];
    })
}

/// Signs up, creates an authtoken; returns the login tokens, the authtoken and its ID.
async fn authtoken(app: &TestApp, email: &str) -> (Tokens, String, String) {
    let t = app.signed_up(email).await;
    let r = app.post("/v1/authtokens", json!({}), Some(&t.access)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.json);
    let secret = r.json["token"].as_str().unwrap().to_owned();
    let id = r.json["id"].as_str().unwrap().to_owned();
    (t, secret, id)
}

async fn authtoken_buys_a_relay_token_that_verifies_with_the_jwks(db: &TestDb) {
    let app = app_with_relays(db);
    let (t, secret, _) = authtoken(&app, "agent@example.com").await;
    let me = app.get("/v1/auth/me", Some(&t.access)).await;

    let r = app
        .post(
            "/v1/agent/sessions",
            json!({"agent_version": "fdt/test"}),
            Some(&secret),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json);
    assert_eq!(r.headers[header::CACHE_CONTROL], "no-store");
    assert_eq!(r.json["account_id"], me.json["id"]);
    assert_eq!(r.json["expires_in"], 600);
    let token = r.json["token"].as_str().unwrap();

    // Both JWKS routes publish the key the token names.
    let jwks = app.get("/v1/jwks", None).await;
    assert_eq!(jwks.status, StatusCode::OK);
    assert_eq!(
        app.get("/.well-known/jwks.json", None).await.json,
        jwks.json
    );
    let header = jsonwebtoken::decode_header(token).unwrap();
    assert_eq!(header.alg, Algorithm::EdDSA);
    let kid = header.kid.unwrap();
    let jwk = jwks.json["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == kid.as_str())
        .unwrap_or_else(|| panic!("kid {kid} not in {}", jwks.json));
    assert_eq!(jwk["kty"], "OKP");
    assert_eq!(jwk["use"], "sig");
    // The access-token key is not among them: relays must not be able to verify /v1 tokens.
    assert_ne!(kid, app.key.kid());

    let mut v = Validation::new(Algorithm::EdDSA);
    v.set_audience(&["fdt-relay"]);
    let key = DecodingKey::from_ed_components(jwk["x"].as_str().unwrap()).unwrap();
    let claims: Value = jsonwebtoken::decode(token, &key, &v).unwrap().claims;
    assert_eq!(claims["sub"], me.json["id"]);
    assert_eq!(claims["max_tunnels"], 0);
    // The authtoken is named, so relays can close the session when it is revoked.
    let listed = app.get("/v1/authtokens", Some(&t.access)).await;
    assert_eq!(claims["atk"], listed.json["authtokens"][0]["id"]);

    // The exchange is recorded as a use of the authtoken.
    let list = app.get("/v1/authtokens", Some(&t.access)).await;
    assert!(list.json["authtokens"][0]["last_used_at"].is_string());
}

async fn revoked_unknown_and_malformed_authtokens_get_401(db: &TestDb) {
    let app = app_with_relays(db);
    let (t, secret, id) = authtoken(&app, "revoke@example.com").await;
    let ok = app
        .post("/v1/agent/sessions", json!({}), Some(&secret))
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.json);

    let gone = app
        .delete(&format!("/v1/authtokens/{id}"), Some(&t.access))
        .await;
    assert_eq!(gone.status, StatusCode::NO_CONTENT);
    let refused = app
        .post("/v1/agent/sessions", json!({}), Some(&secret))
        .await;
    refused.assert_error(StatusCode::UNAUTHORIZED, "unauthorized");
    assert_eq!(refused.headers[header::WWW_AUTHENTICATE], "Bearer");

    // Well-formed but never issued; a typo (checksum); an access token; nothing at all.
    let unknown = fdt_cloud::random::new_authtoken();
    let mut typo = secret.clone();
    typo.replace_range(10..11, if &secret[10..11] == "a" { "b" } else { "a" });
    for bearer in [
        Some(unknown.expose_secret()),
        Some(typo.as_str()),
        Some(t.access.as_str()),
        None,
    ] {
        let r = app.post("/v1/agent/sessions", json!({}), bearer).await;
        r.assert_error(StatusCode::UNAUTHORIZED, "unauthorized");
    }
}

async fn relays_are_ranked_by_the_requested_region(db: &TestDb) {
    let app = app_with_relays(db);
    let (_, secret, _) = authtoken(&app, "region@example.com").await;
    let ids = |r: &Value| -> Vec<String> {
        r["relays"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let eu = app
        .post("/v1/agent/sessions", json!({"region": "eu"}), Some(&secret))
        .await;
    assert_eq!(ids(&eu.json), ["eu-1", "us-1"]);
    assert_eq!(eu.json["relays"][0]["server_name"], "localhost");
    let any = app
        .post("/v1/agent/sessions", json!({}), Some(&secret))
        .await;
    // Without a preference every healthy relay is listed, in a weighted random order.
    let mut all = ids(&any.json);
    all.sort();
    assert_eq!(all, ["eu-1", "us-1"]);
    let bad = app
        .post(
            "/v1/agent/sessions",
            json!({"region": "EU WEST"}),
            Some(&secret),
        )
        .await;
    bad.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    let unknown_field = app
        .post("/v1/agent/sessions", json!({"regoin": "eu"}), Some(&secret))
        .await;
    unknown_field.assert_error(StatusCode::BAD_REQUEST, "invalid_body");
}

async fn no_relay_configured_is_503(db: &TestDb) {
    let app = TestApp::new(db);
    let (_, secret, _) = authtoken(&app, "lonely@example.com").await;
    let r = app
        .post("/v1/agent/sessions", json!({}), Some(&secret))
        .await;
    r.assert_error(StatusCode::SERVICE_UNAVAILABLE, "no_relay_available");
}

const RELAY_SECRET: &str = "relay-secret-for-tests-0123456789";

async fn revocation_feed_needs_the_relay_secret_and_lists_each_revocation_once(db: &TestDb) {
    let app = TestApp::with_config(db, |c| {
        c.relays = vec![relay("us-1", "us")];
        c.relay_secrets = vec![fdt_cloud::secret::Secret::new(RELAY_SECRET.into())];
    });
    let feed = "/v1/relay/revocations?after=0";
    // No secret, a wrong one, a user's access token, an authtoken: all 401.
    let (t, secret, id) = authtoken(&app, "feed@example.com").await;
    for bearer in [
        None,
        Some("wrong-secret-0123456789"),
        Some(t.access.as_str()),
        Some(secret.as_str()),
    ] {
        let r = app.get(feed, bearer).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{bearer:?}: {}", r.json);
        assert_eq!(r.json["error"]["code"], "unauthorized", "{}", r.json);
    }

    let r = app.get(feed, Some(RELAY_SECRET)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json);
    assert_eq!(r.json, json!({"revoked": [], "cursor": 0}));

    // Two tokens revoked in the same instant (the test clock stands still): both listed, once.
    let (t2, _, id2) = authtoken(&app, "feed2@example.com").await;
    let r = app
        .delete(&format!("/v1/authtokens/{id}"), Some(&t.access))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r = app.get(feed, Some(RELAY_SECRET)).await;
    assert_eq!(r.json["revoked"], json!([id]));
    let cursor = r.json["cursor"].as_i64().unwrap();
    assert!(cursor > 0);
    let r = app
        .delete(&format!("/v1/authtokens/{id2}"), Some(&t2.access))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    // Revoking again changes nothing and adds nothing to the feed.
    let r = app
        .delete(&format!("/v1/authtokens/{id}"), Some(&t.access))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    let next = app
        .get(
            &format!("/v1/relay/revocations?after={cursor}"),
            Some(RELAY_SECRET),
        )
        .await;
    assert_eq!(next.status, StatusCode::OK, "{}", next.json);
    assert_eq!(next.json["revoked"], json!([id2]));
    let last = next.json["cursor"].as_i64().unwrap();
    assert!(last > cursor);
    let r = app
        .get(
            &format!("/v1/relay/revocations?after={last}"),
            Some(RELAY_SECRET),
        )
        .await;
    assert_eq!(r.json, json!({"revoked": [], "cursor": last}));
    // From the start, both in revocation order.
    let r = app.get(feed, Some(RELAY_SECRET)).await;
    assert_eq!(r.json["revoked"], json!([id, id2]));
    // A bad cursor is a 4xx with the JSON error body.
    let r = app
        .get("/v1/relay/revocations?after=x", Some(RELAY_SECRET))
        .await;
    assert!(r.status.is_client_error(), "{}", r.status);
    assert!(r.json["error"]["code"].is_string(), "{}", r.json);
}
