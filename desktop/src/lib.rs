//! The FlyingDarkDevTunnel desktop app: agent-core in process, a tray to switch tunnels, and a
//! window with the shared UI's desktop pages (tunnels, inspector, plan, settings).
//!
//! [`app`] assembles the app on any Tauri runtime (the tests use the mock runtime);
//! [`main`] is the real app: arguments, logging, plugins, tray, window, background tasks.

pub mod autostart;
pub mod billing;
pub mod cloud;
pub mod commands;
pub mod invoices;
pub mod local_api;
pub mod netwatch;
pub mod paths;
pub mod secrets;
pub mod settings;
pub mod state;
pub mod supervisor;
#[cfg(unix)]
pub mod test_hook;
pub mod tray;

use fdt_desktop_ipc::event;
use state::{AppState, StateConfig};
use std::process::ExitCode;
use std::time::{Duration, Instant};
use tauri::{AppHandle, Emitter, Manager, Runtime, WebviewUrl, WebviewWindowBuilder};
use tray::TrayItem;

/// The window's label.
pub const MAIN_WINDOW: &str = "main";

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Launch {
    /// Run the app; `hidden` starts in the tray without showing the window.
    Run {
        /// Start without the window (autostart).
        hidden: bool,
    },
    /// Print the version and exit.
    Version,
    /// Print usage and exit.
    Help,
}

/// Usage text.
pub const USAGE: &str = "Usage: fdt-desktop [--hidden]\n\n\
Runs the FlyingDarkDevTunnel desktop app (tray and window).\n\n\
Options:\n  --hidden     start in the tray without opening the window\n  \
--version    print the version and exit\n  --help       print this help and exit\n\n\
Environment:\n  FDT_DESKTOP_CONFIG_DIR   settings directory (default $XDG_CONFIG_HOME/fdt-desktop)\n  \
FDT_DESKTOP_API_URL      control plane URL (overrides the saved one)\n  \
FDT_DESKTOP_RELAY_CA     extra CA (PEM) for relays\n  \
FDT_DESKTOP_KEYRING=off  keep the authtoken in a 0600 file instead of the OS keyring\n";

/// An argument `fdt-desktop` does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown argument {0:?}")]
pub struct UnknownArgument(pub String);

/// Parses the arguments (without the program name).
pub fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Launch, UnknownArgument> {
    let mut hidden = false;
    for a in args {
        match a.as_str() {
            "--hidden" | "--minimized" => hidden = true,
            // WebKitWebDriver starts the app with this; automation itself is switched on by
            // TAURI_WEBVIEW_AUTOMATION=true (tests only).
            "--automation" => {}
            "--version" | "-V" => return Ok(Launch::Version),
            "--help" | "-h" => return Ok(Launch::Help),
            other => return Err(UnknownArgument(other.to_string())),
        }
    }
    Ok(Launch::Run { hidden })
}

/// The app on runtime `R`: commands, and "closing the window keeps the app in the tray". The
/// caller manages an [`AppState`] before the first command runs (the real app does it in its
/// setup, after the single-instance check, so a second launch never starts tunnels).
pub fn app<R: Runtime>(builder: tauri::Builder<R>) -> tauri::Builder<R> {
    builder
        .invoke_handler(tauri::generate_handler![
            commands::state,
            commands::sign_in_token,
            commands::sign_in_password,
            commands::sign_in_device,
            commands::sign_out,
            commands::save_tunnel,
            commands::remove_tunnel,
            commands::set_tunnel_enabled,
            commands::set_start_at_login,
            commands::set_run_managed,
            commands::switch_org,
            commands::agent_api,
            commands::cloud_api,
            commands::open_external,
            commands::billing_redirect,
            commands::save_invoice_pdf,
        ])
        .on_window_event(|window, ev| {
            if let tauri::WindowEvent::CloseRequested { api, .. } = ev {
                api.prevent_close();
                let _ = window.hide();
            }
        })
}

/// Shows (creating if needed) and focuses the window.
pub fn show_window<R: Runtime>(app: &AppHandle<R>) -> tauri::Result<()> {
    let w = match app.get_webview_window(MAIN_WINDOW) {
        Some(w) => w,
        None => create_window(app, true)?,
    };
    w.show()?;
    w.unminimize()?;
    w.set_focus()
}

