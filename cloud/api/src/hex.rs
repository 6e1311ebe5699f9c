//! Hex text of HMAC-SHA256 tags, as signature headers carry them.

/// The hex form of `bytes`, lower case.
pub fn encode(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The 32 bytes of a 64-digit hex SHA-256 tag; `None` for anything else.
pub fn decode_sha256(s: &str) -> Option<Vec<u8>> {
    if s.len() != 64 || !s.is_ascii() {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_refusals() {
        let tag: Vec<u8> = (0u8..32).collect();
        assert_eq!(decode_sha256(&encode(&tag)), Some(tag));
        for bad in ["", "00", &"g".repeat(64), &"é".repeat(32), &"0".repeat(66)] {
            assert_eq!(decode_sha256(bad), None, "{bad}");
        }
    }
}
