//! `fdt-impair`: puts delay, jitter, loss, duplication and a rate limit on one UDP or TCP path,
//! for benchmarks and chaos drills on a kernel without netem.
//!
//! ```text
//! fdt-impair udp --listen 127.0.0.1:22334 --upstream 127.0.0.1:22333 --spec delay=25ms,loss=1%
//! fdt-impair tcp --listen 127.0.0.2:7835 --upstream 127.0.0.1:7835 --spec delay=25ms,loss=1%
//! ```
//!
//! It prints one line when it listens and its counters when it stops (SIGTERM or ctrl-c), both
//! to stderr. A bad spec is a usage error: a message naming the item, and exit code 2.

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use fdt_e2e::impair::{
    Counters, Impairment, QueueLimits, TcpConfig, TcpProxy, UdpConfig, UdpProxy,
};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, UdpSocket};
use tokio_util::sync::CancellationToken;

#[derive(Parser, Debug)]
#[command(about = "Delay/loss proxy for UDP (QUIC) or TCP paths, for benchmarks and drills")]
struct Cli {
    #[command(subcommand)]
    proto: Proto,
}

#[derive(Subcommand, Debug)]
enum Proto {
    /// Proxy UDP datagrams (e.g. QUIC between agent and relay); loss drops datagrams.
    Udp {
        #[command(flatten)]
        path: PathArgs,
        /// Most client addresses served at once.
        #[arg(long)]
        max_flows: Option<usize>,
        /// Seconds without a datagram after which a client's upstream socket is closed.
        #[arg(long)]
        idle_timeout_secs: Option<u64>,
        /// Most datagrams queued per direction of each client.
        #[arg(long)]
        queue_packets: Option<usize>,
        /// Most bytes queued per direction of each client.
        #[arg(long)]
        queue_bytes: Option<usize>,
        /// Most bytes queued for all clients together.
        #[arg(long)]
        total_queue_bytes: Option<usize>,
    },
    /// Proxy TCP connections (e.g. rathole's or bore's); a loss stalls a chunk one RTO (200 ms).
    Tcp {
        #[command(flatten)]
        path: PathArgs,
        /// Most connections relayed at once.
        #[arg(long)]
        max_connections: Option<usize>,
        /// Most bytes in flight per direction of each connection.
        #[arg(long)]
        in_flight_bytes: Option<usize>,
        /// Most bytes in flight for all connections together.
        #[arg(long)]
        total_in_flight_bytes: Option<usize>,
    },
}

/// Where the proxy listens, where it forwards, and what it does in between.
#[derive(Args, Debug)]
struct PathArgs {
    /// Address to listen on (clients connect or send here).
    #[arg(long)]
    listen: SocketAddr,
    /// Address to forward to.
    #[arg(long)]
    upstream: SocketAddr,
    /// Impairment, each direction: delay=25ms,jitter=2ms,loss=1%,dup=0.1%,rate=100mbit,seed=7
    /// (dup: UDP only)
    /// (units: us/ms/s; loss in %; rate in bit/kbit/mbit/gbit or bps/kbps/mbps/gbps).
    #[arg(long)]
    spec: Impairment,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // clap exits with status 2 and names the bad item when --spec does not parse.
    let cli = Cli::parse();
    let shutdown = CancellationToken::new();
    tokio::spawn(cancel_on_signal(shutdown.clone()));
    match cli.proto {
        Proto::Udp {
            path,
            max_flows,
            idle_timeout_secs,
            queue_packets,
            queue_bytes,
            total_queue_bytes,
        } => {
            let d = UdpConfig::default();
            let config = UdpConfig {
                impairment: path.spec.clone(),
                max_flows: max_flows.unwrap_or(d.max_flows),
                idle_timeout: idle_timeout_secs.map_or(d.idle_timeout, Duration::from_secs),
                queue: QueueLimits {
                    packets: queue_packets.unwrap_or(d.queue.packets),
                    bytes: queue_bytes.unwrap_or(d.queue.bytes),
                },
                total_queue_bytes: total_queue_bytes.unwrap_or(d.total_queue_bytes),
                partition: d.partition,
            };
            let socket = UdpSocket::bind(path.listen)
                .await
                .with_context(|| format!("binding UDP {}", path.listen))?;
            let proxy = UdpProxy::new(socket, path.upstream, config);
            announce("udp", proxy.local_addr()?, &path);
            let counters = proxy.counters();
            proxy.run(shutdown).await;
            report(&counters);
        }
        Proto::Tcp {
            path,
            max_connections,
            in_flight_bytes,
            total_in_flight_bytes,
        } => {
            let d = TcpConfig::default();
            let config = TcpConfig {
                impairment: path.spec.clone(),
                max_connections: max_connections.unwrap_or(d.max_connections),
                connect_timeout: d.connect_timeout,
                in_flight_bytes: in_flight_bytes.unwrap_or(d.in_flight_bytes),
                total_in_flight_bytes: total_in_flight_bytes.unwrap_or(d.total_in_flight_bytes),
            };
            let listener = TcpListener::bind(path.listen)
                .await
                .with_context(|| format!("binding TCP {}", path.listen))?;
            let proxy = TcpProxy::new(listener, path.upstream, config);
            announce("tcp", proxy.local_addr()?, &path);
            let counters = proxy.counters();
            proxy.run(shutdown).await;
            report(&counters);
        }
    }
    Ok(())
}

fn announce(proto: &str, local: SocketAddr, path: &PathArgs) {
    eprintln!(
        "fdt-impair: {proto} {local} -> {} with {}",
        path.upstream, path.spec
    );
}

fn report(counters: &Arc<Counters>) {
    eprintln!("fdt-impair: stopped; {}", counters.snapshot());
}

/// Cancels `shutdown` on SIGTERM (how bench scripts stop processes) or ctrl-c.
async fn cancel_on_signal(shutdown: CancellationToken) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
    shutdown.cancel();
}
