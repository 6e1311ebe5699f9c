//! The agent QUIC endpoint against datagrams no real agent sends: Initials under 1200 bytes
//! get no answer at all (RFC 9000 §14.1, §5.2.2), and past `limits.quic_retry_after_handshakes`
//! handshakes in flight a new client is first sent a stateless Retry, which a real agent follows.
//!
//! Packets are watched on the wire (a probe socket, or a UDP relay between agent and relay
//! that classifies every datagram), so these tests see what a client would see.

use fdt_agent_core::config::TunnelConfig;
use fdt_agent_core::{Connect, RelayTarget};
use fdt_e2e::stack::{BASE_DOMAIN, DEFAULT_ACCOUNT, test_limits};
use fdt_e2e::{Agent, Stack, StackOptions, within};
use fdt_proto::Proto;
use fdt_relay::config::Limits;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::net::UdpSocket;

/// Smallest datagram a server may answer an Initial in (RFC 9000 §14.1).
const MIN_INITIAL: usize = 1200;
/// How long a probe waits to be sure nothing comes back; the relay answers a full-size probe
/// in well under a millisecond on loopback.
const SILENCE: Duration = Duration::from_secs(1);
/// How long a probe waits for an answer that should come.
const ANSWER: Duration = Duration::from_secs(5);
/// QUIC version 1.
const QUIC_V1: u32 = 1;
/// A reserved version (RFC 9000 §15, pattern 0x?a?a?a?a) no server supports.
const GREASE_VERSION: u32 = 0x1a2a_3a4a;

fn tunnel() -> TunnelConfig {
    // Binding needs no origin; nothing is ever requested through it.
    TunnelConfig::new(Proto::Http, "127.0.0.1:9")
}

/// A long-header Initial of `version`, exactly `len` bytes: random-looking connection ids, no
/// token, a 2-byte Length covering the rest, and a zero packet number and payload.
fn initial(version: u32, len: usize) -> Vec<u8> {
    let mut p = vec![0xc0]; // long header, fixed bit, type Initial, 1-byte packet number
    p.extend_from_slice(&version.to_be_bytes());
    for cid in [[0x11u8; 8], [0x22u8; 8]] {
        p.push(cid.len() as u8);
        p.extend_from_slice(&cid);
    }
    p.push(0); // token length
    let rest = len - p.len() - 2;
    p.extend_from_slice(&(0x4000 | rest as u16).to_be_bytes());
    p.resize(len, 0);
    p
}

/// What the first packet of a datagram from the relay is.
#[derive(Debug, PartialEq, Eq)]
enum Kind {
    VersionNegotiation,
    Initial,
    Retry,
    Other,
}

fn kind(d: &[u8]) -> Kind {
    let long = d.first().is_some_and(|b| b & 0x80 != 0);
    match (long, d.get(1..5)) {
        (true, Some([0, 0, 0, 0])) => Kind::VersionNegotiation,
        (true, Some(_)) => match (d[0] >> 4) & 0x3 {
            0 => Kind::Initial,
            3 => Kind::Retry,
            _ => Kind::Other,
        },
        _ => Kind::Other,
    }
}

/// A socket connected to the relay's agent port that sends probes and reports what comes back.
struct Probe(UdpSocket);

impl Probe {
    async fn new(stack: &Stack) -> Probe {
        let s = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
        s.connect(stack.agent_addr).await.unwrap();
        Probe(s)
    }

    /// Sends `datagram` and returns the first answer within `wait`, if any.
    async fn ask(&self, datagram: &[u8], wait: Duration) -> Option<Vec<u8>> {
        self.0.send(datagram).await.unwrap();
        let mut buf = vec![0u8; 65_536];
        let n = tokio::time::timeout(wait, self.0.recv(&mut buf))
            .await
            .ok()?
            .unwrap();
        Some(buf[..n].to_vec())
    }
}

/// The first datagram a real agent sends: its Initial, captured on a socket that never answers.
async fn real_agent_initial(stack: &Stack) -> Vec<u8> {
    let trap = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
    let agent = agent_via(stack, trap.local_addr().unwrap());
    let mut buf = vec![0u8; 65_536];
    let (n, _) = within(ANSWER, "agent's first Initial", trap.recv_from(&mut buf))
        .await
        .unwrap()
        .unwrap();
    drop(agent);
    buf.truncate(n);
    buf
}

/// `initial` (one Initial packet, maybe followed by padding) cut to `len` bytes, with its
/// Length field shrunk to match so the header stays well-formed.
fn shortened(initial: &[u8], len: usize) -> Vec<u8> {
    let mut at = 5;
    for _ in 0..2 {
        at += 1 + usize::from(initial[at]); // connection id length and id
    }
    let (token_len, w) = varint(&initial[at..]);
    at += w + token_len as usize;
    let (length, w) = varint(&initial[at..]);
    let end = at + w + length as usize;
    let mut p = initial[..len].to_vec();
    if end > len {
        let new = length - (end - len) as u64;
        match w {
            1 => p[at] = new as u8,
            2 => p[at..at + 2].copy_from_slice(&(0x4000 | new as u16).to_be_bytes()),
            4 => p[at..at + 4].copy_from_slice(&(0x8000_0000 | new as u32).to_be_bytes()),
            _ => unreachable!("an Initial's Length fits in 4 bytes"),
        }
    }
    p
}

