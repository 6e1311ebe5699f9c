//! Length-limited, versioned frames.
//!
//! Layout: `version: u8 | kind: u8 | len: u32 (big endian) | payload: len bytes`. The payload
//! is a JSON document of the type named by `kind`. JSON keeps the control protocol easy to
//! evolve (unknown fields are ignored, new enum variants fall back to `Unknown`) and it is only
//! used for low-rate control traffic and one small header per data stream; bulk bytes never
//! pass through this codec.

use bytes::{Buf, BufMut, BytesMut};
use serde::{Serialize, de::DeserializeOwned};

/// Version byte written at the start of every frame.
pub const FRAME_VERSION: u8 = 1;
/// Size of the fixed frame header in bytes.
pub const HEADER_LEN: usize = 6;
/// Largest payload accepted by the decoder (64 KiB); larger frames are a protocol error.
pub const MAX_FRAME_LEN: usize = 64 * 1024;

/// What a frame's payload holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameKind {
    /// A [`crate::ClientMessage`] (agent → relay, control stream).
    Client = 1,
    /// A [`crate::ServerMessage`] (relay → agent, control stream).
    Server = 2,
    /// A [`crate::StreamHeader`] (relay → agent, first frame of a data stream).
    StreamHeader = 3,
}

impl FrameKind {
    fn from_u8(v: u8) -> Option<Self> {
        match v {
            1 => Some(Self::Client),
            2 => Some(Self::Server),
            3 => Some(Self::StreamHeader),
            _ => None,
        }
    }
}

/// Why a byte sequence is not a valid frame. Every variant is fatal for the stream it came on.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecodeError {
    /// The version byte is not one this crate speaks.
    #[error("unsupported frame version {0}")]
    UnsupportedVersion(u8),
    /// The kind byte names no known payload type.
    #[error("unknown frame kind {0}")]
    UnknownKind(u8),
    /// The frame has a different kind than the reader expected at this point.
    #[error("unexpected frame kind {got:?}, expected {expected:?}")]
    UnexpectedKind {
        /// Kind found on the wire.
        got: FrameKind,
        /// Kind the caller asked for.
        expected: FrameKind,
    },
    /// The announced payload length exceeds [`MAX_FRAME_LEN`].
    #[error("frame of {0} bytes exceeds the {MAX_FRAME_LEN} byte limit")]
    TooLarge(usize),
    /// The payload is not a valid document of the announced kind.
    #[error("malformed frame payload: {0}")]
    Malformed(String),
}

/// One decoded frame: its kind and its raw payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// The payload type.
    pub kind: FrameKind,
    /// The JSON payload.
    pub payload: BytesMut,
}

impl Frame {
    /// Serialises `value` as a frame of `kind` appended to `dst`.
    ///
    /// Fails only if the encoded payload would exceed [`MAX_FRAME_LEN`], which callers treat as
    /// a bug in what they tried to send (e.g. an absurdly long header rule list).
    pub fn encode<T: Serialize>(
        kind: FrameKind,
        value: &T,
        dst: &mut BytesMut,
    ) -> Result<(), DecodeError> {
        let payload =
            serde_json::to_vec(value).map_err(|e| DecodeError::Malformed(e.to_string()))?;
        if payload.len() > MAX_FRAME_LEN {
            return Err(DecodeError::TooLarge(payload.len()));
        }
        dst.reserve(HEADER_LEN + payload.len());
        dst.put_u8(FRAME_VERSION);
        dst.put_u8(kind as u8);
        // Cannot truncate: bounded by MAX_FRAME_LEN above.
        dst.put_u32(payload.len() as u32);
        dst.put_slice(&payload);
        Ok(())
    }

    /// Encodes `value` into a fresh buffer.
    pub fn to_bytes<T: Serialize>(kind: FrameKind, value: &T) -> Result<BytesMut, DecodeError> {
        let mut b = BytesMut::new();
        Self::encode(kind, value, &mut b)?;
        Ok(b)
    }

    /// Tries to split one complete frame off the front of `src`.
    ///
    /// Returns `Ok(None)` when more bytes are needed (nothing is consumed), and an error as soon
    /// as the header shows the frame can never be valid, without waiting for its payload.
    pub fn decode(src: &mut BytesMut) -> Result<Option<Frame>, DecodeError> {
        let Some(len) = Self::check(src)? else {
            return Ok(None);
        };
        let kind = FrameKind::from_u8(src[1]).ok_or(DecodeError::UnknownKind(src[1]))?;
        src.advance(HEADER_LEN);
        let payload = src.split_to(len);
        Ok(Some(Frame { kind, payload }))
    }

