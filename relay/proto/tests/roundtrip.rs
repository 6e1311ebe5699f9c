//! Property tests of the frame codec: every message type survives encode → decode, streams of
//! frames decode the same whatever the chunking, and arbitrary bytes never make the decoder
//! panic or consume input it did not use.
#![allow(clippy::unwrap_used)]

use bytes::BytesMut;
use fdt_proto::frame::{FrameReader, HEADER_LEN};
use fdt_proto::{
    ClientMessage, DecodeError, EdgePolicy, ErrorCode, Frame, FrameKind, HeaderRules,
    MAX_FRAME_LEN, ManagedTunnel, Proto, ProtoError, ServerMessage, StreamHeader, TunnelId,
    TunnelSpec,
};
use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;
use serde::{Serialize, de::DeserializeOwned};
use std::fmt::Debug;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

// ----- strategies ----------------------------------------------------------------------------

/// Any string, including quotes, backslashes, control characters and non-ASCII text.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![".{0,24}", "[a-z0-9-]{1,20}", Just(String::new())]
}

fn dns_label() -> impl Strategy<Value = String> {
    "[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?"
}

fn header_name() -> impl Strategy<Value = String> {
    "[A-Za-z][A-Za-z0-9-]{0,20}"
}

fn proto() -> impl Strategy<Value = Proto> {
    prop_oneof![Just(Proto::Http), Just(Proto::Tcp), Just(Proto::Tls)]
}

fn ip_net() -> impl Strategy<Value = IpNet> {
    prop_oneof![
        (any::<u32>(), 0..=32u8)
            .prop_map(|(a, p)| IpNet::V4(Ipv4Net::new(Ipv4Addr::from(a), p).unwrap())),
        (any::<u128>(), 0..=128u8)
            .prop_map(|(a, p)| IpNet::V6(Ipv6Net::new(Ipv6Addr::from(a), p).unwrap())),
    ]
}

fn header_rules() -> impl Strategy<Value = HeaderRules> {
    (vec((header_name(), text()), 0..4), vec(header_name(), 0..4))
        .prop_map(|(add, remove)| HeaderRules { add, remove })
}

fn edge_policy() -> impl Strategy<Value = EdgePolicy> {
    (
        vec(
            ("[a-z]{1,8}", text()).prop_map(|(u, p)| format!("{u}:{p}")),
            0..3,
        ),
        vec(ip_net(), 0..4),
        vec(ip_net(), 0..4),
        header_rules(),
        header_rules(),
        option::of(text()),
    )
        .prop_map(
            |(
                basic_auth,
                cidr_allow,
                cidr_deny,
                request_headers,
                response_headers,
                host_header,
            )| {
                EdgePolicy {
                    basic_auth,
                    cidr_allow,
                    cidr_deny,
                    request_headers,
                    response_headers,
                    host_header,
                }
            },
        )
}

fn tunnel_spec() -> impl Strategy<Value = TunnelSpec> {
    (
        text(),
        proto(),
        option::of(dns_label()),
        option::of(any::<u16>()),
        edge_policy(),
        any::<bool>(),
    )
        .prop_map(
            |(name, proto, subdomain, remote_port, policy, pooling)| TunnelSpec {
                name,
                proto,
                subdomain,
                remote_port,
                policy,
                pooling,
                log_bodies: pooling,
            },
        )
}

fn error_code() -> impl Strategy<Value = ErrorCode> {
    proptest::sample::select(ErrorCode::ALL.to_vec())
}

fn proto_error() -> impl Strategy<Value = ProtoError> {
    (error_code(), text()).prop_map(|(code, message)| ProtoError { code, message })
}

fn tunnel_id() -> impl Strategy<Value = TunnelId> {
    any::<u64>().prop_map(TunnelId)
}

