//! The HTTP range client against a real nginx on loopback (Debian package `nginx-light`), and
//! against a small server that breaks off a body.

mod common;

use std::{
    fs,
    io::{Read, Write},
    net::{Ipv4Addr, TcpListener},
    os::unix::fs::symlink,
    process::Command,
    thread,
};

use common::{free_port, Server, TcpTransport, TempDir};
use net::http::{ByteRange, Connection, HttpError, Url, MAX_URL_LEN};
use sha2::{Digest, Sha256};

const FILE_LEN: u64 = 1 << 20;
const TIMEOUT_MS: u32 = 5_000;
/// The OTA agent's block size.
const BLOCK: usize = 4096;

/// An nginx serving a generated 1 MiB file as `/app.bin`, and the same file under
/// `/norange/` (byte ranges disabled, so ranges are answered with 200) and `/close/` (no
/// keep-alive, so every response says `Connection: close`).
struct Nginx {
    _server: Server,
    port: u16,
    file: Vec<u8>,
    _dir: TempDir,
}

impl Nginx {
    fn start(name: &str) -> Self {
        let dir = TempDir::new(name);
        let root = dir.path().join("www");
        for sub in ["norange", "close"] {
            fs::create_dir_all(root.join(sub)).unwrap();
        }
        let file = generated_file();
        fs::write(root.join("app.bin"), &file).unwrap();
        for sub in ["norange", "close"] {
            symlink(root.join("app.bin"), root.join(sub).join("app.bin")).unwrap();
        }
        let port = free_port();
        let prefix = dir.path().display();
        let config = dir.path().join("nginx.conf");
        fs::write(
            &config,
            format!(
                "daemon off;\n\
                 master_process off;\n\
                 worker_processes 1;\n\
                 pid {prefix}/nginx.pid;\n\
                 error_log stderr warn;\n\
                 events {{ worker_connections 16; }}\n\
                 http {{\n\
                   access_log off;\n\
                   client_body_temp_path {prefix}/body;\n\
                   proxy_temp_path {prefix}/proxy;\n\
                   fastcgi_temp_path {prefix}/fastcgi;\n\
                   uwsgi_temp_path {prefix}/uwsgi;\n\
                   scgi_temp_path {prefix}/scgi;\n\
                   keepalive_requests 1000;\n\
                   server {{\n\
                     listen 127.0.0.1:{port};\n\
                     root {prefix}/www;\n\
                     location /norange/ {{ max_ranges 0; }}\n\
                     location /close/ {{ keepalive_timeout 0; }}\n\
                   }}\n\
                 }}\n"
            ),
        )
        .unwrap();
        let mut command = Command::new("nginx");
        command
            .arg("-p")
            .arg(dir.path())
            .arg("-c")
            .arg(&config)
            .args(["-e", "stderr"]);
        let server = Server::start(command, port, &dir.path().join("nginx.log"));
        Self {
            _server: server,
            port,
            file,
            _dir: dir,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn connect(&self) -> Connection<'static, TcpTransport> {
        head_buffer_connection(TcpTransport::connect(self.port).unwrap())
    }
}

fn head_buffer_connection(transport: TcpTransport) -> Connection<'static, TcpTransport> {
    // Room for a URL of MAX_URL_LEN bytes and a kilobyte of response headers.
    Connection::new(transport, Box::leak(vec![0; 3 * 1024].into_boxed_slice()))
}

/// 1 MiB from a xorshift generator: no repeating pattern for a misplaced block to hide in.
fn generated_file() -> Vec<u8> {
    let mut state = 0x2545_F491_u32;
    (0..FILE_LEN)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state.to_le_bytes()[0]
        })
        .collect()
}

/// Reads the rest of the body in agent-sized blocks.
fn read_body(connection: &mut Connection<'_, TcpTransport>) -> Result<Vec<u8>, HttpError> {
    let mut body = Vec::new();
    let mut block = [0; BLOCK];
    loop {
        match connection.read_body(&mut block, TIMEOUT_MS)? {
            0 => return Ok(body),
            count => body.extend_from_slice(&block[..count]),
        }
    }
}

#[test]
fn ranges_over_one_kept_alive_connection_rebuild_the_file() {
    let nginx = Nginx::start("http-ranges");
    let text = nginx.url("/app.bin");
    let url = Url::parse(&text).unwrap();
    let mut connection = nginx.connect();
    let mut hasher = Sha256::new();
    let bounds = [0, 1, 4096, 300_000, 300_001, 700_000, FILE_LEN];
    for window in bounds.windows(2) {
        let range = ByteRange::new(window[0], window[1] - 1).unwrap();
        let content = connection.get_range(&url, range, &[], TIMEOUT_MS).unwrap();
        assert_eq!((content.first, content.last), (window[0], window[1] - 1));
        assert_eq!(content.complete_length, Some(FILE_LEN));
        let body = read_body(&mut connection).unwrap();
        assert_eq!(body.len() as u64, window[1] - window[0]);
        hasher.update(&body);
        assert!(connection.is_reusable());
    }
    assert_eq!(
        hasher.finalize()[..],
        Sha256::digest(&nginx.file)[..],
        "the ranges do not add up to the file"
    );
}

