//! The `fdt-cloud` binary: `migrate` and `serve` as separate processes, configured the way an
//! operator would (flags, `FDT_` variables, a config file).
#![allow(clippy::unwrap_used)]

#[macro_use]
extern crate fdt_cloud;

mod common;

use common::{PASSWORD, TestDb};
use fdt_api::{FdtClient, LoginRequest, Password, RegisterRequest};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

on_both_databases!(
    migrate_then_serve_answers_the_typed_client,
    audit_commands_sign_verify_and_export_the_log,
);

/// The binary with an empty environment except for `vars`, so the developer's own `FDT_…`
/// settings cannot leak into the test.
fn fdt_cloud(db: &TestDb, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_fdt-cloud"));
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("RUST_LOG", "warn")
        // Cheap hashing, set through the environment layer.
        .env("FDT_ARGON2_MEMORY_KIB", "64")
        .env("FDT_ARGON2_ITERATIONS", "1")
        .arg("--data-dir")
        .arg(db.dir());
    if let Some(url) = db.postgres_url() {
        cmd.env("FDT_DATABASE_URL", url);
    }
    cmd.args(args);
    cmd
}

async fn migrate_then_serve_answers_the_typed_client(db: &TestDb) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let out = fdt_cloud(db, &["migrate"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let backend = if db.postgres_url().is_some() {
        "postgres"
    } else {
        "sqlite"
    };
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("migrations applied ({backend})")
    );

    let mut child = fdt_cloud(db, &["serve", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let first_line = tokio::time::timeout(
        Duration::from_secs(60),
        tokio::task::spawn_blocking(move || {
            let mut line = String::new();
            BufReader::new(stdout).read_line(&mut line).map(|_| line)
        }),
    )
    .await
    .expect("serve printed its address")
    .unwrap()
    .unwrap();
    let url = first_line
        .trim()
        .strip_prefix("fdt-cloud listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {first_line:?}"))
        .to_owned();

    let client = FdtClient::new(&url).unwrap();
    client
        .register(&RegisterRequest {
            email: "op@example.com".into(),
            password: Password::new(PASSWORD),
        })
        .await
        .unwrap();
    let pair = client
        .login(&LoginRequest {
            email: "op@example.com".into(),
            password: Password::new(PASSWORD),
        })
        .await
        .unwrap();
    let me = client
        .with_access_token(pair.access_token)
        .me()
        .await
        .unwrap();
    assert_eq!(me.email, "op@example.com");

    // The signing key was created in the data directory, private to its owner.
    let key = db.dir().join("cloud-signing.key");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    assert!(db.dir().join("cloud-signing.pub").exists());
    if db.postgres_url().is_none() {
        assert!(db.dir().join("fdt-cloud.db").exists());
    }

    // SIGTERM shuts it down cleanly.
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(exit.success(), "{exit:?}");
}

#[test]
fn unknown_config_keys_stop_the_binary_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("cloud.toml");
    std::fs::write(&file, "listen = \"127.0.0.1:0\"\n[auth]\naccess_ttl = 60\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_fdt-cloud"))
        .env_clear()
        .arg("migrate")
        .arg("--data-dir")
        .arg(dir.path())
        .arg("--config")
        .arg(&file)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("unknown field") && stderr.contains("access_ttl"),
        "{stderr}"
    );
    // Nothing was created.
    assert!(!dir.path().join("fdt-cloud.db").exists());
}

#[test]
fn secrets_in_the_environment_do_not_reach_error_messages() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_fdt-cloud"))
        .env_clear()
        .env("FDT_DATABASE_URL", "mysql://admin:hunter2@db/fdt")
        .arg("migrate")
        .arg("--data-dir")
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("database_url"), "{stderr}");
    assert!(!stderr.contains("hunter2"), "{stderr}");
}

