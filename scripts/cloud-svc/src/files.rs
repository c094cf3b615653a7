//! The S3-style HTTPS file server: objects of one bucket, served to presigned GET and HEAD
//! requests with S3's status codes and XML errors, Range requests (206 / 416) and the fault
//! knobs of the file path.
//!
//! One blocking thread per connection, at most [`MAX_CONNECTIONS`] at once; connections are
//! kept alive between requests, as the OTA library's HTTP client expects.

use std::fmt;
use std::fs::{self, File};
use std::io::{self, ErrorKind, Read, Seek, SeekFrom, Write};
use std::net::{IpAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{bail, Context, Result};
use rustls::{ServerConfig, ServerConnection, StreamOwned};
use time::OffsetDateTime;

use crate::faults::{Faults, Knob};
use crate::presign::{AuthError, Presigner, ReceivedRequest};
use crate::storage;

/// Objects are firmware images: the W800's OTA partition holds 700 KB.
pub const MAX_OBJECT_BYTES: u64 = 64 << 20;
const MAX_REQUEST_HEAD_BYTES: usize = 16 * 1024;
const MAX_HEADERS: usize = 32;
const MAX_CONNECTIONS: usize = 32;
/// How long a connection may sit idle, or a read or write may block.
const IO_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a stalled response holds its connection if the client does not hang up.
const STALL_LIMIT: Duration = Duration::from_secs(120);
const BODY_CHUNK_BYTES: usize = 16 * 1024;

/// The bucket: one directory, one file per object.
#[derive(Clone, Debug)]
pub struct Bucket {
    name: String,
    dir: PathBuf,
}

impl Bucket {
    pub fn new(name: &str, dir: PathBuf) -> Result<Self> {
        if !is_valid_bucket_name(name) {
            bail!("invalid bucket name {name:?}: 3-63 characters of a-z 0-9 . -");
        }
        fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        Ok(Self {
            name: name.to_owned(),
            dir,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Stores `contents` as object `key`; a reader sees the old object or the new one.
    pub fn put(&self, key: &str, contents: &[u8]) -> Result<()> {
        if !is_valid_key(key) {
            bail!("invalid object key {key:?}: 1-255 characters of a-z A-Z 0-9 . _ -, not starting with '.'");
        }
        storage::write_atomically(&self.dir.join(key), contents)
            .with_context(|| format!("storing object {key}"))
    }

    /// The object's URL at `endpoint` (`https://host[:port]`), path-style.
    pub fn object_url(&self, endpoint: &str, key: &str) -> String {
        format!("{endpoint}/{}/{key}", self.name)
    }

    fn open(&self, key: &str) -> io::Result<Option<(File, u64, SystemTime)>> {
        if !is_valid_key(key) {
            return Ok(None);
        }
        match File::open(self.dir.join(key)) {
            Ok(file) => {
                let metadata = file.metadata()?;
                Ok(Some((file, metadata.len(), metadata.modified()?)))
            }
            Err(error) if error.kind() == ErrorKind::NotFound => Ok(None),
            Err(error) => Err(error),
        }
    }
}

/// Reads a file to upload, refusing one larger than [`MAX_OBJECT_BYTES`].
pub fn read_upload(path: &Path) -> Result<Vec<u8>> {
    let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut contents = Vec::new();
    file.take(MAX_OBJECT_BYTES + 1)
        .read_to_end(&mut contents)
        .with_context(|| format!("reading {}", path.display()))?;
    if contents.len() as u64 > MAX_OBJECT_BYTES {
        bail!(
            "{} is larger than the {MAX_OBJECT_BYTES}-byte object limit",
            path.display()
        );
    }
    Ok(contents)
}

/// Object keys this server accepts: S3 allows more, but these need no URL encoding.
pub fn is_valid_key(key: &str) -> bool {
    (1..=255).contains(&key.len())
        && !key.starts_with('.')
        && key
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'.' | b'_' | b'-'))
}

fn is_valid_bucket_name(name: &str) -> bool {
    let edges_ok = |byte: Option<&u8>| byte.is_some_and(u8::is_ascii_alphanumeric);
    (3..=63).contains(&name.len())
        && edges_ok(name.as_bytes().first())
        && edges_ok(name.as_bytes().last())
        && name.bytes().all(|byte| {
            byte.is_ascii_lowercase() || byte.is_ascii_digit() || matches!(byte, b'.' | b'-')
        })
}

#[derive(Debug)]
pub struct FileServer {
    bucket: Bucket,
    presigner: Arc<Presigner>,
    faults: Arc<Faults>,
    tls: Arc<ServerConfig>,
    connections: AtomicUsize,
    /// Numbers the connections in the request log.
    connection_count: AtomicUsize,
}

/// Who a response goes to, as the request log names it: the connection's number and the
/// client's address, which tells devices apart (each has its own).
#[derive(Clone, Copy, Debug)]
struct Client {
    connection: usize,
    peer: IpAddr,
}

impl fmt::Display for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "connection={} peer={}", self.connection, self.peer)
    }
}

