//! The audit log that proves itself: security-relevant actions recorded with who, what, on
//! what, from where, linked into hash chains ([`chain`]: one global, one per organisation —
//! today per account, the organisation to come); signed checkpoints of the head, kept in the
//! database and exportable, so a cut tail is caught; verification that names the first broken
//! row; export as JSON lines.

pub mod chain;

use crate::auth::jwt::SigningKey;
use crate::store::{NewAudit, Store, StoreError};
use fdt_api::{AuditBreak, AuditCheckpoint, AuditVerification};
use serde::{Deserialize, Serialize};
use std::io::Write;
use time::OffsetDateTime;

/// Rows read per page when verifying or exporting.
const PAGE: i64 = 5_000;

/// The claims of a signed checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckpointClaims {
    /// Always `audit-checkpoint`.
    pub sub: String,
    /// The head row's `seq`.
    pub seq: i64,
    /// Its hash, hex.
    pub hash: String,
    /// When it was signed (Unix seconds).
    pub iat: i64,
}

const CHECKPOINT_SUB: &str = "audit-checkpoint";

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Why an audit operation failed.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Signing a checkpoint failed.
    #[error("signing the checkpoint: {0}")]
    Sign(String),
    /// Writing the export failed.
    #[error("writing the export: {0}")]
    Io(#[from] std::io::Error),
    /// The object store refused the export, or its location is wrong.
    #[error("exporting to the object store: {0}")]
    ObjectStore(String),
}

/// Records `ev`; a failure is the caller's to report (an action must not go unaudited
/// silently).
pub async fn record(
    store: &Store,
    ev: NewAudit<'_>,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    store.append_audit(&ev, now).await.map(drop)
}

/// What one action through the API records: where it belongs, who, what, on what.
#[derive(Debug, Clone)]
pub(crate) struct Action<'a> {
    /// The organisation (today: the account) whose chain it is also in; empty for none.
    pub scope: &'a str,
    /// Who acted: an account ID, or `anonymous`.
    pub actor: &'a str,
    /// What happened.
    pub action: &'a str,
    /// On what.
    pub target: &'a str,
    /// Details.
    pub detail: serde_json::Value,
}

/// Records `a`, done by `client`; when it cannot be stored the request fails (an action must
/// not go unaudited).
pub(crate) async fn action(
    st: &crate::state::AppState,
    client: &crate::http::extract::Client,
    a: Action<'_>,
) -> Result<(), crate::error::ApiError> {
    let ev = NewAudit {
        scope: a.scope,
        actor: a.actor,
        action: a.action,
        target: a.target,
        detail: a.detail,
        ip: client.ip,
        user_agent: client.user_agent.as_deref(),
    };
    record(st.store(), ev, st.clock().now()).await?;
    Ok(())
}

/// The head of the global chain: `(seq, hash)`, `(0, GENESIS)` for an empty log. Reads the
/// whole log, so it is also the check that the head is one the chain leads to.
async fn head(store: &Store) -> Result<(chain::Verdict, Vec<(i64, [u8; 32])>), StoreError> {
    verify_rows(store, &[]).await
}

/// Verifies every row in pages; returns the verdict and the hashes at `wanted` seqs.
async fn verify_rows(
    store: &Store,
    wanted: &[i64],
) -> Result<(chain::Verdict, Vec<(i64, [u8; 32])>), StoreError> {
    let mut v = chain::Verifier::default();
    let mut found = Vec::new();
    let mut after = 0;
    'pages: loop {
        let rows = store.audit_rows(after, PAGE).await?;
        let Some(last) = rows.last() else { break };
        after = last.fields.seq;
        for r in &rows {
            if wanted.contains(&r.fields.seq)
                && let Some(h) = r.hash.as_deref().and_then(|h| <[u8; 32]>::try_from(h).ok())
            {
                found.push((r.fields.seq, h));
            }
            if !v.push(r) {
                break 'pages;
            }
        }
    }
    Ok((v.finish(), found))
}

