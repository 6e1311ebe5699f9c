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

    /// Makes the cloud-managed part of the set exactly `managed` (each with a `managed_id`),
    /// in one change: definitions gone or disabled are removed, changed ones replaced in
    /// place, new ones added. A local tunnel keeps its name: a managed one of the same name
    /// is left out, as are those past [`MAX_TUNNELS`]; both come back as errors.
    pub fn apply_managed(&self, managed: Vec<ResolvedTunnel>) -> Vec<TunnelSetError> {
        let mut errors = Vec::new();
        let mut gone = Vec::new();
        self.desired.send_if_modified(|list| {
            let before = list.clone();
            list.retain(|t| {
                let keep =
                    t.managed_id.is_none() || managed.iter().any(|m| m.spec.name == t.spec.name);
                if !keep {
                    gone.push(t.spec.name.clone());
                }
                keep
            });
            for m in &managed {
                match list.iter().position(|t| t.spec.name == m.spec.name) {
                    Some(i) if list[i].managed_id.is_none() => {
                        errors.push(TunnelSetError::NameInUse(m.spec.name.clone()));
                    }
                    Some(i) => {
                        if list[i] != *m {
                            self.set_replay(m);
                            list[i] = m.clone();
                        }
                    }
                    None if list.len() >= MAX_TUNNELS => errors.push(TunnelSetError::TooMany),
                    None => {
                        self.set_replay(m);
                        list.push(m.clone());
                    }
                }
            }
            *list != before
        });
        let mut replays = self.replays.write().unwrap_or_else(|e| e.into_inner());
        for name in gone {
            replays.remove(&name);
        }
        errors
    }

    /// Whether tunnel `name` is cloud-managed (changed in the control plane, not locally).
    pub fn is_managed(&self, name: &str) -> bool {
        self.desired
            .borrow()
            .iter()
            .any(|t| t.spec.name == name && t.managed_id.is_some())
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

    fn managed(name: &str, addr: &str) -> ResolvedTunnel {
        let mut t = TunnelConfig::new(Proto::Http, addr)
            .resolve(name)
            .expect("valid");
        t.managed_id = Some(format!("tcf_{name}"));
        t
    }

    #[test]
    fn managed_tunnels_follow_their_definitions_and_never_displace_local_ones() {
        let set = TunnelSet::default();
        assert!(set.add(tunnel("local", Proto::Http)).is_ok());
        let errors = set.apply_managed(vec![managed("a", "8001"), managed("b", "8002")]);
        assert!(errors.is_empty());
        let names = |set: &TunnelSet| -> Vec<String> {
            set.snapshot().into_iter().map(|t| t.spec.name).collect()
        };
        assert_eq!(names(&set), ["local", "a", "b"]);
        assert!(set.is_managed("a") && !set.is_managed("local"));

        // Same set again: no change for the sessions to follow.
        let mut changes = set.subscribe();
        changes.borrow_and_update();
        assert!(
            set.apply_managed(vec![managed("a", "8001"), managed("b", "8002")])
                .is_empty()
        );
        assert!(!changes.has_changed().unwrap_or(true));

        // b edited in place, a removed, c added; a managed "local" is refused.
        let errors = set.apply_managed(vec![
            managed("b", "9002"),
            managed("c", "8003"),
            managed("local", "8004"),
        ]);
        assert_eq!(errors, [TunnelSetError::NameInUse("local".into())]);
        assert_eq!(names(&set), ["local", "b", "c"]);
        assert_eq!(set.get("b").map(|t| t.addr), Some("9002".into()));
        assert_eq!(set.get("local").and_then(|t| t.managed_id), None);
        let replays = set.replays();
        assert!(
            !replays
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .contains_key("a")
        );

        // Nothing defined any more: only the local tunnel stays.
        assert!(set.apply_managed(Vec::new()).is_empty());
        assert_eq!(names(&set), ["local"]);
    }
}
