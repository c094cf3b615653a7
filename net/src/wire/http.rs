//! HTTP/1.1 for ranged downloads: the request head a client sends for one byte range, and the
//! response head it reads back.
//!
//! A client emits requests and parses responses, never the other way round, so this module
//! has [`RangeRequest::emit`] and [`ResponseHead::parse`] rather than one symmetric `Repr`.
//! The header values that do go both ways, [`ByteRange`] and [`ContentRange`], print in the
//! form they parse from. References: RFC 9112 (message syntax: request line section 3, status
//! line section 4, fields section 5, persistence section 9.3) and RFC 9110 (semantics:
//! `Content-Length` section 8.6, `Range` section 14.2, `Content-Range` section 14.4).
//!
//! The response head's syntax is checked by `httparse`; this module interprets the fields a
//! range download depends on. Nothing here allocates.
#![forbid(unsafe_code)]

use core::fmt;

use super::url::Url;

/// The most header fields a response head may have.
pub const MAX_HEADERS: usize = 32;

/// Request fields the client writes itself, which extra headers may not repeat.
const OWN_FIELDS: [&str; 5] = [
    "host",
    "range",
    "connection",
    "content-length",
    "transfer-encoding",
];

/// Why a head cannot be parsed or emitted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// The response head breaks HTTP/1.1 syntax (RFC 9112 sections 2.2, 4, 5).
    Syntax,
    /// The response head has more than [`MAX_HEADERS`] fields.
    TooManyHeaders,
    /// `Content-Length` is not a decimal number, or appears twice with different values (RFC
    /// 9110 section 8.6).
    BadContentLength,
    /// `Content-Range` is not a valid `bytes` range, or appears twice (RFC 9110 section 14.4).
    BadContentRange,
    /// An extra request header has a name that is not a token or a value with a control
    /// character (RFC 9110 sections 5.1, 5.5).
    BadHeader,
    /// An extra request header repeats a field the client writes itself.
    ReservedHeader,
    /// The buffer given to `emit` is shorter than the request head.
    BufferTooSmall,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Syntax => "malformed HTTP response head",
            Self::TooManyHeaders => "too many header fields",
            Self::BadContentLength => "invalid Content-Length",
            Self::BadContentRange => "invalid Content-Range",
            Self::BadHeader => "invalid request header",
            Self::ReservedHeader => "request header is written by the client itself",
            Self::BufferTooSmall => "buffer too small for the request head",
        })
    }
}

/// One range of bytes of a representation, `first` to `last` inclusive, or from `first` to the
/// end (RFC 9110 section 14.1.2, `int-range`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ByteRange {
    first: u64,
    last: Option<u64>,
}

impl ByteRange {
    /// Bytes `first..=last`, or `None` if `last < first`.
    pub const fn new(first: u64, last: u64) -> Option<Self> {
        if last < first {
            return None;
        }
        Some(Self {
            first,
            last: Some(last),
        })
    }

    /// Bytes from `first` to the end of the representation.
    pub const fn starting_at(first: u64) -> Self {
        Self { first, last: None }
    }

    pub const fn first(&self) -> u64 {
        self.first
    }

    /// The last byte, or `None` for a range that runs to the end.
    pub const fn last(&self) -> Option<u64> {
        self.last
    }
}

/// The value of a `Range` header field: `bytes=first-last` or `bytes=first-`.
impl fmt::Display for ByteRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "bytes={}-", self.first)?;
        if let Some(last) = self.last {
            write!(f, "{last}")?;
        }
        Ok(())
    }
}

/// A `Content-Range` field value in `bytes` (RFC 9110 section 14.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ContentRange {
    /// The enclosed bytes `first..=last` of a representation of `complete_length` bytes
    /// (`None`: unknown, written `*`).
    Satisfied {
        first: u64,
        last: u64,
        complete_length: Option<u64>,
    },
    /// A 416 response's statement of the current length (`bytes */length`).
    Unsatisfied { complete_length: u64 },
}

