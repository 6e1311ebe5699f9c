//! `sign_in_device`: signing the app in through the browser (OAuth 2.0 device authorization,
//! RFC 8628), the sign-in page's first choice. The app asks the control plane for a code
//! pair, shows the user code, and the window opens the console's approval page; once a
//! signed-in user approves it there, the poll brings an authtoken for this computer, which is
//! kept like a pasted one. The poll is agent-core's, the one `fdt login` runs.

use super::AppState;
use crate::secrets::Credentials;
use fdt_agent_core::login::{LoginError, login, machine_name};
use fdt_api::CreatedAuthtoken;
use fdt_desktop_ipc::{DesktopError, DesktopState, DeviceSignInView, ErrorKind, SignInDevice};

impl AppState {
    /// Starts a device sign-in at `input`'s control plane (else the current one): returns once
    /// the code is known, with the state showing it; the approval is awaited in the
    /// background, and the state changes when it comes (signed in) or fails (the error).
    /// A new attempt supersedes the one before.
    pub async fn sign_in_device(&self, input: SignInDevice) -> Result<DesktopState, DesktopError> {
        let api_url = self.api_url_for(input.api_url.as_deref())?;
        let attempt = {
            let mut inner = self.lock();
            inner.device_attempts += 1;
            inner.device = None;
            inner.device_attempts
        };
        let (shown_tx, shown_rx) = tokio::sync::oneshot::channel();
        let poll = {
            let api_url = api_url.clone();
            tokio::spawn(async move {
                login(&api_url, &machine_name(), |code| {
                    let _ = shown_tx.send(DeviceSignInView {
                        user_code: code.user_code.clone(),
                        verification_uri: code.verification_uri.clone(),
                        verification_uri_complete: code.verification_uri_complete.clone(),
                        error: None,
                    });
                })
                .await
            })
        };
        let Ok(view) = shown_rx.await else {
            // The login ended before a code was shown: the control plane refused or is down.
            let message = match poll.await {
                Ok(Err(e)) => e.to_string(),
                _ => "the sign-in stopped before it began".to_owned(),
            };
            return Err(DesktopError::new(
                ErrorKind::Unreachable,
                format!("Cannot start the sign-in: {message}."),
            ));
        };
        self.lock().device = Some((attempt, view));
        self.changed();
        let this = self.clone();
        tokio::spawn(async move {
            let outcome = match poll.await {
                Ok(r) => r,
                Err(e) => Err(LoginError::Setup(e.to_string())),
            };
            this.device_finished(attempt, api_url, outcome).await;
        });
        Ok(self.snapshot())
    }

    /// The end of attempt `attempt`: keeps the authtoken (signed in), or shows why it failed.
    /// Ignored when a newer attempt started, or the app got signed in another way meanwhile.
    async fn device_finished(
        &self,
        attempt: u64,
        api_url: String,
        outcome: Result<CreatedAuthtoken, LoginError>,
    ) {
        let current = |app: &Self| {
            let inner = app.lock();
            inner.creds.is_none() && inner.device.as_ref().is_some_and(|(a, _)| *a == attempt)
        };
        let _op = self.ops.lock().await;
        if !current(self) {
            return;
        }
        match outcome {
            Ok(created) => {
                let creds = Credentials {
                    authtoken: created.token.expose_secret().to_owned(),
                    email: None,
                    refresh_token: None,
                };
                tracing::info!(authtoken = %created.info.prefix, "signed in through the browser");
                if let Err(e) = self.keep_credentials(api_url, creds, None).await {
                    self.device_failed(attempt, format!("The authtoken could not be kept: {e}"));
                    return;
                }
                self.lock().device = None;
                self.changed();
            }
            Err(e) => self.device_failed(attempt, format!("Sign-in failed: {e}.")),
        }
    }

    fn device_failed(&self, attempt: u64, message: String) {
        {
            let mut inner = self.lock();
            match &mut inner.device {
                Some((a, view)) if *a == attempt => view.error = Some(message),
                _ => return,
            }
        }
        self.changed();
    }
}
