//! The control plane serving in the test process, and an account on it.
//!
//! [`Cloud::start`] runs `fdt_cloud::server::run` on a listener the test bound (so relays can
//! be pointed at its URL before it serves), with cheap password hashing and one relay secret,
//! [`RELAY_SECRET`]. [`Cloud::account`] registers a user, logs in and creates an authtoken.

use crate::client::Curl;
use fdt_api::{
    AccessToken, CreateAuthtokenRequest, CreatedAuthtoken, FdtClient, LoginRequest, Password,
    RegisterRequest, TunnelInfo, TunnelList,
};
use fdt_cloud::auth::agent_keys::AgentKeyring;
use fdt_cloud::auth::jwt::SigningKey;
use fdt_cloud::clock::SystemClock;
use fdt_cloud::config::{Argon2Config, Config, RelayEntry};
use fdt_cloud::secret::Secret;
use fdt_cloud::{AppState, Store};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

pub use crate::stack::RELAY_SECRET;
pub use fdt_cloud::testing::{PG_URL_ENV, TestDb};
/// Password of every account made by [`Cloud::account`].
pub const PASSWORD: &str = "correct horse battery";

/// The control plane serving in this process; stops serving when dropped.
pub struct Cloud {
    /// Base URL (`http://127.0.0.1:PORT`).
    pub url: String,
    /// Its state (store, token issuers).
    pub state: AppState,
    /// Cancels the server.
    pub shutdown: CancellationToken,
    _dir: tempfile::TempDir,
}

impl Cloud {
    /// Serves on `listener` over `store`, sending agents to the static `relays` (and to any
    /// relay that heartbeats).
    pub fn start(listener: tokio::net::TcpListener, store: Store, relays: Vec<RelayEntry>) -> Self {
        Self::start_with(listener, store, |c| c.relays = relays)
    }

    /// Serves on `listener` over `store` with the test defaults changed by `configure`
    /// (e.g. its `fleet` settings). Panics when the result does not validate.
    pub fn start_with(
        listener: tokio::net::TcpListener,
        store: Store,
        configure: impl FnOnce(&mut Config),
    ) -> Self {
        let url = format!("http://{}", listener.local_addr().expect("cloud listener"));
        let dir = tempfile::tempdir().expect("cloud data directory");
        let mut config = Config {
            data_dir: dir.path().to_owned(),
            relay_secrets: vec![Secret::new(RELAY_SECRET.into())],
            ..Config::default()
        };
        // The e2e relays' region, whose certificate events they sign with CERT_EVENT_KEY.
        config.domains.clusters = vec![fdt_cloud::config::EventCluster {
            name: "local".into(),
            keys: vec![Secret::new(crate::stack::CERT_EVENT_KEY.into())],
        }];
        // Cheap hashing: the tests are about tunnels, not password storage.
        config.auth.argon2 = Argon2Config {
            memory_kib: 8,
            iterations: 1,
            parallelism: 1,
        };
        configure(&mut config);
        config.validate().expect("cloud test configuration");
        let state = AppState::new(
            &config,
            store,
            Arc::new(SigningKey::generate().expect("access-token key")),
            AgentKeyring::generate().expect("agent-token keyring"),
            Arc::new(SystemClock),
        )
        .expect("cloud state");
        let shutdown = CancellationToken::new();
        tokio::spawn(fdt_cloud::server::run(
            listener,
            state.clone(),
            shutdown.clone(),
        ));
        Self {
            url,
            state,
            shutdown,
            _dir: dir,
        }
    }

    /// A control plane with fast relay heartbeats (1 s; unhealthy after 5 s) and an
    /// in-process relay attached to it: the usual set-up of tests about what flows between
    /// relays and the cloud. The relay registers as `local`.
    pub async fn with_attached_relay(store: Store) -> anyhow::Result<(Self, crate::Stack)> {
        crate::install_crypto();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let api_url = format!("http://{}", listener.local_addr()?);
        let stack = crate::Stack::start(crate::StackOptions::attached_to(&api_url)).await?;
        let cloud = Self::start_with(listener, store, |c| {
            c.fleet.heartbeat_secs = 1;
            c.fleet.unhealthy_after_secs = 5;
        });
        Ok((cloud, stack))
    }

