//! The HTTP response parser: response heads, `Content-Range` values and S3 error documents
//! (`net::wire`), and the range-download client reading a server's stream
//! (`net::http::Connection`).
//!
//! Input: the two script bytes of [`peer`](crate::peer), then the server's bytes. Byte 1:
//! bits 0-1 pick the head buffer (128 bytes, too small for the request; 512; 4096), bit 2
//! asks for 4 KB ranges (`bytes=first-last`) rather than open-ended ones.
//!
//! Contract: a head that parses parses the same from its own bytes alone; a `Content-Range`
//! that parses prints in the form it parses from; the client, asking for ranges one after the
//! other on the connection while it stays reusable, gets exactly the range it asked for and
//! exactly its length in body bytes, or an error, and never panics.

use crate::peer::{self, FakeClock, ScriptedPeer};
use net::http::{ByteRange, Connection, HttpError, Url};
use net::io::IoError;
use net::wire::http::{ContentRange, ResponseHead};
use net::wire::s3::{S3ErrorRepr, CODE_MAX};

const URL: &str = "https://bucket.s3.us-east-1.amazonaws.com/ota/app_ota.img?X-Amz-Expires=3600&X-Amz-Signature=0f1e";
const HEAD_BUFFERS: [usize; 4] = [128, 512, 4096, 4096];
const RANGE_LEN: u64 = 4096;
const MAX_REQUESTS: usize = 8;
/// Body reads, at least one byte each: more than any input can feed.
const MAX_READS: usize = 1_000_000;

pub fn run(data: &[u8]) -> bool {
    let Some((read_script, options, server)) = peer::split(data) else {
        return false;
    };
    let accepted = fields(server);
    download(read_script, options, server);
    accepted
}

fn fields(bytes: &[u8]) -> bool {
    if let Some(error) = S3ErrorRepr::parse(bytes) {
        let code = error.code();
        assert!(!code.is_empty() && code.len() <= CODE_MAX, "{error:?}");
        assert!(code.bytes().all(|byte| byte.is_ascii_alphanumeric()));
    }
    if let Ok(range) = ContentRange::parse(bytes) {
        let text = range.to_string();
        assert_eq!(ContentRange::parse(text.as_bytes()), Ok(range), "{text}");
    }
    match ResponseHead::parse(bytes) {
        Ok(Some(head)) => {
            assert!(head.len > 0 && head.len <= bytes.len(), "{head:?}");
            assert_eq!(ResponseHead::parse(&bytes[..head.len]), Ok(Some(head)));
            true
        }
        Ok(None) | Err(_) => false,
    }
}

fn download(read_script: u8, options: u8, server: &[u8]) {
    let clock = FakeClock::default();
    let mut peer = ScriptedPeer::new(read_script, server, &clock);
    let mut head_buffer = vec![0; HEAD_BUFFERS[usize::from(options & 0b11)]];
    let bounded = options & 0b100 != 0;
    let url = Url::parse(URL).expect("a valid URL");
    let mut connection = Connection::new(&mut peer, &mut head_buffer);
    let mut first = 0u64;
    let mut reads = 0;
    for _ in 0..MAX_REQUESTS {
        let range = if bounded {
            ByteRange::new(first, first.saturating_add(RANGE_LEN - 1)).expect("first <= last")
        } else {
            ByteRange::starting_at(first)
        };
        let Ok(content) = connection.get_range(&url, range, &[], 1_000) else {
            return;
        };
        assert_eq!(content.first, first, "{content:?} for {range:?}");
        if let Some(last) = range.last() {
            assert!(content.last <= last, "{content:?} for {range:?}");
        }
        let expected = content.body_len();
        assert_eq!(connection.body_remaining(), expected);
        let mut received = 0u64;
        let mut block = [0u8; 1000];
        loop {
            reads += 1;
            assert!(reads < MAX_READS, "the body does not end");
            let remaining = connection.body_remaining();
            match connection.read_body(&mut block, 1_000) {
                Ok(0) => break,
                Ok(count) => {
                    assert!(count <= block.len());
                    received += count as u64;
                    assert!(received <= expected, "{received} of {expected} bytes");
                    assert_eq!(connection.body_remaining(), remaining - count as u64);
                }
                Err(HttpError::Io(IoError::Timeout)) => {}
                Err(_) => return,
            }
        }
        assert_eq!(received, expected, "the body ended early without an error");
        if !connection.is_reusable() {
            return;
        }
        let Some(next) = content.last.checked_add(1) else {
            return;
        };
        first = next;
    }
}