/// Signs a checkpoint of the current head with `key`, keeps it, and returns it. The log must
/// verify first: a checkpoint of a broken chain would bless the tampering.
pub async fn checkpoint(
    store: &Store,
    key: &SigningKey,
    now: OffsetDateTime,
) -> Result<Result<AuditCheckpoint, AuditBreak>, AuditError> {
    let (verdict, _) = head(store).await?;
    if let Some(b) = verdict.first_break {
        return Ok(Err(to_break(b)));
    }
    let (seq, hash) = verdict.head.unwrap_or((0, chain::GENESIS));
    let claims = CheckpointClaims {
        sub: CHECKPOINT_SUB.into(),
        seq,
        hash: hex(&hash),
        iat: now.unix_timestamp(),
    };
    let token = key
        .sign(&claims)
        .map_err(|e| AuditError::Sign(e.to_string()))?;
    store.add_audit_checkpoint(seq, &hash, &token, now).await?;
    Ok(Ok(AuditCheckpoint {
        seq,
        hash: claims.hash,
        token,
    }))
}

fn to_break((seq, chain, why): (i64, String, chain::Break)) -> AuditBreak {
    AuditBreak {
        seq,
        chain,
        reason: why.as_str().to_owned(),
    }
}

/// The claims of a checkpoint signed by one of `keys`.
fn open_checkpoint<'k>(
    token: &str,
    keys: impl IntoIterator<Item = &'k SigningKey>,
) -> Result<CheckpointClaims, String> {
    keys.into_iter()
        .find_map(|k| k.verify_signed::<CheckpointClaims>(token).ok())
        .filter(|c| c.sub == CHECKPOINT_SUB)
        .ok_or_else(|| "a checkpoint is not signed by any key of this control plane".to_owned())
}

/// Verifies the log: both chains of every row, then each checkpoint — the ones kept and
/// `extra` (exported ones, e.g. from `fdt-cloud audit verify --checkpoint`) — against it.
pub async fn verify(
    store: &Store,
    keys: &[&SigningKey],
    extra: &[String],
) -> Result<AuditVerification, AuditError> {
    let mut tokens = store.audit_checkpoints().await?;
    tokens.extend(extra.iter().cloned());
    let mut checkpoints = Vec::new();
    let mut checkpoint_error = None;
    for t in &tokens {
        match open_checkpoint(t, keys.iter().copied()) {
            Ok(c) => checkpoints.push(c),
            Err(e) => {
                checkpoint_error.get_or_insert(e);
            }
        }
    }
    let wanted: Vec<i64> = checkpoints.iter().map(|c| c.seq).collect();
    let (verdict, found) = verify_rows(store, &wanted).await?;
    let (head_seq, head_hash) = verdict.head.unwrap_or((0, chain::GENESIS));
    if verdict.first_break.is_none() {
        for c in &checkpoints {
            if c.seq == 0 {
                continue;
            }
            let problem = match found.iter().find(|(s, _)| *s == c.seq) {
                _ if c.seq > head_seq => Some(format!(
                    "the log ends at seq {head_seq} but a checkpoint signed it up to seq {}: rows were cut",
                    c.seq
                )),
                Some((_, h)) if hex(h) == c.hash => None,
                _ => Some(format!(
                    "row {} does not match the checkpoint signed for it: the log was rewritten",
                    c.seq
                )),
            };
            if let Some(p) = problem {
                checkpoint_error.get_or_insert(p);
            }
        }
    }
    Ok(AuditVerification {
        ok: verdict.first_break.is_none() && checkpoint_error.is_none(),
        rows: verdict.rows,
        head_seq,
        head_hash: hex(&head_hash),
        first_broken: verdict.first_break.map(to_break),
        checkpoints: checkpoints.len() as u64,
        checkpoint_error,
    })
}

/// Writes every row, oldest first, as JSON lines to `out`; returns how many.
pub async fn export(store: &Store, out: &mut impl Write) -> Result<u64, AuditError> {
    let mut n = 0;
    let mut after = 0;
    while let Some(page) = export_page(store, &mut after).await? {
        out.write_all(&page.0)?;
        n += page.1;
    }
    Ok(n)
}

