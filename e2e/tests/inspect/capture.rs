//! Every kind of capture: HTTP exchanges with bodies, headers and timings, WebSocket messages
//! both ways, SSE events, TCP connections, and large bodies that stream intact past the cap.

use super::{echo_of, setup};
use fdt_agent_core::InspectConfig;
use fdt_agent_core::config::TunnelConfig;
use fdt_e2e::client::websocket;
use fdt_e2e::inspect::inspected_agent;
use fdt_e2e::{Stack, StackOptions, TcpEcho, poll_until, within};
use fdt_proto::Proto;
use futures_util::SinkExt;
use futures_util::StreamExt;
use serde_json::{Value, json};
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_exchanges_are_captured_with_bodies_headers_and_timings() {
    let cfg = InspectConfig {
        body_cap: 1024,
        ..InspectConfig::default()
    };
    let (stack, _origin, agent) = setup(&["cap"], cfg).await;
    let resp = agent
        .http
        .post(stack.http_url("cap", "/echo?x=1&y=%20two"))
        .header("X-Test", "it's \"quoted\"")
        .body("hello inspector")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let list = agent.wait_requests("", 1).await.unwrap();
    let id = list[0]["id"].as_str().unwrap().to_string();
    let ex = agent.wait_exchange(&id, |_| true).await.unwrap();
    assert_eq!(ex["tunnel_name"], "cap");
    assert_eq!(ex["method"], "POST");
    assert_eq!(ex["uri"], "/echo?x=1&y=%20two");
    assert!(
        ex["host"].as_str().unwrap().starts_with("cap.localhost"),
        "{ex}"
    );
    assert_eq!(ex["status"], 200);
    let headers = ex["request_headers"].as_array().unwrap();
    assert!(
        headers.contains(&json!(["x-test", "it's \"quoted\""])),
        "{headers:?}"
    );
    assert_eq!(ex["request_body"]["data"], "hello inspector");
    assert_eq!(ex["request_body"]["encoding"], "text");
    assert_eq!(ex["request_body"]["size"], 15);
    let echoed = echo_of(&ex);
    assert_eq!(echoed["body"], "hello inspector");
    let t = &ex["timings"];
    assert!(t["started_at_ms"].as_i64().unwrap() > 1_600_000_000_000);
    assert!(t["ttfb_ms"].as_f64().unwrap() <= t["total_ms"].as_f64().unwrap());

    // Bigger than the cap: truncated, full size still known, and forwarded intact.
    let big = "z".repeat(5000);
    let resp = agent
        .http
        .post(stack.http_url("cap", "/echo"))
        .body(big.clone())
        .send()
        .await
        .unwrap();
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["body"], big);
    let list = agent.wait_requests("", 2).await.unwrap();
    let ex = agent
        .wait_exchange(list[0]["id"].as_str().unwrap(), |_| true)
        .await
        .unwrap();
    assert_eq!(ex["request_body"]["size"], 5000);
    assert_eq!(ex["request_body"]["truncated"], true);
    assert_eq!(ex["request_body"]["data"].as_str().unwrap().len(), 1024);
    assert_eq!(ex["response_body"]["truncated"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_messages_are_captured_both_ways() {
    let (stack, _origin, agent) = setup(&["wsi"], InspectConfig::default()).await;
    let (mut ws, _) = websocket(stack.http_addr, "wsi.localhost", "/ws")
        .await
        .unwrap();
    ws.send(Message::text("hi there")).await.unwrap();
    assert_eq!(ws.next().await.unwrap().unwrap(), Message::text("hi there"));
    ws.send(Message::binary(vec![0xffu8, 0, 1])).await.unwrap();
    assert_eq!(
        ws.next().await.unwrap().unwrap(),
        Message::binary(vec![0xffu8, 0, 1])
    );
    // Listed while still open.
    let list = agent.wait_requests("", 1).await.unwrap();
    assert_eq!(list[0]["status"], 101);
    ws.close(None).await.unwrap();
    // Drain until the server's close answer ends the stream, then let go of the socket.
    while let Some(Ok(_)) = ws.next().await {}
    drop(ws);
    let ex = agent
        .wait_exchange(list[0]["id"].as_str().unwrap(), |e| {
            e["timeline"].as_array().is_some_and(|t| t.len() >= 5)
        })
        .await
        .unwrap();
    let tl: Vec<(String, String, Value)> = ex["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["direction"].as_str().unwrap().to_string(),
                e["kind"].as_str().unwrap().to_string(),
                e["payload"]["data"].clone(),
            )
        })
        .collect();
    let has = |dir: &str, kind: &str, data: Value| {
        tl.iter()
            .any(|(d, k, p)| d == dir && k == kind && (data.is_null() || *p == data))
    };
    assert!(has("to_local", "text", json!("hi there")), "{tl:?}");
    assert!(has("to_visitor", "text", json!("hi there")), "{tl:?}");
    assert!(has("to_local", "binary", json!("/wAB")), "{tl:?}");
    assert!(has("to_visitor", "binary", json!("/wAB")), "{tl:?}");
    assert!(has("to_local", "close", Value::Null), "{tl:?}");
    let sizes: Vec<u64> = ex["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["size"].as_u64().unwrap())
        .collect();
    assert!(sizes.contains(&8) && sizes.contains(&3), "{sizes:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_events_are_captured_as_a_timeline() {
    let (stack, _origin, agent) = setup(&["ssei"], InspectConfig::default()).await;
    let text = agent
        .http
        .get(stack.http_url("ssei", "/sse?n=3&ms=50"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains("data: event 3"), "{text}");
    let list = agent.wait_requests("", 1).await.unwrap();
    // The stream is listed from its head on; its timeline is stored once it has ended.
    let ex = agent
        .wait_exchange(list[0]["id"].as_str().unwrap(), |e| {
            e["timeline"].as_array().is_some_and(|t| t.len() >= 3)
        })
        .await
        .unwrap();
    let events: Vec<(Value, Value, Value)> = ex["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "sse_event")
        .map(|e| {
            (
                e["sse"]["id"].clone(),
                e["sse"]["data"].clone(),
                e["direction"].clone(),
            )
        })
        .collect();
    let expected: Vec<(Value, Value, Value)> = (1..=3)
        .map(|i| {
            (
                json!(i.to_string()),
                json!(format!("event {i}")),
                json!("to_visitor"),
            )
        })
        .collect();
    assert_eq!(events, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_connections_are_captured_with_bytes_and_duration() {
    let stack = Stack::start(StackOptions::default()).await.unwrap();
    let echo = TcpEcho::start().await.unwrap();
    let t = TunnelConfig::new(Proto::Tcp, echo.addr.to_string());
    let agent = inspected_agent(&stack, vec![("raw", t)], InspectConfig::default())
        .await
        .unwrap();
    let url = agent.handle.status.borrow().tunnels[0]
        .public_url
        .clone()
        .unwrap();
    let port: u16 = url.rsplit_once(':').unwrap().1.parse().unwrap();
    let mut sock = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let payload = vec![7u8; 1000];
    sock.write_all(&payload).await.unwrap();
    let mut back = vec![0u8; 1000];
    within(Duration::from_secs(10), "echo", sock.read_exact(&mut back))
        .await
        .unwrap()
        .unwrap();
    sock.shutdown().await.unwrap();
    let mut rest = Vec::new();
    let _ = within(
        Duration::from_secs(10),
        "close",
        sock.read_to_end(&mut rest),
    )
    .await;
    drop(sock);
    let conn = poll_until(
        Duration::from_secs(15),
        "closed connection record",
        || async {
            let v = agent.get("/api/requests/tcp").await.ok()?.json();
            let c = v["connections"].as_array()?.first()?.clone();
            c["closed_at_ms"].is_number().then_some(c)
        },
    )
    .await
    .unwrap();
    assert_eq!(conn["tunnel_name"], "raw");
    assert_eq!(conn["proto"], "tcp");
    assert_eq!(conn["bytes_to_local"], 1000, "{conn}");
    assert_eq!(conn["bytes_to_visitor"], 1000, "{conn}");
    assert!(conn["duration_ms"].as_f64().unwrap() >= 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_bodies_stream_intact_while_capture_keeps_only_the_cap() {
    use sha2::{Digest, Sha256};
    let (stack, _origin, agent) = setup(&["big"], InspectConfig::default()).await;
    let n: u64 = 32 * 1024 * 1024;
    let mut resp = agent
        .http
        .get(stack.http_url("big", &format!("/bytes?n={n}&seed=5")))
        .send()
        .await
        .unwrap();
    let (mut h, mut len) = (Sha256::new(), 0u64);
    while let Some(chunk) = resp.chunk().await.unwrap() {
        h.update(&chunk);
        len += chunk.len() as u64;
    }
    assert_eq!(len, n);
    assert_eq!(fdt_e2e::hex(&h.finalize()), fdt_e2e::pattern_sha256(5, n));
    let list = agent.wait_requests("", 1).await.unwrap();
    let ex = agent
        .wait_exchange(list[0]["id"].as_str().unwrap(), |_| true)
        .await
        .unwrap();
    assert_eq!(ex["response_body"]["size"], n);
    assert_eq!(ex["response_body"]["truncated"], true);
    assert_eq!(ex["response_body"]["encoding"], "base64");
    let status = agent.get("/api/status").await.unwrap().json();
    assert_eq!(status["inspect"]["enabled"], true);
    assert_eq!(status["inspect"]["dropped"], 0);
}
