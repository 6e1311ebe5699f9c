//! The authtoken format: `fdt_` + 40 random base62 characters + a 6-character checksum.
//!
//! Modelled on GitHub's token format. The fixed prefix lets secret scanners find leaked tokens
//! with a simple pattern (`fdt_[0-9A-Za-z]{46}`); the checksum (CRC32 of prefix and random part,
//! in base62) lets them — and the agent, before any network call — reject a string that merely
//! looks like a token, or one with a typo. 40 base62 characters carry about 238 bits of entropy.

use crate::base62;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// What every authtoken starts with.
pub const AUTHTOKEN_PREFIX: &str = "fdt_";
/// Number of random base62 characters after the prefix.
pub const AUTHTOKEN_RANDOM_LEN: usize = 40;
/// Number of base62 checksum characters at the end.
pub const AUTHTOKEN_CHECKSUM_LEN: usize = 6;
/// Total length of an authtoken.
pub const AUTHTOKEN_LEN: usize =
    AUTHTOKEN_PREFIX.len() + AUTHTOKEN_RANDOM_LEN + AUTHTOKEN_CHECKSUM_LEN;
/// Characters after `fdt_` that are kept and shown to identify a token (`fdt_` + these form its
/// display prefix).
pub const AUTHTOKEN_DISPLAY_CHARS: usize = 8;

/// Why a string is not a well-formed authtoken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthtokenFormatError {
    /// The string does not start with `fdt_`.
    #[error("an authtoken starts with `{AUTHTOKEN_PREFIX}`")]
    MissingPrefix,
    /// The string is too short or too long.
    #[error("an authtoken is {AUTHTOKEN_LEN} characters long, this one has {0}")]
    WrongLength(usize),
    /// A character after the prefix is not a letter or digit.
    #[error("an authtoken has only letters and digits after `{AUTHTOKEN_PREFIX}`")]
    InvalidCharacter,
    /// The checksum does not match: the token was mistyped or truncated, or is made up.
    #[error("authtoken checksum mismatch (mistyped or truncated token?)")]
    ChecksumMismatch,
}

/// An authtoken secret. `Debug` shows only its display prefix.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Authtoken(String);

#[cfg(feature = "schema")]
impl schemars::JsonSchema for Authtoken {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Authtoken".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": format!("^{AUTHTOKEN_PREFIX}[0-9A-Za-z]{{{}}}$", AUTHTOKEN_LEN - AUTHTOKEN_PREFIX.len()),
        })
    }
}

impl Authtoken {
    /// Builds a token from its random part ([`AUTHTOKEN_RANDOM_LEN`] base62 characters), appending
    /// the checksum. The server calls this with fresh randomness.
    pub fn from_random_part(random: &str) -> Result<Self, AuthtokenFormatError> {
        if random.len() != AUTHTOKEN_RANDOM_LEN {
            return Err(AuthtokenFormatError::WrongLength(
                AUTHTOKEN_PREFIX.len() + random.len() + AUTHTOKEN_CHECKSUM_LEN,
            ));
        }
        if !base62::is_base62(random) {
            return Err(AuthtokenFormatError::InvalidCharacter);
        }
        let body = format!("{AUTHTOKEN_PREFIX}{random}");
        let sum = checksum(&body);
        Ok(Self(body + &sum))
    }

    /// The whole secret. Handle with care: this is what must never reach a log.
    pub fn expose_secret(&self) -> &str {
        &self.0
    }

    /// `fdt_` plus the first [`AUTHTOKEN_DISPLAY_CHARS`] random characters: enough for a person
    /// to tell their tokens apart, far too little to use.
    pub fn display_prefix(&self) -> &str {
        // The format is checked at construction, so the string is ASCII and long enough.
        &self.0[..AUTHTOKEN_PREFIX.len() + AUTHTOKEN_DISPLAY_CHARS]
    }
}

