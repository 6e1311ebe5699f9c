//! Replay jobs from the relay (replays queued in the cloud): each job runs once, through the
//! same guard and capture as the local API's replays, and its result goes back to the session.

use super::{ReplayError, ReplaySpec, refused};
use crate::inspect::Inspector;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use bytes::Bytes;
use std::collections::{HashSet, VecDeque};
use std::sync::Mutex;

/// How a replay job asked for by the relay (queued in the cloud) ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct JobResult {
    /// The job.
    pub job: String,
    /// Status the local service answered.
    pub status: Option<u16>,
    /// Why it was not replayed.
    pub error: Option<String>,
}

/// Jobs remembered to run each one once although the relay may deliver it again.
const REMEMBERED_JOBS: usize = 4096;

/// Runs replay jobs from the relay: each job once, through the same guard as local replays.
#[derive(Debug)]
pub(crate) struct ReplayJobs {
    targets: crate::agent::Replays,
    inspector: Option<Inspector>,
    seen: Mutex<(HashSet<String>, VecDeque<String>)>,
}

impl ReplayJobs {
    /// Jobs for `targets`, captured into `inspector`.
    pub(crate) fn new(targets: crate::agent::Replays, inspector: Option<Inspector>) -> Self {
        Self {
            targets,
            inspector,
            seen: Mutex::default(),
        }
    }

    /// `true` the first time `job` is seen.
    fn first_time(&self, job: &str) -> bool {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        let (set, order) = &mut *seen;
        if !set.insert(job.to_string()) {
            return false;
        }
        order.push_back(job.to_string());
        if order.len() > REMEMBERED_JOBS
            && let Some(old) = order.pop_front()
        {
            set.remove(&old);
        }
        true
    }

    /// Starts `job` for tunnel `tunnel_name` in the background; its result is sent to `done`.
    /// A job seen before is ignored.
    pub(crate) fn start(
        &self,
        job: String,
        tunnel_name: String,
        public_host: Option<String>,
        request: fdt_proto::ReplaySpec,
        done: tokio::sync::mpsc::Sender<JobResult>,
    ) {
        if !self.first_time(&job) {
            tracing::debug!(%job, "replay job delivered again; already run");
            return;
        }
        let target = self
            .targets
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&tunnel_name)
            .cloned();
        let inspector = self.inspector.clone();
        tokio::spawn(async move {
            let outcome = match target {
                None => Err(ReplayError::UnknownTunnel(tunnel_name)),
                Some(target) => match spec_of_job(request) {
                    Ok(spec) => {
                        target
                            .send(&spec, public_host.as_deref(), inspector.as_ref())
                            .await
                    }
                    Err(e) => Err(e),
                },
            };
            let (status, error) = match outcome {
                Ok(o) => (Some(o.status), None),
                Err(e) => {
                    tracing::warn!(%job, error = %e, "replay job failed");
                    (None, Some(e.to_string()))
                }
            };
            let _ = done.send(JobResult { job, status, error }).await;
        });
    }
}

/// A job's request in the agent's terms (the body travels base64-encoded).
fn spec_of_job(r: fdt_proto::ReplaySpec) -> Result<ReplaySpec, ReplayError> {
    let body = match r.body {
        Some(b) => B64
            .decode(b)
            .map(Bytes::from)
            .map_err(|e| refused(format!("job body is not base64: {e}")))?,
        None => Bytes::new(),
    };
    Ok(ReplaySpec {
        method: r.method,
        path: r.path,
        headers: r.headers,
        body,
        replay_of: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_job_delivered_twice_runs_once_and_memory_stays_bounded() {
        let jobs = ReplayJobs::new(crate::agent::Replays::default(), None);
        assert!(jobs.first_time("j1"));
        assert!(!jobs.first_time("j1"));
        for i in 0..REMEMBERED_JOBS + 10 {
            jobs.first_time(&format!("x{i}"));
        }
        let seen = jobs.seen.lock().unwrap_or_else(|e| e.into_inner());
        assert_eq!(seen.0.len(), REMEMBERED_JOBS);
        assert_eq!(seen.1.len(), REMEMBERED_JOBS);
    }

    #[test]
    fn job_bodies_are_base64() {
        let spec = |body: &str| fdt_proto::ReplaySpec {
            method: "POST".into(),
            path: "/".into(),
            headers: vec![],
            body: Some(body.into()),
        };
        assert_eq!(
            spec_of_job(spec("aGk=")).map(|s| s.body).ok(),
            Some(Bytes::from("hi"))
        );
        assert!(matches!(
            spec_of_job(spec("%%")),
            Err(ReplayError::Refused(_))
        ));
    }
}
