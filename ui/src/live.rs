//! Live updates: the server sends a change event per topic (Server-Sent Events); pages make
//! their resources depend on the topic's counter, so a change refetches what shows it.

use leptos::prelude::*;

/// One counter per topic; bumped when the server says the topic changed.
#[derive(Debug, Clone, Copy)]
pub struct Live {
    /// Tunnels came online or went offline.
    pub tunnels: RwSignal<u64>,
    /// New traffic-log records or replay results.
    pub requests: RwSignal<u64>,
    /// Authtokens created or revoked.
    pub authtokens: RwSignal<u64>,
    /// Relay health changed.
    pub relays: RwSignal<u64>,
    /// Exchanges captured by the local agent.
    pub exchanges: RwSignal<u64>,
    /// Accounts changed by an admin (admin pages).
    pub admin: RwSignal<u64>,
    /// Whether the event stream is connected.
    pub connected: RwSignal<bool>,
}

impl Live {
    /// Counters at zero (as on the server, which never bumps them).
    pub fn new() -> Self {
        Self {
            tunnels: RwSignal::new(0),
            requests: RwSignal::new(0),
            authtokens: RwSignal::new(0),
            relays: RwSignal::new(0),
            exchanges: RwSignal::new(0),
            admin: RwSignal::new(0),
            connected: RwSignal::new(false),
        }
    }

    /// Marks `topic` changed. Unknown topics change nothing.
    pub fn bump(&self, topic: &str) {
        let counter = match topic {
            "tunnels" => self.tunnels,
            "requests" => self.requests,
            "authtokens" => self.authtokens,
            "relays" => self.relays,
            "exchanges" => self.exchanges,
            "admin" => self.admin,
            _ => return,
        };
        counter.update(|n| *n += 1);
    }
}

impl Default for Live {
    fn default() -> Self {
        Self::new()
    }
}

/// The [`Live`] counters of the current app.
pub fn use_live() -> Live {
    use_context::<Live>().unwrap_or_default()
}
