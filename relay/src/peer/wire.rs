//! The relay-to-relay protocol, without I/O: what a relay forwarding visitors writes on a
//! QUIC connection to the relay holding their tunnel (ALPN [`ALPN`]).
//!
//! - The first stream the forwarding relay opens carries its identity: a sequence of
//!   [`encode_token`] frames (a new one each time the control plane hands it a fresh token),
//!   answered once with [`ACCEPTED`] after the first.
//! - Every other stream carries one visitor: a [`StreamHead`] (what it is, who the visitor is,
//!   which name it asked for), then the visitor's bytes — one HTTP/1.1 exchange (`Http`), or
//!   the raw TLS connection from its ClientHello on (`Tls`), or a TCP connection to a port of
//!   the region (`Tcp`, the head names the port). The holder answers a `Tls` or `Tcp` stream
//!   with one byte ([`Answer`]) before the service's bytes, and the forwarding relay passes
//!   on nothing before [`Answer::Accepted`]: a stale placement costs nothing, the visitor's
//!   connection is sent on to the relay holding the name now as it is. (Before any release,
//!   `Tls` streams were unanswered; no relay speaking that is deployed.)

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// ALPN of relay-to-relay connections (agents use `fdt/1` on the same port).
pub const ALPN: &[u8] = b"fdt-peer/1";

/// Largest identity token accepted, in bytes.
pub const MAX_TOKEN: usize = 4096;

/// The holder's answer once it has verified the first identity token.
pub const ACCEPTED: u8 = 0xA1;

/// The holder's first byte on a `Tls` or `Tcp` stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// The service's bytes follow; the visitor's may be sent.
    Accepted = 0xA2,
    /// This relay does not hold the name or port (the placement was stale).
    NotHere = 0xA3,
    /// The tunnel refused the visitor (its address policy), or its agent cannot take another
    /// connection now.
    Refused = 0xA4,
}

impl Answer {
    /// The answer a byte is, if it is one.
    pub fn from_byte(b: u8) -> Option<Self> {
        [Self::Accepted, Self::NotHere, Self::Refused]
            .into_iter()
            .find(|a| *a as u8 == b)
    }
}

/// Longest name in a stream head (a DNS name).
const MAX_HOST: usize = 253;

/// Why bytes are not a valid frame.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WireError {
    /// A token is empty or longer than [`MAX_TOKEN`].
    #[error("identity token of {0} bytes (1 to {MAX_TOKEN} allowed)")]
    TokenSize(usize),
    /// A token is not UTF-8.
    #[error("identity token is not UTF-8")]
    TokenText,
    /// Unknown stream kind.
    #[error("unknown stream kind {0}")]
    Kind(u8),
    /// Unknown address family.
    #[error("unknown address family {0}")]
    Family(u8),
    /// The name is empty, too long, or not lower-case DNS characters.
    #[error("bad name in stream head")]
    Host,
}

/// Encodes one identity token frame: a big-endian u16 length, then the token.
pub fn encode_token(token: &str) -> Result<Vec<u8>, WireError> {
    let len = token.len();
    if len == 0 || len > MAX_TOKEN {
        return Err(WireError::TokenSize(len));
    }
    let mut out = Vec::with_capacity(2 + len);
    out.extend_from_slice(
        &u16::try_from(len)
            .map_err(|_| WireError::TokenSize(len))?
            .to_be_bytes(),
    );
    out.extend_from_slice(token.as_bytes());
    Ok(out)
}

/// Decodes an identity token frame at the start of `buf`: `Ok(None)` until it is complete,
/// then the token and the bytes it took.
pub fn decode_token(buf: &[u8]) -> Result<Option<(String, usize)>, WireError> {
    let Some(len) = buf
        .get(..2)
        .map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])))
    else {
        return Ok(None);
    };
    if len == 0 || len > MAX_TOKEN {
        return Err(WireError::TokenSize(len));
    }
    let Some(body) = buf.get(2..2 + len) else {
        return Ok(None);
    };
    let token = std::str::from_utf8(body).map_err(|_| WireError::TokenText)?;
    Ok(Some((token.to_owned(), 2 + len)))
}

/// What a forwarded stream carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// One HTTP/1.1 exchange (and what follows an upgrade).
    Http = 1,
    /// A TLS connection passed through, ClientHello first, after the holder's [`Answer`].
    Tls = 2,
    /// A TCP connection to a port of the region, after the holder's [`Answer`].
    Tcp = 3,
}

