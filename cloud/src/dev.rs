//! `fdt-cloud dev`: the whole product on one machine in one process — the control plane on
//! SQLite in a data directory and an embedded relay with the dev CA and `*.localhost` names.
//!
//! It creates (or, on a restart, reuses) a dev account and an authtoken, and writes the
//! authtoken, the API URL and the dev CA into the agent's `fdt.toml`, so `fdt http 8000` works
//! next with no other step. The relay verifies agent tokens with the public keys of the
//! cloud's own agent keyring, handed over in process: no JWKS fetch, so nothing can race the
//! first agent. (Keys are read at start, as for `serve`: restart after `rotate-agent-key`.)

use crate::auth::agent_keys::{AGENT_KEYS_DIR, AgentKeyring};
use crate::auth::jwt::SigningKey;
use crate::clock::SystemClock;
use crate::config::{Config, Env, RelayEntry};
use crate::random::{new_account_id, new_authtoken, new_authtoken_id, random_base62, secret_hash};
use crate::secret::Secret;
use crate::state::AppState;
use crate::store::{AccountRecord, NewAuthtoken, Store};
use anyhow::Context as _;
use fdt_api::private_file::write_private;
use fdt_api::{Authtoken, Password};
use fdt_relay::auth::{TokenVerifier, VerifyingKey};
use fdt_relay::tls::CertStore;
use fdt_relay::tls::DevCa;
use fdt_relay::tls::OnDemandResolver;
use fdt_relay::{Listeners, Relay, RelayConfig};
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Email of the account `dev` creates.
pub const DEV_EMAIL: &str = "dev@fdt.localhost";
/// File in the data directory holding the dev account's password (mode 0600).
pub const DEV_PASSWORD_FILE: &str = "dev-password";
/// File in the data directory holding the dev authtoken, reused on restart (mode 0600).
pub const DEV_AUTHTOKEN_FILE: &str = "dev-authtoken";
/// Domain the embedded relay names tunnels under, and the name its QUIC certificate carries.
const DEV_DOMAIN: &str = "localhost";

/// The addresses and files of a dev run that are not part of [`Config`].
#[derive(Debug, Clone)]
pub struct DevOptions {
    /// UDP address of the embedded relay's agent endpoint.
    pub agent_listen: SocketAddr,
    /// TCP address of the relay's HTTP edge.
    pub http_listen: SocketAddr,
    /// TCP address of the relay's HTTPS edge.
    pub https_listen: SocketAddr,
    /// The agent config file to write; `fdt`'s default location when `None`.
    pub agent_config: Option<PathBuf>,
}

/// The default data directory of `dev`: `$XDG_DATA_HOME/fdt-cloud-dev`, else
/// `$HOME/.local/share/fdt-cloud-dev` (apart from `serve`'s, so dev data never mixes in).
pub fn default_data_dir(env: &dyn Env) -> Option<PathBuf> {
    if let Some(xdg) = env.var("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
        return Some(PathBuf::from(xdg).join("fdt-cloud-dev"));
    }
    let home = env.var("HOME").filter(|v| !v.is_empty())?;
    Some(PathBuf::from(home).join(".local/share/fdt-cloud-dev"))
}

