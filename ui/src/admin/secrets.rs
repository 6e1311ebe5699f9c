//! `/admin/secrets`: the age of each signing key and relay secret against its maximum, worst
//! first, with the command that rotates it.

use crate::api::use_api;
use crate::components::layout::PageHeader;
use crate::components::states::{ErrorState, Loading};
use crate::components::table::{Column, DataTable, SortKey};
use fdt_api::{SecretAge, SecretAgeList, SecretHealth};
use leptos::prelude::*;

/// The badge class and word of a secret's health.
pub fn health_badge(h: SecretHealth) -> (&'static str, &'static str) {
    match h {
        SecretHealth::Green => ("badge badge-ok", "green"),
        SecretHealth::Amber => ("badge badge-warn", "amber"),
        SecretHealth::Red => ("badge badge-err", "red"),
    }
}

/// The secrets page.
#[component]
pub fn SecretsPage() -> impl IntoView {
    let api = use_api();
    let list = Resource::new(
        || (),
        move |()| {
            let api = api.clone();
            async move { api.get::<SecretAgeList>("/v1/admin/secrets").await }
        },
    );
    view! {
        <PageHeader title="Secrets" lede="Signing keys and relay secrets by age: amber from four fifths of their maximum, red past it. Rotations are in the audit log."/>
        <Transition fallback=|| view! { <Loading/> }>
            {move || Suspend::new(async move {
                match list.await {
                    Ok(l) => view! { <DataTable caption="Secrets" columns=columns() rows=l.secrets/> }.into_any(),
                    Err(e) => view! { <ErrorState error=e/> }.into_any(),
                }
            })}
        </Transition>
    }
}

fn columns() -> Vec<Column<SecretAge>> {
    vec![
        Column::sorted(
            "Health",
            |s| SortKey::Text(health_badge(s.health).1.to_owned()),
            |s| {
                let (class, word) = health_badge(s.health);
                view! { <span class=class>{word}</span> }.into_any()
            },
        ),
        Column::sorted(
            "Secret",
            |s| SortKey::Text(s.kind.clone()),
            |s| view! { <code>{s.kind.clone()}</code> }.into_any(),
        ),
        Column::new("Fingerprint", |s| {
            let current = if s.current { "" } else { " (kept to verify)" };
            view! { <code>{s.id.clone()}</code>{current} }.into_any()
        }),
        Column::sorted(
            "Age",
            |s| SortKey::Num(s.age_days.into()),
            |s| format!("{} of {} days", s.age_days, s.max_age_days).into_any(),
        ),
        Column::new("Rotate with", |s| {
            view! { <code>{s.rotate_with.clone()}</code> }.into_any()
        }),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_health_has_a_badge() {
        assert_eq!(health_badge(SecretHealth::Red).1, "red");
        assert_eq!(health_badge(SecretHealth::Amber).0, "badge badge-warn");
    }
}
