//! The desktop app's commands on Tauri's mock runtime against a real stack (control plane,
//! relay over QUIC, local origin): sign in with an authtoken, add a tunnel, switch it on from
//! the tray's model, reach it with curl, see the request in the inspector through
//! `agent_api`, switch it off; the tray model follows each step. Bad input is refused in
//! words, and nothing happens without a sign-in.

#![allow(clippy::unwrap_used)]

use fdt_desktop::state::{AppState, StateConfig};
use fdt_desktop::tray::{self, Entry, TrayItem};
use fdt_desktop_ipc::{ApiCall, DesktopState, Overall, SignInPassword, TunnelState};
use fdt_e2e::{Cloud, HttpOrigin, poll_until};
use serde_json::{Value, json};
use std::time::Duration;
use tauri::test::{INVOKE_KEY, get_ipc_response, mock_builder, mock_context, noop_assets};
use tauri::webview::InvokeRequest;
use tauri::{Manager, WebviewWindow, WebviewWindowBuilder};

/// Invokes `cmd` as the window would; `Err` is the command's error JSON.
async fn invoke(
    w: &WebviewWindow<tauri::test::MockRuntime>,
    cmd: &str,
    input: Option<Value>,
) -> Result<Value, Value> {
    let body = match input {
        Some(i) => json!({ "input": i }),
        None => json!({}),
    };
    let req = InvokeRequest {
        cmd: cmd.into(),
        callback: tauri::ipc::CallbackFn(0),
        error: tauri::ipc::CallbackFn(1),
        url: "tauri://localhost".parse().unwrap(),
        body: tauri::ipc::InvokeBody::Json(body),
        headers: Default::default(),
        invoke_key: INVOKE_KEY.to_string(),
    };
    let w = w.clone();
    // The mock runtime answers through a blocking channel.
    tokio::task::spawn_blocking(move || {
        get_ipc_response(&w, req).map(|b| b.deserialize::<Value>().unwrap())
    })
    .await
    .unwrap()
}