fn client_message() -> impl Strategy<Value = ClientMessage> {
    prop_oneof![
        (
            any::<u16>(),
            text(),
            text(),
            any::<bool>(),
            option::of(text()),
            any::<u8>()
        )
            .prop_map(|(version, token, agent, managed, ha_group, ha_replica)| {
                ClientMessage::Hello {
                    version,
                    token,
                    agent,
                    managed,
                    ha_group,
                    ha_replica,
                }
            }),
        (any::<u32>(), tunnel_spec()).prop_map(|(req, spec)| ClientMessage::Bind { req, spec }),
        tunnel_id().prop_map(|tunnel| ClientMessage::Unbind { tunnel }),
        any::<u64>().prop_map(|seq| ClientMessage::Heartbeat { seq }),
        (text(), option::of(any::<u16>()), option::of(text()))
            .prop_map(|(job, status, error)| ClientMessage::ReplayResult { job, status, error }),
    ]
}

fn replay_spec() -> impl Strategy<Value = fdt_proto::ReplaySpec> {
    (
        text(),
        text(),
        vec((text(), text()), 0..4),
        option::of(text()),
    )
        .prop_map(|(method, path, headers, body)| fdt_proto::ReplaySpec {
            method,
            path,
            headers,
            body,
        })
}

fn server_message() -> impl Strategy<Value = ServerMessage> {
    prop_oneof![
        (text(), any::<u32>(), any::<u32>()).prop_map(|(session, heartbeat_ms, max_streams)| {
            ServerMessage::Welcome {
                session,
                heartbeat_ms,
                max_streams,
            }
        }),
        (any::<u32>(), tunnel_id(), text()).prop_map(|(req, tunnel, public_url)| {
            ServerMessage::Bound {
                req,
                tunnel,
                public_url,
            }
        }),
        (any::<u32>(), proto_error())
            .prop_map(|(req, error)| ServerMessage::BindFailed { req, error }),
        any::<u64>().prop_map(|seq| ServerMessage::HeartbeatAck { seq }),
        proto_error().prop_map(|error| ServerMessage::Error { error }),
        (text(), any::<u32>()).prop_map(|(reason, retry_after_ms)| ServerMessage::GoingAway {
            reason,
            retry_after_ms
        }),
        text().prop_map(|reason| ServerMessage::Revoked { reason }),
        (tunnel_id(), text())
            .prop_map(|(tunnel, reason)| ServerMessage::Unbound { tunnel, reason }),
        (text(), tunnel_id(), replay_spec()).prop_map(|(job, tunnel, request)| {
            ServerMessage::Replay {
                job,
                tunnel,
                request,
            }
        }),
        (
            any::<u64>(),
            vec((text(), text(), any::<bool>(), text()), 0..4),
            any::<bool>()
        )
            .prop_map(|(version, defs, complete)| {
                let tunnels = defs
                    .into_iter()
                    .map(|(id, name, enabled, addr)| {
                        let mut config = serde_json::Map::new();
                        config.insert("addr".into(), addr.into());
                        ManagedTunnel {
                            id,
                            name,
                            enabled,
                            config,
                        }
                    })
                    .collect();
                ServerMessage::TunnelDefinitions {
                    version,
                    tunnels,
                    complete,
                }
            }),
    ]
}

/// Visitor addresses as a socket reports them. IPv6 flow info is not part of the text form
/// serde uses for `SocketAddr`, so it is left at zero (a relay never needs it).
fn socket_addr() -> impl Strategy<Value = SocketAddr> {
    prop_oneof![
        (any::<u32>(), any::<u16>())
            .prop_map(|(ip, port)| SocketAddr::V4(SocketAddrV4::new(ip.into(), port))),
        (
            any::<u128>(),
            any::<u16>(),
            prop_oneof![Just(0u32), any::<u32>()]
        )
            .prop_map(|(ip, port, scope)| SocketAddr::V6(SocketAddrV6::new(
                ip.into(),
                port,
                0,
                scope
            ))),
    ]
}

fn stream_header() -> impl Strategy<Value = StreamHeader> {
    (tunnel_id(), socket_addr(), proto(), option::of(text())).prop_map(
        |(tunnel, visitor, proto, sni)| StreamHeader {
            tunnel,
            visitor,
            proto,
            sni,
        },
    )
}