/// Runs the control plane and the embedded relay until Ctrl+C or SIGTERM.
pub async fn run(mut config: Config, opts: DevOptions) -> anyhow::Result<()> {
    if config.database_url.take().is_some() {
        tracing::warn!("fdt-cloud dev ignores database_url: it always uses SQLite in the data dir");
    }
    let data_dir = std::path::absolute(&config.data_dir)
        .with_context(|| format!("resolving {}", config.data_dir.display()))?;
    config.data_dir = data_dir.clone();
    std::fs::create_dir_all(&data_dir)
        .with_context(|| format!("creating data directory {}", data_dir.display()))?;
    let store = Store::connect(&config.database())
        .await
        .context("opening the SQLite database")?;
    store.migrate().await.context("applying migrations")?;
    let key = SigningKey::load_or_create(&data_dir).context("loading the signing key")?;
    let agent_keys = AgentKeyring::load_or_create(&data_dir.join(AGENT_KEYS_DIR))
        .context("loading the agent-token keyring")?;

    // The relay first: its bound agent address is what `[[relays]]` hands to agents.
    let relay_cfg = RelayConfig {
        base_domain: DEV_DOMAIN.into(),
        data_dir: data_dir.join("relay"),
        agent_listen: opts.agent_listen,
        http_listen: Some(opts.http_listen),
        https_listen: Some(opts.https_listen),
        // Its `/metrics` on a port of its own, on loopback (no token needed there).
        admin_listen: Some(std::net::SocketAddr::from(([127, 0, 0, 1], 0))),
        ..RelayConfig::default()
    };
    let ca =
        DevCa::load_or_create(&relay_cfg.data_dir.join("dev-ca")).context("loading the dev CA")?;
    let ca_path = ca.ca_path();
    let resolver = Arc::new(OnDemandResolver::new(CertStore::new(), ca, DEV_DOMAIN));
    let listeners = Listeners::bind(&relay_cfg).await?;
    let api_listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("binding the API on {}", config.listen))?;
    let api_addr = api_listener
        .local_addr()
        .context("reading the API address")?;
    // The embedded relay registers, asks before binds and polls the revocation feed like any
    // relay, with a secret made up for this run.
    let relay_secret = random_base62(40);
    config.relay_secrets = vec![Secret::new(relay_secret.clone())];
    // `curl …/metrics` works at once on a loopback API; anywhere else it needs the token.
    config.metrics.loopback_without_token = api_addr.ip().is_loopback();
    // It reports the custom-domain certificates it installs as its region's cluster.
    let cert_event_key = random_base62(40);
    config.domains.clusters = vec![crate::config::EventCluster {
        name: "local".into(),
        keys: vec![Secret::new(cert_event_key.clone())],
    }];
    // It registers by heartbeat under the same ID as the `[[relays]]` entry below, which
    // covers the moment before its first heartbeat lands.
    let relay_cfg = RelayConfig {
        relay_id: "dev".into(),
        region: "local".into(),
        cloud_url: Some(format!("http://{api_addr}")),
        relay_secret: Some(fdt_relay::config::RelaySecret::new(relay_secret)),
        cert_event_key: Some(fdt_relay::config::RelaySecret::new(cert_event_key)),
        ..relay_cfg
    };
    let verifier = verifier(&agent_keys)?.with_issuer(&config.auth.issuer);
    let relay = Relay::start(relay_cfg, listeners, verifier, resolver)
        .await
        .context("starting the embedded relay")?;
    config.relays = vec![RelayEntry {
        id: "dev".into(),
        region: "local".into(),
        addr: relay.agent_addr.to_string(),
        server_name: DEV_DOMAIN.into(),
    }];
    let api_url = format!("http://{api_addr}");
    let billing = crate::dev_billing::start(&mut config, &data_dir, &api_url)
        .await
        .context("starting the test-mode payment providers")?;
    config.validate().context("dev configuration")?;
    let state = AppState::new(
        &config,
        store.clone(),
        Arc::new(key),
        agent_keys,
        Arc::new(SystemClock),
    )
    .context("setting up password hashing")?;

    let account = dev_account(&state, &data_dir).await?;
    let (token, token_reused) = dev_authtoken(&state, &account, &data_dir).await?;
    let agent_config = opts
        .agent_config
        .or_else(fdt_agent_core::config::default_config_path);
    if let Some(path) = &agent_config {
        let ca = ca_path
            .to_str()
            .context("the data directory path is not UTF-8; pass a different --data-dir")?;
        fdt_agent_core::config_edit::set_values(
            path,
            &[
                ("authtoken", token.expose_secret()),
                ("api_url", &api_url),
                ("relay_ca", ca),
            ],
        )
        .context("writing the agent config")?;
    }

    let mut out = String::new();
    // The first line matches `serve`'s, which scripts and tests wait for.
    out += &format!("fdt-cloud listening on {api_url}\n");
    out += "fdt-cloud dev: control plane and relay running in this process\n";
    out += &format!("  data dir:     {}\n", data_dir.display());
    out += &format!("  web console:  {api_url}/ (sign in with the account below)\n");
    out += &format!("  api:          {api_url}/v1\n");
    if config.metrics.loopback_without_token {
        out += &format!("  metrics:      {api_url}/metrics (no token needed from loopback)\n");
    }
    out += &format!(
        "  relay:        udp/{} (server name {DEV_DOMAIN})\n",
        relay.agent_addr
    );
    if let Some(a) = relay.http_addr {
        out += &format!("  http edge:    http://<name>.{DEV_DOMAIN}:{}\n", a.port());
    }
    if let Some(a) = relay.https_addr {
        out += &format!("  https edge:   https://<name>.{DEV_DOMAIN}:{}\n", a.port());
    }
    if let Some(a) = relay.admin_addr {
        out += &format!("  relay metrics: http://{a}/metrics\n");
    }
    out += &format!("  dev CA:       {}\n", ca_path.display());
    out += &format!(
        "  account:      {DEV_EMAIL} (password in {})\n",
        data_dir.join(DEV_PASSWORD_FILE).display()
    );
    let how = if token_reused { "reused" } else { "new" };
    out += &format!("  authtoken:    {} ({how})\n", token.expose_secret());
    for l in &billing.lines {
        out += l;
        out += "\n";
    }
    match &agent_config {
        Some(p) => {
            out += &format!(
                "  agent config: {} (authtoken, api_url, relay_ca)\n",
                p.display()
            );
            out += "next, in another terminal:\n  fdt http 8000\n";
        }
        None => {
            out += "  agent config: not written (HOME is not set)\n";
            out += &format!(
                "next, in another terminal:\n  fdt http 8000 --api-url {api_url} --relay-ca {} --authtoken {}\n",
                ca_path.display(),
                token.expose_secret()
            );
        }
    }
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(out.as_bytes()).ok();
    stdout.flush().ok();
    drop(stdout);
    tracing::info!(api = %api_addr, relay = %relay.agent_addr, "fdt-cloud dev running");

    let shutdown = crate::shutdown::cancel_on_signal("shutting down: API and relay");
    let served = crate::server::run(api_listener, state, shutdown).await;
    relay.shutdown().await;
    drop(billing);
    store.close().await;
    served.context("serving HTTP")
}

