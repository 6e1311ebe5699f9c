//! Inspection through a real relay and agent: every kind of capture (HTTP with bodies,
//! WebSocket messages both ways, SSE events, TCP connections), the local API's filters and
//! paging over HTTP, replay as is and edited (reaching the local service, and refused when it
//! would go anywhere else), and HAR/cURL export.

#![allow(clippy::unwrap_used)]

use fdt_agent_core::InspectConfig;
use fdt_agent_core::config::TunnelConfig;
use fdt_e2e::inspect::{InspectedAgent, inspected_agent};
use fdt_e2e::{HttpOrigin, Stack, StackOptions, TcpEcho, poll_until, within};
use fdt_proto::Proto;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;

fn http_tunnel(name: &str, origin: &HttpOrigin) -> TunnelConfig {
    let mut t = TunnelConfig::new(Proto::Http, origin.addr.to_string());
    t.subdomain = Some(name.to_string());
    t
}

/// What the origin's `/echo` saw, from a captured exchange's response body.
fn echo_of(ex: &Value) -> Value {
    serde_json::from_str(ex["response_body"]["data"].as_str().unwrap()).unwrap()
}

async fn setup(names: &[&str], cfg: InspectConfig) -> (Stack, HttpOrigin, InspectedAgent) {
    let stack = Stack::start(StackOptions::default()).await.unwrap();
    let origin = HttpOrigin::start().await.unwrap();
    let tunnels = names
        .iter()
        .map(|n| (*n, http_tunnel(n, &origin)))
        .collect();
    let agent = inspected_agent(&stack, tunnels, cfg).await.unwrap();
    (stack, origin, agent)
}

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
    let tcp = TcpStream::connect(stack.http_addr).await.unwrap();
    let url = format!("ws://wsi.localhost:{}/ws", stack.http_addr.port());
    let (mut ws, _) = within(
        Duration::from_secs(10),
        "websocket handshake",
        tokio_tungstenite::client_async(url, tcp),
    )
    .await
    .unwrap()
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
async fn filters_and_cursor_paging_over_the_local_api() {
    let (stack, _origin, agent) = setup(&["fa", "fb"], InspectConfig::default()).await;
    for i in 0..8 {
        let body = if i == 5 { "find the needle" } else { "hay" };
        agent
            .http
            .post(stack.http_url("fa", &format!("/echo?i={i}")))
            .body(body)
            .send()
            .await
            .unwrap();
    }
    for i in 0..4 {
        agent
            .http
            .get(stack.http_url("fb", &format!("/missing/{i}")))
            .send()
            .await
            .unwrap();
    }
    let all = agent.wait_requests("limit=100", 12).await.unwrap();
    assert_eq!(all.len(), 12);
    let count = |q: &'static str| {
        let agent = &agent;
        async move {
            let r = agent.get(&format!("/api/requests/http?{q}")).await.unwrap();
            assert_eq!(r.status, 200, "{q}: {}", r.text);
            r.json()["requests"].as_array().unwrap().len()
        }
    };
    assert_eq!(count("tunnel_name=fb").await, 4);
    assert_eq!(count("status=4xx").await, 4);
    assert_eq!(count("status=200&tunnel_name=fa").await, 8);
    assert_eq!(count("method=post").await, 8);
    assert_eq!(count("path=%2Fecho%3Fi%3D3").await, 1);
    assert_eq!(count("body=needle").await, 1);
    // Pages of 5, newest first, no gaps or repeats.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let q = match &cursor {
            Some(c) => format!("/api/requests/http?limit=5&before={c}"),
            None => "/api/requests/http?limit=5".to_string(),
        };
        let v = agent.get(&q).await.unwrap().json();
        seen.extend(
            v["requests"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["id"].clone()),
        );
        match v["next"].as_str() {
            Some(n) => cursor = Some(n.to_string()),
            None => break,
        }
    }
    let ids: Vec<Value> = all.iter().map(|r| r["id"].clone()).collect();
    assert_eq!(seen, ids);
    // Bad input answers with the JSON error shape.
    let bad = agent.get("/api/requests/http?status=9xx").await.unwrap();
    assert_eq!(bad.status, 400);
    assert!(
        bad.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("9xx")
    );
    let missing = agent.get("/api/requests/http/ex_999999").await.unwrap();
    assert_eq!(missing.status, 404);
    assert_eq!(missing.json()["error"]["code"], "not_found");
    // The DNS-rebinding guard covers the new routes.
    let foreign = agent
        .http
        .get(agent.api_url("/api/requests/http"))
        .header("Host", "evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(foreign.status(), 403);
    // Clearing empties the list.
    assert_eq!(
        agent.delete("/api/requests/http").await.unwrap().status,
        204
    );
    assert_eq!(count("").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replays_reach_the_local_service_and_nothing_else() {
    let (stack, origin, agent) = setup(&["rp"], InspectConfig::default()).await;
    let other = HttpOrigin::start().await.unwrap();
    agent
        .http
        .post(stack.http_url("rp", "/echo?orig=1"))
        .header("X-Keep", "yes")
        .body("original body")
        .send()
        .await
        .unwrap();
    let list = agent.wait_requests("", 1).await.unwrap();
    let id = list[0]["id"].as_str().unwrap().to_string();
    let seen_before = origin.stats.requests.load(Ordering::SeqCst);

    // As is.
    let r = agent
        .replay(&json!({"id": id, "tunnel_name": "rp"}))
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["status"], 200);
    assert_eq!(
        origin.stats.requests.load(Ordering::SeqCst),
        seen_before + 1
    );
    let new_id = r.json()["id"].as_str().unwrap().to_string();
    let ex = agent.wait_exchange(&new_id, |_| true).await.unwrap();
    assert_eq!(ex["replay_of"], id.as_str());
    let echoed = echo_of(&ex);
    assert_eq!(echoed["body"], "original body");
    assert_eq!(echoed["path"], "/echo?orig=1");
    assert_eq!(echoed["headers"]["x-keep"], json!(["yes"]));

    // Edited: method, path, headers and body.
    let modify = json!({
        "method": "PUT",
        "path": "/echo?edited=1",
        "headers": {"set": {"X-Edited": "it's \"yes\""}, "remove": ["X-Keep"]},
        "body": {"base64": "Y2hhbmdlZA=="},
    });
    let r = agent
        .replay(&json!({"id": id, "modify": modify}))
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.text);
    let ex = agent
        .wait_exchange(r.json()["id"].as_str().unwrap(), |_| true)
        .await
        .unwrap();
    let echoed = echo_of(&ex);
    assert_eq!(echoed["method"], "PUT");
    assert_eq!(echoed["path"], "/echo?edited=1");
    assert_eq!(echoed["body"], "changed");
    assert_eq!(echoed["headers"]["x-edited"], json!(["it's \"yes\""]));
    assert!(echoed["headers"].get("x-keep").is_none());
    assert_eq!(
        origin.stats.requests.load(Ordering::SeqCst),
        seen_before + 2
    );

    // Anything aimed elsewhere is refused before a byte leaves the agent.
    let other_port = other.addr.port();
    let refused = [
        json!({"id": id, "modify": {"path": "http://169.254.169.254/latest/meta-data/"}}),
        json!({"id": id, "modify": {"path": format!("http://127.0.0.1:{other_port}/echo")}}),
        json!({"id": id, "modify": {"path": format!("//127.0.0.1:{other_port}/echo")}}),
        json!({"id": id, "modify": {"path": "/a/../../etc"}}),
        json!({"id": id, "modify": {"headers": {"set": {"Host": format!("127.0.0.1:{other_port}")}}}}),
        json!({"id": id, "modify": {"headers": {"set": {"Host": "169.254.169.254"}}}}),
    ];
    for body in refused {
        let r = agent.replay(&body).await.unwrap();
        assert_eq!(r.status, 400, "{body}: {}", r.text);
        assert_eq!(r.json()["error"]["code"], "replay_refused", "{}", r.text);
    }
    let r = agent
        .replay(&json!({"id": id, "url": "http://169.254.169.254/"}))
        .await
        .unwrap();
    assert_eq!(r.status, 400, "{}", r.text);
    let r = agent
        .replay(&json!({"id": id, "tunnel_name": "other"}))
        .await
        .unwrap();
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(
        origin.stats.requests.load(Ordering::SeqCst),
        seen_before + 2
    );
    assert_eq!(other.stats.requests.load(Ordering::SeqCst), 0);

    // A web page of another origin cannot drive replays (no CORS preflight for a form POST).
    let body = json!({"id": id}).to_string();
    let cross = agent
        .http
        .post(agent.api_url("/api/requests/http"))
        .header("Origin", "https://evil.example")
        .header("Content-Type", "application/json")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(cross.status(), 403);
    let form = agent
        .http
        .post(agent.api_url("/api/requests/http"))
        .header("Content-Type", "text/plain")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), 415);
    assert_eq!(
        origin.stats.requests.load(Ordering::SeqCst),
        seen_before + 2
    );

    // The library entry point applies the same guard.
    let spec = fdt_agent_core::ReplaySpec {
        method: "GET".into(),
        path: "http://169.254.169.254/".into(),
        headers: vec![],
        body: Default::default(),
        replay_of: None,
    };
    let e = agent.handle.replay("rp", spec, None).await.unwrap_err();
    assert!(matches!(e, fdt_agent_core::ReplayError::Refused(_)), "{e}");
}

