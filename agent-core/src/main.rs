//! `fdt`: expose local services through a FlyingDarkDevTunnel relay.

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use fdt_agent_core::api::ApiAccess;
use fdt_agent_core::config::{ConfigFile, ResolvedTunnel, TunnelConfig, default_config_path};
use fdt_agent_core::tunnel_flags::TunnelFlags;
use fdt_agent_core::{AgentOptions, CloudLogin, Connect, InspectConfig, Inspector, RelayTarget};
use fdt_proto::Proto;
use std::io::IsTerminal;
use std::path::PathBuf;

// Capture allocates a few small buffers per exchange; mimalloc's thread-local free lists make
// that (and hyper's own per-request allocations) markedly cheaper than glibc's malloc.
// fdt_alloc commits its arenas on demand, which keeps the idle footprint small.
#[global_allocator]
static GLOBAL: fdt_alloc::MiMalloc = fdt_alloc::MiMalloc;

#[derive(Parser, Debug)]
#[command(
    name = "fdt",
    version,
    about = "Expose local services through a FlyingDarkDevTunnel relay"
)]
struct Cli {
    /// Authtoken (or FDT_AUTHTOKEN, or `authtoken` in the config file). With an API URL it is
    /// exchanged there for a relay token; without one it is the relay token itself.
    #[arg(long, env = "FDT_AUTHTOKEN", global = true, hide_env_values = true)]
    authtoken: Option<String>,
    /// Control-plane API URL (or `api_url` in the config file): exchange the authtoken there
    /// before each connect and use the relays it lists. Without it, `--relay` is used directly.
    #[arg(long, env = "FDT_API_URL", global = true)]
    api_url: Option<String>,
    /// Preferred relay region (with an API URL).
    #[arg(long, global = true)]
    region: Option<String>,
    /// Keep a second session on another relay with the same tunnels bound (with an API
    /// URL): visitors keep being served when either relay dies.
    #[arg(long, env = "FDT_HA", global = true)]
    ha: bool,
    /// Relay address host:port (UDP).
    #[arg(long, env = "FDT_RELAY", global = true)]
    relay: Option<String>,
    /// Extra CA certificate (PEM) trusted for the relay, e.g. a dev relay's CA.
    #[arg(long, env = "FDT_RELAY_CA", global = true)]
    relay_ca: Option<PathBuf>,
    /// Name expected in the relay's certificate (default: its host, or localhost for an IP).
    #[arg(long, global = true)]
    relay_name: Option<String>,
    /// Configuration file (default: ~/.config/fdt/fdt.toml when present).
    #[arg(long, env = "FDT_CONFIG", global = true)]
    config: Option<PathBuf>,
    /// Local API address, or "off". Beyond loopback it needs --api-allow-remote and
    /// --api-auth.
    #[arg(long, default_value = "127.0.0.1:4040", global = true)]
    api_addr: String,
    /// Serve the local API and inspector on a non-loopback --api-addr (other machines can then
    /// read your traffic and replay requests, so --api-auth is required).
    #[arg(long, global = true)]
    api_allow_remote: bool,
    /// HTTP Basic credentials USER:PASS for the local API (or FDT_API_AUTH, or `api_auth` in
    /// the config file); asked of every request when set.
    #[arg(long, env = "FDT_API_AUTH", global = true, hide_env_values = true)]
    api_auth: Option<String>,
    /// Capture traffic for the inspector and `/api/requests` (`--inspect=false` turns capture
    /// off entirely; default on, or `inspect` in the config file).
    #[arg(long, env = "FDT_INSPECT", global = true, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    inspect: Option<bool>,
    /// Inspection database file, or "memory" (default: $XDG_DATA_HOME/fdt/inspect.db).
    #[arg(long, global = true)]
    inspect_db: Option<String>,
    /// Log format.
    #[arg(long, value_enum, default_value = "text", global = true)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Expose a local HTTP service: a port, host:port or http(s):// URL.
    Http {
        /// Local address.
        addr: String,
        /// Share the subdomain with your other agents that also pass this flag; the relay
        /// balances requests across them.
        #[arg(long)]
        pooling_enabled: bool,
        #[command(flatten)]
        opts: TunnelFlags,
    },
    /// Expose a local TCP service on a public port.
    Tcp {
        /// Local address.
        addr: String,
        /// Public port to ask for.
        #[arg(long)]
        remote_port: Option<u16>,
        #[command(flatten)]
        opts: TunnelFlags,
    },
    /// Expose a local TLS service; the relay routes by SNI without terminating TLS.
    Tls {
        /// Local address.
        addr: String,
        /// Share the subdomain with your other agents that also pass this flag; the relay
        /// balances connections across them.
        #[arg(long)]
        pooling_enabled: bool,
        #[command(flatten)]
        opts: TunnelFlags,
    },
    /// Start tunnels defined in the config file (all of them when no name is given).
    Start {
        /// Tunnel names.
        names: Vec<String>,
        /// Run the account's cloud-managed tunnels (defined in the console or at
        /// /v1/tunnel-configs), applying every change live; local tunnels start only when
        /// named. Needs --api-url or `api_url`.
        #[arg(long)]
        managed: bool,
    },
    /// Sign this machine in through the browser (device sign-in, needs --api-url or
    /// `api_url`): saves a new authtoken in the config file.
    Login {
        /// Print the link instead of opening a browser.
        #[arg(long)]
        no_browser: bool,
    },
    /// Edit the configuration file.
    Config {
        #[command(subcommand)]
        action: ConfigAction,
    },
    Service(fdt_agent_core::service::ServiceArgs),
}

