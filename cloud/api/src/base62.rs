//! Base62 (`0-9A-Za-z`), the alphabet of authtokens, IDs and checksums: URL-safe, copy-paste
//! friendly (a double click selects a whole token) and free of punctuation that shells mangle.

/// The 62 characters, in digit order.
pub(crate) const ALPHABET: &[u8; 62] =
    b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Whether every byte of `s` is a base62 character.
pub(crate) fn is_base62(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// Encodes `value` as exactly `width` base62 digits, most significant first, zero-padded.
///
/// `width` must be large enough for `value` (6 digits hold any `u32`: 62^6 > 2^32).
pub(crate) fn encode_fixed(mut value: u64, width: usize) -> String {
    let mut out = vec![b'0'; width];
    for slot in out.iter_mut().rev() {
        *slot = ALPHABET[(value % 62) as usize];
        value /= 62;
    }
    // Every byte comes from ALPHABET, so this is ASCII.
    out.into_iter().map(char::from).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_fixed_width() {
        assert_eq!(encode_fixed(0, 6), "000000");
        assert_eq!(encode_fixed(61, 2), "0z");
        assert_eq!(encode_fixed(62, 2), "10");
        assert_eq!(encode_fixed(u64::from(u32::MAX), 6), "4gfFC3");
    }

    #[test]
    fn recognises_alphabet() {
        assert!(is_base62("abcXYZ019"));
        assert!(!is_base62("abc-def"));
        assert!(!is_base62("é"));
    }
}