impl ContentRange {
    /// Parses a field value, refusing ranges the RFC calls invalid: `last < first`, or a
    /// complete length not greater than `last`.
    pub fn parse(value: &[u8]) -> Result<Self, Error> {
        let value = value.trim_ascii();
        let (unit, range) = split_once(value, b' ').ok_or(Error::BadContentRange)?;
        if !unit.eq_ignore_ascii_case(b"bytes") {
            return Err(Error::BadContentRange);
        }
        let (range, complete_length) = split_once(range, b'/').ok_or(Error::BadContentRange)?;
        let complete_length = match complete_length {
            b"*" => None,
            digits => Some(parse_decimal(digits).ok_or(Error::BadContentRange)?),
        };
        if range == b"*" {
            return complete_length
                .map(|complete_length| Self::Unsatisfied { complete_length })
                .ok_or(Error::BadContentRange);
        }
        let (first, last) = split_once(range, b'-').ok_or(Error::BadContentRange)?;
        let first = parse_decimal(first).ok_or(Error::BadContentRange)?;
        let last = parse_decimal(last).ok_or(Error::BadContentRange)?;
        if last < first || complete_length.is_some_and(|length| length <= last) {
            return Err(Error::BadContentRange);
        }
        Ok(Self::Satisfied {
            first,
            last,
            complete_length,
        })
    }
}

impl fmt::Display for ContentRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Satisfied {
                first,
                last,
                complete_length: Some(length),
            } => write!(f, "bytes {first}-{last}/{length}"),
            Self::Satisfied {
                first,
                last,
                complete_length: None,
            } => write!(f, "bytes {first}-{last}/*"),
            Self::Unsatisfied { complete_length } => write!(f, "bytes */{complete_length}"),
        }
    }
}

/// An extra request header field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header<'a> {
    pub name: &'a str,
    pub value: &'a str,
}

/// A `GET` of one byte range, kept alive:
///
/// ```text
/// GET <path>[?<query>] HTTP/1.1
/// Host: <host>[:<port>]
/// Range: bytes=<first>-[<last>]
/// Connection: keep-alive
/// <extra headers>
/// ```
#[derive(Clone, Copy, Debug)]
pub struct RangeRequest<'a> {
    pub url: &'a Url<'a>,
    pub range: ByteRange,
    pub headers: &'a [Header<'a>],
}

impl RangeRequest<'_> {
    /// The length of the emitted head.
    pub fn buffer_len(&self) -> usize {
        let mut counter = Counter(0);
        // Counting cannot fail.
        let _ = self.write_head(&mut counter);
        counter.0
    }

    /// Writes the request head at the start of `buf` and returns its length.
    ///
    /// Fails when an extra header is invalid or repeats one the request writes itself, or
    /// `buf` is too short; `buf` then holds nothing to send.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, Error> {
        for header in self.headers {
            check_header(header)?;
        }
        let mut writer = SliceWriter { buf, len: 0 };
        self.write_head(&mut writer)
            .map_err(|_| Error::BufferTooSmall)?;
        Ok(writer.len)
    }

    fn write_head(&self, out: &mut impl fmt::Write) -> fmt::Result {
        let url = self.url;
        out.write_str("GET ")?;
        out.write_str(url.path())?;
        if let Some(query) = url.query() {
            write!(out, "?{query}")?;
        }
        // The port is left out when it is the scheme's default (RFC 9110 section 7.2).
        write!(out, " HTTP/1.1\r\nHost: {}", url.host())?;
        if url.port() != url.scheme().default_port() {
            write!(out, ":{}", url.port())?;
        }
        write!(
            out,
            "\r\nRange: {}\r\nConnection: keep-alive\r\n",
            self.range
        )?;
        for header in self.headers {
            write!(out, "{}: {}\r\n", header.name, header.value)?;
        }
        out.write_str("\r\n")
    }
}

/// What a response head says about the response, as far as a range download cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResponseHead {
    /// Bytes the head takes, up to and including the empty line that ends it.
    pub len: usize,
    pub status: u16,
    pub content_length: Option<u64>,
    pub content_range: Option<ContentRange>,
    /// The response has a `Transfer-Encoding` field, so its body is not delimited by
    /// `Content-Length` (RFC 9112 section 6.3).
    pub transfer_encoding: bool,
    /// The connection stays open after this response (RFC 9112 section 9.3): HTTP/1.1 without
    /// `Connection: close`, or HTTP/1.0 with `Connection: keep-alive`.
    pub keep_alive: bool,
}