fn state_of(v: Value) -> DesktopState {
    serde_json::from_value(v).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn desktop_commands_drive_a_real_tunnel() {
    fdt_e2e::init_tracing();
    tauri::async_runtime::set(tokio::runtime::Handle::current());
    let db = fdt_cloud::testing::TestDb::sqlite().await;
    let (cloud, stack) = Cloud::with_attached_relay(db.store.clone()).await.unwrap();
    let account = cloud.account("desk@example.com").await.unwrap();
    let origin = HttpOrigin::start().await.unwrap();
    let home = tempfile::tempdir().unwrap();
    let state = AppState::open(StateConfig {
        config_dir: home.path().join("fdt-desktop"),
        xdg_config_home: home.path().to_path_buf(),
        use_keyring: false,
        exe: "/usr/bin/fdt-desktop".into(),
        api_url: Some(cloud.url.clone()),
        relay_ca: Some(stack.ca_path()),
        inspector_addr: Some("127.0.0.1:0".into()),
        downloads_dir: Some(home.path().join("Downloads")),
    })
    .await
    .unwrap();
    let app = fdt_desktop::app(mock_builder())
        .manage(state.clone())
        .build(mock_context(noop_assets()))
        .unwrap();
    let w = WebviewWindowBuilder::new(&app, "main", Default::default())
        .build()
        .unwrap();

    // Signed out: nothing can be switched on, and the tray says why.
    let s = state_of(invoke(&w, "state", None).await.unwrap());
    assert!(s.account.is_none());
    let e = invoke(&w, "save_tunnel", Some(json!({"name": "web", "proto": "http", "addr": origin.addr.to_string(), "subdomain": "deskweb"})))
        .await
        .unwrap();
    let s = state_of(e);
    let id = s.tunnels[0].id.clone();
    let e = invoke(
        &w,
        "set_tunnel_enabled",
        Some(json!({"id": id, "enabled": true})),
    )
    .await
    .unwrap_err();
    assert_eq!(e["kind"], "not_signed_in", "{e}");

    // A wrong authtoken is refused in words; the right one signs in (kept in a 0600 file).
    let e = invoke(
        &w,
        "sign_in_token",
        Some(json!({"authtoken": "fdt_not_a_real_token_at_all_000000"})),
    )
    .await
    .unwrap_err();
    assert_eq!(e["kind"], "refused", "{e}");
    let s = state_of(
        invoke(
            &w,
            "sign_in_token",
            Some(json!({"authtoken": account.authtoken_secret()})),
        )
        .await
        .unwrap(),
    );
    let acct = s.account.clone().unwrap();
    assert_eq!(acct.stored_in, "file");
    assert!(
        !acct
            .authtoken_hint
            .contains(&account.authtoken_secret()[10..])
    );
    let creds = home.path().join("fdt-desktop/credentials.json");
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&creds).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }

    // Bad definitions come back as invalid_input with the field named.
    let e = invoke(
        &w,
        "save_tunnel",
        Some(json!({"name": "db", "proto": "tcp", "addr": "5432", "cidr_allow": ["10.0.0.0/99"]})),
    )
    .await
    .unwrap_err();
    assert_eq!(e["kind"], "invalid_input");
    assert!(
        e["message"].as_str().unwrap().contains("Allowed networks"),
        "{e}"
    );

    // Switched on from the tray's model, as a click would.
    let m = tray::model(&s);
    let toggle = m
        .entries
        .iter()
        .find_map(|e| match e {
            Entry::Check {
                item: item @ TrayItem::Toggle(_),
                checked: false,
                enabled: true,
                ..
            } => Some(item.clone()),
            _ => None,
        })
        .expect("a switch for the tunnel");
    fdt_desktop::on_tray_click(app.handle(), toggle);
    let online = poll_until(Duration::from_secs(20), "tunnel online", || async {
        let s = state.snapshot();
        (s.tunnels[0].state == TunnelState::Online).then_some(s)
    })
    .await
    .unwrap();
    let url = online.tunnels[0].public_url.clone().unwrap();
    assert!(url.contains("deskweb"), "{url}");
    let m = tray::model(&online);
    assert_eq!(m.overall, Overall::Online);
    assert!(
        m.entries
            .iter()
            .any(|e| matches!(e, Entry::Item { item: TrayItem::CopyUrl(t), .. } if *t == id))
    );
    let saved = std::fs::read_to_string(home.path().join("fdt-desktop/settings.toml")).unwrap();
    assert!(saved.contains("enabled = true"), "{saved}");

    // A second tunnel switched on rides the same agent session: one connection at the relay,
    // and switching it off again leaves the first one serving.
    let s = state_of(
        invoke(&w, "save_tunnel", Some(json!({"name": "api", "proto": "http", "addr": origin.addr.to_string(), "subdomain": "deskapi"})))
            .await
            .unwrap(),
    );
    let second = s
        .tunnels
        .iter()
        .find(|t| t.def.name == "api")
        .unwrap()
        .id
        .clone();
    invoke(
        &w,
        "set_tunnel_enabled",
        Some(json!({"id": second, "enabled": true})),
    )
    .await
    .unwrap();
    poll_until(Duration::from_secs(20), "both tunnels online", || async {
        let s = state.snapshot();
        s.tunnels
            .iter()
            .all(|t| t.state == TunnelState::Online)
            .then_some(())
    })
    .await
    .unwrap();
    assert_eq!(
        stack.relay().unwrap().agent_connections(),
        1,
        "one session for both tunnels"
    );
    let r = stack
        .curl(&stack.http_url("deskapi", "/echo"))
        .run()
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    invoke(&w, "remove_tunnel", Some(json!({"id": second})))
        .await
        .unwrap();
    let r = stack
        .curl(&stack.http_url("deskweb", "/echo"))
        .run()
        .await
        .unwrap();
    assert_eq!(
        r.status,
        200,
        "the first tunnel keeps serving: {}",
        r.text()
    );
    assert_eq!(
        state.snapshot().tunnels[0].public_url.as_deref(),
        Some(url.as_str())
    );
    assert_eq!(stack.relay().unwrap().agent_connections(), 1);

    // Traffic reaches the local service, and the inspector sees it through agent_api.
    let r = stack
        .curl(&stack.http_url("deskweb", "/echo?from=desktop"))
        .run()
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    let listed = poll_until(Duration::from_secs(10), "captured request", || async {
        let a = invoke(
            &w,
            "agent_api",
            Some(json!({"method": "GET", "path": "/api/requests/http"})),
        )
        .await
        .unwrap();
        let body: Value = serde_json::from_str(a["body"].as_str().unwrap()).unwrap();
        let found = body["requests"]
            .as_array()
            .is_some_and(|l| l.iter().any(|x| x.to_string().contains("from=desktop")));
        found.then_some(body)
    })
    .await
    .unwrap();
    assert!(!listed["requests"].as_array().unwrap().is_empty());
    let e = invoke(
        &w,
        "agent_api",
        Some(json!({"method": "GET", "path": "/etc/passwd"})),
    )
    .await
    .unwrap_err();
    assert_eq!(e["kind"], "invalid_input");

    // After sleep or a network change (what netwatch reports), the tunnel reconnects by
    // itself and keeps its address.
    state.reconnect_all().await;
    let back = poll_until(Duration::from_secs(20), "tunnel back online", || async {
        let s = state.snapshot();
        (s.tunnels[0].state == TunnelState::Online).then_some(s)
    })
    .await
    .unwrap();
    assert_eq!(back.tunnels[0].public_url.as_deref(), Some(url.as_str()));
    let r = stack
        .curl(&stack.http_url("deskweb", "/echo?after=wake"))
        .run()
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());

    // Switched off: the tray shows it off and the public URL stops answering.
    let s = state_of(
        invoke(
            &w,
            "set_tunnel_enabled",
            Some(json!({"id": id, "enabled": false})),
        )
        .await
        .unwrap(),
    );
    assert_eq!(s.tunnels[0].state, TunnelState::Off);
    assert_eq!(tray::model(&s).overall, Overall::Off);
    poll_until(
        Duration::from_secs(10),
        "tunnel gone at the relay",
        || async {
            let r = stack
                .curl(&stack.http_url("deskweb", "/echo"))
                .run()
                .await
                .unwrap();
            (r.status != 200).then_some(())
        },
    )
    .await
    .unwrap();

    // Start at login writes the XDG autostart entry.
    let s = state_of(
        invoke(&w, "set_start_at_login", Some(json!({"enabled": true})))
            .await
            .unwrap(),
    );
    assert!(s.start_at_login);
    let entry = std::fs::read_to_string(home.path().join("autostart/fdt-desktop.desktop")).unwrap();
    assert!(
        entry.contains("Exec=/usr/bin/fdt-desktop --hidden"),
        "{entry}"
    );

    // Opening pages outside the console is refused.
    let e = invoke(
        &w,
        "open_external",
        Some(json!({"url": "https://evil.example/"})),
    )
    .await
    .unwrap_err();
    assert_eq!(e["kind"], "invalid_input");

    // Sign-out forgets the authtoken but keeps the tunnels.
    let s = state_of(invoke(&w, "sign_out", None).await.unwrap());
    assert!(s.account.is_none());
    assert_eq!(s.tunnels.len(), 1);
    assert!(!creds.exists());

    // Plan and usage need an API session: refused in words after an authtoken sign-in...
    let e = invoke(
        &w,
        "cloud_api",
        Some(json!({"method": "GET", "path": "/v1/plan"})),
    )
    .await
    .unwrap_err();
    assert_eq!(e["kind"], "not_signed_in", "{e}");
    // ...and a wrong password is refused; the right one creates an authtoken for this
    // computer and keeps an API session the window reads the plan through.
    let e = invoke(
        &w,
        "sign_in_password",
        Some(json!({"email": "desk@example.com", "password": "not the password"})),
    )
    .await
    .unwrap_err();
    assert_eq!(e["kind"], "refused", "{e}");
    let s = state_of(
        invoke(
            &w,
            "sign_in_password",
            Some(json!({"email": "desk@example.com", "password": fdt_e2e::cloud::PASSWORD})),
        )
        .await
        .unwrap(),
    );
    let acct = s.account.unwrap();
    assert_eq!(acct.email.as_deref(), Some("desk@example.com"));
    assert!(acct.has_api_session);
    let tokens = account.client.list_authtokens().await.unwrap();
    assert!(
        tokens.iter().any(|t| t
            .description
            .as_deref()
            .is_some_and(|d| d.starts_with("Desktop app on "))),
        "{tokens:?}"
    );
    let plan = invoke(
        &w,
        "cloud_api",
        Some(json!({"method": "GET", "path": "/v1/plan"})),
    )
    .await
    .unwrap();
    assert_eq!(plan["status"], 200, "{plan}");
    let e = invoke(
        &w,
        "cloud_api",
        Some(json!({"method": "GET", "path": "/v1/../admin"})),
    )
    .await
    .unwrap_err();
    assert_eq!(e["kind"], "invalid_input");
    let _ = app.state::<AppState>();
    state.shutdown();
}

