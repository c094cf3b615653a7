//! JSON helpers the parsers share: a strict, stack-free syntax check that runs before
//! serde-json-core (which recurses once per nesting level and has no limit of its own), a
//! bounded unescape of the raw strings serde-json-core borrows, and its errors as a small
//! `Copy` type.
//!
//! The grammar is RFC 8259's (<https://www.rfc-editor.org/rfc/rfc8259>).

use core::fmt;
use heapless::String;

/// The deepest nesting of objects and arrays a message may have. The Jobs API's replies nest
/// five deep (`execution.jobDocument.afr_ota.files[]`); the rest is room for custom
/// documents.
pub const MAX_DEPTH: usize = 16;

/// What is wrong with a message's JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonError {
    /// The text ends inside a value.
    Truncated,
    /// A character that cannot stand where it does.
    Unexpected,
    /// A number that is not JSON, does not fit its field, or is negative or fractional
    /// where a count is due.
    Number,
    /// A string with a raw control character or an escape that is not JSON.
    Escape,
    /// Something other than white space follows the top-level value.
    Trailing,
    /// Objects and arrays nest deeper than [`MAX_DEPTH`].
    TooDeep,
    /// A value of the wrong JSON type (e.g. a string where a number is due).
    Type,
    /// Bytes that are not UTF-8 inside a string.
    Utf8,
    /// A member given twice, or another rule of the expected shape broken.
    Shape,
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            JsonError::Truncated => "JSON ends early",
            JsonError::Unexpected => "unexpected character",
            JsonError::Number => "bad number",
            JsonError::Escape => "bad string escape",
            JsonError::Trailing => "text after the JSON value",
            JsonError::TooDeep => "nested too deep",
            JsonError::Type => "wrong JSON type",
            JsonError::Utf8 => "not UTF-8",
            JsonError::Shape => "unexpected JSON shape",
        })
    }
}

impl From<serde_json_core::de::Error> for JsonError {
    fn from(e: serde_json_core::de::Error) -> Self {
        use serde_json_core::de::Error as E;
        match e {
            E::EofWhileParsingList
            | E::EofWhileParsingObject
            | E::EofWhileParsingString
            | E::EofWhileParsingNumber
            | E::EofWhileParsingValue => JsonError::Truncated,
            E::ExpectedColon
            | E::ExpectedListCommaOrEnd
            | E::ExpectedObjectCommaOrEnd
            | E::ExpectedSomeIdent
            | E::ExpectedSomeValue
            | E::KeyMustBeAString
            | E::TrailingComma => JsonError::Unexpected,
            E::InvalidNumber => JsonError::Number,
            E::InvalidType => JsonError::Type,
            E::InvalidUnicodeCodePoint => JsonError::Utf8,
            E::InvalidEscapeSequence | E::EscapedStringIsTooLong => JsonError::Escape,
            E::TrailingCharacters => JsonError::Trailing,
            _ => JsonError::Shape,
        }
    }
}

/// What [`check`] expects next.
#[derive(Clone, Copy)]
enum Expect {
    /// A value (the top level, an array element, a member's value).
    Value,
    /// A member name, or the end of an empty object already ruled out.
    Key,
    /// A comma or the end of the enclosing container, or the end of the text.
    After,
}