impl ResponseHead {
    /// Parses the head at the start of `data`; `Ok(None)` when it has not all arrived yet.
    pub fn parse(data: &[u8]) -> Result<Option<Self>, Error> {
        let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut response = httparse::Response::new(&mut fields);
        let len = match response.parse(data) {
            Ok(httparse::Status::Complete(len)) => len,
            Ok(httparse::Status::Partial) => return Ok(None),
            Err(httparse::Error::TooManyHeaders) => return Err(Error::TooManyHeaders),
            Err(_) => return Err(Error::Syntax),
        };
        let status = response.code.ok_or(Error::Syntax)?;
        let mut head = Self {
            len,
            status,
            content_length: None,
            content_range: None,
            transfer_encoding: false,
            keep_alive: false,
        };
        let (mut close, mut keep_alive) = (false, false);
        for field in response.headers.iter() {
            let name = field.name;
            let value = field.value.trim_ascii();
            if name.eq_ignore_ascii_case("content-length") {
                let length = parse_decimal(value).ok_or(Error::BadContentLength)?;
                if head.content_length.is_some_and(|earlier| earlier != length) {
                    return Err(Error::BadContentLength);
                }
                head.content_length = Some(length);
            } else if name.eq_ignore_ascii_case("content-range") {
                if head.content_range.is_some() {
                    return Err(Error::BadContentRange);
                }
                head.content_range = Some(ContentRange::parse(value)?);
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                head.transfer_encoding = true;
            } else if name.eq_ignore_ascii_case("connection") {
                for option in value.split(|&byte| byte == b',') {
                    let option = option.trim_ascii();
                    close |= option.eq_ignore_ascii_case(b"close");
                    keep_alive |= option.eq_ignore_ascii_case(b"keep-alive");
                }
            }
        }
        head.keep_alive = !close && (response.version == Some(1) || keep_alive);
        Ok(Some(head))
    }
}

/// `1*DIGIT` as a number, `None` if empty, not all digits, or beyond `u64`.
fn parse_decimal(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0u64, |value, &byte| {
        let digit = char::from(byte).to_digit(10)?;
        value.checked_mul(10)?.checked_add(u64::from(digit))
    })
}

fn split_once(bytes: &[u8], separator: u8) -> Option<(&[u8], &[u8])> {
    let at = bytes.iter().position(|&byte| byte == separator)?;
    Some((bytes.get(..at)?, bytes.get(at + 1..)?))
}

/// An extra header's name must be a token and its value free of controls other than HTAB
/// (RFC 9110 sections 5.1, 5.5, 5.6.2), so it cannot end the field early or add another.
fn check_header(header: &Header<'_>) -> Result<(), Error> {
    let token_byte = |byte: u8| byte.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&byte);
    let value_byte = |byte: u8| byte == b'\t' || (byte >= b' ' && byte != 0x7F);
    if header.name.is_empty()
        || !header.name.bytes().all(token_byte)
        || !header.value.bytes().all(value_byte)
    {
        return Err(Error::BadHeader);
    }
    if OWN_FIELDS
        .iter()
        .any(|own| header.name.eq_ignore_ascii_case(own))
    {
        return Err(Error::ReservedHeader);
    }
    Ok(())
}

/// Counts what would be written.
struct Counter(usize);

impl fmt::Write for Counter {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        self.0 = self.0.saturating_add(text.len());
        Ok(())
    }
}

/// Writes into a slice, failing once it is full.
struct SliceWriter<'a> {
    buf: &'a mut [u8],
    len: usize,
}

