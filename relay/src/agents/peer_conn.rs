//! The holder's side of forwarding: a peer relay's connection is served once its identity
//! verifies, and stays open only while it keeps presenting a valid one. Each stream is one
//! visitor (an HTTP exchange, a TLS connection or a TCP connection), served by this relay's
//! own edge with the visitor's address from the stream head and marked as forwarded (never
//! sent on to another relay).

use crate::auth::TokenVerifier;
use crate::edge::context::Edge;
use crate::edge::http::{ConnCtx, serve_conn};
use crate::edge::io::PrefixedIo;
use crate::peer::wire::{self, Kind, StreamHead};
use bytes::{Bytes, BytesMut};
use std::sync::Arc;
use std::time::Duration;

/// Streams a peer may have open at once on one connection.
pub const MAX_PEER_STREAMS: u32 = 4096;
/// Time a peer has to present its identity after the handshake.
const IDENTITY_TIMEOUT: Duration = Duration::from_secs(5);
/// Close code: the identity was refused, or expired without renewal.
const CLOSE_IDENTITY: u32 = 0x10;
/// Largest stream head (kind, flags, family, IPv6 address, port, length, 253-byte name).
const MAX_HEAD: usize = 3 + 16 + 3 + 253;
/// Clock skew allowed on an identity's expiry before its connection is closed.
const EXPIRY_SKEW_SECS: u64 = 30;

/// Serves a connection that negotiated the peer ALPN until it closes.
pub(crate) async fn run(edge: Arc<Edge>, verifier: TokenVerifier, conn: quinn::Connection) {
    let remote = conn.remote_address();
    let (send, recv, claims) =
        match tokio::time::timeout(IDENTITY_TIMEOUT, accept_identity(&verifier, &conn)).await {
            Ok(Ok(x)) => x,
            Ok(Err(e)) => {
                tracing::info!(%remote, error = %e, "peer relay refused");
                conn.close(CLOSE_IDENTITY.into(), b"identity refused");
                return;
            }
            Err(_) => {
                tracing::info!(%remote, "peer relay sent no identity in time");
                conn.close(CLOSE_IDENTITY.into(), b"identity refused");
                return;
            }
        };
    tracing::info!(%remote, peer = %claims.sub, region = %claims.region, "peer relay connected");
    conn.set_max_concurrent_bi_streams(MAX_PEER_STREAMS.into());
    edge.lifecycle.tasks.spawn(keep_identity(
        verifier,
        conn.clone(),
        (send, recv),
        claims.sub.clone(),
        claims.exp,
    ));
    loop {
        let (send, recv) = tokio::select! {
            s = conn.accept_bi() => match s {
                Ok(s) => s,
                Err(_) => return,
            },
            () = edge.lifecycle.shutdown.cancelled() => return,
        };
        let edge = edge.clone();
        edge.clone()
            .lifecycle
            .tasks
            .spawn(serve_stream(edge, send, recv));
    }
}

