//! Toasts: short messages after an action, announced to screen readers (`aria-live`).

use leptos::prelude::*;
use std::time::Duration;

/// How a toast looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ToastKind {
    /// It worked.
    Success,
    /// It did not.
    Error,
}

#[derive(Debug, Clone)]
struct Toast {
    id: u64,
    kind: ToastKind,
    text: String,
}

/// The toasts of the page (in context).
#[derive(Debug, Clone, Copy)]
pub struct Toasts {
    list: RwSignal<Vec<Toast>>,
    next: RwSignal<u64>,
}

impl Toasts {
    /// No toasts yet.
    pub fn new() -> Self {
        Self {
            list: RwSignal::new(Vec::new()),
            next: RwSignal::new(0),
        }
    }

    /// Shows `text` for a few seconds.
    pub fn show(&self, kind: ToastKind, text: impl Into<String>) {
        let id = self.next.get_untracked();
        self.next.set(id + 1);
        self.list.update(|l| {
            l.push(Toast {
                id,
                kind,
                text: text.into(),
            });
        });
        let list = self.list;
        set_timeout(
            move || list.update(|l| l.retain(|t| t.id != id)),
            Duration::from_secs(if kind == ToastKind::Error { 8 } else { 4 }),
        );
    }

    /// A success toast.
    pub fn ok(&self, text: impl Into<String>) {
        self.show(ToastKind::Success, text);
    }

    /// An error toast.
    pub fn error(&self, text: impl Into<String>) {
        self.show(ToastKind::Error, text);
    }
}

impl Default for Toasts {
    fn default() -> Self {
        Self::new()
    }
}

/// The page's [`Toasts`].
pub fn use_toasts() -> Toasts {
    use_context::<Toasts>().unwrap_or_default()
}

/// Where toasts appear.
#[component]
pub fn Toaster() -> impl IntoView {
    let toasts = use_toasts();
    view! {
        <div class="toaster" role="status" aria-live="polite">
            <For each=move || toasts.list.get() key=|t| t.id let:toast>
                <div class=if toast.kind == ToastKind::Error { "toast toast-error" } else { "toast toast-ok" }>
                    {toast.text}
                </div>
            </For>
        </div>
    }
}
