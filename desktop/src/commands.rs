//! The window's commands (names in `fdt_desktop_ipc::command`): thin wrappers over
//! [`AppState`], each taking at most one argument, `input`, and failing with a
//! [`DesktopError`] the window shows as is. Kept in a module of their own: a command declared
//! at the crate root clashes with the macro's generated items (E0255).

use crate::state::AppState;
use fdt_desktop_ipc::{
    ApiAnswer, ApiCall, DesktopError, DesktopState, ErrorKind, InvoiceRef, OpenUrl, SavedFile,
    SetEnabled, SetFlag, SignInDevice, SignInPassword, SignInToken, SwitchOrg, TunnelInput,
    TunnelRef,
};
use tauri::State;

type Answer<T> = Result<T, DesktopError>;

/// `state`: the current snapshot.
#[tauri::command]
pub async fn state(app: State<'_, AppState>) -> Answer<DesktopState> {
    Ok(app.snapshot())
}

/// `sign_in_token`.
#[tauri::command]
pub async fn sign_in_token(app: State<'_, AppState>, input: SignInToken) -> Answer<DesktopState> {
    app.sign_in_token(input).await
}

/// `sign_in_device`.
#[tauri::command]
pub async fn sign_in_device(app: State<'_, AppState>, input: SignInDevice) -> Answer<DesktopState> {
    app.sign_in_device(input).await
}

/// `sign_in_password`.
#[tauri::command]
pub async fn sign_in_password(
    app: State<'_, AppState>,
    input: SignInPassword,
) -> Answer<DesktopState> {
    app.sign_in_password(input).await
}

/// `sign_out`.
#[tauri::command]
pub async fn sign_out(app: State<'_, AppState>) -> Answer<DesktopState> {
    app.sign_out().await
}

/// `save_tunnel`.
#[tauri::command]
pub async fn save_tunnel(app: State<'_, AppState>, input: TunnelInput) -> Answer<DesktopState> {
    app.save_tunnel(input).await
}

/// `remove_tunnel`.
#[tauri::command]
pub async fn remove_tunnel(app: State<'_, AppState>, input: TunnelRef) -> Answer<DesktopState> {
    app.remove_tunnel(&input.id).await
}

/// `set_tunnel_enabled`.
#[tauri::command]
pub async fn set_tunnel_enabled(
    app: State<'_, AppState>,
    input: SetEnabled,
) -> Answer<DesktopState> {
    app.set_tunnel_enabled(input).await
}

/// `switch_org`.
#[tauri::command]
pub async fn switch_org(app: State<'_, AppState>, input: SwitchOrg) -> Answer<DesktopState> {
    app.switch_org(input).await
}

/// `set_run_managed`.
#[tauri::command]
pub async fn set_run_managed(app: State<'_, AppState>, input: SetFlag) -> Answer<DesktopState> {
    app.set_run_managed(input.enabled).await
}

/// `set_start_at_login`.
#[tauri::command]
pub async fn set_start_at_login(app: State<'_, AppState>, input: SetFlag) -> Answer<DesktopState> {
    app.set_start_at_login(input.enabled).await
}

/// `agent_api`.
#[tauri::command]
pub async fn agent_api(app: State<'_, AppState>, input: ApiCall) -> Answer<ApiAnswer> {
    app.agent_api(input).await
}

/// `cloud_api`.
#[tauri::command]
pub async fn cloud_api(app: State<'_, AppState>, input: ApiCall) -> Answer<ApiAnswer> {
    app.cloud_api(input).await
}

/// `billing_redirect`: the provider's page opens in the system browser; the answer goes to
/// the window, which follows the outcome.
#[tauri::command]
pub async fn billing_redirect(app: State<'_, AppState>, input: ApiCall) -> Answer<ApiAnswer> {
    let (answer, page) = app.billing_redirect(input).await?;
    if let Some(url) = page {
        tauri_plugin_opener::open_url(&url, None::<&str>).map_err(|e| {
            DesktopError::new(
                ErrorKind::Internal,
                format!("Cannot open the browser: {e}."),
            )
        })?;
    }
    Ok(answer)
}

/// `save_invoice_pdf`.
#[tauri::command]
pub async fn save_invoice_pdf(app: State<'_, AppState>, input: InvoiceRef) -> Answer<SavedFile> {
    app.save_invoice_pdf(&input.id).await
}

/// `open_external`.
#[tauri::command]
pub async fn open_external(app: State<'_, AppState>, input: OpenUrl) -> Answer<()> {
    let url = app.external_url(&input.url)?;
    tauri_plugin_opener::open_url(&url, None::<&str>).map_err(|e| {
        DesktopError::new(
            ErrorKind::Internal,
            format!("Cannot open the browser: {e}."),
        )
    })
}