#[derive(Debug, thiserror::Error)]
enum IdentityError {
    #[error("stream: {0}")]
    Stream(String),
    #[error(transparent)]
    Wire(#[from] wire::WireError),
    #[error(transparent)]
    Auth(#[from] crate::auth::AuthError),
}

/// Reads one identity token frame from `recv`.
async fn read_token(recv: &mut quinn::RecvStream) -> Result<Option<String>, IdentityError> {
    let mut buf = Vec::new();
    loop {
        if let Some((token, _)) = wire::decode_token(&buf)? {
            return Ok(Some(token));
        }
        // Read no further than the frame: its length is known after two bytes.
        let want = match buf.get(..2) {
            Some(l) => 2 + usize::from(u16::from_be_bytes([l[0], l[1]])) - buf.len(),
            None => 2 - buf.len(),
        };
        let mut chunk = vec![0; want];
        match recv.read(&mut chunk).await {
            Ok(Some(n)) => buf.extend_from_slice(&chunk[..n]),
            Ok(None) if buf.is_empty() => return Ok(None),
            Ok(None) => return Err(IdentityError::Stream("ended inside a token".into())),
            Err(e) => return Err(IdentityError::Stream(e.to_string())),
        }
    }
}

async fn accept_identity(
    verifier: &TokenVerifier,
    conn: &quinn::Connection,
) -> Result<
    (
        quinn::SendStream,
        quinn::RecvStream,
        crate::auth::PeerClaims,
    ),
    IdentityError,
> {
    let (mut send, mut recv) = conn
        .accept_bi()
        .await
        .map_err(|e| IdentityError::Stream(e.to_string()))?;
    let token = read_token(&mut recv)
        .await?
        .ok_or_else(|| IdentityError::Stream("no identity".into()))?;
    let claims = verifier.verify_peer(&token).await?;
    send.write_all(&[wire::ACCEPTED])
        .await
        .map_err(|e| IdentityError::Stream(e.to_string()))?;
    Ok((send, recv, claims))
}

/// Keeps the connection open while the peer renews its identity before it expires; closes
/// it when a renewal does not verify, or the last one expired.
async fn keep_identity(
    verifier: TokenVerifier,
    conn: quinn::Connection,
    (_send, mut recv): (quinn::SendStream, quinn::RecvStream),
    relay: String,
    mut exp: u64,
) {
    loop {
        let left = exp
            .saturating_add(EXPIRY_SKEW_SECS)
            .saturating_sub(crate::auth::unix_now());
        tokio::select! {
            token = read_token(&mut recv) => match token {
                Ok(Some(token)) => match verifier.verify_peer(&token).await {
                    // Renewed by the relay it was opened by; another relay's identity is
                    // refused like a forged one.
                    Ok(claims) if claims.sub == relay => exp = exp.max(claims.exp),
                    Ok(claims) => {
                        tracing::info!(remote = %conn.remote_address(), first = %relay, now = %claims.sub, "peer relay's identity changed: closed");
                        conn.close(CLOSE_IDENTITY.into(), b"identity changed");
                        return;
                    }
                    Err(e) => {
                        tracing::info!(remote = %conn.remote_address(), error = %e, "peer relay's renewed identity refused");
                        conn.close(CLOSE_IDENTITY.into(), b"identity refused");
                        return;
                    }
                },
                // The peer stopped renewing: the expiry decides.
                Ok(None) | Err(_) => {
                    tokio::select! {
                        () = tokio::time::sleep(Duration::from_secs(left)) => {}
                        _ = conn.closed() => return,
                    }
                    conn.close(CLOSE_IDENTITY.into(), b"identity expired");
                    return;
                }
            },
            () = tokio::time::sleep(Duration::from_secs(left)) => {
                tracing::info!(remote = %conn.remote_address(), "peer relay's identity expired");
                conn.close(CLOSE_IDENTITY.into(), b"identity expired");
                return;
            }
            _ = conn.closed() => return,
        }
    }
}

/// Serves one forwarded visitor.
async fn serve_stream(edge: Arc<Edge>, send: quinn::SendStream, mut recv: quinn::RecvStream) {
    let timeout = edge.cfg.limits.header_read_timeout();
    let (head, rest) = match tokio::time::timeout(timeout, read_head(&mut recv)).await {
        Ok(Ok(x)) => x,
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "forwarded stream refused");
            return;
        }
        Err(_) => return,
    };
    edge.metrics.forwarded(head.kind, "received");
    let io = PrefixedIo::new(rest, tokio::io::join(recv, send));
    match head.kind {
        Kind::Http => {
            let Some(watcher) = edge.watcher() else {
                return;
            };
            let ctx = ConnCtx {
                peer: head.visitor,
                tls: head.tls,
                sni: None,
                forwarded: true,
            };
            serve_conn(edge, io, ctx, watcher).await;
        }
        Kind::Tcp => {
            // The head decoder admits only ports for this kind.
            if let Some(port) = head.port() {
                crate::edge::tcp_shared::serve_forwarded(&edge, io, head.visitor, port).await;
            }
        }
        Kind::Tls => {
            crate::edge::tls::pass_through_forwarded(&edge, io, head.visitor, &head.host).await;
        }
    }
}

/// Reads a stream head; what was read past it comes back with it.
async fn read_head(recv: &mut quinn::RecvStream) -> Result<(StreamHead, Bytes), String> {
    let mut buf = BytesMut::with_capacity(64);
    loop {
        if let Some((head, n)) = StreamHead::decode(&buf).map_err(|e| e.to_string())? {
            return Ok((head, buf.split_off(n).freeze()));
        }
        if buf.len() > MAX_HEAD {
            return Err("stream head too long".into());
        }
        match recv.read_chunk(MAX_HEAD, true).await {
            Ok(Some(chunk)) => buf.extend_from_slice(&chunk.bytes),
            Ok(None) => return Err("stream ended before its head".into()),
            Err(e) => return Err(e.to_string()),
        }
    }
}