/// Checks that `bytes` are one JSON value, nested at most [`MAX_DEPTH`] deep, without
/// recursion. serde-json-core skips unknown members by recursing into them and is lax about
/// what it skips, so only text that passes this check is handed to it.
pub fn check(bytes: &[u8]) -> Result<(), JsonError> {
    // One bit per open container, innermost lowest: 1 for an object, 0 for an array.
    let mut objects: u32 = 0;
    let mut depth = 0usize;
    let mut at = 0usize;
    let mut expect = Expect::Value;
    loop {
        at = skip_space(bytes, at);
        let Some(&byte) = bytes.get(at) else {
            return if depth == 0 && matches!(expect, Expect::After) {
                Ok(())
            } else {
                Err(JsonError::Truncated)
            };
        };
        match expect {
            Expect::Value => match byte {
                b'{' | b'[' => {
                    if depth == MAX_DEPTH {
                        return Err(JsonError::TooDeep);
                    }
                    depth += 1;
                    objects = (objects << 1) | u32::from(byte == b'{');
                    at = skip_space(bytes, at + 1);
                    let close = if byte == b'{' { b'}' } else { b']' };
                    if bytes.get(at) == Some(&close) {
                        depth -= 1;
                        objects >>= 1;
                        at += 1;
                        expect = Expect::After;
                    } else if byte == b'{' {
                        expect = Expect::Key;
                    }
                }
                b'"' => {
                    at = string_end(bytes, at)?;
                    expect = Expect::After;
                }
                b't' => at = literal(bytes, at, b"true", &mut expect)?,
                b'f' => at = literal(bytes, at, b"false", &mut expect)?,
                b'n' => at = literal(bytes, at, b"null", &mut expect)?,
                b'-' | b'0'..=b'9' => {
                    at = number_end(bytes, at)?;
                    expect = Expect::After;
                }
                _ => return Err(JsonError::Unexpected),
            },
            Expect::Key => {
                if byte != b'"' {
                    return Err(JsonError::Unexpected);
                }
                at = skip_space(bytes, string_end(bytes, at)?);
                match bytes.get(at) {
                    Some(b':') => at += 1,
                    Some(_) => return Err(JsonError::Unexpected),
                    None => return Err(JsonError::Truncated),
                }
                expect = Expect::Value;
            }
            Expect::After => {
                if depth == 0 {
                    return Err(JsonError::Trailing);
                }
                let in_object = objects & 1 == 1;
                match (byte, in_object) {
                    (b',', true) => expect = Expect::Key,
                    (b',', false) => expect = Expect::Value,
                    (b'}', true) | (b']', false) => {
                        depth -= 1;
                        objects >>= 1;
                    }
                    _ => return Err(JsonError::Unexpected),
                }
                at += 1;
            }
        }
    }
}

fn skip_space(bytes: &[u8], mut at: usize) -> usize {
    while matches!(bytes.get(at), Some(b' ' | b'\t' | b'\n' | b'\r')) {
        at += 1;
    }
    at
}

fn literal(bytes: &[u8], at: usize, word: &[u8], expect: &mut Expect) -> Result<usize, JsonError> {
    let end = at + word.len();
    match bytes.get(at..end) {
        Some(text) if text == word => {
            *expect = Expect::After;
            Ok(end)
        }
        Some(_) => Err(JsonError::Unexpected),
        None if word.starts_with(&bytes[at..]) => Err(JsonError::Truncated),
        None => Err(JsonError::Unexpected),
    }
}

/// The index after the string that starts with the quote at `at`.
fn string_end(bytes: &[u8], at: usize) -> Result<usize, JsonError> {
    let mut i = at + 1;
    loop {
        match bytes.get(i) {
            None => return Err(JsonError::Truncated),
            Some(b'"') => return Ok(i + 1),
            Some(b'\\') => match bytes.get(i + 1) {
                None => return Err(JsonError::Truncated),
                Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => i += 2,
                Some(b'u') => {
                    let digits = bytes.get(i + 2..i + 6).ok_or(JsonError::Truncated)?;
                    if !digits.iter().all(u8::is_ascii_hexdigit) {
                        return Err(JsonError::Escape);
                    }
                    i += 6;
                }
                Some(_) => return Err(JsonError::Escape),
            },
            Some(&b) if b < 0x20 => return Err(JsonError::Escape),
            Some(_) => i += 1,
        }
    }
}