/// The fields HAR 1.2 requires of an entry that are missing from `e`.
fn har_missing(e: &Value) -> Vec<&'static str> {
    let checks: [(&'static str, bool); 22] = [
        ("startedDateTime", e["startedDateTime"].is_string()),
        ("time", e["time"].is_number()),
        ("request.method", e["request"]["method"].is_string()),
        ("request.url", e["request"]["url"].is_string()),
        (
            "request.httpVersion",
            e["request"]["httpVersion"].is_string(),
        ),
        ("request.headers", e["request"]["headers"].is_array()),
        (
            "request.queryString",
            e["request"]["queryString"].is_array(),
        ),
        ("request.cookies", e["request"]["cookies"].is_array()),
        (
            "request.headersSize",
            e["request"]["headersSize"].is_number(),
        ),
        ("request.bodySize", e["request"]["bodySize"].is_number()),
        ("response.status", e["response"]["status"].is_number()),
        (
            "response.statusText",
            e["response"]["statusText"].is_string(),
        ),
        (
            "response.httpVersion",
            e["response"]["httpVersion"].is_string(),
        ),
        ("response.headers", e["response"]["headers"].is_array()),
        ("response.cookies", e["response"]["cookies"].is_array()),
        (
            "response.content.size",
            e["response"]["content"]["size"].is_number(),
        ),
        (
            "response.content.mimeType",
            e["response"]["content"]["mimeType"].is_string(),
        ),
        (
            "response.redirectURL",
            e["response"]["redirectURL"].is_string(),
        ),
        (
            "response.headersSize",
            e["response"]["headersSize"].is_number(),
        ),
        ("response.bodySize", e["response"]["bodySize"].is_number()),
        ("cache", e["cache"].is_object()),
        (
            "timings",
            ["send", "wait", "receive"]
                .iter()
                .all(|k| e["timings"][k].as_f64().is_some_and(|t| t >= 0.0)),
        ),
    ];
    checks
        .iter()
        .filter(|(_, ok)| !ok)
        .map(|(n, _)| *n)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn har_and_curl_exports_are_valid() {
    let (stack, _origin, agent) = setup(&["har"], InspectConfig::default()).await;
    agent
        .http
        .post(stack.http_url("har", "/echo?a=1&b=x%20y"))
        .header("Cookie", "s=1; t=2")
        .header("Content-Type", "application/json")
        .body("{\"k\":\"it's\"}")
        .send()
        .await
        .unwrap();
    agent
        .http
        .get(stack.http_url("har", "/missing"))
        .send()
        .await
        .unwrap();
    let list = agent.wait_requests("", 2).await.unwrap();
    let r = agent.get("/api/requests/http/har").await.unwrap();
    assert_eq!(r.status, 200);
    let disposition = r.header("content-disposition");
    assert!(disposition.starts_with("attachment"), "{disposition}");
    let doc = r.json();
    assert_eq!(doc["log"]["version"], "1.2");
    assert!(doc["log"]["creator"]["name"].is_string());
    assert!(doc["log"]["creator"]["version"].is_string());
    let entries = doc["log"]["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 2);
    for e in entries {
        assert_eq!(har_missing(e), Vec::<&str>::new(), "{e}");
    }
    // Oldest first, as HAR lists them.
    let post = &entries[0];
    assert_eq!(post["request"]["method"], "POST");
    assert!(
        post["request"]["url"]
            .as_str()
            .unwrap()
            .ends_with("/echo?a=1&b=x%20y")
    );
    assert_eq!(
        post["request"]["queryString"][1],
        json!({"name": "b", "value": "x y"})
    );
    assert_eq!(
        post["request"]["cookies"][1],
        json!({"name": "t", "value": "2"})
    );
    assert_eq!(post["request"]["postData"]["mimeType"], "application/json");
    assert_eq!(post["request"]["postData"]["text"], "{\"k\":\"it's\"}");
    assert_eq!(entries[1]["response"]["status"], 404);
    assert_eq!(entries[1]["response"]["statusText"], "Not Found");

    let id = list[1]["id"].as_str().unwrap();
    let one = agent
        .get(&format!("/api/requests/http/{id}/har"))
        .await
        .unwrap();
    assert!(one.header("content-disposition").starts_with("attachment"));
    assert_eq!(one.json()["log"]["entries"].as_array().unwrap().len(), 1);
    let curl = agent
        .get(&format!("/api/requests/http/{id}/curl"))
        .await
        .unwrap();
    assert!(curl.header("content-type").starts_with("text/plain"));
    assert!(curl.text.starts_with("curl -X POST"), "{}", curl.text);
    assert!(curl.text.contains("-H 'cookie: s=1; t=2'"), "{}", curl.text);
    assert!(
        curl.text.contains("\"{\\\"k\\\":\\\"it's\\\"}\"")
            || curl.text.contains("'{\"k\":\"it'\"'\"'s\"}'"),
        "{}",
        curl.text
    );
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
