//! The edge against a hostile visitor: raw bytes on real TCP and TLS sockets to a real relay,
//! where curl would refuse to send them. Each test names the attack; each fails if the edge's
//! answer to it changes.

mod connections;
mod h2;
mod http1;

use fdt_agent_core::config::TunnelConfig;
use fdt_e2e::{HttpOrigin, Stack, StackOptions};
use fdt_proto::Proto;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// Longest any one raw exchange may take before the test calls the edge stuck. Far above the
/// edge's own timeouts (1 s for headers in the test limits), so never a timing assertion.
const STUCK: Duration = Duration::from_secs(15);

fn http_tunnel(origin: &HttpOrigin, sub: &str) -> TunnelConfig {
    let mut t = TunnelConfig::new(Proto::Http, origin.addr.to_string());
    t.subdomain = Some(sub.to_string());
    t
}

/// Writes `request` on a fresh connection to `addr`, then reads until the edge closes it.
async fn raw(addr: SocketAddr, request: &[u8]) -> String {
    let mut sock = TcpStream::connect(addr).await.unwrap();
    sock.write_all(request).await.unwrap();
    read_to_close(&mut sock).await
}

async fn read_to_close<S: tokio::io::AsyncRead + Unpin>(sock: &mut S) -> String {
    let mut out = Vec::new();
    let read = tokio::time::timeout(STUCK, async {
        let mut buf = [0u8; 16 * 1024];
        loop {
            match sock.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => out.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(read.is_ok(), "the edge kept the connection open");
    String::from_utf8_lossy(&out).into_owned()
}

fn status_of(response: &str) -> Option<u16> {
    response
        .strip_prefix("HTTP/1.1 ")
        .and_then(|r| r.get(..3))
        .and_then(|s| s.parse().ok())
}

/// A stack with one agent serving `web` and `other` from two origins.
async fn two_tunnels() -> (Stack, HttpOrigin, HttpOrigin, fdt_e2e::Agent) {
    let stack = Stack::start(StackOptions::default()).await.unwrap();
    let web = HttpOrigin::start().await.unwrap();
    let other = HttpOrigin::start().await.unwrap();
    let agent = stack
        .agent(vec![
            ("web", http_tunnel(&web, "web")),
            ("other", http_tunnel(&other, "other")),
        ])
        .await
        .unwrap();
    (stack, web, other, agent)
}

fn requests(o: &HttpOrigin) -> usize {
    o.stats.requests.load(Ordering::SeqCst)
}

/// A stack with `limits` (on top of the test limits) and one agent serving `web`.
async fn one_tunnel(limits: fdt_relay::config::Limits) -> (Stack, HttpOrigin, fdt_e2e::Agent) {
    let stack = Stack::start(StackOptions {
        limits,
        ..StackOptions::default()
    })
    .await
    .unwrap();
    let web = HttpOrigin::start().await.unwrap();
    let agent = stack
        .agent(vec![("web", http_tunnel(&web, "web"))])
        .await
        .unwrap();
    (stack, web, agent)
}