    /// `URL/v1/jwks`, for the relays' `jwks_url`.
    pub fn jwks_url(&self) -> String {
        format!("{}/v1/jwks", self.url)
    }

    /// Registers `email` (password [`PASSWORD`]), logs in and creates an authtoken.
    pub async fn account(&self, email: &str) -> anyhow::Result<CloudAccount> {
        CloudAccount::register(&self.url, email).await
    }
}

impl CloudAccount {
    /// Registers `email` (password [`PASSWORD`]) at the control plane at `api_url`, logs in
    /// and creates an authtoken.
    pub async fn register(api_url: &str, email: &str) -> anyhow::Result<Self> {
        let anonymous = FdtClient::new(api_url)?;
        anonymous
            .register(&RegisterRequest {
                email: email.into(),
                password: Password::new(PASSWORD),
            })
            .await?;
        let tokens = anonymous
            .login(&LoginRequest {
                email: email.into(),
                password: Password::new(PASSWORD),
            })
            .await?;
        let access_token = tokens.access_token.clone();
        let client = anonymous.with_access_token(tokens.access_token);
        let authtoken = client
            .create_authtoken(&CreateAuthtokenRequest::default())
            .await?;
        Ok(CloudAccount {
            api_url: api_url.to_owned(),
            client,
            access_token,
            authtoken,
        })
    }
}

impl Cloud {
    /// `owner` invites `email` (the account of `member`) with `role`, and `member` accepts
    /// with the code from the invitation's email in the outbox: the organisation's ID.
    pub async fn invite_and_join(
        &self,
        owner: &CloudAccount,
        member: &CloudAccount,
        email: &str,
        role: &str,
    ) -> anyhow::Result<String> {
        let http = reqwest::Client::new();
        let invited = http
            .post(format!("{}/v1/invitations", self.url))
            .bearer_auth(owner.access_token.expose_secret())
            .json(&serde_json::json!({"email": email, "role": role}))
            .send()
            .await?;
        anyhow::ensure!(invited.status() == 201, "invitation: {}", invited.status());
        let org = invited.json::<serde_json::Value>().await?["org_id"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let mail = self.state.store().outbox_for(email).await?;
        let code = mail
            .last()
            .and_then(|(_, body)| body.split_whitespace().find(|w| w.starts_with("fdi_")))
            .ok_or_else(|| anyhow::anyhow!("no invitation code in {email}'s mail"))?
            .to_owned();
        let joined = http
            .post(format!("{}/v1/invitations/accept", self.url))
            .bearer_auth(member.access_token.expose_secret())
            .json(&serde_json::json!({"token": code}))
            .send()
            .await?;
        anyhow::ensure!(joined.status() == 200, "accepting: {}", joined.status());
        Ok(org)
    }
}

impl Drop for Cloud {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// A logged-in account with one authtoken.
pub struct CloudAccount {
    api_url: String,
    /// API client carrying the access token.
    pub client: FdtClient,
    /// The access token, for routes the client has no method for.
    pub access_token: AccessToken,
    /// The authtoken created at sign-up (secret included).
    pub authtoken: CreatedAuthtoken,
}

impl CloudAccount {
    /// The authtoken's secret, as an agent is given it.
    pub fn authtoken_secret(&self) -> String {
        self.authtoken.token.expose_secret().to_owned()
    }

    /// `GET /v1/tunnels`: the account's live tunnels.
    pub async fn live_tunnels(&self) -> anyhow::Result<Vec<TunnelInfo>> {
        let r = Curl::new(&format!("{}/v1/tunnels", self.api_url))
            .header(&format!(
                "Authorization: Bearer {}",
                self.access_token.expose_secret()
            ))
            .run()
            .await?;
        anyhow::ensure!(
            r.status == 200,
            "GET /v1/tunnels: {} {}",
            r.status,
            r.text()
        );
        let list: TunnelList = serde_json::from_slice(&r.body)?;
        Ok(list.tunnels)
    }
}
