//! The HTTPS edge: reads the ClientHello's SNI without terminating TLS, then either passes the
//! raw bytes to a `tls` tunnel or terminates TLS here and serves HTTP.

use crate::edge::context::Edge;
use crate::edge::custom;
use crate::edge::http::{ConnCtx, serve_conn};
use crate::edge::io::{PrefixedIo, splice};
use crate::edge::sni::{SniPeek, peek_sni};
use crate::registry::{HostLookup, Tunnel};
use bytes::Bytes;
use fdt_api::DomainMode;
use fdt_proto::Proto;
use hyper_util::server::graceful::Watcher;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

/// Largest ClientHello we buffer while looking for the SNI (the parser caps at 16 KiB + records).
const MAX_HELLO: usize = 20 * 1024;

/// The `tls` tunnel SNI `name` is passed through to: a custom domain in passthrough mode
/// (its route's tunnel, only while it is the domain's account's), or a `tls` tunnel's own
/// name. `None` inside: terminate here. `None` outside: close (a passthrough domain whose
/// tunnel is offline: there is no certificate here to answer with).
fn passthrough_tunnel(edge: &Edge, name: &str) -> Option<Option<Arc<Tunnel>>> {
    let name = name.to_ascii_lowercase();
    match edge.domains.lookup(&name) {
        Some(d) if d.mode == DomainMode::Passthrough => {
            let t = custom::online_tunnel(edge, &d).filter(|t| t.proto == Proto::Tls)?;
            Some(Some(t))
        }
        Some(_) => Some(None),
        None => match edge.registry.lookup_host(&name) {
            HostLookup::Online(t) if t.proto == Proto::Tls => Some(Some(t)),
            _ => Some(None),
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
    let pass = match &sni {
        Some(name) => match passthrough_tunnel(&edge, name) {
            Some(t) => t,
            None => {
                tracing::debug!(%peer, host = %name, "passthrough domain offline: closed");
                return;
            }
        },
        None => None,
    };
    if let Some(tunnel) = pass {
        let name = sni.as_deref().unwrap_or_default();
        if tunnel.policy.check_ip(peer.ip()).is_err() {
            tracing::debug!(%peer, host = %name, "passthrough refused by IP policy");
            edge.metrics.refused("ip_forbidden");
            return;
        }
        let Ok(mut stream) = tunnel.open(peer, sni.clone()).await else {
            edge.metrics.refused("stream_refused");
            return;
        };
        if stream.send.write_all(&buf).await.is_err() {
            return;
        }
        tunnel.usage.connection();
        let mut agent = tokio::io::join(stream.recv, stream.send);
        if let Ok((inbound, outbound)) = splice(&mut sock, &mut agent).await {
            tunnel.usage.bytes(inbound + buf.len() as u64, outbound);
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
    };
    serve_conn(edge, tls, ctx, watcher).await;
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
