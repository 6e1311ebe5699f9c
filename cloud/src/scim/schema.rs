//! What this SCIM service provider serves (RFC 7643): the attributes of its `User` and
//! `Group` resources, and the discovery documents built from them (`/Schemas`,
//! `/ResourceTypes`, `/ServiceProviderConfig`). One table drives validation, filters, PATCH
//! and discovery, so what the server says it stores is what it stores.

use serde_json::{Value, json};

/// SCIM's own message URNs (RFC 7644 §3).
pub mod urn {
    /// A list response.
    pub const LIST: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
    /// An error.
    pub const ERROR: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
    /// A PATCH request.
    pub const PATCH: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
    /// A search request.
    pub const SEARCH: &str = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";
    /// The User schema.
    pub const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
    /// The Group schema.
    pub const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
    /// The service provider configuration schema.
    pub const SPC: &str = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig";
    /// The resource type schema.
    pub const RESOURCE_TYPE: &str = "urn:ietf:params:scim:schemas:core:2.0:ResourceType";
    /// The schema schema.
    pub const SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Schema";
}

/// The most resources one list answer carries (`count` is capped to it).
pub const MAX_RESULTS: usize = 200;
/// The largest request body, in bytes.
pub const MAX_BODY_BYTES: usize = 256 * 1024;
/// The most operations in one PATCH.
pub const MAX_PATCH_OPERATIONS: usize = 100;

/// An attribute's type (RFC 7643 §2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `string`
    String,
    /// `boolean`
    Boolean,
    /// `complex`: it has sub-attributes.
    Complex,
    /// `reference`
    Reference,
    /// `integer`
    Integer,
}

/// Who may write it (RFC 7643 §2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mutability {
    /// The server sets it; a client's value is ignored (in POST/PUT) or refused (PATCH).
    ReadOnly,
    /// Clients read and write it.
    ReadWrite,
    /// Set once, never changed.
    Immutable,
}

/// One attribute.
#[derive(Debug, Clone, Copy)]
pub struct Attr {
    /// Its name.
    pub name: &'static str,
    /// Its type.
    pub kind: Kind,
    /// Whether it holds a list.
    pub multi: bool,
    /// Whether a resource must have it.
    pub required: bool,
    /// Whether strings compare exactly (else case-insensitively).
    pub case_exact: bool,
    /// Who writes it.
    pub mutability: Mutability,
    /// `server` uniqueness, else `none`.
    pub unique: bool,
    /// Suggested values.
    pub canonical: &'static [&'static str],
    /// What a reference may point at.
    pub reference_types: &'static [&'static str],
    /// Its sub-attributes, when complex.
    pub sub: &'static [Attr],
    /// What it means.
    pub description: &'static str,
}

pub(super) const fn attr(name: &'static str, kind: Kind, description: &'static str) -> Attr {
    Attr {
        name,
        kind,
        multi: false,
        required: false,
        case_exact: false,
        mutability: Mutability::ReadWrite,
        unique: false,
        canonical: &[],
        reference_types: &[],
        sub: &[],
        description,
    }
}

pub(super) const fn string(name: &'static str, description: &'static str) -> Attr {
    attr(name, Kind::String, description)
}

pub(super) const fn complex(
    name: &'static str,
    sub: &'static [Attr],
    description: &'static str,
) -> Attr {
    Attr {
        sub,
        ..attr(name, Kind::Complex, description)
    }
}

pub(super) const fn multi(a: Attr) -> Attr {
    Attr { multi: true, ..a }
}

pub(super) const fn required(a: Attr) -> Attr {
    Attr {
        required: true,
        ..a
    }
}

pub(super) const fn read_only(a: Attr) -> Attr {
    Attr {
        mutability: Mutability::ReadOnly,
        ..a
    }
}

const fn immutable(a: Attr) -> Attr {
    Attr {
        mutability: Mutability::Immutable,
        ..a
    }
}

const fn exact(a: Attr) -> Attr {
    Attr {
        case_exact: true,
        ..a
    }
}

pub(super) const fn reference(
    name: &'static str,
    to: &'static [&'static str],
    d: &'static str,
) -> Attr {
    Attr {
        reference_types: to,
        case_exact: true,
        ..attr(name, Kind::Reference, d)
    }
}

/// A resource type this server serves.
#[derive(Debug)]
pub struct ResourceSchema {
    /// Its schema URN.
    pub id: &'static str,
    /// Its name (`User`).
    pub name: &'static str,
    /// Where it lives under `/scim/v2` (`/Users`).
    pub endpoint: &'static str,
    /// What it is.
    pub description: &'static str,
    /// Its attributes, without the common `id`, `externalId` and `meta`.
    pub attrs: &'static [Attr],
}

/// `externalId` (RFC 7643 §3.1): the provisioning client's own identifier, exact.
pub const EXTERNAL_ID: Attr = exact(string(
    "externalId",
    "The provisioning client's identifier for the resource.",
));