/// The index after the number that starts at `at`: `-? (0 | [1-9][0-9]*) (. [0-9]+)?
/// ([eE] [+-]? [0-9]+)?`.
fn number_end(bytes: &[u8], at: usize) -> Result<usize, JsonError> {
    let digits = |from: usize| {
        let mut i = from;
        while bytes.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        i
    };
    let mut i = at;
    if bytes.get(i) == Some(&b'-') {
        i += 1;
    }
    match bytes.get(i) {
        Some(b'0') => i += 1,
        Some(b'1'..=b'9') => i = digits(i),
        Some(_) => return Err(JsonError::Number),
        None => return Err(JsonError::Truncated),
    }
    if bytes.get(i) == Some(&b'.') {
        let end = digits(i + 1);
        if end == i + 1 {
            return Err(JsonError::Number);
        }
        i = end;
    }
    if matches!(bytes.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(bytes.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let end = digits(i);
        if end == i {
            return Err(JsonError::Number);
        }
        i = end;
    }
    Ok(i)
}

/// Why a string could not be unescaped into its bounded buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnescapeError {
    /// The unescaped text is longer than the buffer.
    TooLong,
    /// An escape that is not JSON, a lone UTF-16 surrogate, or a raw control character.
    Escape,
}

/// Unescapes the raw text of a JSON string (what lies between its quotes) into `out`,
/// replacing what `out` held. `\uXXXX` escapes, surrogate pairs included, become UTF-8.
pub fn unescape<const N: usize>(raw: &str, out: &mut String<N>) -> Result<(), UnescapeError> {
    unescape_into(raw, out, false)
}

/// As [`unescape`], but text past the buffer's end is cut (at a character boundary) rather
/// than refused.
pub fn unescape_cut<const N: usize>(raw: &str, out: &mut String<N>) -> Result<(), UnescapeError> {
    unescape_into(raw, out, true)
}

fn unescape_into<const N: usize>(
    raw: &str,
    out: &mut String<N>,
    cut: bool,
) -> Result<(), UnescapeError> {
    // Appends `text`; `Ok(false)` when the buffer is full and the rest is to be cut.
    let append = |out: &mut String<N>, text: &str| -> Result<bool, UnescapeError> {
        if out.push_str(text).is_ok() {
            return Ok(true);
        }
        if !cut {
            return Err(UnescapeError::TooLong);
        }
        for c in text.chars() {
            if out.push(c).is_err() {
                break;
            }
        }
        Ok(false)
    };
    out.clear();
    let bytes = raw.as_bytes();
    let mut run = 0usize;
    let mut i = 0usize;
    while let Some(&byte) = bytes.get(i) {
        if byte < 0x20 {
            return Err(UnescapeError::Escape);
        }
        if byte != b'\\' {
            i += 1;
            continue;
        }
        let (c, used) = escape_at(bytes, i)?;
        // `run..i` ends before an ASCII backslash, so it is whole characters.
        let mut one = [0u8; 4];
        if !append(out, &raw[run..i])? || !append(out, c.encode_utf8(&mut one))? {
            return Ok(());
        }
        i += used;
        run = i;
    }
    append(out, &raw[run..]).map(|_| ())
}

/// The character the escape at `bytes[at]` (a backslash) stands for, and its length.
fn escape_at(bytes: &[u8], at: usize) -> Result<(char, usize), UnescapeError> {
    let c = match bytes.get(at + 1) {
        Some(b'"') => '"',
        Some(b'\\') => '\\',
        Some(b'/') => '/',
        Some(b'b') => '\u{8}',
        Some(b'f') => '\u{c}',
        Some(b'n') => '\n',
        Some(b'r') => '\r',
        Some(b't') => '\t',
        Some(b'u') => {
            let high = hex4(bytes, at + 2)?;
            if !(0xD800..0xE000).contains(&high) {
                return char::from_u32(high)
                    .map(|c| (c, 6))
                    .ok_or(UnescapeError::Escape);
            }
            if high >= 0xDC00 || bytes.get(at + 6..at + 8) != Some(b"\\u") {
                return Err(UnescapeError::Escape);
            }
            let low = hex4(bytes, at + 8)?;
            if !(0xDC00..0xE000).contains(&low) {
                return Err(UnescapeError::Escape);
            }
            let code = 0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00);
            return char::from_u32(code)
                .map(|c| (c, 12))
                .ok_or(UnescapeError::Escape);
        }
        _ => return Err(UnescapeError::Escape),
    };
    Ok((c, 2))
}

