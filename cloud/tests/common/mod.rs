//! Test harness shared by the integration tests: a fresh database per test — a SQLite file in a
//! temporary directory, or a new database on the PostgreSQL server named by `FDT_TEST_PG_URL` —
//! and the app on top of it with a manual clock and cheap password hashing.
//!
//! Stories are written once as `async fn story(db: &TestDb)` and listed in [`on_both_databases!`],
//! which makes a `sqlite::story` and a `postgres::story` test of each.
#![allow(dead_code, clippy::unwrap_used)]

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use fdt_cloud::auth::agent_keys::AgentKeyring;
use fdt_cloud::auth::jwt::SigningKey;
use fdt_cloud::clock::{Clock, ManualClock};
use fdt_cloud::config::{Argon2Config, Config, DatabaseTarget, LoginLimitConfig};
use fdt_cloud::secret::Secret;
use fdt_cloud::store::StoreStats;
use fdt_cloud::{AppState, Store};
use http_body_util::BodyExt;
use rand::Rng;
use sqlx::Connection;
use std::net::SocketAddr;
use std::sync::Arc;
use tempfile::TempDir;
use tower::ServiceExt;

/// Environment variable naming the PostgreSQL server for tests.
pub const PG_URL_ENV: &str = "FDT_TEST_PG_URL";

/// Makes a `sqlite` and a `postgres` test module, each with one test per story.
#[macro_export]
macro_rules! on_both_databases {
    ($($story:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $story() {
                    let db = $crate::common::TestDb::sqlite().await;
                    super::$story(&db).await;
                    db.finish().await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $story() {
                    let Some(db) = $crate::common::TestDb::postgres().await else {
                        eprintln!("{} is not set: PostgreSQL story skipped", $crate::common::PG_URL_ENV);
                        return;
                    };
                    super::$story(&db).await;
                    db.finish().await;
                }
            )*
        }
    };
}

/// A fresh, migrated database for one test.
pub struct TestDb {
    /// The store over it.
    pub store: Store,
    /// For PostgreSQL: the database's URL and the server's admin URL (to drop it at the end).
    pg: Option<(String, String, String)>,
    /// For SQLite: the directory holding the file (deleted on drop).
    dir: TempDir,
}

impl TestDb {
    /// A SQLite file in a new temporary directory.
    pub async fn sqlite() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::connect(&DatabaseTarget::SqliteFile(dir.path().join("test.db")))
            .await
            .unwrap();
        store.migrate().await.unwrap();
        Self {
            store,
            pg: None,
            dir,
        }
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
            .unwrap();
        admin.close().await.unwrap();
        let url = with_database(&admin_url, &name);
        let store = Store::connect(&DatabaseTarget::Url(Secret::new(url.clone())))
            .await
            .unwrap();
        store.migrate().await.unwrap();
        Some(Self {
            store,
            pg: Some((url, admin_url, name)),
            dir: tempfile::tempdir().unwrap(),
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
            let mut admin = sqlx::PgConnection::connect(&admin_url).await.unwrap();
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
            )))
            .execute(&mut admin)
            .await
            .unwrap();
            admin.close().await.unwrap();
        }
    }
}

/// `url` with its database (path) replaced by `name`, query string kept.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let host_part = match base[scheme_end..].find('/') {
        Some(i) => &base[..scheme_end + i],
        None => base,
    };
    match query {
        Some(q) => format!("{host_part}/{name}?{q}"),
        None => format!("{host_part}/{name}"),
    }
}

/// The configuration tests run with: cheap hashing, a short login window, small limits.
pub fn test_config(dir: &std::path::Path) -> Config {
    let mut c = Config {
        data_dir: dir.to_owned(),
        ..Config::default()
    };
    c.auth.argon2 = Argon2Config {
        memory_kib: 8,
        iterations: 1,
        parallelism: 1,
    };
    c.auth.login_limit = LoginLimitConfig {
        window_secs: 60,
        max_failures_per_email: 3,
        max_failures_per_ip: 5,
    };
    c.validate().unwrap();
    c
}

/// The app over a test database, driven in-process.
pub struct TestApp {
    /// Shared state (store, tokens, clock).
    pub state: AppState,
    /// The router under test.
    pub router: Router,
    /// The clock the app reads.
    pub clock: Arc<ManualClock>,
    /// The key the app signs access tokens with.
    pub key: Arc<SigningKey>,
    /// The configuration used.
    pub config: Config,
}

/// A response, body parsed as JSON when there is one.
#[derive(Debug)]
pub struct TestResponse {
    /// Status.
    pub status: StatusCode,
    /// Headers.
    pub headers: HeaderMap,
    /// Body as JSON (`Null` when empty or not JSON).
    pub json: serde_json::Value,
    /// Raw body.
    pub raw: Bytes,
}

impl TestResponse {
    /// The `error.code` of an error body.
    pub fn code(&self) -> &str {
        self.json["error"]["code"].as_str().unwrap_or("<none>")
    }

