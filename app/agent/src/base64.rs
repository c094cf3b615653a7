//! Base64 (RFC 4648 section 4, the standard alphabet with `=` padding), as the AWS OTA job
//! document carries the file's signature (`sig-sha256-ecdsa`).
//!
//! Decoding is strict: whole 4-character groups, padding only at the end, no whitespace, and
//! the unused bits of the last group zero (section 3.5), so that each byte string has exactly
//! one encoding.

use core::fmt;

/// Why text is not base64.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Base64Error {
    /// The length is not a multiple of 4.
    Length(usize),
    /// A character outside the alphabet (or misplaced padding) at this index.
    Character(usize),
    /// The last group's unused bits are not zero.
    TrailingBits,
    /// The decoded bytes do not fit the output buffer, which holds `room` bytes.
    TooLong { room: usize },
}

impl fmt::Display for Base64Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Base64Error::Length(len) => write!(f, "base64 length {len} is not a multiple of 4"),
            Base64Error::Character(at) => write!(f, "not base64 at character {at}"),
            Base64Error::TrailingBits => write!(f, "base64 with non-zero trailing bits"),
            Base64Error::TooLong { room } => write!(f, "base64 decodes to more than {room} bytes"),
        }
    }
}

/// The length `text` decodes to, if it has a valid length and padding shape.
fn decoded_len(text: &[u8]) -> Result<usize, Base64Error> {
    if !text.len().is_multiple_of(4) {
        return Err(Base64Error::Length(text.len()));
    }
    let padding = text.iter().rev().take(2).filter(|c| **c == b'=').count();
    Ok(text.len() / 4 * 3 - padding)
}

fn sextet(c: u8) -> Option<u32> {
    let value = match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => return None,
    };
    Some(u32::from(value))
}

/// Decodes `text` into a buffer of at most `N` bytes.
pub fn decode_to<const N: usize>(text: &str) -> Result<heapless::Vec<u8, N>, Base64Error> {
    let mut out = heapless::Vec::new();
    let len = decoded_len(text.as_bytes())?;
    out.resize(len, 0)
        .map_err(|_| Base64Error::TooLong { room: N })?;
    let written = decode(text.as_bytes(), &mut out)?;
    out.truncate(written);
    Ok(out)
}

/// Decodes `text` into the start of `out`; returns the decoded length.
pub fn decode(text: &[u8], out: &mut [u8]) -> Result<usize, Base64Error> {
    let len = decoded_len(text)?;
    let room = out.len();
    let out = out.get_mut(..len).ok_or(Base64Error::TooLong { room })?;
    let groups = text.len() / 4;
    let mut written = 0;
    for (index, group) in text.chunks_exact(4).enumerate() {
        let last = index + 1 == groups;
        let padding = if last {
            group.iter().rev().take(2).filter(|c| **c == b'=').count()
        } else {
            0
        };
        let mut word = 0u32;
        for (i, c) in group.iter().enumerate() {
            let value = if i >= 4 - padding {
                (*c == b'=').then_some(0)
            } else {
                sextet(*c)
            };
            word = word << 6 | value.ok_or(Base64Error::Character(index * 4 + i))?;
        }
        let bytes = word.to_be_bytes();
        let produced = &bytes[1..4 - padding];
        let unused = match padding {
            1 => word & 0xFF,
            2 => word & 0xFFFF,
            _ => 0,
        };
        if unused != 0 {
            return Err(Base64Error::TrailingBits);
        }
        let target = out
            .get_mut(written..written + produced.len())
            .ok_or(Base64Error::TooLong { room: len })?;
        target.copy_from_slice(produced);
        written += produced.len();
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec;
    use std::vec::Vec;

    #[test]
    fn a_bounded_buffer_takes_what_fits() {
        assert_eq!(decode_to::<6>("Zm9vYmFy").unwrap().as_slice(), b"foobar");
        assert_eq!(
            decode_to::<5>("Zm9vYmFy"),
            Err(Base64Error::TooLong { room: 5 })
        );
    }

    fn decoded(text: &str) -> Result<Vec<u8>, Base64Error> {
        let mut out = [0u8; 64];
        decode(text.as_bytes(), &mut out).map(|n| out[..n].to_vec())
    }

    #[test]
    fn the_rfc_4648_test_vectors_decode() {
        for (text, plain) in [
            ("", ""),
            ("Zg==", "f"),
            ("Zm8=", "fo"),
            ("Zm9v", "foo"),
            ("Zm9vYg==", "foob"),
            ("Zm9vYmE=", "fooba"),
            ("Zm9vYmFy", "foobar"),
        ] {
            assert_eq!(decoded(text), Ok(plain.as_bytes().to_vec()), "{text}");
        }
        assert_eq!(decoded("+/+/"), Ok(vec![0xFB, 0xFF, 0xBF]));
    }

    #[test]
    fn malformed_text_is_refused() {
        assert_eq!(decoded("Zm9"), Err(Base64Error::Length(3)));
        assert_eq!(decoded("Zm9v\n"), Err(Base64Error::Length(5)));
        assert_eq!(decoded("Zm-v"), Err(Base64Error::Character(2)));
        assert_eq!(decoded("Zg==Zm9v"), Err(Base64Error::Character(2)));
        assert_eq!(decoded("Z===",), Err(Base64Error::Character(1)));
        assert_eq!(decoded("Zh=="), Err(Base64Error::TrailingBits));
        assert_eq!(decoded("Zm9="), Err(Base64Error::TrailingBits));
    }

    #[test]
    fn output_that_does_not_fit_is_refused_before_anything_is_written() {
        let mut out = [0u8; 5];
        assert_eq!(
            decode(b"Zm9vYmFy", &mut out),
            Err(Base64Error::TooLong { room: 5 })
        );
        assert_eq!(out, [0; 5]);
    }
}
