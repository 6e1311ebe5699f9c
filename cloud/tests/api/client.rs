//! The typed client (`fdt_api::FdtClient`) against the real server on a TCP socket.

use crate::common::{PASSWORD, TestApp, TestDb};
use fdt_api::{
    ClientError, CreateAuthtokenRequest, ErrorCode, FdtClient, LoginRequest, Password,
    RegisterRequest,
};
use tokio_util::sync::CancellationToken;

on_both_databases!(typed_client_drives_the_api_over_tcp);

fn code(e: &ClientError) -> Option<ErrorCode> {
    e.code().cloned()
}

async fn typed_client_drives_the_api_over_tcp(db: &TestDb) {
    // reqwest is built without a default crypto provider.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let app = TestApp::new(db);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let shutdown = CancellationToken::new();
    let server = tokio::spawn(fdt_cloud::server::run(
        listener,
        app.state.clone(),
        shutdown.clone(),
    ));

    let client = FdtClient::new(&format!("http://{addr}")).unwrap();
    let register = RegisterRequest {
        email: "client@example.com".into(),
        password: Password::new(PASSWORD),
    };
    let account = client.register(&register).await.unwrap();
    assert_eq!(account.email, "client@example.com");
    let dup = client.register(&register).await.unwrap_err();
    assert_eq!(
        (dup.status(), code(&dup)),
        (Some(409), Some(ErrorCode::EmailTaken))
    );

    let wrong = client
        .login(&LoginRequest {
            email: "client@example.com".into(),
            password: Password::new("not the password"),
        })
        .await
        .unwrap_err();
    assert_eq!(code(&wrong), Some(ErrorCode::InvalidCredentials));

    let pair = client
        .login(&LoginRequest {
            email: "client@example.com".into(),
            password: Password::new(PASSWORD),
        })
        .await
        .unwrap();
    let unauthenticated = client.me().await.unwrap_err();
    assert_eq!(code(&unauthenticated), Some(ErrorCode::Unauthorized));
    let authed = client.clone().with_access_token(pair.access_token.clone());
    assert_eq!(authed.me().await.unwrap(), account);

    let created = authed
        .create_authtoken(&CreateAuthtokenRequest {
            description: Some("ci".into()),
        })
        .await
        .unwrap();
    assert_eq!(created.info.prefix, created.token.display_prefix());
    let listed = authed.list_authtokens().await.unwrap();
    assert_eq!(listed, vec![created.info.clone()]);
    authed.revoke_authtoken(&created.info.id).await.unwrap();
    assert!(authed.list_authtokens().await.unwrap().is_empty());
    let gone = authed.revoke_authtoken(&created.info.id).await.unwrap_err();
    assert_eq!(code(&gone), Some(ErrorCode::NotFound));

    let next = client.refresh(&pair.refresh_token).await.unwrap();
    assert_eq!(next.session_id, pair.session_id);
    let reuse = client.refresh(&pair.refresh_token).await.unwrap_err();
    assert_eq!(code(&reuse), Some(ErrorCode::InvalidRefreshToken));
    client.logout(&next.refresh_token).await.unwrap();

    // A base URL with a path prefix keeps it; a non-HTTP one is refused up front.
    let prefixed = FdtClient::new(&format!("http://{addr}/base")).unwrap();
    assert_eq!(prefixed.base_url().path(), "/base/");
    assert!(matches!(
        FdtClient::new("ftp://example.com"),
        Err(ClientError::InvalidBaseUrl(_))
    ));

    shutdown.cancel();
    server.await.unwrap().unwrap();
}