/// Opens the app's state in `home` against the control plane at `api_url`, as a launch does.
async fn open_state(home: &std::path::Path, api_url: &str) -> AppState {
    AppState::open(StateConfig {
        config_dir: home.join("fdt-desktop"),
        xdg_config_home: home.to_path_buf(),
        use_keyring: false,
        exe: "/usr/bin/fdt-desktop".into(),
        api_url: Some(api_url.into()),
        relay_ca: None,
        inspector_addr: Some("127.0.0.1:0".into()),
        downloads_dir: Some(home.join("Downloads")),
    })
    .await
    .unwrap()
}

fn get_plan() -> ApiCall {
    ApiCall {
        method: "GET".into(),
        path: "/v1/plan".into(),
        body: None,
    }
}

/// After a restart the app has its refresh token but no access token, so the window's first
/// calls all need a refresh at once. They used to each spend the same refresh token; the
/// control plane took the second spend for a stolen token and revoked the whole session.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_cloud_calls_after_a_restart_do_not_revoke_the_session() {
    fdt_e2e::init_tracing();
    fdt_e2e::install_crypto();
    let db = fdt_cloud::testing::TestDb::sqlite().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let cloud = Cloud::start(listener, db.store.clone(), vec![]);
    cloud.account("restart@example.com").await.unwrap();
    let home = tempfile::tempdir().unwrap();

    let first = open_state(home.path(), &cloud.url).await;
    first
        .sign_in_password(SignInPassword {
            email: "restart@example.com".into(),
            password: fdt_e2e::cloud::PASSWORD.into(),
            api_url: None,
        })
        .await
        .unwrap();
    first.quit().await;
    drop(first);

    // The next launch: the credentials come back from disk, the access token does not.
    let state = open_state(home.path(), &cloud.url).await;
    assert!(state.snapshot().account.unwrap().has_api_session);
    let answers = futures_util::future::join_all((0..4).map(|_| state.cloud_api(get_plan()))).await;
    for a in answers {
        let a = a.expect("every concurrent call is answered");
        assert_eq!(a.status, 200, "{}", a.body);
    }
    // The session survived: later calls work, and so does the refresh token kept on disk.
    assert_eq!(state.cloud_api(get_plan()).await.unwrap().status, 200);
    state.quit().await;
    drop(state);
    let again = open_state(home.path(), &cloud.url).await;
    assert_eq!(again.cloud_api(get_plan()).await.unwrap().status, 200);
    again.quit().await;
}

