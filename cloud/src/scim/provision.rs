//! What a SCIM write does to the organisation: a User is the account that signs in with its
//! userName, a member while `active` is not false, with the role its groups map to; a Group's
//! members are Users of the same organisation. Deprovisioning (active=false, DELETE) removes
//! the membership the way `DELETE /v1/members/{id}` does: the member's authtokens for the
//! organisation are revoked (its agents close within seconds) and its sessions end.
//!
//! Provisioning never makes, unmakes or removes an owner, and links an existing account only
//! if it is already a member (it joined by invitation) or this organisation's provisioning
//! created it: an identity provider cannot pull an outsider's account into the organisation.

use super::ScimError;
use super::doc::string_attr;
use crate::events::Topic;
use crate::random::{new_account_id, random_base62};
use crate::state::AppState;
use crate::store::{ScimRecord, org_owner, parse_role, role_name};
use fdt_api::{AccountId, OrgId, Password, RoleTemplate, ScimSettings};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashSet};

/// The most group mappings an organisation keeps.
pub const MAX_GROUP_ROLES: usize = 200;

/// Refuses a group-to-role mapping that would grant what provisioning and single sign-on
/// must not: ownership.
pub fn check_role_map(
    default: RoleTemplate,
    mapped: &BTreeMap<String, RoleTemplate>,
) -> Result<(), &'static str> {
    if default == RoleTemplate::Owner || mapped.values().any(|r| *r == RoleTemplate::Owner) {
        return Err("provisioning does not make owners: map groups to admin at most");
    }
    if mapped.len() > MAX_GROUP_ROLES {
        return Err("at most 200 group mappings");
    }
    if mapped.keys().any(|k| k.trim().is_empty() || k.len() > 256) {
        return Err("a group name is 1 to 256 bytes");
    }
    Ok(())
}

/// `org`'s settings, or the defaults (viewer, no mappings).
pub async fn load_settings(st: &AppState, org: &OrgId) -> Result<ScimSettings, ScimError> {
    let Some((default_role, groups)) = st.store().scim_settings(org).await? else {
        return Ok(ScimSettings {
            default_role: RoleTemplate::Viewer,
            group_roles: BTreeMap::new(),
        });
    };
    let group_roles: BTreeMap<String, String> =
        serde_json::from_str(&groups).map_err(|e| ScimError::internal("stored group roles", &e))?;
    Ok(ScimSettings {
        default_role: parse_role(&default_role).unwrap_or(RoleTemplate::Viewer),
        group_roles: group_roles
            .into_iter()
            .filter_map(|(g, r)| Some((g, parse_role(&r)?)))
            .collect(),
    })
}

/// The role of someone in the groups named `groups`: the strongest one `mapped` names, else
/// `default` (SCIM groups and single sign-on group claims alike).
pub fn role_for<'a>(
    default: RoleTemplate,
    mapped: &BTreeMap<String, RoleTemplate>,
    groups: impl IntoIterator<Item = &'a str>,
) -> RoleTemplate {
    fn rank(r: RoleTemplate) -> u8 {
        match r {
            RoleTemplate::Owner => 5,
            RoleTemplate::Admin => 4,
            RoleTemplate::Developer => 3,
            RoleTemplate::Billing => 2,
            RoleTemplate::Viewer => 1,
        }
    }
    groups
        .into_iter()
        .filter_map(|g| {
            mapped
                .iter()
                .find(|(name, _)| name.eq_ignore_ascii_case(g))
                .map(|(_, r)| *r)
        })
        .max_by_key(|r| rank(*r))
        .unwrap_or(default)
}

/// A stored document as a JSON object.
pub fn parse_doc(r: &ScimRecord) -> Result<Map<String, Value>, ScimError> {
    match serde_json::from_str(&r.doc) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(ScimError::internal("stored document", &"not an object")),
        Err(e) => Err(ScimError::internal("stored document", &e)),
    }
}