/// The head of a forwarded stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamHead {
    /// What follows.
    pub kind: Kind,
    /// The visitor's address, as the forwarding relay's socket saw it (the one policy
    /// trusts).
    pub visitor: SocketAddr,
    /// Whether the visitor reached the forwarding relay over TLS it terminated.
    pub tls: bool,
    /// The name asked for (Host, `:authority` or SNI), lower-case; for `Tcp`, the port in
    /// decimal (see [`StreamHead::port`]).
    pub host: String,
}

const FLAG_TLS: u8 = 1;

impl StreamHead {
    /// The head of a TCP visitor of `port`.
    pub fn tcp(visitor: SocketAddr, port: u16) -> Self {
        Self {
            kind: Kind::Tcp,
            visitor,
            tls: false,
            host: port.to_string(),
        }
    }

    /// The port a `Tcp` head names (`None` for other kinds).
    pub fn port(&self) -> Option<u16> {
        (self.kind == Kind::Tcp)
            .then(|| parse_port(&self.host))
            .flatten()
    }

    /// Encodes the head: kind, flags, address family, address, port, name length, name.
    pub fn encode(&self) -> Result<Vec<u8>, WireError> {
        check_name(self.kind, &self.host)?;
        let mut out = Vec::with_capacity(24 + self.host.len());
        out.push(self.kind as u8);
        out.push(if self.tls { FLAG_TLS } else { 0 });
        match self.visitor.ip() {
            IpAddr::V4(ip) => {
                out.push(4);
                out.extend_from_slice(&ip.octets());
            }
            IpAddr::V6(ip) => {
                out.push(6);
                out.extend_from_slice(&ip.octets());
            }
        }
        out.extend_from_slice(&self.visitor.port().to_be_bytes());
        out.push(u8::try_from(self.host.len()).map_err(|_| WireError::Host)?);
        out.extend_from_slice(self.host.as_bytes());
        Ok(out)
    }

    /// Decodes a head at the start of `buf`: `Ok(None)` until it is complete, then the head
    /// and the bytes it took (what follows is the visitor's).
    pub fn decode(buf: &[u8]) -> Result<Option<(Self, usize)>, WireError> {
        let Some(&[kind, flags, family]) = buf.get(..3) else {
            return Ok(None);
        };
        let kind = match kind {
            1 => Kind::Http,
            2 => Kind::Tls,
            3 => Kind::Tcp,
            k => return Err(WireError::Kind(k)),
        };
        let ip_len = match family {
            4 => 4,
            6 => 16,
            f => return Err(WireError::Family(f)),
        };
        let mut at = 3;
        let Some(ip) = buf.get(at..at + ip_len) else {
            return Ok(None);
        };
        let ip = match <[u8; 16]>::try_from(ip) {
            Ok(v6) => IpAddr::V6(Ipv6Addr::from(v6)),
            Err(_) => IpAddr::V4(Ipv4Addr::new(ip[0], ip[1], ip[2], ip[3])),
        };
        at += ip_len;
        let Some(&[p0, p1, host_len]) = buf.get(at..at + 3) else {
            return Ok(None);
        };
        at += 3;
        let host_len = usize::from(host_len);
        let Some(host) = buf.get(at..at + host_len) else {
            return Ok(None);
        };
        let host = std::str::from_utf8(host).map_err(|_| WireError::Host)?;
        check_name(kind, host)?;
        let head = StreamHead {
            kind,
            visitor: SocketAddr::new(ip, u16::from_be_bytes([p0, p1])),
            tls: flags & FLAG_TLS != 0,
            host: host.to_owned(),
        };
        Ok(Some((head, at + host_len)))
    }
}

/// The name of a head of `kind`: a port for `Tcp`, a host name otherwise.
fn check_name(kind: Kind, name: &str) -> Result<(), WireError> {
    match kind {
        Kind::Tcp => parse_port(name).map(|_| ()).ok_or(WireError::Host),
        Kind::Http | Kind::Tls => check_host(name),
    }
}

/// A port 1-65535 written as `u16::to_string` writes it (no sign, no leading zero).
fn parse_port(s: &str) -> Option<u16> {
    let p: u16 = s.parse().ok()?;
    (p != 0 && p.to_string() == s).then_some(p)
}