/// A QUIC variable-length integer at the front of `b`: its value and width.
fn varint(b: &[u8]) -> (u64, usize) {
    let w = 1usize << (b[0] >> 6);
    let v = b[1..w]
        .iter()
        .fold(u64::from(b[0] & 0x3f), |v, &x| (v << 8) | u64::from(x));
    (v, w)
}

/// An agent of [`DEFAULT_ACCOUNT`] connecting to `addr` as if it were the stack's relay.
fn agent_via(stack: &Stack, addr: SocketAddr) -> Agent {
    let connect = Connect::Relay {
        relay: RelayTarget {
            addr: addr.to_string(),
            server_name: Some(BASE_DOMAIN.into()),
            ca_file: Some(stack.ca_path()),
        },
        token: stack.token(DEFAULT_ACCOUNT),
    };
    stack
        .spawn_agent_via(connect, vec![("web", tunnel())])
        .unwrap()
}

/// Forwards datagrams between one agent and the relay, counting the Retry packets the relay
/// sends.
struct Tap {
    addr: SocketAddr,
    retries: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl Tap {
    async fn start(relay: SocketAddr) -> Tap {
        let front = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
        let back = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
        back.connect(relay).await.unwrap();
        let retries = Arc::new(AtomicU64::new(0));
        let addr = front.local_addr().unwrap();
        let seen = retries.clone();
        let task = tokio::spawn(async move {
            let (mut up, mut down) = (vec![0u8; 65_536], vec![0u8; 65_536]);
            let mut agent = None;
            loop {
                tokio::select! {
                    r = front.recv_from(&mut up) => {
                        let Ok((n, from)) = r else { return };
                        agent = Some(from);
                        let _ = back.send(&up[..n]).await;
                    }
                    r = back.recv(&mut down) => {
                        let Ok(n) = r else { return };
                        if kind(&down[..n]) == Kind::Retry {
                            seen.fetch_add(1, Ordering::Relaxed);
                        }
                        if let Some(to) = agent {
                            let _ = front.send_to(&down[..n], to).await;
                        }
                    }
                }
            }
        });
        Tap {
            addr,
            retries,
            task,
        }
    }

    fn retries(&self) -> u64 {
        self.retries.load(Ordering::Relaxed)
    }
}

impl Drop for Tap {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn initials_under_1200_bytes_get_no_answer() {
    let stack = Stack::start(StackOptions::default()).await.unwrap();
    let probe = Probe::new(&stack).await;

    // An unknown version is answered with Version Negotiation, but only at full size: the
    // size alone decides whether the relay speaks.
    let short = probe
        .ask(&initial(GREASE_VERSION, MIN_INITIAL - 1), SILENCE)
        .await;
    assert_eq!(
        short, None,
        "answered a 1199-byte Initial of an unknown version"
    );
    let full = probe
        .ask(&initial(GREASE_VERSION, MIN_INITIAL), ANSWER)
        .await
        .expect("a 1200-byte Initial of an unknown version gets Version Negotiation");
    assert_eq!(kind(&full), Kind::VersionNegotiation);

    // Version 1: a made-up Initial and a real agent's Initial, each cut to 1199 bytes.
    let made_up = initial(QUIC_V1, MIN_INITIAL - 1);
    assert_eq!(probe.ask(&made_up, SILENCE).await, None);
    let real = real_agent_initial(&stack).await;
    assert!(
        real.len() >= MIN_INITIAL,
        "agent sent a {}-byte Initial",
        real.len()
    );
    assert_eq!(kind(&real), Kind::Initial);
    let cut = shortened(&real, MIN_INITIAL - 1);
    let fresh = Probe::new(&stack).await;
    assert_eq!(
        fresh.ask(&cut, SILENCE).await,
        None,
        "answered a cut agent Initial"
    );
    // The same Initial whole starts a handshake: the silence above was the size.
    let answer = fresh
        .ask(&real, ANSWER)
        .await
        .expect("a whole agent Initial is answered");
    assert_eq!(kind(&answer), Kind::Initial);

    let mut agent = stack.agent(vec![("web", tunnel())]).await.unwrap();
    assert!(agent.public_url("web").is_some());
    agent.stop().await.unwrap();
    stack.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_binds_through_a_retry_when_the_threshold_is_zero() {
    let stack = Stack::start(StackOptions {
        limits: Limits {
            quic_retry_after_handshakes: 0,
            ..test_limits()
        },
        ..StackOptions::default()
    })
    .await
    .unwrap();
    let tap = Tap::start(stack.agent_addr).await;
    let mut agent = agent_via(&stack, tap.addr);
    agent.wait_bound().await.unwrap();
    assert!(agent.public_url("web").is_some());
    assert!(tap.retries() >= 1, "the relay sent no Retry");
    agent.stop().await.unwrap();
    stack.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_retry_below_the_threshold() {
    let stack = Stack::start(StackOptions::default()).await.unwrap();
    assert!(stack.config().limits.quic_retry_after_handshakes > 0);
    let tap = Tap::start(stack.agent_addr).await;
    let mut agent = agent_via(&stack, tap.addr);
    agent.wait_bound().await.unwrap();
    assert_eq!(tap.retries(), 0, "a Retry with no handshake in flight");
    agent.stop().await.unwrap();
    stack.shutdown().await.unwrap();
}
