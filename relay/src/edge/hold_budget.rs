//! What may be held for reconnecting names at once, per name and relay-wide, and the tickets
//! that hold it. Pure accounting: a ticket releases its share when dropped, so a visitor that
//! disconnects (hyper drops its request's future) frees it at once.

use crate::config::Limits;
use std::collections::HashMap;
use std::sync::Mutex;

/// Why a request for a reconnecting name was refused rather than held and forwarded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HoldRefusal {
    /// The name already has `hold_max_requests` requests waiting.
    #[error("too many requests already held for this name")]
    NameRequests,
    /// The request (head and body) does not fit in the name's remaining `hold_max_bytes`.
    #[error("request too large for the name's remaining hold budget")]
    NameBytes,
    /// The relay as a whole holds as many requests or bytes as it allows.
    #[error("relay-wide hold budget exhausted")]
    RelayFull,
    /// No tunnel bound the name within `hold_ms`.
    #[error("the agent did not return within the hold window")]
    Expired,
    /// The relay forgot the name while the request waited (its tombstone was evicted).
    #[error("the name is no longer known")]
    Forgotten,
    /// The relay is shutting down.
    #[error("the relay is shutting down")]
    RelayStopping,
    /// Another account's tunnel bound the name: held requests go only to the account that
    /// held the name when they arrived.
    #[error("the name was bound by another account")]
    OtherOwner,
}

impl HoldRefusal {
    /// Short stable label for logs and traffic records.
    pub fn as_str(self) -> &'static str {
        match self {
            HoldRefusal::NameRequests => "name_requests",
            HoldRefusal::NameBytes => "name_bytes",
            HoldRefusal::RelayFull => "relay_full",
            HoldRefusal::Expired => "expired",
            HoldRefusal::Forgotten => "forgotten",
            HoldRefusal::RelayStopping => "relay_stopping",
            HoldRefusal::OtherOwner => "other_owner",
        }
    }
}

/// How much may be held at once, per name and relay-wide.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HoldCaps {
    /// Requests per name.
    pub name_requests: usize,
    /// Bytes per name.
    pub name_bytes: u64,
    /// Requests relay-wide.
    pub total_requests: usize,
    /// Bytes relay-wide.
    pub total_bytes: u64,
}

impl From<&Limits> for HoldCaps {
    fn from(l: &Limits) -> Self {
        let n = |v: u32| usize::try_from(v).unwrap_or(usize::MAX);
        Self {
            name_requests: n(l.hold_max_requests),
            name_bytes: l.hold_max_bytes,
            total_requests: n(l.hold_max_total_requests),
            total_bytes: l.hold_max_total_bytes,
        }
    }
}

/// Requests and bytes currently held.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct HoldUsage {
    /// Requests.
    pub requests: usize,
    /// Bytes (heads and bodies).
    pub bytes: u64,
}

#[derive(Debug, Default)]
struct BudgetState {
    total: HoldUsage,
    /// Only names with something held; entries are removed when they fall to zero.
    names: HashMap<String, HoldUsage>,
}

/// Bookkeeping of everything held, per name and in total.
#[derive(Debug, Default)]
pub struct HoldBudget {
    state: Mutex<BudgetState>,
}

impl HoldBudget {
    fn lock(&self) -> std::sync::MutexGuard<'_, BudgetState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes one request slot and `bytes` for `host`, or says which cap refuses it.
    pub fn reserve(
        &self,
        caps: HoldCaps,
        host: &str,
        bytes: u64,
    ) -> Result<HoldTicket<'_>, HoldRefusal> {
        let mut s = self.lock();
        let name = s.names.get(host).copied().unwrap_or_default();
        if name.requests >= caps.name_requests {
            return Err(HoldRefusal::NameRequests);
        }
        if name.bytes.saturating_add(bytes) > caps.name_bytes {
            return Err(HoldRefusal::NameBytes);
        }
        if s.total.requests >= caps.total_requests
            || s.total.bytes.saturating_add(bytes) > caps.total_bytes
        {
            return Err(HoldRefusal::RelayFull);
        }
        s.total.requests += 1;
        s.total.bytes += bytes;
        let entry = s.names.entry(host.to_string()).or_default();
        entry.requests += 1;
        entry.bytes += bytes;
        Ok(HoldTicket {
            budget: self,
            caps,
            host: host.to_string(),
            bytes,
        })
    }

    /// What is held for `host`.
    pub fn usage(&self, host: &str) -> HoldUsage {
        self.lock().names.get(host).copied().unwrap_or_default()
    }

    /// What is held relay-wide.
    pub fn total(&self) -> HoldUsage {
        self.lock().total
    }
}

/// One held request's share of the budget; released when dropped.
#[derive(Debug)]
pub struct HoldTicket<'a> {
    budget: &'a HoldBudget,
    caps: HoldCaps,
    host: String,
    bytes: u64,
}

impl HoldTicket<'_> {
    /// Grows the reservation to at least `bytes` (a body longer than announced), within caps.
    pub fn cover(&mut self, bytes: u64) -> Result<(), HoldRefusal> {
        let Some(more) = bytes.checked_sub(self.bytes).filter(|&m| m > 0) else {
            return Ok(());
        };
        let mut s = self.budget.lock();
        let name = s.names.get(&self.host).copied().unwrap_or_default();
        if name.bytes.saturating_add(more) > self.caps.name_bytes {
            return Err(HoldRefusal::NameBytes);
        }
        if s.total.bytes.saturating_add(more) > self.caps.total_bytes {
            return Err(HoldRefusal::RelayFull);
        }
        s.total.bytes += more;
        if let Some(e) = s.names.get_mut(&self.host) {
            e.bytes += more;
        }
        self.bytes = bytes;
        Ok(())
    }
}

impl Drop for HoldTicket<'_> {
    fn drop(&mut self) {
        let mut s = self.budget.lock();
        s.total.requests = s.total.requests.saturating_sub(1);
        s.total.bytes = s.total.bytes.saturating_sub(self.bytes);
        if let Some(e) = s.names.get_mut(&self.host) {
            e.requests = e.requests.saturating_sub(1);
            e.bytes = e.bytes.saturating_sub(self.bytes);
            if e.requests == 0 {
                s.names.remove(&self.host);
            }
        }
    }
}

#[cfg(test)]
mod tests;
