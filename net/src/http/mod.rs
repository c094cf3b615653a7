//! An HTTP/1.1 client for ranged downloads over one kept-alive connection: the OTA file
//! channel, where a presigned S3 URL is fetched with `Range` requests.
//!
//! A [`Connection`] owns a connected transport and a caller-provided buffer that holds the
//! request head and then the response head (size it for the URL, up to [`MAX_URL_LEN`] bytes,
//! plus about 1 KB of response headers). [`Connection::get_range`] sends `GET` with a `Range`
//! and reads the response head; it returns only for `206 Partial Content` whose
//! `Content-Range` is exactly the range asked for and whose `Content-Length` is its length.
//! A `200` means the server ignored the range and would send the whole file: that is an error,
//! never data. Other statuses are typed errors carrying their code.
//!
//! The body then streams into the caller's buffers through [`Connection::read_body`], one
//! read at a time, so one long range can be cut into fixed-size blocks. A body that ends early
//! is reported with the number of bytes that did arrive. Once the body is fully read, the
//! connection takes the next request, unless the server said `Connection: close`; then
//! [`Connection::is_reusable`] is false and the caller connects again.
//!
//! Bodies must be delimited by `Content-Length`: a 206 with `Transfer-Encoding` (chunked) is
//! refused, as servers answer single ranges with a length. Timeouts are inactivity timeouts:
//! every read waits at most the given time for the next bytes, and the response head is
//! bounded by the buffer, so a response cannot hold the caller forever.
#![forbid(unsafe_code)]

#[cfg(test)]
mod tests;

use core::fmt;

pub use crate::wire::http::{ByteRange, ContentRange, Header};
pub use crate::wire::url::{Scheme, Url, UrlError, MAX_URL_LEN};

use crate::io::{IoError, Transport};
use crate::wire::http::{self as wire, RangeRequest, ResponseHead};
pub use crate::wire::s3::S3ErrorRepr;

/// Why a ranged download failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HttpError {
    /// The transport failed; `IoError::Closed` when the server closed before responding.
    Io(IoError),
    /// The response head is not valid HTTP/1.1.
    Malformed(wire::Error),
    /// An extra request header is invalid or repeats one the client writes.
    BadRequestHeader(wire::Error),
    /// The request head of `len` bytes does not fit the connection's buffer.
    RequestTooLarge { len: usize, capacity: usize },
    /// The response head does not fit the connection's buffer.
    HeadTooLarge { capacity: usize },
    /// `200 OK` to a range request: the server ignored the range.
    RangeIgnored,
    /// `416 Range Not Satisfiable`, with the representation's length if the server gave it.
    RangeNotSatisfiable { complete_length: Option<u64> },
    /// `403 Forbidden`, with S3's error code when the body carried one (an expired presigned
    /// URL: `AccessDenied`, "Request has expired").
    Forbidden(Option<S3ErrorRepr>),
    /// `404 Not Found`.
    NotFound,
    /// A 5xx status: the server failed and a retry may succeed.
    ServerError { status: u16 },
    /// Any other status that is not 206.
    UnexpectedStatus { status: u16 },
    /// A 206 without `Content-Range`.
    MissingContentRange,
    /// A 206 whose `Content-Range` is not the range requested.
    ContentRangeMismatch {
        requested: ByteRange,
        received: ContentRange,
    },
    /// A 206 whose `Content-Length` is missing or differs from the length of its range.
    ContentLengthMismatch {
        expected: u64,
        received: Option<u64>,
    },
    /// A 206 with `Transfer-Encoding`, which this client does not decode.
    TransferEncoding,
    /// The connection ended after `received` of the body's `expected` bytes.
    Truncated { received: u64, expected: u64 },
    /// A new request while the previous body is still unread.
    BodyPending,
    /// The connection cannot carry another request (the server closes it, or an earlier
    /// error left a response unread): connect again.
    ConnectionNotReusable,
}

