//! A passive, incremental WebSocket frame reader for the capture. It watches the bytes of an
//! upgraded connection as they are copied (it never holds up the copy) and reports each frame
//! with its payload cut at the capture cap.
//!
//! Hand-written rather than tungstenite's reader: that one owns the stream and buffers whole
//! frames (up to its 16 MiB limit); the capture must see arbitrary slices, keep at most the
//! cap, and give up silently on anything malformed instead of failing the copy.

use super::model::{CapturedBody, TimelineKind};

/// One frame seen on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WsFrame {
    /// What it is.
    pub kind: TimelineKind,
    /// Payload (unmasked, capped) and its full size.
    pub payload: CapturedBody,
}

/// Incremental frame reader for one direction of a connection.
#[derive(Debug, Default)]
pub struct WsReader {
    head: Vec<u8>,
    /// The frame whose payload is being read: kind, mask, bytes left, payload so far.
    current: Option<(TimelineKind, Option<[u8; 4]>, u64, CapturedBody)>,
    /// Set on a malformed or unknown frame: the rest of the stream is not parsed.
    broken: bool,
}

fn kind_of(opcode: u8) -> Option<TimelineKind> {
    Some(match opcode {
        0 => TimelineKind::Continuation,
        1 => TimelineKind::Text,
        2 => TimelineKind::Binary,
        8 => TimelineKind::Close,
        9 => TimelineKind::Ping,
        10 => TimelineKind::Pong,
        _ => return None,
    })
}

/// Length of a frame header given its first two bytes.
fn head_len(b1: u8) -> usize {
    let ext = match b1 & 0x7f {
        126 => 2,
        127 => 8,
        _ => 0,
    };
    2 + ext + if b1 & 0x80 != 0 { 4 } else { 0 }
}

impl WsReader {
    /// Feeds bytes seen on the wire; calls `out` for every frame completed by them.
    pub fn feed(&mut self, mut data: &[u8], cap: usize, out: &mut impl FnMut(WsFrame)) {
        while !data.is_empty() && !self.broken {
            if let Some((kind, mask, left, body)) = &mut self.current {
                let n = usize::try_from(*left).unwrap_or(usize::MAX).min(data.len());
                let offset = body.size;
                let chunk = &data[..n];
                match mask {
                    Some(m) => {
                        let keep = cap.saturating_sub(body.data.len()).min(n);
                        let unmasked: Vec<u8> = chunk[..keep]
                            .iter()
                            .enumerate()
                            .map(|(i, b)| b ^ m[((offset as usize) + i) % 4])
                            .collect();
                        body.push(&unmasked, cap);
                        // Count the bytes past the cap without copying them.
                        body.size += (n - keep) as u64;
                        body.truncated |= keep < n;
                    }
                    None => body.push(chunk, cap),
                }
                *left -= n as u64;
                data = &data[n..];
                if *left == 0 {
                    let kind = *kind;
                    if let Some((_, _, _, payload)) = self.current.take() {
                        out(WsFrame { kind, payload });
                    }
                }
                continue;
            }
            // Collect the header: 2 bytes, then however many the length and mask need.
            let need = if self.head.len() < 2 {
                2
            } else {
                head_len(self.head[1])
            };
            let take = (need - self.head.len()).min(data.len());
            self.head.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.head.len() < 2 || self.head.len() < head_len(self.head[1]) {
                continue;
            }
            self.start_frame(out);
        }
    }

    fn start_frame(&mut self, out: &mut impl FnMut(WsFrame)) {
        let h = std::mem::take(&mut self.head);
        let Some(kind) = kind_of(h[0] & 0x0f) else {
            self.broken = true;
            return;
        };
        let (len, rest) = match h[1] & 0x7f {
            126 => (u64::from(u16::from_be_bytes([h[2], h[3]])), &h[4..]),
            127 => {
                let mut b = [0u8; 8];
                b.copy_from_slice(&h[2..10]);
                (u64::from_be_bytes(b), &h[10..])
            }
            n => (u64::from(n), &h[2..]),
        };
        let mask = (h[1] & 0x80 != 0).then(|| [rest[0], rest[1], rest[2], rest[3]]);
        let body = CapturedBody::default();
        if len == 0 {
            out(WsFrame {
                kind,
                payload: body,
            });
        } else {
            self.current = Some((kind, mask, len, body));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(wire: &[u8], step: usize, cap: usize) -> Vec<WsFrame> {
        let mut r = WsReader::default();
        let mut got = Vec::new();
        for chunk in wire.chunks(step) {
            r.feed(chunk, cap, &mut |f| got.push(f));
        }
        got
    }

    #[test]
    fn masked_and_unmasked_frames_split_anywhere() {
        let mask = [1u8, 2, 3, 4];
        let mut wire = vec![0x81, 0x85];
        wire.extend_from_slice(&mask);
        wire.extend(b"hello".iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        wire.extend_from_slice(&[0x82, 126, 0x01, 0x00]);
        wire.extend(std::iter::repeat_n(7u8, 256));
        wire.extend_from_slice(&[0x88, 0x02, 0x03, 0xe8]);
        for step in [1, 3, 7, 1000] {
            let got = frames(&wire, step, 100);
            assert_eq!(got.len(), 3, "step {step}");
            assert_eq!(got[0].kind, TimelineKind::Text);
            assert_eq!(got[0].payload.data, b"hello");
            assert_eq!(got[1].kind, TimelineKind::Binary);
            assert_eq!(got[1].payload.size, 256);
            assert_eq!(got[1].payload.data.len(), 100);
            assert!(got[1].payload.truncated);
            assert_eq!(got[2].kind, TimelineKind::Close);
        }
    }

    #[test]
    fn garbage_stops_parsing_without_panicking() {
        let got = frames(&[0x83, 0x05, 1, 2, 3, 0x81, 0x00], 2, 10);
        assert!(got.is_empty());
    }
}