#[test]
fn open_ended_range_reads_to_the_end() {
    let nginx = Nginx::start("http-open");
    let text = nginx.url("/app.bin");
    let url = Url::parse(&text).unwrap();
    let mut connection = nginx.connect();
    let content = connection
        .get_range(&url, ByteRange::starting_at(1_000_000), &[], TIMEOUT_MS)
        .unwrap();
    assert_eq!(content.last, FILE_LEN - 1);
    assert_eq!(read_body(&mut connection).unwrap(), nginx.file[1_000_000..]);
}

#[test]
fn range_past_the_end_is_416_with_the_file_length() {
    let nginx = Nginx::start("http-416");
    let text = nginx.url("/app.bin");
    let url = Url::parse(&text).unwrap();
    let mut connection = nginx.connect();
    let range = ByteRange::new(FILE_LEN, FILE_LEN + 99).unwrap();
    let error = connection
        .get_range(&url, range, &[], TIMEOUT_MS)
        .unwrap_err();
    assert_eq!(
        error,
        HttpError::RangeNotSatisfiable {
            complete_length: Some(FILE_LEN)
        }
    );
    assert_eq!(error.status(), Some(416));
}

#[test]
fn a_server_ignoring_the_range_is_an_error() {
    let nginx = Nginx::start("http-200");
    let text = nginx.url("/norange/app.bin");
    let url = Url::parse(&text).unwrap();
    let mut connection = nginx.connect();
    let range = ByteRange::new(0, 4095).unwrap();
    assert_eq!(
        connection.get_range(&url, range, &[], TIMEOUT_MS),
        Err(HttpError::RangeIgnored)
    );
    assert!(!connection.is_reusable());
}

#[test]
fn connection_close_from_the_server_needs_a_new_connection() {
    let nginx = Nginx::start("http-close");
    let text = nginx.url("/close/app.bin");
    let url = Url::parse(&text).unwrap();
    let mut connection = nginx.connect();
    let range = ByteRange::new(10, 19).unwrap();
    connection.get_range(&url, range, &[], TIMEOUT_MS).unwrap();
    assert_eq!(read_body(&mut connection).unwrap(), nginx.file[10..20]);
    assert!(!connection.is_reusable());
    assert_eq!(
        connection.get_range(&url, range, &[], TIMEOUT_MS),
        Err(HttpError::ConnectionNotReusable)
    );
    // A new connection carries the next request.
    let mut again = nginx.connect();
    again.get_range(&url, range, &[], TIMEOUT_MS).unwrap();
    assert_eq!(read_body(&mut again).unwrap(), nginx.file[10..20]);
}

#[test]
fn a_presigned_length_url_is_fetched() {
    let nginx = Nginx::start("http-long-url");
    let base = nginx.url("/app.bin?X-Amz-Signature=");
    let text = format!("{base}{}", "a".repeat(MAX_URL_LEN - base.len()));
    assert_eq!(text.len(), MAX_URL_LEN);
    let url = Url::parse(&text).unwrap();
    let mut connection = nginx.connect();
    let range = ByteRange::new(4096, 8191).unwrap();
    connection.get_range(&url, range, &[], TIMEOUT_MS).unwrap();
    assert_eq!(read_body(&mut connection).unwrap(), nginx.file[4096..8192]);
}

#[test]
fn a_body_cut_short_is_reported_with_what_arrived() {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut request = Vec::new();
        let mut byte = [0];
        while !request.ends_with(b"\r\n\r\n") {
            stream.read_exact(&mut byte).unwrap();
            request.push(byte[0]);
        }
        stream
            .write_all(
                b"HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 0-999/5000\r\n\
                  Content-Length: 1000\r\n\r\n",
            )
            .unwrap();
        stream.write_all(&[0x5A; 300]).unwrap();
        // Dropping the stream closes the connection 700 bytes early.
        String::from_utf8(request).unwrap()
    });
    let text = format!("http://127.0.0.1:{port}/app.bin");
    let url = Url::parse(&text).unwrap();
    let mut connection = head_buffer_connection(TcpTransport::connect(port).unwrap());
    let range = ByteRange::new(0, 999).unwrap();
    connection.get_range(&url, range, &[], TIMEOUT_MS).unwrap();
    assert_eq!(
        read_body(&mut connection),
        Err(HttpError::Truncated {
            received: 300,
            expected: 1000
        })
    );
    let request = server.join().unwrap();
    assert!(
        request.starts_with("GET /app.bin HTTP/1.1\r\n"),
        "{request}"
    );
    assert!(request.contains("\r\nRange: bytes=0-999\r\n"), "{request}");
}
