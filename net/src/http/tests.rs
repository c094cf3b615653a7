//! The client against scripted servers.

use super::*;
use crate::io::fake::{FakeClock, Input, ScriptedTransport};

const URL: &str = "https://bucket.s3.amazonaws.com/app_ota.img?X-Amz-Signature=abc";
const TIMEOUT_MS: u32 = 10_000;

fn url() -> Url<'static> {
    Url::parse(URL).unwrap()
}

fn range(first: u64, last: u64) -> ByteRange {
    ByteRange::new(first, last).unwrap()
}

/// A file whose byte at offset `i` is `i mod 251`, so misplaced bytes show.
fn file_bytes(first: u64, last: u64) -> Vec<u8> {
    (first..=last).map(|offset| (offset % 251) as u8).collect()
}

fn partial_head(first: u64, last: u64, total: u64) -> String {
    format!(
        "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes {first}-{last}/{total}\r\n\
         Content-Length: {}\r\nAccept-Ranges: bytes\r\n\r\n",
        last - first + 1
    )
}

fn transport() -> ScriptedTransport {
    ScriptedTransport::new(&FakeClock::default())
}

fn connection(transport: ScriptedTransport) -> Connection<'static, ScriptedTransport> {
    Connection::new(transport, Box::leak(vec![0; 3072].into_boxed_slice()))
}

/// Reads the rest of the body in `block`-byte reads.
fn read_all(
    connection: &mut Connection<'_, ScriptedTransport>,
    block: usize,
) -> Result<Vec<u8>, HttpError> {
    let mut body = Vec::new();
    let mut buf = vec![0; block];
    loop {
        match connection.read_body(&mut buf, TIMEOUT_MS)? {
            0 => return Ok(body),
            count => body.extend_from_slice(&buf[..count]),
        }
    }
}

/// What a request for `range` with `head` as the response head gives.
fn respond(requested: ByteRange, head: &str) -> Result<PartialContent, HttpError> {
    let mut transport = transport();
    transport.push_bytes(head.as_bytes());
    connection(transport).get_range(&url(), requested, &[], TIMEOUT_MS)
}

#[test]
fn writes_the_range_request() {
    let mut transport = transport();
    transport.push_bytes(partial_head(4096, 8191, 100_000).as_bytes());
    let mut connection = connection(transport);
    let agent = [Header {
        name: "User-Agent",
        value: "w800",
    }];
    connection
        .get_range(&url(), range(4096, 8191), &agent, TIMEOUT_MS)
        .unwrap();
    assert_eq!(
        connection.transport.writes,
        [b"GET /app_ota.img?X-Amz-Signature=abc HTTP/1.1\r\n\
           Host: bucket.s3.amazonaws.com\r\n\
           Range: bytes=4096-8191\r\n\
           Connection: keep-alive\r\n\
           User-Agent: w800\r\n\r\n"
            .to_vec()]
    );
}

#[test]
fn body_streams_into_small_blocks() {
    let body = file_bytes(1000, 1999);
    let mut transport = transport();
    // The head and the first body bytes in one read, the rest in uneven pieces.
    let mut first = partial_head(1000, 1999, 5000).into_bytes();
    first.extend_from_slice(&body[..10]);
    transport.push_bytes(&first);
    for piece in body[10..].chunks(333) {
        transport.push_bytes(piece);
    }
    let mut connection = connection(transport);
    let content = connection
        .get_range(&url(), range(1000, 1999), &[], TIMEOUT_MS)
        .unwrap();
    assert_eq!(
        content,
        PartialContent {
            first: 1000,
            last: 1999,
            complete_length: Some(5000)
        }
    );
    assert_eq!(content.body_len(), 1000);
    assert_eq!(connection.body_remaining(), 1000);
    let mut block = [0; 64];
    assert_eq!(connection.read_body(&mut block, TIMEOUT_MS), Ok(10));
    assert_eq!(connection.body_remaining(), 990);
    assert_eq!(read_all(&mut connection, 64).unwrap(), body[10..]);
    assert_eq!(connection.body_remaining(), 0);
    assert!(connection.is_reusable());
}

