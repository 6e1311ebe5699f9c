//! Roles: the built-in templates and an organisation's own (`custom:<name>`), sets of named
//! permissions managed by its owners (`/v1/roles`).

use crate::permissions::{Permission, RoleTemplate};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The prefix of an organisation's own role names.
pub const CUSTOM_PREFIX: &str = "custom:";
/// The longest custom role name (after the prefix).
pub const MAX_CUSTOM_NAME: usize = 32;

/// A role a member holds: a built-in template, or one of the organisation's own. On the wire
/// and in the database it is its name: `developer`, `custom:deployers`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Role {
    /// A built-in template.
    Builtin(RoleTemplate),
    /// The organisation's template of this name (without the prefix).
    Custom(String),
}

impl Role {
    /// Its name as sent and stored.
    pub fn name(&self) -> String {
        match self {
            Self::Builtin(t) => serde_json::to_value(t)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
            Self::Custom(n) => format!("{CUSTOM_PREFIX}{n}"),
        }
    }

    /// The role named `s`, if `s` is a built-in name or a well-formed custom one.
    pub fn parse(s: &str) -> Option<Self> {
        if let Some(n) = s.strip_prefix(CUSTOM_PREFIX) {
            return check_custom_name(n).then(|| Self::Custom(n.to_owned()));
        }
        serde_json::from_value(serde_json::Value::String(s.to_owned()))
            .ok()
            .map(Self::Builtin)
    }

    /// The built-in template, if it is one.
    pub fn builtin(&self) -> Option<RoleTemplate> {
        match self {
            Self::Builtin(t) => Some(*t),
            Self::Custom(_) => None,
        }
    }
}

impl From<RoleTemplate> for Role {
    fn from(t: RoleTemplate) -> Self {
        Self::Builtin(t)
    }
}

/// Whether `n` may name a custom role: 1 to [`MAX_CUSTOM_NAME`] lowercase letters, digits and
/// `-`, starting with a letter.
pub fn check_custom_name(n: &str) -> bool {
    !n.is_empty()
        && n.len() <= MAX_CUSTOM_NAME
        && n.starts_with(|c: char| c.is_ascii_lowercase())
        && n.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

impl Serialize for Role {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.name())
    }
}

impl<'de> Deserialize<'de> for Role {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "{s:?} is not a role: owner, admin, developer, viewer, billing or custom:<name>"
            ))
        })
    }
}

#[cfg(feature = "schema")]
impl schemars::JsonSchema for Role {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Role".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "A built-in role (owner, admin, developer, viewer, billing) or the organisation's own (custom:<name>)",
            "pattern": "^(owner|admin|developer|viewer|billing|custom:[a-z][a-z0-9-]{0,31})$"
        })
    }
}

/// A role as listed by `GET /v1/roles`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct RoleInfo {
    /// Its name (`developer`, `custom:deployers`).
    pub name: Role,
    /// Whether it is a built-in template (built-ins cannot change).
    pub builtin: bool,
    /// What it grants.
    pub permissions: Vec<Permission>,
}

/// `GET /v1/roles`: the built-in templates, then the organisation's own by name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct RoleList {
    /// The roles.
    pub roles: Vec<RoleInfo>,
}

/// `PUT /v1/roles/{name}`: an organisation's own role (owners only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct PutRole {
    /// What it grants (any permission but `operator`).
    pub permissions: Vec<Permission>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_bad_ones_are_refused() {
        for name in ["owner", "viewer", "custom:deployers", "custom:a-1"] {
            let r = Role::parse(name).unwrap_or_else(|| panic!("{name}"));
            assert_eq!(r.name(), name);
            let json = serde_json::to_string(&r).unwrap_or_default();
            assert_eq!(serde_json::from_str::<Role>(&json).ok(), Some(r));
        }
        for bad in [
            "",
            "root",
            "custom:",
            "custom:Caps",
            "custom:1st",
            "custom:a b",
        ] {
            assert!(Role::parse(bad).is_none(), "{bad}");
        }
        assert!(Role::parse(&format!("custom:{}", "a".repeat(MAX_CUSTOM_NAME + 1))).is_none());
    }
}
