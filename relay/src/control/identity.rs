//! This relay's identity for its peers: the latest token the control plane handed it.

use tokio::sync::watch;

/// The latest identity token (none before the first heartbeat answer that carried one).
#[derive(Debug)]
pub struct Identity {
    token: watch::Sender<Option<String>>,
}

impl Default for Identity {
    fn default() -> Self {
        Self {
            token: watch::channel(None).0,
        }
    }
}

impl Identity {
    /// Records a new token; open peer connections present it next.
    pub fn set(&self, token: String) {
        self.token.send_if_modified(|t| {
            let changed = t.as_deref() != Some(token.as_str());
            *t = Some(token);
            changed
        });
    }

    /// The token now.
    pub fn current(&self) -> Option<String> {
        self.token.borrow().clone()
    }

    /// Follows the token as it changes.
    pub fn subscribe(&self) -> watch::Receiver<Option<String>> {
        self.token.subscribe()
    }
}