/// A writer that counts what went through it, also when a write fails part way.
struct Counted<W> {
    inner: W,
    bytes: u64,
}

impl<W: Write> Write for Counted<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let written = self.inner.write(buf)?;
        self.bytes += written as u64;
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// How a response ended, which decides what happens to the connection.
enum Sent {
    Complete,
    /// The cut-after fault closed the connection in the middle of the body.
    Cut,
    /// The stall-after fault stopped the body; the connection is held, silent.
    Stalled,
}

impl FileServer {
    pub fn new(
        bucket: Bucket,
        presigner: Arc<Presigner>,
        faults: Arc<Faults>,
        tls: Arc<ServerConfig>,
    ) -> Self {
        Self {
            bucket,
            presigner,
            faults,
            tls,
            connections: AtomicUsize::new(0),
            connection_count: AtomicUsize::new(0),
        }
    }

    /// Accepts connections for ever.
    pub fn serve(self: Arc<Self>, listener: TcpListener) {
        for stream in listener.incoming() {
            let stream = match stream {
                Ok(stream) => stream,
                Err(error) => {
                    eprintln!("files: accept failed: {error}");
                    // Out of descriptors, say: give connections time to end.
                    thread::sleep(Duration::from_millis(100));
                    continue;
                }
            };
            if self.connections.fetch_add(1, Ordering::AcqRel) >= MAX_CONNECTIONS {
                self.connections.fetch_sub(1, Ordering::AcqRel);
                continue;
            }
            let server = Arc::clone(&self);
            thread::spawn(move || {
                if let Err(error) = server.handle_connection(stream) {
                    if !is_hang_up(&error) {
                        eprintln!("files: connection ended: {error}");
                    }
                }
                server.connections.fetch_sub(1, Ordering::AcqRel);
            });
        }
    }

    fn handle_connection(&self, tcp: TcpStream) -> io::Result<()> {
        tcp.set_read_timeout(Some(IO_TIMEOUT))?;
        tcp.set_write_timeout(Some(IO_TIMEOUT))?;
        tcp.set_nodelay(true)?;
        let client = Client {
            connection: self.connection_count.fetch_add(1, Ordering::AcqRel) + 1,
            peer: tcp.peer_addr()?.ip(),
        };
        let connection = ServerConnection::new(Arc::clone(&self.tls)).map_err(io::Error::other)?;
        let mut stream = StreamOwned::new(connection, tcp);
        // Bytes read past the end of the previous request head.
        let mut received = Vec::new();
        loop {
            let Some(head_length) = read_request_head(&mut stream, &mut received)? else {
                return Ok(());
            };
            let request = parse_request_head(&received[..head_length]);
            received.drain(..head_length);
            let (sent, keep_alive) = match request {
                Some(request) => {
                    // The request log (stderr, the service's log): what a device asked for,
                    // by connection and client, for tests that count requests and bytes.
                    // `target_bytes`: the request target's length, query included (a
                    // presigned URL's length less its scheme and host).
                    eprintln!(
                        "files: request {client} {} {} range={} target_bytes={}",
                        request.method,
                        request.target.split('?').next().unwrap_or_default(),
                        request.header("range").unwrap_or("-"),
                        request.target.len()
                    );
                    let keep_alive = request.keeps_alive();
                    let sent = self.respond(&mut stream, &request, keep_alive, client)?;
                    (sent, keep_alive)
                }
                None => {
                    let error =
                        S3Error::new(400, "BadRequest", "The request is not valid HTTP/1.1.");
                    write_error(&mut stream, &error, false, false)?;
                    (Sent::Complete, false)
                }
            };
            match sent {
                Sent::Complete if keep_alive => continue,
                Sent::Complete => {
                    stream.conn.send_close_notify();
                    return stream.flush();
                }
                // No close_notify: to the client this is a connection cut in mid-transfer.
                Sent::Cut => return Ok(()),
                Sent::Stalled => {
                    hold_until_hang_up(&mut stream.sock);
                    return Ok(());
                }
            }
        }
    }

