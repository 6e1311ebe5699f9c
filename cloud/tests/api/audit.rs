//! The audit log proves itself: security-relevant actions go in with who, from where and on
//! what; every kind of tampering done straight in the database (edit, delete, reorder, a cut
//! tail) is caught and named; the database refuses updates and deletes; rows written before
//! the chain existed are sealed into it; export writes every row, to a file or an S3 bucket.

use crate::common::{TestApp, TestDb};
use axum::http::StatusCode;
use fdt_cloud::clock::Clock as _;
use fdt_cloud::store::{NewAudit, Store};
use serde_json::json;

on_both_databases!(
    actions_are_recorded_with_their_client_and_the_log_verifies,
    an_edited_row_is_named,
    a_deleted_row_is_named,
    reordered_rows_are_named,
    a_cut_tail_is_caught_by_a_checkpoint,
    the_database_refuses_changes_and_old_rows_are_sealed,
    export_reaches_an_object_store,
    scheduled_checkpoints_follow_new_rows_and_refuse_a_broken_log,
);

/// Runs raw SQL as someone with access to the database would (no binds).
async fn raw(store: &Store, sql: &str) -> Result<u64, sqlx::Error> {
    match store {
        Store::Sqlite(pool) => sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
            .execute(pool)
            .await
            .map(|r| r.rows_affected()),
        Store::Postgres(pool) => sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
            .execute(pool)
            .await
            .map(|r| r.rows_affected()),
    }
}

/// Disables the append-only triggers, as an attacker with the database could.
async fn drop_guards(store: &Store) {
    let sql = match store {
        Store::Sqlite(_) => "DROP TRIGGER audit_log_no_update; DROP TRIGGER audit_log_no_delete;",
        Store::Postgres(_) => "ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only;",
    };
    raw(store, sql).await.unwrap();
}

/// Ten rows in two accounts' chains and the fleet's.
async fn ten_rows(app: &TestApp) {
    let now = app.clock.now();
    for i in 1..=10 {
        let scope = [
            "acc_aaaaaaaaaaaaaaaaaaaaaa",
            "acc_bbbbbbbbbbbbbbbbbbbbbb",
            "",
        ][i % 3];
        let ev = NewAudit {
            scope,
            actor: "tester",
            action: "test.action",
            target: &format!("t{i}"),
            detail: json!({"i": i}),
            ip: Some("203.0.113.9".parse().unwrap()),
            user_agent: Some("tests/1"),
        };
        let seq = app.state.store().append_audit(&ev, now).await.unwrap();
        assert_eq!(seq, i as i64);
    }
}

async fn verify(app: &TestApp) -> fdt_api::AuditVerification {
    let keys: Vec<_> = app.state.agent_tokens().keyring().keys().collect();
    fdt_cloud::audit::verify(app.state.store(), &keys, &[])
        .await
        .unwrap()
}

fn broken_at(v: &fdt_api::AuditVerification) -> Option<(i64, &str)> {
    v.first_broken
        .as_ref()
        .map(|b| (b.seq, b.reason.split(':').next().unwrap_or("")))
}

