//! Paying from the app: the window asks for a checkout (or a plan change, or Stripe's portal)
//! and the control plane answers with the provider's page, which opens in the system browser
//! while the window follows the outcome over `cloud_api`.
//!
//! The window never names the page to open: only the calls below may go out this way, and the
//! URL comes from the control plane's answer. Anything else the window wants opened must be a
//! console page (`open_external`).

use fdt_desktop_ipc::{ApiAnswer, ApiCall, DesktopError, ErrorKind};

/// Whether `call` is one whose answer names a provider's page.
pub fn check_redirect_call(call: &ApiCall) -> Result<(), DesktopError> {
    let path = call.path.as_str();
    let plan_change = path
        .strip_prefix("/v1/billing/subscriptions/")
        .and_then(|rest| rest.strip_suffix("/plan"))
        .is_some_and(|mid| {
            let mut parts = mid.split('/');
            matches!(
                (parts.next(), parts.next(), parts.next()),
                (Some(p), Some(id), None) if !p.is_empty() && !id.is_empty()
            )
        });
    let allowed = matches!(path, "/v1/billing/checkout" | "/v1/billing/portal") || plan_change;
    if call.method == "POST" && allowed {
        Ok(())
    } else {
        Err(DesktopError::new(
            ErrorKind::InvalidInput,
            "Only checkouts, plan changes and the billing portal open a provider's page.",
        ))
    }
}

/// The provider's page a successful answer names (`url`): https, or http on this machine (a
/// local test provider). `None` when the answer names none (a plan change that needs no
/// approval); an error when it names one that cannot be opened.
pub fn provider_page(answer: &ApiAnswer) -> Result<Option<String>, DesktopError> {
    if !(200..300).contains(&answer.status) {
        return Ok(None);
    }
    let v: serde_json::Value = serde_json::from_str(&answer.body).unwrap_or_default();
    let Some(raw) = v["url"].as_str() else {
        return Ok(None);
    };
    let refused = || {
        DesktopError::new(
            ErrorKind::Internal,
            "The control plane answered with a payment page that cannot be opened.",
        )
    };
    let url = reqwest::Url::parse(raw).map_err(|_| refused())?;
    let local = match url.host_str() {
        Some("localhost") => true,
        Some(h) => h
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback()),
        None => false,
    };
    match url.scheme() {
        "https" => Ok(Some(url.into())),
        "http" if local => Ok(Some(url.into())),
        _ => Err(refused()),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn call(method: &str, path: &str) -> ApiCall {
        ApiCall {
            method: method.into(),
            path: path.into(),
            body: None,
        }
    }

    fn answer(status: u16, body: serde_json::Value) -> ApiAnswer {
        ApiAnswer {
            status,
            body: body.to_string(),
        }
    }

    #[test]
    fn only_billing_calls_may_open_a_provider_page() {
        for ok in [
            "/v1/billing/checkout",
            "/v1/billing/portal",
            "/v1/billing/subscriptions/paypal/I-BW452GLLEP1G/plan",
        ] {
            assert!(check_redirect_call(&call("POST", ok)).is_ok(), "{ok}");
        }
        for (m, bad) in [
            ("GET", "/v1/billing/checkout"),
            ("POST", "/v1/authtokens"),
            ("POST", "/v1/billing/checkout?x=1"),
            ("POST", "/v1/billing/subscriptions/stripe/plan"),
            ("POST", "/v1/billing/subscriptions/stripe/a/b/plan"),
            ("POST", "/v1/billing/subscriptions/stripe/sub_1/cancel"),
        ] {
            assert!(check_redirect_call(&call(m, bad)).is_err(), "{m} {bad}");
        }
    }

    #[test]
    fn provider_pages_are_https_or_this_machine() {
        let page = |url: &str| provider_page(&answer(201, serde_json::json!({ "url": url })));
        assert_eq!(
            page("https://checkout.stripe.com/c/pay/cs_1")
                .unwrap()
                .as_deref(),
            Some("https://checkout.stripe.com/c/pay/cs_1")
        );
        assert!(page("http://127.0.0.1:4242/pay/cs_1").unwrap().is_some());
        assert!(page("http://[::1]:4242/pay").unwrap().is_some());
        for bad in [
            "http://checkout.stripe.com/pay",
            "file:///etc/passwd",
            "javascript:alert(1)",
            "not a url",
        ] {
            assert!(page(bad).is_err(), "{bad}");
        }
        // No page to open: a change that needs no approval, or a refusal.
        let none = answer(200, serde_json::json!({"effective": "now"}));
        assert_eq!(provider_page(&none).unwrap(), None);
        let refused = answer(409, serde_json::json!({"url": "https://x.example"}));
        assert_eq!(provider_page(&refused).unwrap(), None);
    }
}
