//! Organisations and roles: every account owns its own organisation (made at sign-up, or by
//! the migration for accounts that existed before it), and the role it holds there decides
//! which calls go through — reads and writes per permission, refused with 403.

use crate::common::{TestApp, TestDb};
use axum::http::StatusCode;
use fdt_api::{AccountId, RoleTemplate};
use fdt_cloud::store::{Store, own_org};
use serde_json::json;

on_both_databases!(
    roles_decide_which_calls_go_through,
    the_migration_gives_every_existing_account_its_organisation,
);

async fn raw(store: &Store, sql: &str) {
    match store {
        Store::Sqlite(pool) => sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
            .execute(pool)
            .await
            .map(drop),
        Store::Postgres(pool) => sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
            .execute(pool)
            .await
            .map(drop),
    }
    .unwrap();
}

async fn me(app: &TestApp, access: &str) -> AccountId {
    let r = app.get("/v1/auth/me", Some(access)).await;
    r.json["id"].as_str().unwrap().parse().unwrap()
}

async fn roles_decide_which_calls_go_through(db: &TestDb) {
    let app = TestApp::new(db);
    let t = app.signed_up("member@example.com").await;
    let bearer = Some(t.access.as_str());
    let id = me(&app, &t.access).await;
    let orgs = app.get("/v1/orgs", bearer).await;
    assert_eq!(orgs.status, StatusCode::OK, "{}", orgs.json);
    assert_eq!(orgs.json["orgs"][0]["id"], json!(own_org(&id).to_string()));
    assert_eq!(orgs.json["orgs"][0]["role"], json!("owner"));
    assert_eq!(orgs.json["orgs"][0]["name"], json!("member@example.com"));

    let set = |role| {
        let store = app.state.store().clone();
        let id = id.clone();
        async move { assert!(store.set_role(&own_org(&id), &id, role).await.unwrap()) }
    };
    let token_write = || app.post("/v1/authtokens", json!({}), bearer);

    // A viewer reads everything and changes nothing.
    set(RoleTemplate::Viewer).await;
    assert_eq!(
        app.get("/v1/authtokens", bearer).await.status,
        StatusCode::OK
    );
    assert_eq!(app.get("/v1/tunnels", bearer).await.status, StatusCode::OK);
    assert_eq!(app.get("/v1/plan", bearer).await.status, StatusCode::OK);
    let refused = token_write().await;
    refused.assert_error(StatusCode::FORBIDDEN, "forbidden");
    assert!(
        refused.json["error"]["message"]
            .as_str()
            .unwrap()
            .contains("cannot change")
    );
    app.post(
        "/v1/tunnel-configs",
        json!({"name": "w", "definition": {"proto": "http", "addr": "80"}}),
        bearer,
    )
    .await
    .assert_error(StatusCode::FORBIDDEN, "forbidden");
    assert_eq!(app.stats().await.authtokens, 0, "nothing was created");

    // Billing sees the plan, not the tunnels or the traffic.
    set(RoleTemplate::Billing).await;
    assert_eq!(app.get("/v1/plan", bearer).await.status, StatusCode::OK);
    app.get("/v1/tunnels", bearer)
        .await
        .assert_error(StatusCode::FORBIDDEN, "forbidden");
    app.get("/v1/requests", bearer)
        .await
        .assert_error(StatusCode::FORBIDDEN, "forbidden");

    // A developer works with tunnels and authtokens, not the plan.
    set(RoleTemplate::Developer).await;
    assert_eq!(token_write().await.status, StatusCode::CREATED);
    app.get("/v1/usage", bearer)
        .await
        .assert_error(StatusCode::FORBIDDEN, "forbidden");
    let orgs = app.get("/v1/orgs", bearer).await;
    assert_eq!(orgs.json["orgs"][0]["role"], json!("developer"));
    assert!(
        !orgs.json["orgs"][0]["permissions"]
            .as_array()
            .unwrap()
            .contains(&json!("billing:read"))
    );

    // A role this server does not know grants nothing; the account still proves who it is.
    raw(
        app.state.store(),
        "UPDATE memberships SET role = 'superuser'",
    )
    .await;
    app.get("/v1/authtokens", bearer)
        .await
        .assert_error(StatusCode::FORBIDDEN, "forbidden");
    // Without a session, 401 comes before any permission.
    app.get("/v1/authtokens", None)
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "unauthorized");
}

async fn the_migration_gives_every_existing_account_its_organisation(db: &TestDb) {
    let app = TestApp::new(db);
    let mut ids = Vec::new();
    for email in ["a@example.com", "b@example.com", "c@example.com"] {
        let t = app.signed_up(email).await;
        app.post(
            "/v1/authtokens",
            json!({"description": email}),
            Some(&t.access),
        )
        .await;
        ids.push((me(&app, &t.access).await, t));
    }
    let before = app.stats().await;
    // Back to the schema before organisations, with these accounts in it.
    raw(
        app.state.store(),
        "DROP TABLE memberships; DROP TABLE organizations; \
         DELETE FROM _sqlx_migrations WHERE version = 11;",
    )
    .await;
    app.state.store().migrate().await.unwrap();
    assert_eq!(
        app.stats().await.authtokens,
        before.authtokens,
        "no data lost"
    );
    for (id, t) in &ids {
        let memberships = app.state.store().memberships(id).await.unwrap();
        assert_eq!(memberships.len(), 1);
        assert_eq!(memberships[0].org_id, own_org(id));
        assert_eq!(memberships[0].role, Some(RoleTemplate::Owner));
        // And the account works as before.
        let r = app.get("/v1/authtokens", Some(&t.access)).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.json);
        assert_eq!(r.json["authtokens"].as_array().unwrap().len(), 1);
    }
}
