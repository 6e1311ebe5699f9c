//! The `fdt-cloud` command line: `serve`, `dev`, `migrate` and `rotate-agent-key`.

use crate::auth::agent_keys::{AGENT_KEYS_DIR, AgentKeyring};
use crate::auth::jwt::SigningKey;
use crate::clock::SystemClock;
use crate::config::{Config, Env as _, Overrides, ProcessEnv};
use crate::state::AppState;
use crate::store::Store;
use anyhow::Context as _;
use clap::{Parser, Subcommand, ValueEnum};
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

/// FlyingDarkDevTunnel control plane.
#[derive(Debug, Parser)]
#[command(name = "fdt-cloud", version, about)]
pub struct Cli {
    /// Config file (TOML). Default: $FDT_CLOUD_CONFIG, else built-in defaults.
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Directory for the SQLite database and the signing key.
    #[arg(long, global = true, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Database URL (sqlite:… or postgres://…). Prefer FDT_DATABASE_URL: other users can read
    /// command lines.
    #[arg(long, global = true, value_name = "URL")]
    database_url: Option<String>,
    /// Log line format (on stderr; RUST_LOG filters).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the control plane (applies pending migrations first).
    Serve {
        /// Address to listen on (port 0 picks a free port; the address is printed).
        #[arg(long, value_name = "ADDR")]
        listen: Option<SocketAddr>,
    },
    /// Run the control plane and an embedded relay on this machine (SQLite in the data
    /// directory, default ~/.local/share/fdt-cloud-dev; dev CA; `*.localhost` names), with a
    /// dev account whose authtoken is written to fdt's config file: `fdt http 8000` works next.
    Dev {
        /// Address of the API, default 127.0.0.1:8780 (port 0 picks a free port; the
        /// addresses are printed).
        #[arg(long, value_name = "ADDR")]
        listen: Option<SocketAddr>,
        /// UDP address agents connect to (QUIC).
        #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:7443")]
        agent_listen: SocketAddr,
        /// Address of the relay's HTTP edge.
        #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
        http_listen: SocketAddr,
        /// Address of the relay's HTTPS edge.
        #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8443")]
        https_listen: SocketAddr,
        /// Agent config file to write (default: where `fdt` looks,
        /// $XDG_CONFIG_HOME/fdt/fdt.toml or ~/.config/fdt/fdt.toml).
        #[arg(long, value_name = "FILE")]
        agent_config: Option<PathBuf>,
    },
    /// Apply pending database migrations and exit.
    Migrate,
    /// Start signing agent tokens with a new key. The previous key stays published until the
    /// next rotation, so rotate at most once per agent-token lifetime; restart `serve` after.
    RotateAgentKey,
    /// Replace the access-token signing key (signed-in clients renew their access tokens with
    /// their refresh tokens); restart `serve` after.
    RotateAccessKey,
    /// Make a new relay secret and print it: add it to `relay_secrets`, give it to the relays,
    /// then remove the old one.
    RotateRelaySecret,
    /// Make an existing account an operator (admin API, admin panel).
    GrantAdmin {
        /// The account's email.
        email: String,
    },
    /// The audit log: verify its chains and checkpoints, sign a checkpoint, export it.
    Audit {
        #[command(subcommand)]
        action: AuditCommand,
    },
    /// Exit 0 when URL (a `serve`'s `/healthz`) answers 2xx within 3 s, else 1: the container
    /// image's health check, which has no shell or curl. Reads no configuration.
    Healthcheck {
        /// e.g. http://127.0.0.1:8780/healthz
        url: String,
    },
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Check every row's hash chains and every checkpoint (the kept ones and those given);
    /// exits 1 naming the first broken row, or the checkpoint the log no longer matches.
    Verify {
        /// An exported checkpoint (the `token` of POST /v1/admin/audit/checkpoints, or of
        /// `fdt-cloud audit checkpoint`) in a file; repeatable.
        #[arg(long, value_name = "FILE")]
        checkpoint: Vec<PathBuf>,
    },
    /// Sign a checkpoint of the head, keep it, and print its token (keep a copy elsewhere).
    Checkpoint,
    /// Write every row, oldest first, as JSON lines (to stdout without --out).
    Export {
        /// The file to write, or an object store location `s3://bucket/key` (a key ending in
        /// `/` gets `audit-<unix time>.jsonl`; credentials, region and endpoint from the
        /// `AWS_*` environment variables).
        #[arg(long, value_name = "FILE|s3://BUCKET/KEY")]
        out: Option<PathBuf>,
    },
}

