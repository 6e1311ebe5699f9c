//! An incremental reader of `text/event-stream` bodies for the capture: it sees the response
//! bytes as they are forwarded and reports each event (`event`, `id`, `data`). Lines and data
//! are capped so a hostile stream cannot grow memory.

use super::model::SseFields;

/// Longest line kept; the rest of a longer line is ignored.
const MAX_LINE: usize = 64 * 1024;

/// Incremental SSE parser.
#[derive(Debug, Default)]
pub struct SseReader {
    line: Vec<u8>,
    line_overflow: bool,
    last_was_cr: bool,
    event: SseFields,
    /// Bytes of the event being read, including field names and newlines.
    event_bytes: u64,
    has_field: bool,
    data_lines: u32,
}

impl SseReader {
    /// Feeds body bytes; calls `out(fields, size)` for every event completed by them.
    pub fn feed(&mut self, data: &[u8], cap: usize, out: &mut impl FnMut(SseFields, u64)) {
        for &b in data {
            self.event_bytes += 1;
            if b == b'\n' && self.last_was_cr {
                // The `\n` of a `\r\n` pair: the line already ended at `\r`.
                self.last_was_cr = false;
                continue;
            }
            self.last_was_cr = b == b'\r';
            if b == b'\n' || b == b'\r' {
                self.end_line(cap, out);
            } else if self.line.len() < MAX_LINE {
                self.line.push(b);
            } else {
                self.line_overflow = true;
            }
        }
    }

    fn end_line(&mut self, cap: usize, out: &mut impl FnMut(SseFields, u64)) {
        let line = std::mem::take(&mut self.line);
        self.line_overflow = false;
        if line.is_empty() {
            if self.has_field {
                let size = self.event_bytes;
                out(std::mem::take(&mut self.event), size);
            }
            self.has_field = false;
            self.data_lines = 0;
            self.event_bytes = 0;
            return;
        }
        if line[0] == b':' {
            return; // comment
        }
        let text = String::from_utf8_lossy(&line);
        let (name, value) = match text.split_once(':') {
            Some((n, v)) => (n, v.strip_prefix(' ').unwrap_or(v)),
            None => (text.as_ref(), ""),
        };
        match name {
            "event" => self.event.event = Some(value.chars().take(cap).collect()),
            "id" => self.event.id = Some(value.chars().take(cap).collect()),
            "data" => {
                // Several data lines make one value joined by newlines.
                if self.data_lines > 0 && self.event.data.len() < cap {
                    self.event.data.push('\n');
                }
                let room = cap.saturating_sub(self.event.data.len());
                let mut end = room.min(value.len());
                while !value.is_char_boundary(end) {
                    end -= 1;
                }
                self.event.data.push_str(&value[..end]);
                self.data_lines = self.data_lines.saturating_add(1);
            }
            _ => return,
        }
        self.has_field = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_split_across_chunks_and_line_endings() {
        let wire = b"event: tick\r\nid: 7\r\ndata: a\r\ndata: b\r\n\r\n: comment\n\ndata: x\n\n";
        for step in [1, 2, 5, 100] {
            let mut r = SseReader::default();
            let mut got = Vec::new();
            for c in wire.chunks(step) {
                r.feed(c, 1024, &mut |f, _| got.push(f));
            }
            assert_eq!(got.len(), 2, "step {step}");
            assert_eq!(got[0].event.as_deref(), Some("tick"));
            assert_eq!(got[0].id.as_deref(), Some("7"));
            assert_eq!(got[0].data, "a\nb");
            assert_eq!(got[1].data, "x");
        }
    }
}
