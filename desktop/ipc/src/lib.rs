//! The contract between the desktop app's Rust side (`fdt-desktop`) and its window (`fdt-ui`'s
//! desktop pages): command names, their inputs and outputs, event names, and the error every
//! command can answer with. Both sides depend on this crate, so a renamed field fails to
//! compile instead of failing at run time.
//!
//! Every command takes at most one argument, called `input` (`invoke(name, {input})`).

use serde::{Deserialize, Serialize};

/// Command names, as registered with Tauri and invoked by the window.
pub mod command {
    /// `() -> DesktopState`.
    pub const STATE: &str = "state";
    /// `SignInToken -> DesktopState`.
    pub const SIGN_IN_TOKEN: &str = "sign_in_token";
    /// `SignInPassword -> DesktopState`.
    pub const SIGN_IN_PASSWORD: &str = "sign_in_password";
    /// [`super::SignInDevice`] → [`super::DesktopState`]: starts a device sign-in (RFC 8628);
    /// the state then carries the code until the console approves it.
    pub const SIGN_IN_DEVICE: &str = "sign_in_device";
    /// [`super::SetFlag`] → [`super::DesktopState`]: run the account's cloud-managed tunnels.
    pub const SET_RUN_MANAGED: &str = "set_run_managed";
    /// `() -> DesktopState`.
    pub const SIGN_OUT: &str = "sign_out";
    /// [`super::SwitchOrg`] → [`super::DesktopState`]: act in another organisation (an
    /// authtoken of that organisation for this computer; the window's calls go there too).
    pub const SWITCH_ORG: &str = "switch_org";
    /// `TunnelInput -> DesktopState`.
    pub const SAVE_TUNNEL: &str = "save_tunnel";
    /// `TunnelRef -> DesktopState`.
    pub const REMOVE_TUNNEL: &str = "remove_tunnel";
    /// `SetEnabled -> DesktopState`.
    pub const SET_TUNNEL_ENABLED: &str = "set_tunnel_enabled";
    /// `SetFlag -> DesktopState`.
    pub const SET_START_AT_LOGIN: &str = "set_start_at_login";
    /// `ApiCall -> ApiAnswer`: the local agent API (inspector, replay), in process.
    pub const AGENT_API: &str = "agent_api";
    /// `ApiCall -> ApiAnswer`: the control plane's `/v1` API as the signed-in account.
    pub const CLOUD_API: &str = "cloud_api";
    /// `OpenUrl -> ()`: opens a console page in the system browser.
    pub const OPEN_EXTERNAL: &str = "open_external";
    /// `ApiCall -> ApiAnswer`: a billing call whose answer names a payment provider's page (a
    /// checkout, a plan change to approve, Stripe's portal), as the signed-in account; that
    /// page opens in the system browser and the window stays to follow the outcome.
    pub const BILLING_REDIRECT: &str = "billing_redirect";
    /// [`super::InvoiceRef`] → [`super::SavedFile`]: the signed-in account's invoice as a PDF
    /// in the Downloads folder (never over an existing file).
    pub const SAVE_INVOICE_PDF: &str = "save_invoice_pdf";
}

/// Event names the Rust side emits to the window.
pub mod event {
    /// Payload `DesktopState`: sent whenever a tunnel, the sign-in or a setting changes.
    pub const STATE: &str = "fdt://state";
    /// Payload `u64` (a change counter): the inspector captured or cleared traffic.
    pub const INSPECTOR: &str = "fdt://inspector";
}

/// What the window shows: account, tunnels with their live state, settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct DesktopState {
    /// The account, once signed in.
    pub account: Option<AccountView>,
    /// Control plane base URL (`https://api.example.com`).
    pub api_url: String,
    /// Web console base URL, for "Open console" and the upgrade path.
    pub console_url: String,
    /// The local inspector's address (`http://127.0.0.1:4040`), when it is serving.
    pub inspector_url: Option<String>,
    /// Configured tunnels, in the order the user added them.
    pub tunnels: Vec<TunnelView>,
    /// Whether the app starts when the user logs in.
    pub start_at_login: bool,
    /// Summary shown by the tray icon.
    pub overall: Overall,
    /// A device sign-in waiting for approval in the console (signed out only).
    #[serde(default)]
    pub device_sign_in: Option<DeviceSignInView>,
    /// Whether the app runs the account's cloud-managed tunnels (defined in the console).
    #[serde(default)]
    pub run_managed: bool,
    /// The cloud-managed tunnels running now, beside the app's own.
    #[serde(default)]
    pub managed_tunnels: Vec<ManagedTunnelView>,
    /// The organisation the app acts in (`org_…`); absent: the account's own.
    #[serde(default)]
    pub org: Option<String>,
}

