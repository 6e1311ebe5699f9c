//! The fake's webhook deliveries: signed as PayPal signs them ([`super::signing`]) and sent
//! in order by one task, after the answer that caused them (as PayPal sends them: never while
//! the merchant's own call is waiting, so a receiver that holds a lock across that call cannot
//! deadlock against its own webhook). Like PayPal, a delivery the receiver fails with a 5xx or
//! a broken connection is tried again a few times; a 4xx is final. Each try is bounded in
//! time ([`super::super::fake_client`]).

use super::signing::Signer;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;

/// Deliveries waiting at most: more are dropped (a fake, not a queue to fill up).
const QUEUE: usize = 256;
/// Tries per delivery.
const TRIES: u32 = 3;
/// Deliveries remembered for [`Outbox::delivered`] (`fdt-cloud dev` runs for days): the
/// oldest are forgotten first.
const KEPT: usize = 1024;

/// One event to deliver.
struct Delivery {
    url: String,
    webhook_id: String,
    event_type: String,
    body: String,
}

/// An event the fake delivered: its type and the receiver's final status (0: no answer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered {
    /// `event_type`, e.g. `BILLING.SUBSCRIPTION.ACTIVATED`.
    pub event_type: String,
    /// The receiver's status code.
    pub status: u16,
}

/// Where events go, and what went.
pub(super) struct Outbox {
    target: Mutex<Option<(String, String)>>,
    tx: mpsc::Sender<Delivery>,
    delivered: Arc<Mutex<Vec<Delivered>>>,
    next: Mutex<u64>,
}

impl Outbox {
    /// The outbox, and the task delivering from it (abort it to stop).
    pub(super) fn start(signer: Arc<Signer>) -> (Self, tokio::task::JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(QUEUE);
        let delivered = Arc::new(Mutex::new(Vec::new()));
        let task = tokio::spawn(deliver(rx, signer, delivered.clone()));
        let outbox = Self {
            target: Mutex::new(None),
            tx,
            delivered,
            next: Mutex::new(0),
        };
        (outbox, task)
    }

    /// Sends events to `url`, signed for the webhook `webhook_id`.
    pub(super) fn set_target(&self, url: &str, webhook_id: &str) {
        if let Ok(mut t) = self.target.lock() {
            *t = Some((url.to_owned(), webhook_id.to_owned()));
        }
    }

    /// Stops sending events.
    pub(super) fn clear_target(&self) {
        if let Ok(mut t) = self.target.lock() {
            *t = None;
        }
    }

    /// What was delivered so far, in order.
    pub(super) fn delivered(&self) -> Vec<Delivered> {
        self.delivered.lock().map(|d| d.clone()).unwrap_or_default()
    }

    /// Queues the event `event_type` about `resource` (of `resource_type`), when a target is
    /// set.
    pub(super) fn emit(&self, event_type: &str, resource_type: &str, resource: Value) {
        let Some((url, webhook_id)) = self.target.lock().ok().and_then(|t| t.clone()) else {
            return;
        };
        let n = self.next.lock().map(|mut n| {
            *n += 1;
            *n
        });
        let body = json!({
            "id": format!("WH-{:017}", n.unwrap_or(0)),
            "event_version": "1.0",
            "create_time": now_rfc3339(),
            "resource_type": resource_type,
            // Subscriptions and Orders are v2 resources; a subscription's sale is v1's.
            "resource_version": if resource_type == "sale" { "1.0" } else { "2.0" },
            "event_type": event_type,
            "summary": format!("{event_type} (test)"),
            "resource": resource,
        })
        .to_string();
        let delivery = Delivery {
            url,
            webhook_id,
            event_type: event_type.to_owned(),
            body,
        };
        if self.tx.try_send(delivery).is_err() {
            tracing::warn!(
                event_type,
                "fake PayPal: delivery queue full; event dropped"
            );
        }
    }
}

/// Now, as PayPal writes times.
fn now_rfc3339() -> String {
    super::rfc3339_in(0)
}

async fn deliver(
    mut rx: mpsc::Receiver<Delivery>,
    signer: Arc<Signer>,
    delivered: Arc<Mutex<Vec<Delivered>>>,
) {
    let http = super::super::fake_client();
    let mut n = 0u64;
    while let Some(d) = rx.recv().await {
        n += 1;
        let transmission = format!("{n:08x}-0000-4000-8000-{:012x}", n);
        let mut status = 0;
        for attempt in 1..=TRIES {
            let Ok(headers) = signer.headers(
                d.body.as_bytes(),
                &d.webhook_id,
                &transmission,
                &now_rfc3339(),
            ) else {
                break;
            };
            let mut req = http
                .post(&d.url)
                .header("content-type", "application/json")
                .body(d.body.clone());
            for (k, v) in headers {
                req = req.header(k, v);
            }
            status = match req.send().await {
                Ok(r) => r.status().as_u16(),
                Err(_) => 0,
            };
            // Delivered, or refused for good.
            if (200..500).contains(&status) {
                break;
            }
            if attempt < TRIES {
                tokio::time::sleep(Duration::from_millis(200 * u64::from(attempt))).await;
            }
        }
        if let Ok(mut list) = delivered.lock() {
            if list.len() >= KEPT {
                list.remove(0);
            }
            list.push(Delivered {
                event_type: d.event_type,
                status,
            });
        }
    }
}
