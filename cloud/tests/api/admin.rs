//! The operators' API: only admin accounts get in (403 for others, enforced on the server);
//! suspension closes a user's doors (login, authtoken exchange, binds) and live tunnels; plan
//! changes, force-closed tunnels and relay drains take effect; every action is audited.

use super::fleet::{Relay, account, app, atk};
use crate::common::{TestApp, TestDb};
use axum::http::StatusCode;
use serde_json::json;

on_both_databases!(
    only_admins_get_in,
    suspension_closes_every_door_and_is_audited,
    tunnels_are_force_closed_and_relays_drained,
    secret_ages_turn_amber_then_red,
);

async fn admin(app: &TestApp, email: &str) -> (crate::common::Tokens, String) {
    let (t, id) = account(app, email).await;
    assert!(app.state.store().grant_admin(email).await.unwrap());
    (t, id)
}

async fn only_admins_get_in(db: &TestDb) {
    let app = app(db);
    let (user, uid) = account(&app, "user@example.com").await;
    let (ops, _) = admin(&app, "ops@example.com").await;
    let routes = [
        ("GET", "/v1/admin/users".to_string()),
        ("GET", "/v1/admin/tunnels".to_string()),
        ("GET", "/v1/admin/domains".to_string()),
        ("GET", "/v1/admin/audit".to_string()),
        ("POST", format!("/v1/admin/users/{uid}/suspend")),
        ("PUT", format!("/v1/admin/users/{uid}/plan")),
        ("PUT", "/v1/admin/relays/eu-1/drain".to_string()),
        (
            "DELETE",
            "/v1/admin/tunnels/tun_0000000000000000000000".to_string(),
        ),
    ];
    for (method, path) in &routes {
        let call = |bearer: Option<String>| {
            let req = TestApp::request(method.parse().unwrap(), path, bearer.as_deref(), None)
                .header("content-type", "application/json")
                .body(axum::body::Body::from(r#"{"plan":"pro","draining":true}"#))
                .unwrap();
            app.call(req)
        };
        call(None)
            .await
            .assert_error(StatusCode::UNAUTHORIZED, "unauthorized");
        call(Some(user.access.clone()))
            .await
            .assert_error(StatusCode::FORBIDDEN, "forbidden");
    }
    // The user was not changed by any of that.
    let me = app.get("/v1/plan", Some(&user.access)).await;
    assert_eq!(me.json["plan"], "free");
    // An operator gets in; search by email.
    let all = app.get("/v1/admin/users", Some(&ops.access)).await;
    assert_eq!(all.status, StatusCode::OK, "{}", all.json);
    assert_eq!(all.json["users"].as_array().unwrap().len(), 2);
    let found = app
        .get("/v1/admin/users?q=USER%40", Some(&ops.access))
        .await;
    assert_eq!(found.json["users"].as_array().unwrap().len(), 1);
    assert_eq!(found.json["users"][0]["email"], "user@example.com");
    let none = app.get("/v1/admin/users?q=%25", Some(&ops.access)).await;
    assert_eq!(none.json["users"], json!([]), "LIKE wildcards are literal");
    app.get("/v1/admin/users?sort=x", Some(&ops.access))
        .await
        .assert_error(StatusCode::BAD_REQUEST, "invalid_body");
}

async fn suspension_closes_every_door_and_is_audited(db: &TestDb) {
    let app = app(db);
    let (ops, ops_id) = admin(&app, "ops@example.com").await;
    let (user, uid) = account(&app, "bad-actor@example.com").await;
    let token = app
        .post("/v1/authtokens", json!({}), Some(&user.access))
        .await;
    let secret = token.json["token"].as_str().unwrap().to_owned();
    let mut relay = Relay::new("eu-1", "eu");
    relay.beat(&app, json!({})).await;
    let bound = relay
        .bind(&app, &uid, &atk(1), json!({"subdomain": "phish"}))
        .await;
    let tunnel = bound.json["tunnel_id"].as_str().unwrap().to_owned();

    // Plan change, audited.
    let r = app
        .call(
            TestApp::request(
                "PUT".parse().unwrap(),
                &format!("/v1/admin/users/{uid}/plan"),
                Some(&ops.access),
                None,
            )
            .header("content-type", "application/json")
            .body(axum::body::Body::from(r#"{"plan":"team"}"#))
            .unwrap(),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json);
    assert_eq!(r.json["plan"], "team");

    let r = app
        .post(
            &format!("/v1/admin/users/{uid}/suspend"),
            json!({}),
            Some(&ops.access),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json);
    assert_eq!(r.json["suspended"], true);
    // Sessions ended, login refused (after the password check), exchange and binds refused.
    app.get("/v1/auth/me", Some(&user.access))
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "unauthorized");
    app.login("bad-actor@example.com", crate::common::PASSWORD)
        .await
        .assert_error(StatusCode::FORBIDDEN, "account_suspended");
    app.login("bad-actor@example.com", "wrong password here")
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "invalid_credentials");
    app.post("/v1/agent/sessions", json!({}), Some(&secret))
        .await
        .assert_error(StatusCode::FORBIDDEN, "account_suspended");
    relay
        .bind(&app, &uid, &atk(1), json!({"subdomain": "phish2"}))
        .await
        .assert_error(StatusCode::FORBIDDEN, "account_suspended");
    // Its live tunnel is gone and its relay is told to close it.
    let ack = relay.beat(&app, json!({})).await;
    assert_eq!(ack["evict"], json!([tunnel]));
    let live = app.get("/v1/admin/tunnels", Some(&ops.access)).await;
    assert_eq!(live.json["tunnels"], json!([]));
    // Operators cannot lock themselves out.
    app.post(
        &format!("/v1/admin/users/{ops_id}/suspend"),
        json!({}),
        Some(&ops.access),
    )
    .await
    .assert_error(StatusCode::BAD_REQUEST, "invalid_body");

    // Reinstated: login works again.
    let r = app
        .post(
            &format!("/v1/admin/users/{uid}/unsuspend"),
            json!({}),
            Some(&ops.access),
        )
        .await;
    assert_eq!(r.json["suspended"], false);
    assert_eq!(
        app.login("bad-actor@example.com", crate::common::PASSWORD)
            .await
            .status,
        StatusCode::OK
    );

    // The audit log, newest first: the operator's actions, with the suspended account's
    // refused sign-ins between them.
    let audit = app.get("/v1/admin/audit", Some(&ops.access)).await;
    let entries = audit.json["entries"].as_array().unwrap();
    let refused: Vec<&str> = entries
        .iter()
        .filter(|e| e["action"] == "auth.login_failed")
        .filter_map(|e| e["detail"]["reason"].as_str())
        .collect();
    assert_eq!(
        refused,
        ["wrong email or password", "suspended"],
        "{entries:#?}"
    );
    let actions: Vec<(&str, &str)> = entries
        .iter()
        .map(|e| (e["action"].as_str().unwrap(), e["target"].as_str().unwrap()))
        .filter(|(a, _)| a.starts_with("user."))
        .collect();
    assert_eq!(
        actions,
        [
            ("user.unsuspend", uid.as_str()),
            ("user.suspend", uid.as_str()),
            ("user.plan", uid.as_str())
        ]
    );
    let by_action = |a: &str| entries.iter().find(|e| e["action"] == a).unwrap();
    assert_eq!(by_action("user.suspend")["detail"]["tunnels_closed"], 1);
    assert_eq!(
        by_action("user.plan")["detail"],
        json!({"from": "free", "to": "team"})
    );
    let unsuspend = by_action("user.unsuspend");
    assert_eq!(unsuspend["actor"], ops_id);
    // Paging: the one entry before the unsuspension.
    let seq = unsuspend["seq"].as_i64().unwrap();
    let older = app
        .get(
            &format!("/v1/admin/audit?before={seq}&limit=1"),
            Some(&ops.access),
        )
        .await;
    assert_eq!(older.json["entries"][0]["seq"], json!(seq - 1));
}

async fn tunnels_are_force_closed_and_relays_drained(db: &TestDb) {
    let app = app(db);
    let (ops, _) = admin(&app, "ops@example.com").await;
    let (user, uid) = account(&app, "someone@example.com").await;
    let mut relay = Relay::new("eu-1", "eu");
    relay.beat(&app, json!({})).await;
    let bound = relay
        .bind(&app, &uid, &atk(1), json!({"subdomain": "live"}))
        .await;
    let tunnel = bound.json["tunnel_id"].as_str().unwrap().to_owned();

    let all = app.get("/v1/admin/tunnels", Some(&ops.access)).await;
    assert_eq!(all.json["tunnels"][0]["account_id"], uid);
    assert_eq!(all.json["tunnels"][0]["id"], tunnel);
    let r = app
        .delete(&format!("/v1/admin/tunnels/{tunnel}"), Some(&ops.access))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    app.delete(&format!("/v1/admin/tunnels/{tunnel}"), Some(&ops.access))
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");
    assert_eq!(relay.beat(&app, json!({})).await["evict"], json!([tunnel]));
    assert_eq!(
        app.get("/v1/tunnels", Some(&user.access)).await.json["tunnels"],
        json!([])
    );

    // Drain: the relay is told in its heartbeat answer; once it reports draining, agents are
    // not sent to it.
    let drain = |on: bool| {
        TestApp::request(
            "PUT".parse().unwrap(),
            "/v1/admin/relays/eu-1/drain",
            Some(&ops.access),
            None,
        )
        .header("content-type", "application/json")
        .body(axum::body::Body::from(json!({"draining": on}).to_string()))
        .unwrap()
    };
    assert_eq!(app.call(drain(true)).await.status, StatusCode::NO_CONTENT);
    let ack = relay.beat(&app, json!({})).await;
    assert_eq!(ack["drain"], true);
    relay.beat(&app, json!({"draining": true})).await;
    let token = app
        .post("/v1/authtokens", json!({}), Some(&user.access))
        .await;
    let secret = token.json["token"].as_str().unwrap().to_owned();
    app.post("/v1/agent/sessions", json!({}), Some(&secret))
        .await
        .assert_error(StatusCode::SERVICE_UNAVAILABLE, "no_relay_available");
    assert_eq!(app.call(drain(false)).await.status, StatusCode::NO_CONTENT);
    assert_eq!(relay.beat(&app, json!({})).await["drain"], false);
    assert_eq!(
        app.post("/v1/agent/sessions", json!({}), Some(&secret))
            .await
            .status,
        StatusCode::OK
    );
    let unknown = TestApp::request(
        "PUT".parse().unwrap(),
        "/v1/admin/relays/nope/drain",
        Some(&ops.access),
        None,
    )
    .header("content-type", "application/json")
    .body(axum::body::Body::from(r#"{"draining":true}"#))
    .unwrap();
    app.call(unknown)
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");
    let audit = app.get("/v1/admin/audit", Some(&ops.access)).await;
    let actions: Vec<&str> = audit.json["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .filter(|a| a.starts_with("relay.") || a.starts_with("tunnel."))
        .collect();
    assert_eq!(actions, ["relay.drain", "relay.drain", "tunnel.close"]);
}

/// `GET /v1/admin/secrets`: each signing key and relay secret with its age, green while
/// young, amber from four fifths of its maximum, red past it; operators only.
async fn secret_ages_turn_amber_then_red(db: &TestDb) {
    let app = TestApp::with_config(db, |c| {
        c.relay_secrets = vec![fdt_cloud::secret::Secret::new(
            "relay-secret-for-tests-0123456789".into(),
        )];
    });
    let (user, _) = account(&app, "user@example.com").await;
    app.get("/v1/admin/secrets", Some(&user.access))
        .await
        .assert_error(StatusCode::FORBIDDEN, "forbidden");
    let (ops, _) = admin(&app, "ops@example.com").await;
    let health = |r: &crate::common::TestResponse| -> Vec<(String, String)> {
        r.json["secrets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                (
                    s["kind"].as_str().unwrap().to_owned(),
                    s["health"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    let r = app.get("/v1/admin/secrets", Some(&ops.access)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json);
    let now = health(&r);
    assert_eq!(now.len(), 3, "{}", r.json);
    assert!(now.iter().all(|(_, h)| h == "green"), "{now:?}");
    let relay = r.json["secrets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["kind"] == "relay_secret")
        .unwrap();
    assert!(relay["id"].as_str().unwrap().starts_with("sha256:"));
    assert!(!r.raw.windows(22).any(|w| w == b"relay-secret-for-tests"));

    // 150 days on: signing keys (90 days) are red, the relay secret (180) amber.
    app.clock.advance(time::Duration::days(150));
    let (ops, _) = account(&app, "ops2@example.com").await;
    assert!(
        app.state
            .store()
            .grant_admin("ops2@example.com")
            .await
            .unwrap()
    );
    let r = app.get("/v1/admin/secrets", Some(&ops.access)).await;
    let later = health(&r);
    assert_eq!(
        later,
        [
            ("access_token_key".to_owned(), "red".to_owned()),
            ("agent_token_key".to_owned(), "red".to_owned()),
            ("relay_secret".to_owned(), "amber".to_owned()),
        ],
        "{}",
        r.json
    );
    assert_eq!(r.json["secrets"][0]["age_days"], json!(150));
}