impl fmt::Write for SliceWriter<'_> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        let end = self.len.checked_add(text.len()).ok_or(fmt::Error)?;
        self.buf
            .get_mut(self.len..end)
            .ok_or(fmt::Error)?
            .copy_from_slice(text.as_bytes());
        self.len = end;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn emit(request: &RangeRequest<'_>) -> Result<String, Error> {
        let mut buf = vec![0; request.buffer_len()];
        let len = request.emit(&mut buf)?;
        assert_eq!(len, buf.len());
        Ok(String::from_utf8(buf).unwrap())
    }

    #[test]
    fn range_request_head() {
        let url = Url::parse("https://bucket.example/ota.img?X-Amz-Signature=ab%2Fcd").unwrap();
        let request = RangeRequest {
            url: &url,
            range: ByteRange::new(4096, 8191).unwrap(),
            headers: &[Header {
                name: "User-Agent",
                value: "w800-ota/0.1",
            }],
        };
        assert_eq!(
            emit(&request).unwrap(),
            "GET /ota.img?X-Amz-Signature=ab%2Fcd HTTP/1.1\r\n\
             Host: bucket.example\r\n\
             Range: bytes=4096-8191\r\n\
             Connection: keep-alive\r\n\
             User-Agent: w800-ota/0.1\r\n\r\n"
        );
    }

    #[test]
    fn request_head_parses_as_http_with_an_independent_parser() {
        let url = Url::parse("http://127.0.0.1:8080").unwrap();
        let request = RangeRequest {
            url: &url,
            range: ByteRange::starting_at(100),
            headers: &[],
        };
        let head = emit(&request).unwrap();
        let mut fields = [httparse::EMPTY_HEADER; 8];
        let mut parsed = httparse::Request::new(&mut fields);
        assert_eq!(
            parsed.parse(head.as_bytes()),
            Ok(httparse::Status::Complete(head.len()))
        );
        assert_eq!(parsed.method, Some("GET"));
        assert_eq!(parsed.path, Some("/"));
        assert_eq!(parsed.version, Some(1));
        let value = |name: &str| {
            let field = parsed.headers.iter().find(|field| field.name == name);
            field.map(|field| field.value)
        };
        assert_eq!(value("Host"), Some(&b"127.0.0.1:8080"[..]));
        assert_eq!(value("Range"), Some(&b"bytes=100-"[..]));
    }

    #[test]
    fn extra_headers_cannot_inject_or_repeat_fields() {
        let url = Url::parse("http://h/").unwrap();
        let request = |headers: &'static [Header<'static>]| RangeRequest {
            url: &url,
            range: ByteRange::starting_at(0),
            headers,
        };
        static BAD: [Header<'static>; 4] = [
            Header {
                name: "X",
                value: "a\r\nHost: evil",
            },
            Header {
                name: "X Y",
                value: "a",
            },
            Header {
                name: "",
                value: "a",
            },
            Header {
                name: "X",
                value: "a\0",
            },
        ];
        for index in 0..BAD.len() {
            let header = &BAD[index..=index];
            assert_eq!(emit(&request(header)), Err(Error::BadHeader), "{header:?}");
        }
        let own = &[Header {
            name: "HOST",
            value: "other",
        }];
        assert_eq!(emit(&request(own)), Err(Error::ReservedHeader));
        let tab = &[Header {
            name: "X-Token",
            value: "a\tb",
        }];
        assert!(emit(&request(tab)).is_ok());
    }

    #[test]
    fn emit_needs_room() {
        let url = Url::parse("http://h/").unwrap();
        let request = RangeRequest {
            url: &url,
            range: ByteRange::starting_at(0),
            headers: &[],
        };
        let len = request.buffer_len();
        assert_eq!(
            request.emit(&mut vec![0; len - 1]),
            Err(Error::BufferTooSmall)
        );
        assert_eq!(request.emit(&mut vec![0; len + 10]), Ok(len));
    }

    #[test]
    fn byte_ranges() {
        assert_eq!(ByteRange::new(5, 4), None);
        let range = ByteRange::new(7, 7).unwrap();
        assert_eq!((range.first(), range.last()), (7, Some(7)));
        assert_eq!(range.to_string(), "bytes=7-7");
        assert_eq!(ByteRange::starting_at(9).to_string(), "bytes=9-");
        assert_eq!(ByteRange::starting_at(9).last(), None);
    }

    #[test]
    fn content_range_round_trips() {
        for (text, range) in [
            (
                "bytes 0-1023/1048576",
                ContentRange::Satisfied {
                    first: 0,
                    last: 1023,
                    complete_length: Some(1_048_576),
                },
            ),
            (
                "bytes 5-9/*",
                ContentRange::Satisfied {
                    first: 5,
                    last: 9,
                    complete_length: None,
                },
            ),
            (
                "bytes */1048576",
                ContentRange::Unsatisfied {
                    complete_length: 1_048_576,
                },
            ),
        ] {
            assert_eq!(ContentRange::parse(text.as_bytes()), Ok(range), "{text}");
            assert_eq!(range.to_string(), text);
        }
        assert_eq!(
            ContentRange::parse(b"  BYTES 1-2/3 "),
            Ok(ContentRange::Satisfied {
                first: 1,
                last: 2,
                complete_length: Some(3)
            })
        );
    }

    #[test]
    fn invalid_content_ranges() {
        for bad in [
            "",
            "bytes",
            "bytes 0-9",
            "items 0-9/10",
            "bytes 9-0/10",
            "bytes 0-10/10",
            "bytes */*",
            "bytes -9/10",
            "bytes 0-/10",
            "bytes 0-9/1x",
            "bytes +0-9/10",
            "bytes 0-99999999999999999999/*",
        ] {
            assert_eq!(
                ContentRange::parse(bad.as_bytes()),
                Err(Error::BadContentRange),
                "{bad:?}"
            );
        }
    }

    const PARTIAL: &[u8] = b"HTTP/1.1 206 Partial Content\r\n\
        Server: test\r\n\
        Content-Range: bytes 0-9/100\r\n\
        content-length: 10\r\n\r\n0123456789";

    #[test]
    fn partial_content_head() {
        let head = ResponseHead::parse(PARTIAL).unwrap().unwrap();
        assert_eq!(
            head,
            ResponseHead {
                len: PARTIAL.len() - 10,
                status: 206,
                content_length: Some(10),
                content_range: Some(ContentRange::Satisfied {
                    first: 0,
                    last: 9,
                    complete_length: Some(100)
                }),
                transfer_encoding: false,
                keep_alive: true,
            }
        );
    }

    #[test]
    fn incomplete_heads_wait_for_more() {
        let head_len = PARTIAL.len() - 10;
        for len in 0..head_len {
            assert_eq!(ResponseHead::parse(&PARTIAL[..len]), Ok(None), "{len}");
        }
        assert!(ResponseHead::parse(&PARTIAL[..head_len]).unwrap().is_some());
    }

    #[test]
    fn connection_persistence() {
        let keep_alive = |head: &[u8]| ResponseHead::parse(head).unwrap().unwrap().keep_alive;
        assert!(keep_alive(b"HTTP/1.1 200 OK\r\n\r\n"));
        assert!(!keep_alive(b"HTTP/1.1 200 OK\r\nConnection: Close\r\n\r\n"));
        assert!(!keep_alive(
            b"HTTP/1.1 200 OK\r\nConnection: upgrade, close\r\n\r\n"
        ));
        assert!(!keep_alive(b"HTTP/1.0 200 OK\r\n\r\n"));
        assert!(keep_alive(
            b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n\r\n"
        ));
    }

    #[test]
    fn malformed_heads() {
        assert_eq!(
            ResponseHead::parse(b"HTTP/1.1 2x6 No\r\n\r\n"),
            Err(Error::Syntax)
        );
        assert_eq!(
            ResponseHead::parse(b"HTTX/1.1 206 No\r\n\r\n"),
            Err(Error::Syntax)
        );
        assert_eq!(
            ResponseHead::parse(b"HTTP/1.1 206 OK\r\nBad Name: x\r\n\r\n"),
            Err(Error::Syntax)
        );
        assert_eq!(
            ResponseHead::parse(b"HTTP/1.1 206 OK\r\nContent-Length: 1x\r\n\r\n"),
            Err(Error::BadContentLength)
        );
        assert_eq!(
            ResponseHead::parse(b"HTTP/1.1 206 OK\r\nContent-Length: -1\r\n\r\n"),
            Err(Error::BadContentLength)
        );
        assert_eq!(
            ResponseHead::parse(
                b"HTTP/1.1 206 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"
            ),
            Err(Error::BadContentLength)
        );
        assert_eq!(
            ResponseHead::parse(
                b"HTTP/1.1 206 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n"
            )
            .map(|head| head.unwrap().content_length),
            Ok(Some(2))
        );
        assert_eq!(
            ResponseHead::parse(
                b"HTTP/1.1 206 OK\r\nContent-Range: bytes 0-0/1\r\n\
                  Content-Range: bytes 0-0/1\r\n\r\n"
            ),
            Err(Error::BadContentRange)
        );
        let mut many = b"HTTP/1.1 206 OK\r\n".to_vec();
        for _ in 0..=MAX_HEADERS {
            many.extend_from_slice(b"X: y\r\n");
        }
        many.extend_from_slice(b"\r\n");
        assert_eq!(ResponseHead::parse(&many), Err(Error::TooManyHeaders));
    }

    #[test]
    fn transfer_encoding_is_noticed() {
        let head = ResponseHead::parse(
            b"HTTP/1.1 206 OK\r\nTransfer-Encoding: chunked\r\nContent-Range: bytes 0-1/2\r\n\r\n",
        );
        assert!(head.unwrap().unwrap().transfer_encoding);
    }

    #[test]
    fn decimals() {
        assert_eq!(parse_decimal(b"0"), Some(0));
        assert_eq!(parse_decimal(b"007"), Some(7));
        assert_eq!(parse_decimal(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_decimal(b"18446744073709551616"), None);
        assert_eq!(parse_decimal(b""), None);
        assert_eq!(parse_decimal(b"1 2"), None);
    }
}
