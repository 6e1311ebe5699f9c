//! Server-side rendering of console pages: the `fdt-ui` app rendered to HTML after all its
//! data has loaded (so the page reads without JavaScript), with the API called in process.

use crate::http::extract::X_FORWARDED_FOR;
use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use axum::http::{HeaderName, HeaderValue, Request, StatusCode};
use axum::response::Response;
use fdt_ui::api::{Api, ApiFuture, ApiReply, ApiRequest, Transport};
use fdt_ui::boot::Boot;
use fdt_ui::console::ConsoleApp;
use fdt_ui::route::Page;
use fdt_ui::shell::{Assets, Document};
use leptos::prelude::*;
use std::net::SocketAddr;
use tower::ServiceExt;

/// Largest API answer a page render reads (a stored body is at most a few MiB).
const MAX_REPLY_BYTES: usize = 16 * 1024 * 1024;

/// Calls the `/v1` router directly, as the signed-in user: what a page reads on the server is
/// exactly what the browser would read.
pub struct InProcess {
    /// The API router (without the console).
    pub api: Router,
    /// The user's access token, if signed in.
    pub token: Option<String>,
    /// The page request's client: its TCP peer and `X-Forwarded-For`, passed on so that the
    /// API's per-address limits count a page's calls against the visitor who asked for it
    /// (not against nobody).
    pub client: (Option<ConnectInfo<SocketAddr>>, Option<HeaderValue>),
    /// The organisation the page acts in (`X-FDT-Org`), when not the person's own.
    pub org: Option<HeaderValue>,
}

impl Transport for InProcess {
    fn call(&self, req: ApiRequest) -> ApiFuture {
        let api = self.api.clone();
        let token = self.token.clone();
        let (peer, forwarded) = self.client.clone();
        let org = self.org.clone();
        Box::pin(async move {
            let mut b = Request::builder().method(req.method).uri(&req.path);
            if let Some(peer) = peer {
                b = b.extension(peer);
            }
            if let Some(f) = forwarded {
                b = b.header(X_FORWARDED_FOR, f);
            }
            if let Some(t) = token {
                b = b.header(AUTHORIZATION, format!("Bearer {t}"));
            }
            if let Some(o) = org {
                b = b.header(crate::http::permit::ORG_HEADER, o);
            }
            if req.body.is_some() {
                b = b.header(CONTENT_TYPE, "application/json");
            }
            let request = b
                .body(Body::from(req.body.unwrap_or_default()))
                .map_err(|e| e.to_string())?;
            let resp = api.oneshot(request).await.map_err(|e| e.to_string())?;
            let status = resp.status().as_u16();
            let bytes = axum::body::to_bytes(resp.into_body(), MAX_REPLY_BYTES)
                .await
                .map_err(|e| e.to_string())?;
            Ok(ApiReply {
                status,
                body: String::from_utf8_lossy(&bytes).into_owned(),
            })
        })
    }
}

/// The console's Content-Security-Policy for a response whose inline scripts carry `nonce`.
pub fn content_security_policy(nonce: &str) -> String {
    format!(
        "default-src 'self'; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'; \
         style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; \
         form-action 'self'; base-uri 'none'; object-src 'none'"
    )
}

/// Renders the console page `boot` describes, with `status`.
pub async fn page(
    req: Request<Body>,
    api: Api,
    boot: Boot,
    assets: Assets,
    status: StatusCode,
) -> Response {
    let title = Page::parse(&boot.path).title();
    let handler = leptos_axum::render_app_async_with_context(
        move || {
            provide_context(api.clone());
            if let Some(r) = use_context::<leptos_axum::ResponseOptions>() {
                r.set_status(status);
            }
        },
        move || {
            // Inline scripts (the bundle loader, Leptos's hydration data) run by this
            // response's nonce only; nothing injected into the page can.
            if let (Some(nonce), Some(r)) = (
                leptos::nonce::use_nonce(),
                use_context::<leptos_axum::ResponseOptions>(),
            ) && let Ok(v) = HeaderValue::from_str(&content_security_policy(&nonce.to_string()))
            {
                r.insert_header(HeaderName::from_static("content-security-policy"), v);
            }
            let boot = boot.clone();
            let inner = boot.clone();
            view! {
                <Document boot=boot assets=assets.clone() title=title entry="hydrate_console">
                    <ConsoleApp boot=inner/>
                </Document>
            }
        },
    );
    handler(req).await
}