// ----- helpers -------------------------------------------------------------------------------

/// Encodes `value`, decodes it back and checks nothing was left over.
fn roundtrip<T>(kind: FrameKind, value: &T) -> T
where
    T: Serialize + DeserializeOwned,
{
    let mut buf = BytesMut::new();
    Frame::encode(kind, value, &mut buf).unwrap();
    let encoded_len = buf.len();
    let frame = Frame::decode(&mut buf).unwrap().unwrap();
    assert!(buf.is_empty(), "decode left bytes behind");
    assert_eq!(encoded_len, HEADER_LEN + frame.payload.len());
    frame.parse(kind).unwrap()
}

/// Feeds `bytes` to a reader in chunks of the given sizes (cycled), draining after each one.
fn read_chunked<T: DeserializeOwned>(kind: FrameKind, bytes: &[u8], chunks: &[usize]) -> Vec<T> {
    let mut reader = FrameReader::new();
    let mut out = Vec::new();
    let mut rest = bytes;
    for &n in chunks.iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let (chunk, tail) = rest.split_at(n.min(rest.len()));
        rest = tail;
        reader.push(chunk);
        while let Some(m) = reader.next(kind).unwrap() {
            out.push(m);
        }
    }
    assert!(reader.take_remaining().is_empty());
    out
}

fn encode_all<T: Serialize>(kind: FrameKind, values: &[T]) -> BytesMut {
    let mut buf = BytesMut::new();
    for v in values {
        Frame::encode(kind, v, &mut buf).unwrap();
    }
    buf
}

fn assert_roundtrips<T>(kind: FrameKind, value: &T)
where
    T: Serialize + DeserializeOwned + PartialEq + Debug,
{
    assert_eq!(&roundtrip(kind, value), value);
}

/// Arbitrary bytes, half of them behind a plausible header so the payload checks run too.
fn wire_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        vec(any::<u8>(), 0..64),
        (1..=3u8, 0..80u32, vec(any::<u8>(), 0..80)).prop_map(|(kind, len, body)| {
            let mut b = vec![1, kind];
            b.extend_from_slice(&len.to_be_bytes());
            b.extend(body);
            b
        }),
    ]
}

// ----- properties ----------------------------------------------------------------------------

