//! HTTP/2 on the HTTPS edge: `:authority` against `host`, HEADERS/RST_STREAM floods and huge
//! header lists.

use super::{STUCK, requests, two_tunnels};
use bytes::Bytes;
use fdt_e2e::Stack;
use fdt_e2e::client::tls_client_config;
use http_body_util::BodyExt;
use http_body_util::Empty;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::sync::Arc;
use tokio::io::AsyncReadExt;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// An HTTP/2 client over TLS to the HTTPS edge.
async fn h2(stack: &Stack, sni: &str) -> hyper::client::conn::http2::SendRequest<Empty<Bytes>> {
    let mut cfg =
        (*tls_client_config(&std::fs::read_to_string(stack.ca_path()).unwrap()).unwrap()).clone();
    cfg.alpn_protocols = vec![b"h2".to_vec()];
    let sock = TcpStream::connect(stack.https_addr).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from(sni.to_string()).unwrap();
    let tls = tokio_rustls::TlsConnector::from(Arc::new(cfg))
        .connect(name, sock)
        .await
        .unwrap();
    let (send, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tls))
            .await
            .unwrap();
    tokio::spawn(conn);
    send
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h2_host_and_authority_must_agree_and_one_authority_is_forwarded() {
    let (stack, web, other, _agent) = two_tunnels().await;
    let host = stack.host("web");
    let port = stack.https_addr.port();
    let mut send = h2(&stack, &host).await;
    // `:authority` routes to `web`, a `host` header names `other`: refused.
    let req = http::Request::get(format!("https://{host}:{port}/echo"))
        .header("host", stack.host("other"))
        .body(Empty::new())
        .unwrap();
    let r = send.send_request(req).await.unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!((requests(&web), requests(&other)), (0, 0));
    // Agreeing (case and port aside): served, and the service sees the routed authority.
    let req = http::Request::get(format!("https://{host}:{port}/echo"))
        .header("host", host.to_uppercase())
        .body(Empty::new())
        .unwrap();
    let r = send.send_request(req).await.unwrap();
    assert_eq!(r.status(), 200);
    let body = r.into_body().collect().await.unwrap().to_bytes();
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        v["headers"]["host"],
        serde_json::json!([format!("{host}:{port}")])
    );
}

/// One HTTP/2 frame: 9-byte header, then `payload`.
fn h2_frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = u32::try_from(payload.len()).unwrap().to_be_bytes();
    let mut f = vec![len[1], len[2], len[3], kind, flags];
    f.extend_from_slice(&stream.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h2_headers_and_rst_stream_flood_gets_goaway() {
    let (stack, web, _other, _agent) = two_tunnels().await;
    let host = stack.host("web");
    // HPACK, no Huffman: :method GET, :path /, :scheme http (static table), then :authority as
    // a literal without indexing (name index 1).
    let mut block = vec![0x82, 0x84, 0x86, 0x01, u8::try_from(host.len()).unwrap()];
    block.extend_from_slice(host.as_bytes());
    let mut flood = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    flood.extend(h2_frame(0x4, 0, 0, &[]));
    for i in 0..5_000u32 {
        let stream = 2 * i + 1;
        // HEADERS with END_STREAM | END_HEADERS, then RST_STREAM (CANCEL) at once.
        flood.extend(h2_frame(0x1, 0x5, stream, &block));
        flood.extend(h2_frame(0x3, 0, stream, &8u32.to_be_bytes()));
    }
    let mut sock = TcpStream::connect(stack.http_addr).await.unwrap();
    // The edge may stop reading once it has had enough: a write error is an answer too.
    let _ = sock.write_all(&flood).await;
    let mut goaway = false;
    let read = tokio::time::timeout(STUCK, async {
        let mut head = [0u8; 9];
        while sock.read_exact(&mut head).await.is_ok() {
            let len = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
            let mut payload = vec![0u8; len];
            if sock.read_exact(&mut payload).await.is_err() {
                break;
            }
            if head[3] == 0x7 {
                goaway = true;
                break;
            }
        }
    })
    .await;
    assert!(read.is_ok(), "the edge neither sent GOAWAY nor closed");
    assert!(goaway, "a rapid-reset flood ends in GOAWAY");
    assert!(
        requests(&web) < 5_000,
        "{} of 5000 reset requests reached the service",
        requests(&web)
    );
    let r = stack
        .curl(&stack.http_url("web", "/echo"))
        .run()
        .await
        .unwrap();
    assert_eq!(r.status, 200, "the edge still serves");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h2_huge_header_lists_are_refused() {
    let (stack, web, _other, _agent) = two_tunnels().await;
    let host = stack.host("web");
    let mut send = h2(&stack, &host).await;
    let req = http::Request::get(format!("https://{host}/echo"))
        .header("x-big", "a".repeat(64 * 1024))
        .body(Empty::new())
        .unwrap();
    // 431, or the stream (or connection) refused outright: never served.
    if let Ok(r) = send.send_request(req).await {
        assert_eq!(r.status(), 431);
    }
    let mut send = h2(&stack, &host).await;
    let mut req = http::Request::get(format!("https://{host}/echo"));
    for i in 0..10_000 {
        req = req.header(format!("x-h{i}"), "v");
    }
    if let Ok(r) = send.send_request(req.body(Empty::new()).unwrap()).await {
        assert_eq!(r.status(), 431);
    }
    assert_eq!(requests(&web), 0);
}
