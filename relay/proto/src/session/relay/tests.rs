//! The relay session's own unit tests (the session harness covers the rest).

use super::*;
use crate::MAX_FRAME_LEN;

#[test]
fn definitions_are_split_into_parts_that_fit_a_frame() {
    let now = Instant::now();
    let mut relay = RelaySession::new(now, Timing::default(), "s".into(), 8, 8);
    relay.handle_message(
        now,
        ClientMessage::Hello {
            version: PROTOCOL_VERSION,
            token: "t".into(),
            agent: "a".into(),
            managed: true,
            ha_group: None,
            ha_replica: 0,
        },
    );
    relay.accept();
    let _welcome = relay.poll_transmit();
    let tunnels: Vec<ManagedTunnel> = (0..60)
        .map(|i| {
            let mut config = serde_json::Map::new();
            config.insert("addr".into(), "8".repeat(2000).into());
            ManagedTunnel {
                id: format!("tcf_{i}"),
                name: format!("t{i}"),
                enabled: true,
                config,
            }
        })
        .collect();
    assert_eq!(relay.definitions(3, tunnels.clone()), 0);
    let mut parts = Vec::new();
    while let Some(msg) = relay.poll_transmit() {
        let mut buf = BytesMut::new();
        assert!(Frame::encode(FrameKind::Server, &msg, &mut buf).is_ok());
        assert!(buf.len() <= MAX_FRAME_LEN);
        parts.push(msg);
    }
    assert!(parts.len() >= 3, "{} parts", parts.len());
    let mut got = Vec::new();
    for (i, p) in parts.iter().enumerate() {
        match p {
            ServerMessage::TunnelDefinitions {
                version: 3,
                tunnels,
                complete,
            } => {
                assert_eq!(*complete, i == parts.len() - 1);
                got.extend(tunnels.iter().cloned());
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(got, tunnels);
}

#[test]
fn a_replica_group_is_passed_on_only_when_well_formed() {
    let hello_as = |group: &str, replica: u8| ClientMessage::Hello {
        version: PROTOCOL_VERSION,
        token: "t".into(),
        agent: "a".into(),
        managed: false,
        ha_group: Some(group.into()),
        ha_replica: replica,
    };
    let hello = |group: &str| hello_as(group, 1);
    let now = Instant::now();
    let mut relay = RelaySession::new(now, Timing::default(), "s".into(), 8, 8);
    relay.handle_message(now, hello("grpAAAA1"));
    match relay.poll_event() {
        Some(RelayEvent::Authenticate { ha_group, .. }) => {
            assert_eq!(ha_group, Some(("grpAAAA1".to_owned(), 1)));
        }
        other => panic!("{other:?}"),
    }
    let third = hello_as("grpAAAA1", 2);
    for bad in [
        hello("short"),
        hello("with space!"),
        hello(&"g".repeat(33)),
        third,
    ] {
        let mut relay = RelaySession::new(now, Timing::default(), "s".into(), 8, 8);
        relay.handle_message(now, bad.clone());
        assert!(
            matches!(relay.state(), RelayState::Closed(_)),
            "{bad:?} accepted"
        );
    }
}
