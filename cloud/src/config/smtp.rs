//! `[smtp]`: where the email outbox (invitations, dunning reminders) is sent. Without it the
//! outbox is written and listed, not sent.

use crate::secret::Secret;
use serde::Deserialize;

/// How the connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum SmtpSecurity {
    /// STARTTLS on the submission port (587), required.
    #[default]
    Starttls,
    /// TLS from the first byte (465).
    Tls,
    /// Plain text: only to a loopback host (a local relay or a test sink).
    None,
}

/// The SMTP server.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    /// Host name.
    pub host: String,
    /// Port (default 587).
    #[serde(default = "default_port")]
    pub port: u16,
    /// `starttls` (default), `tls` or `none` (loopback only).
    #[serde(default)]
    pub security: SmtpSecurity,
    /// User name, when the server wants one.
    #[serde(default)]
    pub username: Option<String>,
    /// Its password.
    #[serde(default)]
    pub password: Option<Secret<String>>,
    /// The sender (`FlyingDarkDevTunnel <billing@example.com>`).
    pub from: String,
}

fn default_port() -> u16 {
    587
}

impl SmtpConfig {
    /// Checks the section; the message names the key.
    pub fn validate(&self) -> Result<(), String> {
        if self.host.trim().is_empty() || self.from.trim().is_empty() {
            return Err("smtp: host and from are required".into());
        }
        if self.security == SmtpSecurity::None && !self.is_loopback() {
            return Err("smtp.security = \"none\" only to a loopback host: passwords and mail would cross the network in clear".into());
        }
        if self.from.parse::<lettre::message::Mailbox>().is_err() {
            return Err(
                "smtp.from: an address, optionally with a name (Name <a@b.example>)".into(),
            );
        }
        Ok(())
    }

    /// Whether `host` is a loopback name or address.
    pub fn is_loopback(&self) -> bool {
        self.host == "localhost"
            || self
                .host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    }
}
