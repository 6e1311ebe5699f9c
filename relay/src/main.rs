//! `fdt-relay`: runs the relay, or mints agent tokens for self-hosted setups.

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use fdt_relay::auth::jwks::{HttpJwksSource, JwksKeys, JwksOptions};
use fdt_relay::auth::{TokenSigner, TokenVerifier};
use fdt_relay::tls::{CertStore, DevCa, OnDemandResolver};
use fdt_relay::{Listeners, Relay, RelayConfig};
use rustls::server::ResolvesServerCert;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Parser, Debug)]
#[command(
    name = "fdt-relay",
    version,
    about = "FlyingDarkDevTunnel relay: the public edge for fdt agents"
)]
struct Cli {
    /// TOML configuration file (flags override it).
    #[arg(long, short, env = "FDT_RELAY_CONFIG")]
    config: Option<PathBuf>,
    /// One-machine mode: generate a signing key and dev CA in the data directory, accept
    /// tokens signed by that key, and print an agent token.
    #[arg(long)]
    dev: bool,
    /// Directory for keys and the dev CA.
    #[arg(long, env = "FDT_RELAY_DATA_DIR", global = true)]
    data_dir: Option<PathBuf>,
    /// Domain under which tunnels are named.
    #[arg(long)]
    base_domain: Option<String>,
    /// UDP address for agents (QUIC).
    #[arg(long)]
    agent_listen: Option<SocketAddr>,
    /// TCP address of the HTTP edge, or "off".
    #[arg(long)]
    http_listen: Option<String>,
    /// TCP address of the HTTPS edge, or "off".
    #[arg(long)]
    https_listen: Option<String>,
    /// Port range for TCP tunnels, e.g. 20000-20999.
    #[arg(long)]
    tcp_ports: Option<String>,
    /// PEM public key accepted for agent tokens (repeatable).
    #[arg(long = "agent-key")]
    agent_keys: Vec<PathBuf>,
    /// JWKS URL of the control plane (e.g. https://api.example.com/v1/jwks): its keys are
    /// accepted for agent tokens, refreshed periodically.
    #[arg(long, env = "FDT_RELAY_JWKS_URL")]
    jwks_url: Option<String>,
    /// Control plane base URL: poll its authtoken revocations and close revoked sessions
    /// (needs --relay-secret).
    #[arg(long, env = "FDT_RELAY_CLOUD_URL")]
    cloud_url: Option<String>,
    /// Secret presented to the control plane (one of its `relay_secrets`).
    #[arg(long, env = "FDT_RELAY_SECRET", hide_env_values = true)]
    relay_secret: Option<String>,
    /// TCP address of the admin listener (`/metrics`, `/healthz`), or "off".
    #[arg(long)]
    admin_listen: Option<String>,
    /// Bearer token `/metrics` asks for (needed when the admin listener is not on loopback).
    #[arg(long, env = "FDT_RELAY_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: Option<String>,
    /// Log format.
    #[arg(long, value_enum, default_value = "text")]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Mint an agent token signed by the data directory's key.
    Token {
        /// Account name put in the token.
        #[arg(long, default_value = "dev")]
        sub: String,
        /// Validity in seconds.
        #[arg(long, default_value_t = 30 * 24 * 3600)]
        ttl: u64,
        /// Subdomains the token may bind (repeatable; none = any).
        #[arg(long = "name")]
        names: Vec<String>,
    },
    /// Exit 0 when URL (the admin listener's `/healthz`) answers 2xx within 3 s, else 1: the
    /// container image's health check, which has no shell or curl.
    Healthcheck {
        /// e.g. http://127.0.0.1:9100/healthz
        url: String,
    },
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum LogFormat {
    Text,
    Json,
}

fn parse_listen(v: &str) -> anyhow::Result<Option<SocketAddr>> {
    if v == "off" {
        return Ok(None);
    }
    Ok(Some(v.parse().with_context(|| {
        format!("{v:?} is not an address like 127.0.0.1:8080")
    })?))
}

fn build_config(cli: &Cli) -> anyhow::Result<RelayConfig> {
    let mut cfg = match &cli.config {
        Some(p) => RelayConfig::from_file(p)?,
        None => RelayConfig::default(),
    };
    if let Some(d) = &cli.data_dir {
        cfg.data_dir = d.clone();
    }
    if let Some(d) = &cli.base_domain {
        cfg.base_domain = d.to_ascii_lowercase();
    }
    if let Some(a) = cli.agent_listen {
        cfg.agent_listen = a;
    }
    if let Some(v) = &cli.http_listen {
        cfg.http_listen = parse_listen(v)?;
    }
    if let Some(v) = &cli.https_listen {
        cfg.https_listen = parse_listen(v)?;
    }
    if let Some(v) = &cli.admin_listen {
        cfg.admin_listen = parse_listen(v)?;
    }
    if let Some(t) = &cli.admin_token {
        cfg.admin_token = Some(fdt_relay::config::RelaySecret::new(t.clone()));
    }
    if let Some(r) = &cli.tcp_ports {
        let (a, b) = r.split_once('-').context("--tcp-ports wants MIN-MAX")?;
        cfg.tcp_port_min = a.trim().parse().context("--tcp-ports MIN")?;
        cfg.tcp_port_max = b.trim().parse().context("--tcp-ports MAX")?;
    }
    cfg.agent_public_keys.extend(cli.agent_keys.iter().cloned());
    if let Some(url) = &cli.jwks_url {
        cfg.jwks_url = Some(url.clone());
    }
    if let Some(url) = &cli.cloud_url {
        cfg.cloud_url = Some(url.clone());
    }
    if let Some(s) = &cli.relay_secret {
        cfg.relay_secret = Some(fdt_relay::config::RelaySecret::new(s.clone()));
    }
    cfg.validate()?;
    Ok(cfg)
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("FDT_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let b = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => b.json().init(),
        LogFormat::Text => b.init(),
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if let Some(Command::Healthcheck { url }) = &cli.command {
        // Before the config: a probe needs none, and must not create a data directory.
        let _ = rustls::crypto::ring::default_provider().install_default();
        match fdt_api::client::health::probe(url, std::time::Duration::from_secs(3)).await {
            Ok(status) => {
                println!("{url}: {status}");
                return Ok(());
            }
            Err(e) => {
                eprintln!("fdt-relay healthcheck: {e}");
                std::process::exit(1);
            }
        }
    }
    init_logging(cli.log_format);
    let cfg = build_config(&cli)?;
    std::fs::create_dir_all(&cfg.data_dir)
        .with_context(|| format!("creating data directory {}", cfg.data_dir.display()))?;

    if let Some(Command::Token { sub, ttl, names }) = &cli.command {
        let signer = TokenSigner::load_or_create(&cfg.data_dir)?;
        println!("{}", signer.mint(sub, *ttl, names.clone()));
        return Ok(());
    }

    let mut pems = Vec::new();
    for p in &cfg.agent_public_keys {
        pems.push(std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?);
    }
    let mut dev_token = None;
    if cli.dev {
        let signer = TokenSigner::load_or_create(&cfg.data_dir)?;
        pems.push(signer.public_pem().to_string());
        let token = signer.mint("dev", 30 * 24 * 3600, vec![]);
        let path = cfg.data_dir.join("agent-token");
        fdt_api::private_file::write_private(&path, token.as_bytes())
            .with_context(|| format!("writing {}", path.display()))?;
        dev_token = Some(token);
    }
    if pems.is_empty() && cfg.jwks_url.is_none() {
        bail!(
            "no agent public keys configured: pass --jwks-url URL or --agent-key FILE (or jwks_url / agent_public_keys in the config), or use --dev"
        );
    }
    let mut verifier = TokenVerifier::from_public_pems(&pems)?.with_issuer(&cfg.agent_token_issuer);
    if let Some(url) = &cfg.jwks_url {
        // The first fetch runs in the relay's refresh task: a relay may start before the
        // cloud, and keeps retrying until the keys arrive.
        let source = HttpJwksSource::new(url).context("--jwks-url")?;
        let opts = JwksOptions {
            refresh_interval: std::time::Duration::from_secs(cfg.jwks_refresh_secs),
            ..JwksOptions::default()
        };
        verifier = verifier.with_jwks(JwksKeys::new(Box::new(source), opts));
    }

    let resolver: Arc<dyn ResolvesServerCert> = match (&cfg.tls_cert, &cfg.tls_key) {
        (Some(c), Some(k)) => {
            let key = CertStore::load_pem_files(c, k)?;
            let mut store = CertStore::new();
            store.set_default(key);
            Arc::new(store)
        }
        _ => {
            let ca = DevCa::load_or_create(&cfg.data_dir.join("dev-ca"))?;
            Arc::new(OnDemandResolver::new(
                CertStore::new(),
                ca,
                &cfg.base_domain,
            ))
        }
    };
    let ca_path = cfg.data_dir.join("dev-ca").join("ca.pem");
    let listeners = Listeners::bind(&cfg).await?;
    let relay = Relay::start(cfg.clone(), listeners, verifier, resolver).await?;
    if let Some(token) = dev_token {
        let relay_addr = relay.agent_addr;
        eprintln!("fdt-relay is running in dev mode");
        eprintln!(
            "  agents:     udp/{relay_addr} (server name {})",
            cfg.base_domain
        );
        if let Some(a) = relay.http_addr {
            eprintln!(
                "  http edge:  http://<name>.{}:{}",
                cfg.base_domain,
                a.port()
            );
        }
        if let Some(a) = relay.https_addr {
            eprintln!(
                "  https edge: https://<name>.{}:{}  (trust {})",
                cfg.base_domain,
                a.port(),
                ca_path.display()
            );
        }
        if let Some(a) = relay.admin_addr {
            eprintln!("  metrics:    http://{a}/metrics");
        }
        eprintln!(
            "  token file: {}",
            cfg.data_dir.join("agent-token").display()
        );
        eprintln!("  run an agent:");
        eprintln!(
            "    fdt http 3000 --relay {relay_addr} --relay-ca {} --authtoken {token}",
            ca_path.display()
        );
    }
    shutdown_signal().await;
    tracing::info!("shutting down: draining in-flight exchanges");
    relay.shutdown().await;
    Ok(())
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
