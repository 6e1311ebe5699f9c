//! Typed calls to the desktop app's commands, and [`Desktop`]: the window's copy of the
//! app's [`DesktopState`], which every command that changes it answers with and which the
//! app also pushes as the `event::STATE` event (so tray and window stay in step).

use crate::platform;
use fdt_desktop_ipc::{DesktopError, DesktopState, ErrorKind, TunnelView, command, event};
use leptos::prelude::*;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Runs command `cmd` with `input` and decodes its answer.
///
/// # Errors
/// The command's error, or an `internal` one when its answer has another shape.
pub async fn invoke_with<I: Serialize, O: DeserializeOwned>(
    cmd: &str,
    input: &I,
) -> Result<O, DesktopError> {
    let input = serde_json::to_string(input)
        .map_err(|e| DesktopError::new(ErrorKind::Internal, e.to_string()))?;
    decode(&platform::tauri_invoke_json(cmd, Some(&input)).await?)
}

/// Runs command `cmd`, which takes no input, and decodes its answer.
///
/// # Errors
/// As [`invoke_with`].
pub async fn invoke<O: DeserializeOwned>(cmd: &str) -> Result<O, DesktopError> {
    decode(&platform::tauri_invoke_json(cmd, None).await?)
}

// JSON text, not `serde_json::Value`: the bundle already decodes text for every page.
fn decode<O: DeserializeOwned>(json: &str) -> Result<O, DesktopError> {
    serde_json::from_str(json).map_err(|e| {
        DesktopError::new(
            ErrorKind::Internal,
            format!("The desktop app answered in an unexpected shape ({e})."),
        )
    })
}

/// The window's view of the app (in context; see [`use_desktop`]).
#[derive(Debug, Clone, Copy)]
pub struct Desktop {
    /// The latest state; `None` until the first answer.
    pub state: RwSignal<Option<DesktopState>>,
    /// Why the first load failed, if it did.
    pub load_error: RwSignal<Option<DesktopError>>,
}

impl Desktop {
    /// Nothing loaded yet.
    pub fn new() -> Self {
        Self {
            state: RwSignal::new(None),
            load_error: RwSignal::new(None),
        }
    }

    /// Subscribes to the app's state pushes, then loads the state.
    pub fn start(self) {
        leptos::task::spawn_local(async move {
            let state = self.state;
            let listening =
                platform::tauri_listen_json(
                    event::STATE,
                    move |payload| match serde_json::from_str::<DesktopState>(&payload) {
                        Ok(s) => state.set(Some(s)),
                        Err(e) => {
                            platform::log_error(&format!("bad {} payload: {e}", event::STATE))
                        }
                    },
                )
                .await;
            if let Err(e) = listening {
                platform::log_error(&e.message);
            }
            self.reload().await;
        });
    }

    /// Asks the app for its state again (after a failed load).
    pub async fn reload(self) {
        match invoke::<DesktopState>(command::STATE).await {
            Ok(s) => {
                self.load_error.set(None);
                self.state.set(Some(s));
            }
            Err(e) => self.load_error.set(Some(e)),
        }
    }

    /// Runs a command that answers with the new state, and shows it.
    ///
    /// # Errors
    /// The command's error; the state is then unchanged.
    pub async fn apply_with<I: Serialize>(self, cmd: &str, input: &I) -> Result<(), DesktopError> {
        let s: DesktopState = invoke_with(cmd, input).await?;
        self.state.set(Some(s));
        Ok(())
    }

    /// [`Desktop::apply_with`] for a command without input.
    ///
    /// # Errors
    /// As [`Desktop::apply_with`].
    pub async fn apply(self, cmd: &str) -> Result<(), DesktopError> {
        let s: DesktopState = invoke(cmd).await?;
        self.state.set(Some(s));
        Ok(())
    }

    /// Reads the state (tracked), or `fallback` before it loaded.
    pub fn read<T>(self, fallback: T, f: impl FnOnce(&DesktopState) -> T) -> T {
        self.state.with(|s| s.as_ref().map_or(fallback, f))
    }

    /// The tunnel with `id`, as it is now (tracked).
    pub fn tunnel(self, id: &str) -> Option<TunnelView> {
        self.read(None, |s| s.tunnels.iter().find(|t| t.id == id).cloned())
    }
}

impl Default for Desktop {
    fn default() -> Self {
        Self::new()
    }
}

/// The window's [`Desktop`].
pub fn use_desktop() -> Desktop {
    use_context::<Desktop>().unwrap_or_default()
}