/// The ids of a group document's members.
pub fn member_ids(doc: &Map<String, Value>) -> Vec<String> {
    match doc.get("members") {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|m| m.get("value").and_then(Value::as_str).map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
}

/// Which groups each User of `org` is in: `user id → [(group id, displayName)]`.
pub type GroupsOf = BTreeMap<String, Vec<(String, String)>>;

/// The groups of every User of `org`, from the groups' member lists.
pub async fn groups_of(st: &AppState, org: &OrgId) -> Result<GroupsOf, ScimError> {
    let mut out = GroupsOf::new();
    for g in st.store().scim_resources(org, "Group").await? {
        let doc = parse_doc(&g)?;
        let name = string_attr(&doc, "displayName").unwrap_or_default();
        for m in member_ids(&doc) {
            out.entry(m)
                .or_default()
                .push((g.id.clone(), name.to_owned()));
        }
    }
    Ok(out)
}

/// A User's userName as its account's sign-in address.
pub fn user_key(doc: &Map<String, Value>) -> Result<String, ScimError> {
    let name = string_attr(doc, "userName").unwrap_or_default().trim();
    if name.is_empty() || name.len() > 254 {
        return Err(ScimError::invalid_value("`userName` is 1 to 254 bytes"));
    }
    Ok(name.to_lowercase())
}

/// Whether a User document is active (absent means active).
pub fn is_active(doc: &Map<String, Value>) -> bool {
    doc.get("active") != Some(&Value::Bool(false))
}

/// Whether `account` is an owner of `org` (provisioning leaves owners alone).
async fn is_owner(st: &AppState, org: &OrgId, account: &AccountId) -> Result<bool, ScimError> {
    let role = st.store().member_role(org, account).await?;
    Ok(account == &org_owner(org)
        || role.as_deref().and_then(parse_role) == Some(RoleTemplate::Owner))
}

/// The account a User with sign-in address `key` links to: the one it is linked to already,
/// the one with that address (a member, or one this organisation's provisioning made), or a
/// new one made now (with an unknowable password: it signs in through single sign-on).
pub async fn link_account(
    st: &AppState,
    org: &OrgId,
    key: &str,
    existing: Option<&ScimRecord>,
) -> Result<AccountId, ScimError> {
    if let Some(account) = existing.and_then(|r| r.account_id.clone()) {
        let current = st.store().account_by_id(&account).await?;
        if current.as_ref().is_some_and(|a| a.email != key) {
            // A rename: only for accounts this organisation's provisioning made, whose
            // address it owns; an invited member's address is its own.
            if st.store().provisioned_by(&account).await?.as_ref() != Some(org) {
                return Err(ScimError::mutability(
                    "the userName of a member who joined by invitation does not change",
                ));
            }
            if !st.store().set_account_email(&account, key).await? {
                return Err(ScimError::uniqueness(
                    "another account signs in with this userName",
                ));
            }
        }
        return Ok(account);
    }
    if let Some(found) = st.store().account_by_email(key).await? {
        let member = st.store().member_role(org, &found.id).await?.is_some();
        let ours = st.store().provisioned_by(&found.id).await?.as_ref() == Some(org);
        if !(member || ours) {
            return Err(ScimError::uniqueness(
                "an account outside the organisation signs in with this userName: invite it first",
            ));
        }
        return Ok(found.id);
    }
    let hash = st
        .passwords()
        .hash(Password::new(random_base62(32)))
        .await
        .map_err(|e| ScimError::internal("password hash", &e))?;
    let id = new_account_id();
    match st
        .store()
        .create_account(&id, key, &hash, st.clock().now())
        .await
    {
        Ok(_) => {}
        // Made by a concurrent request: link that one on the client's retry.
        Err(crate::store::StoreError::EmailTaken) => {
            return Err(ScimError::uniqueness(
                "another account signs in with this userName",
            ));
        }
        Err(e) => return Err(e.into()),
    }
    st.store().set_provisioned_by(&id, org).await?;
    Ok(id)
}

/// Refuses to deprovision an owner.
pub async fn check_not_owner(
    st: &AppState,
    org: &OrgId,
    account: &AccountId,
) -> Result<(), ScimError> {
    if is_owner(st, org, account).await? {
        return Err(ScimError::mutability(
            "an owner is not deprovisioned by SCIM: change its role in the console first",
        ));
    }
    Ok(())
}

/// Brings the memberships of the Users `ids` (or all of `org`'s, for `None`) in line with
/// their documents and groups. Returns how many authtokens deprovisioning revoked.
pub async fn sync_members(
    st: &AppState,
    org: &OrgId,
    ids: Option<&HashSet<String>>,
) -> Result<u64, ScimError> {
    let settings = load_settings(st, org).await?;
    let groups = groups_of(st, org).await?;
    let now = st.clock().now();
    let mut revoked = 0;
    for user in st.store().scim_resources(org, "User").await? {
        if ids.is_some_and(|ids| !ids.contains(&user.id)) {
            continue;
        }
        let Some(account) = &user.account_id else {
            continue;
        };
        if is_owner(st, org, account).await? {
            continue;
        }
        let doc = parse_doc(&user)?;
        if is_active(&doc) {
            let names = groups.get(&user.id).map(Vec::as_slice).unwrap_or(&[]);
            let role = role_for(
                settings.default_role,
                &settings.group_roles,
                names.iter().map(|(_, name)| name.as_str()),
            );
            st.store()
                .provision_member(org, account, &role_name(role), now)
                .await?;
        } else {
            revoked += deprovision(st, org, account).await?;
        }
    }
    Ok(revoked)
}

/// Ends `account`'s membership of `org` (if it has one), as member removal does.
pub async fn deprovision(
    st: &AppState,
    org: &OrgId,
    account: &AccountId,
) -> Result<u64, ScimError> {
    let Some(revoked) = st
        .store()
        .remove_member(org, account, st.clock().now())
        .await?
    else {
        return Ok(0);
    };
    tracing::info!(%org, %account, revoked, "scim: member deprovisioned");
    // Agents of revoked authtokens are closed by the relays' revocation feed; the console
    // pages showing them refresh on this.
    st.events().publish(&org_owner(org), Topic::Authtokens);
    Ok(revoked)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_strongest_mapped_group_wins_and_owners_are_never_granted() {
        let s = ScimSettings {
            default_role: RoleTemplate::Viewer,
            group_roles: [
                ("Engineering".to_owned(), RoleTemplate::Developer),
                ("ops".to_owned(), RoleTemplate::Admin),
                ("Finance".to_owned(), RoleTemplate::Billing),
            ]
            .into(),
        };
        assert_eq!(
            role_for(s.default_role, &s.group_roles, []),
            RoleTemplate::Viewer
        );
        assert_eq!(
            role_for(s.default_role, &s.group_roles, ["unmapped"]),
            RoleTemplate::Viewer
        );
        assert_eq!(
            role_for(s.default_role, &s.group_roles, ["finance"]),
            RoleTemplate::Billing
        );
        assert_eq!(
            role_for(s.default_role, &s.group_roles, ["Finance", "ENGINEERING"]),
            RoleTemplate::Developer
        );
        assert_eq!(
            role_for(s.default_role, &s.group_roles, ["engineering", "OPS"]),
            RoleTemplate::Admin
        );
        assert!(check_role_map(s.default_role, &s.group_roles).is_ok());
        let mut owner = s.clone();
        owner.default_role = RoleTemplate::Owner;
        assert!(check_role_map(owner.default_role, &owner.group_roles).is_err());
        let mut mapped = s;
        mapped
            .group_roles
            .insert("root".into(), RoleTemplate::Owner);
        assert!(check_role_map(mapped.default_role, &mapped.group_roles).is_err());
    }
}
