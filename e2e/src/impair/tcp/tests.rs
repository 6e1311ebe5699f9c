#![allow(clippy::unwrap_used)]
use super::*;
use crate::impair::Stats;
use crate::pattern::Pattern;
use crate::{poll_until, within};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::task::JoinHandle;

const LIMIT: Duration = Duration::from_secs(20);

/// A proxy running on loopback, stopped (and checked to stop) by [`Running::stop`].
struct Running {
    addr: SocketAddr,
    counters: Arc<Counters>,
    shutdown: CancellationToken,
    task: JoinHandle<()>,
}

impl Running {
    async fn start(upstream: SocketAddr, config: TcpConfig) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let proxy = TcpProxy::new(listener, upstream, config);
        let shutdown = CancellationToken::new();
        Self {
            addr: proxy.local_addr().unwrap(),
            counters: proxy.counters(),
            shutdown: shutdown.clone(),
            task: tokio::spawn(proxy.run(shutdown)),
        }
    }

    async fn stats_when(&self, what: &str, done: impl Fn(&Stats) -> bool) -> Stats {
        let counters = self.counters.clone();
        poll_until(LIMIT, what, || {
            let stats = counters.snapshot();
            let ready = done(&stats).then_some(stats);
            async move { ready }
        })
        .await
        .unwrap()
    }

    async fn stop(self) {
        self.shutdown.cancel();
        within(LIMIT, "proxy stops on shutdown", self.task)
            .await
            .unwrap()
            .unwrap();
    }
}

fn config(spec: &str) -> TcpConfig {
    TcpConfig {
        impairment: spec.parse().unwrap(),
        ..TcpConfig::default()
    }
}

/// An upstream that echoes each connection and closes its side after the client's EOF.
async fn echo_upstream() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (mut r, mut w) = conn.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
                let _ = w.shutdown().await;
            });
        }
    });
    addr
}

/// Sends `data` through the proxy to the echo upstream (then closes the sending side) while
/// reading the echo until the proxy passes the upstream's FIN back, and returns what came back.
async fn echo_through(proxy: &Running, data: &[u8]) -> Vec<u8> {
    let conn = TcpStream::connect(proxy.addr).await.unwrap();
    let (mut r, mut w) = conn.into_split();
    let sent = data.to_vec();
    let writer = tokio::spawn(async move {
        w.write_all(&sent).await.unwrap();
        w.shutdown().await.unwrap();
    });
    let mut got = Vec::new();
    within(LIMIT, "echo through the proxy", r.read_to_end(&mut got))
        .await
        .unwrap()
        .unwrap();
    writer.await.unwrap();
    got
}

fn assert_same(got: &[u8], want: &[u8]) {
    assert_eq!(got.len(), want.len(), "length");
    if let Some(i) = got.iter().zip(want).position(|(a, b)| a != b) {
        panic!("bytes differ from offset {i}");
    }
}

#[tokio::test]
async fn carries_one_mib_both_ways_intact() {
    let proxy = Running::start(echo_upstream().await, config("delay=2ms,jitter=1ms")).await;
    let data = Pattern::new(7).take(1 << 20);
    assert_same(&echo_through(&proxy, &data).await, &data);
    // Every byte was counted before the FIN that ended the read was passed on.
    let stats = proxy.counters.snapshot();
    assert_eq!(stats.to_upstream.bytes, 1 << 20);
    assert_eq!(stats.to_client.bytes, 1 << 20);
    assert_eq!((stats.flows_opened, stats.io_errors), (1, 0));
    proxy.stop().await;
}

#[tokio::test]
async fn loss_stalls_chunks_but_never_corrupts_the_stream() {
    let proxy = Running::start(echo_upstream().await, config("delay=1ms,loss=100%")).await;
    let data = Pattern::new(8).take(256 * 1024);
    assert_same(&echo_through(&proxy, &data).await, &data);
    let stats = proxy.counters.snapshot();
    for dir in [stats.to_upstream, stats.to_client] {
        assert!(dir.forwarded > 0);
        assert_eq!(
            dir.lost, dir.forwarded,
            "every chunk is hit, none is dropped"
        );
        assert_eq!(dir.bytes, 256 * 1024);
    }
    proxy.stop().await;
}

#[tokio::test]
async fn budgets_smaller_than_a_read_still_flow() {
    // Regression guard: a read that waited for more room than exists would hang for ever.
    let proxy = Running::start(
        echo_upstream().await,
        TcpConfig {
            in_flight_bytes: 3000,
            total_in_flight_bytes: 5000,
            ..config("")
        },
    )
    .await;
    let data = Pattern::new(9).take(256 * 1024);
    assert_same(&echo_through(&proxy, &data).await, &data);
    proxy.stop().await;
}

#[tokio::test]
async fn connections_beyond_the_limit_are_closed_and_counted() {
    let proxy = Running::start(
        echo_upstream().await,
        TcpConfig {
            max_connections: 1,
            ..config("")
        },
    )
    .await;
    let mut first = TcpStream::connect(proxy.addr).await.unwrap();
    first.write_all(b"ping").await.unwrap();
    let mut buf = [0u8; 4];
    within(
        LIMIT,
        "echo on the first connection",
        first.read_exact(&mut buf),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(&buf, b"ping");

    let mut second = TcpStream::connect(proxy.addr).await.unwrap();
    let mut rest = Vec::new();
    // Closed by the proxy: end of stream, or a reset if our bytes were unread.
    let read = within(
        LIMIT,
        "second connection closed",
        second.read_to_end(&mut rest),
    )
    .await
    .unwrap();
    assert!(!matches!(read, Ok(n) if n > 0), "{read:?}");
    proxy
        .stats_when("second connection refused", |s| s.flows_rejected == 1)
        .await;
    proxy.stop().await;
}

#[tokio::test]
async fn unreachable_upstream_closes_the_client_and_counts() {
    let gone = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let upstream = gone.local_addr().unwrap();
    drop(gone);
    let proxy = Running::start(upstream, config("")).await;
    let mut conn = TcpStream::connect(proxy.addr).await.unwrap();
    let mut rest = Vec::new();
    let read = within(LIMIT, "client closed", conn.read_to_end(&mut rest))
        .await
        .unwrap();
    assert!(!matches!(read, Ok(n) if n > 0), "{read:?}");
    proxy
        .stats_when("connect failure counted", |s| s.io_errors == 1)
        .await;
    proxy.stop().await;
}
