//! What the desktop app's end-to-end test needs around the real app: a virtual display
//! (Debian's `xvfb`), a D-Bus session bus (the app's single-instance lock lives there), the
//! app's test-hook socket, and readings of the app process (resident memory).

use anyhow::Context as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};

/// The `fdt-desktop` binary: `$FDT_DESKTOP_BIN` (e.g. a release build, for its memory
/// figures), else the one next to the test binaries (`target/debug/fdt-desktop`).
pub fn app_binary() -> anyhow::Result<PathBuf> {
    if let Some(bin) = std::env::var_os("FDT_DESKTOP_BIN").filter(|b| !b.is_empty()) {
        return Ok(PathBuf::from(bin));
    }
    crate::workspace_binary("fdt-desktop")
}

/// An Xvfb server on a free display; stopped when dropped.
pub struct Xvfb {
    /// `:N`.
    pub display: String,
    _child: Child,
}

impl Xvfb {
    /// Starts Xvfb (1280×800, 24-bit) on the first free display from :91.
    pub async fn start() -> anyhow::Result<Self> {
        for n in 91..160 {
            let socket = PathBuf::from(format!("/tmp/.X11-unix/X{n}"));
            let lock = PathBuf::from(format!("/tmp/.X{n}-lock"));
            if socket.exists() || lock.exists() {
                continue;
            }
            let child = Command::new("Xvfb")
                .args([
                    &format!(":{n}"),
                    "-screen",
                    "0",
                    "1280x800x24",
                    "-nolisten",
                    "tcp",
                ])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .kill_on_drop(true)
                .spawn()
                .context("starting Xvfb (apt-get install xvfb)")?;
            let started = Instant::now();
            while started.elapsed() < Duration::from_secs(10) {
                if socket.exists() {
                    return Ok(Self {
                        display: format!(":{n}"),
                        _child: child,
                    });
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            anyhow::bail!("Xvfb :{n} did not start within 10 s");
        }
        anyhow::bail!("no free X display")
    }

    /// Saves a PNG of the whole screen (`xwd` piped to ImageMagick's `convert`).
    pub async fn screenshot(&self, path: &Path) -> anyhow::Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let out = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "xwd -root -silent -display {} | convert xwd:- png:'{}'",
                self.display,
                path.display()
            ))
            .output()
            .await
            .context("xwd | convert (apt-get install x11-apps imagemagick)")?;
        anyhow::ensure!(
            out.status.success() && path.exists(),
            "screenshot failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(())
    }
}

/// A private D-Bus session bus; stopped when dropped.
pub struct SessionBus {
    /// Value for `DBUS_SESSION_BUS_ADDRESS`.
    pub address: String,
    _child: Child,
    _keyring: Option<Child>,
    _dir: tempfile::TempDir,
}

