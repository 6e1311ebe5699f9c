//! Sans-IO extraction of the server name (SNI) from a TLS ClientHello, for routing TLS
//! connections by hostname without terminating them.
//!
//! The caller reads bytes from the visitor socket into a buffer and calls [`peek_sni`] on the
//! whole buffer after every read until it gets something other than [`SniPeek::NeedMore`].
//! The buffer is never consumed: once the route is known the caller replays it, unchanged, to
//! the backend. The ClientHello may be split over several TLS records and over arbitrary TCP
//! segments; both are reassembled here. A hello larger than [`MAX_CLIENT_HELLO`] is refused,
//! and [`SniPeek::NeedMore`] is never returned for a buffer of [`MAX_PEEK_BYTES`] or more, so
//! a caller that stops reading at that size never buffers without bound.

use std::borrow::Cow;
use std::net::IpAddr;

/// Largest accepted ClientHello handshake message (4-byte header included), in bytes.
pub const MAX_CLIENT_HELLO: usize = 16 * 1024;

/// Largest number of raw bytes (records and their headers) [`peek_sni`] will ask for.
pub const MAX_PEEK_BYTES: usize = 2 * MAX_CLIENT_HELLO;

/// TLS record content type of handshake records.
const CONTENT_HANDSHAKE: u8 = 22;
/// Handshake message type of a ClientHello.
const HANDSHAKE_CLIENT_HELLO: u8 = 1;
/// Size of a TLS record header: type, legacy version, length.
const RECORD_HEADER: usize = 5;
/// Size of a handshake message header: type and 24-bit length.
const HANDSHAKE_HEADER: usize = 4;
/// Largest plaintext record fragment allowed by RFC 8446 §5.1.
const MAX_FRAGMENT: usize = 1 << 14;
/// Extension number of `server_name` (RFC 6066).
const EXT_SERVER_NAME: u16 = 0;
/// `NameType` of a DNS host name inside `server_name`.
const NAME_TYPE_HOST: u8 = 0;

/// Outcome of looking at the first bytes of a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SniPeek {
    /// The ClientHello is not complete yet; append more bytes and call again.
    NeedMore,
    /// A complete ClientHello was seen; holds its lower-cased host name, if it sent one.
    Found(Option<String>),
}

/// Why the bytes cannot be routed by SNI.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SniError {
    /// The bytes do not start a TLS handshake (plain HTTP, SSLv2, another protocol).
    #[error("not a TLS handshake")]
    NotTls,
    /// The bytes start a TLS handshake but break its rules; the text says which.
    #[error("malformed TLS ClientHello: {0}")]
    Malformed(&'static str),
    /// The ClientHello (or its framing) exceeds [`MAX_CLIENT_HELLO`] / [`MAX_PEEK_BYTES`].
    #[error("TLS ClientHello too large")]
    TooLarge,
}

/// Looks for a complete ClientHello at the start of `buf` and returns its server name.
///
/// Never panics and never reads past `buf`; bytes after the ClientHello are ignored.
pub fn peek_sni(buf: &[u8]) -> Result<SniPeek, SniError> {
    match reassemble(buf)? {
        None if buf.len() >= MAX_PEEK_BYTES => Err(SniError::TooLarge),
        None => Ok(SniPeek::NeedMore),
        Some(hello) => parse_client_hello(&hello).map(SniPeek::Found),
    }
}

/// Collects the ClientHello body from handshake records; `None` means more bytes are needed.
///
/// Borrows when the whole message sits in the first record, which is what real clients do.
fn reassemble(buf: &[u8]) -> Result<Option<Cow<'_, [u8]>>, SniError> {
    let mut message: Cow<'_, [u8]> = Cow::Borrowed(&[]);
    let mut pos = 0;
    loop {
        let Some(header) = buf.get(pos..pos + RECORD_HEADER) else {
            // Check what is already there so that garbage is refused on its first byte.
            check_record_prefix(&buf[pos..], pos == 0)?;
            return Ok(None);
        };
        check_record_prefix(header, pos == 0)?;
        let len = usize::from(u16::from_be_bytes([header[3], header[4]]));
        if len == 0 {
            return Err(SniError::Malformed("empty handshake record"));
        }
        if len > MAX_FRAGMENT {
            return Err(SniError::Malformed("record longer than 2^14 bytes"));
        }
        let body_start = pos + RECORD_HEADER;
        let available = &buf[body_start..buf.len().min(body_start + len)];
        // Keep the handshake header checks early so an oversized or wrong message is refused
        // before the caller buffers all of it.
        let wanted = if message.is_empty() && available.len() == len {
            message = Cow::Borrowed(available);
            hello_len(&message)?
        } else {
            message.to_mut().extend_from_slice(available);
            hello_len(&message)?
        };
        if let Some(total) = wanted
            && message.len() >= total
        {
            return Ok(Some(match message {
                Cow::Borrowed(b) => Cow::Borrowed(&b[HANDSHAKE_HEADER..total]),
                Cow::Owned(mut v) => {
                    v.truncate(total);
                    v.drain(..HANDSHAKE_HEADER);
                    Cow::Owned(v)
                }
            }));
        }
        if available.len() < len {
            return Ok(None);
        }
        pos = body_start + len;
    }
}

/// Validates the (possibly partial) header of a record: handshake type and TLS 1.x version.
fn check_record_prefix(header: &[u8], first: bool) -> Result<(), SniError> {
    let bad = |e: SniError| {
        if first { Err(SniError::NotTls) } else { Err(e) }
    };
    if let Some(&ty) = header.first()
        && ty != CONTENT_HANDSHAKE
    {
        return bad(SniError::Malformed(
            "non-handshake record inside the ClientHello",
        ));
    }
    if let Some(&major) = header.get(1)
        && major != 3
    {
        return bad(SniError::Malformed("bad record version"));
    }
    Ok(())
}

