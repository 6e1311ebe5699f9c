#![allow(clippy::unwrap_used)]
use super::*;
use crate::impair::Stats;
use crate::{poll_until, within};
use tokio::task::JoinHandle;

const LIMIT: Duration = Duration::from_secs(10);

/// A proxy running on loopback, stopped (and checked to stop) by [`Running::stop`].
struct Running {
    addr: SocketAddr,
    counters: Arc<Counters>,
    shutdown: CancellationToken,
    task: JoinHandle<()>,
}

impl Running {
    async fn start(upstream: SocketAddr, config: UdpConfig) -> Self {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let proxy = UdpProxy::new(socket, upstream, config);
        let shutdown = CancellationToken::new();
        Self {
            addr: proxy.local_addr().unwrap(),
            counters: proxy.counters(),
            shutdown: shutdown.clone(),
            task: tokio::spawn(proxy.run(shutdown)),
        }
    }

    /// Waits until the counters satisfy `done` and returns them.
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

fn config(spec: &str) -> UdpConfig {
    UdpConfig {
        impairment: spec.parse().unwrap(),
        ..UdpConfig::default()
    }
}

/// An upstream that answers every datagram with `echo:` and the datagram.
async fn echo_upstream() -> SocketAddr {
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = socket.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buf = vec![0u8; MAX_DATAGRAM];
        while let Ok((n, from)) = socket.recv_from(&mut buf).await {
            let mut reply = b"echo:".to_vec();
            reply.extend_from_slice(&buf[..n]);
            let _ = socket.send_to(&reply, from).await;
        }
    });
    addr
}

async fn client_of(proxy: &Running) -> UdpSocket {
    let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    client.connect(proxy.addr).await.unwrap();
    client
}

async fn recv(client: &UdpSocket) -> Vec<u8> {
    let mut buf = vec![0u8; MAX_DATAGRAM];
    let n = within(
        LIMIT,
        "a datagram back through the proxy",
        client.recv(&mut buf),
    )
    .await
    .unwrap()
    .unwrap();
    buf.truncate(n);
    buf
}

#[tokio::test]
async fn forwards_datagrams_both_ways_in_order() {
    let proxy = Running::start(echo_upstream().await, config("delay=2ms,rate=100mbit")).await;
    let client = client_of(&proxy).await;
    let sent: Vec<Vec<u8>> = (0..50)
        .map(|i| format!("datagram {i}").into_bytes())
        .collect();
    for datagram in &sent {
        client.send(datagram).await.unwrap();
    }
    for datagram in &sent {
        assert_eq!(recv(&client).await, [b"echo:", &datagram[..]].concat());
    }
    let stats = proxy
        .stats_when("50 replies counted", |s| s.to_client.forwarded == 50)
        .await;
    let bytes: usize = sent.iter().map(Vec::len).sum();
    assert_eq!(stats.to_upstream.forwarded, 50);
    assert_eq!(stats.to_upstream.bytes, bytes as u64);
    assert_eq!(stats.to_client.bytes, (bytes + 50 * 5) as u64);
    assert_eq!(stats.to_upstream.lost + stats.to_client.lost, 0);
    assert_eq!(stats.flows_opened, 1);
    proxy.stop().await;
}

#[tokio::test]
async fn each_client_address_is_its_own_flow() {
    let proxy = Running::start(echo_upstream().await, config("delay=1ms")).await;
    let (a, b) = (client_of(&proxy).await, client_of(&proxy).await);
    a.send(b"from a").await.unwrap();
    b.send(b"from b").await.unwrap();
    assert_eq!(recv(&a).await, b"echo:from a");
    assert_eq!(recv(&b).await, b"echo:from b");
    assert_eq!(proxy.counters.snapshot().flows_opened, 2);
    proxy.stop().await;
}

#[tokio::test]
async fn full_loss_forwards_nothing() {
    let upstream = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let proxy = Running::start(upstream.local_addr().unwrap(), config("loss=100%")).await;
    let client = client_of(&proxy).await;
    for i in 0..20u8 {
        client.send(&[i; 100]).await.unwrap();
    }
    // Loss is decided as each datagram arrives, so once all 20 are counted none can follow.
    let stats = proxy
        .stats_when("20 datagrams lost", |s| s.to_upstream.lost == 20)
        .await;
    assert_eq!(stats.to_upstream.forwarded, 0);
    let mut buf = [0u8; 200];
    let err = upstream.try_recv_from(&mut buf).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
    proxy.stop().await;
}