    /// Validates the header at the front of `src`; returns the payload length once the whole
    /// frame is buffered.
    fn check(src: &[u8]) -> Result<Option<usize>, DecodeError> {
        if let Some(&v) = src.first()
            && v != FRAME_VERSION
        {
            return Err(DecodeError::UnsupportedVersion(v));
        }
        if let Some(&k) = src.get(1)
            && FrameKind::from_u8(k).is_none()
        {
            return Err(DecodeError::UnknownKind(k));
        }
        if src.len() < HEADER_LEN {
            return Ok(None);
        }
        let len = u32::from_be_bytes([src[2], src[3], src[4], src[5]]) as usize;
        if len > MAX_FRAME_LEN {
            return Err(DecodeError::TooLarge(len));
        }
        if src.len() < HEADER_LEN + len {
            return Ok(None);
        }
        Ok(Some(len))
    }

    /// Parses the payload as `T`, checking that the frame is of the `expected` kind.
    pub fn parse<T: DeserializeOwned>(&self, expected: FrameKind) -> Result<T, DecodeError> {
        if self.kind != expected {
            return Err(DecodeError::UnexpectedKind {
                got: self.kind,
                expected,
            });
        }
        serde_json::from_slice(&self.payload).map_err(|e| DecodeError::Malformed(e.to_string()))
    }
}

/// Incremental decoder for a byte stream of frames of one kind.
#[derive(Debug, Default)]
pub struct FrameReader {
    buf: BytesMut,
}

impl FrameReader {
    /// Creates an empty reader.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends bytes read from the transport.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Returns the next complete message of kind `expected`, if one is buffered.
    pub fn next<T: DeserializeOwned>(
        &mut self,
        expected: FrameKind,
    ) -> Result<Option<T>, DecodeError> {
        match Frame::decode(&mut self.buf)? {
            Some(f) => f.parse(expected).map(Some),
            None => Ok(None),
        }
    }

    /// Bytes buffered but not yet decoded (e.g. data that followed a stream header).
    pub fn take_remaining(&mut self) -> BytesMut {
        self.buf.split()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_header_waits_for_more() {
        let full = Frame::to_bytes(FrameKind::Client, &"hi").expect("encode");
        for cut in 0..full.len() {
            let mut b = BytesMut::from(&full[..cut]);
            assert_eq!(Frame::decode(&mut b), Ok(None), "cut at {cut}");
            assert_eq!(b.len(), cut, "nothing consumed");
        }
        let mut b = full.clone();
        let f = Frame::decode(&mut b).expect("ok").expect("complete");
        assert_eq!(f.parse::<String>(FrameKind::Client), Ok("hi".to_string()));
        assert!(b.is_empty());
    }

    #[test]
    fn oversized_length_rejected_before_payload_arrives() {
        let mut b = BytesMut::from(&[FRAME_VERSION, 1, 0, 1, 0, 1][..]);
        assert_eq!(
            Frame::decode(&mut b),
            Err(DecodeError::TooLarge(MAX_FRAME_LEN + 1))
        );
    }

    #[test]
    fn wrong_version_and_kind_rejected_on_first_bytes() {
        assert_eq!(
            Frame::decode(&mut BytesMut::from(&[9u8][..])),
            Err(DecodeError::UnsupportedVersion(9))
        );
        assert_eq!(
            Frame::decode(&mut BytesMut::from(&[FRAME_VERSION, 77][..])),
            Err(DecodeError::UnknownKind(77))
        );
    }

    #[test]
    fn kind_mismatch_is_an_error() {
        let mut b = Frame::to_bytes(FrameKind::Server, &1u8).expect("encode");
        let f = Frame::decode(&mut b).expect("ok").expect("complete");
        assert!(matches!(
            f.parse::<u8>(FrameKind::Client),
            Err(DecodeError::UnexpectedKind { .. })
        ));
    }

    #[test]
    fn encode_refuses_oversized_payload() {
        let big = "x".repeat(MAX_FRAME_LEN + 10);
        assert!(matches!(
            Frame::to_bytes(FrameKind::Client, &big),
            Err(DecodeError::TooLarge(_))
        ));
    }
}
