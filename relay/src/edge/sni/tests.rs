#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use proptest::prelude::*;
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, RootCertStore};

use super::*;

/// The first flight of a real rustls client connecting to `name`.
fn rustls_hello(name: &str, enable_sni: bool) -> Vec<u8> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(RootCertStore::empty())
        .with_no_client_auth();
    config.enable_sni = enable_sni;
    let server_name = ServerName::try_from(name.to_owned()).unwrap();
    let mut conn = ClientConnection::new(Arc::new(config), server_name).unwrap();
    let mut out = Vec::new();
    while conn.wants_write() {
        conn.write_tls(&mut out).unwrap();
    }
    out
}

/// Concatenates the fragments of the handshake records in `tls`.
fn handshake_bytes(tls: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut rest = tls;
    while rest.len() >= RECORD_HEADER {
        assert_eq!(rest[0], CONTENT_HANDSHAKE);
        let len = usize::from(u16::from_be_bytes([rest[3], rest[4]]));
        out.extend_from_slice(&rest[RECORD_HEADER..RECORD_HEADER + len]);
        rest = &rest[RECORD_HEADER + len..];
    }
    assert!(rest.is_empty());
    out
}

/// Frames handshake bytes into records of at most `size` bytes.
fn reframe(handshake: &[u8], size: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for chunk in handshake.chunks(size) {
        out.extend_from_slice(&[CONTENT_HANDSHAKE, 3, 1]);
        out.extend_from_slice(&u16::try_from(chunk.len()).unwrap().to_be_bytes());
        out.extend_from_slice(chunk);
    }
    out
}

/// A hand-built ClientHello record with the given extensions (`None`: no block at all).
fn handmade_hello(extensions: Option<&[(u16, Vec<u8>)]>) -> Vec<u8> {
    let mut body = vec![3, 3];
    body.extend_from_slice(&[7; 32]);
    body.push(0); // session_id
    body.extend_from_slice(&[0, 2, 0x13, 0x01]); // one cipher suite
    body.extend_from_slice(&[1, 0]); // null compression
    if let Some(exts) = extensions {
        let mut block = Vec::new();
        for (ty, data) in exts {
            block.extend_from_slice(&ty.to_be_bytes());
            block.extend_from_slice(&u16::try_from(data.len()).unwrap().to_be_bytes());
            block.extend_from_slice(data);
        }
        body.extend_from_slice(&u16::try_from(block.len()).unwrap().to_be_bytes());
        body.extend_from_slice(&block);
    }
    let len = u32::try_from(body.len()).unwrap().to_be_bytes();
    let mut hs = vec![HANDSHAKE_CLIENT_HELLO, len[1], len[2], len[3]];
    hs.extend_from_slice(&body);
    reframe(&hs, MAX_FRAGMENT)
}

/// A `server_name` extension body holding the given `(name_type, name)` entries.
fn sni_ext(entries: &[(u8, &[u8])]) -> Vec<u8> {
    let mut list = Vec::new();
    for (ty, name) in entries {
        list.push(*ty);
        list.extend_from_slice(&u16::try_from(name.len()).unwrap().to_be_bytes());
        list.extend_from_slice(name);
    }
    let mut out = u16::try_from(list.len()).unwrap().to_be_bytes().to_vec();
    out.extend_from_slice(&list);
    out
}

fn found(name: &str) -> Result<SniPeek, SniError> {
    Ok(SniPeek::Found(Some(name.to_owned())))
}

/// Asserts every strict prefix of `tls` needs more and the whole finds `name`.
fn assert_every_prefix(tls: &[u8], name: &str) {
    for cut in 0..tls.len() {
        assert_eq!(peek_sni(&tls[..cut]), Ok(SniPeek::NeedMore), "cut at {cut}");
    }
    assert_eq!(peek_sni(tls), found(name));
}

#[test]
fn rustls_hello_whole() {
    let hello = rustls_hello("app.example.com", true);
    assert_eq!(peek_sni(&hello), found("app.example.com"));
}