#[tokio::test]
async fn queues_are_bounded_in_packets_and_in_bytes() {
    let upstream = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let upstream = upstream.local_addr().unwrap();
    // A delay far beyond the test, so everything queued stays queued.
    let cases = [
        (
            "packets",
            QueueLimits {
                packets: 3,
                bytes: 1 << 20,
            },
            1 << 20,
            3,
        ),
        (
            "bytes",
            QueueLimits {
                packets: 100,
                bytes: 250,
            },
            1 << 20,
            2,
        ),
        ("total bytes", QueueLimits::default(), 150, 1),
    ];
    for (what, queue, total_queue_bytes, fit) in cases {
        let proxy = Running::start(
            upstream,
            UdpConfig {
                queue,
                total_queue_bytes,
                ..config("delay=50s")
            },
        )
        .await;
        let client = client_of(&proxy).await;
        for i in 0..5u8 {
            client.send(&[i; 100]).await.unwrap();
        }
        let stats = proxy
            .stats_when(what, |s| s.to_upstream.queue_full == 5 - fit)
            .await;
        assert_eq!(stats.to_upstream.forwarded, 0, "{what}");
        assert_eq!(stats.to_upstream.lost, 0, "{what}");
        proxy.stop().await;
    }
}

#[tokio::test]
async fn flows_beyond_the_limit_are_refused_and_counted() {
    let proxy = Running::start(
        echo_upstream().await,
        UdpConfig {
            max_flows: 1,
            ..config("")
        },
    )
    .await;
    let (a, b) = (client_of(&proxy).await, client_of(&proxy).await);
    a.send(b"first").await.unwrap();
    assert_eq!(recv(&a).await, b"echo:first");
    b.send(b"second").await.unwrap();
    proxy
        .stats_when("second client refused", |s| s.flows_rejected == 1)
        .await;
    a.send(b"again").await.unwrap();
    assert_eq!(recv(&a).await, b"echo:again");
    let stats = proxy.counters.snapshot();
    assert_eq!((stats.flows_opened, stats.to_upstream.forwarded), (1, 2));
    proxy.stop().await;
}

#[tokio::test]
async fn idle_flows_expire_and_a_new_datagram_opens_a_new_one() {
    let proxy = Running::start(
        echo_upstream().await,
        UdpConfig {
            idle_timeout: Duration::from_millis(500),
            ..config("")
        },
    )
    .await;
    let client = client_of(&proxy).await;
    client.send(b"hello").await.unwrap();
    assert_eq!(recv(&client).await, b"echo:hello");
    proxy
        .stats_when("flow expired", |s| s.flows_expired == 1)
        .await;
    client.send(b"back").await.unwrap();
    assert_eq!(recv(&client).await, b"echo:back");
    assert_eq!(proxy.counters.snapshot().flows_opened, 2);
    proxy.stop().await;
}

#[tokio::test]
async fn a_cut_path_drops_everything_both_ways_until_healed() {
    let partition = Partition::default();
    let proxy = Running::start(
        echo_upstream().await,
        UdpConfig {
            partition: partition.clone(),
            ..config("")
        },
    )
    .await;
    let client = client_of(&proxy).await;
    client.send(b"before").await.unwrap();
    assert_eq!(recv(&client).await, b"echo:before");
    partition.cut();
    assert!(partition.is_cut());
    for _ in 0..3 {
        client.send(b"during").await.unwrap();
    }
    let stats = proxy
        .stats_when("three datagrams cut", |s| s.to_upstream.cut == 3)
        .await;
    assert_eq!(
        (stats.to_upstream.forwarded, stats.to_upstream.lost),
        (1, 0)
    );
    partition.heal();
    client.send(b"after").await.unwrap();
    // The first answer after healing is the one to "after": nothing cut was queued.
    assert_eq!(recv(&client).await, b"echo:after");
    assert_eq!(proxy.counters.snapshot().to_upstream.forwarded, 2);
    proxy.stop().await;
}

#[tokio::test]
async fn duplicated_datagrams_arrive_twice_and_are_counted() {
    let proxy = Running::start(echo_upstream().await, config("dup=100%")).await;
    let client = client_of(&proxy).await;
    client.send(b"once").await.unwrap();
    // Duplicated on the way up (two echoes), and each echo on the way down: four copies.
    for _ in 0..4 {
        assert_eq!(recv(&client).await, b"echo:once");
    }
    let stats = proxy
        .stats_when("both ways duplicated", |s| {
            s.to_upstream.duplicated == 1 && s.to_client.duplicated == 2
        })
        .await;
    assert_eq!(
        (stats.to_upstream.forwarded, stats.to_client.forwarded),
        (2, 4)
    );
    proxy.stop().await;
}
