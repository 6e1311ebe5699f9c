//! The authtoken exchange: refusals, retries, secrets kept out of Debug.

#![allow(clippy::unwrap_used)]
use super::*;

#[test]
fn malformed_authtokens_are_refused_before_any_request() {
    let login = CloudLogin {
        api_url: "http://127.0.0.1:1".into(),
        authtoken: "fdt_not-a-token".into(),
        region: None,
        relay_ca: None,
    };
    assert!(matches!(
        Exchanger::new(&login),
        Err(ExchangeError::Refused(_))
    ));
    assert!(!format!("{login:?}").contains("not-a-token"));
}

#[test]
fn relay_tokens_never_reach_debug_output() {
    let x = Exchanged {
        token: "relay-token-secret".into(),
        relays: Vec::new(),
    };
    assert!(!format!("{x:?}").contains("relay-token-secret"));
    let c = crate::Connect::Relay {
        relay: RelayTarget {
            addr: "127.0.0.1:7443".into(),
            server_name: None,
            ca_file: None,
        },
        token: "relay-token-secret".into(),
    };
    assert!(!format!("{c:?}").contains("relay-token-secret"));
}

#[tokio::test]
async fn an_unreachable_cloud_is_worth_retrying_and_needs_no_global_crypto_provider() {
    // Nothing in this test binary installs a process-wide rustls provider: building the
    // client must not need one.
    let token =
        fdt_api::Authtoken::from_random_part("aB3dE6gH9jK2mN5pQ8sT1vW4yZ7bC0eF3hI6kL9n").unwrap();
    let login = CloudLogin {
        api_url: "http://127.0.0.1:9".into(),
        authtoken: token.expose_secret().to_owned(),
        region: None,
        relay_ca: None,
    };
    let exchanger = Exchanger::new(&login).unwrap();
    assert!(matches!(
        exchanger.exchange().await,
        Err(ExchangeError::Unavailable(_))
    ));
}

#[test]
fn refusals_are_final_and_outages_are_not() {
    let api = |status| ClientError::UnexpectedStatus {
        status,
        body: String::new(),
    };
    assert!(matches!(classify(api(401)), ExchangeError::Refused(_)));
    assert!(matches!(classify(api(403)), ExchangeError::Refused(_)));
    // Any other 4xx would be answered the same way however often it is retried.
    for status in [400, 404, 405, 422] {
        assert!(
            matches!(classify(api(status)), ExchangeError::Rejected(_)),
            "{status}"
        );
    }
    for status in [408, 429, 500, 502, 503] {
        assert!(
            matches!(classify(api(status)), ExchangeError::Unavailable(_)),
            "{status}"
        );
    }
    assert!(matches!(
        classify(ClientError::InvalidBaseUrl("x".into())),
        ExchangeError::Unavailable(_)
    ));
}
