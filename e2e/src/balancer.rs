//! A small TCP load balancer for stories with several control-plane replicas behind one
//! address, as a cloud load balancer or a Kubernetes Service puts them: each new connection
//! goes to the next backend in turn, and a backend that refuses the connection is skipped (the
//! next one is tried), the way a balancer's connect failure or health check takes a dead
//! replica out. Bytes are copied both ways until either side closes.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// How long one backend gets to accept a connection before the next is tried.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// A running balancer (on `127.0.0.1`, or the address asked for); stops when dropped.
pub struct Balancer {
    /// Where clients connect.
    pub addr: SocketAddr,
    served: Arc<Vec<AtomicUsize>>,
    task: JoinHandle<()>,
}

impl Balancer {
    /// Listens on a free port of `127.0.0.1` and spreads connections over `backends`,
    /// round-robin.
    pub async fn start(backends: Vec<SocketAddr>) -> anyhow::Result<Self> {
        Self::start_on(std::net::Ipv4Addr::LOCALHOST.into(), backends).await
    }

    /// [`Balancer::start`] on a free port of `ip` (e.g. a LAN's bridge, for relays in
    /// namespaces).
    pub async fn start_on(ip: std::net::IpAddr, backends: Vec<SocketAddr>) -> anyhow::Result<Self> {
        anyhow::ensure!(!backends.is_empty(), "a balancer needs a backend");
        let listener = TcpListener::bind((ip, 0)).await?;
        let addr = listener.local_addr()?;
        let served: Arc<Vec<AtomicUsize>> =
            Arc::new(backends.iter().map(|_| AtomicUsize::new(0)).collect());
        let counts = served.clone();
        let task = tokio::spawn(async move {
            let next = AtomicUsize::new(0);
            while let Ok((client, _)) = listener.accept().await {
                let start = next.fetch_add(1, Ordering::Relaxed);
                let (backends, counts) = (backends.clone(), counts.clone());
                tokio::spawn(async move {
                    if let Some((i, upstream)) = connect(&backends, start).await {
                        counts[i].fetch_add(1, Ordering::Relaxed);
                        splice(client, upstream).await;
                    }
                    // No backend up: dropping the client closes it, as a balancer does.
                });
            }
        });
        Ok(Self { addr, served, task })
    }

    /// The balancer's URL (`http://127.0.0.1:PORT`).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Connections handed to each backend so far, in the order given.
    pub fn served(&self) -> Vec<usize> {
        self.served
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .collect()
    }
}

impl Drop for Balancer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The first backend, from `start` on in turn, that accepts a connection.
async fn connect(backends: &[SocketAddr], start: usize) -> Option<(usize, TcpStream)> {
    for k in 0..backends.len() {
        let i = (start + k) % backends.len();
        if let Ok(Ok(s)) =
            tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(backends[i])).await
        {
            return Some((i, s));
        }
    }
    None
}

async fn splice(mut client: TcpStream, mut upstream: TcpStream) {
    let _ = client.set_nodelay(true);
    let _ = upstream.set_nodelay(true);
    let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
}
