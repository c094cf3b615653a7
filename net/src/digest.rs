//! SHA-256 through mbedTLS (the same code the TLS stack uses, so no second implementation in
//! the image).

use mbedtls_sys as tls;

/// An incremental SHA-256 (FIPS 180-4).
pub struct Sha256 {
    context: tls::sha256_context,
}

impl Default for Sha256 {
    fn default() -> Self {
        Self::new()
    }
}

impl Sha256 {
    pub fn new() -> Sha256 {
        // SAFETY: a plain C struct, initialised by sha256_init and started before use.
        let mut context: tls::sha256_context = unsafe { core::mem::zeroed() };
        // SAFETY: `context` is a valid, exclusively owned context.
        unsafe {
            tls::sha256_init(&mut context);
            tls::sha256_starts_ret(&mut context, 0);
        }
        Sha256 { context }
    }

    /// Adds `data` to the digest.
    pub fn update(&mut self, data: &[u8]) {
        // SAFETY: a started context; `data` is valid for its length. With in-memory input
        // the call cannot fail.
        unsafe { tls::sha256_update_ret(&mut self.context, data.as_ptr(), data.len()) };
    }

    /// The digest of everything added.
    pub fn finish(mut self) -> [u8; 32] {
        let mut digest = [0u8; 32];
        // SAFETY: a started context and a 32-byte output.
        unsafe { tls::sha256_finish_ret(&mut self.context, digest.as_mut_ptr()) };
        digest
    }
}

impl Drop for Sha256 {
    fn drop(&mut self) {
        // SAFETY: frees the context once.
        unsafe { tls::sha256_free(&mut self.context) }
    }
}

#[cfg(test)]
mod tests {
    use super::Sha256;

    #[test]
    fn known_vectors() {
        // FIPS 180-4 examples: "abc", and the 448-bit message split across updates.
        let abc = Sha256::new();
        let mut abc = abc;
        abc.update(b"abc");
        assert_eq!(
            abc.finish()[..4],
            [0xba, 0x78, 0x16, 0xbf],
            "sha256(abc) starts ba7816bf"
        );
        let mut split = Sha256::new();
        split.update(b"abcdbcdecdefdefgefghfghighij");
        split.update(b"hijkijkljklmklmnlmnomnopnopq");
        let digest = split.finish();
        assert_eq!(digest[..4], [0x24, 0x8d, 0x6a, 0x61]);
        assert_eq!(digest[28..], [0x19, 0xdb, 0x06, 0xc1]);
    }
}