fn hex4(bytes: &[u8], at: usize) -> Result<u32, UnescapeError> {
    let digits = bytes.get(at..at + 4).ok_or(UnescapeError::Escape)?;
    digits.iter().try_fold(0u32, |acc, &d| {
        let value = char::from(d).to_digit(16).ok_or(UnescapeError::Escape)?;
        Ok(acc * 16 + value)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_json_values() {
        for text in [
            "{}",
            "[]",
            " { \"a\" : [1, -2.5e+3, true, false, null, \"x\\u0041\\n\"], \"b\": {} } ",
            "0",
            "\"s\"",
            "[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]",
        ] {
            assert_eq!(check(text.as_bytes()), Ok(()), "{text}");
        }
    }

    #[test]
    fn refuses_what_is_not_json() {
        for (text, error) in [
            ("", JsonError::Truncated),
            ("{", JsonError::Truncated),
            ("{\"a\"", JsonError::Truncated),
            ("{\"a\":1,}", JsonError::Unexpected),
            ("[1,]", JsonError::Unexpected),
            ("{\"a\" 1}", JsonError::Unexpected),
            ("{1:2}", JsonError::Unexpected),
            ("[1 2]", JsonError::Unexpected),
            ("[1}", JsonError::Unexpected),
            ("01", JsonError::Trailing),
            ("1.", JsonError::Number),
            ("-", JsonError::Truncated),
            ("1e", JsonError::Number),
            ("tru", JsonError::Truncated),
            ("trux", JsonError::Unexpected),
            ("\"\\x\"", JsonError::Escape),
            ("\"\\u12g4\"", JsonError::Escape),
            ("\"a\nb\"", JsonError::Escape),
            ("{} {}", JsonError::Trailing),
            ("[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]", JsonError::TooDeep),
        ] {
            assert_eq!(check(text.as_bytes()), Err(error), "{text:?}");
        }
    }

    #[test]
    fn a_value_skipped_by_serde_cannot_hide_nesting() {
        // serde-json-core skips `1"x` up to the comma; a scanner that took the quote for the
        // start of a string would not see the brackets behind it.
        let mut text = std::string::String::from("{\"a\":1\"x,\"b\":");
        text.push_str(&"[".repeat(40));
        assert!(check(text.as_bytes()).is_err());
    }

    #[test]
    fn unescapes_into_bounded_buffers() {
        let mut out: String<32> = String::new();
        unescape(r#"a\/b\u0026c\"\\\n\u00e9\ud83d\ude00"#, &mut out).unwrap();
        assert_eq!(out.as_str(), "a/b&c\"\\\né\u{1F600}");
        unescape("plain", &mut out).unwrap();
        assert_eq!(out.as_str(), "plain");

        let mut small: String<4> = String::new();
        assert_eq!(unescape("abcde", &mut small), Err(UnescapeError::TooLong));
        assert_eq!(unescape(r"ab\/cd", &mut small), Err(UnescapeError::TooLong));
        assert_eq!(unescape(r"\/\/\/\/", &mut small), Ok(()));
        assert_eq!(small.as_str(), "////");
        assert_eq!(unescape_cut(r"ab\/cd\u00e9", &mut small), Ok(()));
        assert_eq!(small.as_str(), "ab/c");
        let mut three: String<3> = String::new();
        assert_eq!(unescape_cut(r"ab\u00e9", &mut three), Ok(()));
        assert_eq!(three.as_str(), "ab");
        assert_eq!(
            unescape_cut(r"ab\x", &mut three),
            Err(UnescapeError::Escape)
        );
    }

    #[test]
    fn refuses_bad_escapes() {
        let mut out: String<16> = String::new();
        for raw in [
            r"\x",
            r"\u12",
            r"\ud83d",
            r"\ud83dx",
            r"\ude00",
            r"\ud83d\u0041",
            "\u{1}",
            "\\",
        ] {
            assert_eq!(
                unescape(raw, &mut out),
                Err(UnescapeError::Escape),
                "{raw:?}"
            );
        }
    }
}
