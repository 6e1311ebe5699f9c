//! `save_invoice_pdf`: an invoice's PDF, fetched as the signed-in account, into the Downloads
//! folder (see [`crate::invoices`]).

use super::{AppState, storage};
use crate::cloud;
use crate::invoices::{MAX_PDF_BYTES, check_invoice_id, file_name, save_new};
use fdt_desktop_ipc::{ApiCall, DesktopError, ErrorKind, SavedFile};

impl AppState {
    /// Saves invoice `id` of the account the app acts for as a PDF in the Downloads folder.
    pub async fn save_invoice_pdf(&self, id: &str) -> Result<SavedFile, DesktopError> {
        check_invoice_id(id)?;
        let Some(dir) = self.downloads_dir.clone() else {
            return Err(DesktopError::new(
                ErrorKind::Storage,
                "There is no Downloads folder to save into (HOME is not set).",
            ));
        };
        let call = ApiCall {
            method: "GET".into(),
            path: format!("/v1/billing/invoices/{id}/pdf"),
            body: None,
        };
        let org = self.lock().settings.org.clone();
        let (call, org) = (&call, org.as_deref());
        let pdf = self
            .as_account(|api_url, access| async move {
                cloud::fetch(
                    &api_url,
                    &access,
                    call,
                    org,
                    "application/pdf",
                    MAX_PDF_BYTES,
                )
                .await
            })
            .await?;
        match pdf.status {
            200 if pdf.body.starts_with(b"%PDF-") => {}
            404 => {
                return Err(DesktopError::new(
                    ErrorKind::NotFound,
                    "There is no such invoice in this account.",
                ));
            }
            status => {
                return Err(DesktopError::new(
                    ErrorKind::Unreachable,
                    format!("The control plane did not send the PDF (HTTP {status})."),
                ));
            }
        }
        let name = file_name(pdf.disposition.as_deref(), id);
        let path = tokio::task::spawn_blocking(move || save_new(&dir, &name, &pdf.body))
            .await
            .map_err(storage)?
            .map_err(storage)?;
        Ok(SavedFile {
            path: path.display().to_string(),
        })
    }
}
