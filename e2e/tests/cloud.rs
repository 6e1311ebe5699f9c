//! The control-plane path end to end, on SQLite and (when `FDT_TEST_PG_URL` is set)
//! PostgreSQL: register → authtoken → an in-process relay that trusts the cloud's JWKS → an
//! agent with an API URL exchanges its authtoken and binds → a request through the tunnel →
//! the authtoken is revoked → the relay, polling the cloud's revocation feed, closes the live
//! session (the agent stops for good) and new exchanges are refused. Tokens signed by keys the
//! JWKS does not publish are refused by the relay.

use fdt_agent_core::config::TunnelConfig;
use fdt_agent_core::{CloudLogin, Connect, RelayTarget};
use fdt_api::{AccountId, AgentSessionRequest, AuthtokenId, ErrorCode};
use fdt_cloud::auth::agent_keys::AgentKeyring;
use fdt_cloud::auth::agent_tokens::AgentTokens;
use fdt_cloud::config::RelayEntry;
use fdt_e2e::stack::BASE_DOMAIN;
use fdt_e2e::{Cloud, HttpOrigin, Stack, StackOptions};
use fdt_proto::Proto;
use fdt_relay::auth::TokenSigner;
use fdt_relay::registry::HostLookup;

use fdt_e2e::cloud::TestDb as Db;

fn relay_entry(id: &str, stack: &Stack, server_name: &str) -> RelayEntry {
    RelayEntry {
        id: id.into(),
        region: "local".into(),
        addr: stack.agent_addr.to_string(),
        server_name: server_name.into(),
    }
}

fn http_tunnel(origin: &HttpOrigin, sub: &str) -> TunnelConfig {
    let mut t = TunnelConfig::new(Proto::Http, origin.addr.to_string());
    t.subdomain = Some(sub.into());
    t
}

async fn authtoken_exchange_binds_and_revocation_closes_the_session(db: &Db) {
    fdt_e2e::install_crypto();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api_url = format!("http://{}", listener.local_addr().unwrap());
    let stack = Stack::start(StackOptions::attached_to(&api_url))
        .await
        .unwrap();
    // The first relay listed presents a certificate for another name: the agent must fall
    // back to the next one.
    let relays = vec![
        relay_entry("wrong-name", &stack, "not-this-relay.example"),
        relay_entry("local-1", &stack, BASE_DOMAIN),
    ];
    let cloud = Cloud::start(listener, db.store.clone(), relays);

    let account = cloud.account("agent-owner@example.com").await.unwrap();
    let (client, created) = (&account.client, &account.authtoken);

    let origin = HttpOrigin::start().await.unwrap();
    let login = CloudLogin {
        api_url: cloud.url.clone(),
        authtoken: created.token.expose_secret().to_owned(),
        region: None,
        relay_ca: Some(stack.ca_path()),
    };
    let mut agent = stack
        .spawn_agent_via(
            Connect::Cloud(login.clone()),
            vec![("web", http_tunnel(&origin, "cloudy"))],
        )
        .unwrap();
    agent.wait_bound().await.unwrap();
    assert_eq!(agent.status().relay, stack.agent_addr.to_string());
    let r = stack
        .curl(&stack.http_url("cloudy", "/echo"))
        .run()
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    // The relay knows the agent by its cloud account.
    let me = client.me().await.unwrap();
    let registry = stack.relay().unwrap().registry();
    match registry.lookup_host(&stack.host("cloudy")) {
        HostLookup::Online(t) => assert_eq!(t.account, me.id.as_str()),
        other => panic!("cloudy is not online: {other:?}"),
    }

    // Revoked: the relay learns it from the cloud's feed and closes the live session; the
    // agent stops for good and the tunnel's URL no longer reaches the origin.
    client.revoke_authtoken(&created.info.id).await.unwrap();
    let why = agent.wait_stopped().await.unwrap();
    assert!(why.contains("revoked"), "{why}");
    let r = stack
        .curl(&stack.http_url("cloudy", "/echo"))
        .run()
        .await
        .unwrap();
    assert!(matches!(r.status, 404 | 502), "{} {}", r.status, r.text());
    assert!(matches!(
        registry.lookup_host(&stack.host("cloudy")),
        HostLookup::Offline | HostLookup::Unknown
    ));

    // The next exchange is refused with 401, and a new agent stops with the reason.
    let err = client
        .agent_session(&created.token, &AgentSessionRequest::default())
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(401), "{err}");
    assert_eq!(err.code(), Some(&ErrorCode::Unauthorized));
    let mut late = stack
        .spawn_agent_via(
            Connect::Cloud(login),
            vec![("web", http_tunnel(&origin, "late"))],
        )
        .unwrap();
    let why = late.wait_bound().await.unwrap_err().to_string();
    assert!(why.contains("refused the authtoken"), "{why}");

    let _ = agent.stop().await;
    cloud.shutdown.cancel();
    stack.shutdown().await.unwrap();
}