async fn actions_are_recorded_with_their_client_and_the_log_verifies(db: &TestDb) {
    let app = TestApp::new(db);
    let t = app.signed_up("owner@example.com").await;
    let peer: std::net::SocketAddr = "198.51.100.20:4000".parse().unwrap();
    let bad = app
        .post_from(
            peer,
            "/v1/auth/login",
            json!({"email": "owner@example.com", "password": "not the password at all"}),
            &[("user-agent", "curl/8.5")],
        )
        .await;
    bad.assert_error(StatusCode::UNAUTHORIZED, "invalid_credentials");
    let created = app
        .post(
            "/v1/authtokens",
            json!({"description": "ci"}),
            Some(&t.access),
        )
        .await;
    let id = created.json["id"].as_str().unwrap().to_owned();
    app.delete(&format!("/v1/authtokens/{id}"), Some(&t.access))
        .await;

    let entries = app.state.store().audit_entries(None, 100).await.unwrap();
    let actions: Vec<&str> = entries.iter().rev().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "auth.login",
            "auth.login_failed",
            "authtoken.create",
            "authtoken.revoke"
        ]
    );
    let failed = entries
        .iter()
        .find(|e| e.action == "auth.login_failed")
        .unwrap();
    assert_eq!(
        (
            failed.actor.as_str(),
            failed.ip.as_str(),
            failed.user_agent.as_str(),
            failed.target.as_str()
        ),
        (
            "anonymous",
            "198.51.100.20",
            "curl/8.5",
            "owner@example.com"
        )
    );
    let account = entries[0].scope.clone();
    assert!(account.starts_with("acc_"));
    assert!(entries.iter().all(|e| e.scope == account));

    // An operator verifies it and signs a checkpoint (itself an audited action).
    assert!(
        app.state
            .store()
            .grant_admin("owner@example.com")
            .await
            .unwrap()
    );
    let v = app.get("/v1/admin/audit/verify", Some(&t.access)).await;
    assert_eq!(v.status, StatusCode::OK, "{}", v.json);
    assert_eq!(v.json["ok"], json!(true), "{}", v.json);
    assert_eq!(v.json["rows"], json!(4));
    let c = app
        .post("/v1/admin/audit/checkpoints", json!({}), Some(&t.access))
        .await;
    assert_eq!(c.status, StatusCode::CREATED, "{}", c.json);
    assert_eq!(c.json["seq"], json!(4));
    let v = verify(&app).await;
    assert!(v.ok, "{v:?}");
    assert_eq!((v.rows, v.checkpoints), (5, 1));

    // Export: every row, as JSON lines with their hashes.
    let mut out = Vec::new();
    let n = fdt_cloud::audit::export(app.state.store(), &mut out)
        .await
        .unwrap();
    assert_eq!(n, 5);
    let lines: Vec<serde_json::Value> = String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines[4]["action"], json!("audit.checkpoint"));
    assert_eq!(lines[4]["hash"].as_str().map(str::len), Some(64));
    assert_eq!(lines[1]["prev_hash"], lines[0]["hash"]);
}

async fn an_edited_row_is_named(db: &TestDb) {
    let app = TestApp::new(db);
    ten_rows(&app).await;
    assert!(verify(&app).await.ok);
    drop_guards(app.state.store()).await;
    raw(
        app.state.store(),
        "UPDATE audit_log SET target = 'someone else' WHERE seq = 6",
    )
    .await
    .unwrap();
    let v = verify(&app).await;
    assert!(!v.ok);
    assert_eq!(broken_at(&v), Some((6, "edited")));
}

async fn a_deleted_row_is_named(db: &TestDb) {
    let app = TestApp::new(db);
    ten_rows(&app).await;
    drop_guards(app.state.store()).await;
    raw(app.state.store(), "DELETE FROM audit_log WHERE seq = 4")
        .await
        .unwrap();
    let v = verify(&app).await;
    assert_eq!(broken_at(&v), Some((5, "unlinked")));
}

async fn reordered_rows_are_named(db: &TestDb) {
    let app = TestApp::new(db);
    ten_rows(&app).await;
    drop_guards(app.state.store()).await;
    // Rows 3 and 4 trade places, hashes and all.
    raw(
        app.state.store(),
        "UPDATE audit_log SET seq = -4 WHERE seq = 4; \
         UPDATE audit_log SET seq = 4 WHERE seq = 3; \
         UPDATE audit_log SET seq = 3 WHERE seq = -4;",
    )
    .await
    .unwrap();
    let v = verify(&app).await;
    assert_eq!(broken_at(&v), Some((3, "unlinked")));
}

async fn a_cut_tail_is_caught_by_a_checkpoint(db: &TestDb) {
    let app = TestApp::new(db);
    ten_rows(&app).await;
    let key = app.state.agent_tokens().keyring().signing_key();
    let c = fdt_cloud::audit::checkpoint(app.state.store(), key, app.clock.now())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(c.seq, 10);
    // The last three rows go, and with them every checkpoint kept in the database: only the
    // copy kept elsewhere remains.
    drop_guards(app.state.store()).await;
    raw(
        app.state.store(),
        "DELETE FROM audit_log WHERE seq > 7; DELETE FROM audit_checkpoints;",
    )
    .await
    .unwrap();
    let v = verify(&app).await;
    assert!(v.ok, "the chain itself still links: {v:?}");
    let keys: Vec<_> = app.state.agent_tokens().keyring().keys().collect();
    let v = fdt_cloud::audit::verify(app.state.store(), &keys, std::slice::from_ref(&c.token))
        .await
        .unwrap();
    assert!(!v.ok);
    let e = v.checkpoint_error.unwrap_or_default();
    assert!(e.contains("ends at seq 7") && e.contains("cut"), "{e}");

    // A forged checkpoint (not signed by this control plane) is refused as such.
    let forged = format!("{}x", c.token);
    let v = fdt_cloud::audit::verify(app.state.store(), &keys, &[forged])
        .await
        .unwrap();
    assert!(
        v.checkpoint_error
            .unwrap_or_default()
            .contains("not signed by any key")
    );
}