#[test]
fn rotate_agent_key_names_the_new_key_and_keeps_the_previous_one() {
    let dir = tempfile::tempdir().unwrap();
    let rotate = || {
        let out = Command::new(env!("CARGO_BIN_EXE_fdt-cloud"))
            .env_clear()
            .arg("rotate-agent-key")
            .arg("--data-dir")
            .arg(dir.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let keys = || {
        let ring = fdt_cloud::auth::agent_keys::AgentKeyring::load_or_create(
            &dir.path().join(fdt_cloud::auth::agent_keys::AGENT_KEYS_DIR),
        )
        .unwrap();
        ring.jwks()
            .keys
            .into_iter()
            .map(|k| k.kid)
            .collect::<Vec<_>>()
    };
    rotate();
    let first = keys();
    assert_eq!(first.len(), 1);
    let said = rotate();
    let second = keys();
    assert_eq!(second.len(), 2);
    assert!(said.contains(&second[0]), "{said}");
    assert_eq!(second[1], first[0], "the replaced key stays published");
    rotate();
    let third = keys();
    assert_eq!(third.len(), 2);
    assert_eq!(third[1], second[0]);
}

/// `fdt-cloud audit checkpoint|verify|export`: a signed checkpoint printed, the log verified
/// against it (exit 0), then a row edited in the database: exit 1 naming the row.
async fn audit_commands_sign_verify_and_export_the_log(db: &TestDb) {
    let out = fdt_cloud(db, &["migrate"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The binary's own database (for SQLite, its file in the data directory).
    let store = match db.postgres_url() {
        Some(_) => db.store.clone(),
        None => fdt_cloud::store::Store::connect(&fdt_cloud::config::DatabaseTarget::SqliteFile(
            db.dir().join("fdt-cloud.db"),
        ))
        .await
        .unwrap(),
    };
    for i in 0..3 {
        let ev = fdt_cloud::store::NewAudit {
            scope: "acc_aaaaaaaaaaaaaaaaaaaaaa",
            actor: "tester",
            action: "test.action",
            target: &format!("t{i}"),
            detail: serde_json::json!({}),
            ip: None,
            user_agent: None,
        };
        store
            .append_audit(&ev, time::OffsetDateTime::now_utc())
            .await
            .unwrap();
    }
    let out = fdt_cloud(db, &["audit", "checkpoint"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8(out.stdout).unwrap();
    let kept = db.dir().join("checkpoint.jwt");
    std::fs::write(&kept, &token).unwrap();
    let checkpoint = kept.to_str().unwrap();
    let out = fdt_cloud(db, &["audit", "verify", "--checkpoint", checkpoint])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (
            report["ok"].as_bool(),
            report["rows"].as_u64(),
            report["checkpoints"].as_u64()
        ),
        (Some(true), Some(3), Some(2))
    );
    let export = db.dir().join("audit.jsonl");
    let out = fdt_cloud(db, &["audit", "export", "--out", export.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(std::fs::read_to_string(&export).unwrap().lines().count(), 3);

    // Tampered with (the guard trigger dropped first, as someone with the database could).
    let tamper = match &store {
        fdt_cloud::store::Store::Sqlite(_) => {
            "DROP TRIGGER audit_log_no_update; UPDATE audit_log SET target = 'x' WHERE seq = 2;"
        }
        fdt_cloud::store::Store::Postgres(_) => {
            "ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only; \
             UPDATE audit_log SET target = 'x' WHERE seq = 2;"
        }
    };
    match &store {
        fdt_cloud::store::Store::Sqlite(p) => {
            sqlx::raw_sql(sqlx::AssertSqlSafe(tamper))
                .execute(p)
                .await
                .unwrap();
        }
        fdt_cloud::store::Store::Postgres(p) => {
            sqlx::raw_sql(sqlx::AssertSqlSafe(tamper))
                .execute(p)
                .await
                .unwrap();
        }
    }
    let out = fdt_cloud(db, &["audit", "verify", "--checkpoint", checkpoint])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("broken at row 2") && err.contains("edited"),
        "{err}"
    );
}

/// `rotate-access-key`, `rotate-relay-secret` and `rotate-agent-key` each record themselves in
/// the audit log by the secret's public fingerprint, never the secret.
#[test]
fn rotations_are_audited_without_their_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_fdt-cloud"))
            .env_clear()
            .env("RUST_LOG", "warn")
            .args(args)
            .arg("--data-dir")
            .arg(dir.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let key_file = dir.path().join(fdt_cloud::auth::jwt::SIGNING_KEY_FILE);
    run(&["migrate"]);
    let before = fdt_cloud::auth::jwt::SigningKey::load_or_create(dir.path())
        .unwrap()
        .kid()
        .to_owned();
    let said = run(&["rotate-access-key"]);
    let after = fdt_cloud::auth::jwt::SigningKey::load_file(&key_file).unwrap();
    assert_ne!(after.kid(), before);
    assert!(said.contains(after.kid()), "{said}");
    let secret = run(&["rotate-relay-secret"]).trim().to_owned();
    assert_eq!(secret.len(), 43);
    run(&["rotate-agent-key"]);

    let export = run(&["audit", "export"]);
    let rows: Vec<serde_json::Value> = export
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let rotated: Vec<(&str, &str)> = rows
        .iter()
        .filter(|r| r["action"] == "secret.rotate")
        .map(|r| (r["target"].as_str().unwrap(), r["detail"].as_str().unwrap()))
        .collect();
    assert_eq!(rotated.len(), 3, "{export}");
    assert_eq!(rotated[0].0, after.kid());
    assert_eq!(rotated[1].0, fdt_cloud::rotation::fingerprint(&secret));
    assert!(rotated[2].1.contains("agent_token_key"));
    assert!(!export.contains(&secret));
    run(&["audit", "verify"]);
}
