//! Real `fdt-relay` processes, for stories where a relay must die the hard way (SIGKILL).
//!
//! The binary is not built by `cargo nextest run -p fdt-e2e`; build it first with
//! `cargo build -p fdt-relay --bin fdt-relay` (same profile and target directory). Every
//! listener is on `127.0.0.1:0`; the addresses actually bound are read back from the relay's
//! JSON log line "relay listening". The log (stderr) goes to a file kept in the relay's
//! directory, and is shown when the relay fails to start.

use fdt_relay::tls::DevCa;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// How long a relay gets to bind its listeners.
const START_TIMEOUT: Duration = Duration::from_secs(20);
/// The admin listener's bearer token (required off loopback; sent by [`RelayProcess::metrics`]).
const ADMIN_TOKEN: &str = "e2e-relay-admin-token";
/// Environment variables of the relay binary that would override the test's config file.
const RELAY_ENV: [&str; 5] = [
    "FDT_RELAY_CONFIG",
    "FDT_RELAY_DATA_DIR",
    "FDT_RELAY_JWKS_URL",
    "FDT_RELAY_CLOUD_URL",
    "FDT_RELAY_SECRET",
];

/// A certificate and key, as PEM files, that every relay of a test serves.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// Chain: leaf, then the CA.
    pub cert: PathBuf,
    /// The leaf's private key (PKCS#8).
    pub key: PathBuf,
    /// The CA certificate agents trust.
    pub ca: PathBuf,
}

impl TlsFiles {
    /// Issues a certificate for `names` from a new dev CA in `dir` and writes it there.
    pub fn issue(dir: &Path, names: &[String]) -> anyhow::Result<Self> {
        let ca = DevCa::load_or_create(&dir.join("dev-ca"))?;
        let (chain, key) = ca.issue(names)?;
        let cert = dir.join("relay-cert.pem");
        let key_path = dir.join("relay-key.pem");
        std::fs::write(&cert, chain_pem(&chain))?;
        fdt_api::private_file::write_private(&key_path, key_pem(&key)?.as_bytes())?;
        Ok(Self {
            cert,
            key: key_path,
            ca: ca.ca_path(),
        })
    }
}

/// What a relay process is told; everything else is the test default (loopback, port 0).
#[derive(Debug, Clone)]
pub struct RelayProcessOptions {
    /// `relay_id`.
    pub relay_id: String,
    /// `region`.
    pub region: String,
    /// Control plane base URL (`jwks_url` is derived from it).
    pub cloud_url: String,
    /// `relay_secret`.
    pub relay_secret: String,
    /// Certificate served to agents and visitors.
    pub tls: TlsFiles,
    /// `[limits] heartbeat_ms` (agent heartbeats).
    pub heartbeat_ms: u64,
    /// `[limits] agent_idle_timeout_ms`.
    pub agent_idle_timeout_ms: u64,
    /// Whether to run the HTTPS edge. Without it, HTTP tunnels' public URLs are `http://`
    /// URLs on the HTTP edge.
    pub https_edge: bool,
    /// `advertise_agent_addr`: where the cloud sends agents, when not to the relay's own
    /// socket (an impairment proxy in front of it).
    pub advertise_agent_addr: Option<std::net::SocketAddr>,
    /// The address every listener binds (port 0 each): loopback, or a network namespace's.
    pub bind_ip: std::net::IpAddr,
    /// Run inside this network namespace (`ip netns exec`; see [`crate::netns`]).
    pub netns: Option<String>,
    /// `tcp_forward` on this TCP port range (first, last): the relay listens on all of it
    /// on `bind_ip`.
    pub tcp_forward: Option<(u16, u16)>,
}

impl RelayProcessOptions {
    /// A relay `id` in `region` of the control plane at `cloud_url` ([`crate::cloud::RELAY_SECRET`]),
    /// serving `tls`, with the fleet stories' fast timing: agent heartbeats every 500 ms, 3 s
    /// idle timeout; no HTTPS edge, agents told its own address.
    pub fn fleet(id: &str, region: &str, cloud_url: &str, tls: &TlsFiles) -> Self {
        Self {
            relay_id: id.into(),
            region: region.into(),
            cloud_url: cloud_url.into(),
            relay_secret: crate::cloud::RELAY_SECRET.into(),
            tls: tls.clone(),
            heartbeat_ms: 500,
            agent_idle_timeout_ms: 3_000,
            https_edge: false,
            advertise_agent_addr: None,
            bind_ip: std::net::Ipv4Addr::LOCALHOST.into(),
            netns: None,
            tcp_forward: None,
        }
    }
}