proptest! {
    #[test]
    fn client_messages_roundtrip(m in client_message()) {
        assert_roundtrips(FrameKind::Client, &m);
    }

    #[test]
    fn server_messages_roundtrip(m in server_message()) {
        assert_roundtrips(FrameKind::Server, &m);
    }

    #[test]
    fn stream_headers_roundtrip(h in stream_header()) {
        assert_roundtrips(FrameKind::StreamHeader, &h);
    }

    #[test]
    fn tunnel_specs_and_policies_roundtrip(spec in tunnel_spec()) {
        // Specs travel inside Bind, but their JSON form is also what the agent API stores.
        assert_roundtrips(FrameKind::Client, &spec);
        assert_roundtrips(FrameKind::Client, &spec.policy);
    }

    #[test]
    fn client_stream_decodes_the_same_in_any_chunking(
        msgs in vec(client_message(), 1..12),
        chunks in vec(1..64usize, 1..8),
    ) {
        let bytes = encode_all(FrameKind::Client, &msgs);
        prop_assert_eq!(read_chunked::<ClientMessage>(FrameKind::Client, &bytes, &chunks), msgs);
    }

    #[test]
    fn server_stream_decodes_the_same_in_any_chunking(
        msgs in vec(server_message(), 1..12),
        chunks in vec(1..64usize, 1..8),
    ) {
        let bytes = encode_all(FrameKind::Server, &msgs);
        prop_assert_eq!(read_chunked::<ServerMessage>(FrameKind::Server, &bytes, &chunks), msgs);
    }

    #[test]
    fn stream_header_then_data_splits_exactly(
        h in stream_header(),
        data in vec(any::<u8>(), 0..200),
        chunks in vec(1..48usize, 1..6),
    ) {
        // How a data stream is read: one header frame, then the visitor's raw bytes.
        let mut bytes = encode_all(FrameKind::StreamHeader, std::slice::from_ref(&h)).to_vec();
        bytes.extend_from_slice(&data);
        let mut reader = FrameReader::new();
        let mut header = None;
        let mut rest: &[u8] = &bytes;
        for &n in chunks.iter().cycle() {
            if rest.is_empty() {
                break;
            }
            let (chunk, tail) = rest.split_at(n.min(rest.len()));
            rest = tail;
            reader.push(chunk);
            if header.is_none() {
                header = reader.next::<StreamHeader>(FrameKind::StreamHeader).unwrap();
            }
        }
        prop_assert_eq!(header, Some(h));
        prop_assert_eq!(reader.take_remaining().to_vec(), data);
    }

    #[test]
    fn decode_never_panics_and_consumes_only_whole_frames(bytes in wire_bytes()) {
        let mut buf = BytesMut::from(&bytes[..]);
        match Frame::decode(&mut buf) {
            Ok(None) => prop_assert_eq!(&buf[..], &bytes[..], "Ok(None) consumed bytes"),
            Ok(Some(f)) => {
                prop_assert_eq!(buf.len() + HEADER_LEN + f.payload.len(), bytes.len());
                prop_assert_eq!(&f.payload[..], &bytes[HEADER_LEN..HEADER_LEN + f.payload.len()]);
                // Whatever the payload, parsing it is an error at worst.
                let _ = f.parse::<ClientMessage>(FrameKind::Client);
                let _ = f.parse::<ServerMessage>(FrameKind::Server);
                let _ = f.parse::<StreamHeader>(FrameKind::StreamHeader);
            }
            Err(_) => {}
        }
    }

    #[test]
    fn every_prefix_of_a_frame_waits_without_consuming(m in server_message(), extra in 0..3usize) {
        let full = encode_all(FrameKind::Server, &[m]);
        let cut = full.len().saturating_sub(1 + extra);
        let mut buf = BytesMut::from(&full[..cut]);
        prop_assert_eq!(Frame::decode(&mut buf), Ok(None));
        prop_assert_eq!(buf.len(), cut);
    }
}

// ----- fixed cases ---------------------------------------------------------------------------

#[test]
fn frame_of_exactly_max_len_is_accepted_and_one_more_is_not() {
    // A JSON string of n bytes is n + 2 bytes with its quotes.
    let fits = "x".repeat(MAX_FRAME_LEN - 2);
    assert_eq!(roundtrip(FrameKind::Client, &fits), fits);
    let too_big = "x".repeat(MAX_FRAME_LEN - 1);
    assert_eq!(
        Frame::to_bytes(FrameKind::Client, &too_big),
        Err(DecodeError::TooLarge(MAX_FRAME_LEN + 1))
    );
}

#[test]
fn unknown_error_code_and_unknown_fields_are_tolerated() {
    // Forward compatibility: a newer relay may add codes and fields.
    let json = br#"{"type":"bind_failed","req":7,"new_field":[1,2],
        "error":{"code":"quota_exhausted","message":"m","hint":"x"}}"#;
    let mut buf = BytesMut::new();
    buf.extend_from_slice(&[1, FrameKind::Server as u8]);
    buf.extend_from_slice(&(json.len() as u32).to_be_bytes());
    buf.extend_from_slice(json);
    let frame = Frame::decode(&mut buf).unwrap().unwrap();
    let msg: ServerMessage = frame.parse(FrameKind::Server).unwrap();
    assert_eq!(
        msg,
        ServerMessage::BindFailed {
            req: 7,
            error: ProtoError::new(ErrorCode::Unknown, "m"),
        }
    );
}

#[test]
fn spec_with_only_required_fields_gets_defaults() {
    let spec: TunnelSpec = serde_json::from_str(r#"{"name":"web","proto":"http"}"#).unwrap();
    assert_eq!(spec.subdomain, None);
    assert_eq!(spec.remote_port, None);
    assert_eq!(spec.policy, EdgePolicy::default());
    assert!(!spec.pooling);
}