/// A cloud-managed tunnel the app runs: defined, started and stopped in the console.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManagedTunnelView {
    /// The definition's ID in the control plane (`tcf_…`).
    pub id: String,
    /// Its name.
    pub name: String,
    /// `http`, `tcp` or `tls`.
    pub proto: String,
    /// The local address it forwards to.
    pub addr: String,
    /// Live state.
    pub state: TunnelState,
    /// Public URL while online.
    #[serde(default)]
    pub public_url: Option<String>,
    /// Why it is failing.
    #[serde(default)]
    pub error: Option<String>,
}

/// A device sign-in in progress: the code to approve in the console, and how it ended if it
/// failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceSignInView {
    /// The code the console asks for (`XXXX-XXXX`).
    pub user_code: String,
    /// The console page where it is approved.
    pub verification_uri: String,
    /// The same page with the code filled in (opened in the browser).
    pub verification_uri_complete: String,
    /// Why it stopped (denied, expired, refused); `None` while waiting.
    #[serde(default)]
    pub error: Option<String>,
}

/// Who is signed in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountView {
    /// Email, when the user signed in with a password (unknown for a pasted authtoken).
    pub email: Option<String>,
    /// The authtoken's non-secret prefix, for recognising it in the console.
    pub authtoken_hint: String,
    /// Where the authtoken is kept: `"keyring"` or `"file"`.
    pub stored_in: String,
    /// Whether plan and usage can be read (a password sign-in keeps an API session).
    pub has_api_session: bool,
}

/// One configured tunnel and its live state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TunnelView {
    /// Stable id (never reused).
    pub id: String,
    /// The definition.
    #[serde(flatten)]
    pub def: TunnelInput,
    /// Whether the user switched it on.
    pub enabled: bool,
    /// Live state.
    pub state: TunnelState,
    /// Public URL while online.
    pub public_url: Option<String>,
    /// Why it is in `Error` or `Reconnecting`, in words.
    pub error: Option<String>,
}

/// A tunnel's live state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum TunnelState {
    /// Switched off.
    #[default]
    Off,
    /// Switched on, first connect in progress.
    Connecting,
    /// Bound, with a public URL.
    Online,
    /// Lost the relay; reconnecting on its own.
    Reconnecting,
    /// Stopped for good (refused credentials, a bind error).
    Error,
}

/// The tray icon's summary of all tunnels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Overall {
    /// Nothing is switched on.
    #[default]
    Off,
    /// At least one tunnel is online and none is failing.
    Online,
    /// Some switched-on tunnel is connecting or reconnecting.
    Reconnecting,
    /// Some switched-on tunnel failed.
    Error,
}

impl Overall {
    /// Folds the tunnels' states: error beats reconnecting beats online beats off.
    pub fn of<'a>(states: impl IntoIterator<Item = &'a TunnelState>) -> Self {
        states.into_iter().fold(Self::Off, |acc, s| {
            let this = match s {
                TunnelState::Off => Self::Off,
                TunnelState::Online => Self::Online,
                TunnelState::Connecting | TunnelState::Reconnecting => Self::Reconnecting,
                TunnelState::Error => Self::Error,
            };
            if this.rank() > acc.rank() { this } else { acc }
        })
    }

    fn rank(self) -> u8 {
        match self {
            Self::Off => 0,
            Self::Online => 1,
            Self::Reconnecting => 2,
            Self::Error => 3,
        }
    }
}

/// A tunnel definition as the user edits it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct TunnelInput {
    /// Id of the tunnel to change; absent to add one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Name (letters, digits, `-`, `_`), unique among the user's tunnels.
    pub name: String,
    /// `http`, `tcp` or `tls`.
    pub proto: String,
    /// Local address: a port, `host:port`, or for http a URL.
    pub addr: String,
    /// Requested subdomain (http, tls); empty for a random one.
    #[serde(default)]
    pub subdomain: Option<String>,
    /// `user:pass` pairs required at the edge (http).
    #[serde(default)]
    pub basic_auth: Vec<String>,
    /// Allowed visitor networks (CIDR).
    #[serde(default)]
    pub cidr_allow: Vec<String>,
    /// Denied visitor networks (CIDR).
    #[serde(default)]
    pub cidr_deny: Vec<String>,
}