/// Checks that `s` is a well-formed authtoken (prefix, length, alphabet, checksum), offline.
///
/// Leading and trailing whitespace is not trimmed: callers that read tokens from files or
/// terminals trim first.
pub fn parse_authtoken(s: &str) -> Result<Authtoken, AuthtokenFormatError> {
    let rest = s
        .strip_prefix(AUTHTOKEN_PREFIX)
        .ok_or(AuthtokenFormatError::MissingPrefix)?;
    if s.len() != AUTHTOKEN_LEN {
        return Err(AuthtokenFormatError::WrongLength(s.chars().count()));
    }
    if !base62::is_base62(rest) {
        return Err(AuthtokenFormatError::InvalidCharacter);
    }
    let (body, sum) = s.split_at(AUTHTOKEN_LEN - AUTHTOKEN_CHECKSUM_LEN);
    if checksum(body) != sum {
        return Err(AuthtokenFormatError::ChecksumMismatch);
    }
    Ok(Authtoken(s.to_owned()))
}

/// CRC32 (IEEE) of `body`, as six base62 digits.
fn checksum(body: &str) -> String {
    base62::encode_fixed(
        u64::from(crc32fast::hash(body.as_bytes())),
        AUTHTOKEN_CHECKSUM_LEN,
    )
}

impl FromStr for Authtoken {
    type Err = AuthtokenFormatError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_authtoken(s)
    }
}

impl TryFrom<String> for Authtoken {
    type Error = AuthtokenFormatError;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        parse_authtoken(&s)
    }
}

impl From<Authtoken> for String {
    fn from(t: Authtoken) -> String {
        t.0
    }
}

impl fmt::Debug for Authtoken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Authtoken({}***)", self.display_prefix())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const RANDOM: &str = "aB3dE6gH9jK2mN5pQ8sT1vW4yZ7bC0eF3hI6kL9n";

    fn token() -> Authtoken {
        Authtoken::from_random_part(RANDOM).unwrap()
    }

    #[test]
    fn round_trips_a_generated_token() {
        let t = token();
        assert_eq!(t.expose_secret().len(), AUTHTOKEN_LEN);
        assert!(t.expose_secret().starts_with("fdt_aB3dE6gH9"));
        assert_eq!(parse_authtoken(t.expose_secret()).unwrap(), t);
        assert_eq!(t.display_prefix(), "fdt_aB3dE6gH");
    }

    #[test]
    fn every_single_character_flip_is_rejected() {
        let good = token().expose_secret().to_owned();
        for (i, c) in good.char_indices().skip(AUTHTOKEN_PREFIX.len()) {
            // Swap to another base62 character so only the checksum can catch it.
            let replacement = if c == 'x' { 'y' } else { 'x' };
            let mut bad = good.clone();
            bad.replace_range(i..i + 1, &replacement.to_string());
            assert_eq!(
                parse_authtoken(&bad),
                Err(AuthtokenFormatError::ChecksumMismatch),
                "flip at {i} accepted"
            );
        }
    }

    #[test]
    fn rejects_wrong_shapes() {
        let good = token().expose_secret().to_owned();
        assert_eq!(
            parse_authtoken(&good.replacen("fdt_", "fdx_", 1)),
            Err(AuthtokenFormatError::MissingPrefix)
        );
        assert_eq!(
            parse_authtoken(&good[..good.len() - 1]),
            Err(AuthtokenFormatError::WrongLength(AUTHTOKEN_LEN - 1))
        );
        let mut dashed = good.clone();
        dashed.replace_range(10..11, "-");
        assert_eq!(
            parse_authtoken(&dashed),
            Err(AuthtokenFormatError::InvalidCharacter)
        );
        // A multibyte character must not make slicing panic.
        let mut accented = good[..good.len() - 2].to_owned();
        accented.push('é');
        assert!(parse_authtoken(&accented).is_err());
        assert!(Authtoken::from_random_part("short").is_err());
    }

    #[test]
    fn debug_hides_the_secret() {
        let t = token();
        let shown = format!("{t:?}");
        assert_eq!(shown, "Authtoken(fdt_aB3dE6gH***)");
        assert!(!shown.contains(&t.expose_secret()[12..]));
    }

    #[test]
    fn serde_validates() {
        let t = token();
        let json = serde_json::to_string(&t).unwrap();
        assert_eq!(serde_json::from_str::<Authtoken>(&json).unwrap(), t);
        assert!(serde_json::from_str::<Authtoken>("\"fdt_nope\"").is_err());
    }
}
