//! Sign in and sign up. Plain HTML forms posted to the server (they work before and without
//! JavaScript); once hydrated, fields are checked as you type and on submit.

use crate::boot::Boot;
use crate::components::form::TextField;
use crate::components::layout::ThemeToggle;
use fdt_api::validate::{MIN_PASSWORD_CHARS, check_email, check_password, normalize_email};
use leptos::ev::SubmitEvent;
use leptos::prelude::*;

/// The message for an error code the server put in `?error=`.
pub fn auth_error_text(code: &str) -> &'static str {
    match code {
        "invalid_credentials" => "That email and password do not match an account.",
        "rate_limited" => "Too many attempts. Wait a minute and try again.",
        "account_suspended" => "This account is suspended. Contact support.",
        "email_taken" | "conflict" => "An account with this email already exists.",
        "invalid_email" => "Enter a valid email address.",
        "weak_password" | "invalid_password" => "Choose a longer password.",
        "bad_origin" => "The form was sent from another site and was refused.",
        "sso_unknown" => "That organisation does not use single sign-on.",
        "sso_expired" => "That sign-in took too long or was used already. Start again.",
        "sso_denied" => "Your identity provider did not sign you in.",
        "sso_domain" => "Your identity provider's email address may not sign in here.",
        "sso_account_exists" => {
            "An account with your email exists already: sign in with its password."
        }
        "sso_failed" => "Single sign-on did not work. Try again, or ask your administrator.",
        _ => "That did not work. Try again.",
    }
}

fn email_error(email: &str) -> Option<String> {
    check_email(&normalize_email(email))
        .err()
        .map(|_| "Enter a valid email address, like you@example.com.".to_owned())
}

fn password_error(password: &str) -> Option<String> {
    check_password(password)
        .err()
        .map(|_| format!("Use at least {MIN_PASSWORD_CHARS} characters."))
}

#[component]
fn AuthCard(title: &'static str, children: Children) -> impl IntoView {
    let boot = use_context::<Boot>().unwrap_or_default();
    view! {
        <main id="main" class="center-card">
            <p class="brand"><span class="logo" aria-hidden="true">"◆"</span>" FlyingDarkDevTunnel"</p>
            <h1>{title}</h1>
            {children()}
            <p class="theme-row"><ThemeToggle initial=boot.theme/></p>
        </main>
    }
}

/// `/login`.
#[component]
pub fn LoginPage() -> impl IntoView {
    let boot = use_context::<Boot>().unwrap_or_default();
    let email = RwSignal::new(boot.param("email").unwrap_or_default());
    let password = RwSignal::new(String::new());
    let email_err = RwSignal::new(None::<String>);
    let form_err = boot.param("error").map(|c| auth_error_text(&c));
    let next = boot.param("next").unwrap_or_else(|| "/".into());
    let org = RwSignal::new(boot.param("org").unwrap_or_default());
    let sso_next = next.clone();
    let on_submit = move |ev: SubmitEvent| {
        let e = email_error(&email.get_untracked());
        if e.is_some() {
            ev.prevent_default();
        }
        email_err.set(e);
    };
    view! {
        <AuthCard title="Sign in">
            {form_err.map(|m| view! { <p class="alert alert-error" role="alert">{m}</p> })}
            <form method="post" action="/login" class="form" on:submit=on_submit novalidate>
                <input type="hidden" name="next" value=next/>
                <TextField label="Email" name="email" kind="email" autocomplete="email" value=email
                    error=email_err required=true/>
                <TextField label="Password" name="password" kind="password" autocomplete="current-password"
                    value=password error=Signal::derive(|| None::<String>) required=true/>
                <button type="submit" class="btn btn-primary btn-block">"Sign in"</button>
            </form>
            // Single sign-on: the organisation's identity provider (OpenID Connect).
            <form method="post" action="/sso/start" class="form" id="sso-form">
                <input type="hidden" name="next" value=sso_next/>
                <TextField label="Organisation ID" name="org" value=org
                    error=Signal::derive(|| None::<String>) placeholder="org_…"
                    hint="For organisations that sign in with their identity provider."/>
                <button type="submit" class="btn btn-block">"Sign in with single sign-on"</button>
            </form>
            <p class="muted">"New here? " <a href="/signup">"Create an account"</a></p>
        </AuthCard>
    }
}

/// `/signup`.
#[component]
pub fn SignupPage() -> impl IntoView {
    let boot = use_context::<Boot>().unwrap_or_default();
    let email = RwSignal::new(boot.param("email").unwrap_or_default());
    let password = RwSignal::new(String::new());
    let email_err = RwSignal::new(None::<String>);
    let password_err = RwSignal::new(None::<String>);
    let form_err = boot.param("error").map(|c| auth_error_text(&c));
    // Errors appear as soon as a field is left in a bad state, and go as soon as it is fixed.
    Effect::new(move |_| {
        let p = password.get();
        if !p.is_empty() {
            password_err.set(password_error(&p));
        }
    });
    let on_submit = move |ev: SubmitEvent| {
        let e = email_error(&email.get_untracked());
        let p = password_error(&password.get_untracked());
        if e.is_some() || p.is_some() {
            ev.prevent_default();
        }
        email_err.set(e);
        password_err.set(p);
    };
    view! {
        <AuthCard title="Create your account">
            {form_err.map(|m| view! { <p class="alert alert-error" role="alert">{m}</p> })}
            <form method="post" action="/signup" class="form" on:submit=on_submit novalidate>
                <TextField label="Email" name="email" kind="email" autocomplete="email" value=email
                    error=email_err required=true/>
                <TextField label="Password" name="password" kind="password" autocomplete="new-password"
                    value=password error=password_err required=true
                    hint="At least 10 characters."/>
                <button type="submit" class="btn btn-primary btn-block">"Create account"</button>
            </form>
            <p class="muted">"Have an account? " <a href="/login">"Sign in"</a></p>
        </AuthCard>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_messages() {
        assert!(email_error("you@example.com").is_none());
        assert!(email_error("nope").is_some());
        assert!(password_error("short").is_some());
        assert!(password_error("long enough password").is_none());
        assert_eq!(auth_error_text("weird"), "That did not work. Try again.");
    }
}
