//! `/v1/tunnel-configs` and `/v1/tunnels/{id}/start|stop`: cloud-managed tunnel definitions —
//! create, list, get, replace, start, stop, delete; validation by the agent's own rules with
//! the field named; passwords kept as digests; other accounts' IDs are 404; and the relays'
//! side: the definitions whole, their version, and the change feed.

use crate::common::{TestApp, TestDb};
use axum::http::StatusCode;
use serde_json::json;

on_both_databases!(
    definitions_round_trip_and_stay_in_their_account,
    bad_definitions_are_refused_with_the_field_named,
    relays_read_definitions_and_follow_the_change_feed,
);

const RELAY_SECRET: &str = "relay-secret-for-tests-0123456789";

fn web() -> serde_json::Value {
    json!({
        "name": "web",
        "definition": {
            "proto": "http",
            "addr": "8080",
            "subdomain": "web-managed",
            "basic_auth": ["alice:s3cret-pass"],
            "cidr_allow": ["10.0.0.0/8"],
        }
    })
}

async fn definitions_round_trip_and_stay_in_their_account(db: &TestDb) {
    let app = TestApp::new(db);
    let t = app.signed_up("owner@example.com").await;
    let bearer = Some(t.access.as_str());
    let created = app.post("/v1/tunnel-configs", web(), bearer).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.json);
    let id = created.json["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("tcf_"));
    assert_eq!(created.json["enabled"], json!(true));
    assert_eq!(created.json["revision"], json!(1));
    let cred = created.json["definition"]["basic_auth"][0]
        .as_str()
        .unwrap();
    assert!(cred.starts_with("alice:{sha256}"), "{cred}");
    assert!(!created.raw.windows(10).any(|w| w == b"s3cret-pas"));

    // The same name again is a conflict.
    let again = app.post("/v1/tunnel-configs", web(), bearer).await;
    again.assert_error(StatusCode::CONFLICT, "name_in_use");

    let list = app.get("/v1/tunnel-configs", bearer).await;
    assert_eq!(list.status, StatusCode::OK);
    assert_eq!(list.json["tunnel_configs"].as_array().unwrap().len(), 1);
    let one = app.get(&format!("/v1/tunnel-configs/{id}"), bearer).await;
    assert_eq!(one.json, created.json);

    // Replace: what GET showed can be sent back (the digest stays a digest).
    let mut body = json!({
        "name": "web",
        "enabled": true,
        "definition": created.json["definition"].clone(),
    });
    body["definition"]["addr"] = json!("9090");
    let replaced = app
        .put(&format!("/v1/tunnel-configs/{id}"), body, bearer)
        .await;
    assert_eq!(replaced.status, StatusCode::OK, "{}", replaced.json);
    assert_eq!(replaced.json["definition"]["addr"], json!("9090"));
    assert_eq!(replaced.json["definition"]["basic_auth"][0], json!(cred));
    assert_eq!(replaced.json["revision"], json!(2));

    // Stop and start flip `enabled`; doing it twice changes nothing more.
    let stopped = app
        .post(&format!("/v1/tunnels/{id}/stop"), json!({}), bearer)
        .await;
    assert_eq!(stopped.status, StatusCode::OK, "{}", stopped.json);
    assert_eq!(stopped.json["enabled"], json!(false));
    let stopped = app
        .post(&format!("/v1/tunnels/{id}/stop"), json!({}), bearer)
        .await;
    assert_eq!(stopped.json["revision"], json!(3));
    let started = app
        .post(&format!("/v1/tunnels/{id}/start"), json!({}), bearer)
        .await;
    assert_eq!(started.json["enabled"], json!(true));

    // Another account sees none of it, and cannot change it.
    let other = app.signed_up("other@example.com").await;
    let ob = Some(other.access.as_str());
    let path = format!("/v1/tunnel-configs/{id}");
    app.get(&path, ob)
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");
    app.put(&path, web(), ob)
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");
    app.delete(&path, ob)
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");
    app.post(&format!("/v1/tunnels/{id}/stop"), json!({}), ob)
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");
    let theirs = app.get("/v1/tunnel-configs", ob).await;
    assert_eq!(theirs.json["tunnel_configs"], json!([]));
    // The other account may use the same name in its own namespace.
    let mine = app.post("/v1/tunnel-configs", web(), ob).await;
    assert_eq!(mine.status, StatusCode::CREATED, "{}", mine.json);
    // Not an ID at all: 404 as well.
    app.get("/v1/tunnel-configs/nope", bearer)
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");
    app.get(&format!("/v1/tunnel-configs/{id}"), None)
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "unauthorized");

    let deleted = app.delete(&path, bearer).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    app.get(&path, bearer)
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");
}

