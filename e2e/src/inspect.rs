//! Agents with inspection on and their local API served on an OS-chosen loopback port, for the
//! inspection stories (`tests/inspect.rs`), plus a small JSON client for that API.

use crate::stack::{BIND_TIMEOUT, DEFAULT_ACCOUNT, Stack};
use fdt_agent_core::config::TunnelConfig;
use fdt_agent_core::{AgentHandle, AgentOptions, Connect, InspectConfig, Inspector, RelayTarget};
use std::net::SocketAddr;
use std::time::Duration;

/// An agent capturing into a database in its own temporary directory, with its API running.
#[derive(Debug)]
pub struct InspectedAgent {
    /// The agent's handle (with its inspector).
    pub handle: AgentHandle,
    /// Where the local API listens.
    pub api_addr: SocketAddr,
    /// Client for the API (and for visitors, with `*.localhost` resolved to the relay).
    pub http: reqwest::Client,
    /// Holds the inspection database.
    pub dir: tempfile::TempDir,
}

impl Drop for InspectedAgent {
    fn drop(&mut self) {
        self.handle.shutdown.cancel();
    }
}

/// A response of the local API.
#[derive(Debug)]
pub struct ApiResponse {
    /// Status code.
    pub status: u16,
    /// Headers.
    pub headers: reqwest::header::HeaderMap,
    /// Body as text.
    pub text: String,
}

impl ApiResponse {
    /// Header `name` as text (empty when absent or not text).
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// The body as JSON (`Null` when it is not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.text).unwrap_or(serde_json::Value::Null)
    }
}

/// Spawns an agent of `stack` with inspection configured by `cfg` (its `db_path` is replaced
/// by a file in a fresh temporary directory), starts its API on 127.0.0.1:0 and waits until
/// its tunnels are bound.
pub async fn inspected_agent(
    stack: &Stack,
    tunnels: Vec<(&str, TunnelConfig)>,
    cfg: InspectConfig,
) -> anyhow::Result<InspectedAgent> {
    let dir = tempfile::Builder::new().prefix("fdt-inspect-").tempdir()?;
    let cfg = InspectConfig {
        db_path: Some(dir.path().join("inspect.db")),
        ..cfg
    };
    let inspector = Inspector::open(&cfg).await?;
    let connect = Connect::Relay {
        relay: RelayTarget {
            addr: stack.agent_addr.to_string(),
            server_name: Some(crate::stack::BASE_DOMAIN.into()),
            ca_file: Some(stack.ca_path()),
        },
        token: stack.token(DEFAULT_ACCOUNT),
    };
    let tunnels = tunnels
        .into_iter()
        .map(|(name, t)| t.resolve(name))
        .collect::<Result<Vec<_>, _>>()?;
    let (mut handle, _join) = fdt_agent_core::spawn_with(
        AgentOptions {
            connect,
            tunnels,
            managed: false,
            ha: false,
        },
        Some(inspector),
    );
    handle.wait_bound(BIND_TIMEOUT).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let api_addr = listener.local_addr()?;
    tokio::spawn(fdt_agent_core::api::serve(
        listener,
        handle.clone(),
        handle.shutdown.clone(),
    ));
    crate::install_crypto();
    let mut http = reqwest::Client::builder().timeout(Duration::from_secs(30));
    for t in &handle.status.borrow().tunnels {
        if let Some(url) = &t.public_url
            && let Some(host) = url.split("://").nth(1).and_then(|r| r.split(':').next())
        {
            http = http.resolve(host, stack.http_addr);
        }
    }
    Ok(InspectedAgent {
        handle,
        api_addr,
        http: http.build()?,
        dir,
    })
}

impl InspectedAgent {
    /// `http://127.0.0.1:PORT{path}` of the API.
    pub fn api_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.api_addr)
    }

    async fn read(r: reqwest::Response) -> anyhow::Result<ApiResponse> {
        Ok(ApiResponse {
            status: r.status().as_u16(),
            headers: r.headers().clone(),
            text: r.text().await?,
        })
    }

    /// `GET` on the API.
    pub async fn get(&self, path: &str) -> anyhow::Result<ApiResponse> {
        Self::read(self.http.get(self.api_url(path)).send().await?).await
    }

    /// `POST` of `body` (JSON) on the API.
    pub async fn post(&self, path: &str, body: &serde_json::Value) -> anyhow::Result<ApiResponse> {
        Self::read(self.http.post(self.api_url(path)).json(body).send().await?).await
    }

    /// `POST /api/requests/http` (a replay) with `body`.
    pub async fn replay(&self, body: &serde_json::Value) -> anyhow::Result<ApiResponse> {
        self.post("/api/requests/http", body).await
    }

    /// `DELETE` on the API.
    pub async fn delete(&self, path: &str) -> anyhow::Result<ApiResponse> {
        Self::read(self.http.delete(self.api_url(path)).send().await?).await
    }

    /// Polls the list (`query` after `?`) until it holds at least `n` exchanges; returns them.
    pub async fn wait_requests(
        &self,
        query: &str,
        n: usize,
    ) -> anyhow::Result<Vec<serde_json::Value>> {
        crate::poll_until(Duration::from_secs(15), "captured exchanges", || async {
            let r = self
                .get(&format!("/api/requests/http?{query}"))
                .await
                .ok()?;
            let list = r.json()["requests"].as_array()?.clone();
            (list.len() >= n).then_some(list)
        })
        .await
    }

    /// Polls one exchange until it is stored and `ready` accepts it (e.g. its timeline is
    /// complete).
    pub async fn wait_exchange(
        &self,
        id: &str,
        ready: impl Fn(&serde_json::Value) -> bool,
    ) -> anyhow::Result<serde_json::Value> {
        crate::poll_until(Duration::from_secs(15), "captured exchange", || async {
            let r = self.get(&format!("/api/requests/http/{id}")).await.ok()?;
            let v = r.json();
            (r.status == 200 && ready(&v)).then_some(v)
        })
        .await
    }
}
