//! Feeds arbitrary bytes to the frame decoder, one-shot and through a chunked `FrameReader`,
//! and parses every complete frame as each message type.
//!
//! Besides "never panics", it checks that `Ok(None)` consumes nothing, that a decoded frame
//! consumes exactly its header and payload, and that any message the decoder accepts survives
//! being encoded again.
//!
//! The body of the `decode` fuzz target, shared with the stable replay test
//! (`relay/proto/tests/fuzz_replay.rs`), which includes this file with `#[path]`.

use bytes::BytesMut;
use fdt_proto::frame::{FrameReader, HEADER_LEN};
use fdt_proto::{ClientMessage, Frame, FrameKind, ServerMessage, StreamHeader};
use serde::{Serialize, de::DeserializeOwned};
use std::fmt::Debug;

const KINDS: [FrameKind; 3] = [
    FrameKind::Client,
    FrameKind::Server,
    FrameKind::StreamHeader,
];

/// One fuzz input; panics on a bug.
pub fn run(data: &[u8]) {
    let Some((&ctl, body)) = data.split_first() else {
        return;
    };

    let mut buf = BytesMut::from(body);
    loop {
        let before = buf.len();
        match Frame::decode(&mut buf) {
            Ok(None) => {
                assert_eq!(buf.len(), before, "Ok(None) consumed bytes");
                break;
            }
            Ok(Some(frame)) => {
                assert_eq!(before - buf.len(), HEADER_LEN + frame.payload.len());
                // Parse the payload as every type, whatever kind the header announced.
                let as_kind = |kind| Frame {
                    kind,
                    payload: frame.payload.clone(),
                };
                reencodes::<ClientMessage>(&as_kind(FrameKind::Client));
                reencodes::<ServerMessage>(&as_kind(FrameKind::Server));
                reencodes::<StreamHeader>(&as_kind(FrameKind::StreamHeader));
            }
            Err(_) => break,
        }
    }

    // The same bytes as a stream arriving in chunks of 1..=16 bytes.
    let chunk = usize::from(ctl % 16) + 1;
    let kind = KINDS[usize::from(ctl / 16) % 3];
    let mut reader = FrameReader::new();
    'stream: for c in body.chunks(chunk) {
        reader.push(c);
        loop {
            let got = match kind {
                FrameKind::Client => reader.next::<ClientMessage>(kind).map(|m| m.is_some()),
                FrameKind::Server => reader.next::<ServerMessage>(kind).map(|m| m.is_some()),
                FrameKind::StreamHeader => reader.next::<StreamHeader>(kind).map(|m| m.is_some()),
            };
            match got {
                Ok(true) => {}
                Ok(false) => break,
                // A decode error is fatal for the stream, as in the relay and agent.
                Err(_) => break 'stream,
            }
        }
    }
}

/// If `frame` parses as `T`, encoding that value again must give a frame that parses to it.
fn reencodes<T>(frame: &Frame)
where
    T: Serialize + DeserializeOwned + PartialEq + Debug,
{
    let Ok(value) = frame.parse::<T>(frame.kind) else {
        return;
    };
    let mut buf = BytesMut::new();
    // Filling in defaulted fields can grow a document past the limit; that is not a bug.
    if Frame::encode(frame.kind, &value, &mut buf).is_err() {
        return;
    }
    let again = Frame::decode(&mut buf)
        .expect("re-encoded frame decodes")
        .expect("re-encoded frame is complete");
    assert!(buf.is_empty());
    let back: T = again.parse(frame.kind).expect("re-encoded payload parses");
    assert_eq!(back, value);
}
