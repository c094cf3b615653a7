//! Base64 decoding (RFC 4648 section 4, standard alphabet, `=` padding) of the job document's
//! `sig-sha256-ecdsa` into a bounded buffer.

use heapless::Vec;

/// Why a text is not base64 (or does not fit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Base64Error {
    /// A character outside the alphabet, misplaced padding, or a length that is not a
    /// multiple of four.
    Invalid,
    /// More bytes than the buffer holds.
    TooLong,
}

fn value(c: u8) -> Option<u32> {
    let v = match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => return None,
    };
    Some(u32::from(v))
}

/// Decodes `text` into at most `N` bytes.
pub fn decode<const N: usize>(text: &str) -> Result<Vec<u8, N>, Base64Error> {
    let bytes = text.as_bytes();
    if !bytes.len().is_multiple_of(4) {
        return Err(Base64Error::Invalid);
    }
    let mut out = Vec::new();
    let quads = bytes.len() / 4;
    for (index, quad) in bytes.chunks_exact(4).enumerate() {
        let last = index + 1 == quads;
        let padding = match quad {
            [_, _, b'=', b'='] if last => 2,
            [_, _, _, b'='] if last => 1,
            _ => 0,
        };
        let mut group = 0u32;
        for &c in &quad[..4 - padding] {
            group = (group << 6) | value(c).ok_or(Base64Error::Invalid)?;
        }
        group <<= 6 * padding;
        let decoded = group.to_be_bytes();
        out.extend_from_slice(&decoded[1..4 - padding])
            .map_err(|_| Base64Error::TooLong)?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_rfc_4648_vectors() {
        for (text, bytes) in [
            ("", &b""[..]),
            ("Zg==", b"f"),
            ("Zm8=", b"fo"),
            ("Zm9v", b"foo"),
            ("Zm9vYg==", b"foob"),
            ("Zm9vYmE=", b"fooba"),
            ("Zm9vYmFy", b"foobar"),
            ("+/8=", &[0xFB, 0xFF]),
        ] {
            assert_eq!(decode::<8>(text).unwrap().as_slice(), bytes, "{text}");
        }
    }

    #[test]
    fn refuses_what_is_not_base64() {
        for text in ["Zg=", "Z===", "Zg==Zm9v", "Zm9v!", "Zm 9", "=Zg="] {
            assert_eq!(decode::<16>(text), Err(Base64Error::Invalid), "{text}");
        }
        assert_eq!(decode::<2>("Zm9v"), Err(Base64Error::TooLong));
    }
}
