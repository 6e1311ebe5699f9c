//! Prefixed ID newtypes (`acc_…`, `atk_…`, `ses_…`).
//!
//! An ID is a kind prefix plus [`ID_SUFFIX_LEN`] random base62 characters (about 131 bits), so it
//! is unguessable, says what it names when it shows up in a log, and one kind cannot be passed
//! where another is expected. This crate only checks and carries IDs; the server makes them
//! (it owns the random number generator, which keeps this crate free of one on wasm32).

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Number of base62 characters after an ID's prefix.
pub const ID_SUFFIX_LEN: usize = 22;

/// Why a string is not a valid ID of the expected kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// The string does not start with the kind's prefix.
    #[error("expected an ID starting with `{expected}`")]
    WrongPrefix {
        /// The prefix this kind of ID has.
        expected: &'static str,
    },
    /// The part after the prefix has the wrong length or a character outside base62.
    #[error("an ID has {expected} base62 characters after its prefix")]
    BadSuffix {
        /// The length the random part must have.
        expected: usize,
    },
}

macro_rules! prefixed_id {
    ($(#[$meta:meta])* $name:ident, $prefix:literal) => {
        $(#[$meta])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        #[cfg(feature = "schema")]
        impl schemars::JsonSchema for $name {
            fn schema_name() -> std::borrow::Cow<'static, str> {
                stringify!($name).into()
            }

            fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
                schemars::json_schema!({
                    "type": "string",
                    "pattern": format!("^{}[0-9A-Za-z]{{{}}}$", $prefix, ID_SUFFIX_LEN),
                })
            }
        }

        impl $name {
            /// The prefix every ID of this kind starts with.
            pub const PREFIX: &'static str = $prefix;

            /// Builds an ID from its random part ([`ID_SUFFIX_LEN`] base62 characters).
            pub fn from_suffix(suffix: &str) -> Result<Self, IdError> {
                check_suffix(suffix)?;
                Ok(Self(format!("{}{}", Self::PREFIX, suffix)))
            }

            /// The ID as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl FromStr for $name {
            type Err = IdError;

            fn from_str(s: &str) -> Result<Self, IdError> {
                let suffix = s
                    .strip_prefix(Self::PREFIX)
                    .ok_or(IdError::WrongPrefix { expected: Self::PREFIX })?;
                Self::from_suffix(suffix)
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;

            fn try_from(s: String) -> Result<Self, IdError> {
                s.parse()
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        // IDs are not secrets: Debug shows them so logs and test failures name the row.
        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0)
            }
        }
    };
}

fn check_suffix(suffix: &str) -> Result<(), IdError> {
    if suffix.len() == ID_SUFFIX_LEN && crate::base62::is_base62(suffix) {
        Ok(())
    } else {
        Err(IdError::BadSuffix {
            expected: ID_SUFFIX_LEN,
        })
    }
}

prefixed_id!(
    /// An account (one person or team that owns tunnels and authtokens).
    AccountId,
    "acc_"
);
prefixed_id!(
    /// An authtoken (the credential an agent exchanges for a session).
    AuthtokenId,
    "atk_"
);
prefixed_id!(
    /// A login session: the family of refresh tokens that one login started.
    SessionId,
    "ses_"
);
prefixed_id!(
    /// A live tunnel: one binding of a name on a relay (a pooled name has several).
    TunnelId,
    "tun_"
);
prefixed_id!(
    /// A reserved name: a subdomain or a TCP address kept by an account.
    ReservedNameId,
    "rsv_"
);
prefixed_id!(
    /// A request in the traffic log (made by the relay that saw it, so retries are idempotent).
    RequestId,
    "req_"
);
prefixed_id!(
    /// A replay job: one request sent again to its agent's local service.
    ReplayId,
    "rpl_"
);
prefixed_id!(
    /// A cloud-managed tunnel definition.
    TunnelConfigId,
    "tcf_"
);
prefixed_id!(
    /// An organisation: what owns tunnels, authtokens and the plan; people are its members.
    OrgId,
    "org_"
);
prefixed_id!(
    /// A custom domain (`app.example.com`) an account routes to its tunnels.
    DomainId,
    "dom_"
);

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const SUFFIX: &str = "0123456789abcdefABCDEF";

    #[test]
    fn parses_and_prints() {
        let id: AccountId = format!("acc_{SUFFIX}").parse().unwrap();
        assert_eq!(id.to_string(), format!("acc_{SUFFIX}"));
        assert_eq!(id, AccountId::from_suffix(SUFFIX).unwrap());
        assert_eq!(format!("{id:?}"), format!("AccountId(acc_{SUFFIX})"));
    }

    #[test]
    fn rejects_other_kinds_and_bad_suffixes() {
        assert_eq!(
            format!("atk_{SUFFIX}").parse::<AccountId>(),
            Err(IdError::WrongPrefix { expected: "acc_" })
        );
        assert!("acc_short".parse::<AccountId>().is_err());
        assert!(
            format!("acc_{}-", &SUFFIX[1..])
                .parse::<AccountId>()
                .is_err()
        );
        assert!(format!("acc_{SUFFIX}x").parse::<AccountId>().is_err());
    }

    #[test]
    fn serde_checks_the_format() {
        let id = SessionId::from_suffix(SUFFIX).unwrap();
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, format!("\"ses_{SUFFIX}\""));
        assert_eq!(serde_json::from_str::<SessionId>(&json).unwrap(), id);
        assert!(serde_json::from_str::<SessionId>("\"ses_nope\"").is_err());
    }
}
