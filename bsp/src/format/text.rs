//! Fixed-width, NUL-padded ASCII text fields.
//!
//! Both W800 formats store short strings this way: the image header's `ver` (16 bytes, ≤ 15
//! characters; docs/w800.md, "Image header") and the partition names of the partition table
//! (16 bytes, ≤ 15 characters; docs/w800.md, "Partition table"). The C side reads them as
//! NUL-terminated strings, so at least one NUL must follow the text; everything after it must
//! be NUL too, which makes the field's bytes a function of the text alone (so parse and emit are
//! exact inverses).

use core::fmt;

/// Why a text field (or a string meant for one) was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextError {
    /// The text is empty where a name is required.
    Empty,
    /// The text has `len` bytes but the field holds at most `max` (one byte is kept for the
    /// terminating NUL). Also reported for a field with no NUL at all.
    TooLong { len: usize, max: usize },
    /// The byte at `index` is outside the allowed characters.
    BadByte { index: usize, byte: u8 },
    /// A non-NUL byte at `index` follows the terminating NUL.
    NotNulPadded { index: usize },
}

impl fmt::Display for TextError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            TextError::Empty => write!(f, "empty"),
            TextError::TooLong { len, max } => {
                write!(f, "{len} bytes long, at most {max} fit")
            }
            TextError::BadByte { index, byte } => {
                write!(
                    f,
                    "byte {index} is 0x{byte:02x}, not an allowed ASCII character"
                )
            }
            TextError::NotNulPadded { index } => {
                write!(f, "byte {index} after the terminating NUL is not NUL")
            }
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for TextError {}

/// Printable ASCII including space (0x20..=0x7E): version strings such as "2.3-alpha.2".
pub(crate) fn is_printable(byte: u8) -> bool {
    byte == b' ' || byte.is_ascii_graphic()
}

/// Printable ASCII without space: partition names such as "app_ota".
pub(crate) fn is_graphic(byte: u8) -> bool {
    byte.is_ascii_graphic()
}

/// Checks that `text` can be stored in a field of `field_len` bytes using only bytes for which
/// `allowed` holds.
pub(crate) fn check(
    text: &str,
    field_len: usize,
    allowed: fn(u8) -> bool,
) -> Result<(), TextError> {
    let max = field_len.saturating_sub(1);
    if text.len() > max {
        return Err(TextError::TooLong {
            len: text.len(),
            max,
        });
    }
    match text.bytes().position(|byte| !allowed(byte)) {
        Some(index) => Err(TextError::BadByte {
            index,
            byte: text.as_bytes().get(index).copied().unwrap_or(0),
        }),
        None => Ok(()),
    }
}

/// Decodes a NUL-padded field, returning the text before the first NUL.
///
/// `allowed` must only accept ASCII bytes, which are always valid UTF-8.
pub(crate) fn decode(field: &[u8], allowed: fn(u8) -> bool) -> Result<&str, TextError> {
    let max = field.len().saturating_sub(1);
    let len = match field.iter().position(|&byte| byte == 0) {
        Some(len) => len,
        None => {
            return Err(TextError::TooLong {
                len: field.len(),
                max,
            })
        }
    };
    let (text, padding) = field.split_at(len);
    if let Some(index) = text.iter().position(|&byte| !allowed(byte)) {
        return Err(TextError::BadByte {
            index,
            byte: text.get(index).copied().unwrap_or(0),
        });
    }
    if let Some(index) = padding.iter().position(|&byte| byte != 0) {
        return Err(TextError::NotNulPadded { index: len + index });
    }
    core::str::from_utf8(text).map_err(|error| TextError::BadByte {
        index: error.valid_up_to(),
        byte: text.get(error.valid_up_to()).copied().unwrap_or(0),
    })
}

/// Writes `text` NUL-padded into `field`. The caller has checked `text` with [`check`]; a text
/// that does not fit is cut so that the field still ends with a NUL.
pub(crate) fn encode(text: &str, field: &mut [u8]) {
    field.fill(0);
    let room = field.len().saturating_sub(1);
    for (slot, byte) in field.iter_mut().take(room).zip(text.bytes()) {
        *slot = byte;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_accepts_padded_text() {
        let mut field = [0u8; 16];
        encode("2.3-alpha.2", &mut field);
        assert_eq!(decode(&field, is_printable), Ok("2.3-alpha.2"));
        assert_eq!(decode(&[0u8; 16], is_printable), Ok(""));
    }

    #[test]
    fn decode_rejects_missing_terminator_bad_bytes_and_trailing_garbage() {
        assert_eq!(
            decode(&[b'a'; 16], is_printable),
            Err(TextError::TooLong { len: 16, max: 15 })
        );
        let mut field = [0u8; 16];
        field[0] = b'a';
        field[1] = 0x80;
        assert_eq!(
            decode(&field, is_printable),
            Err(TextError::BadByte {
                index: 1,
                byte: 0x80
            })
        );
        let mut field = [0u8; 16];
        field[0] = b'a';
        field[5] = b'b';
        assert_eq!(
            decode(&field, is_printable),
            Err(TextError::NotNulPadded { index: 5 })
        );
        let mut field = [0u8; 16];
        field[0] = b' ';
        assert_eq!(
            decode(&field, is_graphic),
            Err(TextError::BadByte {
                index: 0,
                byte: b' '
            })
        );
    }

    #[test]
    fn check_limits_length_and_characters() {
        assert_eq!(check("0123456789abcde", 16, is_graphic), Ok(()));
        assert_eq!(
            check("0123456789abcdef", 16, is_graphic),
            Err(TextError::TooLong { len: 16, max: 15 })
        );
        assert_eq!(
            check("é", 16, is_printable),
            Err(TextError::BadByte {
                index: 0,
                byte: 0xC3
            })
        );
    }
}
