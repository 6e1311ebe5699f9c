//! PyPI's `localstripe` as a child process: customers, plans as prices, subscriptions,
//! invoices, refunds and signed webhooks, on a free port (the test command installs it).

use super::SECRET_KEY;

/// A `localstripe` process on a free port, killed when dropped.
pub struct LocalStripe {
    child: std::process::Child,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
}

impl LocalStripe {
    /// Starts `localstripe --from-scratch` on a free port and waits (15 s at most) until it
    /// answers; an error when it is not installed or does not come up.
    pub async fn spawn() -> std::io::Result<Self> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())?;
        let child = std::process::Command::new("localstripe")
            .args(["--port", &port.to_string(), "--from-scratch"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()?;
        let ls = Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        let client = super::super::fake_client();
        for _ in 0..150 {
            if client
                .get(format!("{}/v1/plans", ls.url))
                .basic_auth(SECRET_KEY, None::<&str>)
                .send()
                .await
                .is_ok()
            {
                return Ok(ls);
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        Err(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            format!("localstripe did not start at {}", ls.url),
        ))
    }

    /// [`LocalStripe::spawn`] for tests.
    ///
    /// # Panics
    /// When `localstripe` is not installed or does not come up: the test cannot run.
    pub async fn start() -> Self {
        Self::spawn()
            .await
            .expect("localstripe (pip install localstripe) is needed for the Stripe tests")
    }

    async fn post(&self, path: &str, form: &[(&str, &str)]) -> Result<(), String> {
        let r = super::super::fake_client()
            .post(format!("{}{path}", self.url))
            .basic_auth(SECRET_KEY, None::<&str>)
            .form(form)
            .send()
            .await
            .map_err(|e| format!("localstripe {path}: {e}"))?;
        if r.status().is_success() {
            Ok(())
        } else {
            Err(format!("localstripe {path}: {}", r.status()))
        }
    }

    /// Creates a monthly price (a localstripe plan) with ID `id`.
    pub async fn price(&self, id: &str, amount: i64, currency: &str) -> Result<(), String> {
        let amount = amount.to_string();
        self.post(
            "/v1/plans",
            &[
                ("id", id),
                ("amount", &amount),
                ("currency", currency),
                ("interval", "month"),
                ("product[name]", id),
            ],
        )
        .await
    }

    /// Sends every event to `url`, signed with `secret` (as `stripe listen` would).
    pub async fn webhook(&self, url: &str, secret: &str) -> Result<(), String> {
        self.post("/_config/webhooks/fdt", &[("url", url), ("secret", secret)])
            .await
    }
}

impl Drop for LocalStripe {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