impl HttpError {
    /// The HTTP status code, for errors that come from one.
    pub const fn status(&self) -> Option<u16> {
        match self {
            Self::RangeIgnored => Some(200),
            Self::RangeNotSatisfiable { .. } => Some(416),
            Self::Forbidden(_) => Some(403),
            Self::NotFound => Some(404),
            Self::ServerError { status } | Self::UnexpectedStatus { status } => Some(*status),
            _ => None,
        }
    }
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io(error) => write!(f, "HTTP transport: {error}"),
            Self::Malformed(error) => write!(f, "HTTP response: {error}"),
            Self::BadRequestHeader(error) => write!(f, "HTTP request: {error}"),
            Self::RequestTooLarge { len, capacity } => write!(
                f,
                "HTTP request head of {len} bytes exceeds the {capacity}-byte buffer"
            ),
            Self::HeadTooLarge { capacity } => {
                write!(f, "HTTP response head exceeds the {capacity}-byte buffer")
            }
            Self::RangeIgnored => f.write_str("HTTP 200 to a range request: range ignored"),
            Self::RangeNotSatisfiable {
                complete_length: Some(length),
            } => write!(f, "HTTP 416: range not satisfiable, length {length}"),
            Self::RangeNotSatisfiable {
                complete_length: None,
            } => f.write_str("HTTP 416: range not satisfiable"),
            Self::Forbidden(None) => f.write_str("HTTP 403 Forbidden"),
            Self::Forbidden(Some(error)) => write!(f, "HTTP 403 Forbidden: {error}"),
            Self::NotFound => f.write_str("HTTP 404 Not Found"),
            Self::ServerError { status } => write!(f, "HTTP {status}: server error"),
            Self::UnexpectedStatus { status } => write!(f, "HTTP {status}: unexpected status"),
            Self::MissingContentRange => f.write_str("HTTP 206 without Content-Range"),
            Self::ContentRangeMismatch {
                requested,
                received,
            } => write!(f, "HTTP 206 with Content-Range {received} for {requested}"),
            Self::ContentLengthMismatch {
                expected,
                received: Some(received),
            } => write!(
                f,
                "HTTP 206 with Content-Length {received}, expected {expected}"
            ),
            Self::ContentLengthMismatch {
                expected,
                received: None,
            } => write!(f, "HTTP 206 without Content-Length, expected {expected}"),
            Self::TransferEncoding => f.write_str("HTTP 206 with Transfer-Encoding"),
            Self::Truncated { received, expected } => write!(
                f,
                "HTTP body truncated after {received} of {expected} bytes"
            ),
            Self::BodyPending => f.write_str("HTTP body of the previous response not read"),
            Self::ConnectionNotReusable => f.write_str("HTTP connection not reusable: reconnect"),
        }
    }
}

/// The bytes a 206 response carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PartialContent {
    pub first: u64,
    pub last: u64,
    /// The length of the whole file, when the server states it.
    pub complete_length: Option<u64>,
}

impl PartialContent {
    /// The number of body bytes: `last - first + 1`.
    pub const fn body_len(&self) -> u64 {
        self.last.saturating_sub(self.first).saturating_add(1)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Ready for a request.
    Idle,
    /// Streaming a 206 body. Body bytes that arrived with the head wait in
    /// `buf[buffered_start..buffered_end]`.
    Body {
        buffered_start: usize,
        buffered_end: usize,
        received: u64,
        expected: u64,
        keep_alive: bool,
    },
    /// The body was read, and the server closes the connection after it.
    Finished,
    /// An error left the connection in an unknown place in the stream.
    Broken,
}

/// One HTTP/1.1 connection, carrying range requests one after another.
pub struct Connection<'b, T: Transport> {
    transport: T,
    buf: &'b mut [u8],
    state: State,
}

impl<'b, T: Transport> Connection<'b, T> {
    /// A connection over a freshly connected `transport`, with `buf` for request and
    /// response heads.
    pub fn new(transport: T, buf: &'b mut [u8]) -> Self {
        Self {
            transport,
            buf,
            state: State::Idle,
        }
    }

