//! `/device`: approve or deny a device's sign-in (`fdt login`, the desktop app) by its user
//! code. A plain HTML form posted to the server, like sign-in: it works before and without
//! JavaScript. The code comes filled in from the link the device shows (`?code=`).

use crate::api::{ApiResult, use_api, with_query};
use crate::boot::Boot;
use crate::format::utc;
use fdt_api::DevicePending;
use leptos::prelude::*;

/// The message for an outcome the server put in `?done=` or `?error=`.
pub fn device_message(
    done: Option<&str>,
    error: Option<&str>,
) -> Option<(&'static str, &'static str)> {
    match (done, error) {
        (Some("approved"), _) => Some((
            "alert alert-success",
            "Device signed in. You can close this page and return to it.",
        )),
        (Some("denied"), _) => Some(("alert", "Sign-in denied. The device gets no access.")),
        (_, Some("unknown_code")) => Some((
            "alert alert-error",
            "No device is waiting for that code. It may have expired (codes last 10 minutes) or been used: start over on the device.",
        )),
        (_, Some("rate_limited")) => Some((
            "alert alert-error",
            "Too many attempts. Wait a few minutes and try again.",
        )),
        (_, Some("bad_origin")) => Some((
            "alert alert-error",
            "The form was sent from another site and was refused.",
        )),
        (_, Some(_)) => Some(("alert alert-error", "That did not work. Try again.")),
        _ => None,
    }
}

/// `/device`.
#[component]
pub fn DevicePage() -> impl IntoView {
    let boot = use_context::<Boot>().unwrap_or_default();
    let code = boot.param("code").unwrap_or_default();
    let done = boot.param("done");
    let error = boot.param("error");
    let message = device_message(done.as_deref(), error.as_deref())
        .map(|(class, text)| view! { <p class=class role="status">{text}</p> });
    // Which device asks, so a code pasted from someone else's message is recognised as not
    // yours (RFC 8628 §5.4). Only while undecided: after a decision the code is spent.
    let asking = (!code.is_empty() && done.is_none()).then(|| {
        let api = use_api();
        let path = with_query("/v1/device/pending", &[("user_code", Some(&code))]);
        let pending = Resource::new(
            || (),
            move |()| {
                let (api, path) = (api.clone(), path.clone());
                async move { api.get::<DevicePending>(path).await }
            },
        );
        view! {
            <Transition fallback=|| ()>
                {move || Suspend::new(async move { asking_device(pending.await) })}
            </Transition>
        }
    });
    view! {
        <section class="page">
            <h1>"Sign in a device"</h1>
            {message}
            <p class="muted">
                "Check that the code below is the one your terminal or the desktop app shows. "
                "Approving gives that device a new authtoken for your account."
            </p>
            {asking}
            <form method="post" action="/device" class="form">
                <label class="field">
                    <span class="label">"Code"</span>
                    <input id="device-code" name="user_code" value=code autocomplete="off"
                        spellcheck="false" placeholder="XXXX-XXXX" maxlength="16" required/>
                </label>
                <div class="actions">
                    <button id="device-approve" type="submit" name="decision" value="approve"
                        class="btn btn-primary">"Approve"</button>
                    " "
                    <button id="device-deny" type="submit" name="decision" value="deny"
                        class="btn">"Deny"</button>
                </div>
            </form>
        </section>
    }
}

fn asking_device(result: ApiResult<DevicePending>) -> AnyView {
    match result {
        Ok(p) => view! {
            <p class="alert" id="device-asking">
                "The device "<strong id="device-name">{p.client_name}</strong>
                {format!(" asked at {}; the code expires at {}.", utc(p.created_at), utc(p.expires_at))}
                " Approve only if you started the sign-in on it."
            </p>
        }
        .into_any(),
        Err(e) if e.status == 404 => view! {
            <p class="alert alert-error" id="device-asking">
                "No device is waiting for this code. It may have expired, been used, or been mistyped."
            </p>
        }
        .into_any(),
        Err(e) => view! { <p class="alert alert-error" id="device-asking">{e.message}</p> }.into_any(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_have_words() {
        assert!(device_message(Some("approved"), None).is_some_and(|m| m.1.contains("signed in")));
        assert!(
            device_message(None, Some("unknown_code")).is_some_and(|m| m.1.contains("expired"))
        );
        assert!(device_message(None, Some("whatever")).is_some());
        assert!(device_message(None, None).is_none());
    }
}
