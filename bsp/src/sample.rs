//! Deterministic sample data for host tests and benchmarks: noise, and bytes shaped like an
//! app binary (runs of repeated text with noise between), so that xz has about as much to do
//! as with real code.

/// `len` pseudo-random bytes from `seed` (xorshift32; a zero seed is taken as 1).
pub fn noise(seed: u32, len: usize) -> Vec<u8> {
    let mut state = seed.max(1);
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state as u8
        })
        .collect()
}

/// `len` bytes like an app binary: in every 256, 200 bytes of instruction-like text, then
/// 56 of noise from `seed`.
pub fn app_binary(seed: u32, len: usize) -> Vec<u8> {
    const TEXT: &[u8] = b"ld.w r2, (r3, 0x4); bsr memcpy; ";
    let noise = noise(seed, len);
    noise
        .iter()
        .enumerate()
        .map(|(i, random)| {
            if i % 256 < 200 {
                TEXT[i % TEXT.len()]
            } else {
                *random
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_bytes_and_another_seed_others() {
        assert_eq!(noise(7, 100), noise(7, 100));
        assert_ne!(noise(7, 100), noise(8, 100));
        assert_eq!(noise(0, 10), noise(1, 10));
        let app = app_binary(3, 1000);
        assert_eq!(app.len(), 1000);
        assert_eq!(&app[..4], b"ld.w");
        assert_ne!(app[200..256], app_binary(4, 1000)[200..256]);
    }
}
