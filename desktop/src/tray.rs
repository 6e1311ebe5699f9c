//! The tray: one switch per tunnel, its public URL (click copies it), open window, inspector
//! and console, start at login, quit; the icon shows the overall state.
//!
//! [`model`] turns the app state into menu entries (no Tauri; unit-tested); [`apply`] shows
//! them; [`TrayItem`] is every menu id, parsed back when an entry is clicked.

use fdt_desktop_ipc::{DesktopState, Overall, TunnelState};
use tauri::image::Image;
use tauri::menu::{CheckMenuItem, IsMenuItem, Menu, MenuItem, PredefinedMenuItem};
use tauri::tray::{TrayIcon, TrayIconBuilder};
use tauri::{AppHandle, Runtime};

/// The tray icon's id.
pub const TRAY_ID: &str = "fdt-tray";

/// A tray menu entry's meaning; its menu id is [`TrayItem::id`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrayItem {
    /// Switch tunnel `id` on or off.
    Toggle(String),
    /// Copy tunnel `id`'s public URL.
    CopyUrl(String),
    /// Show the window.
    OpenWindow,
    /// Open the local inspector in the browser.
    OpenInspector,
    /// Open the web console in the browser.
    OpenConsole,
    /// Switch start at login.
    StartAtLogin,
    /// Quit the app (stops the tunnels).
    Quit,
}

impl TrayItem {
    /// The menu id.
    pub fn id(&self) -> String {
        match self {
            Self::Toggle(id) => format!("toggle:{id}"),
            Self::CopyUrl(id) => format!("copy:{id}"),
            Self::OpenWindow => "open-window".into(),
            Self::OpenInspector => "open-inspector".into(),
            Self::OpenConsole => "open-console".into(),
            Self::StartAtLogin => "start-at-login".into(),
            Self::Quit => "quit".into(),
        }
    }

    /// The item of a menu id.
    pub fn parse(id: &str) -> Option<Self> {
        if let Some(t) = id.strip_prefix("toggle:") {
            return Some(Self::Toggle(t.into()));
        }
        if let Some(t) = id.strip_prefix("copy:") {
            return Some(Self::CopyUrl(t.into()));
        }
        Some(match id {
            "open-window" => Self::OpenWindow,
            "open-inspector" => Self::OpenInspector,
            "open-console" => Self::OpenConsole,
            "start-at-login" => Self::StartAtLogin,
            "quit" => Self::Quit,
            _ => return None,
        })
    }
}

/// One menu line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// A clickable line.
    Item {
        /// What it does.
        item: TrayItem,
        /// Its text.
        text: String,
        /// Whether it can be clicked.
        enabled: bool,
    },
    /// A line with a check mark.
    Check {
        /// What it does.
        item: TrayItem,
        /// Its text.
        text: String,
        /// Whether it can be clicked.
        enabled: bool,
        /// The check mark.
        checked: bool,
    },
    /// A line that only informs.
    Note(String),
    /// A divider.
    Separator,
}

/// The whole tray: menu, icon and tooltip.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrayModel {
    /// Menu lines, top to bottom.
    pub entries: Vec<Entry>,
    /// The icon's state.
    pub overall: Overall,
    /// Hover text.
    pub tooltip: String,
}

/// What the tray shows for `s`.
pub fn model(s: &DesktopState) -> TrayModel {
    let signed_in = s.account.is_some();
    let mut entries = vec![];
    if !signed_in {
        entries.push(Entry::Note("Signed out: open the window to sign in".into()));
    } else if s.tunnels.is_empty() {
        entries.push(Entry::Note("No tunnels yet: add one in the window".into()));
    }
    for t in &s.tunnels {
        entries.push(Entry::Check {
            item: TrayItem::Toggle(t.id.clone()),
            text: format!("{} ({} {})", t.def.name, t.def.proto, t.def.addr),
            enabled: signed_in,
            checked: t.enabled,
        });
        match (&t.state, &t.public_url) {
            (TunnelState::Online, Some(url)) => entries.push(Entry::Item {
                item: TrayItem::CopyUrl(t.id.clone()),
                text: format!("    Copy {url}"),
                enabled: true,
            }),
            (TunnelState::Off, _) => {}
            (state, _) => entries.push(Entry::Note(format!(
                "    {}{}",
                state_word(*state),
                t.error
                    .as_ref()
                    .map(|e| format!(": {}", short(e)))
                    .unwrap_or_default()
            ))),
        }
    }
    entries.push(Entry::Separator);
    entries.push(Entry::Item {
        item: TrayItem::OpenWindow,
        text: "Open FlyingDarkDevTunnel".into(),
        enabled: true,
    });
    entries.push(Entry::Item {
        item: TrayItem::OpenInspector,
        text: "Open inspector".into(),
        enabled: s.inspector_url.is_some(),
    });
    entries.push(Entry::Item {
        item: TrayItem::OpenConsole,
        text: "Open console".into(),
        enabled: true,
    });
    entries.push(Entry::Check {
        item: TrayItem::StartAtLogin,
        text: "Start at login".into(),
        enabled: true,
        checked: s.start_at_login,
    });
    entries.push(Entry::Separator);
    entries.push(Entry::Item {
        item: TrayItem::Quit,
        text: "Quit".into(),
        enabled: true,
    });
    let online = s
        .tunnels
        .iter()
        .filter(|t| t.state == TunnelState::Online)
        .count();
    let tooltip = match s.overall {
        Overall::Off => "FlyingDarkDevTunnel: no tunnel on".to_string(),
        Overall::Online => format!("FlyingDarkDevTunnel: {online} online"),
        Overall::Reconnecting => format!("FlyingDarkDevTunnel: {online} online, connecting…"),
        Overall::Error => "FlyingDarkDevTunnel: a tunnel failed".to_string(),
    };
    TrayModel {
        entries,
        overall: s.overall,
        tooltip,
    }
}

