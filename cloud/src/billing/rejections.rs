//! Webhook deliveries refused for their signature, per provider and reason, since the process
//! started. In memory: a refusal is an unauthenticated request and must not cost a write.

use super::Provider;
use super::verify::SignatureError;
use fdt_api::WebhookRejections;
use std::sync::atomic::{AtomicU64, Ordering};

/// The counters: `[provider][reason]`.
#[derive(Debug, Default)]
pub struct Rejections([[AtomicU64; 3]; 3]);

fn reason_index(e: SignatureError) -> usize {
    match e {
        SignatureError::Malformed => 0,
        SignatureError::Stale => 1,
        SignatureError::Mismatch => 2,
    }
}

impl Rejections {
    /// Counts one refusal.
    pub fn count(&self, p: Provider, e: SignatureError) {
        self.0[p as usize][reason_index(e)].fetch_add(1, Ordering::Relaxed);
    }

    /// The counts now, per provider.
    pub fn snapshot(&self) -> Vec<WebhookRejections> {
        Provider::ALL
            .iter()
            .map(|&p| {
                let c = &self.0[p as usize];
                let get = |i: usize| c[i].load(Ordering::Relaxed);
                WebhookRejections {
                    provider: p.as_str().to_owned(),
                    malformed: get(0),
                    stale: get(1),
                    mismatch: get(2),
                }
            })
            .collect()
    }
}