    fn respond(
        &self,
        stream: &mut impl Write,
        request: &Request,
        keep_alive: bool,
        client: Client,
    ) -> io::Result<Sent> {
        let head_only = request.method == "HEAD";
        match self.locate(request) {
            Ok((file, size, modified)) => {
                let object = Object {
                    file,
                    size,
                    modified,
                };
                self.send_object(stream, request, object, keep_alive, client)
            }
            Err(error) => {
                write_error(stream, &error, head_only, keep_alive)?;
                Ok(Sent::Complete)
            }
        }
    }

    /// Authenticates the request and finds its object.
    fn locate(&self, request: &Request) -> Result<(File, u64, SystemTime), S3Error> {
        if request.method != "GET" && request.method != "HEAD" {
            return Err(S3Error::new(
                405,
                "MethodNotAllowed",
                "The specified method is not allowed against this resource.",
            ));
        }
        if request
            .header("content-length")
            .is_some_and(|length| length != "0")
            || request.header("transfer-encoding").is_some()
        {
            return Err(S3Error::new(
                400,
                "InvalidRequest",
                "GET and HEAD requests carry no body.",
            ));
        }
        let host = request
            .header("host")
            .ok_or_else(|| S3Error::new(400, "InvalidRequest", "A Host header is required."))?;
        let header = |name: &str| request.header(name);
        let received = ReceivedRequest {
            method: &request.method,
            host,
            target: &request.target,
            header: &header,
        };
        self.presigner
            .verify(&received, SystemTime::now())
            .map_err(S3Error::from_auth)?;

        let path = request.target.split('?').next().unwrap_or_default();
        let (bucket, key) = path
            .strip_prefix('/')
            .and_then(|path| path.split_once('/'))
            .unwrap_or((path.trim_start_matches('/'), ""));
        if bucket != self.bucket.name() {
            return Err(S3Error::new(
                404,
                "NoSuchBucket",
                "The specified bucket does not exist.",
            ));
        }
        match self.bucket.open(key) {
            Ok(Some(object)) => Ok(object),
            Ok(None) => Err(S3Error::new(
                404,
                "NoSuchKey",
                "The specified key does not exist.",
            )),
            Err(error) => {
                eprintln!("files: reading object {key}: {error}");
                Err(S3Error::new(
                    500,
                    "InternalError",
                    "We encountered an internal error. Please try again.",
                ))
            }
        }
    }

    fn send_object(
        &self,
        stream: &mut impl Write,
        request: &Request,
        object: Object,
        keep_alive: bool,
        client: Client,
    ) -> io::Result<Sent> {
        let Object {
            mut file,
            size,
            modified,
        } = object;
        let head_only = request.method == "HEAD";
        let mut range = ByteRange::parse(request.header("range"), size);
        if range != ByteRange::Whole && !head_only && self.faults.take(Knob::IgnoreRange).is_some()
        {
            range = ByteRange::Whole;
        }
        let mut headers = vec![
            ("Last-Modified", http_date(modified)),
            ("Accept-Ranges", "bytes".to_owned()),
            ("Content-Type", "application/octet-stream".to_owned()),
        ];
        let (status, start, length) = match range {
            ByteRange::Whole => (200, 0, size),
            ByteRange::Within { first, last } => {
                headers.push(("Content-Range", format!("bytes {first}-{last}/{size}")));
                (206, first, last - first + 1)
            }
            ByteRange::Unsatisfiable => {
                let error = S3Error::new(
                    416,
                    "InvalidRange",
                    "The requested range is not satisfiable",
                )
                .with_field(
                    "RangeRequested",
                    request.header("range").unwrap_or_default(),
                )
                .with_field("ActualObjectSize", &size.to_string())
                .with_header("Content-Range", format!("bytes */{size}"));
                write_error(stream, &error, head_only, keep_alive)?;
                return Ok(Sent::Complete);
            }
        };
        headers.push(("Content-Length", length.to_string()));
        write_head(stream, status, &headers, keep_alive)?;
        if head_only {
            stream.flush()?;
            return Ok(Sent::Complete);
        }
        let faults = BodyFaults {
            cut_after: self.faults.take(Knob::CutAfter),
            stall_after: self.faults.take(Knob::StallAfter),
            flip_at: self.faults.take(Knob::FlipByte),
        };
        file.seek(SeekFrom::Start(start))?;
        let mut body = Counted {
            inner: stream,
            bytes: 0,
        };
        let sent = send_body(&mut body, &mut file, start, length, &faults);
        // What the client was sent of the object, from where: also when the connection failed
        // under it, so that tests can account for every byte each device fetched.
        eprintln!(
            "files: body {client} {} from={start} bytes={}",
            request.target.split('?').next().unwrap_or_default(),
            body.bytes
        );
        sent
    }
}

