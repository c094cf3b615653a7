//! Stand-in entropy for QEMU's smartl, which has no random source: xorshift32 from a seed the
//! board takes from its timer. It is for tests and non-secret uses (jitter, client tokens)
//! only: it is no `SecureEntropy`, so the board opens no TLS. (The W800 has its TRNG.)

use crate::hal::Entropy;

/// The generator.
#[derive(Debug)]
pub struct SeededTestEntropy {
    state: u32,
}

impl SeededTestEntropy {
    /// A generator from `seed` (0 is replaced, as xorshift would stay at 0).
    pub fn new(seed: u32) -> SeededTestEntropy {
        SeededTestEntropy {
            state: if seed == 0 { 0x9E37_79B9 } else { seed },
        }
    }

    fn next(&mut self) -> u32 {
        let mut x = self.state;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        self.state = x;
        x
    }
}

impl Entropy for SeededTestEntropy {
    fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(4) {
            let word = self.next().to_le_bytes();
            chunk.copy_from_slice(&word[..chunk.len()]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entropy_fills_every_byte_and_varies() {
        let mut entropy = SeededTestEntropy::new(0);
        let mut a = [0u8; 7];
        let mut b = [0u8; 7];
        entropy.fill(&mut a);
        entropy.fill(&mut b);
        assert_ne!(a, b);
        assert_ne!(a, [0; 7]);
    }
}
