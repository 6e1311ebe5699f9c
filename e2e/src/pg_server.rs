//! A PostgreSQL server of the test's own (`scripts/pg-test-server.sh`), for stories that crash
//! the database: the shared test server (`FDT_TEST_PG_URL`) serves other tests at the same
//! time and must stay up. Stopped and deleted when dropped.

use std::path::PathBuf;
use tokio::process::Command;

/// A throwaway PostgreSQL server.
pub struct PgServer {
    /// `postgres://postgres@127.0.0.1:PORT/postgres`.
    pub url: String,
    envfile: PathBuf,
    _dir: tempfile::TempDir,
}

impl PgServer {
    /// Starts a new server on a free port (Debian's `postgresql` binaries must be installed:
    /// the test command installs them), whose commits survive [`PgServer::down`].
    pub async fn start() -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let envfile = dir.path().join("pg.env");
        script("start", &envfile).await?;
        let env = std::fs::read_to_string(&envfile)?;
        let url = env
            .lines()
            .find_map(|l| l.strip_prefix("FDT_TEST_PG_URL="))
            .ok_or_else(|| anyhow::anyhow!("no FDT_TEST_PG_URL in {}", envfile.display()))?
            .to_owned();
        Ok(Self {
            url,
            envfile,
            _dir: dir,
        })
    }

    /// Crashes the server (immediate stop: open transactions are lost, nothing is flushed).
    pub async fn down(&self) -> anyhow::Result<()> {
        script("down", &self.envfile).await
    }

    /// Starts it again on the same port, after crash recovery.
    pub async fn up(&self) -> anyhow::Result<()> {
        script("up", &self.envfile).await
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        let _ = std::process::Command::new(script_path())
            .args(["stop", &self.envfile.display().to_string()])
            .status();
    }
}

fn script_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/pg-test-server.sh")
}

async fn script(cmd: &str, envfile: &std::path::Path) -> anyhow::Result<()> {
    let out = Command::new(script_path())
        .arg(cmd)
        .arg(envfile)
        // Durable commits: a crash must lose nothing committed, as on a real server (the
        // shared test server commits asynchronously, for speed).
        .env("FDT_TEST_PG_DURABLE", "1")
        .output()
        .await?;
    anyhow::ensure!(
        out.status.success(),
        "pg-test-server.sh {cmd}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}
