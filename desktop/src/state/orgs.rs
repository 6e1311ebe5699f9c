//! `switch_org`: the app acts in another organisation the account belongs to. Its tunnels
//! need an authtoken of that organisation, so one is made for this computer (as an email
//! sign-in makes one), kept in place of the old, and the tunnels restart with it; the window's
//! control-plane calls (plan, usage) go to that organisation too.

use super::{AppState, storage};
use crate::cloud;
use fdt_api::{AuthtokenList, CreateAuthtokenRequest, CreatedAuthtoken, OrgList, Permission};
use fdt_desktop_ipc::{ApiAnswer, ApiCall, DesktopError, DesktopState, ErrorKind, SwitchOrg};
use serde::de::DeserializeOwned;

fn answer<T: DeserializeOwned>(a: &ApiAnswer, ok: u16) -> Result<T, DesktopError> {
    if a.status != ok {
        let message = serde_json::from_str::<fdt_api::ErrorBody>(&a.body)
            .map(|b| b.error.message)
            .unwrap_or_else(|_| format!("the control plane answered {}", a.status));
        return Err(DesktopError::new(ErrorKind::Refused, message));
    }
    serde_json::from_str(&a.body).map_err(|e| {
        DesktopError::new(
            ErrorKind::Internal,
            format!("The control plane answered in an unexpected shape ({e})."),
        )
    })
}

impl AppState {
    /// `switch_org`: act in `input.org` from now on.
    pub async fn switch_org(&self, input: SwitchOrg) -> Result<DesktopState, DesktopError> {
        let _op = self.ops.lock().await;
        let target = input.org.trim().to_owned();
        // Asked without an organisation, the control plane says which is the account's own.
        let orgs: OrgList = answer(
            &self
                .cloud_api_in(
                    ApiCall {
                        method: "GET".into(),
                        path: "/v1/orgs".into(),
                        body: None,
                    },
                    None,
                )
                .await?,
            200,
        )?;
        let Some(member) = orgs.orgs.iter().find(|o| o.id.as_str() == target) else {
            return Err(DesktopError::new(
                ErrorKind::InvalidInput,
                "You are not a member of that organisation.",
            ));
        };
        if !member.permissions.contains(&Permission::AuthtokensWrite) {
            return Err(DesktopError::new(
                ErrorKind::Refused,
                format!(
                    "Your role in {} cannot create authtokens, so this computer cannot serve its tunnels.",
                    member.name
                ),
            ));
        }
        let body = serde_json::to_string(&CreateAuthtokenRequest {
            description: Some(format!("Desktop app on {}", cloud::host_name())),
        })
        .map_err(|e| DesktopError::new(ErrorKind::Internal, e.to_string()))?;
        let created: CreatedAuthtoken = answer(
            &self
                .cloud_api_in(
                    ApiCall {
                        method: "POST".into(),
                        path: "/v1/authtokens".into(),
                        body: Some(body),
                    },
                    Some(&target),
                )
                .await?,
            201,
        )?;
        let own = orgs.acting == member.id;
        let (api_url, creds, access, previous) = {
            let mut inner = self.lock();
            let previous_org = inner.settings.org.clone();
            let mut next = inner.settings.clone();
            next.org = (!own).then_some(target.clone());
            next.save(&self.settings_path).map_err(storage)?;
            inner.settings = next;
            let Some((c, _)) = inner.creds.as_ref() else {
                return Err(DesktopError::new(ErrorKind::NotSignedIn, "Sign in first."));
            };
            let mut creds = c.clone();
            let previous = (c.authtoken.clone(), previous_org);
            creds.authtoken = created.token.expose_secret().to_owned();
            (
                inner.settings.api_url.clone(),
                creds,
                inner.access.clone(),
                previous,
            )
        };
        tracing::info!(org = %target, "the app now acts in another organisation");
        let state = self.keep_credentials(api_url, creds, access).await?;
        // The tunnels run on the new authtoken now; the old one is kept nowhere, so it goes.
        if let Err(e) = self
            .revoke_previous(&previous.0, previous.1.as_deref())
            .await
        {
            tracing::warn!(error = %e.message, "the app's previous authtoken was not revoked");
        }
        Ok(state)
    }

    /// Revokes the authtoken whose secret is `secret`, in organisation `org`, when its listed
    /// prefix tells it apart from the organisation's others (else it is left alone).
    async fn revoke_previous(&self, secret: &str, org: Option<&str>) -> Result<(), DesktopError> {
        let list: AuthtokenList = answer(
            &self
                .cloud_api_in(
                    ApiCall {
                        method: "GET".into(),
                        path: "/v1/authtokens".into(),
                        body: None,
                    },
                    org,
                )
                .await?,
            200,
        )?;
        let hits: Vec<_> = list
            .authtokens
            .iter()
            .filter(|t| secret.starts_with(&t.prefix))
            .collect();
        let [old] = hits.as_slice() else {
            return Ok(());
        };
        let gone = self
            .cloud_api_in(
                ApiCall {
                    method: "DELETE".into(),
                    path: format!("/v1/authtokens/{}", old.id),
                    body: None,
                },
                org,
            )
            .await?;
        if gone.status != 204 {
            return Err(DesktopError::new(
                ErrorKind::Refused,
                format!("the control plane answered {}", gone.status),
            ));
        }
        Ok(())
    }
}
