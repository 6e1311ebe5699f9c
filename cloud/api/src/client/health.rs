//! The probe behind `fdt-relay healthcheck URL` and `fdt-cloud healthcheck URL`: container
//! images without a shell or curl check a server's `/healthz` with the server's own binary.

use std::time::Duration;

/// Why a probe failed; each names what a person looking at the container's health would
/// need to know.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// Not an `http://` URL: probes talk to the server on its own machine, in clear.
    #[error("{0:?} is not an http:// URL (a probe talks to a local listener)")]
    BadUrl(String),
    /// Nothing answered in time, or the connection failed.
    #[error("{url}: {reason}")]
    Unreachable {
        /// The URL probed.
        url: String,
        /// What failed.
        reason: String,
    },
    /// It answered, but not 2xx (a draining relay says 503).
    #[error("{url} answered {status}")]
    Status {
        /// The URL probed.
        url: String,
        /// Its status code.
        status: u16,
    },
}

/// `GET url`, answered 2xx within `timeout`: its status; anything else is a [`ProbeError`].
/// Like the rest of the client, it needs a rustls crypto provider installed (module docs of
/// [`crate::client`]), even for `http://`.
pub async fn probe(url: &str, timeout: Duration) -> Result<u16, ProbeError> {
    let parsed = reqwest::Url::parse(url).map_err(|_| ProbeError::BadUrl(url.to_owned()))?;
    if parsed.scheme() != "http" || parsed.host().is_none() {
        return Err(ProbeError::BadUrl(url.to_owned()));
    }
    let unreachable = |e: reqwest::Error| ProbeError::Unreachable {
        url: url.to_owned(),
        reason: e.without_url().to_string(),
    };
    let client = reqwest::Client::builder()
        .timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(unreachable)?;
    let status = client
        .get(parsed)
        .send()
        .await
        .map_err(unreachable)?
        .status();
    if status.is_success() {
        Ok(status.as_u16())
    } else {
        Err(ProbeError::Status {
            url: url.to_owned(),
            status: status.as_u16(),
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn provider() {
        let _ = rustls::crypto::ring::default_provider().install_default();
    }

    #[tokio::test]
    async fn only_local_http_urls_are_probed() {
        provider();
        for bad in [
            "https://127.0.0.1/healthz",
            "ftp://x/",
            "not a url",
            "http://",
        ] {
            assert!(
                matches!(
                    probe(bad, Duration::from_secs(1)).await,
                    Err(ProbeError::BadUrl(_))
                ),
                "{bad}"
            );
        }
    }

    #[tokio::test]
    async fn a_closed_port_is_unreachable() {
        provider();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url = format!("http://127.0.0.1:{port}/healthz");
        assert!(matches!(
            probe(&url, Duration::from_secs(2)).await,
            Err(ProbeError::Unreachable { .. })
        ));
    }
}