async fn the_database_refuses_changes_and_old_rows_are_sealed(db: &TestDb) {
    let app = TestApp::new(db);
    let store = app.state.store();
    // Rows from before the chain: no hashes yet.
    raw(
        store,
        "INSERT INTO audit_log (at, actor, action, target, detail) VALUES \
         (1, 'acc_old', 'user.suspend', 'acc_x', '{}'), \
         (2, 'acc_old', 'relay.drain', 'eu-1', '{}')",
    )
    .await
    .unwrap();
    let v = verify(&app).await;
    assert_eq!(broken_at(&v), Some((1, "unhashed")));
    // The first append seals them, then links itself.
    one_row_after(&app, 2).await;
    let v = verify(&app).await;
    assert!(v.ok, "{v:?}");
    assert_eq!(v.rows, 3);

    // Chained rows cannot be changed or removed.
    assert!(
        raw(store, "UPDATE audit_log SET target = 'x' WHERE seq = 1")
            .await
            .is_err()
    );
    assert!(
        raw(store, "DELETE FROM audit_log WHERE seq = 3")
            .await
            .is_err()
    );
    assert!(verify(&app).await.ok);
}

/// One row appended after `existing` rows.
async fn one_row_after(app: &TestApp, existing: i64) {
    let ev = NewAudit {
        scope: "acc_aaaaaaaaaaaaaaaaaaaaaa",
        actor: "tester",
        action: "test.action",
        target: "t",
        detail: json!({}),
        ip: None,
        user_agent: None,
    };
    let seq = app
        .state
        .store()
        .append_audit(&ev, app.clock.now())
        .await
        .unwrap();
    assert_eq!(seq, existing + 1);
}

/// `fdt-cloud audit export --out s3://…`: the same JSON lines as the file export, in an S3
/// bucket (a local moto server), under a dated name when the key is a folder.
async fn export_reaches_an_object_store(db: &TestDb) {
    let app = TestApp::new(db);
    for i in 0..3 {
        app.signed_up(&format!("exported{i}@example.com")).await;
    }
    let mut local = Vec::new();
    let n = fdt_cloud::audit::export(app.state.store(), &mut local)
        .await
        .unwrap();
    assert!(n >= 3, "{n} rows");
    let moto = fdt_cloud::testing::Moto::start("fdt-audit").await;
    let now = time::OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
    let (m, key) = fdt_cloud::audit::export_to_object_store(
        app.state.store(),
        "s3://fdt-audit/exports/",
        moto.env(),
        now,
    )
    .await
    .unwrap();
    assert_eq!((m, key.as_str()), (n, "exports/audit-1800000000.jsonl"));
    let stored = reqwest::Client::new()
        .get(format!("{}/fdt-audit/{key}", moto.endpoint))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(stored.as_ref(), local.as_slice());
    for bad in ["s3://", "file:///tmp/x", "fdt-audit/x"] {
        assert!(
            fdt_cloud::audit::export_to_object_store(app.state.store(), bad, moto.env(), now)
                .await
                .is_err(),
            "{bad}"
        );
    }
}

/// The checkpoint worker's round: a checkpoint when rows were added since the last one,
/// nothing otherwise, and none over a tampered log.
async fn scheduled_checkpoints_follow_new_rows_and_refuse_a_broken_log(db: &TestDb) {
    let app = TestApp::new(db);
    ten_rows(&app).await;
    let first = fdt_cloud::audit::scheduled_checkpoint(&app.state)
        .await
        .unwrap()
        .expect("rows were added")
        .unwrap();
    assert!(first.seq >= 10);
    assert!(
        fdt_cloud::audit::scheduled_checkpoint(&app.state)
            .await
            .unwrap()
            .is_none(),
        "nothing new, no checkpoint"
    );
    app.signed_up("later@example.com").await;
    let second = fdt_cloud::audit::scheduled_checkpoint(&app.state)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(second.seq > first.seq);
    assert_eq!(
        app.state.store().audit_checkpoints().await.unwrap().len(),
        2
    );
    drop_guards(app.state.store()).await;
    raw(
        app.state.store(),
        "UPDATE audit_log SET actor = 'nobody' WHERE seq = 3",
    )
    .await
    .unwrap();
    app.signed_up("after-tampering@example.com").await;
    let refused = fdt_cloud::audit::scheduled_checkpoint(&app.state)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(refused.map_err(|b| b.seq), Err(3));
    assert_eq!(
        app.state.store().audit_checkpoints().await.unwrap().len(),
        2
    );
}