/// An object opened for a response.
struct Object {
    file: File,
    size: u64,
    modified: SystemTime,
}

struct BodyFaults {
    cut_after: Option<u64>,
    stall_after: Option<u64>,
    /// An offset in the object, not in the body.
    flip_at: Option<u64>,
}

/// Sends `length` bytes of `file` from object offset `start`, or fewer if a fault says so.
fn send_body(
    stream: &mut impl Write,
    file: &mut File,
    start: u64,
    length: u64,
    faults: &BodyFaults,
) -> io::Result<Sent> {
    let stall_at = faults.stall_after.filter(|&limit| limit < length);
    let cut_at = faults.cut_after.filter(|&limit| limit < length);
    let limit = [Some(length), stall_at, cut_at]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(length);
    let mut buffer = vec![0; BODY_CHUNK_BYTES];
    let mut sent = 0;
    while sent < limit {
        let chunk_length = usize::try_from(limit - sent)
            .map_or(BODY_CHUNK_BYTES, |left| left.min(BODY_CHUNK_BYTES));
        let chunk = &mut buffer[..chunk_length];
        file.read_exact(chunk)?;
        let chunk_start = start + sent;
        if let Some(offset) = faults.flip_at.and_then(|at| at.checked_sub(chunk_start)) {
            if let Some(byte) = usize::try_from(offset)
                .ok()
                .and_then(|offset| chunk.get_mut(offset))
            {
                *byte ^= 0xFF;
            }
        }
        stream.write_all(chunk)?;
        sent += chunk_length as u64;
    }
    stream.flush()?;
    Ok(if stall_at == Some(limit) {
        Sent::Stalled
    } else if cut_at == Some(limit) {
        Sent::Cut
    } else {
        Sent::Complete
    })
}

/// Keeps a stalled connection open, sending nothing, until the client hangs up.
fn hold_until_hang_up(tcp: &mut TcpStream) {
    let deadline = Instant::now() + STALL_LIMIT;
    if tcp
        .set_read_timeout(Some(Duration::from_millis(200)))
        .is_err()
    {
        return;
    }
    let mut discarded = [0; 512];
    while Instant::now() < deadline {
        match tcp.read(&mut discarded) {
            Ok(0) => return,
            Ok(_) => {}
            Err(error) if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => return,
        }
    }
}

fn is_hang_up(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        ErrorKind::UnexpectedEof
            | ErrorKind::ConnectionReset
            | ErrorKind::BrokenPipe
            | ErrorKind::WouldBlock
            | ErrorKind::TimedOut
    )
}

/// Reads until `received` holds a whole request head and returns its length, or `None` if the
/// client closed the connection between requests.
fn read_request_head(stream: &mut impl Read, received: &mut Vec<u8>) -> io::Result<Option<usize>> {
    let mut chunk = [0; 4096];
    loop {
        if let Some(end) = received.windows(4).position(|window| window == b"\r\n\r\n") {
            return Ok(Some(end + 4));
        }
        if received.len() > MAX_REQUEST_HEAD_BYTES {
            return Err(io::Error::new(
                ErrorKind::InvalidData,
                "request head too large",
            ));
        }
        let read = match stream.read(&mut chunk) {
            Ok(read) => read,
            Err(error) if error.kind() == ErrorKind::UnexpectedEof && received.is_empty() => 0,
            Err(error) => return Err(error),
        };
        if read == 0 {
            return if received.is_empty() {
                Ok(None)
            } else {
                Err(io::Error::new(
                    ErrorKind::UnexpectedEof,
                    "connection closed in a request head",
                ))
            };
        }
        received.extend_from_slice(&chunk[..read]);
    }
}

