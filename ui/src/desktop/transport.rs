//! [`TauriTransport`]: the [`Transport`] of pages that read an HTTP API through one of the
//! app's commands (`agent_api` for the inspector, `cloud_api` for plan and usage). The app
//! answers them in process, so the same pages run in a browser and in the window.

use super::bridge::invoke_with;
use crate::api::{ApiFuture, ApiReply, ApiRequest, Transport, TransportError};
use fdt_desktop_ipc::{ApiAnswer, ApiCall, DesktopError, ErrorKind};
use serde::Serialize;

/// Sends each request as an [`ApiCall`] to a command of the desktop app.
#[derive(Debug, Clone, Copy)]
pub struct TauriTransport {
    /// `command::AGENT_API` or `command::CLOUD_API`.
    pub command: &'static str,
}

impl Transport for TauriTransport {
    fn call(&self, req: ApiRequest) -> ApiFuture {
        let command = self.command;
        let call = ApiCall {
            method: req.method.to_owned(),
            path: req.path,
            body: req.body,
        };
        let reply = async move {
            match invoke_with::<_, ApiAnswer>(command, &call).await {
                Ok(answer) => Ok(ApiReply {
                    status: answer.status,
                    body: answer.body,
                }),
                Err(e) => error_reply(e),
            }
        };
        // The browser's futures hold JavaScript values (one thread there); the trait wants
        // `Send` futures on every target.
        #[cfg(feature = "browser")]
        return Box::pin(send_wrapper::SendWrapper::new(reply));
        #[cfg(not(feature = "browser"))]
        Box::pin(reply)
    }
}

/// What a page sees of a command's error: "no answer" when the control plane could not be
/// reached, otherwise an error reply in the APIs' own shape (`{"error":{code,message}}`), so
/// the app's message is shown as it is rather than as a network failure.
pub fn error_reply(e: DesktopError) -> Result<ApiReply, TransportError> {
    let status = match e.kind {
        ErrorKind::Unreachable => return Err(TransportError(e.message)),
        ErrorKind::NotSignedIn => 401,
        ErrorKind::Refused => 403,
        ErrorKind::NotFound => 404,
        ErrorKind::InvalidInput => 422,
        ErrorKind::Storage | ErrorKind::Internal => 500,
    };
    #[derive(Serialize)]
    struct Body<'a> {
        error: Detail<'a>,
    }
    #[derive(Serialize)]
    struct Detail<'a> {
        code: ErrorKind,
        message: &'a str,
    }
    let body = Body {
        error: Detail {
            code: e.kind,
            message: &e.message,
        },
    };
    Ok(ApiReply {
        status,
        body: serde_json::to_string(&body).unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::ApiFailure;

    #[test]
    fn command_errors_reach_pages_in_their_own_words() {
        let reply = error_reply(DesktopError::new(ErrorKind::NotSignedIn, "Sign in first."))
            .expect("an error reply");
        let failure = ApiFailure::from_reply(&reply);
        assert_eq!(failure.status, 401);
        assert_eq!(failure.code, "not_signed_in");
        assert_eq!(failure.message, "Sign in first.");
        let unreachable = DesktopError::new(ErrorKind::Unreachable, "The control plane is down.");
        assert!(
            matches!(error_reply(unreachable), Err(TransportError(m)) if m == "The control plane is down.")
        );
    }
}
