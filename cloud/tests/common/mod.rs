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
use fdt_cloud::AppState;
use fdt_cloud::auth::agent_keys::AgentKeyring;
use fdt_cloud::auth::jwt::SigningKey;
use fdt_cloud::clock::{Clock, ManualClock};
use fdt_cloud::config::{Argon2Config, Config, LoginLimitConfig};
use fdt_cloud::store::StoreStats;
use http_body_util::BodyExt;
use std::net::SocketAddr;
use std::sync::Arc;
use tower::ServiceExt;

pub use fdt_cloud::testing::TestDb;

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
    // Delays of a few milliseconds: these tests check that slowed logins go through, not
    // how long they wait (the limiter's unit tests check the delays).
    c.auth.login_limit = LoginLimitConfig {
        window_secs: 60,
        max_failures_per_ip: 5,
        max_failures_per_ip_and_email: 3,
        email_slowdown_after: 3,
        email_delay_step_ms: 1,
        email_delay_max_ms: 5,
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

    /// Serves the app on a loopback port (for callers that need a real address: providers'
    /// webhooks); the server stops with the runtime. Returns `http://127.0.0.1:PORT`.
    pub async fn serve(&self) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = self
            .router
            .clone()
            .into_make_service_with_connect_info::<SocketAddr>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        format!("http://{addr}")
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

    /// POSTs `body` as JSON from the client address `peer`, with `headers` added.
    pub async fn post_from(
        &self,
        peer: SocketAddr,
        path: &str,
        body: serde_json::Value,
        headers: &[(&str, &str)],
    ) -> TestResponse {
        let mut req = Self::request(Method::POST, path, None, Some(peer))
            .header(header::CONTENT_TYPE, "application/json");
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        self.call(req.body(Body::from(body.to_string())).unwrap())
            .await
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

    /// PATCHes `path` with `body` as JSON.
    pub async fn patch(
        &self,
        path: &str,
        body: serde_json::Value,
        bearer: Option<&str>,
    ) -> TestResponse {
        self.send_json(Method::PATCH, path, body, bearer).await
    }

    /// PUTs `body` as JSON to `path`.
    pub async fn put(
        &self,
        path: &str,
        body: serde_json::Value,
        bearer: Option<&str>,
    ) -> TestResponse {
        self.send_json(Method::PUT, path, body, bearer).await
    }

    async fn send_json(
        &self,
        method: Method,
        path: &str,
        body: serde_json::Value,
        bearer: Option<&str>,
    ) -> TestResponse {
        let req = Self::request(method, path, bearer, None)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_string()))
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

    /// A signed-up operator (admin) account: its access token.
    pub async fn operator(&self, email: &str) -> String {
        let t = self.signed_up(email).await;
        assert!(self.state.store().grant_admin(email).await.unwrap());
        t.access
    }

    /// The operators' audit log, newest first, as `(action, target)` (read with `token`).
    pub async fn audit_actions(&self, token: &str) -> Vec<(String, String)> {
        let r = self.get("/v1/admin/audit", Some(token)).await;
        assert_eq!(r.status, StatusCode::OK, "audit: {}", r.json);
        r.json["entries"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|e| {
                        let f = |k: &str| e[k].as_str().unwrap_or_default().to_owned();
                        (f("action"), f("target"))
                    })
                    .collect()
            })
            .unwrap_or_default()
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
