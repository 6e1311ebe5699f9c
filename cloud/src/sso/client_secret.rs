//! Organisations' OpenID Connect client secrets at rest: sealed with the control plane's
//! [`Sealer`](crate::domains::seal::Sealer) (AES-256-GCM under `[domains] key_file`), with the
//! organisation's ID as associated data, so a secret copied to another organisation's row does
//! not open. Stored as `sealed:v1:<base64>` text in the existing column; a row written before
//! sealing (plain text) is still read, and sealed at its next write.

use crate::domains::seal::Sealer;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use fdt_api::OrgId;

/// Prefix of a sealed secret in the column.
const PREFIX: &str = "sealed:v1:";

/// Why a stored secret cannot be read.
#[derive(Debug, thiserror::Error)]
#[error("the organisation's client secret cannot be opened (sealed under another key, or moved)")]
pub struct OpenError;

/// The column text for `plain`, sealed for `org`.
pub fn seal(sealer: &Sealer, org: &OrgId, plain: &str) -> Result<String, OpenError> {
    let sealed = sealer
        .seal(plain.as_bytes(), org.as_str().as_bytes())
        .map_err(|_| OpenError)?;
    Ok(format!("{PREFIX}{}", STANDARD.encode(sealed)))
}

/// The secret in column text `stored` of `org`'s row.
pub fn open(sealer: &Sealer, org: &OrgId, stored: &str) -> Result<String, OpenError> {
    let Some(b64) = stored.strip_prefix(PREFIX) else {
        // Written before secrets were sealed.
        return Ok(stored.to_owned());
    };
    let sealed = STANDARD.decode(b64).map_err(|_| OpenError)?;
    let plain = sealer
        .open(&sealed, org.as_str().as_bytes())
        .map_err(|_| OpenError)?;
    String::from_utf8(plain).map_err(|_| OpenError)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn org(c: char) -> OrgId {
        OrgId::from_suffix(&c.to_string().repeat(fdt_api::ids::ID_SUFFIX_LEN)).unwrap()
    }

    #[test]
    fn secrets_round_trip_only_for_their_own_organisation() {
        let sealer = Sealer::ephemeral().unwrap();
        let stored = seal(&sealer, &org('a'), "s3cret").unwrap();
        assert!(stored.starts_with(PREFIX) && !stored.contains("s3cret"));
        assert_eq!(open(&sealer, &org('a'), &stored).unwrap(), "s3cret");
        assert!(open(&sealer, &org('b'), &stored).is_err());
        assert!(open(&Sealer::ephemeral().unwrap(), &org('a'), &stored).is_err());
        // A row from before sealing reads as it is.
        assert_eq!(open(&sealer, &org('a'), "legacy").unwrap(), "legacy");
        assert!(open(&sealer, &org('a'), "sealed:v1:!!").is_err());
    }
}
