//! The traffic log's rules that are not HTTP: which headers are redacted before anything is
//! stored, and how due replay jobs become the replays a relay runs (handed out in its
//! heartbeat answer, see [`crate::fleet::heartbeat`]; `/v1/relay/heartbeat` puts them on the
//! wire).

use crate::bodies::BodyError;
use crate::state::AppState;
use crate::store::StoreError;
use bytes::Bytes;
use fdt_api::traffic::Header;
use fdt_api::{ReplayId, TunnelId};

/// Header names always redacted in the log.
const ALWAYS_REDACTED: [&str; 4] = [
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
];
/// What a redacted value reads.
pub const REDACTED: &str = "[redacted]";

/// Replaces the values of sensitive headers — the [`ALWAYS_REDACTED`] ones and `extra`
/// (names compared case-insensitively) — with [`REDACTED`].
pub(crate) fn redact(headers: &mut [Header], extra: &[String]) {
    for (name, value) in headers.iter_mut() {
        let sensitive = ALWAYS_REDACTED.iter().any(|n| name.eq_ignore_ascii_case(n))
            || extra.iter().any(|n| name.eq_ignore_ascii_case(n));
        if sensitive {
            *value = REDACTED.to_owned();
        }
    }
}

/// A replay due on one of a relay's tunnels: the logged request with the job's changes
/// applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreparedReplay {
    /// The job (the agent runs each job once).
    pub job_id: ReplayId,
    /// The live tunnel to replay through.
    pub tunnel_id: TunnelId,
    /// Method.
    pub method: String,
    /// Path and query.
    pub path: String,
    /// Headers, redacted ones left out.
    pub headers: Vec<Header>,
    /// The body to send, if one was stored or the job sets one.
    pub body: Option<Bytes>,
}

/// Why the replays due on a relay could not be built.
#[derive(Debug, thiserror::Error)]
pub enum PrepareReplayError {
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A logged body could not be read back.
    #[error(transparent)]
    Body(#[from] BodyError),
    /// A due job names a tunnel ID that does not parse.
    #[error("replay job {job}: stored tunnel id {tunnel:?} does not parse")]
    CorruptTunnelId {
        /// The job.
        job: String,
        /// The stored value.
        tunnel: String,
    },
}

/// The replays due for `relay_id`'s tunnels, for its heartbeat answer: the logged request with
/// the job's changes applied. Redacted headers are left out (their values are unknown); a body
/// is sent when one was stored or the job sets one.
pub(crate) async fn prepare_replays(
    st: &AppState,
    relay_id: &str,
) -> Result<Vec<PreparedReplay>, PrepareReplayError> {
    let now = st.clock().now();
    let resend = i64::try_from(st.traffic().replay_resend_secs).unwrap_or(30);
    let due = st
        .store()
        .take_due_replays(relay_id, now - time::Duration::seconds(resend), now, 100)
        .await?;
    let mut orders = Vec::with_capacity(due.len());
    for d in due {
        let m = &d.modify;
        let mut headers: Vec<Header> = d
            .request
            .record
            .request_headers
            .into_iter()
            .filter(|(n, v)| {
                v != REDACTED && !m.remove_headers.iter().any(|r| r.eq_ignore_ascii_case(n))
            })
            .filter(|(n, _)| !m.set_headers.iter().any(|(s, _)| s.eq_ignore_ascii_case(n)))
            .collect();
        headers.extend(m.set_headers.iter().cloned());
        let body = match &m.body {
            Some(text) => Some(Bytes::from(text.clone())),
            None => match &d.request.request_body {
                Some(key) => st.bodies().get(key).await?,
                None => None,
            },
        };
        let tunnel_id = d
            .tunnel_id
            .parse()
            .map_err(|_| PrepareReplayError::CorruptTunnelId {
                job: d.job_id.to_string(),
                tunnel: d.tunnel_id.clone(),
            })?;
        orders.push(PreparedReplay {
            job_id: d.job_id,
            tunnel_id,
            method: m.method.clone().unwrap_or(d.request.record.method),
            path: m.path.clone().unwrap_or(d.request.record.path),
            headers,
            body,
        });
    }
    Ok(orders)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sensitive_headers_are_redacted() {
        let mut h = vec![
            ("Authorization".to_string(), "Bearer x".to_string()),
            ("X-Api-Key".to_string(), "k".to_string()),
            ("Accept".to_string(), "*/*".to_string()),
        ];
        redact(&mut h, &["x-api-key".to_string()]);
        assert_eq!(h[0].1, REDACTED);
        assert_eq!(h[1].1, REDACTED);
        assert_eq!(h[2].1, "*/*");
    }
}
