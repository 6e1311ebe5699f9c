//! Local agent API on 127.0.0.1:4040, shaped like ngrok's: `GET /api/tunnels` and
//! `GET /api/status`.

use crate::status::{AgentStatus, Counters};
use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// Serves the API on `listener` until `shutdown`.
pub async fn serve(
    listener: TcpListener,
    status: watch::Receiver<AgentStatus>,
    counters: Arc<Counters>,
    shutdown: CancellationToken,
) {
    loop {
        let (sock, _) = tokio::select! {
            r = listener.accept() => match r { Ok(x) => x, Err(_) => continue },
            _ = shutdown.cancelled() => return,
        };
        let status = status.clone();
        let counters = counters.clone();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req| {
                let r = route(&req, &status.borrow(), &counters);
                async move { Ok::<_, std::convert::Infallible>(r) }
            });
            let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(sock), svc)
                .await;
        });
    }
}

fn json(status: StatusCode, v: &serde_json::Value) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(v.to_string())));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    r
}

/// The ngrok-shaped tunnel list.
pub fn tunnels_json(s: &AgentStatus) -> serde_json::Value {
    let tunnels: Vec<_> = s
        .tunnels
        .iter()
        .filter_map(|t| {
            Some(serde_json::json!({
                "name": t.name,
                "public_url": t.public_url.clone()?,
                "proto": if t.proto == "http" && t.public_url.as_deref().is_some_and(|u| u.starts_with("https")) { "https" } else { t.proto.as_str() },
                "config": { "addr": t.addr },
            }))
        })
        .collect();
    serde_json::json!({ "tunnels": tunnels, "uri": "/api/tunnels" })
}

fn route(req: &Request<Incoming>, s: &AgentStatus, counters: &Counters) -> Response<Full<Bytes>> {
    // The API only listens on loopback, but a web page in the user's browser could still
    // reach it: refuse requests whose Host is not loopback (DNS-rebinding guard).
    let host_ok = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(|h| h.rsplit_once(':').map_or(h, |(a, _)| a))
        .is_some_and(|h| matches!(h, "127.0.0.1" | "localhost" | "[::1]"));
    if !host_ok {
        return json(
            StatusCode::FORBIDDEN,
            &serde_json::json!({"error": "host not allowed"}),
        );
    }
    if req.method() != Method::GET {
        return json(
            StatusCode::METHOD_NOT_ALLOWED,
            &serde_json::json!({"error": "method not allowed"}),
        );
    }
    match req.uri().path() {
        "/api/tunnels" => json(StatusCode::OK, &tunnels_json(s)),
        "/api/status" => json(
            StatusCode::OK,
            &serde_json::json!({ "status": s, "metrics": counters.snapshot(), "version": crate::agent::AGENT_VERSION }),
        ),
        _ => json(
            StatusCode::NOT_FOUND,
            &serde_json::json!({"error": "not found"}),
        ),
    }
}