#[derive(Debug)]
struct Request {
    method: String,
    /// Path and query, as sent.
    target: String,
    minor_version: u8,
    /// Names in lower case.
    headers: Vec<(String, String)>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(header, _)| header == name)
            .map(|(_, value)| value.as_str())
    }

    fn keeps_alive(&self) -> bool {
        let connection = self.header("connection").map(str::to_ascii_lowercase);
        match self.minor_version {
            0 => connection.as_deref() == Some("keep-alive"),
            _ => connection.as_deref() != Some("close"),
        }
    }
}

fn parse_request_head(head: &[u8]) -> Option<Request> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Request::new(&mut headers);
    match parsed.parse(head) {
        Ok(httparse::Status::Complete(_)) => {}
        _ => return None,
    }
    let headers = parsed
        .headers
        .iter()
        .map(|header| {
            let value = std::str::from_utf8(header.value).ok()?;
            Some((header.name.to_ascii_lowercase(), value.trim().to_owned()))
        })
        .collect::<Option<Vec<_>>>()?;
    Some(Request {
        method: parsed.method?.to_owned(),
        target: parsed.path?.to_owned(),
        minor_version: parsed.version?,
        headers,
    })
}

/// A `Range` header against an object of a known size (RFC 9110 §14, one range only: S3
/// ignores a header with several ranges, and so does it a malformed one).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ByteRange {
    Whole,
    /// Inclusive.
    Within {
        first: u64,
        last: u64,
    },
    Unsatisfiable,
}

impl ByteRange {
    fn parse(header: Option<&str>, size: u64) -> Self {
        let Some(spec) = header.and_then(|header| header.trim().strip_prefix("bytes=")) else {
            return Self::Whole;
        };
        let Some((first, last)) = spec.trim().split_once('-') else {
            return Self::Whole;
        };
        let number = |text: &str| -> Option<u64> {
            (!text.is_empty() && text.bytes().all(|byte| byte.is_ascii_digit()))
                .then(|| text.parse().ok())
                .flatten()
        };
        match (first, last) {
            ("", suffix) => match number(suffix) {
                None => Self::Whole,
                Some(0) => Self::Unsatisfiable,
                Some(_) if size == 0 => Self::Unsatisfiable,
                Some(suffix) => Self::Within {
                    first: size.saturating_sub(suffix),
                    last: size - 1,
                },
            },
            (first, "") => match number(first) {
                None => Self::Whole,
                Some(first) if first >= size => Self::Unsatisfiable,
                Some(first) => Self::Within {
                    first,
                    last: size - 1,
                },
            },
            (first, last) => match (number(first), number(last)) {
                (Some(first), Some(last)) if first <= last => {
                    if first >= size {
                        Self::Unsatisfiable
                    } else {
                        Self::Within {
                            first,
                            last: last.min(size - 1),
                        }
                    }
                }
                _ => Self::Whole,
            },
        }
    }
}

