//! Deterministic pseudo-random bytes, so both ends of a bulk transfer can produce or check the
//! same data without storing it.

use sha2::{Digest, Sha256};

/// Chunk size used when streaming a pattern.
pub const CHUNK: usize = 64 * 1024;

/// An endless deterministic byte stream (SplitMix64 words, little-endian) for one seed.
///
/// The stream does not depend on how reads are chunked: any sequence of [`Pattern::fill`]
/// calls yields the same bytes.
#[derive(Debug, Clone)]
pub struct Pattern {
    state: u64,
    word: [u8; 8],
    used: usize,
}

impl Pattern {
    /// The stream for `seed`.
    pub fn new(seed: u64) -> Self {
        Self {
            state: seed ^ 0x6a09_e667_f3bc_c908,
            word: [0; 8],
            used: 8,
        }
    }

    fn next_word(&mut self) -> [u8; 8] {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        (z ^ (z >> 31)).to_le_bytes()
    }

    /// Fills `out` with the next bytes of the stream.
    pub fn fill(&mut self, out: &mut [u8]) {
        let mut i = 0;
        while i < out.len() && self.used < 8 {
            out[i] = self.word[self.used];
            self.used += 1;
            i += 1;
        }
        let mut words = out[i..].chunks_exact_mut(8);
        for w in &mut words {
            w.copy_from_slice(&self.next_word());
        }
        let tail = words.into_remainder();
        if !tail.is_empty() {
            self.word = self.next_word();
            let n = tail.len();
            tail.copy_from_slice(&self.word[..n]);
            self.used = n;
        }
    }

    /// The next `n` bytes as a vector.
    pub fn take(&mut self, n: usize) -> Vec<u8> {
        let mut v = vec![0; n];
        self.fill(&mut v);
        v
    }
}

/// Hex SHA-256 of the first `n` bytes of the pattern for `seed`.
pub fn pattern_sha256(seed: u64, n: u64) -> String {
    let mut p = Pattern::new(seed);
    let mut h = Sha256::new();
    let mut buf = vec![0u8; CHUNK];
    let mut left = n;
    while left > 0 {
        let k = usize::try_from(left.min(CHUNK as u64)).unwrap_or(CHUNK);
        p.fill(&mut buf[..k]);
        h.update(&buf[..k]);
        left -= k as u64;
    }
    crate::hex(&h.finalize())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn chunking_does_not_change_the_stream() {
        let whole = Pattern::new(7).take(1000);
        let mut p = Pattern::new(7);
        let mut parts = Vec::new();
        for n in [1, 3, 8, 13, 64, 911] {
            parts.extend(p.take(n));
        }
        assert_eq!(&parts[..1000], &whole[..]);
        assert_ne!(Pattern::new(8).take(64), whole[..64]);
        let direct = crate::hex(&Sha256::digest(&whole));
        assert_eq!(pattern_sha256(7, 1000), direct);
    }
}
