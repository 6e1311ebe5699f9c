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
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use fdt_desktop_ipc::{AccountView, TunnelInput, TunnelView};

    fn tunnel(id: &str, enabled: bool, state: TunnelState, url: Option<&str>) -> TunnelView {
        TunnelView {
            id: id.into(),
            def: TunnelInput {
                name: format!("n{id}"),
                proto: "http".into(),
                addr: "3000".into(),
                ..Default::default()
            },
            enabled,
            state,
            public_url: url.map(Into::into),
            error: None,
        }
    }

    fn signed_in(tunnels: Vec<TunnelView>) -> DesktopState {
        DesktopState {
            account: Some(AccountView {
                email: None,
                authtoken_hint: "fdt_x…".into(),
                stored_in: "file".into(),
                has_api_session: false,
            }),
            overall: Overall::of(tunnels.iter().map(|t| &t.state)),
            tunnels,
            inspector_url: Some("http://127.0.0.1:4040".into()),
            ..Default::default()
        }
    }

    #[test]
    fn every_item_id_round_trips() {
        let items = [
            TrayItem::Toggle("t1".into()),
            TrayItem::CopyUrl("t12".into()),
            TrayItem::OpenWindow,
            TrayItem::OpenInspector,
            TrayItem::OpenConsole,
            TrayItem::StartAtLogin,
            TrayItem::Quit,
        ];
        for i in items {
            assert_eq!(TrayItem::parse(&i.id()), Some(i.clone()));
        }
        assert_eq!(TrayItem::parse("nonsense"), None);
    }

    #[test]
    fn the_menu_follows_tunnels_going_online_and_offline() {
        let off = model(&signed_in(vec![tunnel(
            "t1",
            false,
            TunnelState::Off,
            None,
        )]));
        assert_eq!(off.overall, Overall::Off);
        assert!(matches!(
            &off.entries[0],
            Entry::Check {
                checked: false,
                enabled: true,
                ..
            }
        ));
        assert!(!off.entries.iter().any(|e| matches!(
            e,
            Entry::Item {
                item: TrayItem::CopyUrl(_),
                ..
            }
        )));

        let connecting = model(&signed_in(vec![tunnel(
            "t1",
            true,
            TunnelState::Connecting,
            None,
        )]));
        assert_eq!(connecting.overall, Overall::Reconnecting);
        assert_eq!(connecting.entries[1], Entry::Note("    connecting…".into()));

        let online = model(&signed_in(vec![
            tunnel("t1", true, TunnelState::Online, Some("https://a.example")),
            tunnel("t2", false, TunnelState::Off, None),
        ]));
        assert_eq!(online.overall, Overall::Online);
        assert_eq!(
            online.entries[1],
            Entry::Item {
                item: TrayItem::CopyUrl("t1".into()),
                text: "    Copy https://a.example".into(),
                enabled: true
            }
        );
        assert_eq!(online.tooltip, "FlyingDarkDevTunnel: 1 online");

        let mut failed = tunnel("t1", true, TunnelState::Error, None);
        failed.error = Some("x".repeat(200));
        let failed = model(&signed_in(vec![failed]));
        assert_eq!(failed.overall, Overall::Error);
        let Entry::Note(text) = &failed.entries[1] else {
            panic!("{:?}", failed.entries)
        };
        assert!(
            text.starts_with("    failed: xxx") && text.chars().count() < 80,
            "{text}"
        );
    }

    #[test]
    fn signed_out_tunnels_cannot_be_switched() {
        let mut s = signed_in(vec![tunnel("t1", false, TunnelState::Off, None)]);
        s.account = None;
        let m = model(&s);
        assert!(matches!(&m.entries[0], Entry::Note(t) if t.contains("sign in")));
        assert!(matches!(&m.entries[1], Entry::Check { enabled: false, .. }));
    }

    #[test]
    fn icons_are_rgba_pngs() {
        for o in [
            Overall::Off,
            Overall::Online,
            Overall::Reconnecting,
            Overall::Error,
        ] {
            let bytes = icon(o);
            assert_eq!(&bytes[1..4], b"PNG");
            // IHDR colour type 6 = RGBA.
            assert_eq!(bytes[25], 6, "{o:?}");
        }
    }
}