#[derive(Subcommand, Debug)]
enum ConfigAction {
    /// Save an authtoken in the config file (~/.config/fdt/fdt.toml unless --config).
    AddAuthtoken {
        /// The authtoken.
        token: String,
    },
}

/// Where `fdt config` and `fdt login` write: `--config`, else the default location.
fn config_path(cli: &Cli) -> anyhow::Result<PathBuf> {
    cli.config
        .clone()
        .or_else(default_config_path)
        .context("no config file location: set HOME or pass --config")
}

fn load_file(cli: &Cli) -> anyhow::Result<ConfigFile> {
    match &cli.config {
        Some(p) => Ok(ConfigFile::load(p)?),
        None => match default_config_path() {
            Some(p) if p.exists() => Ok(ConfigFile::load(&p)?),
            _ => Ok(ConfigFile::default()),
        },
    }
}

fn tunnels(cli: Cli, file: &ConfigFile) -> anyhow::Result<Vec<ResolvedTunnel>> {
    let list: Vec<(String, TunnelConfig)> = match cli.command {
        Command::Http {
            addr,
            pooling_enabled,
            opts,
        } => vec![opts.into_config(Proto::Http, addr, None, pooling_enabled)],
        Command::Tcp {
            addr,
            remote_port,
            opts,
        } => vec![opts.into_config(Proto::Tcp, addr, remote_port, false)],
        Command::Tls {
            addr,
            pooling_enabled,
            opts,
        } => vec![opts.into_config(Proto::Tls, addr, None, pooling_enabled)],
        Command::Config { .. } | Command::Login { .. } | Command::Service(_) => {
            bail!("`fdt config`, `fdt login` and `fdt service` start no tunnels")
        }
        Command::Start { names, managed } if managed && names.is_empty() => Vec::new(),
        Command::Start { names, .. } => {
            if file.tunnels.is_empty() {
                bail!("no tunnels defined: add [tunnels.NAME] tables to the config file");
            }
            if names.is_empty() {
                file.tunnels
                    .iter()
                    .map(|(n, t)| (n.clone(), t.clone()))
                    .collect()
            } else {
                names
                    .iter()
                    .map(|n| {
                        file.tunnels
                            .get(n)
                            .map(|t| (n.clone(), t.clone()))
                            .with_context(|| format!("no tunnel named {n:?} in the config file"))
                    })
                    .collect::<anyhow::Result<_>>()?
            }
        }
    };
    Ok(list
        .iter()
        .map(|(n, t)| t.resolve(n))
        .collect::<Result<_, _>>()?)
}

