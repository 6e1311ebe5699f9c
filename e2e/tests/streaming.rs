//! Streaming through an http tunnel: server-sent events arrive as they are produced,
//! WebSocket upgrades carry messages both ways, and 256 MiB bodies cross intact both ways.

use fdt_agent_core::config::TunnelConfig;
use fdt_e2e::client::websocket;
use fdt_e2e::{HttpOrigin, Stack, StackOptions, pattern_sha256, within};
use fdt_proto::Proto;
use futures_util::{SinkExt, StreamExt};
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::Role;

/// 256 MiB.
const BULK: u64 = 256 * 1024 * 1024;
/// Time limit of one bulk transfer.
const BULK_TIMEOUT: Duration = Duration::from_secs(120);

async fn setup(name: &str) -> (Stack, HttpOrigin, fdt_e2e::Agent) {
    let stack = Stack::start(StackOptions::default()).await.unwrap();
    let origin = HttpOrigin::start().await.unwrap();
    let mut t = TunnelConfig::new(Proto::Http, origin.addr.to_string());
    t.subdomain = Some(name.to_string());
    let agent = stack.agent(vec![(name, t)]).await.unwrap();
    (stack, origin, agent)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_events_arrive_before_the_stream_ends() {
    let (stack, origin, _agent) = setup("sse").await;
    let (n, ms) = (5usize, 300);
    let mut child = stack
        .curl(&stack.http_url("sse", &format!("/sse?n={n}&ms={ms}")))
        .spawn_streaming()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut events = Vec::new();
    let mut produced_when_first_read = None;
    within(Duration::from_secs(20), "reading the SSE stream", async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if let Some(data) = line.strip_prefix("data: ") {
                if events.is_empty() {
                    produced_when_first_read = Some(origin.stats.sse_sent.load(Ordering::SeqCst));
                }
                events.push(data.to_string());
            }
        }
    })
    .await
    .unwrap();
    let expected: Vec<String> = (1..=n).map(|i| format!("event {i}")).collect();
    assert_eq!(events, expected);
    // A buffering proxy would only deliver event 1 once the origin had produced all of them.
    let produced = produced_when_first_read.unwrap();
    assert!(
        produced < n,
        "event 1 was read only after the origin had produced {produced} of {n} events"
    );
}

/// Sends text and binary messages (one at a time, then several in flight) and checks each
/// comes back unchanged and in order.
pub(crate) async fn echo_exchange<S>(ws: &mut WebSocketStream<S>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    async fn next_data<S>(ws: &mut WebSocketStream<S>) -> Message
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    {
        loop {
            let m = ws.next().await.unwrap().unwrap();
            if m.is_text() || m.is_binary() {
                return m;
            }
        }
    }
    for i in 0..10usize {
        let msg = if i % 2 == 0 {
            Message::text(format!("text message {i}"))
        } else {
            Message::binary(vec![i as u8; 1000 * (i + 1)])
        };
        ws.send(msg.clone()).await.unwrap();
        assert_eq!(next_data(ws).await, msg, "message {i}");
    }
    let big = Message::binary(fdt_e2e::Pattern::new(9).take(300_000));
    ws.send(Message::text("a")).await.unwrap();
    ws.send(big.clone()).await.unwrap();
    ws.send(Message::text("z")).await.unwrap();
    let mut got = Vec::new();
    for _ in 0..3 {
        got.push(next_data(ws).await);
    }
    assert_eq!(got, vec![Message::text("a"), big, Message::text("z")]);
    ws.close(None).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_echo_both_ways() {
    let (stack, _origin, _agent) = setup("ws").await;
    let mut tcp = TcpStream::connect(stack.http_addr).await.unwrap();
    // The opening handshake by hand, checked as RFC 6455 §4.1 asks a client to check it.
    let key = "dGhlIHNhbXBsZSBub25jZQ==";
    let req = format!(
        "GET /ws HTTP/1.1\r\nHost: ws.localhost:{}\r\nConnection: Upgrade\r\n\
         Upgrade: websocket\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n",
        stack.http_addr.port()
    );
    tcp.write_all(req.as_bytes()).await.unwrap();
    let head = within(Duration::from_secs(10), "101 response", async {
        // Byte by byte, so no frame byte after the head is consumed here.
        let mut head = Vec::new();
        while !head.ends_with(b"\r\n\r\n") {
            head.push(tcp.read_u8().await.unwrap());
        }
        String::from_utf8(head).unwrap().to_ascii_lowercase()
    })
    .await
    .unwrap();
    assert!(head.starts_with("http/1.1 101"), "{head}");
    let header = |name: &str| {
        head.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}:")))
            .map(str::trim)
            .unwrap_or("")
            .to_string()
    };
    assert_eq!(header("upgrade"), "websocket", "{head}");
    assert!(
        header("connection")
            .split(',')
            .any(|t| t.trim() == "upgrade"),
        "{head}"
    );
    let accept = derive_accept_key(key.as_bytes()).to_ascii_lowercase();
    assert_eq!(header("sec-websocket-accept"), accept, "{head}");
    let mut ws = WebSocketStream::from_raw_socket(tcp, Role::Client, None).await;
    within(
        Duration::from_secs(20),
        "websocket echo",
        echo_exchange(&mut ws),
    )
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
/// Regression: the agent hop's `Connection: close` leaked into the visitor's 101 answer
/// and strict clients (tungstenite) refused the upgrade.
async fn tungstenite_client_accepts_the_relay_101() {
    let (stack, _origin, _agent) = setup("wst").await;
    let (mut ws, resp) = websocket(stack.http_addr, "wst.localhost", "/ws")
        .await
        .unwrap();
    assert_eq!(resp.status(), 101);
    within(
        Duration::from_secs(20),
        "websocket echo",
        echo_exchange(&mut ws),
    )
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn download_256mib_matches_sha256() {
    let (stack, _origin, _agent) = setup("dl").await;
    let seed = 42;
    let (len, hash) = stack
        .curl(&stack.http_url("dl", &format!("/bytes?n={BULK}&seed={seed}")))
        .timeout(BULK_TIMEOUT)
        .download_sha256()
        .await
        .unwrap();
    assert_eq!(len, BULK);
    assert_eq!(hash, pattern_sha256(seed, BULK));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_256mib_matches_sha256() {
    let (stack, _origin, _agent) = setup("ul").await;
    let (resp, sent) = stack
        .curl(&stack.http_url("ul", "/upload"))
        .timeout(BULK_TIMEOUT)
        .upload_pattern(7, BULK)
        .await
        .unwrap();
    assert_eq!(resp.status, 200, "{}", resp.text());
    let v = resp.json().unwrap();
    assert_eq!(v["len"], BULK);
    assert_eq!(v["sha256"].as_str().unwrap(), sent);
}
