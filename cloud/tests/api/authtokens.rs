//! `/v1/authtokens`: create (secret once), list (prefix only), revoke, and isolation between
//! accounts.

use crate::common::{TestApp, TestDb};
use axum::http::{StatusCode, header};
use fdt_cloud::clock::Clock as _;
use fdt_cloud::random::secret_hash;
use serde_json::json;

on_both_databases!(
    create_list_revoke_round_trip,
    another_accounts_token_is_404,
    authtokens_need_a_login,
);

async fn create_list_revoke_round_trip(db: &TestDb) {
    let app = TestApp::new(db);
    let t = app.signed_up("owner@example.com").await;
    let created = app
        .post(
            "/v1/authtokens",
            json!({"description": " laptop "}),
            Some(&t.access),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.json);
    assert_eq!(created.headers[header::CACHE_CONTROL], "no-store");
    let secret = created.json["token"].as_str().unwrap().to_owned();
    let parsed = fdt_api::parse_authtoken(&secret).unwrap();
    assert_eq!(created.json["prefix"], parsed.display_prefix());
    assert_eq!(&secret[..12], parsed.display_prefix());
    assert_eq!(created.json["description"], "laptop");
    assert!(created.json["id"].as_str().unwrap().starts_with("atk_"));
    assert!(created.json["last_used_at"].is_null());

    // Later, so "oldest first" has an order to show (equal times fall back to the ID).
    app.clock.advance(time::Duration::seconds(1));
    let second = app.post("/v1/authtokens", json!({}), Some(&t.access)).await;
    assert_eq!(second.status, StatusCode::CREATED);
    let second_secret = second.json["token"].as_str().unwrap().to_owned();
    assert!(second.json.get("description").is_none());

    // The list shows prefixes, oldest first, never a secret.
    let list = app.get("/v1/authtokens", Some(&t.access)).await;
    assert_eq!(list.status, StatusCode::OK);
    let items = list.json["authtokens"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["id"], created.json["id"]);
    assert_eq!(items[1]["id"], second.json["id"]);
    let text = String::from_utf8_lossy(&list.raw);
    assert!(!text.contains(&secret) && !text.contains(&second_secret[12..]));
    assert!(items.iter().all(|i| i.get("token").is_none()));

    // Stored as a SHA-256 hash: the secret's hash finds it, and using it is recorded.
    let now = app.clock.now();
    let used = app
        .state
        .store()
        .use_authtoken(&secret_hash(&secret), now)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(used.id.as_str(), created.json["id"]);

    // Revoke the first: gone from the list; a second revoke finds nothing.
    let path = format!("/v1/authtokens/{}", created.json["id"].as_str().unwrap());
    let revoked = app.delete(&path, Some(&t.access)).await;
    assert_eq!(revoked.status, StatusCode::NO_CONTENT);
    assert!(revoked.raw.is_empty());
    let list = app.get("/v1/authtokens", Some(&t.access)).await;
    assert_eq!(list.json["authtokens"].as_array().unwrap().len(), 1);
    app.delete(&path, Some(&t.access))
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");
    assert_eq!(
        app.state
            .store()
            .use_authtoken(&secret_hash(&secret), now)
            .await
            .unwrap(),
        None
    );
}

async fn another_accounts_token_is_404(db: &TestDb) {
    let app = TestApp::new(db);
    let alice = app.signed_up("alice@example.com").await;
    let bob = app.signed_up("bob@example.com").await;
    let created = app
        .post("/v1/authtokens", json!({}), Some(&alice.access))
        .await;
    let id = created.json["id"].as_str().unwrap().to_owned();

    // Bob cannot see or revoke it, and the answer is the same as for a token that never
    // existed.
    let list = app.get("/v1/authtokens", Some(&bob.access)).await;
    assert_eq!(list.json, json!({"authtokens": []}));
    let theirs = app
        .delete(&format!("/v1/authtokens/{id}"), Some(&bob.access))
        .await;
    theirs.assert_error(StatusCode::NOT_FOUND, "not_found");
    let never = app
        .delete(
            &format!("/v1/authtokens/{}", fdt_cloud::random::new_authtoken_id()),
            Some(&bob.access),
        )
        .await;
    assert_eq!(theirs.json, never.json);
    for bad in ["not-an-id", "acc_0123456789abcdefABCDEF", "%FF"] {
        app.delete(&format!("/v1/authtokens/{bad}"), Some(&bob.access))
            .await
            .assert_error(StatusCode::NOT_FOUND, "not_found");
    }
    // Alice still has it.
    let list = app.get("/v1/authtokens", Some(&alice.access)).await;
    assert_eq!(list.json["authtokens"][0]["id"], id.as_str());
    assert_eq!(app.stats().await.authtokens, 1);
}

async fn authtokens_need_a_login(db: &TestDb) {
    let app = TestApp::new(db);
    app.get("/v1/authtokens", None)
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "unauthorized");
    app.post("/v1/authtokens", json!({}), None)
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "unauthorized");
    app.delete(
        &format!("/v1/authtokens/{}", fdt_cloud::random::new_authtoken_id()),
        None,
    )
    .await
    .assert_error(StatusCode::UNAUTHORIZED, "unauthorized");
    assert_eq!(app.stats().await.authtokens, 0);
}
