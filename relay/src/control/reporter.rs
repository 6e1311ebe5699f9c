//! Reports for the control plane that wait for the next heartbeat: tunnels that ended and
//! agents' replay results, each queue bounded in count and bytes (see [`ReportQueue`]), plus
//! the per-account usage taken from the [`UsageMeter`] when a heartbeat is built.

use crate::control::report_queue::{self, ReportQueue};
use crate::usage::UsageMeter;
use fdt_api::{RelayHeartbeat, TunnelId, UsageReport};
use std::sync::Mutex;

/// Ended tunnels remembered while the cloud is unreachable (older ones are dropped: the cloud
/// reaps them when the relay restarts or goes silent anyway).
pub(crate) const MAX_PENDING_ENDED: usize = 100_000;
/// Bytes (of JSON) of ended tunnels kept: a tunnel ID is about 30.
const MAX_PENDING_ENDED_BYTES: usize = 4 << 20;
/// Replay results kept while the cloud is unreachable, and their bytes.
pub(crate) const MAX_PENDING_REPLAYS: usize = 10_000;
const MAX_PENDING_REPLAYS_BYTES: usize = 4 << 20;
/// Longest replay error reported, in bytes (cut on a character boundary).
pub const MAX_REPLAY_ERROR: usize = 500;

/// The queues of reports for the next heartbeat.
#[derive(Debug)]
pub struct Reporter {
    ended: Mutex<ReportQueue<TunnelId>>,
    replays_done: Mutex<ReportQueue<fdt_api::ReplayOutcome>>,
    /// Woken when a report is queued, so the heartbeat goes out early.
    pub(crate) wake: tokio::sync::Notify,
}

impl Default for Reporter {
    fn default() -> Self {
        Self {
            ended: Mutex::new(ReportQueue::new(MAX_PENDING_ENDED, MAX_PENDING_ENDED_BYTES)),
            replays_done: Mutex::new(ReportQueue::new(
                MAX_PENDING_REPLAYS,
                MAX_PENDING_REPLAYS_BYTES,
            )),
            wake: tokio::sync::Notify::new(),
        }
    }
}

impl Reporter {
    /// Replay results dropped because the queue was full (count or bytes).
    #[cfg(test)]
    pub(crate) fn replays_dropped(&self) -> u64 {
        lock(&self.replays_done).dropped()
    }

    /// Bytes of replay results waiting.
    #[cfg(test)]
    pub(crate) fn replays_queued_bytes(&self) -> usize {
        lock(&self.replays_done).bytes()
    }

    /// Reports a tunnel the cloud knows (by its ID) as ended, in the next heartbeat.
    pub fn ended(&self, id: TunnelId) {
        lock(&self.ended).push(id);
        self.wake.notify_one();
    }

    /// Reports an agent's replay result in the next heartbeat (sent early). The session has
    /// checked that the job was delivered to it; the error text is the agent's, so it is
    /// cleaned of control characters and cut to [`MAX_REPLAY_ERROR`] bytes.
    pub fn replay_done(&self, job: String, status: Option<u16>, error: Option<String>) {
        let Ok(job_id) = job.parse() else {
            tracing::debug!(job = %fdt_api::validate::cut(&job, 64), "replay result for a job ID the cloud did not make");
            return;
        };
        lock(&self.replays_done).push(fdt_api::ReplayOutcome {
            job_id,
            status,
            error: error.map(|e| clean_error(&e)),
        });
        self.wake.notify_one();
    }

    /// The lists of the next heartbeat: ended tunnels first (the cloud needs them to free
    /// names), then replay results, then usage, at most `max_items` in all and `budget` bytes
    /// of JSON array elements in all.
    pub(crate) fn take_reports(
        &self,
        usage: &UsageMeter,
        budget: usize,
        max_items: usize,
    ) -> Reports {
        let max_items = max_items.min(fdt_api::relays::MAX_HEARTBEAT_ITEMS);
        let (ended, used) = lock(&self.ended).take(budget, max_items);
        let budget = budget - used;
        let (replay_results, used) =
            lock(&self.replays_done).take(budget, max_items.saturating_sub(ended.len()));
        let mut budget = budget - used;
        let mut room = max_items.saturating_sub(ended.len() + replay_results.len());
        let day = fdt_api::validate::format_day(time::OffsetDateTime::now_utc().date());
        let mut reports = Vec::new();
        for (account, counts) in usage.take() {
            let report = account.parse().ok().map(|account_id| UsageReport {
                account_id,
                day: day.clone(),
                requests: counts[0],
                bytes_in: counts[1],
                bytes_out: counts[2],
                connections: counts[3],
            });
            let Some(report) = report else { continue };
            let cost = report_queue::json_len(&report) + usize::from(!reports.is_empty());
            if room == 0 || cost > budget {
                // Counted again next time rather than lost.
                usage.give_back(&account, counts);
                continue;
            }
            budget -= cost;
            room -= 1;
            reports.push(report);
        }
        Reports {
            ended,
            usage: reports,
            replay_results,
        }
    }

    /// Puts the lists of a heartbeat that was not applied back to be sent again.
    pub(crate) fn put_back(&self, usage: &UsageMeter, reports: Reports) {
        lock(&self.ended).put_back(reports.ended);
        lock(&self.replays_done).put_back(reports.replay_results);
        for u in reports.usage {
            usage.give_back(
                u.account_id.as_str(),
                [u.requests, u.bytes_in, u.bytes_out, u.connections],
            );
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// An agent's error text as reported: control characters (which JSON escapes to six bytes
/// each) become spaces, and it is cut to [`MAX_REPLAY_ERROR`] bytes on a character boundary.
fn clean_error(e: &str) -> String {
    let cut = fdt_api::validate::cut(e, MAX_REPLAY_ERROR);
    cut.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// The lists one heartbeat carries.
#[derive(Debug, Default)]
pub(crate) struct Reports {
    pub(crate) ended: Vec<TunnelId>,
    pub(crate) usage: Vec<UsageReport>,
    pub(crate) replay_results: Vec<fdt_api::ReplayOutcome>,
}

impl Reports {
    pub(crate) fn len(&self) -> usize {
        self.ended.len() + self.usage.len() + self.replay_results.len()
    }

    pub(crate) fn of(hb: &mut RelayHeartbeat) -> Self {
        Self {
            ended: std::mem::take(&mut hb.ended),
            usage: std::mem::take(&mut hb.usage),
            replay_results: std::mem::take(&mut hb.replay_results),
        }
    }
}

#[cfg(test)]
mod tests;
