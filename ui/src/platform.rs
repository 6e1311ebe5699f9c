//! The few things pages need from the browser (clipboard, theme, event stream, fetch), with
//! no-op stand-ins on the server, where event handlers never run.

use crate::boot::Theme;
use crate::live::Live;

/// Copies `text` to the clipboard.
pub fn copy_text(text: &str) {
    #[cfg(feature = "browser")]
    if let Some(w) = web_sys::window() {
        let _ = w.navigator().clipboard().write_text(text);
    }
    #[cfg(not(feature = "browser"))]
    let _ = text;
}

/// Applies `theme` to the document and remembers it in the `fdt_theme` cookie (read by the
/// server, so the next page is rendered in it with no flash).
pub fn set_theme(theme: Theme) {
    #[cfg(feature = "browser")]
    {
        use wasm_bindgen::JsCast;
        let Some(doc) = web_sys::window().and_then(|w| w.document()) else {
            return;
        };
        if let Some(root) = doc.document_element() {
            let _ = root.set_attribute("data-theme", theme.as_str());
        }
        if let Ok(html) = doc.dyn_into::<web_sys::HtmlDocument>() {
            let _ = html.set_cookie(&format!(
                "fdt_theme={}; path=/; max-age=31536000; samesite=lax",
                theme.as_str()
            ));
        }
    }
    #[cfg(not(feature = "browser"))]
    let _ = theme;
}

/// Asks the user to confirm a destructive action.
pub fn confirm(message: &str) -> bool {
    #[cfg(feature = "browser")]
    {
        web_sys::window()
            .and_then(|w| w.confirm_with_message(message).ok())
            .unwrap_or(false)
    }
    #[cfg(not(feature = "browser"))]
    {
        let _ = message;
        false
    }
}

/// Waits `ms` milliseconds (a browser timer; returns at once on the server, where it is
/// never awaited).
pub async fn sleep_ms(ms: i32) {
    #[cfg(feature = "browser")]
    {
        let promise = js_sys::Promise::new(&mut |resolve, _| {
            if let Some(w) = web_sys::window() {
                let _ = w.set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms);
            }
        });
        let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
    }
    #[cfg(not(feature = "browser"))]
    let _ = ms;
}

/// Loads another page.
pub fn go_to(url: &str) {
    #[cfg(feature = "browser")]
    if let Some(w) = web_sys::window() {
        let _ = w.location().assign(url);
    }
    #[cfg(not(feature = "browser"))]
    let _ = url;
}

/// Subscribes to the server's change events at `url`: `data: {"topic": "…"}` bumps
/// [`Live`]. The browser's `EventSource` reconnects by itself after errors.
pub fn connect_live(url: &str, live: Live) {
    open_live(url, live, false);
}

/// Opens the stream; `restored` for a page back from the back/forward cache (whose
/// `pageshow` listener is already in place).
fn open_live(url: &str, live: Live, restored: bool) {
    #[cfg(feature = "browser")]
    {
        use leptos::prelude::Set;
        use wasm_bindgen::JsCast;
        use wasm_bindgen::closure::Closure;
        let Ok(source) = web_sys::EventSource::new(url) else {
            return;
        };
        let on_message =
            Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |ev: web_sys::MessageEvent| {
                let Some(text) = ev.data().as_string() else {
                    return;
                };
                if let Ok(v) = serde_json::from_str::<serde_json::Value>(&text)
                    && let Some(topic) = v.get("topic").and_then(|t| t.as_str())
                {
                    live.bump(topic);
                }
            });
        source.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        on_message.forget();
        let on_open = Closure::<dyn FnMut()>::new(move || live.connected.set(true));
        source.set_onopen(Some(on_open.as_ref().unchecked_ref()));
        on_open.forget();
        let on_error = Closure::<dyn FnMut()>::new(move || live.connected.set(false));
        source.set_onerror(Some(on_error.as_ref().unchecked_ref()));
        on_error.forget();
        // Closed when the page is hidden for a navigation: a page kept in the back/forward
        // cache would otherwise hold its connection open, and browsers allow only six
        // HTTP/1.1 connections per host — a few pages later, every request waits. A page
        // restored from that cache subscribes again.
        let Some(window) = web_sys::window() else {
            return;
        };
        let url = url.to_owned();
        let on_hide = Closure::<dyn FnMut()>::new(move || {
            source.close();
            live.connected.set(false);
        });
        let _ = window.add_event_listener_with_callback_and_bool(
            "pagehide",
            on_hide.as_ref().unchecked_ref(),
            false,
        );
        on_hide.forget();
        if !restored {
            let on_show = Closure::<dyn FnMut(web_sys::PageTransitionEvent)>::new(
                move |ev: web_sys::PageTransitionEvent| {
                    if ev.persisted() {
                        open_live(&url, live, true);
                    }
                },
            );
            let _ = window
                .add_event_listener_with_callback("pageshow", on_show.as_ref().unchecked_ref());
            on_show.forget();
        }
    }
    #[cfg(not(feature = "browser"))]
    let _ = (url, live, restored);
}

/// `fetch` from the page's own origin, with its cookies. Mutating calls carry
/// `X-FDT-CSRF: 1`, which no cross-site form can send, and which the cloud requires of
/// cookie-authenticated writes.
#[cfg(feature = "browser")]
pub struct FetchTransport {
    /// Prefix for every path (empty: the page's origin).
    pub base: String,
}

#[cfg(feature = "browser")]
impl crate::api::Transport for FetchTransport {
    fn call(&self, req: crate::api::ApiRequest) -> crate::api::ApiFuture {
        let url = format!("{}{}", self.base, req.path);
        Box::pin(send_wrapper::SendWrapper::new(async move {
            use wasm_bindgen::JsCast;
            use wasm_bindgen_futures::JsFuture;
            let err = |e: wasm_bindgen::JsValue| format!("{e:?}");
            let window = web_sys::window().ok_or("no window")?;
            let init = web_sys::RequestInit::new();
            init.set_method(req.method);
            init.set_credentials(web_sys::RequestCredentials::SameOrigin);
            let headers = web_sys::Headers::new().map_err(err)?;
            headers.set("accept", "application/json").map_err(err)?;
            if req.method != "GET" {
                headers.set("x-fdt-csrf", "1").map_err(err)?;
            }
            if let Some(body) = &req.body {
                headers
                    .set("content-type", "application/json")
                    .map_err(err)?;
                init.set_body(&wasm_bindgen::JsValue::from_str(body));
            }
            init.set_headers(&headers);
            let resp = JsFuture::from(window.fetch_with_str_and_init(&url, &init))
                .await
                .map_err(err)?;
            let resp: web_sys::Response = resp.dyn_into().map_err(err)?;
            let status = resp.status();
            let text = JsFuture::from(resp.text().map_err(err)?)
                .await
                .map_err(err)?;
            Ok(crate::api::ApiReply {
                status,
                body: text.as_string().unwrap_or_default(),
            })
        }))
    }
}
