//! The HTTPS edge: reads the ClientHello's SNI without terminating TLS, then either passes the
//! raw bytes to a `tls` tunnel or terminates TLS here and serves HTTP.

use crate::edge::context::Edge;
use crate::edge::custom;
use crate::edge::forward;
use crate::edge::http::{ConnCtx, serve_conn};
use crate::edge::io::PrefixedIo;
use crate::edge::sni::{SniPeek, peek_sni};
use crate::edge::tcp::{self, Refusal};
use crate::edge::tcp_shared;
use crate::peer::wire::{Answer, Kind};
use crate::registry::{HostLookup, Tunnel};
use bytes::Bytes;
use fdt_api::{DomainMode, TunnelProto};
use fdt_proto::Proto;
use hyper_util::server::graceful::Watcher;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

/// Largest ClientHello we buffer while looking for the SNI (the parser caps at 16 KiB + records).
const MAX_HELLO: usize = 20 * 1024;

/// Where a TLS connection for SNI `name` goes, decided with one look at the domains and
/// the registry.
enum TlsRoute {
    /// Passed through to this relay's `tls` tunnel (a `tls` tunnel's own name, or a
    /// passthrough custom domain whose route's tunnel is the domain's account's).
    Here(Arc<Tunnel>),
    /// Terminated here (an http tunnel's name, a terminated custom domain, any other name).
    Terminate,
    /// Not held here: a relay holding `label` as a `tls` tunnel may take it as it is; failing
    /// that it is terminated here, or closed when `close` (a passthrough domain: there is no
    /// certificate here to answer with).
    Elsewhere { label: String, close: bool },
}

fn tls_route(edge: &Edge, name: &str) -> TlsRoute {
    let name = name.to_ascii_lowercase();
    match edge.domains.lookup(&name) {
        Some(d) if d.mode == DomainMode::Passthrough => {
            match custom::online_tunnel(edge, &d).filter(|t| t.proto == Proto::Tls) {
                Some(t) => TlsRoute::Here(t),
                None => TlsRoute::Elsewhere {
                    label: d.target.clone().unwrap_or_default(),
                    close: true,
                },
            }
        }
        Some(_) => TlsRoute::Terminate,
        None => match edge.registry.lookup_host(&name) {
            HostLookup::Online(t) if t.proto == Proto::Tls => TlsRoute::Here(t),
            HostLookup::Online(_) => TlsRoute::Terminate,
            _ => match forward::label_of(edge, &name) {
                Some(label) => TlsRoute::Elsewhere {
                    label: label.to_owned(),
                    close: false,
                },
                None => TlsRoute::Terminate,
            },
        },
    }
}

