//! One provider API client: a base URL, timeouts, a cap on answers, and errors that say who
//! answered what. A 4xx is the provider refusing the request; it is reported, never retried.

use super::CheckoutError;
use crate::billing::Provider;
use serde::de::DeserializeOwned;
use std::time::Duration;

/// How long one call to a provider may take.
const TIMEOUT: Duration = Duration::from_secs(20);
/// Largest answer read (a Checkout Session or a subscription is a few KiB).
const MAX_ANSWER_BYTES: usize = 256 * 1024;
/// Most bytes of a provider's error message passed on.
const MAX_MESSAGE_BYTES: usize = 300;

/// A provider's REST API.
#[derive(Debug, Clone)]
pub(super) struct Api {
    pub(super) provider: Provider,
    base: String,
    http: reqwest::Client,
}

impl Api {
    pub(super) fn new(provider: Provider, base: &str) -> Result<Self, CheckoutError> {
        // reqwest's rustls needs a process-wide crypto provider; an error means one is set.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .connect_timeout(TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| CheckoutError::Unreachable(provider, e.to_string()))?;
        Ok(Self {
            provider,
            base: base.trim_end_matches('/').to_owned(),
            http,
        })
    }

    /// The full URL of `path` (which starts with `/`).
    pub(super) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A request to `path` (which starts with `/`).
    pub(super) fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http.request(method, format!("{}{path}", self.base))
    }

    /// Sends `rb` and reads the answer as JSON; a non-2xx answer is [`CheckoutError::Refused`]
    /// with the provider's message.
    pub(super) async fn call<T: DeserializeOwned>(
        &self,
        rb: reqwest::RequestBuilder,
    ) -> Result<T, CheckoutError> {
        let (status, body) = self.send(rb).await?;
        if !status.is_success() {
            return Err(self.refused(status, &body));
        }
        serde_json::from_slice(&body)
            .map_err(|e| CheckoutError::Answer(self.provider, format!("unexpected answer: {e}")))
    }

    /// Sends `rb` for its status only (PayPal answers some calls with 204).
    pub(super) async fn call_empty(
        &self,
        rb: reqwest::RequestBuilder,
    ) -> Result<(), CheckoutError> {
        let (status, body) = self.send(rb).await?;
        if status.is_success() {
            Ok(())
        } else {
            Err(self.refused(status, &body))
        }
    }

    async fn send(
        &self,
        rb: reqwest::RequestBuilder,
    ) -> Result<(reqwest::StatusCode, Vec<u8>), CheckoutError> {
        let fail = |e: reqwest::Error| {
            CheckoutError::Unreachable(self.provider, e.without_url().to_string())
        };
        let mut resp = rb.send().await.map_err(fail)?;
        let status = resp.status();
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(fail)? {
            if body.len() + chunk.len() > MAX_ANSWER_BYTES {
                return Err(CheckoutError::Answer(
                    self.provider,
                    "answer too large".into(),
                ));
            }
            body.extend_from_slice(&chunk);
        }
        Ok((status, body))
    }

    /// The provider's own message from an error answer: Stripe `error.message`, Razorpay
    /// `error.description`, PayPal `message` or `error_description`.
    fn refused(&self, status: reqwest::StatusCode, body: &[u8]) -> CheckoutError {
        let v: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
        let message = [
            &v["error"]["message"],
            &v["error"]["description"],
            &v["message"],
            &v["error_description"],
        ]
        .into_iter()
        .find_map(|m| m.as_str())
        .unwrap_or("no message");
        CheckoutError::Refused {
            provider: self.provider,
            status: status.as_u16(),
            message: fdt_api::validate::cut(message, MAX_MESSAGE_BYTES).to_owned(),
        }
    }
}
