//! The tunnels an agent wants now: the ones it started with plus those started and stopped
//! while it runs (the local API's `POST` and `DELETE /api/tunnels`). Every session follows
//! this set live ([`super::live`]); the next session after a reconnect binds it whole.

use crate::config::ResolvedTunnel;
use crate::replay::ReplayTarget;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use tokio::sync::watch;

/// Most tunnels one agent holds: each costs a bind on every reconnect and a status line.
pub const MAX_TUNNELS: usize = 256;

/// Replay destinations of the http tunnels, by tunnel name; follows the [`TunnelSet`].
pub(crate) type Replays = Arc<RwLock<HashMap<String, Arc<ReplayTarget>>>>;

/// Why a tunnel could not be added.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TunnelSetError {
    /// Another tunnel of this agent has the name.
    #[error("a tunnel named {0:?} already exists")]
    NameInUse(String),
    /// The agent holds [`MAX_TUNNELS`] already.
    #[error("this agent already has {MAX_TUNNELS} tunnels")]
    TooMany,
}

/// The desired tunnels, in the order they were added. Cheap to clone; clones share the set.
#[derive(Debug, Clone)]
pub struct TunnelSet {
    desired: watch::Sender<Vec<ResolvedTunnel>>,
    replays: Replays,
}

impl Default for TunnelSet {
    /// An empty set.
    fn default() -> Self {
        Self {
            desired: watch::Sender::new(Vec::new()),
            replays: Replays::default(),
        }
    }
}

impl TunnelSet {
    /// Adds `tunnel`; running sessions bind it at once.
    pub fn add(&self, tunnel: ResolvedTunnel) -> Result<(), TunnelSetError> {
        let mut result = Ok(());
        self.desired.send_if_modified(|list| {
            if list.iter().any(|t| t.spec.name == tunnel.spec.name) {
                result = Err(TunnelSetError::NameInUse(tunnel.spec.name.clone()));
                return false;
            }
            if list.len() >= MAX_TUNNELS {
                result = Err(TunnelSetError::TooMany);
                return false;
            }
            self.set_replay(&tunnel);
            list.push(tunnel.clone());
            true
        });
        result
    }

    /// Removes the tunnel `name`; running sessions release it. `None` if there is none.
    pub fn remove(&self, name: &str) -> Option<ResolvedTunnel> {
        let mut removed = None;
        self.desired.send_if_modified(|list| {
            let Some(i) = list.iter().position(|t| t.spec.name == name) else {
                return false;
            };
            removed = Some(list.remove(i));
            true
        });
        if removed.is_some() {
            self.replays
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .remove(name);
        }
        removed
    }

    /// The tunnel `name`, as defined now.
    pub fn get(&self, name: &str) -> Option<ResolvedTunnel> {
        self.desired
            .borrow()
            .iter()
            .find(|t| t.spec.name == name)
            .cloned()
    }

    /// Every tunnel, in the order added.
    pub fn snapshot(&self) -> Vec<ResolvedTunnel> {
        self.desired.borrow().clone()
    }

    /// Follows the set: the receiver sees each change.
    pub(crate) fn subscribe(&self) -> watch::Receiver<Vec<ResolvedTunnel>> {
        self.desired.subscribe()
    }

    /// The replay destinations, shared with the handle and the replay jobs.
    pub(crate) fn replays(&self) -> Replays {
        self.replays.clone()
    }

    /// Points replays of an http tunnel's name at its upstream (other protos have none).
    fn set_replay(&self, t: &ResolvedTunnel) {
        if t.spec.proto != fdt_proto::Proto::Http {
            return;
        }
        let mut replays = self.replays.write().unwrap_or_else(|e| e.into_inner());
        match ReplayTarget::new(t) {
            Ok(r) => {
                replays.insert(t.spec.name.clone(), Arc::new(r));
            }
            Err(e) => {
                tracing::warn!(tunnel = %t.spec.name, error = %e, "replay disabled for this tunnel");
                replays.remove(&t.spec.name);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::TunnelConfig;
    use fdt_proto::Proto;

    fn tunnel(name: &str, proto: Proto) -> ResolvedTunnel {
        TunnelConfig::new(proto, "8000")
            .resolve(name)
            .expect("valid")
    }

    #[test]
    fn names_are_unique_the_size_is_bounded_and_replays_follow() {
        let set = TunnelSet::default();
        assert!(set.add(tunnel("web", Proto::Http)).is_ok());
        let mut changes = set.subscribe();
        changes.borrow_and_update();
        assert_eq!(
            set.add(tunnel("web", Proto::Tcp)),
            Err(TunnelSetError::NameInUse("web".into()))
        );
        assert!(
            !changes.has_changed().unwrap_or(true),
            "a refused add changes nothing"
        );
        assert!(set.add(tunnel("ssh", Proto::Tcp)).is_ok());
        assert!(changes.has_changed().unwrap_or(false));
        let replays = set.replays();
        assert!(
            replays
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .contains_key("web")
        );
        assert!(
            !replays
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .contains_key("ssh")
        );
        assert_eq!(set.remove("web").map(|t| t.spec.name), Some("web".into()));
        assert!(set.remove("web").is_none());
        assert!(
            !replays
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .contains_key("web")
        );
        let names: Vec<_> = set.snapshot().into_iter().map(|t| t.spec.name).collect();
        assert_eq!(names, ["ssh"]);
        for i in 1..MAX_TUNNELS {
            assert!(set.add(tunnel(&format!("t{i}"), Proto::Tcp)).is_ok());
        }
        assert_eq!(
            set.add(tunnel("one-too-many", Proto::Tcp)),
            Err(TunnelSetError::TooMany)
        );
    }
}
