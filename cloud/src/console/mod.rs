//! The web console and admin panel: `fdt-ui` pages rendered on the server (with their data),
//! then hydrated in the browser; sign-in, sign-up and sign-out as plain HTML forms; the UI's
//! static files.
//!
//! Access is decided here, on the server, for every page: no user → redirect to `/login`;
//! an admin page for a non-admin → 403 (the `/v1/admin` API refuses them too).

mod forms;
mod orgs;
mod render;
pub mod session;
mod sso;

use crate::state::AppState;
use axum::Router;
use axum::body::Body;
use axum::extract::{FromRef, Request, State};
use axum::http::header::{CACHE_CONTROL, LOCATION, REFERRER_POLICY, X_FRAME_OPTIONS};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use fdt_api::AccountId;
use fdt_ui::api::{Api, encode_component};
use fdt_ui::boot::{Boot, SessionUser};
use fdt_ui::route::{CONSOLE_PATHS, Page};
use fdt_ui::site::Site;

/// Where a signed-in page's live events come from.
const EVENTS_PATH: &str = "/v1/events";

/// What console handlers share.
#[derive(Clone)]
pub(crate) struct Console {
    app: AppState,
    site: Site,
    /// The API router, called in process by server-side renders.
    api: Router,
}

impl FromRef<Console> for AppState {
    fn from_ref(c: &Console) -> Self {
        c.app.clone()
    }
}

/// The console's routes (pages, forms, static files), to merge with the API router `api`.
pub fn router(app: AppState, api: Router) -> Router {
    // Leptos resolves resources on an executor it is told about once per process.
    let _ = any_spawner::Executor::init_tokio();
    let site = match &app.console().site_dir {
        Some(dir) => Site::load(Some(dir)),
        None => Site::load_default(),
    };
    let mut pages = Router::new();
    for path in CONSOLE_PATHS {
        pages = pages.route(path, get(page));
    }
    let state = Console {
        app,
        site: site.clone(),
        api,
    };
    pages
        .route("/login", post(forms::login))
        .route("/signup", post(forms::signup))
        .route("/logout", post(forms::logout))
        .route("/device", post(forms::device))
        .route("/org", post(orgs::switch))
        .route("/join", post(orgs::join))
        .route(sso::PATHS.0, get(sso::start).post(sso::start_form))
        .route(sso::PATHS.1, get(sso::callback))
        .with_state(state)
        .merge(site.router())
}

/// The signed-in user of a request, with the token that proves it.
pub(crate) struct SignedIn {
    pub user: SessionUser,
    pub token: String,
    pub account: AccountId,
    pub session: fdt_api::SessionId,
}

/// Who the console cookie belongs to, if it is valid and its session live.
///
/// # Errors
/// The database failing: the caller answers 500 rather than treating the visitor as signed
/// out (which would send them to sign in again for nothing).
pub(crate) async fn signed_in(
    app: &AppState,
    headers: &HeaderMap,
) -> Result<Option<SignedIn>, crate::error::ApiError> {
    let Some(token) = session::SessionCookie::of(app.console()).token(headers) else {
        return Ok(None);
    };
    let Ok(claims) = app.access_tokens().verify(&token, app.clock().now()) else {
        return Ok(None);
    };
    if app
        .store()
        .live_session_account(&claims.sid)
        .await?
        .as_ref()
        != Some(&claims.sub)
    {
        return Ok(None);
    }
    let Some(user) = app.store().admin_user(&claims.sub).await? else {
        return Ok(None);
    };
    if user.suspended {
        return Ok(None);
    }
    Ok(Some(SignedIn {
        user: SessionUser {
            id: user.id.to_string(),
            email: user.email,
            is_admin: user.admin,
            plan: user.plan.as_str().to_owned(),
        },
        token,
        account: claims.sub,
        session: claims.sid,
    }))
}

/// A 303 to `to`.
pub(crate) fn see_other(to: &str) -> Response {
    let mut r = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        r.headers_mut().insert(LOCATION, v);
    }
    r
}

/// Headers every console page carries: never cached (they hold account data), never framed.
fn harden(resp: &mut Response) {
    let h = resp.headers_mut();
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    // The render sets a CSP with the response's script nonce; without one (no nonce was
    // made), no inline script may run at all.
    if !h.contains_key("content-security-policy") {
        h.insert(
            "content-security-policy",
            HeaderValue::from_static(
                "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; \
                 img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; \
                 form-action 'self'; base-uri 'none'; object-src 'none'",
            ),
        );
    }
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
}

async fn page(State(c): State<Console>, req: Request<Body>) -> Response {
    let path = req.uri().path().to_owned();
    let query = req.uri().query().unwrap_or_default().to_owned();
    let page = Page::parse(&path);
    let who = match signed_in(&c.app, req.headers()).await {
        Ok(who) => who,
        Err(e) => {
            tracing::error!(error = %e, "console page: session lookup failed");
            let mut resp = e.into_response();
            harden(&mut resp);
            return resp;
        }
    };
    let theme = fdt_ui::site::cookie_theme(req.headers());
    match (&page, &who) {
        (p, None) if p.needs_login() => {
            let back = if query.is_empty() {
                path.clone()
            } else {
                format!("{path}?{query}")
            };
            return see_other(&format!("/login?next={}", encode_component(&back)));
        }
        (Page::Login | Page::Signup, Some(_)) => return see_other("/"),
        _ => {}
    }
    let status = match (&page, &who) {
        (Page::NotFound, _) => StatusCode::NOT_FOUND,
        (p, Some(w)) if p.admin_only() && !w.user.is_admin => {
            tracing::warn!(account = %w.account, %path, "admin page refused");
            StatusCode::FORBIDDEN
        }
        _ => StatusCode::OK,
    };
    let boot = Boot {
        path,
        query,
        user: who.as_ref().map(|w| w.user.clone()),
        theme,
        live_url: who.as_ref().map(|_| EVENTS_PATH.to_owned()),
    };
    let client = (
        req.extensions()
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .cloned(),
        req.headers()
            .get(crate::http::extract::X_FORWARDED_FOR)
            .cloned(),
    );
    // The organisation the pages act in, when the person is still a member there.
    let mut org = None;
    if let Some(w) = &who
        && let Some(chosen) = session::SessionCookie::of(c.app.console()).org(req.headers())
        && matches!(
            c.app.store().member_role(&chosen, &w.account).await,
            Ok(Some(_))
        )
    {
        org = HeaderValue::from_str(chosen.as_str()).ok();
    }
    let api = Api::new(render::InProcess {
        api: c.api.clone(),
        token: who.map(|w| w.token),
        client,
        org,
    });
    let mut resp = render::page(req, api, boot, c.site.assets(), status).await;
    harden(&mut resp);
    resp
}
