//! Reading Prometheus text in tests: one series' value, and `promtool check metrics` (Debian's
//! `prometheus` package, installed by the test command).

use std::io::Write;
use std::process::{Command, Stdio};

/// The value of `series` (its name and labels exactly as rendered, e.g.
/// `fdt_relay_http_requests_total{class="2xx"}`) in the exposition `text`.
pub fn value(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| {
        let v = l.strip_prefix(series)?.strip_prefix(' ')?;
        match v {
            "+Inf" => Some(f64::INFINITY),
            v => v.parse().ok(),
        }
    })
}

/// `promtool check metrics` on `text`: `Err` with promtool's complaints (its linter: names,
/// units, HELP lines, counter suffixes).
pub fn promtool_check(text: &str) -> anyhow::Result<()> {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| {
            anyhow::anyhow!(
                "promtool (Debian's prometheus package; scripts/test.sh installs it): {e}"
            )
        })?;
    child
        .stdin
        .take()
        .ok_or_else(|| anyhow::anyhow!("promtool's stdin"))?
        .write_all(text.as_bytes())?;
    let out = child.wait_with_output()?;
    if out.status.success() {
        Ok(())
    } else {
        anyhow::bail!(
            "promtool check metrics: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    }
}
