//! The error document S3 sends with a failed request (Amazon S3 API Reference, "Error
//! responses", <https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html>):
//!
//! ```text
//! <?xml version="1.0" encoding="UTF-8"?>
//! <Error><Code>AccessDenied</Code><Message>Request has expired</Message>...</Error>
//! ```
//!
//! A presigned URL past its `X-Amz-Expires` answers `403 AccessDenied` with the message
//! "Request has expired"; a wrong signature answers `403 SignatureDoesNotMatch`. Only the
//! `Code` and whether the request expired are kept; nothing here allocates or panics.

use core::fmt;

/// The longest error code kept (S3's are at most 40 characters; longer ones are cut).
pub const CODE_MAX: usize = 40;

/// What an S3 error document says.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct S3ErrorRepr {
    code: [u8; CODE_MAX],
    code_len: u8,
    /// The message says the presigned URL has expired.
    pub expired: bool,
}

impl S3ErrorRepr {
    /// Reads the `Code` and `Message` elements of `body`; `None` when there is no `Code`.
    pub fn parse(body: &[u8]) -> Option<S3ErrorRepr> {
        let code = element(body, b"Code")?;
        let code = code.get(..CODE_MAX).unwrap_or(code);
        if code.is_empty() || !code.iter().all(u8::is_ascii_alphanumeric) {
            return None;
        }
        let mut repr = S3ErrorRepr {
            code: [0; CODE_MAX],
            code_len: code.len() as u8,
            expired: element(body, b"Message").is_some_and(|m| m == b"Request has expired"),
        };
        repr.code[..code.len()].copy_from_slice(code);
        Some(repr)
    }

    /// The error code, e.g. `AccessDenied`.
    pub fn code(&self) -> &str {
        let code = self.code.get(..usize::from(self.code_len)).unwrap_or(&[]);
        core::str::from_utf8(code).unwrap_or("")
    }
}

impl fmt::Debug for S3ErrorRepr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "S3Error({}, expired: {})", self.code(), self.expired)
    }
}

impl fmt::Display for S3ErrorRepr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())?;
        if self.expired {
            f.write_str(" (request has expired)")?;
        }
        Ok(())
    }
}

/// The text between `<name>` and `</name>`, first occurrence.
fn element<'a>(body: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
    let start = find(body, &[b"<", name, b">"])?;
    let rest = body.get(start..)?;
    let end = find(rest, &[b"</", name, b">"])?;
    rest.get(..end)
}

/// Where `parts`, concatenated, end in `haystack` (for the opening tag) or start (for the
/// closing one): the index just past an opening tag, or the start of a closing tag.
fn find(haystack: &[u8], parts: &[&[u8]]) -> Option<usize> {
    let len: usize = parts.iter().map(|p| p.len()).sum();
    let closing = parts.first().is_some_and(|p| *p == b"</");
    (0..=haystack.len().checked_sub(len)?).find_map(|at| {
        let mut cursor = at;
        for part in parts {
            if haystack.get(cursor..cursor + part.len())? != *part {
                return None;
            }
            cursor += part.len();
        }
        Some(if closing { at } else { cursor })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_expired_url_and_a_wrong_signature_are_told_apart() {
        let expired = S3ErrorRepr::parse(
            b"<?xml version=\"1.0\"?><Error><Code>AccessDenied</Code>\
              <Message>Request has expired</Message><Expires>2026-12-03T10:00:00Z</Expires></Error>",
        )
        .unwrap();
        assert_eq!(expired.code(), "AccessDenied");
        assert!(expired.expired);
        let denied = S3ErrorRepr::parse(
            b"<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>",
        )
        .unwrap();
        assert!(!denied.expired);
        let signature = S3ErrorRepr::parse(
            b"<Error><Code>SignatureDoesNotMatch</Code><Message>The request signature we calculated does not match</Message></Error>",
        )
        .unwrap();
        assert_eq!(signature.code(), "SignatureDoesNotMatch");
        assert!(!signature.expired);
    }

    #[test]
    fn bodies_without_a_code_or_cut_short_give_nothing() {
        for body in [
            &b""[..],
            b"<Error>",
            b"<Error><Code>AccessDen",
            b"<Code></Code>",
            b"<Code>Access Denied</Code>",
            b"Forbidden",
        ] {
            assert_eq!(S3ErrorRepr::parse(body), None, "{body:?}");
        }
        for cut in 0..60 {
            let body = b"<Error><Code>AccessDenied</Code><Message>Request has expired</Message>";
            let _ = S3ErrorRepr::parse(&body[..cut.min(body.len())]);
        }
    }

    #[test]
    fn a_long_code_is_cut() {
        let body = [b"<Code>".as_slice(), &[b'A'; 60], b"</Code>"].concat();
        assert_eq!(S3ErrorRepr::parse(&body).unwrap().code().len(), CODE_MAX);
    }
}