/// `sign_in_token` input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignInToken {
    /// The authtoken copied from the console.
    pub authtoken: String,
    /// Control plane to use instead of the current one.
    #[serde(default)]
    pub api_url: Option<String>,
}

/// `sign_in_device` input: signs in through the browser (device sign-in), which creates an
/// authtoken for this computer once approved in the console.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignInDevice {
    /// Control plane to use instead of the current one.
    #[serde(default)]
    pub api_url: Option<String>,
}

/// `sign_in_password` input: signs in and creates an authtoken for this computer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignInPassword {
    /// Account email.
    pub email: String,
    /// Account password (never stored).
    pub password: String,
    /// Control plane to use instead of the current one.
    #[serde(default)]
    pub api_url: Option<String>,
}

/// `remove_tunnel` input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TunnelRef {
    /// Tunnel id.
    pub id: String,
}

/// `set_tunnel_enabled` input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetEnabled {
    /// Tunnel id.
    pub id: String,
    /// On or off.
    pub enabled: bool,
}

/// `switch_org`'s input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SwitchOrg {
    /// The organisation's ID (`org_…`), one the account is a member of.
    pub org: String,
}

/// Input of a command that switches a setting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetFlag {
    /// On or off.
    pub enabled: bool,
}

/// `agent_api` / `cloud_api` input: one HTTP request, answered in process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiCall {
    /// `GET`, `POST`, `PUT`, `PATCH` or `DELETE`.
    pub method: String,
    /// Path and query (`/api/requests/http?limit=50`).
    pub path: String,
    /// JSON body.
    #[serde(default)]
    pub body: Option<String>,
}

/// `agent_api` / `cloud_api` output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiAnswer {
    /// HTTP status.
    pub status: u16,
    /// Response body (JSON, or text for exports).
    pub body: String,
}

/// `open_external` input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenUrl {
    /// An `http(s)` URL on the console's or control plane's origin.
    pub url: String,
}

/// `save_invoice_pdf` input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvoiceRef {
    /// The invoice's ID (`inv_…`), as `/v1/billing/invoices` lists it.
    pub id: String,
}

/// A file the app wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedFile {
    /// Where, in full.
    pub path: String,
}

/// Why a command failed; `message` is written for the user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DesktopError {
    /// What kind of failure.
    pub kind: ErrorKind,
    /// One sentence for the user.
    pub message: String,
}

/// Kinds of [`DesktopError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The command needs a signed-in account.
    NotSignedIn,
    /// A field is wrong; the message names it.
    InvalidInput,
    /// The control plane refused (wrong password, revoked authtoken).
    Refused,
    /// The control plane could not be reached.
    Unreachable,
    /// No such tunnel or invoice.
    NotFound,
    /// Settings or the authtoken could not be read or written.
    Storage,
    /// Anything else on the app's side.
    Internal,
}

impl DesktopError {
    /// An error of `kind` with `message`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for DesktopError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for DesktopError {}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn overall_prefers_the_worst_state() {
        use TunnelState::*;
        assert_eq!(Overall::of(&[]), Overall::Off);
        assert_eq!(Overall::of(&[Off, Off]), Overall::Off);
        assert_eq!(Overall::of(&[Off, Online]), Overall::Online);
        assert_eq!(Overall::of(&[Online, Connecting]), Overall::Reconnecting);
        assert_eq!(Overall::of(&[Error, Reconnecting, Online]), Overall::Error);
    }

    #[test]
    fn tunnel_view_flattens_its_definition() {
        let v = TunnelView {
            id: "t1".into(),
            def: TunnelInput {
                id: None,
                name: "web".into(),
                proto: "http".into(),
                addr: "3000".into(),
                ..Default::default()
            },
            enabled: true,
            state: TunnelState::Online,
            public_url: Some("https://web.example.com".into()),
            error: None,
        };
        let json = serde_json::to_value(&v).unwrap();
        assert_eq!(json["name"], "web");
        assert_eq!(json["state"], "online");
        assert!(json.get("def").is_none());
        let back: TunnelView = serde_json::from_value(json).unwrap();
        assert_eq!(back, v);
    }

    #[test]
    fn errors_serialize_as_kind_and_words() {
        let e = DesktopError::new(ErrorKind::NotSignedIn, "Sign in first.");
        let json = serde_json::to_string(&e).unwrap();
        assert_eq!(
            json,
            r#"{"kind":"not_signed_in","message":"Sign in first."}"#
        );
    }
}
