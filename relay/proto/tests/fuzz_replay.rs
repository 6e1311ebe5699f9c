//! The fuzz targets' bodies on the stable toolchain: every committed seed under
//! `fuzz/seeds/<target>/`, then 10,000 proptest inputs per test (arbitrary bytes, and seeds with
//! bytes overwritten and cut short), go through the very functions `cargo fuzz` calls. Their
//! checks are the fuzz targets' own assertions; a failing input is a bug to keep as a seed.
//!
//! `cargo test -p fdt-proto --test fuzz_replay -- --ignored write_seeds` rewrites the seeds
//! (after a protocol change); cargo-fuzz takes them as an extra corpus directory.

#![allow(clippy::unwrap_used)]

#[path = "../fuzz/entry/decode.rs"]
mod decode;
#[path = "../fuzz/entry/session.rs"]
mod session;

use bytes::BytesMut;
use fdt_proto::{
    ClientMessage, ErrorCode, Frame, FrameKind, MAX_FRAME_LEN, ManagedTunnel, PROTOCOL_VERSION,
    Proto, ProtoError, ServerMessage, StreamHeader, TunnelId, TunnelSpec,
};
use proptest::collection::vec;
use proptest::prelude::*;
use std::path::PathBuf;

/// A fuzz target's body.
type Entry = fn(&[u8]);

/// The fuzz targets: name (its seed directory) and body.
const TARGETS: [(&str, Entry); 2] = [("decode", decode::run), ("session", session::run)];

fn seed_dir(target: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/seeds")
        .join(target)
}

// ----- seeds ---------------------------------------------------------------------------------

fn frame<T: serde::Serialize>(kind: FrameKind, value: &T) -> Vec<u8> {
    Frame::to_bytes(kind, value).unwrap().to_vec()
}

fn client(m: &ClientMessage) -> Vec<u8> {
    frame(FrameKind::Client, m)
}

fn hello() -> ClientMessage {
    ClientMessage::Hello {
        version: PROTOCOL_VERSION,
        token: "eyJhbGciOiJFZERTQSJ9.e30.c2ln".into(),
        agent: "fdt/0.1.0".into(),
        managed: false,
        ha_group: None,
        ha_replica: 0,
    }
}

fn managed_hello() -> ClientMessage {
    match hello() {
        ClientMessage::Hello {
            version,
            token,
            agent,
            ..
        } => ClientMessage::Hello {
            version,
            token,
            agent,
            managed: true,
            ha_group: None,
            ha_replica: 0,
        },
        other => other,
    }
}