    /// Asserts this is an error with `status` and `code` in the documented body shape.
    pub fn assert_error(&self, status: StatusCode, code: &str) {
        assert_eq!(self.status, status, "body: {}", self.json);
        assert_eq!(self.code(), code, "body: {}", self.json);
        assert!(
            self.json["error"]["message"].is_string(),
            "no message: {}",
            self.json
        );
        assert_eq!(
            self.headers[header::CONTENT_TYPE],
            "application/json",
            "error bodies are JSON"
        );
    }
}

impl TestApp {
    /// The app with [`test_config`].
    pub fn new(db: &TestDb) -> Self {
        Self::with_config(db, |_| {})
    }

    /// The app with [`test_config`] adjusted by `adjust`.
    pub fn with_config(db: &TestDb, adjust: impl FnOnce(&mut Config)) -> Self {
        let mut config = test_config(db.dir());
        adjust(&mut config);
        let clock = Arc::new(ManualClock::starting_now());
        let key = Arc::new(SigningKey::generate().unwrap());
        let agent_keys = AgentKeyring::generate().unwrap();
        let state = AppState::new(
            &config,
            db.store.clone(),
            key.clone(),
            agent_keys,
            clock.clone() as Arc<dyn Clock>,
        )
        .unwrap();
        Self {
            router: fdt_cloud::app(state.clone()),
            state,
            clock,
            key,
            config,
        }
    }

    /// Sends `req` through the router.
    pub async fn call(&self, req: Request<Body>) -> TestResponse {
        let resp = self.router.clone().oneshot(req).await.unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let raw = resp.into_body().collect().await.unwrap().to_bytes();
        let json = serde_json::from_slice(&raw).unwrap_or(serde_json::Value::Null);
        TestResponse {
            status,
            headers,
            json,
            raw,
        }
    }

    /// A request builder with an optional bearer token and client address.
    pub fn request(
        method: Method,
        path: &str,
        bearer: Option<&str>,
        peer: Option<SocketAddr>,
    ) -> axum::http::request::Builder {
        let mut b = Request::builder().method(method).uri(path);
        if let Some(t) = bearer {
            b = b.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        if let Some(addr) = peer {
            b = b.extension(ConnectInfo(addr));
        }
        b
    }

    /// POSTs `body` as JSON.
    pub async fn post(
        &self,
        path: &str,
        body: serde_json::Value,
        bearer: Option<&str>,
    ) -> TestResponse {
        self.post_raw(path, body.to_string(), bearer).await
    }

    /// POSTs a raw body labelled as JSON.
    pub async fn post_raw(&self, path: &str, body: String, bearer: Option<&str>) -> TestResponse {
        let req = Self::request(Method::POST, path, bearer, None)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body))
            .unwrap();
        self.call(req).await
    }

    /// GETs `path`.
    pub async fn get(&self, path: &str, bearer: Option<&str>) -> TestResponse {
        let req = Self::request(Method::GET, path, bearer, None)
            .body(Body::empty())
            .unwrap();
        self.call(req).await
    }

    /// DELETEs `path`.
    pub async fn delete(&self, path: &str, bearer: Option<&str>) -> TestResponse {
        let req = Self::request(Method::DELETE, path, bearer, None)
            .body(Body::empty())
            .unwrap();
        self.call(req).await
    }

    /// Registers an account; asserts 201.
    pub async fn register(&self, email: &str, password: &str) -> serde_json::Value {
        let r = self
            .post(
                "/v1/auth/register",
                serde_json::json!({"email": email, "password": password}),
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "register: {}", r.json);
        r.json
    }

    /// Logs in; returns the raw response.
    pub async fn login(&self, email: &str, password: &str) -> TestResponse {
        self.post(
            "/v1/auth/login",
            serde_json::json!({"email": email, "password": password}),
            None,
        )
        .await
    }

    /// Registers and logs in; returns the token pair.
    pub async fn signed_up(&self, email: &str) -> Tokens {
        self.register(email, PASSWORD).await;
        let r = self.login(email, PASSWORD).await;
        assert_eq!(r.status, StatusCode::OK, "login: {}", r.json);
        Tokens::from(&r)
    }

    /// Row counts.
    pub async fn stats(&self) -> StoreStats {
        self.state.store().stats().await.unwrap()
    }
}

/// The password test accounts use.
pub const PASSWORD: &str = "correct horse battery";

/// An access/refresh pair from a token response.
#[derive(Debug, Clone)]
pub struct Tokens {
    /// Access token.
    pub access: String,
    /// Refresh token.
    pub refresh: String,
}

impl From<&TestResponse> for Tokens {
    fn from(r: &TestResponse) -> Self {
        Self {
            access: r.json["access_token"].as_str().unwrap().to_owned(),
            refresh: r.json["refresh_token"].as_str().unwrap().to_owned(),
        }
    }
}