/// Writes every row, oldest first, as JSON lines to an object store location:
/// `s3://bucket/key` (a key ending in `/` gets `audit-<unix time>.jsonl`), with the `AWS_*`
/// settings in `env`. The upload is multipart, so memory stays bounded whatever the log's
/// size. Returns how many rows, and the key written.
pub async fn export_to_object_store(
    store: &Store,
    location: &str,
    env: impl IntoIterator<Item = (String, String)>,
    now: OffsetDateTime,
) -> Result<(u64, String), AuditError> {
    let rest = location
        .strip_prefix("s3://")
        .ok_or_else(|| AuditError::ObjectStore(format!("{location}: not s3://bucket/key")))?;
    let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
    let key = if key.is_empty() || key.ends_with('/') {
        format!("{key}audit-{}.jsonl", now.unix_timestamp())
    } else {
        key.to_owned()
    };
    use object_store::ObjectStoreExt as _;
    let (objects, _) = crate::bodies::open_store(&format!("s3://{bucket}"), env)
        .map_err(|e| AuditError::ObjectStore(e.to_string()))?;
    let failed = |e: object_store::Error| AuditError::ObjectStore(e.to_string());
    let upload = objects
        .put_multipart(&object_store::path::Path::from(key.as_str()))
        .await
        .map_err(failed)?;
    let mut w = object_store::WriteMultipart::new(upload);
    let mut n = 0;
    let mut after = 0;
    while let Some((bytes, rows)) = export_page(store, &mut after).await? {
        // At most a few parts in flight: a big log does not pile up in memory.
        w.wait_for_capacity(4).await.map_err(failed)?;
        w.write(&bytes);
        n += rows;
    }
    w.finish().await.map_err(failed)?;
    Ok((n, key))
}

/// The next page of rows after `after` as JSON lines, and how many; `None` at the end.
async fn export_page(store: &Store, after: &mut i64) -> Result<Option<(Vec<u8>, u64)>, AuditError> {
    let rows = store.audit_rows(*after, PAGE).await?;
    let Some(last) = rows.last() else {
        return Ok(None);
    };
    *after = last.fields.seq;
    let mut out = Vec::new();
    for r in &rows {
        let f = &r.fields;
        let line = serde_json::json!({
            "seq": f.seq,
            "at_ms": f.at_ms,
            "scope": f.scope,
            "actor": f.actor,
            "action": f.action,
            "target": f.target,
            "detail": f.detail,
            "ip": f.ip,
            "user_agent": f.user_agent,
            "prev_hash": r.prev_hash.as_deref().map(hex),
            "hash": r.hash.as_deref().map(hex),
            "scope_prev_hash": r.scope_prev_hash.as_deref().map(hex),
            "scope_hash": r.scope_hash.as_deref().map(hex),
        });
        writeln!(out, "{line}")?;
    }
    Ok(Some((out, rows.len() as u64)))
}

/// Takes a signed checkpoint when rows were added since the last one: `Ok(None)` when there
/// was nothing new, `Ok(Some(Err(break)))` when the log does not verify (no checkpoint then:
/// it would bless the tampering).
pub async fn scheduled_checkpoint(
    st: &crate::state::AppState,
) -> Result<Option<Result<AuditCheckpoint, AuditBreak>>, AuditError> {
    let last = st.store().last_audit_checkpoint_seq().await?;
    let newest = st.store().audit_rows(last, 1).await?;
    if newest.is_empty() {
        return Ok(None);
    }
    let key = st.agent_tokens().keyring().signing_key();
    checkpoint(st.store(), key, st.clock().now())
        .await
        .map(Some)
}

/// Runs [`scheduled_checkpoint`] every `[audit] checkpoint_interval_secs` until `shutdown`;
/// a log that no longer verifies is logged as an error at every round until it is seen to.
pub async fn run_checkpoints(
    st: crate::state::AppState,
    shutdown: tokio_util::sync::CancellationToken,
) {
    let secs = st.audit().checkpoint_interval_secs;
    if secs == 0 {
        return;
    }
    let every = std::time::Duration::from_secs(secs);
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.cancelled() => return,
        }
        let job = crate::store::Job::AuditCheckpoint;
        let Some(round) = crate::jobs::leased(&st, job, every, scheduled_checkpoint(&st)).await
        else {
            continue;
        };
        // A log that does not verify is a failed round too: its alert must fire.
        crate::metrics::job_run(job.name(), matches!(round, Ok(None | Some(Ok(_)))));
        match round {
            Ok(None) => {}
            Ok(Some(Ok(c))) => {
                tracing::info!(seq = c.seq, hash = %c.hash, "audit log checkpointed")
            }
            Ok(Some(Err(b))) => tracing::error!(
                seq = b.seq,
                chain = %b.chain,
                reason = %b.reason,
                "the audit log does not verify: no checkpoint signed"
            ),
            Err(e) => tracing::warn!(error = %e, "audit checkpoint failed"),
        }
    }
}