#[test]
fn a_kept_alive_connection_carries_the_next_request() {
    let mut transport = transport();
    for (first, last) in [(0, 99), (100, 199)] {
        transport.push_bytes(partial_head(first, last, 200).as_bytes());
        transport.push_bytes(&file_bytes(first, last));
    }
    let mut connection = connection(transport);
    let mut file = Vec::new();
    for (first, last) in [(0, 99), (100, 199)] {
        connection
            .get_range(&url(), range(first, last), &[], TIMEOUT_MS)
            .unwrap();
        file.extend(read_all(&mut connection, 40).unwrap());
    }
    assert_eq!(file, file_bytes(0, 199));
    assert_eq!(connection.transport.writes.len(), 2);
}

#[test]
fn a_body_is_never_read_past_its_end() {
    let mut transport = transport();
    transport.push_bytes(partial_head(0, 9, 10).as_bytes());
    transport.push_bytes(&file_bytes(0, 19));
    let mut connection = connection(transport);
    connection
        .get_range(&url(), range(0, 9), &[], TIMEOUT_MS)
        .unwrap();
    assert_eq!(read_all(&mut connection, 64).unwrap(), file_bytes(0, 9));
    // The ten bytes after the body are still unread in the transport.
    assert!(
        matches!(&connection.transport.inputs.front(), Some(Input::Bytes(rest)) if rest.len() == 10)
    );
}

#[test]
fn bytes_after_the_body_in_the_head_read_make_the_connection_unusable() {
    let mut transport = transport();
    let mut response = partial_head(0, 9, 10).into_bytes();
    response.extend_from_slice(&file_bytes(0, 19));
    transport.push_bytes(&response);
    let mut connection = connection(transport);
    connection
        .get_range(&url(), range(0, 9), &[], TIMEOUT_MS)
        .unwrap();
    assert_eq!(read_all(&mut connection, 64).unwrap(), file_bytes(0, 9));
    assert!(!connection.is_reusable());
}

#[test]
fn open_ended_range_runs_to_the_end_of_the_file() {
    let content = respond(ByteRange::starting_at(900), &partial_head(900, 999, 1000)).unwrap();
    assert_eq!(content.body_len(), 100);
    assert_eq!(
        respond(ByteRange::starting_at(900), &partial_head(900, 998, 1000)),
        Err(HttpError::ContentRangeMismatch {
            requested: ByteRange::starting_at(900),
            received: ContentRange::Satisfied {
                first: 900,
                last: 998,
                complete_length: Some(1000)
            }
        })
    );
}

#[test]
fn a_range_past_the_end_may_be_cut_at_the_end() {
    let content = respond(range(900, 4095), &partial_head(900, 999, 1000)).unwrap();
    assert_eq!(content.body_len(), 100);
    // But not anywhere else.
    assert!(matches!(
        respond(range(900, 4095), &partial_head(900, 998, 1000)),
        Err(HttpError::ContentRangeMismatch { .. })
    ));
}

#[test]
fn ok_to_a_range_request_is_an_error() {
    let head = "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n";
    let mut transport = transport();
    transport.push_bytes(head.as_bytes());
    transport.push_bytes(&file_bytes(0, 999));
    let mut connection = connection(transport);
    let result = connection.get_range(&url(), range(0, 99), &[], TIMEOUT_MS);
    assert_eq!(result, Err(HttpError::RangeIgnored));
    assert_eq!(result.unwrap_err().status(), Some(200));
    // None of the body is handed out, and the connection is done.
    assert_eq!(
        connection.read_body(&mut [0; 64], TIMEOUT_MS),
        Err(HttpError::ConnectionNotReusable)
    );
    assert_eq!(
        connection.get_range(&url(), range(0, 99), &[], TIMEOUT_MS),
        Err(HttpError::ConnectionNotReusable)
    );
}

#[test]
fn content_range_must_match_the_request() {
    let requested = range(100, 199);
    for (content_range, received) in [
        (
            "bytes 0-99/1000",
            ContentRange::Satisfied {
                first: 0,
                last: 99,
                complete_length: Some(1000),
            },
        ),
        (
            "bytes 100-198/1000",
            ContentRange::Satisfied {
                first: 100,
                last: 198,
                complete_length: Some(1000),
            },
        ),
        (
            "bytes 100-200/1000",
            ContentRange::Satisfied {
                first: 100,
                last: 200,
                complete_length: Some(1000),
            },
        ),
        (
            "bytes */1000",
            ContentRange::Unsatisfied {
                complete_length: 1000,
            },
        ),
    ] {
        let head = format!(
            "HTTP/1.1 206 Partial Content\r\nContent-Range: {content_range}\r\n\
             Content-Length: 100\r\n\r\n"
        );
        assert_eq!(
            respond(requested, &head),
            Err(HttpError::ContentRangeMismatch {
                requested,
                received
            }),
            "{content_range}"
        );
    }
    // An unknown length is fine for a closed range, not for an open one.
    let unknown_length = "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 100-199/*\r\n\
                          Content-Length: 100\r\n\r\n";
    assert!(respond(requested, unknown_length).is_ok());
    assert!(matches!(
        respond(ByteRange::starting_at(100), unknown_length),
        Err(HttpError::ContentRangeMismatch { .. })
    ));
    assert_eq!(
        respond(
            requested,
            "HTTP/1.1 206 Partial Content\r\nContent-Length: 100\r\n\r\n"
        ),
        Err(HttpError::MissingContentRange)
    );
}

