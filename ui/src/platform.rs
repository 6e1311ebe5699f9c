//! The few things pages need from the browser (clipboard, theme, event stream, fetch, and in
//! the desktop window Tauri's commands and events), with no-op stand-ins on the server, where
//! event handlers never run.

use crate::boot::Theme;
use crate::live::Live;
use fdt_desktop_ipc::{DesktopError, ErrorKind};

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

/// The theme the document shows now (its `data-theme`; light outside a browser).
pub fn current_theme() -> Theme {
    #[cfg(feature = "browser")]
    {
        web_sys::window()
            .and_then(|w| w.document())
            .and_then(|d| d.document_element())
            .and_then(|root| root.get_attribute("data-theme"))
            .map_or_else(Theme::default, |t| Theme::parse(&t))
    }
    #[cfg(not(feature = "browser"))]
    Theme::default()
}

/// The theme remembered by the `fdt_theme` cookie, for pages no server renders (the desktop
/// window applies it before it mounts).
pub fn saved_theme() -> Theme {
    #[cfg(feature = "browser")]
    {
        use wasm_bindgen::JsCast;
        let cookies = web_sys::window()
            .and_then(|w| w.document())
            .and_then(|d| d.dyn_into::<web_sys::HtmlDocument>().ok())
            .and_then(|d| d.cookie().ok())
            .unwrap_or_default();
        cookies
            .split(';')
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(k, _)| *k == "fdt_theme")
            .map_or_else(Theme::default, |(_, v)| Theme::parse(v.trim()))
    }
    #[cfg(not(feature = "browser"))]
    Theme::default()
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

/// The desktop window's counterpart of [`connect_live`]: every Tauri event `event` the app
/// emits bumps `topic`.
pub fn connect_tauri_live(event: &'static str, topic: &'static str, live: Live) {
    leptos::task::spawn_local(async move {
        let listening = tauri_listen_json(event, move |_| live.bump(topic)).await;
        if let Err(e) = &listening {
            log_error(&e.message);
        }
        leptos::prelude::Set::set(&live.connected, listening.is_ok());
    });
}

