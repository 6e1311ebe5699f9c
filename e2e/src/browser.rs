//! Headless Chromium driven over WebDriver (Debian's `chromium` and `chromedriver`), for the
//! browser tests of the console, admin panel and inspector. Screenshots go to
//! `e2e/output/screenshots/`.

use anyhow::Context as _;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::process::{Child, Command};

/// Where screenshots are written.
pub fn screenshot_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("output/screenshots")
}

/// A chromedriver process and a browser session on it; both end when dropped.
pub struct Browser {
    /// The WebDriver session.
    pub client: Client,
    _driver: Child,
    _profile: Option<tempfile::TempDir>,
}

impl Browser {
    /// Starts chromedriver on a free port and a headless Chromium session (1280×900).
    pub async fn start() -> anyhow::Result<Self> {
        crate::install_crypto();
        let port = free_port()?;
        let driver = Command::new(chromedriver())
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .context("starting chromedriver (apt-get install chromium chromium-driver)")?;
        let profile = tempfile::tempdir()?;
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({
                "binary": chromium(),
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--disable-quic",
                    "--window-size=1280,900",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            }),
        );
        let client = connect(port, caps, Duration::from_secs(15)).await?;
        Ok(Self {
            client,
            _driver: driver,
            _profile: Some(profile),
        })
    }

    /// Opens `url` and waits until the page is interactive (hydrated or mounted): the bundle
    /// sets `<html data-hydrated>`. Returns the milliseconds from navigation start to then.
    ///
    /// The page must load within 10 s: on loopback anything slower is a bug (it caught pages
    /// that kept their event streams open after being left, which exhausts the browser's six
    /// connections per host a few pages later).
    pub async fn open(&self, url: &str) -> anyhow::Result<f64> {
        tokio::time::timeout(Duration::from_secs(10), self.client.goto(url))
            .await
            .with_context(|| format!("{url} did not load within 10 s"))??;
        self.interactive().await
    }

    /// Waits until the current page is interactive; its time to interactive in ms.
    pub async fn interactive(&self) -> anyhow::Result<f64> {
        let ms = self
            .until(Duration::from_secs(15), "page hydrated", || async {
                let v = self
                    .client
                    .execute(
                        "return document.documentElement.getAttribute('data-hydrated');",
                        vec![],
                    )
                    .await
                    .ok()?;
                v.as_str().and_then(|s| s.parse::<f64>().ok())
            })
            .await?;
        Ok(ms)
    }

    /// Polls `check` every 100 ms until it gives a value, for at most `limit`.
    pub async fn until<T, F, Fut>(
        &self,
        limit: Duration,
        what: &str,
        mut check: F,
    ) -> anyhow::Result<T>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Option<T>>,
    {
        let start = Instant::now();
        loop {
            // One check must not hang the wait (a WebDriver call can block on a busy page).
            if let Ok(Some(v)) = tokio::time::timeout(Duration::from_secs(5), check()).await {
                return Ok(v);
            }
            if start.elapsed() > limit {
                let url = self
                    .client
                    .current_url()
                    .await
                    .map(|u| u.to_string())
                    .unwrap_or_default();
                let _ = self.screenshot(&format!("failed-{}", slug(what))).await;
                anyhow::bail!("timed out after {limit:?} waiting for {what} (at {url})");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits for an element matching `css` whose text contains `text`; returns its text.
    pub async fn wait_text(&self, css: &str, text: &str) -> anyhow::Result<String> {
        self.until(
            Duration::from_secs(20),
            &format!("{css} containing {text:?}"),
            || async {
                let els = self.client.find_all(Locator::Css(css)).await.ok()?;
                for e in els {
                    if let Ok(t) = e.text().await
                        && t.contains(text)
                    {
                        return Some(t);
                    }
                }
                None
            },
        )
        .await
    }

    /// Types `value` into the element at `css` (cleared first).
    pub async fn fill(&self, css: &str, value: &str) -> anyhow::Result<()> {
        let e = self
            .client
            .find(Locator::Css(css))
            .await
            .with_context(|| css.to_owned())?;
        e.clear().await?;
        e.send_keys(value).await?;
        Ok(())
    }

    /// Clicks the element at `css`.
    pub async fn click(&self, css: &str) -> anyhow::Result<()> {
        self.client
            .find(Locator::Css(css))
            .await
            .with_context(|| css.to_owned())?
            .click()
            .await?;
        Ok(())
    }

    /// Runs `script` in the page and returns its result.
    pub async fn js(&self, script: &str) -> anyhow::Result<serde_json::Value> {
        Ok(self.client.execute(script, vec![]).await?)
    }

    /// Accessibility basics of the current page, as a list of problems (empty when it passes):
    /// every form control has a label (`<label for>`, a wrapping label or `aria-label`), every
    /// button and link has a name, and every element with text directly in it has a contrast
    /// ratio of at least 4.5:1 (WCAG AA) against the first opaque background behind it.
    pub async fn accessibility_problems(&self) -> anyhow::Result<Vec<String>> {
        Ok(audit_problems(&self.js(A11Y_AUDIT).await?))
    }

    /// Saves a PNG of the viewport as `output/screenshots/<name>.png`; returns its path.
    pub async fn screenshot(&self, name: &str) -> anyhow::Result<PathBuf> {
        let png = self.client.screenshot().await?;
        let dir = screenshot_dir();
        std::fs::create_dir_all(&dir)?;
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png)?;
        Ok(path)
    }

    /// Ends the session.
    pub async fn close(self) -> anyhow::Result<()> {
        self.client.close().await?;
        Ok(())
    }
}

fn slug(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .take(60)
        .collect()
}

fn chromium() -> String {
    std::env::var("FDT_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into())
}

fn chromedriver() -> String {
    std::env::var("FDT_CHROMEDRIVER").unwrap_or_else(|_| "/usr/bin/chromedriver".into())
}

/// The audit behind [`Browser::accessibility_problems`].
/// The problems in [`A11Y_AUDIT`]'s answer.
pub fn audit_problems(answer: &serde_json::Value) -> Vec<String> {
    answer
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|p| p.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// The accessibility audit (labels, names, WCAG AA contrast) as a WebDriver script; it
/// returns a list of problems.
pub const A11Y_AUDIT: &str = r#"
const problems = [];
const visible = e => !!(e.offsetWidth || e.offsetHeight || e.getClientRects().length);
const name = e => (e.getAttribute('aria-label') || e.textContent || e.getAttribute('title') || '').trim();
for (const e of document.querySelectorAll('input, select, textarea')) {
  if (e.type === 'hidden' || !visible(e)) continue;
  if (!(e.labels && e.labels.length) && !e.getAttribute('aria-label')) problems.push('unlabelled ' + e.outerHTML.slice(0, 80));
}
for (const e of document.querySelectorAll('button, a[href]')) {
  if (visible(e) && !name(e)) problems.push('nameless ' + e.outerHTML.slice(0, 80));
}
const rgb = c => { const m = c.match(/rgba?\(([^)]+)\)/); if (!m) return null; const p = m[1].split(',').map(Number); return {r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1}; };
const lum = c => { const f = v => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); }; return 0.2126 * f(c.r) + 0.7152 * f(c.g) + 0.0722 * f(c.b); };
const background = e => { for (let n = e; n; n = n.parentElement) { const c = rgb(getComputedStyle(n).backgroundColor); if (c && c.a >= 0.99) return c; } return {r: 255, g: 255, b: 255, a: 1}; };
for (const e of document.querySelectorAll('body *')) {
  if (!visible(e) || e.closest('svg') || e.closest('.sr-only') || e.closest('[disabled]')) continue;
  const text = Array.from(e.childNodes).filter(n => n.nodeType === 3).map(n => n.textContent).join('').trim();
  if (!text || e.matches('input, textarea, select, option')) continue;
  const fg = rgb(getComputedStyle(e).color); if (!fg) continue;
  const bg = background(e);
  const [l1, l2] = [lum(fg), lum(bg)].sort((a, b) => b - a);
  const ratio = (l1 + 0.05) / (l2 + 0.05);
  if (ratio < 4.5) problems.push('contrast ' + ratio.toFixed(2) + ' for "' + text.slice(0, 30) + '" in <' + e.tagName.toLowerCase() + ' class="' + e.className + '">');
}
return problems;
"#;

fn free_port() -> anyhow::Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

/// Opens a WebDriver session on the driver at `port`, retrying while it starts.
async fn connect(
    port: u16,
    caps: serde_json::Map<String, serde_json::Value>,
    limit: Duration,
) -> anyhow::Result<Client> {
    let url = format!("http://127.0.0.1:{port}");
    let started = Instant::now();
    loop {
        // The driver speaks plain HTTP on loopback: no TLS connector (and no crypto library).
        match ClientBuilder::new(HttpConnector::new())
            .capabilities(caps.clone())
            .connect(&url)
            .await
        {
            Ok(c) => return Ok(c),
            Err(e) if started.elapsed() < limit => {
                tracing::debug!(error = %e, "WebDriver not ready yet");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => return Err(e).context("WebDriver session"),
        }
    }
}