/// A name as the edge looks names up: 1 to 253 bytes of lower-case letters, digits, `-` and
/// `.` (anything else never matches a tunnel, so it is refused on the wire).
fn check_host(host: &str) -> Result<(), WireError> {
    let ok = !host.is_empty()
        && host.len() <= MAX_HOST
        && host
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
    if ok { Ok(()) } else { Err(WireError::Host) }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;

    fn head(visitor: &str, host: &str) -> StreamHead {
        StreamHead {
            kind: Kind::Http,
            visitor: visitor.parse().unwrap(),
            tls: true,
            host: host.into(),
        }
    }

    #[test]
    fn heads_round_trip_and_leave_what_follows() {
        for h in [
            head("203.0.113.7:50123", "app.tunnel.example"),
            StreamHead {
                kind: Kind::Tls,
                tls: false,
                ..head("[2001:db8::1]:443", "x.example")
            },
        ] {
            let mut bytes = h.encode().unwrap();
            let n = bytes.len();
            bytes.extend_from_slice(b"GET / HTTP/1.1\r\n");
            assert_eq!(StreamHead::decode(&bytes).unwrap(), Some((h.clone(), n)));
            // Every strict prefix asks for more.
            for cut in 0..n {
                assert_eq!(
                    StreamHead::decode(&bytes[..cut]).unwrap(),
                    None,
                    "cut {cut}"
                );
            }
        }
    }

    #[test]
    fn bad_heads_are_refused() {
        let good = head("192.0.2.1:1", "a.example").encode().unwrap();
        let mut kind = good.clone();
        kind[0] = 9;
        assert_eq!(StreamHead::decode(&kind), Err(WireError::Kind(9)));
        let mut family = good.clone();
        family[2] = 5;
        assert_eq!(StreamHead::decode(&family), Err(WireError::Family(5)));
        let mut upper = good.clone();
        let at = upper.len() - 1;
        upper[at] = b'E';
        assert_eq!(StreamHead::decode(&upper), Err(WireError::Host));
        assert_eq!(head("192.0.2.1:1", "").encode(), Err(WireError::Host));
        assert_eq!(head("192.0.2.1:1", "a b").encode(), Err(WireError::Host));
        assert_eq!(
            head("192.0.2.1:1", &"a".repeat(254)).encode(),
            Err(WireError::Host)
        );
    }

    #[test]
    fn tcp_heads_name_a_port_and_answers_are_three_bytes() {
        let h = StreamHead::tcp("198.51.100.9:40000".parse().unwrap(), 20_005);
        assert_eq!(h.port(), Some(20_005));
        let bytes = h.encode().unwrap();
        assert_eq!(StreamHead::decode(&bytes).unwrap(), Some((h, bytes.len())));
        // A Tcp head whose name is not a port, or an Http head's port, is refused / none.
        for bad in ["0", "65536", "020005", "+1", "app.example", ""] {
            let h = StreamHead {
                host: bad.into(),
                ..StreamHead::tcp("192.0.2.1:1".parse().unwrap(), 1)
            };
            assert_eq!(h.encode(), Err(WireError::Host), "{bad:?}");
        }
        let mut wrong = head("192.0.2.1:1", "app.example").encode().unwrap();
        wrong[0] = 3;
        assert_eq!(StreamHead::decode(&wrong), Err(WireError::Host));
        assert_eq!(head("192.0.2.1:1", "20005").port(), None);
        for a in [Answer::Accepted, Answer::NotHere, Answer::Refused] {
            assert_eq!(Answer::from_byte(a as u8), Some(a));
        }
        assert_eq!(Answer::from_byte(0), None);
        // The identity answer is not a TCP answer.
        assert_eq!(Answer::from_byte(ACCEPTED), None);
    }

    #[test]
    fn tokens_round_trip_within_their_bounds() {
        let frame = encode_token("eyJ.a.b").unwrap();
        assert_eq!(
            decode_token(&frame).unwrap(),
            Some(("eyJ.a.b".into(), frame.len()))
        );
        assert_eq!(decode_token(&frame[..frame.len() - 1]).unwrap(), None);
        assert_eq!(decode_token(&frame[..1]).unwrap(), None);
        assert_eq!(encode_token(""), Err(WireError::TokenSize(0)));
        assert_eq!(
            encode_token(&"t".repeat(MAX_TOKEN + 1)),
            Err(WireError::TokenSize(MAX_TOKEN + 1))
        );
        assert_eq!(
            decode_token(&[0xff, 0xff]),
            Err(WireError::TokenSize(0xffff))
        );
        assert_eq!(decode_token(&[0, 1, 0xff]), Err(WireError::TokenText));
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = StreamHead::decode(&bytes);
            let _ = decode_token(&bytes);
        }
    }
}
