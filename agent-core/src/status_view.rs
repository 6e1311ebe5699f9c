//! What the `fdt` command prints: a live status view (like ngrok's) when stdout is a terminal,
//! one plain line per change otherwise.

use crate::status::{AgentStatus, Counters};
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// Renders the full-screen view.
pub fn render(s: &AgentStatus, c: &Counters, api: Option<&str>) -> String {
    let mut out = String::new();
    out.push_str(
        "\x1b[H\x1b[2JFlyingDarkDevTunnel                                     (Ctrl+C to quit)\n\n",
    );
    out.push_str(&format!("{:<22}{:?}\n", "Session Status", s.state).to_lowercase());
    out.push_str(&format!("{:<22}{}\n", "Relay", s.relay));
    if let Some(api) = api {
        out.push_str(&format!("{:<22}http://{api}\n", "Web Interface"));
    }
    for t in &s.tunnels {
        let url = t.public_url.as_deref().unwrap_or("(connecting)");
        out.push_str(&format!("{:<22}{url} -> {}\n", "Forwarding", t.addr));
        if let Some(e) = &t.error {
            out.push_str(&format!("{:<22}{e}\n", ""));
        }
    }
    if let Some(e) = &s.last_error {
        out.push_str(&format!("{:<22}{e}\n", "Last Error"));
    }
    out.push_str(&format!(
        "\n{:<22}{:<8}{:<8}{:<12}\n{:<22}{:<8}{:<8}{:<12.2}\n",
        "Connections",
        "total",
        "open",
        "rtt (ms)",
        "",
        c.conns_total.load(Relaxed),
        c.conns_open.load(Relaxed),
        c.rtt_us.load(Relaxed) as f64 / 1000.0
    ));
    out
}

/// One line per tunnel for non-terminal output.
pub fn plain_lines(s: &AgentStatus) -> Vec<String> {
    s.tunnels
        .iter()
        .map(|t| match (&t.public_url, &t.error) {
            (Some(u), _) => format!("tunnel {} online: {u} -> {}", t.name, t.addr),
            (None, Some(e)) => format!("tunnel {} refused: {e}", t.name),
            (None, None) => format!("tunnel {} {:?}", t.name, s.state).to_lowercase(),
        })
        .collect()
}

/// Prints status until `shutdown`: redraws every second on a terminal, otherwise prints the
/// tunnel lines whenever they change.
pub async fn run(
    mut status: watch::Receiver<AgentStatus>,
    counters: Arc<Counters>,
    api: Option<String>,
    tty: bool,
    shutdown: CancellationToken,
) {
    let mut last: Vec<String> = Vec::new();
    loop {
        let s = status.borrow_and_update().clone();
        let text = if tty {
            Some(render(&s, &counters, api.as_deref()))
        } else {
            let lines = plain_lines(&s);
            (lines != last).then(|| {
                let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
                last = lines;
                text
            })
        };
        if let Some(text) = text {
            // Written on the blocking pool: a terminal paused with Ctrl+S or a pipe nobody
            // reads must not stop the runtime thread that carries the tunnels.
            let write = tokio::task::spawn_blocking(move || {
                let mut stdout = std::io::stdout().lock();
                let _ = stdout.write_all(text.as_bytes());
                let _ = stdout.flush();
            });
            tokio::select! {
                _ = write => {}
                _ = shutdown.cancelled() => return,
            }
        }
        let tick = tokio::time::sleep(if tty {
            Duration::from_secs(1)
        } else {
            Duration::from_secs(3600)
        });
        tokio::select! {
            _ = tick => {}
            r = status.changed() => if r.is_err() { return },
            _ = shutdown.cancelled() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::{SessionState, TunnelStatus};

    #[test]
    fn views_show_url_and_errors() {
        let s = AgentStatus {
            state: SessionState::Online,
            relay: "127.0.0.1:7443".into(),
            session: Some("s1".into()),
            tunnels: vec![
                TunnelStatus {
                    name: "web".into(),
                    proto: "http".into(),
                    public_url: Some("https://a.localhost".into()),
                    addr: "http://localhost:3000".into(),
                    error: None,
                    error_code: None,
                    managed_id: None,
                },
                TunnelStatus {
                    name: "db".into(),
                    proto: "tcp".into(),
                    public_url: None,
                    addr: "localhost:5432".into(),
                    error: Some("name_in_use".into()),
                    error_code: None,
                    managed_id: None,
                },
            ],
            last_error: None,
            reconnects: 0,
        };
        let v = render(&s, &Counters::default(), Some("127.0.0.1:4040"));
        assert!(
            v.contains("https://a.localhost -> http://localhost:3000"),
            "{v}"
        );
        assert!(v.contains("session status        online"), "{v}");
        let p = plain_lines(&s);
        assert_eq!(
            p[0],
            "tunnel web online: https://a.localhost -> http://localhost:3000"
        );
        assert!(p[1].contains("refused"));
    }
}
