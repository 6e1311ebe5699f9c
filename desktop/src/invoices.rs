//! Saving an invoice's PDF from the app: the window names an invoice, the app fetches its PDF
//! as the signed-in account and writes it into the Downloads folder under the name the control
//! plane gives it, never over a file that is there.

use fdt_desktop_ipc::{DesktopError, ErrorKind};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Largest PDF saved (an invoice is a few kilobytes).
pub const MAX_PDF_BYTES: usize = 8 * 1024 * 1024;
/// Longest file name written, in bytes.
const MAX_NAME: usize = 96;
/// Other names tried (`name (2).pdf` …) before giving up.
const MAX_COPIES: u32 = 100;

/// The window's invoice ID, if it is one: `inv_` and 1 to 64 letters or digits. It becomes
/// part of a URL path, so nothing else passes.
pub fn check_invoice_id(id: &str) -> Result<(), DesktopError> {
    let rest = id.strip_prefix("inv_").unwrap_or_default();
    if (1..=64).contains(&rest.len()) && rest.bytes().all(|b| b.is_ascii_alphanumeric()) {
        Ok(())
    } else {
        Err(DesktopError::new(
            ErrorKind::InvalidInput,
            "That is not an invoice ID.",
        ))
    }
}

/// The file name for the PDF: the `filename` of the control plane's `Content-Disposition`
/// with only letters, digits, `.`, `-` and `_` kept (no path, no hidden file), else
/// `invoice-{id}.pdf`.
pub fn file_name(disposition: Option<&str>, id: &str) -> String {
    let named = disposition
        .and_then(|d| {
            d.split(';')
                .find_map(|p| p.trim().strip_prefix("filename="))
        })
        .map(|f| {
            f.trim_matches('"')
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
                .take(MAX_NAME)
                .collect::<String>()
        })
        .map(|f| f.trim_start_matches('.').to_owned())
        .filter(|f| f.len() > ".pdf".len() && f.to_ascii_lowercase().ends_with(".pdf"));
    named.unwrap_or_else(|| format!("invoice-{id}.pdf"))
}

/// Writes `bytes` into `dir` (made if missing) as `name`, or `stem (2).pdf` and so on when
/// that is taken; the path written.
pub fn save_new(dir: &Path, name: &str, bytes: &[u8]) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let stem = name.strip_suffix(".pdf").unwrap_or(name);
    for n in 1..=MAX_COPIES {
        let path = if n == 1 {
            dir.join(name)
        } else {
            dir.join(format!("{stem} ({n}).pdf"))
        };
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
        {
            Ok(mut f) => {
                // A half-written PDF is worse than none: it is removed.
                return match f.write_all(bytes).and_then(|()| f.sync_all()) {
                    Ok(()) => Ok(path),
                    Err(e) => {
                        drop(f);
                        let _ = std::fs::remove_file(&path);
                        Err(e)
                    }
                };
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
    }
    Err(std::io::Error::new(
        std::io::ErrorKind::AlreadyExists,
        format!("{MAX_COPIES} files named like {name} are there already"),
    ))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn only_invoice_ids_pass() {
        assert!(check_invoice_id("inv_4fG7hK2").is_ok());
        for bad in [
            "",
            "inv_",
            "inv_../x",
            "inv_a/b",
            "inv_a?b",
            "INV_a",
            "cn_a",
            &format!("inv_{}", "a".repeat(65)),
        ] {
            assert!(check_invoice_id(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn file_names_come_from_the_disposition_and_stay_in_the_folder() {
        let name = |d: &str| file_name(Some(d), "inv_1");
        assert_eq!(
            name("attachment; filename=\"FDT-2026-000001.pdf\""),
            "FDT-2026-000001.pdf"
        );
        assert_eq!(
            name("attachment; filename=\"../../.bashrc.pdf\""),
            "bashrc.pdf"
        );
        assert_eq!(name("attachment; filename=\"a/b\\\\c.pdf\""), "abc.pdf");
        assert_eq!(name("attachment; filename=\"x.exe\""), "invoice-inv_1.pdf");
        assert_eq!(name("attachment; filename=\".pdf\""), "invoice-inv_1.pdf");
        assert_eq!(name("inline"), "invoice-inv_1.pdf");
        assert_eq!(file_name(None, "inv_1"), "invoice-inv_1.pdf");
        assert!(name(&format!("attachment; filename=\"{}.pdf\"", "a".repeat(500))).len() <= 96);
    }

    #[test]
    fn a_file_that_is_there_is_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let downloads = dir.path().join("Downloads");
        let first = save_new(&downloads, "FDT-1.pdf", b"%PDF-1").unwrap();
        let second = save_new(&downloads, "FDT-1.pdf", b"%PDF-2").unwrap();
        assert_eq!(first, downloads.join("FDT-1.pdf"));
        assert_eq!(second, downloads.join("FDT-1 (2).pdf"));
        assert_eq!(std::fs::read(&first).unwrap(), b"%PDF-1");
        assert_eq!(std::fs::read(&second).unwrap(), b"%PDF-2");
    }
}
