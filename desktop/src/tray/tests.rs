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
