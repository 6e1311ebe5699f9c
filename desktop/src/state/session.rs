//! The API session behind `cloud_api`: the window's `/v1` calls go out as the signed-in account
//! with the session's access token, refreshed when there is none (after a restart) or it is
//! refused (expired).
//!
//! Each refresh spends the refresh token and gets a new one; the control plane takes a second
//! spend of the same token for theft and revokes the whole session. So refreshes are
//! single-flight: callers queue on [`AppState::session`], and one that finds the refresh token
//! rotated while it waited uses the access token that came with the new one.

use super::{AppState, storage};
use crate::cloud;
use fdt_api::AccessToken;
use fdt_desktop_ipc::{ApiAnswer, ApiCall, DesktopError, ErrorKind};

/// The API session as one caller read it.
struct Session {
    api_url: String,
    access: Option<AccessToken>,
    refresh: String,
}

impl AppState {
    /// `cloud_api`: a `/v1` call as the signed-in account, in the organisation the app acts
    /// in, refreshing the session once.
    pub async fn cloud_api(&self, call: ApiCall) -> Result<ApiAnswer, DesktopError> {
        let org = self.lock().settings.org.clone();
        self.cloud_api_in(call, org.as_deref()).await
    }

    /// `billing_redirect`'s call: a checkout, plan change or portal call (nothing else), and
    /// the provider's page its answer names, to be opened in the system browser.
    pub async fn billing_redirect(
        &self,
        call: ApiCall,
    ) -> Result<(ApiAnswer, Option<String>), DesktopError> {
        crate::billing::check_redirect_call(&call)?;
        let answer = self.cloud_api(call).await?;
        let page = crate::billing::provider_page(&answer)?;
        Ok((answer, page))
    }

    /// A `/v1` call in organisation `org` (`None`: the account's own).
    pub(crate) async fn cloud_api_in(
        &self,
        call: ApiCall,
        org: Option<&str>,
    ) -> Result<ApiAnswer, DesktopError> {
        cloud::check_call(&call)?;
        let call = &call;
        self.as_account(
            |api_url, access| async move { cloud::call(&api_url, &access, call, org).await },
        )
        .await
    }

    /// `send(api_url, access token)` as the signed-in account: with the session's access
    /// token, refreshed first when there is none, and once more when `send` finds it refused
    /// (`Ok(None)`).
    pub(crate) async fn as_account<T, F, Fut>(&self, mut send: F) -> Result<T, DesktopError>
    where
        F: FnMut(String, AccessToken) -> Fut,
        Fut: std::future::Future<Output = Result<Option<T>, DesktopError>>,
    {
        let mut session = self.api_session()?;
        for _ in 0..2 {
            if session.access.is_none() {
                session = self.refreshed(&session).await?;
            }
            let Some(access) = session.access.clone() else {
                break;
            };
            if let Some(answer) = send(session.api_url.clone(), access).await? {
                return Ok(answer);
            }
            session.access = None;
        }
        Err(DesktopError::new(
            ErrorKind::Refused,
            "The control plane refused the session; sign in with your email again.",
        ))
    }

    fn api_session(&self) -> Result<Session, DesktopError> {
        let inner = self.lock();
        let Some((c, _)) = &inner.creds else {
            return Err(DesktopError::new(ErrorKind::NotSignedIn, "Sign in first."));
        };
        let Some(refresh) = c.refresh_token.clone() else {
            return Err(DesktopError::new(
                ErrorKind::NotSignedIn,
                "Plan and usage need a sign-in with your email.",
            ));
        };
        Ok(Session {
            api_url: inner.settings.api_url.clone(),
            access: inner.access.clone(),
            refresh,
        })
    }

    /// A session with a fresh access token, for a caller whose `stale` one was missing or
    /// refused: another caller's refresh when one happened since `stale` was read, else a new
    /// refresh.
    async fn refreshed(&self, stale: &Session) -> Result<Session, DesktopError> {
        let _one = self.session.lock().await;
        let now = self.api_session()?;
        if now.refresh != stale.refresh && now.access.is_some() {
            return Ok(now);
        }
        let (access, rotated) = cloud::refresh(&now.api_url, &now.refresh).await?;
        let creds = {
            let mut inner = self.lock();
            inner.access = Some(access.clone());
            let Some((c, _)) = inner.creds.as_mut() else {
                return Err(DesktopError::new(ErrorKind::NotSignedIn, "Sign in first."));
            };
            c.refresh_token = Some(rotated.clone());
            c.clone()
        };
        // The old refresh token is spent: keep the new one or the next start signs out.
        let store = self.secrets.clone();
        let backend = tokio::task::spawn_blocking(move || store.save(&creds))
            .await
            .map_err(storage)?
            .map_err(storage)?;
        if let Some((_, b)) = self.lock().creds.as_mut() {
            *b = backend;
        }
        Ok(Session {
            api_url: now.api_url,
            access: Some(access),
            refresh: rotated,
        })
    }
}