    /// Whether the connection can take another request now.
    pub fn is_reusable(&self) -> bool {
        self.state == State::Idle
    }

    /// Body bytes of the current response not yet returned by [`read_body`](Self::read_body).
    pub fn body_remaining(&self) -> u64 {
        match self.state {
            State::Body {
                received, expected, ..
            } => expected - received,
            _ => 0,
        }
    }

    /// Requests `range` of `url` (which must name the host the transport is connected to)
    /// and reads the response head, waiting at most `timeout_ms` for each read.
    pub fn get_range(
        &mut self,
        url: &Url<'_>,
        range: ByteRange,
        headers: &[Header<'_>],
        timeout_ms: u32,
    ) -> Result<PartialContent, HttpError> {
        match self.state {
            State::Idle => {}
            State::Body { .. } => return Err(HttpError::BodyPending),
            State::Finished | State::Broken => return Err(HttpError::ConnectionNotReusable),
        }
        let request = RangeRequest {
            url,
            range,
            headers,
        };
        let capacity = self.buf.len();
        let len = request.emit(self.buf).map_err(|error| match error {
            wire::Error::BufferTooSmall => HttpError::RequestTooLarge {
                len: request.buffer_len(),
                capacity,
            },
            error => HttpError::BadRequestHeader(error),
        })?;
        // Until a response is accepted, a failure leaves the stream at an unknown place.
        self.state = State::Broken;
        let request_head = self.buf.get(..len).unwrap_or_default();
        self.transport
            .write_all(request_head)
            .map_err(HttpError::Io)?;
        let (head, buffered) = self.read_head(timeout_ms)?;
        if head.status == 403 {
            return Err(HttpError::Forbidden(
                self.read_s3_error(&head, buffered, timeout_ms),
            ));
        }
        let content = accept(range, &head)?;
        let body_len = content.body_len();
        let extra = buffered - head.len;
        // Never more than the body: bytes after it would belong to no request.
        let body_buffered = usize::try_from(body_len).map_or(extra, |body| extra.min(body));
        self.state = State::Body {
            buffered_start: head.len,
            buffered_end: head.len + body_buffered,
            received: 0,
            expected: body_len,
            keep_alive: head.keep_alive && extra == body_buffered,
        };
        Ok(content)
    }

    /// Copies the next body bytes into `buf`, waiting at most `timeout_ms` if none are
    /// buffered, and returns how many. `Ok(0)` for a non-empty `buf` means the body is
    /// complete.
    ///
    /// A timeout leaves the connection as it was, so the call can be repeated; the server
    /// closing before the end is [`HttpError::Truncated`].
    pub fn read_body(&mut self, buf: &mut [u8], timeout_ms: u32) -> Result<usize, HttpError> {
        let State::Body {
            buffered_start,
            buffered_end,
            received,
            expected,
            keep_alive,
        } = self.state
        else {
            return match self.state {
                State::Broken => Err(HttpError::ConnectionNotReusable),
                _ => Ok(0),
            };
        };
        if buf.is_empty() {
            return Ok(0);
        }
        let count = if buffered_start < buffered_end {
            let count = buf.len().min(buffered_end - buffered_start);
            let buffered = self
                .buf
                .get(buffered_start..buffered_start + count)
                .unwrap_or_default();
            if let Some(target) = buf.get_mut(..buffered.len()) {
                target.copy_from_slice(buffered);
            }
            buffered.len()
        } else {
            let wanted =
                usize::try_from(expected - received).map_or(buf.len(), |left| left.min(buf.len()));
            let target = buf.get_mut(..wanted).unwrap_or_default();
            match self.transport.read(target, timeout_ms) {
                Ok(0) => {
                    self.state = State::Broken;
                    return Err(HttpError::Truncated { received, expected });
                }
                Ok(count) => count.min(wanted),
                Err(IoError::Timeout) => return Err(HttpError::Io(IoError::Timeout)),
                Err(error) => {
                    self.state = State::Broken;
                    return Err(HttpError::Io(error));
                }
            }
        };
        let received = received + count as u64;
        self.state = if received < expected {
            State::Body {
                buffered_start: buffered_start + count.min(buffered_end - buffered_start),
                buffered_end,
                received,
                expected,
                keep_alive,
            }
        } else if keep_alive {
            State::Idle
        } else {
            State::Finished
        };
        Ok(count)
    }

    /// Reads the body of an error response (as much as the buffer holds after the head) and
    /// the S3 error document in it. The connection stays unusable afterwards.
    fn read_s3_error(
        &mut self,
        head: &ResponseHead,
        buffered: usize,
        timeout_ms: u32,
    ) -> Option<S3ErrorRepr> {
        let body_len = usize::try_from(head.content_length?).ok()?;
        let end = head.len.checked_add(body_len)?.min(self.buf.len());
        let mut filled = buffered.min(end);
        while filled < end {
            let free = self.buf.get_mut(filled..end)?;
            match self.transport.read(free, timeout_ms) {
                Ok(0) | Err(_) => break,
                Ok(count) => filled += count.min(free.len()),
            }
        }
        S3ErrorRepr::parse(self.buf.get(head.len..filled)?)
    }

    /// Reads until the buffer holds a whole response head; returns it with the number of
    /// bytes buffered, which may include the start of the body.
    fn read_head(&mut self, timeout_ms: u32) -> Result<(ResponseHead, usize), HttpError> {
        let mut filled = 0;
        loop {
            let received = self.buf.get(..filled).unwrap_or_default();
            if let Some(head) = ResponseHead::parse(received).map_err(HttpError::Malformed)? {
                return Ok((head, filled));
            }
            let free = self.buf.get_mut(filled..).unwrap_or_default();
            if free.is_empty() {
                return Err(HttpError::HeadTooLarge {
                    capacity: self.buf.len(),
                });
            }
            match self.transport.read(free, timeout_ms) {
                Ok(0) => return Err(HttpError::Io(IoError::Closed)),
                Ok(count) => filled += count.min(free.len()),
                Err(error) => return Err(HttpError::Io(error)),
            }
        }
    }
}

/// Accepts a response head for `requested` only if it is a 206 with exactly that range and a
/// `Content-Length` to match.
fn accept(requested: ByteRange, head: &ResponseHead) -> Result<PartialContent, HttpError> {
    match head.status {
        206 => {}
        200 => return Err(HttpError::RangeIgnored),
        416 => {
            let complete_length = match head.content_range {
                Some(ContentRange::Unsatisfied { complete_length }) => Some(complete_length),
                _ => None,
            };
            return Err(HttpError::RangeNotSatisfiable { complete_length });
        }
        403 => return Err(HttpError::Forbidden(None)),
        404 => return Err(HttpError::NotFound),
        status @ 500..=599 => return Err(HttpError::ServerError { status }),
        status => return Err(HttpError::UnexpectedStatus { status }),
    }
    if head.transfer_encoding {
        return Err(HttpError::TransferEncoding);
    }
    let received = head.content_range.ok_or(HttpError::MissingContentRange)?;
    let mismatch = HttpError::ContentRangeMismatch {
        requested,
        received,
    };
    let ContentRange::Satisfied {
        first,
        last,
        complete_length,
    } = received
    else {
        return Err(mismatch);
    };
    // The server may end a range early only where the file ends (RFC 9110 section 14.1.2).
    let is_file_end =
        |end: u64| complete_length.is_some_and(|length| length.checked_sub(1) == Some(end));
    let last_matches = match requested.last() {
        Some(requested_last) => {
            last == requested_last
                || (complete_length.is_some_and(|length| requested_last >= length)
                    && is_file_end(last))
        }
        None => is_file_end(last),
    };
    if first != requested.first() || !last_matches {
        return Err(mismatch);
    }
    let content = PartialContent {
        first,
        last,
        complete_length,
    };
    let expected = content.body_len();
    if head.content_length != Some(expected) {
        return Err(HttpError::ContentLengthMismatch {
            expected,
            received: head.content_length,
        });
    }
    Ok(content)
}