#[test]
fn content_length_must_be_the_range_length() {
    let requested = range(0, 99);
    let head = |length: &str| {
        format!("HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 0-99/1000\r\n{length}\r\n")
    };
    assert_eq!(
        respond(requested, &head("Content-Length: 99\r\n")),
        Err(HttpError::ContentLengthMismatch {
            expected: 100,
            received: Some(99)
        })
    );
    assert_eq!(
        respond(requested, &head("")),
        Err(HttpError::ContentLengthMismatch {
            expected: 100,
            received: None
        })
    );
}

#[test]
fn chunked_partial_content_is_refused() {
    let head = "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 0-99/1000\r\n\
                Transfer-Encoding: chunked\r\n\r\n";
    assert_eq!(
        respond(range(0, 99), head),
        Err(HttpError::TransferEncoding)
    );
}

#[test]
fn error_statuses_are_typed() {
    let status = |line: &str| respond(range(0, 99), &format!("HTTP/1.1 {line}\r\n\r\n"));
    assert_eq!(status("403 Forbidden"), Err(HttpError::Forbidden(None)));
    assert_eq!(status("404 Not Found"), Err(HttpError::NotFound));
    assert_eq!(
        status("503 Slow Down"),
        Err(HttpError::ServerError { status: 503 })
    );
    assert_eq!(
        status("302 Found"),
        Err(HttpError::UnexpectedStatus { status: 302 })
    );
    assert_eq!(
        status("416 Range Not Satisfiable\r\nContent-Range: bytes */1000"),
        Err(HttpError::RangeNotSatisfiable {
            complete_length: Some(1000)
        })
    );
    assert_eq!(
        status("416 Range Not Satisfiable"),
        Err(HttpError::RangeNotSatisfiable {
            complete_length: None
        })
    );
    let codes: Vec<_> = ["403 F", "404 N", "500 E", "416 R", "302 F"]
        .into_iter()
        .map(|line| status(line).unwrap_err().status())
        .collect();
    assert_eq!(
        codes,
        [Some(403), Some(404), Some(500), Some(416), Some(302)]
    );
    assert_eq!(
        HttpError::Truncated {
            received: 1,
            expected: 2
        }
        .status(),
        None
    );
}

#[test]
fn response_head_larger_than_the_buffer_is_an_error() {
    let mut transport = transport();
    transport.push_bytes(b"HTTP/1.1 206 Partial Content\r\n");
    for _ in 0..100 {
        transport.push_bytes(b"X-Amz-Meta: 0123456789012345678901234567890123456789\r\n");
    }
    let mut connection = Connection::new(transport, Box::leak(vec![0; 512].into_boxed_slice()));
    assert_eq!(
        connection.get_range(&url(), range(0, 9), &[], TIMEOUT_MS),
        Err(HttpError::HeadTooLarge { capacity: 512 })
    );
    assert!(!connection.is_reusable());
}

#[test]
fn request_larger_than_the_buffer_is_refused_before_sending() {
    let long_query = format!("http://h/f?{}", "q".repeat(2000));
    let long = Url::parse(&long_query).unwrap();
    let mut connection = Connection::new(transport(), Box::leak(vec![0; 1024].into_boxed_slice()));
    let result = connection.get_range(&long, range(0, 9), &[], TIMEOUT_MS);
    let Err(HttpError::RequestTooLarge { len, capacity }) = result else {
        panic!("{result:?}");
    };
    assert!(len > 2000);
    assert_eq!(capacity, 1024);
    assert!(connection.transport.writes.is_empty());
    // Nothing was sent, so the connection is still good.
    assert!(connection.is_reusable());
}