#[test]
fn rustls_hello_split_at_every_byte() {
    assert_every_prefix(&rustls_hello("app.example.com", true), "app.example.com");
}

#[test]
fn rustls_hello_in_50_byte_records() {
    let hs = handshake_bytes(&rustls_hello("tunnel.fdt.example", true));
    let reframed = reframe(&hs, 50);
    assert!(
        hs.len() > 4 * 50,
        "several records expected, hello is {}",
        hs.len()
    );
    assert_every_prefix(&reframed, "tunnel.fdt.example");
}

#[test]
fn bytes_after_the_hello_are_ignored() {
    let mut hello = reframe(&handshake_bytes(&rustls_hello("a.example", true)), 50);
    hello.extend_from_slice(&[20, 3, 3, 0, 1, 1, 0xff, 0xff]);
    assert_eq!(peek_sni(&hello), found("a.example"));
}

#[test]
fn rustls_hello_without_sni() {
    assert_eq!(
        peek_sni(&rustls_hello("app.example.com", false)),
        Ok(SniPeek::Found(None))
    );
    assert_eq!(
        peek_sni(&rustls_hello("192.0.2.1", true)),
        Ok(SniPeek::Found(None))
    );
}

#[test]
fn hello_without_extensions_block() {
    assert_eq!(peek_sni(&handmade_hello(None)), Ok(SniPeek::Found(None)));
    assert_eq!(
        peek_sni(&handmade_hello(Some(&[]))),
        Ok(SniPeek::Found(None))
    );
}

#[test]
fn host_name_is_lower_cased_and_trailing_dot_dropped() {
    let h = handmade_hello(Some(&[(
        0,
        sni_ext(&[(0, b"App.EXAMPLE.com."), (9, b"x")]),
    )]));
    assert_eq!(peek_sni(&h), found("app.example.com"));
}

#[test]
fn invalid_host_names_are_rejected() {
    let long_label = "a".repeat(64);
    let long_name = ["abcdefghi"; 26].join(".");
    for bad in [
        &b""[..],
        b".",
        b"a..b",
        b".a",
        b"under_score.example",
        b"-lead.example",
        b"trail-.example",
        b"sp ace.example",
        b"caf\xc3\xa9.example",
        b"nul\0.example",
        long_label.as_bytes(),
        long_name.as_bytes(),
    ] {
        let h = handmade_hello(Some(&[(0, sni_ext(&[(0, bad)]))]));
        assert!(
            matches!(peek_sni(&h), Err(SniError::Malformed(_))),
            "{:?}",
            String::from_utf8_lossy(bad)
        );
    }
}

#[test]
fn ambiguous_server_names_are_rejected() {
    let two_names = handmade_hello(Some(&[(0, sni_ext(&[(0, b"a.ex"), (0, b"b.ex")]))]));
    assert!(matches!(peek_sni(&two_names), Err(SniError::Malformed(_))));
    let two_exts = handmade_hello(Some(&[
        (0, sni_ext(&[(0, b"a.ex")])),
        (0, sni_ext(&[(0, b"b.ex")])),
    ]));
    assert!(matches!(peek_sni(&two_exts), Err(SniError::Malformed(_))));
    let empty_list = handmade_hello(Some(&[(0, vec![0, 0])]));
    assert!(matches!(peek_sni(&empty_list), Err(SniError::Malformed(_))));
}

#[test]
fn garbage_is_not_tls() {
    assert_eq!(peek_sni(b""), Ok(SniPeek::NeedMore));
    assert_eq!(peek_sni(b"GET / HTTP/1.1\r\n"), Err(SniError::NotTls));
    assert_eq!(peek_sni(b"G"), Err(SniError::NotTls));
    assert_eq!(peek_sni(&[0x16, 0x07]), Err(SniError::NotTls));
    // SSLv2-compatible hello.
    assert_eq!(peek_sni(&[0x80, 0x2e, 0x01]), Err(SniError::NotTls));
}

