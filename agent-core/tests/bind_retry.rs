//! An agent whose bind the relay cannot complete yet (`unavailable`, `internal`) asks again on
//! the same session after a backoff, instead of giving the tunnel up. The relay here is a
//! scripted [`RelaySession`] on a real QUIC endpoint, so the answers can be chosen.

#![allow(clippy::unwrap_used)]

use fdt_agent_core::config::TunnelConfig;
use fdt_agent_core::status::SessionState;
use fdt_agent_core::{AgentOptions, Connect, RelayTarget};
use fdt_proto::frame::FrameReader;
use fdt_proto::session::{RelayEvent, RelaySession, Timing};
use fdt_proto::{ErrorCode, Proto, ProtoError, TunnelId};
use fdt_relay::tls::DevCa;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A relay that answers the agent's binds from `script` (an error code, or `None` to bind),
/// recording when each bind arrived and on which QUIC connection.
async fn scripted_relay(
    ca: &DevCa,
    script: Vec<Option<ErrorCode>>,
) -> (quinn::Endpoint, Arc<Mutex<Vec<(usize, Instant)>>>) {
    let (chain, key) = ca.issue(&["localhost".to_string()]).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut tls = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
    tls.alpn_protocols = vec![fdt_proto::ALPN.to_vec()];
    let server = quinn::ServerConfig::with_crypto(Arc::new(
        quinn::crypto::rustls::QuicServerConfig::try_from(tls).unwrap(),
    ));
    let endpoint = quinn::Endpoint::server(server, ([127, 0, 0, 1], 0).into()).unwrap();
    let binds = Arc::new(Mutex::new(Vec::new()));
    let (ep, seen) = (endpoint.clone(), binds.clone());
    tokio::spawn(async move {
        let mut script = VecDeque::from(script);
        let mut conn_no = 0;
        while let Some(incoming) = ep.accept().await {
            conn_no += 1;
            let Ok(conn) = incoming.await else { continue };
            let Ok((mut send, mut recv)) = conn.accept_bi().await else {
                continue;
            };
            let mut session = RelaySession::new(
                Instant::now(),
                Timing::default(),
                format!("s{conn_no}"),
                16,
                16,
            );
            let mut reader = FrameReader::new();
            let mut buf = vec![0u8; 16 * 1024];
            while let Ok(Some(n)) = recv.read(&mut buf).await {
                reader.push(&buf[..n]);
                if session.handle_frames(Instant::now(), &mut reader).is_err() {
                    break;
                }
                while let Some(ev) = session.poll_event() {
                    match ev {
                        RelayEvent::Authenticate { .. } => session.accept(),
                        RelayEvent::Bind { req, spec } => {
                            seen.lock().unwrap().push((conn_no, Instant::now()));
                            match script.pop_front().flatten() {
                                Some(code) => session.bind_failed(
                                    req,
                                    ProtoError::new(code, "control plane unreachable"),
                                ),
                                None => session.bound(
                                    req,
                                    TunnelId(7),
                                    format!(
                                        "https://{}.localhost",
                                        spec.subdomain.unwrap_or_default()
                                    ),
                                ),
                            }
                        }
                        _ => {}
                    }
                }
                let mut out = bytes::BytesMut::new();
                session.encode_transmits(&mut out).unwrap();
                if send.write_all(&out).await.is_err() {
                    break;
                }
            }
        }
    });
    (endpoint, binds)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unavailable_and_internal_bind_failures_are_retried_on_the_same_session() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let ca = DevCa::load_or_create(dir.path()).unwrap();
    let script = vec![
        Some(ErrorCode::Unavailable),
        Some(ErrorCode::Internal),
        None,
    ];
    let (relay, binds) = scripted_relay(&ca, script).await;
    let mut tunnel = TunnelConfig::new(Proto::Http, "8000");
    tunnel.subdomain = Some("again".into());
    let (mut handle, _join) = fdt_agent_core::spawn(AgentOptions {
        connect: Connect::Relay {
            relay: RelayTarget {
                addr: relay.local_addr().unwrap().to_string(),
                server_name: Some("localhost".into()),
                ca_file: Some(ca.ca_path()),
            },
            token: "unchecked".into(),
        },
        tunnels: vec![tunnel.resolve("web").unwrap()],
        managed: false,
        ha: false,
    });
    // While retrying, the tunnel carries no error: `wait_bound` (and `fdt`, which exits when
    // every tunnel failed) keeps waiting instead of giving up.
    let status = handle.wait_bound(Duration::from_secs(15)).await.unwrap();
    assert_eq!(status.state, SessionState::Online);
    assert_eq!(
        status.tunnels[0].public_url.as_deref(),
        Some("https://again.localhost")
    );
    assert_eq!(status.last_error, None);
    let binds = binds.lock().unwrap().clone();
    assert_eq!(binds.len(), 3, "{binds:?}");
    assert!(
        binds.iter().all(|(conn, _)| *conn == 1),
        "retried on a new connection: {binds:?}"
    );
    // Jittered backoff from 1 s: the first wait lies in [0.5, 1) s, the second in [1, 2) s.
    let gap = |i: usize| binds[i + 1].1 - binds[i].1;
    assert!(gap(0) >= Duration::from_millis(450), "{:?}", gap(0));
    assert!(gap(1) >= Duration::from_millis(950), "{:?}", gap(1));
    handle.shutdown.cancel();
}