/// Device sign-in from the app: the code it shows is approved in the console (here through
/// the API as the signed-in user), and the app signs in with an authtoken made for this
/// computer. A denied attempt shows why; a new attempt supersedes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_app_signs_in_through_the_browser() {
    fdt_e2e::init_tracing();
    fdt_e2e::install_crypto();
    let db = fdt_cloud::testing::TestDb::sqlite().await;
    let cloud = Cloud::start(
        tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
        db.store.clone(),
        Vec::new(),
    );
    let account = cloud.account("browser@example.com").await.unwrap();
    let home = tempfile::tempdir().unwrap();
    let state = open_state(home.path(), &cloud.url).await;
    let decide = |code: String, approve: bool| {
        let client = account.client.clone();
        async move {
            client
                .device_approve(&fdt_api::DeviceDecision {
                    user_code: code,
                    approve,
                })
                .await
                .unwrap();
        }
    };

    // Denied: the window is told, and stays signed out.
    let s = state
        .sign_in_device(fdt_desktop_ipc::SignInDevice::default())
        .await
        .unwrap();
    let first = s.device_sign_in.unwrap();
    assert!(first.error.is_none());
    assert!(
        first
            .verification_uri_complete
            .ends_with(&format!("/device?code={}", first.user_code)),
        "{first:?}"
    );
    assert!(state.external_url(&first.verification_uri_complete).is_ok());
    decide(first.user_code.clone(), false).await;
    let denied = poll_until(Duration::from_secs(20), "the denial shown", || async {
        state.snapshot().device_sign_in.and_then(|d| d.error)
    })
    .await
    .unwrap();
    assert!(denied.contains("denied"), "{denied}");
    assert!(state.snapshot().account.is_none());

    // Approved: signed in, with an authtoken described after this computer.
    let s = state
        .sign_in_device(fdt_desktop_ipc::SignInDevice::default())
        .await
        .unwrap();
    let second = s.device_sign_in.unwrap();
    assert_ne!(second.user_code, first.user_code);
    assert!(second.error.is_none(), "a new attempt starts clean");
    decide(second.user_code, true).await;
    let acct = poll_until(Duration::from_secs(20), "signed in", || async {
        state.snapshot().account
    })
    .await
    .unwrap();
    assert!(!acct.has_api_session);
    assert!(state.snapshot().device_sign_in.is_none());
    let tokens = account.client.list_authtokens().await.unwrap();
    let made = tokens
        .iter()
        .find(|t| {
            t.prefix
                .starts_with(acct.authtoken_hint.trim_end_matches('…'))
        })
        .expect("the app's authtoken is the account's");
    assert_eq!(
        made.description.as_deref(),
        Some(format!("fdt login on {}", fdt_agent_core::login::machine_name()).as_str())
    );
    state.quit().await;
}