/// A running `fdt-relay` process; SIGKILLed when dropped.
#[derive(Debug)]
pub struct RelayProcess {
    child: Child,
    /// Relay ID it registers as.
    pub id: String,
    /// UDP address agents connect to.
    pub agent_addr: SocketAddr,
    /// Plain-HTTP edge.
    pub http_addr: SocketAddr,
    /// HTTPS edge, when it runs.
    pub https_addr: Option<SocketAddr>,
    /// Admin listener (`/metrics`, `/healthz`).
    pub admin_addr: Option<SocketAddr>,
    /// The relay's stderr.
    pub log: PathBuf,
    dir: tempfile::TempDir,
}

impl RelayProcess {
    /// Starts `fdt-relay --config` with `opts` and waits (bounded) until it listens.
    pub async fn start(opts: &RelayProcessOptions) -> anyhow::Result<Self> {
        let bin = relay_binary()?;
        let dir = tempfile::Builder::new()
            .prefix(&format!("fdt-e2e-{}-", opts.relay_id))
            .tempdir()?;
        let config = dir.path().join("relay.toml");
        std::fs::write(&config, config_toml(opts, dir.path()))?;
        let log = dir.path().join("relay.log");
        // `ip netns exec` execs the relay in place: the child's PID is the relay's.
        let mut cmd = match &opts.netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns]).arg(&bin);
                c
            }
            None => Command::new(&bin),
        };
        cmd.arg("--config")
            .arg(&config)
            .arg("--log-format")
            .arg("json")
            .args(if opts.https_edge {
                &[][..]
            } else {
                &["--https-listen", "off"][..]
            })
            .env("FDT_LOG", log_filter())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log)?);
        for var in RELAY_ENV {
            cmd.env_remove(var);
        }
        let child = cmd
            .spawn()
            .map_err(|e| anyhow::anyhow!("starting {}: {e}", bin.display()))?;
        let unknown = SocketAddr::from(([0, 0, 0, 0], 0));
        let mut relay = Self {
            child,
            id: opts.relay_id.clone(),
            agent_addr: unknown,
            http_addr: unknown,
            https_addr: None,
            admin_addr: None,
            log,
            dir,
        };
        let (agent, http, https, admin) = relay.wait_listening().await?;
        relay.agent_addr = agent;
        relay.admin_addr = admin;
        relay.http_addr =
            http.ok_or_else(|| anyhow::anyhow!("relay {} has no HTTP edge", relay.id))?;
        relay.https_addr = https;
        Ok(relay)
    }

    /// `http://NAME.localhost:PORT{path}` on this relay's HTTP edge.
    pub fn http_url(&self, sub: &str, path: &str) -> String {
        format!(
            "http://{sub}.{}:{}{path}",
            crate::stack::BASE_DOMAIN,
            self.http_addr.port()
        )
    }

    /// SIGTERMs the process (the relay drains in-flight exchanges, then tells agents to go
    /// away) and waits, at most `limit`, for it to exit; its exit status.
    pub async fn terminate(&mut self, limit: Duration) -> anyhow::Result<std::process::ExitStatus> {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status()?;
        anyhow::ensure!(sent.success(), "kill -TERM {pid} failed");
        let deadline = std::time::Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Ok(status);
            }
            anyhow::ensure!(
                std::time::Instant::now() < deadline,
                "relay {} still running {limit:?} after SIGTERM",
                self.id
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// SIGKILLs the process and reaps it: no goodbye to agents or to the cloud.
    pub fn kill(&mut self) -> anyhow::Result<()> {
        self.child.kill()?;
        self.child.wait()?;
        Ok(())
    }

    /// How many file descriptors the process has open now, not counting TCP connections on
    /// `ports` (e.g. the control plane's, which its HTTP client pools open and close).
    pub fn open_fds_except_ports(&self, ports: &[u16]) -> anyhow::Result<usize> {
        crate::procfs::open_fds_except_ports(&self.child.id().to_string(), ports)
    }

    /// CPU time the relay has used so far, in seconds.
    pub fn cpu_seconds(&self) -> anyhow::Result<f64> {
        crate::procfs::cpu_seconds(&self.child.id().to_string())
    }

    /// The admin listener's `/metrics` text.
    pub async fn metrics(&self) -> anyhow::Result<String> {
        let admin = self
            .admin_addr
            .ok_or_else(|| anyhow::anyhow!("relay {} has no admin listener", self.id))?;
        let r = reqwest::Client::new()
            .get(format!("http://{admin}/metrics"))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await?;
        anyhow::ensure!(r.status() == 200, "GET /metrics: {}", r.status());
        Ok(r.text().await?)
    }

    /// One series' value from [`RelayProcess::metrics`] (e.g. `fdt_relay_agent_sessions`).
    pub async fn metric(&self, series: &str) -> anyhow::Result<f64> {
        let text = self.metrics().await?;
        crate::prom::value(&text, series)
            .ok_or_else(|| anyhow::anyhow!("relay {}: no series {series}", self.id))
    }

    /// The relay's log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    async fn wait_listening(&mut self) -> anyhow::Result<Bound> {
        let deadline = tokio::time::Instant::now() + START_TIMEOUT;
        loop {
            if let Some(addrs) = self.log_text().lines().find_map(listening_line) {
                return addrs;
            }
            if let Some(status) = self.child.try_wait()? {
                anyhow::bail!(
                    "relay {} exited ({status}) before listening; its log:\n{}",
                    self.id,
                    self.log_text()
                );
            }
            if tokio::time::Instant::now() >= deadline {
                anyhow::bail!(
                    "relay {} did not report its listeners within {START_TIMEOUT:?}; its log:\n{}",
                    self.id,
                    self.log_text()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for RelayProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // A failing test keeps the relay's config, data and log for a post-mortem.
        if std::thread::panicking() {
            self.dir.disable_cleanup(true);
            eprintln!("relay {} kept: {}", self.id, self.log.display());
        }
    }
}

/// `target/<profile>/fdt-relay`, next to the directory holding the test executable.
pub fn relay_binary() -> anyhow::Result<PathBuf> {
    crate::workspace_binary("fdt-relay")
}

/// The relay logs at `info` (its "relay listening" line is needed); `FDT_LOG` of the test,
/// when set, adds to that.
fn log_filter() -> String {
    match std::env::var("FDT_LOG") {
        Ok(f) if !f.is_empty() => format!("{f},fdt_relay::server=info"),
        _ => "info".into(),
    }
}

fn config_toml(opts: &RelayProcessOptions, dir: &Path) -> String {
    // Debug formatting of strings and paths gives TOML-compatible basic strings here: the
    // values are ASCII test paths and URLs.
    format!(
        r#"relay_id = {id:?}
region = {region:?}
base_domain = "{base}"
data_dir = {data:?}
agent_listen = "{ip}:0"
http_listen = "{ip}:0"
https_listen = "{ip}:0"
admin_listen = "{ip}:0"
admin_token = "{ADMIN_TOKEN}"
tcp_bind_ip = "{ip}"
jwks_url = {jwks:?}
cloud_url = {cloud:?}
relay_secret = {secret:?}
tls_cert = {cert:?}
tls_key = {key:?}
peer_ca = {ca:?}
{advertise}{tcp}
[limits]
heartbeat_ms = {hb}
agent_idle_timeout_ms = {idle}
"#,
        id = opts.relay_id,
        region = opts.region,
        ip = opts.bind_ip,
        base = crate::stack::BASE_DOMAIN,
        data = dir.join("data").display().to_string(),
        jwks = format!("{}/v1/jwks", opts.cloud_url),
        cloud = opts.cloud_url,
        secret = opts.relay_secret,
        cert = opts.tls.cert.display().to_string(),
        key = opts.tls.key.display().to_string(),
        ca = opts.tls.ca.display().to_string(),
        hb = opts.heartbeat_ms,
        idle = opts.agent_idle_timeout_ms,
        advertise = opts
            .advertise_agent_addr
            .map(|a| format!("advertise_agent_addr = \"{a}\"\n"))
            .unwrap_or_default(),
        tcp = opts
            .tcp_forward
            .map(|(min, max)| {
                format!("tcp_forward = true\ntcp_port_min = {min}\ntcp_port_max = {max}\n")
            })
            .unwrap_or_default(),
    )
}

/// The last 8 KiB of each relay's log, headed by its ID and file, for a failure message.
pub fn tail_logs<'a>(relays: impl IntoIterator<Item = &'a RelayProcess>) -> String {
    relays
        .into_iter()
        .map(|r| {
            let text = r.log_text();
            let start = text.len().saturating_sub(8 * 1024);
            let start = (start..text.len())
                .find(|&i| text.is_char_boundary(i))
                .unwrap_or(text.len());
            format!(
                "--- {} log ({}):\n{}",
                r.id,
                r.log.display(),
                &text[start..]
            )
        })
        .collect()
}

/// Agent, HTTP, HTTPS and admin addresses a relay bound.
type Bound = (
    SocketAddr,
    Option<SocketAddr>,
    Option<SocketAddr>,
    Option<SocketAddr>,
);

/// The bound addresses from a JSON log line
/// `{"fields":{"message":"relay listening","agents":"A","http":"Some(B)","https":"None"}}`.
fn listening_line(line: &str) -> Option<anyhow::Result<Bound>> {
    let v: serde_json::Value = serde_json::from_str(line).ok()?;
    let f = &v["fields"];
    if f["message"] != "relay listening" {
        return None;
    }
    // `%addr` logs as `addr`, `?Option<SocketAddr>` as `Some(addr)` or `None`.
    let addr = |key: &str| -> anyhow::Result<Option<SocketAddr>> {
        let raw = f[key]
            .as_str()
            .ok_or_else(|| anyhow::anyhow!("no {key} in {line}"))?;
        if raw == "None" {
            return Ok(None);
        }
        let s = raw
            .strip_prefix("Some(")
            .and_then(|s| s.strip_suffix(')'))
            .unwrap_or(raw);
        s.parse()
            .map(Some)
            .map_err(|e| anyhow::anyhow!("{key} {raw:?} in {line}: {e}"))
    };
    let parsed = || -> anyhow::Result<Bound> {
        let agents = addr("agents")?.ok_or_else(|| anyhow::anyhow!("agents None in {line}"))?;
        Ok((agents, addr("http")?, addr("https")?, addr("admin")?))
    };
    Some(parsed())
}

fn chain_pem(chain: &[CertificateDer<'_>]) -> String {
    chain
        .iter()
        .map(|c| pem_block("CERTIFICATE", c.as_ref()))
        .collect()
}

fn key_pem(key: &PrivateKeyDer<'_>) -> anyhow::Result<String> {
    Ok(rcgen::KeyPair::try_from(key)?.serialize_pem())
}

/// One PEM block: base64 (RFC 4648, padded) in 64-column lines.
fn pem_block(label: &str, der: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut b64 = String::with_capacity(der.len().div_ceil(3) * 4);
    for chunk in der.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                b64.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
            } else {
                b64.push('=');
            }
        }
    }
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use rustls::pki_types::pem::PemObject;

    #[test]
    fn pem_blocks_decode_to_the_same_bytes() {
        let body = |der: &[u8]| pem_block("X", der).lines().nth(1).unwrap().to_owned();
        // RFC 4648 vectors: each remainder's padding.
        assert_eq!(body(b"f"), "Zg==");
        assert_eq!(body(b"fo"), "Zm8=");
        assert_eq!(body(b"foobar"), "Zm9vYmFy");
        // Long enough to wrap, every remainder, decoded by rustls's own PEM reader.
        for len in [1usize, 47, 48, 49, 200] {
            let der: Vec<u8> = (0..len).map(|i| (i * 7 % 256) as u8).collect();
            let pem = pem_block("CERTIFICATE", &der);
            let back = CertificateDer::from_pem_slice(pem.as_bytes()).unwrap();
            assert_eq!(back.as_ref(), der.as_slice(), "length {len}");
        }
    }

    #[test]
    fn listening_line_reads_the_bound_addresses() {
        let line = r#"{"timestamp":"t","level":"INFO","fields":{"message":"relay listening","agents":"127.0.0.1:1","http":"Some(127.0.0.1:2)","https":"None","admin":"Some(127.0.0.1:3)"},"target":"fdt_relay::server"}"#;
        let (a, h, s, m) = listening_line(line).unwrap().unwrap();
        assert_eq!(
            (a.port(), h.map(|h| h.port()), s, m.map(|m| m.port())),
            (1, Some(2), None, Some(3))
        );
        assert!(listening_line(r#"{"fields":{"message":"other"}}"#).is_none());
        assert!(listening_line("not json").is_none());
    }
}