/// Entry point of the `fdt-cloud` binary.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_format);
    // reqwest/sqlx use rustls without picking a crypto provider; ring is ours. An error only
    // means one is installed already.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("fdt-cloud: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fdt-cloud: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    if let Command::Healthcheck { url } = &cli.command {
        return healthcheck(url).await;
    }
    let listen = match &cli.command {
        Command::Serve { listen } => *listen,
        Command::Dev { listen, .. } => *listen,
        Command::Migrate
        | Command::RotateAgentKey
        | Command::RotateAccessKey
        | Command::RotateRelaySecret
        | Command::GrantAdmin { .. }
        | Command::Audit { .. }
        | Command::Healthcheck { .. } => None,
    };
    let mut data_dir = cli.data_dir;
    if matches!(cli.command, Command::Dev { .. })
        && data_dir.is_none()
        && ProcessEnv.var("FDT_DATA_DIR").is_none()
    {
        data_dir = crate::dev::default_data_dir(&ProcessEnv);
    }
    let overrides = Overrides {
        config_file: cli.config,
        listen,
        data_dir,
        database_url: cli.database_url,
    };
    let config = Config::load(&ProcessEnv, &overrides).context("loading configuration")?;
    match cli.command {
        Command::Serve { .. } => serve(config).await,
        Command::Dev {
            listen: _,
            agent_listen,
            http_listen,
            https_listen,
            agent_config,
        } => {
            let opts = crate::dev::DevOptions {
                agent_listen,
                http_listen,
                https_listen,
                agent_config,
            };
            crate::dev::run(config, opts).await
        }
        Command::Migrate => migrate(config).await,
        Command::GrantAdmin { email } => {
            let store = open_store(&config).await?;
            store.migrate().await.context("applying migrations")?;
            let email = fdt_api::validate::normalize_email(&email);
            let found = store.grant_admin(&email).await?;
            store.close().await;
            anyhow::ensure!(found, "no account with email {email}");
            println!("{email} is now an operator");
            Ok(())
        }
        Command::Audit { action } => audit(config, action).await,
        Command::RotateAgentKey => {
            let dir = config.data_dir.join(AGENT_KEYS_DIR);
            let kid = AgentKeyring::rotate(&dir).context("rotating the agent signing key")?;
            audit_rotation(&config, crate::rotation::AGENT_TOKEN_KEY, &kid).await?;
            println!("agent tokens are now signed with key {kid}; restart fdt-cloud serve");
            Ok(())
        }
        Command::RotateAccessKey => {
            let kid = SigningKey::rotate(&config.data_dir)
                .context("rotating the access-token signing key")?;
            audit_rotation(&config, crate::rotation::ACCESS_TOKEN_KEY, &kid).await?;
            println!("access tokens are now signed with key {kid}; restart fdt-cloud serve");
            Ok(())
        }
        Command::RotateRelaySecret => {
            let secret = crate::random::random_base62(43);
            let fp = crate::rotation::fingerprint(&secret);
            audit_rotation(&config, crate::rotation::RELAY_SECRET, &fp).await?;
            println!("{secret}");
            eprintln!(
                "new relay secret {fp}: add it to relay_secrets (FDT_RELAY_SECRETS), restart \
                 fdt-cloud serve, set it on every relay, then remove the old one"
            );
            Ok(())
        }
        // Answered above, before the configuration loads; kept here for a complete match.
        Command::Healthcheck { url } => healthcheck(&url).await,
    }
}

/// `fdt-cloud healthcheck URL`: `/healthz` answered 2xx within 3 s, or an error (exit 1).
async fn healthcheck(url: &str) -> anyhow::Result<()> {
    let status = fdt_api::client::health::probe(url, std::time::Duration::from_secs(3))
        .await
        .context("healthcheck")?;
    println!("{url}: {status}");
    Ok(())
}

/// Records a rotation done from the command line in the audit log (the secret's public
/// fingerprint, never the secret).
async fn audit_rotation(config: &Config, kind: &str, id: &str) -> anyhow::Result<()> {
    let store = open_store(config).await?;
    let ev = crate::store::NewAudit {
        actor: "fdt-cloud",
        action: "secret.rotate",
        target: id,
        detail: serde_json::json!({ "kind": kind }),
        ..Default::default()
    };
    let done = crate::audit::record(&store, ev, time::OffsetDateTime::now_utc()).await;
    store.close().await;
    done.context("recording the rotation in the audit log")
}