/// Managed tunnels in the app: with "run my managed tunnels" on, the tunnels defined in the
/// console run beside the app's own, on its one connection, and follow the console's start
/// and stop; switching it off leaves the app's own tunnel serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_app_runs_managed_tunnels_beside_its_own() {
    fdt_e2e::init_tracing();
    let db = fdt_cloud::testing::TestDb::sqlite().await;
    let (cloud, stack) = Cloud::with_attached_relay(db.store.clone()).await.unwrap();
    let account = cloud.account("managed-desk@example.com").await.unwrap();
    let (own, managed) = (
        HttpOrigin::start().await.unwrap(),
        HttpOrigin::start().await.unwrap(),
    );
    let home = tempfile::tempdir().unwrap();
    let state = AppState::open(StateConfig {
        config_dir: home.path().join("fdt-desktop"),
        xdg_config_home: home.path().to_path_buf(),
        use_keyring: false,
        exe: "/usr/bin/fdt-desktop".into(),
        api_url: Some(cloud.url.clone()),
        relay_ca: Some(stack.ca_path()),
        inspector_addr: Some("127.0.0.1:0".into()),
        downloads_dir: Some(home.path().join("Downloads")),
    })
    .await
    .unwrap();
    // Refused while signed out.
    assert!(state.set_run_managed(true).await.is_err());
    state
        .sign_in_token(fdt_desktop_ipc::SignInToken {
            authtoken: account.authtoken_secret(),
            api_url: None,
        })
        .await
        .unwrap();
    let s = state
        .save_tunnel(fdt_desktop_ipc::TunnelInput {
            id: None,
            name: "own".into(),
            proto: "http".into(),
            addr: own.addr.to_string(),
            subdomain: Some("desk-own".into()),
            basic_auth: vec![],
            cidr_allow: vec![],
            cidr_deny: vec![],
        })
        .await
        .unwrap();
    let id = s.tunnels[0].id.clone();
    state
        .set_tunnel_enabled(fdt_desktop_ipc::SetEnabled {
            id: id.clone(),
            enabled: true,
        })
        .await
        .unwrap();
    let served = |sub: &'static str| {
        let stack = &stack;
        async move {
            poll_until(Duration::from_secs(20), sub, || async {
                let r = stack.curl(&stack.http_url(sub, "/echo")).run().await.ok()?;
                (r.status == 200).then_some(())
            })
            .await
            .unwrap();
        }
    };
    served("desk-own").await;

    // Defined in the console (its API here), run once the switch is on.
    let bearer = format!(
        "Authorization: Bearer {}",
        account.access_token.expose_secret()
    );
    let created = fdt_e2e::Curl::new(&format!("{}/v1/tunnel-configs", cloud.url))
        .header(&bearer)
        .header("content-type: application/json")
        .arg("--data-binary")
        .arg(
            json!({"name": "web-managed", "definition": {"proto": "http", "addr": managed.addr.to_string(), "subdomain": "desk-managed"}})
                .to_string(),
        )
        .run()
        .await
        .unwrap();
    assert_eq!(created.status, 201, "{}", created.text());
    let config_id = serde_json::from_slice::<Value>(&created.body).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let s = state.set_run_managed(true).await.unwrap();
    assert!(s.run_managed);
    served("desk-managed").await;
    let line = poll_until(
        Duration::from_secs(20),
        "the managed line online",
        || async {
            state
                .snapshot()
                .managed_tunnels
                .into_iter()
                .find(|t| t.name == "web-managed" && t.state == TunnelState::Online)
        },
    )
    .await
    .unwrap();
    assert_eq!(line.id, config_id);
    assert!(line.public_url.unwrap().contains("desk-managed"));
    served("desk-own").await;
    let agent = state.supervisor().agent().unwrap();
    // One connection for both (the agent restarted with the switch: the old one may take a
    // moment to be gone at the relay).
    let relay = stack.relay().unwrap();
    poll_until(Duration::from_secs(10), "one agent connection", || async {
        (relay.agent_connections() == 1).then_some(())
    })
    .await
    .unwrap();
    // The app's local API will not stop a managed tunnel.
    assert!(!agent.stop_tunnel("web-managed"));

    // Stopped in the console: it leaves the app, the app's own stays.
    let stopped = fdt_e2e::Curl::new(&format!("{}/v1/tunnels/{config_id}/stop", cloud.url))
        .args(["-X", "POST"])
        .header(&bearer)
        .run()
        .await
        .unwrap();
    assert_eq!(stopped.status, 200, "{}", stopped.text());
    poll_until(Duration::from_secs(20), "the managed line gone", || async {
        state.snapshot().managed_tunnels.is_empty().then_some(())
    })
    .await
    .unwrap();
    served("desk-own").await;

    // Switched off: the app's own tunnel still serves; the setting is remembered off.
    let s = state.set_run_managed(false).await.unwrap();
    assert!(!s.run_managed && s.managed_tunnels.is_empty());
    served("desk-own").await;
    state.quit().await;
}