async fn bad_definitions_are_refused_with_the_field_named(db: &TestDb) {
    let app = TestApp::new(db);
    let t = app.signed_up("owner@example.com").await;
    let bearer = Some(t.access.as_str());
    let cases = [
        (json!({"proto": "smtp", "addr": "25"}), None),
        (
            json!({"proto": "http", "addr": "0"}),
            Some("definition.addr"),
        ),
        (
            json!({"proto": "tcp", "addr": "22", "remote_port": 0}),
            Some("definition.remote_port"),
        ),
        (
            json!({"proto": "http", "addr": "80", "cidr_deny": ["10.0.0.0/33"]}),
            Some("definition"),
        ),
        (
            json!({"proto": "tcp", "addr": "22", "basic_auth": ["a:b"]}),
            Some("definition.basic_auth"),
        ),
        (
            json!({"proto": "http", "addr": "80", "subdomain": "Not_A_Label"}),
            Some("definition.subdomain"),
        ),
        (
            json!({"proto": "http", "addr": "80", "request_header_add": ["Host: x"]}),
            Some("definition"),
        ),
        (
            json!({"proto": "http", "addr": "80", "basic_auth": ["x".repeat(9000)]}),
            Some("definition"),
        ),
    ];
    for (definition, field) in cases {
        let r = app
            .post(
                "/v1/tunnel-configs",
                json!({"name": "t", "definition": definition}),
                bearer,
            )
            .await;
        match field {
            // Not even the right shape (unknown proto): the body is refused as such.
            None => r.assert_error(StatusCode::BAD_REQUEST, "invalid_body"),
            Some(f) => {
                r.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
                assert_eq!(
                    r.json["error"]["field"],
                    json!(f),
                    "{definition}: {}",
                    r.json
                );
            }
        }
    }
    let long = app
        .post(
            "/v1/tunnel-configs",
            json!({"name": "n".repeat(200), "definition": {"proto": "http", "addr": "80"}}),
            bearer,
        )
        .await;
    long.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(long.json["error"]["field"], json!("name"));
    let unknown = app
        .post(
            "/v1/tunnel-configs",
            json!({"name": "t", "definition": {"proto": "http", "addr": "80", "colour": "red"}}),
            bearer,
        )
        .await;
    unknown.assert_error(StatusCode::BAD_REQUEST, "invalid_body");
    // Nothing was stored.
    let list = app.get("/v1/tunnel-configs", bearer).await;
    assert_eq!(list.json["tunnel_configs"], json!([]));
}

async fn relays_read_definitions_and_follow_the_change_feed(db: &TestDb) {
    let app = TestApp::with_config(db, |c| {
        c.relay_secrets = vec![fdt_cloud::secret::Secret::new(RELAY_SECRET.into())];
    });
    let t = app.signed_up("owner@example.com").await;
    let bearer = Some(t.access.as_str());
    let me = app.get("/v1/auth/me", bearer).await;
    let account = me.json["id"].as_str().unwrap().to_owned();
    let path = format!("/v1/relay/tunnel-configs?account_id={account}");

    // Only relays may read them.
    app.get(&path, bearer)
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "unauthorized");
    let empty = app.get(&path, Some(RELAY_SECRET)).await;
    assert_eq!(empty.status, StatusCode::OK, "{}", empty.json);
    assert_eq!(empty.json, json!({"version": 0, "tunnel_configs": []}));

    let feed = app
        .get(
            "/v1/relay/tunnel-config-changes?after=0",
            Some(RELAY_SECRET),
        )
        .await;
    assert_eq!(feed.status, StatusCode::OK, "{}", feed.json);
    let cursor = feed.json["cursor"].as_i64().unwrap();

    let created = app.post("/v1/tunnel-configs", web(), bearer).await;
    let id = created.json["id"].as_str().unwrap().to_owned();
    let set = app.get(&path, Some(RELAY_SECRET)).await;
    let v1 = set.json["version"].as_i64().unwrap();
    assert!(v1 > 0);
    assert_eq!(set.json["tunnel_configs"][0]["id"], json!(id));
    assert_eq!(set.json["tunnel_configs"][0]["enabled"], json!(true));

    let feed = app
        .get(
            &format!("/v1/relay/tunnel-config-changes?after={cursor}"),
            Some(RELAY_SECRET),
        )
        .await;
    assert_eq!(feed.json["accounts"], json!([account]));
    let cursor = feed.json["cursor"].as_i64().unwrap();

    // Each change moves the version and shows in the feed once per account.
    app.post(&format!("/v1/tunnels/{id}/stop"), json!({}), bearer)
        .await;
    app.post(&format!("/v1/tunnels/{id}/start"), json!({}), bearer)
        .await;
    let set = app.get(&path, Some(RELAY_SECRET)).await;
    assert!(set.json["version"].as_i64().unwrap() > v1);
    let feed = app
        .get(
            &format!("/v1/relay/tunnel-config-changes?after={cursor}"),
            Some(RELAY_SECRET),
        )
        .await;
    assert_eq!(feed.json["accounts"], json!([account]));
    let after = feed.json["cursor"].as_i64().unwrap();
    let quiet = app
        .get(
            &format!("/v1/relay/tunnel-config-changes?after={after}"),
            Some(RELAY_SECRET),
        )
        .await;
    assert_eq!(quiet.json, json!({"accounts": [], "cursor": after}));

    app.delete(&format!("/v1/tunnel-configs/{id}"), bearer)
        .await;
    let set = app.get(&path, Some(RELAY_SECRET)).await;
    assert_eq!(set.json["tunnel_configs"], json!([]));
    assert!(set.json["version"].as_i64().unwrap() > v1);
}