async fn audit(config: Config, action: AuditCommand) -> anyhow::Result<()> {
    let store = open_store(&config).await?;
    let keyring = AgentKeyring::load_or_create(&config.data_dir.join(AGENT_KEYS_DIR))
        .context("loading the signing keys")?;
    let result = match action {
        AuditCommand::Verify { checkpoint } => {
            let mut extra = Vec::new();
            for path in &checkpoint {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading {}", path.display()))?;
                extra.push(text.trim().to_owned());
            }
            let keys: Vec<_> = keyring.keys().collect();
            let v = crate::audit::verify(&store, &keys, &extra).await?;
            println!("{}", serde_json::to_string_pretty(&v)?);
            match (&v.first_broken, &v.checkpoint_error) {
                (Some(b), _) => Err(anyhow::anyhow!(
                    "the audit log is broken at row {} ({} chain): {}",
                    b.seq,
                    b.chain,
                    b.reason
                )),
                (None, Some(e)) => Err(anyhow::anyhow!("the audit log fails a checkpoint: {e}")),
                (None, None) => Ok(()),
            }
        }
        AuditCommand::Checkpoint => {
            let now = time::OffsetDateTime::now_utc();
            match crate::audit::checkpoint(&store, keyring.signing_key(), now).await? {
                Ok(c) => {
                    println!("{}", c.token);
                    eprintln!("checkpoint of row {} ({})", c.seq, c.hash);
                    Ok(())
                }
                Err(b) => Err(anyhow::anyhow!(
                    "not signed: the audit log is broken at row {} ({} chain): {}",
                    b.seq,
                    b.chain,
                    b.reason
                )),
            }
        }
        AuditCommand::Export { out } => {
            let s3 = out
                .as_deref()
                .and_then(|p| p.to_str())
                .filter(|p| p.starts_with("s3://"));
            if let Some(location) = s3 {
                let now = time::OffsetDateTime::now_utc();
                let (n, key) =
                    crate::audit::export_to_object_store(&store, location, std::env::vars(), now)
                        .await?;
                eprintln!("{n} audit rows exported to {key}");
                store.close().await;
                return Ok(());
            }
            let n = match &out {
                Some(path) => {
                    let file = std::fs::File::create(path)
                        .with_context(|| format!("creating {}", path.display()))?;
                    let mut w = std::io::BufWriter::new(file);
                    let n = crate::audit::export(&store, &mut w).await?;
                    std::io::Write::flush(&mut w)?;
                    n
                }
                None => crate::audit::export(&store, &mut std::io::stdout().lock()).await?,
            };
            eprintln!("{n} audit rows exported");
            Ok(())
        }
    };
    store.close().await;
    result
}

async fn open_store(config: &Config) -> anyhow::Result<Store> {
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating data directory {}", config.data_dir.display()))?;
    let store = Store::connect(&config.database())
        .await
        .context("connecting to the database")?;
    store.migrate().await.context("applying migrations")?;
    Ok(store)
}

async fn migrate(config: Config) -> anyhow::Result<()> {
    let store = open_store(&config).await?;
    println!("migrations applied ({})", store.backend());
    store.close().await;
    Ok(())
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let store = open_store(&config).await?;
    let key = SigningKey::load_or_create(&config.data_dir).context("loading the signing key")?;
    let agent_keys = AgentKeyring::load_or_create(&config.data_dir.join(AGENT_KEYS_DIR))
        .context("loading the agent-token keyring")?;
    let state = AppState::new(
        &config,
        store.clone(),
        Arc::new(key),
        agent_keys,
        Arc::new(SystemClock),
    )
    .context("setting up password hashing")?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("binding {}", config.listen))?;
    let addr = listener.local_addr().context("reading the bound address")?;
    tracing::info!(%addr, backend = %store.backend(), "fdt-cloud serving");
    // One stdout line that scripts and tests wait for (logs go to stderr).
    println!("fdt-cloud listening on http://{addr}");
    std::io::stdout().flush().ok();

    let shutdown = crate::shutdown::cancel_on_signal("shutting down");
    crate::server::run(listener, state, shutdown)
        .await
        .context("serving HTTP")?;
    store.close().await;
    Ok(())
}

fn init_logging(format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}
