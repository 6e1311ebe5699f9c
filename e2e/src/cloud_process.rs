//! The control plane as a real `fdt-cloud serve` process, for stories where it must die the
//! hard way (SIGKILL: no request finishes, no connection closes politely) and come back on the
//! same address, database and signing keys, as a restarted server would.
//!
//! Like the relay binary, it is not built by `cargo nextest run -p fdt-e2e`: build it first
//! with `cargo build --bins` (same profile and target directory). Its data directory (SQLite
//! database, keys), config and log live in a temporary directory kept when a test fails.

use crate::cloud::RELAY_SECRET;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// How long the process gets to migrate its database and listen.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// Environment variables of the cloud binary that would override the test's config file.
const CLOUD_ENV: [&str; 3] = ["FDT_CLOUD_CONFIG", "FDT_DATABASE_URL", "FDT_RELAY_SECRETS"];

/// A running `fdt-cloud serve`; SIGKILLed when dropped.
pub struct CloudProcess {
    child: Child,
    /// Base URL (`http://127.0.0.1:PORT`), the same across restarts.
    pub url: String,
    addr: SocketAddr,
    /// The process's stderr (its log).
    pub log: PathBuf,
    dir: tempfile::TempDir,
}

impl CloudProcess {
    /// Starts a control plane on SQLite in a new directory, with one relay secret
    /// ([`RELAY_SECRET`]), cheap password hashing and `fleet` (a TOML table's body, e.g.
    /// `heartbeat_secs = 1`), listening on a free port.
    pub async fn start(fleet: &str) -> anyhow::Result<Self> {
        Self::start_on(None, fleet).await
    }

    /// [`CloudProcess::start`] on the database at `database_url` (SQLite in its directory
    /// when `None`).
    pub async fn start_on(database_url: Option<&str>, fleet: &str) -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("fdt-e2e-cloud-")
            .tempdir()?;
        let database = database_url
            .map(|u| format!("database_url = {u:?}\n"))
            .unwrap_or_default();
        let config = format!(
            "{database}data_dir = {data:?}\nrelay_secrets = [{RELAY_SECRET:?}]\n\n\
             [auth.argon2]\nmemory_kib = 8\niterations = 1\nparallelism = 1\n\n[fleet]\n{fleet}\n",
            data = dir.path().join("data").display().to_string(),
        );
        std::fs::write(dir.path().join("cloud.toml"), config)?;
        Self::launch(dir).await
    }

    /// Another replica of this control plane: the same database and configuration, with
    /// copies of its signing keys (access tokens, agent tokens, sealed domain keys: what a
    /// deployment mounts into every replica) in a data directory of its own, on a new port.
    /// Only meaningful on PostgreSQL (a SQLite file belongs to one process).
    pub async fn replica(&self) -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("fdt-e2e-cloud-")
            .tempdir()?;
        let (from, to) = (self.dir.path().join("data"), dir.path().join("data"));
        std::fs::create_dir_all(to.join(fdt_cloud::auth::agent_keys::AGENT_KEYS_DIR))?;
        for entry in std::fs::read_dir(from.join(fdt_cloud::auth::agent_keys::AGENT_KEYS_DIR))? {
            let entry = entry?;
            let name = std::path::Path::new(fdt_cloud::auth::agent_keys::AGENT_KEYS_DIR)
                .join(entry.file_name());
            std::fs::copy(entry.path(), to.join(name))?;
        }
        for file in [fdt_cloud::auth::jwt::SIGNING_KEY_FILE, "domain-keys.key"] {
            std::fs::copy(from.join(file), to.join(file))?;
        }
        let original = std::fs::read_to_string(self.dir.path().join("cloud.toml"))?;
        let own_dir = format!("data_dir = {:?}", from.display().to_string());
        // Sharing the first one's data directory would hide a key the replicas fail to share.
        anyhow::ensure!(
            original.contains(&own_dir),
            "the first replica's config has no {own_dir}"
        );
        let config = original.replace(
            &own_dir,
            &format!("data_dir = {:?}", to.display().to_string()),
        );
        std::fs::write(dir.path().join("cloud.toml"), config)?;
        Self::launch(dir).await
    }

    /// Starts the process configured in `dir` on a free port.
    async fn launch(dir: tempfile::TempDir) -> anyhow::Result<Self> {
        let log = dir.path().join("cloud.log");
        let any = SocketAddr::from(([127, 0, 0, 1], 0));
        let (child, addr) = spawn(dir.path(), &log, any).await?;
        Ok(Self {
            child,
            url: format!("http://{addr}"),
            addr,
            log,
            dir,
        })
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// SIGKILLs the process and reaps it.
    pub async fn kill(&mut self) -> anyhow::Result<()> {
        self.child.kill().await?;
        Ok(())
    }

    /// Starts the process again on the same address, database and keys (after
    /// [`CloudProcess::kill`]).
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        let (child, addr) = spawn(self.dir.path(), &self.log, self.addr).await?;
        anyhow::ensure!(addr == self.addr, "came back on {addr}, not {}", self.addr);
        self.child = child;
        Ok(())
    }

    /// The log so far (both runs).
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for CloudProcess {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
        if std::thread::panicking() {
            self.dir.disable_cleanup(true);
            eprintln!("cloud kept: {}", self.log.display());
        }
    }
}

/// Runs `fdt-cloud --config DIR/cloud.toml serve --listen ADDR`, appending its log to `log`,
/// and waits (bounded) for the line saying where it listens.
async fn spawn(
    dir: &std::path::Path,
    log: &std::path::Path,
    listen: SocketAddr,
) -> anyhow::Result<(Child, SocketAddr)> {
    let bin = crate::workspace_binary("fdt-cloud")?;
    let stderr = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)?;
    let mut cmd = Command::new(&bin);
    cmd.arg("--config")
        .arg(dir.join("cloud.toml"))
        .args(["serve", "--listen", &listen.to_string()])
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(stderr)
        .kill_on_drop(true);
    for var in CLOUD_ENV {
        cmd.env_remove(var);
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| anyhow::anyhow!("starting {}: {e}", bin.display()))?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| anyhow::anyhow!("no stdout"))?;
    let mut lines = BufReader::new(stdout).lines();
    let listening = tokio::time::timeout(START_TIMEOUT, async {
        while let Some(line) = lines.next_line().await? {
            if let Some(url) = line.strip_prefix("fdt-cloud listening on http://") {
                return Ok(url.trim().parse::<SocketAddr>()?);
            }
        }
        anyhow::bail!("fdt-cloud exited before listening")
    })
    .await;
    match listening {
        Ok(Ok(addr)) => {
            // Keep reading stdout so the process never blocks on a full pipe.
            tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
            Ok((child, addr))
        }
        Ok(Err(e)) => anyhow::bail!("{e}; log:\n{}", std::fs::read_to_string(log)?),
        Err(_) => anyhow::bail!(
            "fdt-cloud did not listen within {START_TIMEOUT:?}; log:\n{}",
            std::fs::read_to_string(log)?
        ),
    }
}