fn create_window<R: Runtime>(
    app: &AppHandle<R>,
    visible: bool,
) -> tauri::Result<tauri::WebviewWindow<R>> {
    // Also when the window was closed for good by the system: it is made again on demand.
    WebviewWindowBuilder::new(app, MAIN_WINDOW, WebviewUrl::App("index.html".into()))
        .title("FlyingDarkDevTunnel")
        .inner_size(1100.0, 760.0)
        .min_inner_size(720.0, 480.0)
        .visible(visible)
        .build()
}

/// Sends every state change to the window (event) and the tray, and inspector changes to
/// the window. Bursts are coalesced (a toggle changes state several times in a few ms).
pub fn forward_changes<R: Runtime>(app: &AppHandle<R>, state: &AppState, with_tray: bool) {
    let mut changes = state.subscribe();
    let (app2, st) = (app.clone(), state.clone());
    tauri::async_runtime::spawn(async move {
        let started = Instant::now();
        let mut first_online = false;
        while changes.changed().await.is_ok() {
            tokio::time::sleep(Duration::from_millis(30)).await;
            changes.borrow_and_update();
            let snap = st.snapshot();
            if !first_online && snap.overall == fdt_desktop_ipc::Overall::Online {
                first_online = true;
                tracing::info!(
                    ms = started.elapsed().as_millis() as u64,
                    "first tunnel online"
                );
            }
            if with_tray && let Err(e) = tray::apply(&app2, &tray::model(&snap)) {
                tracing::warn!(error = %e, "tray update failed");
            }
            if let Err(e) = app2.emit(event::STATE, &snap) {
                tracing::warn!(error = %e, "state event not sent to the window");
            }
        }
    });
    let mut captured = state.subscribe_inspector();
    let app3 = app.clone();
    tauri::async_runtime::spawn(async move {
        while captured.changed().await.is_ok() {
            let n = *captured.borrow_and_update();
            if let Err(e) = app3.emit(event::INSPECTOR, n) {
                tracing::warn!(error = %e, "inspector event not sent to the window");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
}

/// What a tray click does.
pub fn on_tray_click<R: Runtime>(app: &AppHandle<R>, item: TrayItem) {
    let state = app.state::<AppState>().inner().clone();
    let snap = state.snapshot();
    match item {
        TrayItem::Toggle(id) => {
            let Some(t) = snap.tunnels.iter().find(|t| t.id == id) else {
                return;
            };
            let input = fdt_desktop_ipc::SetEnabled {
                id,
                enabled: !t.enabled,
            };
            let app = app.clone();
            tauri::async_runtime::spawn(async move {
                if let Err(e) = state.set_tunnel_enabled(input).await {
                    tracing::warn!(error = %e, "tray switch failed");
                    // The window says why (sign in first, an invalid saved tunnel).
                    let _ = show_window(&app);
                }
            });
        }
        TrayItem::CopyUrl(id) => {
            use tauri_plugin_clipboard_manager::ClipboardExt;
            if let Some(url) = snap
                .tunnels
                .iter()
                .find(|t| t.id == id)
                .and_then(|t| t.public_url.clone())
                && let Err(e) = app.clipboard().write_text(url)
            {
                tracing::warn!(error = %e, "copying the URL failed");
            }
        }
        TrayItem::OpenWindow => {
            let _ = show_window(app);
        }
        TrayItem::OpenInspector => {
            if let Some(url) = snap.inspector_url {
                open_in_browser(&url);
            }
        }
        TrayItem::OpenConsole => open_in_browser(&snap.console_url),
        TrayItem::StartAtLogin => {
            tauri::async_runtime::spawn(async move {
                if let Err(e) = state.set_start_at_login(!snap.start_at_login).await {
                    tracing::warn!(error = %e, "start at login");
                }
            });
        }
        TrayItem::Quit => {
            let app = app.clone();
            tauri::async_runtime::spawn(async move {
                state.quit().await;
                app.exit(0);
            });
        }
    }
}

fn open_in_browser(url: &str) {
    if let Err(e) = tauri_plugin_opener::open_url(url, None::<&str>) {
        tracing::warn!(error = %e, %url, "cannot open the browser");
    }
}

/// Reconnects the tunnels after sleep or a network change (see [`netwatch`]).
fn watch_network(state: AppState) {
    tauri::async_runtime::spawn(async move {
        let mut detector = netwatch::Detector::default();
        loop {
            let sample = tokio::task::spawn_blocking(netwatch::sample).await;
            if let Ok(sample) = sample
                && let Some(wake) = detector.observe(sample)
            {
                tracing::info!(?wake, "reconnecting the tunnels");
                state.reconnect_all().await;
            }
            tokio::time::sleep(netwatch::INTERVAL).await;
        }
    });
}

/// The real app. Returns the process's exit code.
pub fn main() -> ExitCode {
    let hidden = match parse_args(std::env::args().skip(1)) {
        Ok(Launch::Run { hidden }) => hidden,
        Ok(Launch::Version) => {
            println!("fdt-desktop {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        Ok(Launch::Help) => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("fdt-desktop: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,tao=warn,wry=warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let (Some(config_dir), Some(xdg_config_home)) =
        (paths::config_dir_from_env(), paths::xdg_config_home())
    else {
        eprintln!(
            "fdt-desktop: cannot find a config directory (set HOME or FDT_DESKTOP_CONFIG_DIR)"
        );
        return ExitCode::from(1);
    };
    let cfg = StateConfig {
        config_dir,
        xdg_config_home,
        use_keyring: secrets::SecretStore::keyring_wanted(),
        exe: std::env::current_exe().unwrap_or_else(|_| "fdt-desktop".into()),
        api_url: None,
        relay_ca: None,
        inspector_addr: None,
        downloads_dir: paths::downloads_dir(),
    }
    .with_env_overrides();
    let builder = tauri::Builder::default()
        // First: a second launch hands over to the first instance and exits here, before
        // it opens anything or starts a tunnel.
        .plugin(tauri_plugin_single_instance::init(|app, _args, _cwd| {
            let _ = show_window(app);
        }))
        .plugin(tauri_plugin_clipboard_manager::init());
    let built = app(builder)
        .setup(move |app| {
            let handle = app.handle().clone();
            let state = tauri::async_runtime::block_on(AppState::open(cfg))?;
            app.manage(state.clone());
            let snap = state.snapshot();
            tray::create(&handle, &tray::model(&snap), on_tray_click)?;
            // Hidden (autostart): no window, so no WebKit processes, until the user opens it.
            if !hidden {
                create_window(&handle, true)?;
            }
            forward_changes(&handle, &state, true);
            watch_network(state);
            #[cfg(unix)]
            test_hook::start_from_env(&handle);
            tracing::info!(hidden, "fdt-desktop ready");
            Ok(())
        })
        .build(tauri::generate_context!());
    let app = match built {
        Ok(a) => a,
        Err(e) => {
            eprintln!("fdt-desktop: cannot start: {e}");
            return ExitCode::from(1);
        }
    };
    app.run(|app, ev| {
        if let tauri::RunEvent::ExitRequested {
            code: None, api, ..
        } = ev
        {
            // The last window closing keeps the app in the tray; Quit passes a code.
            api.prevent_exit();
        } else if let tauri::RunEvent::Exit = ev
            && let Some(state) = app.try_state::<AppState>()
        {
            state.shutdown();
        }
    });
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn args(a: &[&str]) -> Result<Launch, UnknownArgument> {
        parse_args(a.iter().map(|s| s.to_string()))
    }

    #[test]
    fn arguments() {
        assert_eq!(args(&[]), Ok(Launch::Run { hidden: false }));
        assert_eq!(args(&["--hidden"]), Ok(Launch::Run { hidden: true }));
        assert_eq!(args(&["--version"]), Ok(Launch::Version));
        assert_eq!(args(&["--hidden", "--help"]), Ok(Launch::Help));
        assert!(
            args(&["--bogus"])
                .unwrap_err()
                .to_string()
                .contains("--bogus")
        );
    }
}