/// Writes `message` to the browser console (nowhere on the server).
pub fn log_error(message: &str) {
    #[cfg(feature = "browser")]
    web_sys::console::error_1(&message.into());
    #[cfg(not(feature = "browser"))]
    let _ = message;
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

/// Runs the desktop app's command `cmd` (`window.__TAURI__.core.invoke(cmd, {input})`) with
/// `input` as JSON text, and returns the answer as JSON text (`null` for none): typed callers
/// decode straight from text, which keeps `serde_json::Value` out of the bundle. A rejection
/// that is not a [`DesktopError`] (a missing command, a page outside the desktop window)
/// becomes one of kind `internal` carrying its text.
///
/// # Errors
/// The command's [`DesktopError`], whose message is written for the user.
pub async fn tauri_invoke_json(cmd: &str, input: Option<&str>) -> Result<String, DesktopError> {
    #[cfg(feature = "browser")]
    {
        use wasm_bindgen::JsCast;
        let core = tauri_module("core")?;
        let invoke: js_sys::Function = js_sys::Reflect::get(&core, &"invoke".into())
            .ok()
            .and_then(|f| f.dyn_into().ok())
            .ok_or_else(|| not_in_desktop("core.invoke"))?;
        let args = js_sys::Object::new();
        if let Some(input) = input {
            let value = js_sys::JSON::parse(input).map_err(|e| rejection_error(&js_text(&e)))?;
            js_sys::Reflect::set(&args, &"input".into(), &value)
                .map_err(|e| rejection_error(&js_text(&e)))?;
        }
        let promise = invoke
            .call2(&core, &cmd.into(), &args)
            .map_err(|e| rejection_error(&js_text(&e)))?;
        let promise: js_sys::Promise = promise
            .dyn_into()
            .map_err(|e| rejection_error(&js_text(&e)))?;
        match wasm_bindgen_futures::JsFuture::from(promise).await {
            Ok(value) => Ok(js_json(&value)),
            Err(e) => Err(rejection_error(&js_text(&e))),
        }
    }
    #[cfg(not(feature = "browser"))]
    {
        let _ = (cmd, input);
        Err(DesktopError::new(
            ErrorKind::Internal,
            "Only the desktop app's window can do this.",
        ))
    }
}

/// Calls `callback` with the payload (JSON text, `null` for none) of every Tauri event
/// `event` the app emits, for the rest of the page's life (the window's pages listen once, at
/// start).
///
/// # Errors
/// When the page is not in the desktop window, or Tauri refused the subscription.
pub async fn tauri_listen_json(
    event: &str,
    callback: impl FnMut(String) + 'static,
) -> Result<(), DesktopError> {
    #[cfg(feature = "browser")]
    {
        use wasm_bindgen::JsCast;
        use wasm_bindgen::closure::Closure;
        let module = tauri_module("event")?;
        let listen: js_sys::Function = js_sys::Reflect::get(&module, &"listen".into())
            .ok()
            .and_then(|f| f.dyn_into().ok())
            .ok_or_else(|| not_in_desktop("event.listen"))?;
        let mut callback = callback;
        let handler = Closure::<dyn FnMut(wasm_bindgen::JsValue)>::new(
            move |message: wasm_bindgen::JsValue| {
                let payload = js_sys::Reflect::get(&message, &"payload".into())
                    .unwrap_or(wasm_bindgen::JsValue::UNDEFINED);
                callback(js_json(&payload));
            },
        );
        let promise = listen
            .call2(&module, &event.into(), handler.as_ref())
            .map_err(|e| rejection_error(&js_text(&e)))?;
        // The handler lives as long as the page: nothing unlistens.
        handler.forget();
        let promise: js_sys::Promise = promise
            .dyn_into()
            .map_err(|e| rejection_error(&js_text(&e)))?;
        wasm_bindgen_futures::JsFuture::from(promise)
            .await
            .map(drop)
            .map_err(|e| rejection_error(&js_text(&e)))
    }
    #[cfg(not(feature = "browser"))]
    {
        let _ = (event, callback);
        Ok(())
    }
}

/// Reads a rejected command's value (as JSON or plain text) into a [`DesktopError`]: the
/// app's own errors keep their kind and words, anything else is `internal` with its text.
pub fn rejection_error(text: &str) -> DesktopError {
    serde_json::from_str(text).unwrap_or_else(|_| {
        let text = text.trim();
        DesktopError::new(
            ErrorKind::Internal,
            if text.is_empty() {
                "The desktop app did not answer.".to_owned()
            } else {
                text.to_owned()
            },
        )
    })
}

/// `window.__TAURI__[name]`.
#[cfg(feature = "browser")]
fn tauri_module(name: &str) -> Result<wasm_bindgen::JsValue, DesktopError> {
    let window = web_sys::window().ok_or_else(|| not_in_desktop(name))?;
    let tauri = js_sys::Reflect::get(&window, &"__TAURI__".into())
        .ok()
        .filter(|v| v.is_object())
        .ok_or_else(|| not_in_desktop(name))?;
    js_sys::Reflect::get(&tauri, &name.into())
        .ok()
        .filter(|v| v.is_object())
        .ok_or_else(|| not_in_desktop(name))
}

#[cfg(feature = "browser")]
fn not_in_desktop(what: &str) -> DesktopError {
    DesktopError::new(
        ErrorKind::Internal,
        format!("This page is not running in the desktop app (no window.__TAURI__.{what})."),
    )
}

/// A JavaScript value as JSON text (`null` for `undefined` and for what JSON cannot hold).
#[cfg(feature = "browser")]
fn js_json(value: &wasm_bindgen::JsValue) -> String {
    if value.is_undefined() {
        return "null".into();
    }
    js_sys::JSON::stringify(value)
        .ok()
        .and_then(|s| s.as_string())
        .unwrap_or_else(|| "null".into())
}

/// A thrown or rejected JavaScript value as text: a string as it is, an `Error` by its
/// message, anything else as JSON.
#[cfg(feature = "browser")]
fn js_text(value: &wasm_bindgen::JsValue) -> String {
    use wasm_bindgen::JsCast;
    if let Some(s) = value.as_string() {
        return s;
    }
    if let Some(e) = value.dyn_ref::<js_sys::Error>() {
        return String::from(e.message());
    }
    js_sys::JSON::stringify(value)
        .ok()
        .and_then(|s| s.as_string())
        .unwrap_or_else(|| format!("{value:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejections_keep_the_apps_errors_and_wrap_the_rest() {
        let e = rejection_error(r#"{"kind":"refused","message":"Wrong password."}"#);
        assert_eq!(e, DesktopError::new(ErrorKind::Refused, "Wrong password."));
        let e = rejection_error("Command sign_in_tokn not found");
        assert_eq!(e.kind, ErrorKind::Internal);
        assert_eq!(e.message, "Command sign_in_tokn not found");
        assert_eq!(
            rejection_error(" ").message,
            "The desktop app did not answer."
        );
        // Valid JSON of another shape is text, not an error of the app.
        assert_eq!(rejection_error(r#"{"a":1}"#).kind, ErrorKind::Internal);
    }
}