/// The inspection set-up from flags and the config file; `None` when inspection is off.
fn inspect_config(cli: &Cli, file: &ConfigFile) -> Option<InspectConfig> {
    if !cli.inspect.or(file.inspect).unwrap_or(true) {
        return None;
    }
    let db_path = match cli.inspect_db.as_deref() {
        Some("memory") => None,
        Some(p) => Some(PathBuf::from(p)),
        None => file
            .inspect_db_path
            .clone()
            .or_else(fdt_agent_core::inspect::default_db_path),
    };
    let defaults = InspectConfig::default();
    Some(InspectConfig {
        db_path,
        db_max_bytes: file.inspect_db_max_bytes.unwrap_or(defaults.db_max_bytes),
        body_cap: file.inspect_body_max_bytes.unwrap_or(defaults.body_cap),
        ..defaults
    })
}

/// Opens the inspection store; when its file cannot be used (e.g. another agent holds it),
/// keeps inspecting in memory instead of refusing to start.
async fn open_inspector(cfg: InspectConfig) -> anyhow::Result<Inspector> {
    match Inspector::open(&cfg).await {
        Ok(i) => Ok(i),
        Err(e) if cfg.db_path.is_some() => {
            tracing::warn!(error = %e, "inspection database unavailable; keeping captures in memory");
            let memory = InspectConfig {
                db_path: None,
                ..cfg
            };
            Ok(Inspector::open(&memory)
                .await
                .context("opening the in-memory inspection store")?)
        }
        Err(e) => Err(e).context("opening the in-memory inspection store"),
    }
}

/// Who may use the local API, checked before anything starts.
fn check_api_access(cli: &Cli, file: &ConfigFile) -> anyhow::Result<ApiAccess> {
    let credentials = cli
        .api_auth
        .as_deref()
        .or_else(|| file.api_auth.as_ref().map(|s| s.0.as_str()))
        .map(str::parse)
        .transpose()?;
    Ok(ApiAccess::check(
        &cli.api_addr,
        cli.api_allow_remote,
        credentials,
    )?)
}