impl SessionBus {
    /// Starts `dbus-daemon --session` on a socket in a temporary directory.
    pub async fn start() -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let socket = dir.path().join("bus");
        let address = format!("unix:path={}", socket.display());
        let child = Command::new("dbus-daemon")
            .args([
                "--session",
                "--nofork",
                "--nopidfile",
                &format!("--address={address}"),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .context("starting dbus-daemon (apt-get install dbus)")?;
        let started = Instant::now();
        while !socket.exists() {
            anyhow::ensure!(
                started.elapsed() < Duration::from_secs(10),
                "dbus-daemon did not start"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(Self {
            address,
            _child: child,
            _keyring: None,
            _dir: dir,
        })
    }

    /// A session bus with an unlocked Secret Service on it (Debian's `gnome-keyring`, its
    /// files in the bus's temporary directory): the OS keyring as a desktop session has it.
    pub async fn start_with_keyring() -> anyhow::Result<Self> {
        let mut bus = Self::start().await?;
        let dir = bus._dir.path().to_path_buf();
        let mut keyring = Command::new("gnome-keyring-daemon")
            .args(["--foreground", "--unlock", "--components=secrets"])
            .env("DBUS_SESSION_BUS_ADDRESS", &bus.address)
            .env("HOME", &dir)
            .env("XDG_DATA_HOME", dir.join("data"))
            .env("XDG_RUNTIME_DIR", &dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .context("starting gnome-keyring-daemon (apt-get install gnome-keyring)")?;
        // --unlock reads the login keyring's password from stdin, up to its end.
        if let Some(mut stdin) = keyring.stdin.take() {
            stdin.write_all(b"fdt-test").await?;
        }
        let started = Instant::now();
        loop {
            let owned = Command::new("dbus-send")
                .args([
                    "--session",
                    "--print-reply",
                    "--dest=org.freedesktop.DBus",
                    "/org/freedesktop/DBus",
                    "org.freedesktop.DBus.NameHasOwner",
                    "string:org.freedesktop.secrets",
                ])
                .env("DBUS_SESSION_BUS_ADDRESS", &bus.address)
                .output()
                .await
                .context("dbus-send")?;
            if String::from_utf8_lossy(&owned.stdout).contains("boolean true") {
                break;
            }
            anyhow::ensure!(
                started.elapsed() < Duration::from_secs(10),
                "the Secret Service did not appear on the session bus"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bus._keyring = Some(keyring);
        Ok(bus)
    }
}

/// Sends one line to the app's test hook (`FDT_DESKTOP_TEST_HOOK`) and returns its answer.
pub async fn hook(socket: &Path, line: &str) -> anyhow::Result<String> {
    let stream = tokio::net::UnixStream::connect(socket)
        .await
        .with_context(|| format!("connecting to {}", socket.display()))?;
    let (read, mut write) = stream.into_split();
    write.write_all(format!("{line}\n").as_bytes()).await?;
    let mut answer = String::new();
    tokio::time::timeout(
        Duration::from_secs(10),
        BufReader::new(read).read_line(&mut answer),
    )
    .await
    .context("the test hook did not answer")??;
    Ok(answer.trim_end().to_string())
}

/// The app's state through the hook.
pub async fn hook_state(socket: &Path) -> anyhow::Result<serde_json::Value> {
    let answer = hook(socket, "state").await?;
    serde_json::from_str(&answer).with_context(|| format!("state answer {answer:?}"))
}

/// Resident memory of process `pid` in KiB (`VmRSS` in /proc).
pub fn rss_kib(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .context("no VmRSS")
}

/// Resident memory of `pid` and all its descendants (WebKit runs its web and network
/// processes as children), in KiB.
pub fn tree_rss_kib(pid: u32) -> anyhow::Result<u64> {
    let mut total = rss_kib(pid)?;
    for child in children(pid) {
        total += tree_rss_kib(child).unwrap_or(0);
    }
    Ok(total)
}

fn children(pid: u32) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return vec![];
    };
    dir.flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("children")).ok())
        .flat_map(|s| {
            s.split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect::<Vec<u32>>()
        })
        .collect()
}

/// A WebDriver session on the Tauri app, through Debian's `WebKitWebDriver` (package
/// webkit2gtk-driver), which launches the app itself. Spoken over plain HTTP, every command
/// with its own timeout, and everything done with scripts (what the app's window is judged
/// on is its DOM): a stuck command fails the test instead of hanging it.
pub struct WebKitSession {
    http: reqwest::Client,
    base: String,
    _driver: Child,
}

/// How long one WebDriver command may take.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(20);

impl WebKitSession {
    /// Starts the driver on a free port and a session on `binary`, whose environment is the
    /// driver's plus `env` (and `TAURI_WEBVIEW_AUTOMATION=true`, which lets WebKit be driven).
    /// The app's log goes to `log`.
    pub async fn start(
        binary: &Path,
        env: &[(String, String)],
        log: &Path,
    ) -> anyhow::Result<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        if let Some(dir) = log.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let driver = Command::new("WebKitWebDriver")
            .arg(format!("--port={port}"))
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("TAURI_WEBVIEW_AUTOMATION", "true")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(log)?)
            .kill_on_drop(true)
            .spawn()
            .context("starting WebKitWebDriver (apt-get install webkit2gtk-driver)")?;
        let http = reqwest::Client::builder()
            .timeout(COMMAND_TIMEOUT)
            .build()?;
        let caps = serde_json::json!({"capabilities": {"alwaysMatch": {
            "browserName": "wry",
            "webkitgtk:browserOptions": {"binary": binary, "args": ["--automation"]},
        }}});
        let started = Instant::now();
        let session = loop {
            let r = http
                .post(format!("http://127.0.0.1:{port}/session"))
                .json(&caps)
                .send()
                .await;
            match r {
                Ok(r) => {
                    let v: serde_json::Value = r.json().await?;
                    let id = v["value"]["sessionId"].as_str().map(str::to_owned);
                    break id.with_context(|| format!("no session: {v}"))?;
                }
                Err(e) if started.elapsed() < Duration::from_secs(15) => {
                    tracing::debug!(error = %e, "WebKitWebDriver not ready yet");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => return Err(e).context("WebKitWebDriver session"),
            }
        };
        Ok(Self {
            http,
            base: format!("http://127.0.0.1:{port}/session/{session}"),
            _driver: driver,
        })
    }

    /// Runs `script` (a function body) in the window; its return value.
    pub async fn js(&self, script: &str) -> anyhow::Result<serde_json::Value> {
        let r = self
            .http
            .post(format!("{}/execute/sync", self.base))
            .json(&serde_json::json!({"script": script, "args": []}))
            .send()
            .await
            .context("WebDriver execute")?;
        let v: serde_json::Value = r.json().await?;
        anyhow::ensure!(v["value"].get("error").is_none(), "script failed: {v}");
        Ok(v["value"].clone())
    }

    /// Polls `script` every 100 ms until it returns a non-empty string, for at most `limit`.
    pub async fn until(&self, limit: Duration, what: &str, script: &str) -> anyhow::Result<String> {
        let started = Instant::now();
        loop {
            if let Ok(v) = self.js(script).await
                && let Some(s) = v.as_str().filter(|s| !s.is_empty())
            {
                return Ok(s.to_owned());
            }
            if started.elapsed() > limit {
                let body = self
                    .js("return document.body.innerText.slice(0, 2000)")
                    .await
                    .unwrap_or_default();
                anyhow::bail!(
                    "timed out after {limit:?} waiting for {what}; the window shows: {body}"
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits for an element matching `css` whose text contains `text`; returns its text.
    pub async fn wait_text(&self, css: &str, text: &str) -> anyhow::Result<String> {
        let script = format!(
            "for (const e of document.querySelectorAll({css})) {{ if (e.innerText.includes({text})) return e.innerText; }} return '';",
            css = serde_json::to_string(css)?,
            text = serde_json::to_string(text)?,
        );
        self.until(
            Duration::from_secs(20),
            &format!("{css} containing {text:?}"),
            &script,
        )
        .await
    }

    /// Types `value` into the field `css` the way a user's input reaches the page (an `input`
    /// event after the value changes). Waits (bounded) for the field: the window mounts
    /// before its first page has rendered, and on a loaded machine the gap is seconds.
    pub async fn fill(&self, css: &str, value: &str) -> anyhow::Result<()> {
        let script = format!(
            "const e = document.querySelector({css}); if (!e) return ''; e.focus(); e.value = {value}; \
             e.dispatchEvent(new Event('input', {{bubbles: true}})); e.dispatchEvent(new Event('change', {{bubbles: true}})); return 'ok';",
            css = serde_json::to_string(css)?,
            value = serde_json::to_string(value)?,
        );
        self.until(Duration::from_secs(20), &format!("field {css}"), &script)
            .await?;
        Ok(())
    }

    /// Clicks the button whose text is `text`, once it is there (bounded wait, as [`Self::fill`]).
    pub async fn click_button(&self, text: &str) -> anyhow::Result<()> {
        let script = format!(
            "const b = [...document.querySelectorAll('button')].find(b => b.innerText.trim() === {text}); \
             if (!b) return ''; b.click(); return 'ok';",
            text = serde_json::to_string(text)?,
        );
        self.until(
            Duration::from_secs(20),
            &format!("button {text:?}"),
            &script,
        )
        .await?;
        Ok(())
    }

    /// Waits until the window's UI is mounted (`<html data-hydrated>`); ms since navigation.
    pub async fn interactive(&self) -> anyhow::Result<f64> {
        let ms = self
            .until(
                Duration::from_secs(20),
                "window mounted",
                "return document.documentElement.getAttribute('data-hydrated') || ''",
            )
            .await?;
        Ok(ms.parse()?)
    }

    /// The accessibility audit's problems (see [`crate::browser::A11Y_AUDIT`]).
    pub async fn accessibility_problems(&self) -> anyhow::Result<Vec<String>> {
        Ok(crate::browser::audit_problems(
            &self.js(crate::browser::A11Y_AUDIT).await?,
        ))
    }
}
