//! SHA-256 and ECDSA P-256 verification through mbedTLS (the same code the TLS stack uses, so
//! no second implementation in the image). OTA images are signed with ECDSA P-256 / SHA-256.

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

/// Why a signature check failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignatureError {
    /// The public key (PEM or DER) did not parse (mbedTLS code).
    BadKey(i32),
    /// The signature does not match the digest and key (or is malformed; mbedTLS code).
    Mismatch(i32),
}

impl core::fmt::Display for SignatureError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            SignatureError::BadKey(code) => {
                write!(f, "public key does not parse (-0x{:04X})", -code)
            }
            SignatureError::Mismatch(code) => {
                write!(f, "signature does not verify (-0x{:04X})", -code)
            }
        }
    }
}

/// Verifies an ECDSA signature (DER, as in the job document's `sig-sha256-ecdsa` once base64
/// is undone) over a SHA-256 `digest` with a public key in PEM (NUL-terminated) or DER.
pub fn verify_ecdsa_sha256(
    public_key: &[u8],
    digest: &[u8; 32],
    signature: &[u8],
) -> Result<(), SignatureError> {
    // SAFETY: a plain C struct, initialised by pk_init before use and freed once below.
    let mut key: tls::pk_context = unsafe { core::mem::zeroed() };
    // SAFETY: `key` is a valid context; the key buffer is valid for its length, and the key is
    // only used after it parsed.
    unsafe {
        tls::pk_init(&mut key);
        let parsed = tls::pk_parse_public_key(&mut key, public_key.as_ptr(), public_key.len());
        let verdict = verdict(parsed, || pk_verify_sha256(&mut key, digest, signature));
        tls::pk_free(&mut key);
        verdict
    }
}

/// Verifies like [`verify_ecdsa_sha256`] with the public key of an X.509 certificate (PEM
/// with its NUL, or DER), as AWS's OTA PAL checks files with its code-signing certificate.
pub fn verify_ecdsa_sha256_by_certificate(
    certificate: &[u8],
    digest: &[u8; 32],
    signature: &[u8],
) -> Result<(), SignatureError> {
    // SAFETY: a plain C struct, initialised by x509_crt_init before use and freed once below.
    let mut crt: tls::x509_crt = unsafe { core::mem::zeroed() };
    // SAFETY: `crt` is a valid context; the certificate buffer is valid for its length, and
    // `crt.pk` is only used after the certificate parsed.
    unsafe {
        tls::x509_crt_init(&mut crt);
        let parsed = tls::x509_crt_parse(&mut crt, certificate.as_ptr(), certificate.len());
        let verdict = verdict(parsed, || pk_verify_sha256(&mut crt.pk, digest, signature));
        tls::x509_crt_free(&mut crt);
        verdict
    }
}

/// The outcome of parsing a key (mbedTLS code `parsed`), then, if it parsed, `verify`ing.
fn verdict(parsed: i32, verify: impl FnOnce() -> i32) -> Result<(), SignatureError> {
    if parsed != 0 {
        return Err(SignatureError::BadKey(parsed));
    }
    match verify() {
        0 => Ok(()),
        code => Err(SignatureError::Mismatch(code)),
    }
}

/// `pk_verify` of a SHA-256 digest: 0 or the mbedTLS code.
fn pk_verify_sha256(key: &mut tls::pk_context, digest: &[u8; 32], signature: &[u8]) -> i32 {
    // SAFETY: `key` is an initialised context (its callers pass one whose key parsed; one
    // without a key would be refused, not read); the buffers are valid for their lengths.
    unsafe {
        tls::pk_verify(
            key,
            tls::MD_SHA256,
            digest.as_ptr(),
            digest.len(),
            signature.as_ptr(),
            signature.len(),
        )
    }
}

/// A known-answer vector for self-tests: a P-256 public key (PEM with its NUL), the message,
/// its SHA-256, and an ECDSA signature over it (DER), made with OpenSSL.
pub mod vector {
    pub const PUBLIC_KEY_PEM: &[u8] = b"-----BEGIN PUBLIC KEY-----\n\
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAENP2Nefwjpt+BYLI8YPjuE7fbGUUD\n\
DUA/zRVtwcYriqPPO6ECsOyLN30nMPoLhUM3m3RTq9ybBGc04CE8Ak+iiw==\n\
-----END PUBLIC KEY-----\n\0";
    pub const MESSAGE: &[u8] = b"W800 OTA selftest vector";
    pub const MESSAGE_SHA256: [u8; 32] = [
        0xd1, 0x79, 0xc4, 0xdc, 0xf2, 0x32, 0x98, 0xd4, 0x8e, 0x11, 0x36, 0xbd, 0xbe, 0x86, 0x5e,
        0xb9, 0x82, 0xb0, 0x34, 0xf3, 0x83, 0xf2, 0xa2, 0x4f, 0x90, 0xdc, 0x32, 0xe4, 0x8c, 0xbe,
        0xf0, 0x00,
    ];
    pub const SIGNATURE_DER: &[u8] = &[
        0x30, 0x44, 0x02, 0x20, 0x42, 0xff, 0x71, 0xd0, 0x8b, 0xf7, 0x43, 0xd0, 0xf9, 0xec, 0xf4,
        0x36, 0x09, 0x73, 0xc8, 0x39, 0x63, 0xd7, 0xb8, 0x7d, 0xe2, 0x69, 0xf0, 0x8a, 0x34, 0x03,
        0xfb, 0xa2, 0xe1, 0xa2, 0xf9, 0xb6, 0x02, 0x20, 0x36, 0x16, 0x61, 0x95, 0xe4, 0xb4, 0xa8,
        0xe7, 0x4e, 0x8b, 0x2a, 0x9d, 0xba, 0x57, 0x87, 0x3d, 0xb7, 0x55, 0x33, 0x21, 0xf8, 0xb9,
        0xf7, 0x38, 0x7e, 0x5f, 0x82, 0x68, 0xd2, 0x2c, 0xe5, 0xb2,
    ];
}

#[cfg(test)]
mod tests {
    use super::*;

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

#[cfg(test)]
mod signature_tests {
    use super::vector::*;
    use super::*;

    #[test]
    fn the_vector_verifies_and_any_change_breaks_it() {
        let _heap = crate::TEST_HEAP.lock();
        let mut digest = Sha256::new();
        digest.update(MESSAGE);
        assert_eq!(digest.finish(), MESSAGE_SHA256);
        assert_eq!(
            verify_ecdsa_sha256(PUBLIC_KEY_PEM, &MESSAGE_SHA256, SIGNATURE_DER),
            Ok(())
        );
        let mut other = MESSAGE_SHA256;
        other[31] ^= 1;
        assert!(matches!(
            verify_ecdsa_sha256(PUBLIC_KEY_PEM, &other, SIGNATURE_DER),
            Err(SignatureError::Mismatch(_))
        ));
        let mut bad_sig = SIGNATURE_DER.to_vec();
        bad_sig[10] ^= 0x40;
        assert!(verify_ecdsa_sha256(PUBLIC_KEY_PEM, &MESSAGE_SHA256, &bad_sig).is_err());
        assert!(matches!(
            verify_ecdsa_sha256(b"not a key\0", &MESSAGE_SHA256, SIGNATURE_DER),
            Err(SignatureError::BadKey(_))
        ));
    }
}
