//! The signed-out window: sign in through the browser first (device sign-in: approve a code
//! in the web console, as `fdt login` does), else by pasting an authtoken, or with email and
//! password. Each makes or takes an authtoken for this computer, and each can point the app at
//! another control plane.

use super::bridge::use_desktop;
use crate::components::form::TextField;
use crate::components::layout::ThemeToggle;
use crate::platform;
use fdt_desktop_ipc::{
    DesktopError, DeviceSignInView, OpenUrl, SignInDevice, SignInPassword, SignInToken, command,
};
use leptos::prelude::*;

/// The control plane to ask the app to switch to: `None` when the field is empty or still
/// the current one.
pub fn api_url_override(field: &str, current: &str) -> Option<String> {
    let field = field.trim().trim_end_matches('/');
    (!field.is_empty() && field != current.trim_end_matches('/')).then(|| field.to_owned())
}

/// A form's failure, next to it.
fn form_error(error: RwSignal<Option<String>>) -> impl IntoView {
    move || {
        error
            .get()
            .map(|m| view! { <p class="alert alert-error" role="alert">{m}</p> })
    }
}

/// Runs a sign-in; its error goes into `error`.
fn sign_in(
    busy: RwSignal<bool>,
    error: RwSignal<Option<String>>,
    run: impl std::future::Future<Output = Result<(), DesktopError>> + 'static,
) {
    busy.set(true);
    error.set(None);
    leptos::task::spawn_local(async move {
        let result = run.await;
        busy.set(false);
        if let Err(e) = result {
            error.set(Some(e.message));
        }
    });
}

/// Opens a console page in the system browser (failures are only logged: the code on the
/// page is enough to finish by hand).
async fn open_page(url: String) {
    let opened: Result<(), DesktopError> =
        super::bridge::invoke_with(command::OPEN_EXTERNAL, &OpenUrl { url }).await;
    if let Err(e) = opened {
        platform::log_error(&e.message);
    }
}

/// A device sign-in's code and where to approve it, or why it stopped.
fn device_status(d: DeviceSignInView) -> impl IntoView {
    let link = d.verification_uri_complete.clone();
    match d.error {
        Some(e) => view! { <p class="alert alert-error" role="alert" id="device-error">{e}</p> }.into_any(),
        None => view! {
            <div class="alert" role="status" id="device-waiting">
                <p>"Approve this code in the web console: "<strong id="device-user-code">{d.user_code}</strong></p>
                <p class="muted">{format!("Waiting for approval at {} …", d.verification_uri)}</p>
                <button type="button" class="btn btn-small"
                    on:click=move |_| { let url = link.clone(); leptos::task::spawn_local(open_page(url)); }>
                    "Open the page again"
                </button>
            </div>
        }
        .into_any(),
    }
}

/// The sign-in page.
#[component]
pub fn SignInPage() -> impl IntoView {
    let desktop = use_desktop();
    let current_api = desktop.read(String::new(), |s| s.api_url.clone());
    let api_url = RwSignal::new(current_api.clone());
    let authtoken = RwSignal::new(String::new());
    let email = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let token_error = RwSignal::new(None::<String>);
    let device_error = RwSignal::new(None::<String>);
    let password_error = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let no_error = Signal::derive(|| None::<String>);

    let on_token = {
        let current_api = current_api.clone();
        move |ev: leptos::ev::SubmitEvent| {
            ev.prevent_default();
            let input = SignInToken {
                authtoken: authtoken.get_untracked().trim().to_owned(),
                api_url: api_url_override(&api_url.get_untracked(), &current_api),
            };
            if input.authtoken.is_empty() {
                token_error.set(Some("Paste an authtoken from the web console.".into()));
                return;
            }
            sign_in(busy, token_error, async move {
                desktop.apply_with(command::SIGN_IN_TOKEN, &input).await
            });
        }
    };
    let on_device = {
        let current_api = current_api.clone();
        move |ev: leptos::ev::SubmitEvent| {
            ev.prevent_default();
            let input = SignInDevice {
                api_url: api_url_override(&api_url.get_untracked(), &current_api),
            };
            sign_in(busy, device_error, async move {
                desktop.apply_with(command::SIGN_IN_DEVICE, &input).await?;
                // Open the console's approval page with the code filled in.
                let url = desktop.read(None, |s| {
                    s.device_sign_in
                        .as_ref()
                        .map(|d| d.verification_uri_complete.clone())
                });
                if let Some(url) = url {
                    open_page(url).await;
                }
                Ok(())
            });
        }
    };
    let device = move || desktop.read(None, |s| s.device_sign_in.clone());
    let on_password = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let input = SignInPassword {
            email: email.get_untracked().trim().to_owned(),
            password: password.get_untracked(),
            api_url: api_url_override(&api_url.get_untracked(), &current_api),
        };
        if input.email.is_empty() || input.password.is_empty() {
            password_error.set(Some("Enter your email and password.".into()));
            return;
        }
        sign_in(busy, password_error, async move {
            desktop.apply_with(command::SIGN_IN_PASSWORD, &input).await
        });
    };

    view! {
        <main id="main" class="center-card sign-in">
            <p class="brand"><span class="logo" aria-hidden="true">"◆"</span>" FlyingDarkDevTunnel"</p>
            <h1>"Sign in"</h1>
            <section aria-labelledby="device-h">
                <h2 id="device-h">"With your browser"</h2>
                <form class="form" on:submit=on_device novalidate>
                    {form_error(device_error)}
                    {move || device().map(device_status)}
                    <button type="submit" id="sign-in-device" class="btn btn-primary btn-block"
                        disabled=move || busy.get()>
                        {move || if device().is_some() { "Start again" } else { "Sign in with the browser" }}
                    </button>
                </form>
            </section>
            <section aria-labelledby="token-h">
                <h2 id="token-h">"With an authtoken"</h2>
                <form class="form" on:submit=on_token novalidate>
                    {form_error(token_error)}
                    <TextField label="Authtoken" name="authtoken" kind="password" value=authtoken
                        error=no_error required=true hint="Copy one from Authtokens in the web console."/>
                    <button type="submit" class="btn btn-primary btn-block" disabled=move || busy.get()>
                        "Sign in with authtoken"
                    </button>
                </form>
            </section>
            <section aria-labelledby="password-h">
                <h2 id="password-h">"With email and password"</h2>
                <form class="form" on:submit=on_password novalidate>
                    {form_error(password_error)}
                    <TextField label="Email" name="email" kind="email" autocomplete="email" value=email
                        error=no_error required=true/>
                    <TextField label="Password" name="password" kind="password" autocomplete="current-password"
                        value=password error=no_error required=true
                        hint="Creates an authtoken for this computer; the password is not stored."/>
                    <button type="submit" class="btn btn-primary btn-block" disabled=move || busy.get()>
                        "Sign in with email"
                    </button>
                </form>
            </section>
            <TextField label="Control plane URL" name="api-url" kind="url" value=api_url error=no_error
                hint="Change it only for a self-hosted control plane."/>
            <p class="theme-row"><ThemeToggle initial=platform::current_theme()/></p>
        </main>
    }
}

#[cfg(test)]
mod tests {
    use super::api_url_override;

    #[test]
    fn the_current_control_plane_is_not_an_override() {
        let current = "https://api.example.com";
        assert_eq!(api_url_override("", current), None);
        assert_eq!(
            api_url_override(" https://api.example.com/ ", current),
            None
        );
        assert_eq!(
            api_url_override("https://fdt.internal:8443/", current).as_deref(),
            Some("https://fdt.internal:8443")
        );
    }
}