/// Handles one TCP connection accepted on the HTTPS port.
pub async fn handle_conn(edge: Arc<Edge>, mut sock: TcpStream, peer: SocketAddr, watcher: Watcher) {
    let hello_timeout = Duration::from_millis(edge.cfg.limits.tls_hello_timeout_ms);
    let (buf, sni) = match tokio::time::timeout(hello_timeout, read_hello(&mut sock)).await {
        Ok(Ok(x)) => x,
        Ok(Err(e)) => {
            tracing::debug!(%peer, error = %e, "not a usable TLS ClientHello");
            return;
        }
        Err(_) => {
            tracing::debug!(%peer, "ClientHello timed out");
            return;
        }
    };
    let pass = match sni.as_deref().map(|name| (name, tls_route(&edge, name))) {
        Some((_, TlsRoute::Here(t))) => Some(t),
        Some((name, TlsRoute::Elsewhere { label, close })) => {
            // A relay holding the name as a `tls` tunnel (or the passthrough domain's
            // tunnel) takes the connection as it is.
            if !label.is_empty()
                && let Some(relay) = forward::holder(&edge, &label, TunnelProto::Tls).await
            {
                forward::forward_tls(&edge, relay, sock, peer, (name, &label), &buf).await;
                return;
            }
            if close {
                tracing::debug!(%peer, host = %name, "passthrough domain offline: closed");
                return;
            }
            None
        }
        Some((_, TlsRoute::Terminate)) | None => None,
    };
    if let Some(tunnel) = pass {
        let name = sni.clone().unwrap_or_default();
        match tcp::admit(&edge, &tunnel, peer, Some(&name)).await {
            Ok(stream) => tcp::carry(&tunnel, stream, &mut sock, &buf).await,
            // The agent's session here is gone: it may be bound on another relay already.
            Err(Refusal::Offline) => {
                if let Some(label) = forward::label_of(&edge, &name)
                    && let Some(relay) = forward::holder(&edge, label, TunnelProto::Tls).await
                {
                    forward::forward_tls(&edge, relay, sock, peer, (&name, label), &buf).await;
                }
            }
            Err(Refusal::Policy | Refusal::Busy) => {}
        }
        return;
    }
    let io = PrefixedIo::new(Bytes::from(buf), sock);
    // A name outside the base domain is a custom domain, maybe one a CA is validating with
    // TLS-ALPN-01 (before this relay has polled it as verified): look at the ALPN list first.
    // Tunnels' own names keep the direct path below.
    let custom = sni.as_deref().filter(|name| !edge.cfg.is_under_base(name));
    let tls = if let Some(host) = custom {
        let lazy = tokio_rustls::LazyConfigAcceptor::new(rustls::server::Acceptor::default(), io);
        let Ok(Ok(start)) = tokio::time::timeout(hello_timeout, lazy).await else {
            return;
        };
        if start
            .client_hello()
            .alpn()
            .is_some_and(crate::edge::acme::asks_acme_tls)
        {
            crate::edge::acme::tls_alpn01(&edge, host, start, hello_timeout).await;
            return;
        }
        match tokio::time::timeout(hello_timeout, start.into_stream(edge.tls.clone())).await {
            Ok(Ok(tls)) => tls,
            _ => return,
        }
    } else {
        let acceptor = tokio_rustls::TlsAcceptor::from(edge.tls.clone());
        match tokio::time::timeout(hello_timeout, acceptor.accept(io)).await {
            Ok(Ok(tls)) => tls,
            _ => return,
        }
    };
    let ctx = ConnCtx {
        peer,
        tls: true,
        sni,
        forwarded: false,
    };
    serve_conn(edge, tls, ctx, watcher).await;
}

/// Serves a TLS connection another relay forwarded here for `host` (its ClientHello is the
/// first bytes of `io`): answered (see [`crate::peer::wire::Answer`]) once this relay has a
/// stream to the agent of the `tls` tunnel holding `host` for the visitor, then passed to it.
pub(crate) async fn pass_through_forwarded<S>(
    edge: &Edge,
    mut io: S,
    visitor: SocketAddr,
    host: &str,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let admitted = match tls_route(edge, host) {
        TlsRoute::Here(tunnel) => tcp::admit(edge, &tunnel, visitor, Some(host))
            .await
            .map(|stream| (tunnel, stream)),
        // Not held here (the forwarding relay's placement was stale).
        TlsRoute::Elsewhere { .. } | TlsRoute::Terminate => Err(Refusal::Offline),
    };
    match admitted {
        Ok((tunnel, stream)) => {
            if io.write_all(&[Answer::Accepted as u8]).await.is_ok() {
                tcp::carry(&tunnel, stream, &mut io, &[]).await;
            }
        }
        Err(refusal) => tcp_shared::refuse(edge, Kind::Tls, &mut io, refusal).await,
    }
}

async fn read_hello(sock: &mut TcpStream) -> std::io::Result<(Vec<u8>, Option<String>)> {
    let mut buf = Vec::with_capacity(2048);
    let mut chunk = [0u8; 4096];
    loop {
        let n = sock.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
        match peek_sni(&buf) {
            Ok(SniPeek::NeedMore) if buf.len() < MAX_HELLO => continue,
            Ok(SniPeek::NeedMore) => return Err(std::io::ErrorKind::InvalidData.into()),
            Ok(SniPeek::Found(sni)) => return Ok((buf, sni)),
            Err(e) => return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, e)),
        }
    }
}
