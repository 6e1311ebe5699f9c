//! The agent's local API (`/api/...` and the inspector page) for all tunnels at once: served on
//! 127.0.0.1:4040 like the `fdt` CLI does (the next free port when taken), and answered in
//! process for the window's `agent_api` command.

use crate::supervisor::Supervisor;
use axum::body::Body;
use fdt_desktop_ipc::{ApiAnswer, ApiCall, DesktopError, ErrorKind};
use http_body_util::BodyExt;
use std::sync::{Arc, Mutex};
use tower::ServiceExt;

/// Largest answer passed to the window (a HAR export of a full store fits).
const MAX_ANSWER: usize = 64 * 1024 * 1024;
/// Largest request body from the window (a replay with a 4 MiB body in base64).
const MAX_CALL_BODY: usize = 8 * 1024 * 1024;

/// The local API.
#[derive(Clone)]
pub struct LocalApi {
    supervisor: Supervisor,
    url: Arc<Mutex<Option<String>>>,
}

impl LocalApi {
    /// The API over `supervisor`'s tunnels.
    pub fn new(supervisor: Supervisor) -> Self {
        Self {
            supervisor,
            url: Arc::default(),
        }
    }

    /// The address it serves on, when it does.
    pub fn url(&self) -> Option<String> {
        self.url.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Starts serving on `addr` (or the next of 10 ports; `off` to not serve).
    pub async fn serve(&self, addr: &str) {
        let listener = match fdt_agent_core::api::bind(addr).await {
            Ok(Some(l)) => l,
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(%addr, error = %e, "local API disabled: not an address");
                return;
            }
        };
        let Ok(a) = listener.local_addr() else {
            return;
        };
        // It shows the traffic of every tunnel and replays requests, with no credentials:
        // only this computer may reach it (the `fdt` CLI asks for explicit opt-in and
        // credentials for more; the app has neither).
        if !a.ip().is_loopback() {
            tracing::warn!(%addr, "local API disabled: inspector_addr must be a loopback address");
            return;
        }
        *self.url.lock().unwrap_or_else(|e| e.into_inner()) = Some(format!("http://{a}"));
        let supervisor = self.supervisor.clone();
        // The agents change as tunnels switch on and off: each request gets the current view.
        let svc =
            tower::service_fn(move |req: axum::extract::Request| supervisor.router().oneshot(req));
        tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, tower::make::Shared::new(svc)).await {
                tracing::warn!(error = %e, "local API stopped");
            }
        });
    }

    /// Answers one window call in process.
    pub async fn call(&self, call: ApiCall) -> Result<ApiAnswer, DesktopError> {
        let bad = |m: &str| DesktopError::new(ErrorKind::InvalidInput, m.to_string());
        if !call.path.starts_with("/api/") || call.path.contains("..") {
            return Err(bad(
                "Only /api/ paths of the local agent API can be called.",
            ));
        }
        if call.body.as_ref().is_some_and(|b| b.len() > MAX_CALL_BODY) {
            return Err(bad("The request body is too large."));
        }
        let method = http_method(&call.method).ok_or_else(|| bad("Unknown HTTP method."))?;
        let mut req = axum::http::Request::builder()
            .method(method)
            .uri(&call.path)
            // The API only answers loopback hosts (DNS-rebinding guard).
            .header("host", "127.0.0.1");
        if call.body.is_some() {
            req = req.header("content-type", "application/json");
        }
        let req = req
            .body(Body::from(call.body.unwrap_or_default()))
            .map_err(|_| bad("The path is not a valid URL path."))?;
        let resp = self
            .supervisor
            .router()
            .oneshot(req)
            .await
            .map_err(|e| match e {})?;
        let status = resp.status().as_u16();
        let body = http_body_util::Limited::new(resp.into_body(), MAX_ANSWER)
            .collect()
            .await
            .map_err(|e| DesktopError::new(ErrorKind::Internal, format!("{e}.")))?
            .to_bytes();
        Ok(ApiAnswer {
            status,
            body: String::from_utf8_lossy(&body).into_owned(),
        })
    }
}

/// The methods the window may use, for both APIs.
pub(crate) fn http_method(m: &str) -> Option<axum::http::Method> {
    use axum::http::Method;
    Some(match m {
        "GET" => Method::GET,
        "POST" => Method::POST,
        "PUT" => Method::PUT,
        "PATCH" => Method::PATCH,
        "DELETE" => Method::DELETE,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[tokio::test]
    async fn serves_on_loopback_only() {
        let inspector = fdt_agent_core::Inspector::open(&Default::default())
            .await
            .unwrap();
        let api = LocalApi::new(Supervisor::new(inspector));
        api.serve("0.0.0.0:0").await;
        assert_eq!(api.url(), None, "not on every interface");
        api.serve("127.0.0.1:0").await;
        assert!(api.url().unwrap().starts_with("http://127.0.0.1:"));
    }
}