/// An S3 error response: status, `<Code>`, `<Message>` and extra fields.
#[derive(Debug)]
struct S3Error {
    status: u16,
    code: &'static str,
    message: String,
    fields: Vec<(&'static str, String)>,
    headers: Vec<(&'static str, String)>,
}

impl S3Error {
    fn new(status: u16, code: &'static str, message: &str) -> Self {
        Self {
            status,
            code,
            message: message.to_owned(),
            fields: Vec::new(),
            headers: Vec::new(),
        }
    }

    fn with_field(mut self, name: &'static str, value: &str) -> Self {
        self.fields.push((name, value.to_owned()));
        self
    }

    fn with_header(mut self, name: &'static str, value: String) -> Self {
        self.headers.push((name, value));
        self
    }

    fn from_auth(error: AuthError) -> Self {
        match error {
            AuthError::Anonymous => Self::new(403, "AccessDenied", "Access Denied"),
            AuthError::Malformed(message) => {
                Self::new(400, "AuthorizationQueryParametersError", &message)
            }
            AuthError::UnknownAccessKey => Self::new(
                403,
                "InvalidAccessKeyId",
                "The AWS Access Key Id you provided does not exist in our records.",
            ),
            AuthError::Expired {
                expires_secs,
                expired_at,
            } => Self::new(403, "AccessDenied", "Request has expired")
                .with_field("X-Amz-Expires", &expires_secs.to_string())
                .with_field("Expires", &iso8601(expired_at))
                .with_field("ServerTime", &iso8601(SystemTime::now())),
            AuthError::NotYetValid => Self::new(403, "AccessDenied", "Request is not valid yet"),
            AuthError::SignatureMismatch => Self::new(
                403,
                "SignatureDoesNotMatch",
                "The request signature we calculated does not match the signature you provided. \
                 Check your key and signing method.",
            ),
            AuthError::InvalidToken => Self::new(
                400,
                "InvalidToken",
                "The provided token is malformed or otherwise invalid.",
            ),
        }
    }

    fn xml(&self) -> String {
        static REQUEST_IDS: AtomicU64 = AtomicU64::new(1);
        let mut xml = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{}</Code><Message>{}</Message>",
            self.code,
            xml_escape(&self.message)
        );
        for (name, value) in &self.fields {
            xml.push_str(&format!("<{name}>{}</{name}>", xml_escape(value)));
        }
        xml.push_str(&format!(
            "<RequestId>{:016X}</RequestId></Error>",
            REQUEST_IDS.fetch_add(1, Ordering::Relaxed)
        ));
        xml
    }
}

fn write_error(
    stream: &mut impl Write,
    error: &S3Error,
    head_only: bool,
    keep_alive: bool,
) -> io::Result<()> {
    let body = error.xml();
    let mut headers = vec![
        ("Content-Type", "application/xml".to_owned()),
        ("Content-Length", body.len().to_string()),
    ];
    headers.extend(error.headers.iter().cloned());
    write_head(stream, error.status, &headers, keep_alive)?;
    if !head_only {
        stream.write_all(body.as_bytes())?;
    }
    stream.flush()
}

fn write_head(
    stream: &mut impl Write,
    status: u16,
    headers: &[(&str, String)],
    keep_alive: bool,
) -> io::Result<()> {
    let mut head = format!(
        "HTTP/1.1 {status} {}\r\nDate: {}\r\nServer: AmazonS3\r\n",
        reason_phrase(status),
        http_date(SystemTime::now())
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if !keep_alive {
        head.push_str("Connection: close\r\n");
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())
}

fn reason_phrase(status: u16) -> &'static str {
    match status {
        200 => "OK",
        206 => "Partial Content",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        416 => "Requested Range Not Satisfiable",
        _ => "Internal Server Error",
    }
}

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// `Sun, 06 Nov 1994 08:49:37 GMT`.
fn http_date(at: SystemTime) -> String {
    const WEEKDAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let at = OffsetDateTime::from(at);
    format!(
        "{}, {:02} {} {} {:02}:{:02}:{:02} GMT",
        WEEKDAYS[usize::from(at.weekday().number_days_from_monday())],
        at.day(),
        MONTHS[usize::from(u8::from(at.month()) - 1)],
        at.year(),
        at.hour(),
        at.minute(),
        at.second()
    )
}

/// `1994-11-06T08:49:37Z`.
fn iso8601(at: SystemTime) -> String {
    let at = OffsetDateTime::from(at);
    format!(
        "{}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_follow_rfc_9110_and_s3() {
        use ByteRange::*;
        let cases = [
            (None, Whole),
            (Some("bytes=0-99"), Within { first: 0, last: 99 }),
            (
                Some("bytes=1000-"),
                Within {
                    first: 1000,
                    last: 1023,
                },
            ),
            (
                Some("bytes=-100"),
                Within {
                    first: 924,
                    last: 1023,
                },
            ),
            (
                Some("bytes=-5000"),
                Within {
                    first: 0,
                    last: 1023,
                },
            ),
            (
                Some("bytes=1000-5000"),
                Within {
                    first: 1000,
                    last: 1023,
                },
            ),
            (Some("bytes=1024-"), Unsatisfiable),
            (Some("bytes=2000-3000"), Unsatisfiable),
            (Some("bytes=-0"), Unsatisfiable),
            (Some("bytes=5-1"), Whole),
            (Some("bytes=0-1,4-5"), Whole),
            (Some("items=0-1"), Whole),
            (Some("bytes=a-b"), Whole),
            (Some("bytes=+1-2"), Whole),
        ];
        for (header, expected) in cases {
            assert_eq!(ByteRange::parse(header, 1024), expected, "{header:?}");
        }
        assert_eq!(ByteRange::parse(Some("bytes=-1"), 0), Unsatisfiable);
        assert_eq!(ByteRange::parse(Some("bytes=0-"), 0), Unsatisfiable);
    }

    #[test]
    fn request_heads_are_parsed_and_bounded() {
        let head = b"GET /b/k?X-Amz-Date=1 HTTP/1.1\r\nHost: s3.w800.test:8443\r\nRange: bytes=0-1\r\n\r\n";
        let request = parse_request_head(head).unwrap();
        assert_eq!(request.method, "GET");
        assert_eq!(request.target, "/b/k?X-Amz-Date=1");
        assert_eq!(request.header("host"), Some("s3.w800.test:8443"));
        assert!(request.keeps_alive());
        assert!(parse_request_head(b"GARBAGE\r\n\r\n").is_none());

        let mut pipelined = head.to_vec();
        pipelined.extend_from_slice(b"GET /next");
        let mut received = Vec::new();
        let length = read_request_head(&mut pipelined.as_slice(), &mut received).unwrap();
        assert_eq!(length, Some(head.len()));
        let mut endless = std::io::repeat(b'a').take(1 << 20);
        let error = read_request_head(&mut endless, &mut Vec::new()).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::InvalidData);
        assert_eq!(
            read_request_head(&mut io::empty(), &mut Vec::new()).unwrap(),
            None
        );
    }

