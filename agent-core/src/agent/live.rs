//! Which tunnels one session has asked the relay for, against the ones the agent wants now
//! ([`super::tunnels::TunnelSet`]): the steps that bring the session in line when either
//! side changes. Pure bookkeeping, no I/O; the session loop performs the steps.
//!
//! A bind in flight cannot be taken back (its answer carries only the name), so a tunnel that
//! changes or goes away while its bind is in flight is marked stale: when the answer comes, a
//! stale binding is released and the current definition, if any, is bound instead. That way a
//! name is never bound twice on one session, and an edit never races its own older bind.

use crate::config::ResolvedTunnel;
use fdt_proto::TunnelId;
use std::collections::HashMap;

/// What the session holds for one tunnel name.
#[derive(Debug, Clone)]
enum Held {
    /// A bind was sent and not answered. `stale`: the definition changed or was removed since.
    Pending { tunnel: ResolvedTunnel, stale: bool },
    /// The relay bound it.
    Bound {
        tunnel: ResolvedTunnel,
        id: TunnelId,
    },
    /// Refused, or closed by the relay: not asked again on this session unless redefined.
    /// `retry`: the refusal was "not decided yet" and a retry is scheduled.
    Refused { tunnel: ResolvedTunnel, retry: bool },
}

impl Held {
    fn tunnel(&self) -> &ResolvedTunnel {
        match self {
            Held::Pending { tunnel, .. }
            | Held::Bound { tunnel, .. }
            | Held::Refused { tunnel, .. } => tunnel,
        }
    }
}

/// A step for the session loop.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Step {
    /// Send a bind for this definition (boxed: a definition is ~300 bytes, a release 8).
    Bind(Box<ResolvedTunnel>),
    /// Release this binding and forget its local target.
    Unbind(TunnelId),
}

/// What to do with a `Bound` answer.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum BoundAnswer {
    /// Serve it: install the local target and show the URL.
    Serve(Box<ResolvedTunnel>),
    /// It answers a stale or unknown bind: release it (the steps bind the current definition).
    Release(Vec<Step>),
}

/// The tunnels of one session, by name.
#[derive(Debug, Default)]
pub(crate) struct LiveTunnels {
    held: HashMap<String, Held>,
}

impl LiveTunnels {
    /// The steps that make the session match `desired` (names are unique in it).
    pub(crate) fn reconcile(&mut self, desired: &[ResolvedTunnel]) -> Vec<Step> {
        let mut steps = Vec::new();
        let wanted: HashMap<&str, &ResolvedTunnel> =
            desired.iter().map(|t| (t.spec.name.as_str(), t)).collect();
        // Removed or changed: release what is bound, mark what is in flight.
        self.held.retain(|name, held| {
            let current = wanted.get(name.as_str());
            if current.is_some_and(|c| *c == held.tunnel()) {
                return true;
            }
            match held {
                Held::Bound { id, .. } => {
                    steps.push(Step::Unbind(*id));
                    false
                }
                Held::Pending { stale, .. } => {
                    *stale = true;
                    true
                }
                Held::Refused { .. } => false,
            }
        });
        // New, or changed and released above.
        for t in desired {
            if !self.held.contains_key(&t.spec.name) {
                steps.push(Step::Bind(Box::new(t.clone())));
                self.held.insert(
                    t.spec.name.clone(),
                    Held::Pending {
                        tunnel: t.clone(),
                        stale: false,
                    },
                );
            }
        }
        steps
    }

    /// The relay bound `name` as `id`.
    pub(crate) fn bound(
        &mut self,
        name: &str,
        id: TunnelId,
        desired: &[ResolvedTunnel],
    ) -> BoundAnswer {
        match self.held.remove(name) {
            Some(Held::Pending {
                tunnel,
                stale: false,
            }) => {
                self.held.insert(
                    name.to_string(),
                    Held::Bound {
                        tunnel: tunnel.clone(),
                        id,
                    },
                );
                BoundAnswer::Serve(Box::new(tunnel))
            }
            other => {
                // Stale, or an answer to nothing we hold: put back what we held (unless it
                // was the stale bind), release this binding, then bind the current one.
                if let Some(h @ (Held::Bound { .. } | Held::Refused { .. })) = other {
                    self.held.insert(name.to_string(), h);
                }
                let mut steps = vec![Step::Unbind(id)];
                steps.extend(self.reconcile(desired));
                BoundAnswer::Release(steps)
            }
        }
    }

    /// The relay refused `name`. `Some(tunnel)` when the refusal concerns the current
    /// definition (show it); a refused stale bind just gives way to the current one, whose
    /// bind is among the returned steps.
    pub(crate) fn refused(
        &mut self,
        name: &str,
        retry: bool,
        desired: &[ResolvedTunnel],
    ) -> (Option<ResolvedTunnel>, Vec<Step>) {
        match self.held.remove(name) {
            Some(Held::Pending {
                tunnel,
                stale: false,
            }) => {
                self.held.insert(
                    name.to_string(),
                    Held::Refused {
                        tunnel: tunnel.clone(),
                        retry,
                    },
                );
                (Some(tunnel), Vec::new())
            }
            Some(h @ (Held::Bound { .. } | Held::Refused { .. })) => {
                self.held.insert(name.to_string(), h);
                (None, Vec::new())
            }
            Some(Held::Pending { stale: true, .. }) | None => (None, self.reconcile(desired)),
        }
    }

    /// The relay closed `name` on its own: it stays down on this session.
    pub(crate) fn closed(&mut self, name: &str) {
        if let Some(Held::Bound { tunnel, .. }) = self.held.remove(name) {
            self.held.insert(
                name.to_string(),
                Held::Refused {
                    tunnel,
                    retry: false,
                },
            );
        }
    }

    /// A scheduled retry of `name` is due: the bind to send, if the refusal it follows still
    /// stands for the current definition.
    pub(crate) fn retry(&mut self, name: &str) -> Option<Step> {
        match self.held.get(name) {
            Some(Held::Refused {
                tunnel,
                retry: true,
            }) => {
                let tunnel = tunnel.clone();
                self.held.insert(
                    name.to_string(),
                    Held::Pending {
                        tunnel: tunnel.clone(),
                        stale: false,
                    },
                );
                Some(Step::Bind(Box::new(tunnel)))
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests;