/// A verifier accepting exactly the keys of the cloud's agent keyring, by `kid`.
fn verifier(ring: &AgentKeyring) -> anyhow::Result<TokenVerifier> {
    let keys = ring
        .keys()
        .map(|k| {
            let raw: &[u8; 32] = k
                .public_key_raw()
                .try_into()
                .context("agent signing key is not Ed25519")?;
            Ok(VerifyingKey::from_raw(k.kid().to_owned(), raw))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(TokenVerifier::new(keys, None))
}

/// The dev account, created with a random password (saved in the data directory) when missing.
async fn dev_account(st: &AppState, data_dir: &Path) -> anyhow::Result<AccountRecord> {
    if let Some(account) = st.store().account_by_email(DEV_EMAIL).await? {
        return Ok(account);
    }
    let password = random_base62(24);
    let password_file = data_dir.join(DEV_PASSWORD_FILE);
    write_private(&password_file, password.as_bytes())
        .with_context(|| format!("writing {}", password_file.display()))?;
    let hash = st.passwords().hash(Password::new(password)).await?;
    let account = st
        .store()
        .create_account(&new_account_id(), DEV_EMAIL, &hash, st.clock().now())
        .await
        .context("creating the dev account")?;
    tracing::info!(account = %account.id, "dev account created");
    Ok(account)
}

/// The authtoken saved in the data directory when it is still live for `account`, else a new
/// one (saved there). The flag says whether it was reused.
async fn dev_authtoken(
    st: &AppState,
    account: &AccountRecord,
    data_dir: &Path,
) -> anyhow::Result<(Authtoken, bool)> {
    let file = data_dir.join(DEV_AUTHTOKEN_FILE);
    let saved = std::fs::read_to_string(&file)
        .ok()
        .and_then(|t| fdt_api::parse_authtoken(t.trim()).ok());
    if let Some(token) = saved {
        let live = st
            .store()
            .use_authtoken(&secret_hash(token.expose_secret()), st.clock().now())
            .await?;
        if live.is_some_and(|r| r.account_id == account.id) {
            return Ok((token, true));
        }
    }
    let token = new_authtoken();
    st.store()
        .create_authtoken(NewAuthtoken {
            id: &new_authtoken_id(),
            account_id: &account.id,
            token_hash: &secret_hash(token.expose_secret()),
            prefix: token.display_prefix(),
            description: Some("fdt-cloud dev"),
            created_by: &account.id,
            created_at: st.clock().now(),
        })
        .await
        .context("creating the dev authtoken")?;
    write_private(&file, token.expose_secret().as_bytes())
        .with_context(|| format!("writing {}", file.display()))?;
    Ok((token, false))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn default_data_dir_is_apart_from_serve() {
        let env: HashMap<String, String> = [("HOME".to_owned(), "/h".to_owned())].into();
        assert_eq!(
            default_data_dir(&env),
            Some(PathBuf::from("/h/.local/share/fdt-cloud-dev"))
        );
        assert_eq!(default_data_dir(&HashMap::new()), None);
    }

    #[test]
    fn verifier_accepts_tokens_of_the_keyring() {
        let ring = AgentKeyring::generate().unwrap();
        let tokens = crate::auth::agent_tokens::AgentTokens::new(
            ring.clone(),
            "fdt-cloud",
            &crate::config::AgentTokenConfig::default(),
        );
        let account = new_account_id();
        let atk = new_authtoken_id();
        let token = tokens
            .issue(
                &account,
                &atk,
                fdt_api::Plan::Free,
                time::OffsetDateTime::now_utc(),
            )
            .unwrap();
        let claims = verifier(&ring)
            .unwrap()
            .verify(token.expose_secret())
            .unwrap();
        assert_eq!(claims.sub, account.as_str());
        assert_eq!(claims.atk.as_deref(), Some(atk.as_str()));
        let other = verifier(&AgentKeyring::generate().unwrap()).unwrap();
        assert!(other.verify(token.expose_secret()).is_err());
    }
}