/// Checks the handshake header once it is there; returns the full message length if known.
fn hello_len(message: &[u8]) -> Result<Option<usize>, SniError> {
    if let Some(&ty) = message.first()
        && ty != HANDSHAKE_CLIENT_HELLO
    {
        return Err(SniError::Malformed(
            "first handshake message is not a ClientHello",
        ));
    }
    let Some(&[_, a, b, c]) = message.get(..HANDSHAKE_HEADER) else {
        return Ok(None);
    };
    let total = HANDSHAKE_HEADER + (usize::from(a) << 16 | usize::from(b) << 8 | usize::from(c));
    if total > MAX_CLIENT_HELLO {
        return Err(SniError::TooLarge);
    }
    Ok(Some(total))
}

/// A bounds-checked reader over a byte slice; every shortfall is a `Malformed` error.
struct Reader<'a> {
    /// The bytes not read yet.
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    /// Takes the next `n` bytes.
    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], SniError> {
        if n > self.rest.len() {
            return Err(SniError::Malformed(what));
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }

    /// Takes one byte.
    fn u8(&mut self, what: &'static str) -> Result<u8, SniError> {
        Ok(self.take(1, what)?[0])
    }

    /// Takes a big-endian `u16`.
    fn u16(&mut self, what: &'static str) -> Result<u16, SniError> {
        let b = self.take(2, what)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    /// Takes a vector prefixed by a one-byte length.
    fn vec8(&mut self, what: &'static str) -> Result<&'a [u8], SniError> {
        let n = self.u8(what)?;
        self.take(usize::from(n), what)
    }

    /// Takes a vector prefixed by a two-byte length.
    fn vec16(&mut self, what: &'static str) -> Result<&'a [u8], SniError> {
        let n = self.u16(what)?;
        self.take(usize::from(n), what)
    }
}

/// Parses a ClientHello body (handshake header removed) and returns its host name.
fn parse_client_hello(body: &[u8]) -> Result<Option<String>, SniError> {
    let mut r = Reader { rest: body };
    let version = r.take(2, "truncated legacy_version")?;
    if version[0] != 3 {
        return Err(SniError::Malformed("bad legacy_version"));
    }
    r.take(32, "truncated random")?;
    if r.vec8("truncated session_id")?.len() > 32 {
        return Err(SniError::Malformed("session_id longer than 32 bytes"));
    }
    let suites = r.vec16("truncated cipher_suites")?;
    if suites.is_empty() || suites.len() % 2 != 0 {
        return Err(SniError::Malformed("bad cipher_suites length"));
    }
    if r.vec8("truncated compression_methods")?.is_empty() {
        return Err(SniError::Malformed("no compression_methods"));
    }
    if r.rest.is_empty() {
        // A TLS 1.2 hello may omit the extensions block entirely.
        return Ok(None);
    }
    let mut exts = Reader {
        rest: r.vec16("truncated extensions")?,
    };
    if !r.rest.is_empty() {
        return Err(SniError::Malformed("trailing bytes after extensions"));
    }
    let mut name = None;
    let mut seen = false;
    while !exts.rest.is_empty() {
        let ty = exts.u16("truncated extension type")?;
        let data = exts.vec16("truncated extension")?;
        if ty == EXT_SERVER_NAME {
            // Two server_name extensions could route on one name and serve the other.
            if seen {
                return Err(SniError::Malformed("duplicate server_name extension"));
            }
            seen = true;
            name = parse_server_name(data)?;
        }
    }
    Ok(name)
}

/// Parses the body of a `server_name` extension.
fn parse_server_name(data: &[u8]) -> Result<Option<String>, SniError> {
    let mut outer = Reader { rest: data };
    let mut list = Reader {
        rest: outer.vec16("truncated server_name list")?,
    };
    if !outer.rest.is_empty() {
        return Err(SniError::Malformed("trailing bytes in server_name"));
    }
    if list.rest.is_empty() {
        return Err(SniError::Malformed("empty server_name list"));
    }
    let mut host = None;
    while !list.rest.is_empty() {
        let name_type = list.u8("truncated server_name entry")?;
        let name = list.vec16("truncated server_name entry")?;
        if name_type != NAME_TYPE_HOST {
            // Unknown name types carry an opaque 16-bit-length payload; skip them.
            continue;
        }
        if host.is_some() {
            return Err(SniError::Malformed("more than one host_name"));
        }
        host = Some(name);
    }
    match host {
        Some(name) => normalise_host(name),
        None => Ok(None),
    }
}

/// Validates a host name as an ASCII DNS name and lower-cases it.
///
/// A single trailing dot is dropped. An IP literal (forbidden by RFC 6066, but sent by a
/// few clients) counts as no name at all, as rustls treats it.
fn normalise_host(name: &[u8]) -> Result<Option<String>, SniError> {
    let name = name.strip_suffix(b".").unwrap_or(name);
    if name.is_empty() || name.len() > 253 {
        return Err(SniError::Malformed("bad host name length"));
    }
    for label in name.split(|&b| b == b'.') {
        let ok = !label.is_empty()
            && label.len() <= 63
            && label.first() != Some(&b'-')
            && label.last() != Some(&b'-')
            && label
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || *b == b'-');
        if !ok {
            return Err(SniError::Malformed("host name is not a valid DNS name"));
        }
    }
    // Every byte is ASCII now, so this conversion cannot lose anything.
    let host: String = name
        .iter()
        .map(|b| char::from(b.to_ascii_lowercase()))
        .collect();
    if host.parse::<IpAddr>().is_ok() {
        return Ok(None);
    }
    Ok(Some(host))
}

#[cfg(test)]
mod tests;
