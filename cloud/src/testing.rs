//! Test support shared by this crate's integration tests and the whole-system tests: a fresh,
//! migrated database per test — a SQLite file in a temporary directory, or a new database on
//! the PostgreSQL server named by `FDT_TEST_PG_URL` — dropped again at the end. Only compiled
//! with the `test-util` feature; failures panic, as a test fixture should.

use crate::Store;
use crate::config::DatabaseTarget;
use crate::secret::Secret;
use rand::Rng;
use sqlx::Connection;
use tempfile::TempDir;

pub mod acme;
pub mod cloudflare;

// The payment providers' fakes serve `fdt-cloud dev` too, so they live outside this module.
pub use crate::dev_providers::{fake_listener, paypal, razorpay, serve_fake, stripe};

/// Environment variable naming the PostgreSQL server for tests.
pub const PG_URL_ENV: &str = "FDT_TEST_PG_URL";

/// A fresh, migrated database for one test.
pub struct TestDb {
    /// The store over it.
    pub store: Store,
    /// For PostgreSQL: the database's URL, the server's admin URL and the database's name.
    pg: Option<(String, String, String)>,
    /// A scratch directory for the test (the SQLite file lives here); deleted on drop.
    dir: TempDir,
}

impl TestDb {
    /// A SQLite file in a new temporary directory.
    pub async fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        let store = Store::connect(&DatabaseTarget::SqliteFile(dir.path().join("test.db")))
            .await
            .expect("opening the SQLite test database");
        store.migrate().await.expect("migrating SQLite");
        Self {
            store,
            pg: None,
            dir,
        }
    }

    /// A SQLite database, and a PostgreSQL one when `FDT_TEST_PG_URL` is set: for a unit test
    /// that runs the same assertions on each.
    pub async fn every() -> Vec<Self> {
        let mut dbs = vec![Self::sqlite().await];
        dbs.extend(Self::postgres().await);
        dbs
    }

    /// A new database with a random name on the `FDT_TEST_PG_URL` server; `None` when the
    /// variable is unset. Each test gets its own database, so tests run in parallel.
    pub async fn postgres() -> Option<Self> {
        let admin_url = std::env::var(PG_URL_ENV).ok().filter(|u| !u.is_empty())?;
        let suffix: String = rand::rng()
            .sample_iter(rand::distr::Alphanumeric)
            .take(16)
            .map(|b| char::from(b).to_ascii_lowercase())
            .collect();
        let name = format!("fdt_test_{suffix}");
        let mut admin = sqlx::PgConnection::connect(&admin_url)
            .await
            .unwrap_or_else(|e| panic!("{PG_URL_ENV}={admin_url}: {e}"));
        // The name is ours (letters, digits, underscore), so formatting it in is safe.
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await
            .expect("CREATE DATABASE");
        admin.close().await.expect("closing the admin connection");
        let url = with_database(&admin_url, &name);
        let store = Store::connect(&DatabaseTarget::Url(Secret::new(url.clone())))
            .await
            .expect("opening the PostgreSQL test database");
        store.migrate().await.expect("migrating PostgreSQL");
        Some(Self {
            store,
            pg: Some((url, admin_url, name)),
            dir: tempfile::tempdir().expect("temporary directory"),
        })
    }

    /// The database URL for a separate process (`None` for SQLite: use [`TestDb::dir`]).
    pub fn postgres_url(&self) -> Option<&str> {
        self.pg.as_ref().map(|(url, _, _)| url.as_str())
    }

    /// A scratch directory for this test (the SQLite file lives here).
    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// Closes the pool and drops the PostgreSQL database.
    pub async fn finish(self) {
        self.store.close().await;
        if let Some((_, admin_url, name)) = self.pg {
            let mut admin = sqlx::PgConnection::connect(&admin_url)
                .await
                .expect("admin connection");
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
            )))
            .execute(&mut admin)
            .await
            .expect("DROP DATABASE");
            let _ = admin.close().await;
        }
    }
}

/// `url` with its database (path) replaced by `name`, query string kept.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let host = match base[scheme_end..].find('/') {
        Some(i) => &base[..scheme_end + i],
        None => base,
    };
    match query {
        Some(q) => format!("{host}/{name}?{q}"),
        None => format!("{host}/{name}"),
    }
}