/// Switching organisations in the app: it makes an authtoken of the organisation for this
/// computer (its tunnels then serve there) and its window's calls act there; a role that
/// cannot make authtokens, and an organisation the account is not in, are refused; switching
/// back returns to the account's own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_app_switches_organisations() {
    use fdt_desktop_ipc::SwitchOrg;
    fdt_e2e::init_tracing();
    fdt_e2e::install_crypto();
    let db = fdt_cloud::testing::TestDb::sqlite().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let cloud = Cloud::start(listener, db.store.clone(), vec![]);
    let owner = cloud.account("owner@team.test").await.unwrap();
    let dev = cloud.account("dev@team.test").await.unwrap();
    let http = reqwest::Client::new();
    let team = cloud
        .invite_and_join(&owner, &dev, "dev@team.test", "viewer")
        .await
        .unwrap();

    let home = tempfile::tempdir().unwrap();
    let state = open_state(home.path(), &cloud.url).await;
    state
        .sign_in_password(SignInPassword {
            email: "dev@team.test".into(),
            password: fdt_e2e::cloud::PASSWORD.into(),
            api_url: None,
        })
        .await
        .unwrap();
    let orgs_call = ApiCall {
        method: "GET".into(),
        path: "/v1/orgs".into(),
        body: None,
    };
    let own: Value =
        serde_json::from_str(&state.cloud_api(orgs_call.clone()).await.unwrap().body).unwrap();
    let own = own["acting"].as_str().unwrap().to_owned();

    // A viewer cannot make the authtoken the tunnels need; a stranger's organisation is refused.
    let e = state
        .switch_org(SwitchOrg { org: team.clone() })
        .await
        .unwrap_err();
    assert!(
        e.message.contains("cannot create authtokens"),
        "{}",
        e.message
    );
    let e = state
        .switch_org(SwitchOrg {
            org: "org_nope".into(),
        })
        .await
        .unwrap_err();
    assert!(e.message.contains("not a member"), "{}", e.message);
    assert_eq!(state.snapshot().org, None);

    // As a developer it switches: a team authtoken for this computer, the window acting there.
    let dev_id = dev.client.me().await.unwrap().id;
    let r = http
        .put(format!("{}/v1/members/{dev_id}/role", cloud.url))
        .bearer_auth(owner.access_token.expose_secret())
        .json(&json!({"role": "developer"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let s = state
        .switch_org(SwitchOrg { org: team.clone() })
        .await
        .unwrap();
    assert_eq!(s.org.as_deref(), Some(team.as_str()));
    let acting: Value =
        serde_json::from_str(&state.cloud_api(orgs_call.clone()).await.unwrap().body).unwrap();
    assert_eq!(acting["acting"], json!(team));
    let team_tokens = owner.client.list_authtokens().await.unwrap();
    assert!(
        team_tokens.iter().any(|t| t
            .description
            .as_deref()
            .is_some_and(|d| d.starts_with("Desktop app on"))),
        "{team_tokens:?}"
    );
    // The app's authtoken in the account's own organisation is kept nowhere now: revoked.
    let own_tokens = dev.client.list_authtokens().await.unwrap();
    assert!(
        !own_tokens.iter().any(|t| t
            .description
            .as_deref()
            .is_some_and(|d| d.starts_with("Desktop app on"))),
        "{own_tokens:?}"
    );
    // It stays after a restart.
    state.quit().await;
    drop(state);
    let state = open_state(home.path(), &cloud.url).await;
    assert_eq!(state.snapshot().org.as_deref(), Some(team.as_str()));

    // And back to the account's own.
    let s = state
        .switch_org(SwitchOrg { org: own.clone() })
        .await
        .unwrap();
    assert_eq!(s.org, None);
    let acting: Value =
        serde_json::from_str(&state.cloud_api(orgs_call).await.unwrap().body).unwrap();
    assert_eq!(acting["acting"], json!(own));
    let team_tokens = owner.client.list_authtokens().await.unwrap();
    assert!(
        !team_tokens.iter().any(|t| t
            .description
            .as_deref()
            .is_some_and(|d| d.starts_with("Desktop app on"))),
        "the team's authtoken for this computer is revoked: {team_tokens:?}"
    );
    state.quit().await;
}

/// Paying from the app: the checkout's page opens in the system browser (paid here by an HTTP
/// client), and the window follows the checkout over `cloud_api` until the provider confirms
/// it and the plan moves. Only billing calls may open a provider's page, and a refused call
/// opens nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_app_opens_checkout_in_the_browser_and_follows_it() {
    use fdt_cloud::config::StripeConfig;
    use fdt_cloud::secret::Secret;
    use fdt_cloud::testing::stripe::{LocalStripe, StripeEmulator};
    use fdt_desktop_ipc::ErrorKind;
    const SECRET: &str = "whsec_desktop_checkout";
    fdt_e2e::init_tracing();
    fdt_e2e::install_crypto();
    let db = fdt_cloud::testing::TestDb::sqlite().await;
    let ls = LocalStripe::start().await;
    ls.price("price_pro", 1200, "usd").await.unwrap();
    let emu = StripeEmulator::start(&ls.url).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let cloud = Cloud::start_with(listener, db.store.clone(), |c| {
        c.billing.stripe = Some(StripeConfig {
            webhook_secrets: vec![Secret::new(SECRET.into())],
            prices: [("price_pro".to_owned(), "pro".to_owned())].into(),
            secret_key: Some(Secret::new("sk_test_fdt".into())),
            api_base: emu.url.clone(),
            checkout: [("pro".to_owned(), "price_pro".to_owned())].into(),
        });
    });
    emu.webhook(
        &ls,
        &format!("{}/v1/billing/webhooks/stripe", cloud.url),
        SECRET,
    )
    .await
    .unwrap();
    cloud.account("payer@example.com").await.unwrap();
    let home = tempfile::tempdir().unwrap();
    let state = open_state(home.path(), &cloud.url).await;
    state
        .sign_in_password(SignInPassword {
            email: "payer@example.com".into(),
            password: fdt_e2e::cloud::PASSWORD.into(),
            api_url: None,
        })
        .await
        .unwrap();

    // Other calls cannot open a page this way.
    let e = state.billing_redirect(get_plan()).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidInput, "{e:?}");
    let checkout = || ApiCall {
        method: "POST".into(),
        path: "/v1/billing/checkout".into(),
        body: Some(json!({"provider": "stripe", "plan": "pro"}).to_string()),
    };
    let (answer, page) = state.billing_redirect(checkout()).await.unwrap();
    assert_eq!(answer.status, 201, "{}", answer.body);
    let started: Value = serde_json::from_str(&answer.body).unwrap();
    let page = page.expect("the checkout's page is opened");
    assert_eq!(started["url"], page.as_str());
    assert!(page.starts_with(&emu.url), "{page}");

    // The person pays in the browser; the window follows the checkout until it is active.
    let paid = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(&page)
        .send()
        .await
        .unwrap();
    assert_eq!(paid.status(), 303);
    let path = format!("/v1/billing/checkout/{}", started["id"].as_str().unwrap());
    let status = poll_until(Duration::from_secs(20), "the checkout is active", || {
        let call = ApiCall {
            method: "GET".into(),
            path: path.clone(),
            body: None,
        };
        let state = &state;
        async move {
            let a = state.cloud_api(call).await.ok()?;
            let v: Value = serde_json::from_str(&a.body).ok()?;
            (v["state"] == "active").then_some(v)
        }
    })
    .await
    .unwrap();
    assert_eq!(status["entitled_plan"], "pro", "{status}");

    // A refused call (the subscription already gives pro) opens nothing.
    let (answer, page) = state.billing_redirect(checkout()).await.unwrap();
    assert_eq!(answer.status, 409, "{}", answer.body);
    assert_eq!(page, None);

    // The payment's invoice is saved as a PDF into the Downloads folder, under its number,
    // next to (never over) a file of that name.
    let invoices = poll_until(Duration::from_secs(20), "the invoice is issued", || {
        let call = ApiCall {
            method: "GET".into(),
            path: "/v1/billing/invoices".into(),
            body: None,
        };
        let state = &state;
        async move {
            let a = state.cloud_api(call).await.ok()?;
            let v: Value = serde_json::from_str(&a.body).ok()?;
            (!v["invoices"].as_array()?.is_empty()).then_some(v)
        }
    })
    .await
    .unwrap();
    let invoice = &invoices["invoices"][0];
    let id = invoice["id"].as_str().unwrap();
    let number = invoice["number"].as_str().unwrap();
    let downloads = home.path().join("Downloads");
    let first = state.save_invoice_pdf(id).await.unwrap();
    assert_eq!(
        std::path::Path::new(&first.path),
        downloads.join(format!("{number}.pdf"))
    );
    let second = state.save_invoice_pdf(id).await.unwrap();
    assert_eq!(
        std::path::Path::new(&second.path),
        downloads.join(format!("{number} (2).pdf"))
    );
    for saved in [&first, &second] {
        let bytes = std::fs::read(&saved.path).unwrap();
        assert!(bytes.starts_with(b"%PDF-"), "{}", saved.path);
    }
    // Not an invoice ID, or not one of this account's: refused, nothing written.
    let e = state.save_invoice_pdf("inv_../../x").await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidInput, "{e:?}");
    let e = state.save_invoice_pdf("inv_notmine").await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::NotFound, "{e:?}");
    assert_eq!(std::fs::read_dir(&downloads).unwrap().count(), 2);
    state.quit().await;
    drop(emu);
}
