//! Wire formats, in the style of smoltcp's `wire` module.
//!
//! Each format has a low-level view or parser that checks lengths before it reads (so nothing
//! that parses network input can panic or read out of bounds), and a high-level `Repr` that
//! holds only valid values and `emit`s them back into a caller's buffer. Nothing here
//! allocates, and every length is checked against the buffer before bytes are copied.
//!
//! - [`mqtt`]: MQTT 3.1.1 control packets (OASIS Standard, 29 October 2014).
//! - [`http`]: HTTP/1.1 range requests and response heads (RFC 9110, RFC 9112).
//! - [`url`]: `http` and `https` URLs (RFC 3986).
//! - [`s3`]: S3's error document, to tell an expired presigned URL from a refused one.
#![forbid(unsafe_code)]

pub mod http;
pub mod mqtt;
pub mod s3;
pub mod url;
