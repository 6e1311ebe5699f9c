//! ACME DNS-01 through a DNS provider's API: the TXT record `_acme-challenge.<name>` is
//! created before the challenge is marked ready and deleted after the order ends. Cloudflare's
//! API v4 is the first provider (`GET /zones?name=`, `POST /zones/{zone}/dns_records`,
//! `DELETE /zones/{zone}/dns_records/{id}`, a bearer API token), at a base URL from config so
//! tests run it against a local server that speaks the same protocol.
//!
//! A refusal (a 4xx) ends the order; the worker's backoff and failure cap decide when to try
//! again, so a wrong token is not hammered.

use crate::config::Dns01Config;
use serde::Deserialize;
use serde_json::json;
use std::time::Duration;

/// Each call's time limit.
const TIMEOUT: Duration = Duration::from_secs(20);
/// Largest answer read.
const MAX_ANSWER_BYTES: usize = 256 * 1024;
/// TTL of the challenge record (Cloudflare's minimum, 60 s, is the useful one here).
const RECORD_TTL: u32 = 60;

/// Why the provider could not place or remove a record.
#[derive(Debug, thiserror::Error)]
pub enum Dns01Error {
    /// The provider refused (its status and first error message).
    #[error("the DNS provider refused ({status}): {message}")]
    Refused {
        /// HTTP status.
        status: u16,
        /// What it said.
        message: String,
    },
    /// No zone of the account holds the name.
    #[error("no zone at the DNS provider holds {0}")]
    NoZone(String),
    /// Talking to it failed.
    #[error("talking to the DNS provider failed: {0}")]
    Transport(String),
}

/// A record placed for a challenge, to delete afterwards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placed {
    /// The record's name.
    pub name: String,
    zone: String,
    id: String,
}

/// A DNS provider that places challenge records.
#[derive(Debug, Clone)]
pub struct Dns01 {
    api_base: String,
    token: String,
    http: reqwest::Client,
}

#[derive(Deserialize)]
struct Envelope<T> {
    success: bool,
    #[serde(default)]
    errors: Vec<CfError>,
    result: Option<T>,
}

#[derive(Deserialize)]
struct CfError {
    #[serde(default)]
    code: i64,
    #[serde(default)]
    message: String,
}

#[derive(Deserialize)]
struct WithId {
    id: String,
}

impl WithId {
    /// The ID, if it is safe in a URL path (Cloudflare's are 32 hex digits).
    fn checked(self) -> Result<String, Dns01Error> {
        let ok = !self.id.is_empty()
            && self.id.len() <= 64
            && self
                .id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if ok {
            Ok(self.id)
        } else {
            Err(Dns01Error::Transport(
                "the provider answered a malformed ID".into(),
            ))
        }
    }
}

impl Dns01 {
    /// The provider `cfg` names.
    pub fn from_config(cfg: &Dns01Config) -> Result<Self, Dns01Error> {
        // reqwest's rustls needs a process-wide crypto provider; an error means one is set.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .connect_timeout(TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| Dns01Error::Transport(e.to_string()))?;
        Ok(Self {
            api_base: cfg.api_base.trim_end_matches('/').to_owned(),
            token: cfg.api_token.expose().clone(),
            http,
        })
    }

    async fn call<T: serde::de::DeserializeOwned>(
        &self,
        rb: reqwest::RequestBuilder,
    ) -> Result<T, Dns01Error> {
        let mut resp = rb
            .bearer_auth(&self.token)
            .send()
            .await
            .map_err(|e| Dns01Error::Transport(e.without_url().to_string()))?;
        let status = resp.status();
        let mut body = Vec::new();
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| Dns01Error::Transport(e.without_url().to_string()))?
        {
            if body.len() + chunk.len() > MAX_ANSWER_BYTES {
                return Err(Dns01Error::Transport("answer too large".into()));
            }
            body.extend_from_slice(&chunk);
        }
        let parsed: Result<Envelope<T>, _> = serde_json::from_slice(&body);
        match parsed {
            Ok(Envelope {
                success: true,
                result: Some(r),
                ..
            }) if status.is_success() => Ok(r),
            Ok(e) => {
                let message = e
                    .errors
                    .first()
                    .map(|e| format!("{} (code {})", e.message, e.code))
                    .unwrap_or_else(|| "no error given".into());
                Err(Dns01Error::Refused {
                    status: status.as_u16(),
                    message: fdt_api::validate::cut(&message, 300).to_owned(),
                })
            }
            Err(_) => Err(Dns01Error::Refused {
                status: status.as_u16(),
                message: "an answer that is not the provider's JSON".into(),
            }),
        }
    }

    /// The zone holding `name`: the longest of its parents the account has.
    async fn zone_of(&self, name: &str) -> Result<String, Dns01Error> {
        let labels: Vec<&str> = name.split('.').collect();
        // Zones are at least two labels deep ("example.com"); try the longest first.
        for start in 0..labels.len().saturating_sub(1) {
            let candidate = labels[start..].join(".");
            let query: String = form_urlencoded::Serializer::new(String::new())
                .append_pair("name", &candidate)
                .finish();
            let zones: Vec<WithId> = self
                .call(self.http.get(format!("{}/zones?{query}", self.api_base)))
                .await?;
            if let Some(z) = zones.into_iter().next() {
                return z.checked();
            }
        }
        Err(Dns01Error::NoZone(name.to_owned()))
    }

    /// Creates the TXT record `_acme-challenge.<domain>` = `value` (`domain` without `*.`).
    pub async fn place(&self, domain: &str, value: &str) -> Result<Placed, Dns01Error> {
        let name = format!("_acme-challenge.{domain}");
        let zone = self.zone_of(domain).await?;
        let rec: WithId = self
            .call(
                self.http
                    .post(format!("{}/zones/{zone}/dns_records", self.api_base))
                    .json(
                        &json!({"type": "TXT", "name": name, "content": value, "ttl": RECORD_TTL}),
                    ),
            )
            .await?;
        Ok(Placed {
            name,
            zone,
            id: rec.checked()?,
        })
    }

    /// Deletes a placed record.
    pub async fn remove(&self, placed: &Placed) -> Result<(), Dns01Error> {
        let _: WithId = self
            .call(self.http.delete(format!(
                "{}/zones/{}/dns_records/{}",
                self.api_base, placed.zone, placed.id
            )))
            .await?;
        Ok(())
    }
}