/// A provisioned person: a member of the organisation.
pub const USER: ResourceSchema = ResourceSchema {
    id: urn::USER,
    name: "User",
    endpoint: "/Users",
    description: "A member of the organisation",
    attrs: &[
        Attr {
            unique: true,
            ..required(string(
                "userName",
                "The address the member signs in with; unique in the organisation.",
            ))
        },
        complex(
            "name",
            &[
                string("formatted", "The full name."),
                string("familyName", "The family name."),
                string("givenName", "The given name."),
            ],
            "The member's name.",
        ),
        string("displayName", "The name to show."),
        attr(
            "active",
            Kind::Boolean,
            "false deprovisions: the membership ends, its authtokens are revoked and its sessions end.",
        ),
        multi(complex(
            "emails",
            &[
                string("value", "The address."),
                Attr {
                    canonical: &["work", "home", "other"],
                    ..string("type", "What kind of address.")
                },
                attr("primary", Kind::Boolean, "Whether it is the main one."),
            ],
            "Email addresses.",
        )),
        read_only(multi(complex(
            "groups",
            &[
                exact(string("value", "The group's id.")),
                reference("$ref", &["Group"], "The group's URI."),
                string("display", "The group's name."),
            ],
            "The groups the member is in (set through the groups).",
        ))),
    ],
};

/// A set of members; a group can map to a role template.
pub const GROUP: ResourceSchema = ResourceSchema {
    id: urn::GROUP,
    name: "Group",
    endpoint: "/Groups",
    description: "A set of members, which may map to a role template",
    attrs: &[
        required(string("displayName", "The group's name.")),
        multi(complex(
            "members",
            &[
                immutable(exact(string("value", "The member's id."))),
                immutable(reference("$ref", &["User"], "The member's URI.")),
                immutable(Attr {
                    canonical: &["User"],
                    ..string("type", "What the member is.")
                }),
            ],
            "The group's members (Users of this organisation).",
        )),
    ],
};

/// The resource types, as served.
pub const RESOURCES: [&ResourceSchema; 2] = [&USER, &GROUP];

/// The resource type served at `/scim/v2{endpoint}`.
pub fn by_endpoint(endpoint: &str) -> Option<&'static ResourceSchema> {
    RESOURCES.into_iter().find(|r| r.endpoint == endpoint)
}

impl ResourceSchema {
    /// Its attribute `name` (case-insensitive), including `externalId`.
    pub fn attr(&self, name: &str) -> Option<&'static Attr> {
        if name.eq_ignore_ascii_case(EXTERNAL_ID.name) {
            return Some(&EXTERNAL_ID);
        }
        self.attrs
            .iter()
            .find(|a| a.name.eq_ignore_ascii_case(name))
    }

    /// Whether `attr.sub` compares exactly (`id` and `meta` do; unknown ones do not).
    pub fn case_exact(&self, attr: &str, sub: Option<&str>) -> bool {
        if attr.eq_ignore_ascii_case("id") || attr.eq_ignore_ascii_case("meta") {
            return true;
        }
        let Some(a) = self.attr(attr) else {
            return false;
        };
        match sub {
            None => a.case_exact,
            Some(s) => a
                .sub
                .iter()
                .find(|x| x.name.eq_ignore_ascii_case(s))
                .is_some_and(|x| x.case_exact),
        }
    }
}

impl Attr {
    /// Its sub-attribute `name` (case-insensitive).
    pub fn sub_attr(&self, name: &str) -> Option<&'static Attr> {
        self.sub.iter().find(|a| a.name.eq_ignore_ascii_case(name))
    }

    /// Its RFC 7643 §7 representation.
    pub(super) fn to_json(self) -> Value {
        let kind = match self.kind {
            Kind::String => "string",
            Kind::Boolean => "boolean",
            Kind::Complex => "complex",
            Kind::Reference => "reference",
            Kind::Integer => "integer",
        };
        let mutability = match self.mutability {
            Mutability::ReadOnly => "readOnly",
            Mutability::ReadWrite => "readWrite",
            Mutability::Immutable => "immutable",
        };
        let mut v = json!({
            "name": self.name,
            "type": kind,
            "multiValued": self.multi,
            "description": self.description,
            "required": self.required,
            "caseExact": self.case_exact,
            "mutability": mutability,
            "returned": "default",
            "uniqueness": if self.unique { "server" } else { "none" },
        });
        if !self.canonical.is_empty() {
            v["canonicalValues"] = json!(self.canonical);
        }
        if !self.reference_types.is_empty() {
            v["referenceTypes"] = json!(self.reference_types);
        }
        if !self.sub.is_empty() {
            v["subAttributes"] = Value::Array(self.sub.iter().map(|a| a.to_json()).collect());
        }
        v
    }
}