#[test]
fn bad_record_framing() {
    assert_eq!(
        peek_sni(&[22, 3, 1, 0, 0]),
        Err(SniError::Malformed("empty handshake record"))
    );
    assert!(matches!(
        peek_sni(&[22, 3, 1, 0x40, 0x01]),
        Err(SniError::Malformed(_))
    ));
    // A server hello is not what a visitor sends.
    assert!(matches!(
        peek_sni(&[22, 3, 3, 0, 4, 2, 0, 0, 0]),
        Err(SniError::Malformed(_))
    ));
    // An alert between two halves of the hello.
    let hs = handshake_bytes(&rustls_hello("a.example", true));
    let mut tls = reframe(&hs[..10], 10);
    tls.extend_from_slice(&[21, 3, 3, 0, 2, 1, 0]);
    assert!(matches!(peek_sni(&tls), Err(SniError::Malformed(_))));
}

#[test]
fn truncated_inner_lengths_are_malformed() {
    let hs = handshake_bytes(&rustls_hello("a.example", true));
    // Session id length (offset: 4 header + 2 version + 32 random).
    let mut bad = hs.clone();
    bad[38] = 0xff;
    assert!(matches!(
        peek_sni(&reframe(&bad, 100)),
        Err(SniError::Malformed(_))
    ));
    // The message claims fewer bytes than its contents need.
    let mut short = hs[..60].to_vec();
    let len = u32::try_from(short.len() - 4).unwrap().to_be_bytes();
    short[1..4].copy_from_slice(&len[1..]);
    assert!(matches!(
        peek_sni(&reframe(&short, 100)),
        Err(SniError::Malformed(_))
    ));
    // A server_name entry longer than its extension.
    let mut ext = sni_ext(&[(0, b"a.example")]);
    ext[4] = 0x40;
    assert!(matches!(
        peek_sni(&handmade_hello(Some(&[(0, ext)]))),
        Err(SniError::Malformed(_))
    ));
}

#[test]
fn oversized_hello_is_refused_early() {
    // Only the headers are present: the declared size alone is enough.
    assert_eq!(
        peek_sni(&[22, 3, 1, 0x40, 0x00, 1, 0x00, 0x50, 0x00]),
        Err(SniError::TooLarge)
    );
    // A hello at the limit spread over 1-byte records exceeds MAX_PEEK_BYTES first.
    let mut hs = vec![HANDSHAKE_CLIENT_HELLO, 0x00, 0x3f, 0xfc];
    hs.resize(MAX_CLIENT_HELLO, 0);
    let tls = reframe(&hs, 1);
    assert_eq!(peek_sni(&tls[..MAX_PEEK_BYTES - 1]), Ok(SniPeek::NeedMore));
    assert_eq!(peek_sni(&tls[..MAX_PEEK_BYTES]), Err(SniError::TooLarge));
}

proptest! {
    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = peek_sni(&bytes);
    }

    #[test]
    fn random_handshake_records_never_panic(
        body in proptest::collection::vec(any::<u8>(), 0..600),
        record in 1usize..300,
    ) {
        let len = u32::try_from(body.len()).unwrap().to_be_bytes();
        let mut hs = vec![HANDSHAKE_CLIENT_HELLO, len[1], len[2], len[3]];
        hs.extend_from_slice(&body);
        let _ = peek_sni(&reframe(&hs, record));
    }

    #[test]
    fn mutated_real_hello_never_panics(at in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let mut tls = rustls_hello("mutant.example", true);
        let i = at.index(tls.len());
        tls[i] = byte;
        let _ = peek_sni(&tls);
    }

    #[test]
    fn any_record_size_gives_the_same_name(record in 1usize..600) {
        let hs = handshake_bytes(&rustls_hello("rec.example", true));
        prop_assert_eq!(peek_sni(&reframe(&hs, record)), found("rec.example"));
    }
}