fn bind(req: u32, name: &str) -> ClientMessage {
    let spec: TunnelSpec =
        serde_json::from_str(&format!(r#"{{"name":"{name}","proto":"http"}}"#)).unwrap();
    ClientMessage::Bind { req, spec }
}

fn server_messages() -> Vec<u8> {
    let msgs = [
        ServerMessage::Welcome {
            session: "s1".into(),
            heartbeat_ms: 10_000,
            max_streams: 4_000,
        },
        ServerMessage::Bound {
            req: 1,
            tunnel: TunnelId(7),
            public_url: "https://web.example.com".into(),
        },
        ServerMessage::BindFailed {
            req: 2,
            error: ProtoError::new(ErrorCode::NameInUse, "taken"),
        },
        ServerMessage::HeartbeatAck { seq: 3 },
        ServerMessage::GoingAway {
            reason: "restart".into(),
            retry_after_ms: 500,
        },
        ServerMessage::TunnelDefinitions {
            version: 4,
            tunnels: vec![ManagedTunnel {
                id: "tcf_1".into(),
                name: "web".into(),
                enabled: true,
                config: serde_json::from_str(r#"{"proto":"http","addr":"8080"}"#).unwrap(),
            }],
            complete: true,
        },
    ];
    msgs.iter()
        .flat_map(|m| frame(FrameKind::Server, m))
        .collect()
}

/// A frame header announcing `len` payload bytes of `kind`, with `version`.
fn header(version: u8, kind: u8, len: u32) -> Vec<u8> {
    let mut h = vec![version, kind];
    h.extend_from_slice(&len.to_be_bytes());
    h
}

/// Decode seeds: a control byte (chunk size and message type of the streaming pass) + frames.
fn decode_seeds() -> Vec<(&'static str, Vec<u8>)> {
    let hello = client(&hello());
    let version = hello[0];
    let with = |ctl: u8, body: Vec<u8>| [vec![ctl], body].concat();
    let stream_header = StreamHeader {
        tunnel: TunnelId(1),
        visitor: "203.0.113.9:51000".parse().unwrap(),
        proto: Proto::Tls,
        sni: Some("web.example.com".into()),
    };
    vec![
        ("empty", vec![]),
        ("hello", with(0x00, hello.clone())),
        (
            "client_session",
            with(
                0x03,
                [
                    hello.clone(),
                    client(&bind(1, "web")),
                    client(&ClientMessage::Heartbeat { seq: 1 }),
                    client(&ClientMessage::Unbind {
                        tunnel: TunnelId(1),
                    }),
                ]
                .concat(),
            ),
        ),
        ("server_messages", with(0x17, server_messages())),
        (
            "stream_header",
            with(0x2f, frame(FrameKind::StreamHeader, &stream_header)),
        ),
        ("truncated_header", with(0x00, hello[..3].to_vec())),
        (
            "truncated_payload",
            with(0x01, hello[..hello.len() - 1].to_vec()),
        ),
        (
            "too_large",
            with(0x00, header(version, hello[1], MAX_FRAME_LEN as u32 + 1)),
        ),
        ("unknown_kind", with(0x00, header(version, 0xff, 0))),
        (
            "bad_version",
            with(0x00, header(version ^ 0xff, hello[1], 0)),
        ),
        (
            "malformed_json",
            with(0x00, [header(version, hello[1], 1), b"{".to_vec()].concat()),
        ),
        (
            "wrong_kind",
            with(0x10, hello.clone()), // a client frame read as server messages
        ),
    ]
}

/// A session program: op bytes (`fuzz/entry/session.rs`), frames fed in pieces of ≤255 bytes.
#[derive(Default)]
struct Program(Vec<u8>);

impl Program {
    fn feed(mut self, bytes: &[u8]) -> Self {
        for piece in bytes.chunks(255) {
            self.0.push(1);
            self.0.push(piece.len() as u8);
            self.0.extend_from_slice(piece);
        }
        self
    }
    fn send(self, m: &ClientMessage) -> Self {
        self.feed(&client(m))
    }
    /// Operand bytes of the previous op.
    fn feed_raw(mut self, bytes: &[u8]) -> Self {
        self.0.extend_from_slice(bytes);
        self
    }
    fn op(mut self, op: u8) -> Self {
        self.0.push(op);
        self
    }
    /// Advances the clock by `quarters` × 250 ms.
    fn wait(mut self, quarters: u8) -> Self {
        self.0.extend_from_slice(&[0, quarters]);
        self
    }
}

const ACCEPT: u8 = 2;
const REJECT: u8 = 3;
const BOUND: u8 = 4;
const BIND_FAILED: u8 = 5;
const GOING_AWAY: u8 = 6;
const REVOKE: u8 = 7;
const DEFINITIONS: u8 = 8;

fn session_seeds() -> Vec<(&'static str, Vec<u8>)> {
    let start = || Program::default().send(&hello()).op(ACCEPT);
    vec![
        (
            "bind_heartbeat_unbind",
            start()
                .send(&bind(1, "web"))
                .op(BOUND)
                .send(&ClientMessage::Heartbeat { seq: 1 })
                .wait(40)
                .send(&ClientMessage::Unbind {
                    tunnel: TunnelId(1),
                })
                .op(GOING_AWAY)
                .0,
        ),
        ("rejected", Program::default().send(&hello()).op(REJECT).0),
        ("idle_timeout", start().wait(255).wait(255).0),
        (
            "tunnel_limit",
            (1..=4)
                .fold(start(), |p, i| p.send(&bind(i, &format!("t{i}"))).op(BOUND))
                .0,
        ),
        (
            "two_binds_answered_late",
            start()
                .send(&bind(1, "a"))
                .send(&bind(2, "b"))
                .op(BIND_FAILED)
                .op(BOUND)
                .0,
        ),
        (
            "bind_failed_then_revoked",
            start().send(&bind(9, "web")).op(BIND_FAILED).op(REVOKE).0,
        ),
        (
            "bind_before_hello",
            Program::default().send(&bind(1, "web")).0,
        ),
        (
            "no_hello_in_time",
            Program::default().wait(60).send(&hello()).0,
        ),
        (
            "garbage_after_hello",
            start().feed(b"\x01\x01\x00\x00\x00\x02{}").0,
        ),
        (
            "managed_definitions",
            Program::default()
                .send(&managed_hello())
                .op(ACCEPT)
                // 6 definitions of 20 KiB: three parts; then 2 of 60 KiB: left out.
                .op(DEFINITIONS)
                .feed_raw(&[6, 220])
                .op(DEFINITIONS)
                .feed_raw(&[2, 255])
                .0,
        ),
        (
            "replay_result",
            start()
                .send(&ClientMessage::ReplayResult {
                    job: "j1".into(),
                    status: Some(200),
                    error: None,
                })
                .0,
        ),
    ]
}

fn seeds(target: &str) -> Vec<(&'static str, Vec<u8>)> {
    match target {
        "decode" => decode_seeds(),
        "session" => session_seeds(),
        _ => unreachable!("no target {target}"),
    }
}

// ----- replay --------------------------------------------------------------------------------

#[test]
fn committed_seeds_replay_without_panicking() {
    for (target, run) in TARGETS {
        let dir = seed_dir(target);
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        assert!(
            files.len() >= seeds(target).len(),
            "{}: fewer seeds than the test makes; run write_seeds",
            dir.display()
        );
        for f in files {
            let data = std::fs::read(&f).unwrap();
            // Name the input if it panics.
            eprintln!("{target}: {}", f.display());
            run(&data);
        }
    }
}

#[test]
fn generated_seeds_replay_without_panicking() {
    for (target, run) in TARGETS {
        for (_, data) in seeds(target) {
            run(&data);
        }
    }
}

/// Rewrites `fuzz/seeds/` from the seeds above.
#[test]
#[ignore = "writes files; run by hand after a protocol change"]
fn write_seeds() {
    for (target, _) in TARGETS {
        let dir = seed_dir(target);
        std::fs::create_dir_all(&dir).unwrap();
        for (name, data) in seeds(target) {
            std::fs::write(dir.join(name), data).unwrap();
        }
    }
}

/// A seed of `target` with some bytes overwritten and maybe cut short: nearly valid input, which
/// reaches deeper than random bytes (those rarely get past a frame header).
fn mutated_seed(target: &'static str) -> impl Strategy<Value = Vec<u8>> {
    let seeds: Vec<Vec<u8>> = seeds(target)
        .into_iter()
        .map(|(_, d)| d)
        .filter(|d| !d.is_empty())
        .collect();
    (
        proptest::sample::select(seeds),
        vec((any::<prop::sample::Index>(), any::<u8>()), 0..6),
        any::<prop::sample::Index>(),
        any::<bool>(),
    )
        .prop_map(|(mut data, edits, cut, truncate)| {
            for (at, byte) in edits {
                let i = at.index(data.len());
                data[i] = byte;
            }
            if truncate {
                data.truncate(cut.index(data.len() + 1));
            }
            data
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(10_000))]

    #[test]
    fn decode_survives_arbitrary_bytes(data in vec(any::<u8>(), 0..600)) {
        decode::run(&data);
    }

    #[test]
    fn decode_survives_mutated_seeds(data in mutated_seed("decode")) {
        decode::run(&data);
    }

    #[test]
    fn session_survives_arbitrary_programs(data in vec(any::<u8>(), 0..600)) {
        session::run(&data);
    }

    #[test]
    fn session_survives_mutated_seeds(data in mutated_seed("session")) {
        session::run(&data);
    }
}

#[test]
fn seeds_are_well_formed() {
    // The valid seeds really are valid, so the replay above starts from real traffic.
    let (_, hello) = &decode_seeds()[1];
    let mut buf = BytesMut::from(&hello[1..]);
    let f = Frame::decode(&mut buf).unwrap().unwrap();
    assert_eq!(
        f.parse::<ClientMessage>(FrameKind::Client).unwrap(),
        self::hello()
    );
}