#[test]
fn invalid_extra_headers_are_refused() {
    let mut connection = connection(transport());
    let injected = [Header {
        name: "X",
        value: "1\r\nRange: bytes=0-",
    }];
    assert_eq!(
        connection.get_range(&url(), range(0, 9), &injected, TIMEOUT_MS),
        Err(HttpError::BadRequestHeader(wire::Error::BadHeader))
    );
}

#[test]
fn malformed_response_head_is_an_error() {
    assert_eq!(
        respond(range(0, 9), "HTTP/1.1 abc\r\n\r\n"),
        Err(HttpError::Malformed(wire::Error::Syntax))
    );
}

#[test]
fn truncated_body_reports_what_arrived() {
    let mut transport = transport();
    transport.push_bytes(partial_head(0, 999, 1000).as_bytes());
    transport.push_bytes(&file_bytes(0, 299));
    transport.push(Input::Close);
    let mut connection = connection(transport);
    connection
        .get_range(&url(), range(0, 999), &[], TIMEOUT_MS)
        .unwrap();
    assert_eq!(
        read_all(&mut connection, 128),
        Err(HttpError::Truncated {
            received: 300,
            expected: 1000
        })
    );
    assert_eq!(
        connection.get_range(&url(), range(0, 9), &[], TIMEOUT_MS),
        Err(HttpError::ConnectionNotReusable)
    );
}

#[test]
fn a_read_timeout_can_be_retried() {
    let mut transport = transport();
    transport.push_bytes(partial_head(0, 19, 20).as_bytes());
    transport.push_bytes(&file_bytes(0, 9));
    transport.push(Input::Silence);
    transport.push_bytes(&file_bytes(10, 19));
    let mut connection = connection(transport);
    connection
        .get_range(&url(), range(0, 19), &[], TIMEOUT_MS)
        .unwrap();
    let mut block = [0; 20];
    assert_eq!(connection.read_body(&mut block, TIMEOUT_MS), Ok(10));
    assert_eq!(
        connection.read_body(&mut block[10..], TIMEOUT_MS),
        Err(HttpError::Io(IoError::Timeout))
    );
    assert_eq!(connection.read_body(&mut block[10..], TIMEOUT_MS), Ok(10));
    assert_eq!(block.to_vec(), file_bytes(0, 19));
    assert!(connection.is_reusable());
}

#[test]
fn connection_close_means_connect_again() {
    let mut transport = transport();
    let head = "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 0-9/10\r\n\
                Content-Length: 10\r\nConnection: close\r\n\r\n";
    transport.push_bytes(head.as_bytes());
    transport.push_bytes(&file_bytes(0, 9));
    let mut connection = connection(transport);
    connection
        .get_range(&url(), range(0, 9), &[], TIMEOUT_MS)
        .unwrap();
    assert_eq!(read_all(&mut connection, 4).unwrap(), file_bytes(0, 9));
    assert!(!connection.is_reusable());
    assert_eq!(
        connection.get_range(&url(), range(0, 9), &[], TIMEOUT_MS),
        Err(HttpError::ConnectionNotReusable)
    );
}

#[test]
fn a_new_request_waits_for_the_body() {
    let mut transport = transport();
    transport.push_bytes(partial_head(0, 9, 10).as_bytes());
    let mut connection = connection(transport);
    connection
        .get_range(&url(), range(0, 9), &[], TIMEOUT_MS)
        .unwrap();
    assert_eq!(
        connection.get_range(&url(), range(0, 9), &[], TIMEOUT_MS),
        Err(HttpError::BodyPending)
    );
}

#[test]
fn transport_failures_are_reported() {
    let mut closed = transport();
    closed.push(Input::Close);
    assert_eq!(
        connection(closed).get_range(&url(), range(0, 9), &[], TIMEOUT_MS),
        Err(HttpError::Io(IoError::Closed))
    );
    let mut silent = transport();
    silent.push(Input::Silence);
    assert_eq!(
        connection(silent).get_range(&url(), range(0, 9), &[], TIMEOUT_MS),
        Err(HttpError::Io(IoError::Timeout))
    );
    let mut unwritable = transport();
    unwritable.write_error = Some(IoError::Reset);
    let mut connection = connection(unwritable);
    assert_eq!(
        connection.get_range(&url(), range(0, 9), &[], TIMEOUT_MS),
        Err(HttpError::Io(IoError::Reset))
    );
    assert!(!connection.is_reusable());
}