/// Declares each `async fn story(db: &TestDb)` as two tests, `sqlite::story` and
/// `postgres::story` (the latter skipped, with a note, when [`PG_URL_ENV`] is not set). Used by
/// this crate's tests and the e2e tests alike.
#[macro_export]
macro_rules! on_both_databases {
    ($($story:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $story() {
                    let db = $crate::testing::TestDb::sqlite().await;
                    super::$story(&db).await;
                    db.finish().await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $story() {
                    let Some(db) = $crate::testing::TestDb::postgres().await else {
                        eprintln!("{} is not set: PostgreSQL story skipped", $crate::testing::PG_URL_ENV);
                        return;
                    };
                    super::$story(&db).await;
                    db.finish().await;
                }
            )*
        }
    };
}

/// A local SMTP server (PyPI's aiosmtpd; the test command installs it) that files every
/// message it accepts into a Maildir, killed when dropped.
pub struct SmtpSink {
    child: std::process::Child,
    /// Its port on 127.0.0.1.
    pub port: u16,
    /// The Maildir (`new/` holds the messages).
    pub maildir: tempfile::TempDir,
}

impl SmtpSink {
    /// Starts aiosmtpd on a free port.
    ///
    /// # Panics
    /// When `aiosmtpd` is not installed or does not come up: the test cannot run.
    pub async fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        let maildir = tempfile::tempdir().expect("a Maildir");
        let child = std::process::Command::new("aiosmtpd")
            .args(["-n", "-l", &format!("127.0.0.1:{port}")])
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(maildir.path().join("mail"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("aiosmtpd (pip install aiosmtpd) is needed for the SMTP tests");
        let sink = Self {
            child,
            port,
            maildir,
        };
        for _ in 0..150 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return sink;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!("aiosmtpd did not start on port {port}");
    }

    /// The messages received so far, raw.
    pub fn messages(&self) -> Vec<String> {
        let dir = self.maildir.path().join("mail/new");
        let mut out: Vec<String> = std::fs::read_dir(dir)
            .map(|d| {
                d.filter_map(Result::ok)
                    .filter_map(|e| std::fs::read_to_string(e.path()).ok())
                    .collect()
            })
            .unwrap_or_default();
        out.sort();
        out
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A local S3-compatible server (moto, from PyPI; the test command installs it) with one
/// bucket, killed when dropped.
pub struct Moto {
    child: std::process::Child,
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
}

impl Moto {
    /// Starts moto on a free port and creates `bucket` (moto accepts unsigned requests).
    ///
    /// # Panics
    /// When `moto_server` is not installed or does not come up: the test cannot run.
    pub async fn start(bucket: &str) -> Self {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        let child = std::process::Command::new("moto_server")
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("moto_server (pip install 'moto[server]') is needed for the S3 tests");
        let moto = Self {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        };
        let client = reqwest::Client::new();
        for _ in 0..100 {
            if let Ok(r) = client
                .put(format!("{}/{bucket}", moto.endpoint))
                .send()
                .await
            {
                assert!(
                    r.status().is_success(),
                    "bucket {bucket} not created on moto"
                );
                return moto;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!("moto did not start at {}", moto.endpoint);
    }

    /// The `AWS_*` settings that point object_store at this server.
    pub fn env(&self) -> Vec<(String, String)> {
        [
            ("AWS_ENDPOINT", self.endpoint.as_str()),
            ("AWS_ACCESS_KEY_ID", "test"),
            ("AWS_SECRET_ACCESS_KEY", "test"),
            ("AWS_REGION", "us-east-1"),
            ("AWS_ALLOW_HTTP", "true"),
            ("HOME", "/ignored"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .to_vec()
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn database_name_replaced_and_query_kept() {
        assert_eq!(
            with_database("postgres://u@h:5/postgres?sslmode=disable", "t1"),
            "postgres://u@h:5/t1?sslmode=disable"
        );
        assert_eq!(
            with_database("postgres://u@h:5", "t1"),
            "postgres://u@h:5/t1"
        );
    }
}