    #[test]
    fn body_faults_cut_stall_and_flip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("object");
        let object: Vec<u8> = (0..=255).collect();
        fs::write(&path, &object).unwrap();
        let send = |start: u64, length: u64, faults: BodyFaults| {
            let mut file = File::open(&path).unwrap();
            file.seek(SeekFrom::Start(start)).unwrap();
            let mut body = Vec::new();
            let sent = send_body(&mut body, &mut file, start, length, &faults).unwrap();
            (sent, body)
        };
        let none = || BodyFaults {
            cut_after: None,
            stall_after: None,
            flip_at: None,
        };

        let (sent, body) = send(0, 256, none());
        assert!(matches!(sent, Sent::Complete));
        assert_eq!(body, object);
        let (sent, body) = send(
            0,
            256,
            BodyFaults {
                cut_after: Some(10),
                ..none()
            },
        );
        assert!(matches!(sent, Sent::Cut));
        assert_eq!(body, &object[..10]);
        let (sent, body) = send(
            100,
            10,
            BodyFaults {
                stall_after: Some(4),
                cut_after: Some(6),
                ..none()
            },
        );
        assert!(matches!(sent, Sent::Stalled));
        assert_eq!(body, &object[100..104]);
        let (sent, _) = send(
            0,
            5,
            BodyFaults {
                cut_after: Some(5),
                ..none()
            },
        );
        assert!(
            matches!(sent, Sent::Complete),
            "a cut at the very end cuts nothing"
        );
        let (_, body) = send(
            100,
            10,
            BodyFaults {
                flip_at: Some(105),
                ..none()
            },
        );
        assert_eq!(body[5], !105u8);
        assert_eq!(body[4], 104);
    }

    #[test]
    fn keys_and_buckets_are_checked() {
        assert!(is_valid_key("app_ota-1.2.img"));
        for key in ["", ".hidden", "a/b", "a b", "a%20b"] {
            assert!(!is_valid_key(key), "{key:?}");
        }
        assert!(is_valid_bucket_name("w800-ota"));
        for name in ["ab", "W800", "-w800", "w800_ota"] {
            assert!(!is_valid_bucket_name(name), "{name:?}");
        }
    }

    #[test]
    fn dates_are_formatted_for_http_and_s3() {
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(784_111_777);
        assert_eq!(http_date(at), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(iso8601(at), "1994-11-06T08:49:37Z");
    }
}