async fn tokens_signed_by_unpublished_keys_are_refused_by_the_relay(db: &Db) {
    fdt_e2e::install_crypto();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api_url = format!("http://{}", listener.local_addr().unwrap());
    let stack = Stack::start(StackOptions {
        jwks_url: Some(format!("{api_url}/v1/jwks")),
        ..StackOptions::default()
    })
    .await
    .unwrap();
    let cloud = Cloud::start(
        listener,
        db.store.clone(),
        vec![relay_entry("local-1", &stack, BASE_DOMAIN)],
    );
    let origin = HttpOrigin::start().await.unwrap();
    let account: AccountId = "acc_0123456789abcdefghijkl".parse().unwrap();
    let now = time::OffsetDateTime::now_utc();
    let atk: AuthtokenId = "atk_0123456789abcdefghijkl".parse().unwrap();

    // A genuine cloud token verifies: the relay has the published key.
    let genuine = cloud
        .state
        .agent_tokens()
        .issue(&account, &atk, fdt_api::Plan::Free, now)
        .unwrap();
    // Well-formed tokens from a keyring the cloud does not publish, and one naming the
    // cloud's real key ID but signed by another key.
    let foreign = AgentTokens::new(
        AgentKeyring::generate().unwrap(),
        "fdt-cloud",
        &Default::default(),
    )
    .issue(&account, &atk, fdt_api::Plan::Free, now)
    .unwrap();
    let real_kid = cloud
        .state
        .agent_tokens()
        .keyring()
        .signing_key()
        .kid()
        .to_owned();
    let impostor = TokenSigner::generate()
        .unwrap()
        .sign_with_kid(&TokenSigner::claims(account.as_str(), 300), &real_kid);

    let direct = |token: String| Connect::Relay {
        relay: RelayTarget {
            addr: stack.agent_addr.to_string(),
            server_name: Some(BASE_DOMAIN.into()),
            ca_file: Some(stack.ca_path()),
        },
        token,
    };
    let mut ok = stack
        .spawn_agent_via(
            direct(genuine.expose_secret().to_owned()),
            vec![("web", http_tunnel(&origin, "genuine"))],
        )
        .unwrap();
    ok.wait_bound().await.unwrap();
    for (token, expected) in [
        (foreign.expose_secret().to_owned(), "unknown key"),
        (impostor, "signature not valid"),
    ] {
        let mut agent = stack
            .spawn_agent_via(direct(token), vec![("web", http_tunnel(&origin, "forged"))])
            .unwrap();
        let why = agent.wait_bound().await.unwrap_err().to_string();
        assert!(why.contains(expected), "{why}");
    }
    ok.stop().await.unwrap();
    cloud.shutdown.cancel();
    stack.shutdown().await.unwrap();
}

fdt_cloud::on_both_databases!(
    authtoken_exchange_binds_and_revocation_closes_the_session,
    tokens_signed_by_unpublished_keys_are_refused_by_the_relay,
);
