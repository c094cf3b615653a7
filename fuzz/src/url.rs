//! The URL parser (`net::wire::url`), as the job document's `update_data_url` reaches it.
//!
//! Input: the URL's text.
//!
//! Contract: a URL that parses has a host, a port other than 0 and a path starting with `/`;
//! its `Display` form (the normal form) parses back to the same URL; and it goes into a
//! request line as it is: the range request made from it is one HTTP/1.1 request head, read
//! back whole by an independent parser (`httparse`) with the URL's path and query as the
//! request target.

use net::wire::http::{ByteRange, RangeRequest};
use net::wire::url::{Url, MAX_URL_LEN};

pub fn run(data: &[u8]) -> bool {
    let Ok(text) = core::str::from_utf8(data) else {
        return false;
    };
    let Ok(url) = Url::parse(text) else {
        return false;
    };
    assert!(text.len() <= MAX_URL_LEN);
    assert!(!url.host().is_empty() && url.port() != 0, "{url:?}");
    assert!(url.path().starts_with('/'), "{url:?}");

    let normal = url.to_string();
    assert_eq!(
        Url::parse(&normal),
        Ok(url),
        "normal form {normal:?} of {text:?}"
    );

    let request = RangeRequest {
        url: &url,
        range: ByteRange::starting_at(0),
        headers: &[],
    };
    let mut head = vec![0; request.buffer_len()];
    assert_eq!(request.emit(&mut head), Ok(head.len()));
    let mut fields = [httparse::EMPTY_HEADER; 8];
    let mut parsed = httparse::Request::new(&mut fields);
    assert_eq!(
        parsed.parse(&head),
        Ok(httparse::Status::Complete(head.len())),
        "{}",
        String::from_utf8_lossy(&head)
    );
    let target = match url.query() {
        Some(query) => format!("{}?{query}", url.path()),
        None => url.path().to_owned(),
    };
    assert_eq!(parsed.path, Some(target.as_str()));
    assert_eq!(
        parsed.headers.len(),
        3,
        "Host, Range, Connection and nothing else"
    );
    true
}