fn state_word(s: TunnelState) -> &'static str {
    match s {
        TunnelState::Off => "off",
        TunnelState::Connecting => "connecting…",
        TunnelState::Online => "online",
        TunnelState::Reconnecting => "reconnecting…",
        TunnelState::Error => "failed",
    }
}

/// Menus are one line: long errors are cut.
fn short(s: &str) -> String {
    const MAX: usize = 60;
    if s.chars().count() <= MAX {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(MAX).collect::<String>())
    }
}

/// The icon for an overall state (RGBA PNGs embedded at build time).
pub fn icon(o: Overall) -> &'static [u8] {
    match o {
        Overall::Off => include_bytes!("../icons/tray-off.png"),
        Overall::Online => include_bytes!("../icons/tray-online.png"),
        Overall::Reconnecting => include_bytes!("../icons/tray-reconnecting.png"),
        Overall::Error => include_bytes!("../icons/tray-error.png"),
    }
}

fn menu<R: Runtime>(app: &AppHandle<R>, m: &TrayModel) -> tauri::Result<Menu<R>> {
    let mut items: Vec<Box<dyn IsMenuItem<R>>> = vec![];
    for e in &m.entries {
        items.push(match e {
            Entry::Item {
                item,
                text,
                enabled,
            } => Box::new(MenuItem::with_id(
                app,
                item.id(),
                text,
                *enabled,
                None::<&str>,
            )?),
            Entry::Check {
                item,
                text,
                enabled,
                checked,
            } => Box::new(CheckMenuItem::with_id(
                app,
                item.id(),
                text,
                *enabled,
                *checked,
                None::<&str>,
            )?),
            Entry::Note(text) => Box::new(MenuItem::new(app, text, false, None::<&str>)?),
            Entry::Separator => Box::new(PredefinedMenuItem::separator(app)?),
        });
    }
    let refs: Vec<&dyn IsMenuItem<R>> = items.iter().map(|b| b.as_ref()).collect();
    Menu::with_items(app, &refs)
}

/// Creates the tray icon; clicks go to `on_click`.
pub fn create<R: Runtime>(
    app: &AppHandle<R>,
    m: &TrayModel,
    on_click: impl Fn(&AppHandle<R>, TrayItem) + Send + Sync + 'static,
) -> tauri::Result<TrayIcon<R>> {
    TrayIconBuilder::with_id(TRAY_ID)
        .icon(Image::from_bytes(icon(m.overall))?)
        .tooltip(&m.tooltip)
        .menu(&menu(app, m)?)
        .show_menu_on_left_click(true)
        .on_menu_event(move |app, ev| match TrayItem::parse(ev.id().as_ref()) {
            Some(item) => on_click(app, item),
            None => tracing::debug!(id = ?ev.id(), "click on an informational tray line"),
        })
        .build(app)
}

/// Shows a new model on the existing tray icon.
pub fn apply<R: Runtime>(app: &AppHandle<R>, m: &TrayModel) -> tauri::Result<()> {
    let Some(tray) = app.tray_by_id(TRAY_ID) else {
        return Ok(());
    };
    tray.set_menu(Some(menu(app, m)?))?;
    tray.set_icon(Some(Image::from_bytes(icon(m.overall))?))?;
    tray.set_tooltip(Some(&m.tooltip))?;
    Ok(())
}

#[cfg(test)]
mod tests;
