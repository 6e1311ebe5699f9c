//! A control socket for end-to-end tests of the real app, off unless
//! `FDT_DESKTOP_TEST_HOOK` names a Unix socket path. One line in, one line out:
//! `state` → the state as JSON; `tray <menu id>` → the same as clicking that tray entry
//! (the tray itself cannot be clicked under Xvfb); `show` → shows the window; `pid` → the
//! process id (for memory readings).
//! The socket is created owner-only, like the settings.

use crate::state::AppState;
use crate::tray::TrayItem;
use tauri::{AppHandle, Manager, Runtime};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

/// Longest command line accepted.
const MAX_LINE: usize = 1024;

/// Starts the hook when the environment asks for it.
pub fn start_from_env<R: Runtime>(app: &AppHandle<R>) {
    let Some(path) = std::env::var_os("FDT_DESKTOP_TEST_HOOK").filter(|p| !p.is_empty()) else {
        return;
    };
    let path = std::path::PathBuf::from(path);
    // A socket left by an earlier run; anything else at the path makes the bind fail.
    let _ = std::fs::remove_file(&path);
    let listener = std::os::unix::net::UnixListener::bind(&path).and_then(|l| {
        use std::os::unix::fs::PermissionsExt;
        // Owner only, or not at all: the hook switches tunnels.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
        l.set_nonblocking(true)?;
        Ok(l)
    });
    let listener = match listener {
        Ok(l) => l,
        Err(e) => {
            tracing::warn!(error = %e, path = %path.display(), "test hook disabled");
            let _ = std::fs::remove_file(&path);
            return;
        }
    };
    tracing::info!(path = %path.display(), "test hook listening");
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        let listener = match tokio::net::UnixListener::from_std(listener) {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(error = %e, "test hook disabled");
                return;
            }
        };
        while let Ok((stream, _)) = listener.accept().await {
            let app = app.clone();
            tokio::spawn(async move {
                let (read, mut write) = stream.into_split();
                // A test sends a few short lines; anything longer is cut off.
                let mut lines = BufReader::new(read.take((MAX_LINE * 64) as u64)).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    let reply = answer(&app, line.trim());
                    if write
                        .write_all(format!("{reply}\n").as_bytes())
                        .await
                        .is_err()
                    {
                        break;
                    }
                }
            });
        }
    });
}

fn answer<R: Runtime>(app: &AppHandle<R>, line: &str) -> String {
    if line.len() > MAX_LINE {
        return "error: line too long".into();
    }
    let state = app.state::<AppState>();
    match line.split_once(' ').unwrap_or((line, "")) {
        ("state", _) => {
            serde_json::to_string(&state.snapshot()).unwrap_or_else(|e| format!("error: {e}"))
        }
        ("tray", id) => match TrayItem::parse(id) {
            Some(item) => {
                crate::on_tray_click(app, item);
                "ok".into()
            }
            None => format!("error: no tray entry {id:?}"),
        },
        ("pid", _) => std::process::id().to_string(),
        ("show", _) => match crate::show_window(app) {
            Ok(()) => "ok".into(),
            Err(e) => format!("error: {e}"),
        },
        (other, _) => format!("error: unknown command {other:?}"),
    }
}
