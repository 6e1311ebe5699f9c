//! The traffic log's rules that are not HTTP: which headers are redacted before anything is
//! stored, and how due replay jobs become the orders a relay runs (handed out in its
//! heartbeat answer, see [`crate::fleet::heartbeat`]).

use crate::bodies::BodyError;
use crate::state::AppState;
use crate::store::StoreError;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use fdt_api::ReplayOrder;
use fdt_api::traffic::Header;

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

/// Why the replay orders for a relay could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ReplayOrderError {
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

/// The replays due for `relay_id`'s tunnels, as orders for its heartbeat answer: the logged
/// request with the job's changes applied. Redacted headers are left out (their values are
/// unknown); a body is sent when one was stored or the job sets one.
pub(crate) async fn replay_orders(
    st: &AppState,
    relay_id: &str,
) -> Result<Vec<ReplayOrder>, ReplayOrderError> {
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
            Some(text) => Some(B64.encode(text)),
            None => match &d.request.request_body {
                Some(key) => st.bodies().get(key).await?.map(|b| B64.encode(b)),
                None => None,
            },
        };
        let tunnel_id = d
            .tunnel_id
            .parse()
            .map_err(|_| ReplayOrderError::CorruptTunnelId {
                job: d.job_id.to_string(),
                tunnel: d.tunnel_id.clone(),
            })?;
        orders.push(ReplayOrder {
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