/// One runtime thread. The agent's work is one QUIC connection, whose driver is a single task
/// anyway, plus the exchanges it carries: on one thread every hand-off between those tasks is
/// a local wake instead of a cross-thread one (futex, context switch). Measured beside the
/// multi-threaded runtime (issue 13, wrk 1 KiB at 32 connections through the tunnel, 2
/// cores): the agent's CPU per request fell from 24–27 to 19–21 µs and its RSS by 3 MiB, with
/// req/s, p99 and iperf3 throughput equal or better. Blocking work (SQLite through sqlx,
/// terminal writes) runs on threads of its own.
#[tokio::main(flavor = "current_thread")]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    if let Command::Service(args) = &cli.command {
        return fdt_agent_core::service::run(args, cli.config.as_deref());
    }
    let Err(e) = run(cli).await else {
        return std::process::ExitCode::SUCCESS;
    };
    eprintln!("fdt: {e:#}");
    std::process::ExitCode::FAILURE
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_from_env("FDT_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let tty = std::io::stdout().is_terminal();
    let b = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match cli.log_format {
        LogFormat::Json => b.json().init(),
        // On a terminal the status view owns the screen; keep only warnings on stderr.
        LogFormat::Text if tty => b.with_max_level(tracing::Level::WARN).init(),
        LogFormat::Text => b.init(),
    }
    if let Command::Config {
        action: ConfigAction::AddAuthtoken { token },
    } = &cli.command
    {
        let path = config_path(&cli)?;
        fdt_agent_core::config_edit::set_authtoken(&path, token)?;
        println!("Authtoken saved to configuration file: {}", path.display());
        return Ok(());
    }
    if let Command::Login { no_browser } = &cli.command {
        let path = config_path(&cli)?;
        fdt_agent_core::login::run(cli.api_url.as_deref(), &path, !no_browser).await?;
        return Ok(());
    }
    let file = load_file(&cli)?;
    let api_access = check_api_access(&cli, &file)?;
    let token = cli
        .authtoken
        .clone()
        .or_else(|| file.authtoken.as_ref().map(|s| s.0.clone()))
        .context("no authtoken: run `fdt config add-authtoken TOKEN`, pass --authtoken, or set FDT_AUTHTOKEN")?;
    let ca_file = cli.relay_ca.clone().or_else(|| file.relay_ca.clone());
    let connect = match cli.api_url.clone().or_else(|| file.api_url.clone()) {
        Some(api_url) => Connect::Cloud(CloudLogin {
            api_url,
            authtoken: token,
            region: cli.region.clone().or_else(|| file.region.clone()),
            relay_ca: ca_file,
        }),
        None => Connect::Relay {
            relay: RelayTarget {
                addr: cli
                    .relay
                    .clone()
                    .or_else(|| file.relay.clone())
                    .unwrap_or_else(|| "127.0.0.1:7443".into()),
                server_name: cli.relay_name.clone(),
                ca_file,
            },
            token,
        },
    };
    let api_addr = cli.api_addr.clone();
    let full_screen = tty && cli.log_format == LogFormat::Text;
    let inspector = match inspect_config(&cli, &file) {
        Some(cfg) => {
            cfg.validate()?;
            Some(open_inspector(cfg).await?)
        }
        None => None,
    };
    let managed = matches!(cli.command, Command::Start { managed: true, .. });
    if managed && !matches!(connect, Connect::Cloud(_)) {
        bail!(
            "--managed needs the control plane: pass --api-url or set api_url in the config file"
        );
    }
    if cli.ha && !matches!(connect, Connect::Cloud(_)) {
        bail!("--ha needs the control plane: pass --api-url or set api_url in the config file");
    }
    let ha = cli.ha;
    let tunnels = tunnels(cli, &file)?;
    let (handle, join) = fdt_agent_core::spawn_with(
        AgentOptions {
            connect,
            tunnels,
            managed,
            ha,
        },
        inspector,
    );
    let api = fdt_agent_core::api::bind(&api_addr)
        .await
        .with_context(|| format!("--api-addr {api_addr:?}"))?;
    let api_shown = api
        .as_ref()
        .and_then(|l| l.local_addr().ok())
        .map(|a| a.to_string());
    if let Some(l) = api {
        tokio::spawn(fdt_agent_core::api::serve_with(
            l,
            handle.clone(),
            api_access,
            handle.shutdown.clone(),
        ));
    }
    tokio::spawn(fdt_agent_core::status_view::run(
        handle.status.clone(),
        handle.counters.clone(),
        api_shown,
        full_screen,
        handle.shutdown.clone(),
    ));
    let shutdown = handle.shutdown.clone();
    tokio::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        shutdown.cancel();
    });
    #[cfg(unix)]
    {
        let shutdown = handle.shutdown.clone();
        if let Ok(mut term) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            tokio::spawn(async move {
                term.recv().await;
                shutdown.cancel();
            });
        }
    }
    // Like ngrok: when the relay refuses every tunnel (name taken, not allowed…), there is
    // nothing left to serve, so stop with the relay's reason instead of idling.
    let mut watch = handle.status.clone();
    let refused = tokio::spawn(async move {
        let s = watch
            .wait_for(|s| !s.tunnels.is_empty() && s.tunnels.iter().all(|t| t.error.is_some()))
            .await
            .ok()?
            .clone();
        Some(
            s.tunnels
                .iter()
                .map(|t| format!("{}: {}", t.name, t.error.clone().unwrap_or_default()))
                .collect::<Vec<_>>()
                .join("; "),
        )
    });
    let refused_shutdown = handle.shutdown.clone();
    let refused = tokio::spawn(async move {
        let r = refused.await.ok().flatten();
        if r.is_some() {
            refused_shutdown.cancel();
        }
        r
    });
    let result = join.await.context("agent task panicked")?;
    if refused.is_finished()
        && let Ok(Some(why)) = refused.await
    {
        bail!("relay refused the tunnel: {why}");
    }
    handle.shutdown.cancel();
    if full_screen {
        // Leave the terminal tidy after the full-screen view.
        println!();
    }
    Ok(result?)
}
