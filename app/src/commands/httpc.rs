//! The `httpc` command: downloads a file with HTTP Range requests over one kept-alive
//! connection (TLS for https), and reports its size and SHA-256. It exercises the same client
//! the OTA download uses.

use super::{credentials, station};
use crate::config::{
    HANDSHAKE_WAIT, HTTP_CHUNK, HTTP_HEAD_BUF, HTTP_MAX_CONNECTIONS, HTTP_READ_TIMEOUT_MS,
};
use crate::shell::command::{CommandError, CommandResult, Context};
use alloc::boxed::Box;
use alloc::format;
use alloc::string::{String, ToString};
use net::digest::Sha256;
use net::http::{ByteRange, Connection, HttpError, Scheme, Url};
use net::io::Transport;
use net::station::Station;
use net::tls::{Credentials, TlsStream};

/// TCP for http, TLS for https.
enum Stream {
    Plain(net::station::TcpStream),
    Tls(TlsStream),
}

impl Transport for Stream {
    fn write_all(&mut self, data: &[u8]) -> Result<(), net::io::IoError> {
        match self {
            Stream::Plain(s) => s.write_all(data).map_err(|_| net::io::IoError::Closed),
            Stream::Tls(s) => s.write_all(data),
        }
    }

    fn read(&mut self, buf: &mut [u8], timeout_ms: u32) -> Result<usize, net::io::IoError> {
        match self {
            Stream::Plain(s) => Transport::read(s, buf, timeout_ms),
            Stream::Tls(s) => s.read(buf, timeout_ms),
        }
    }
}

fn open(
    station: &Station,
    url: &Url<'_>,
    credentials: Option<&'static Credentials>,
) -> Result<Stream, String> {
    match (url.scheme(), credentials) {
        (Scheme::Https, Some(credentials)) => {
            TlsStream::connect(station, url.host(), url.port(), credentials, HANDSHAKE_WAIT)
                .map(Stream::Tls)
                .map_err(|e| e.to_string())
        }
        (Scheme::Https, None) => Err(String::from("https needs TLS credentials")),
        (Scheme::Http, _) => {
            let address = station.resolve(url.host()).map_err(|e| e.to_string())?;
            station
                .tcp_connect(address, url.port(), HANDSHAKE_WAIT)
                .map(Stream::Plain)
                .map_err(|e| e.to_string())
        }
    }
}

/// `httpc get <url> [block]`: without `block`, one open-ended range request; with it,
/// `block`-byte ranges one after another on a kept-alive connection.
pub fn httpc(ctx: &mut Context<'_>, args: &[&str]) -> CommandResult {
    let (text, block) = match args {
        ["get", url] => (*url, None),
        ["get", url, block] => (
            *url,
            Some(
                block
                    .parse::<u64>()
                    .ok()
                    .filter(|b| *b > 0)
                    .ok_or(CommandError::Usage)?,
            ),
        ),
        _ => return Err(CommandError::Usage),
    };
    let url = Url::parse(text).map_err(|e| CommandError::Failed(e.to_string()))?;
    let station = station(ctx.services)?;
    let credentials = match url.scheme() {
        Scheme::Https => Some(credentials(ctx.services)?),
        Scheme::Http => None,
    };
    let start = kernel::now_ms();
    let mut head = Box::new([0u8; HTTP_HEAD_BUF]);
    let mut chunk = Box::new([0u8; HTTP_CHUNK]);
    let mut digest = Sha256::new();
    let mut received: u64 = 0;
    let mut total: Option<u64> = None;
    let (mut requests, mut connections) = (0u32, 0u32);
    'connections: while total.is_none_or(|t| received < t) {
        if connections == HTTP_MAX_CONNECTIONS {
            return Err(CommandError::Failed(format!(
                "gave up after {connections} connections"
            )));
        }
        let stream = open(station, &url, credentials).map_err(CommandError::Failed)?;
        connections += 1;
        let mut connection = Connection::new(stream, &mut head[..]);
        while total.is_none_or(|t| received < t) {
            if !connection.is_reusable() {
                continue 'connections;
            }
            let range = match block {
                Some(block) => {
                    ByteRange::new(received, received + block - 1).ok_or(CommandError::Usage)?
                }
                None => ByteRange::starting_at(received),
            };
            let content = match connection.get_range(&url, range, &[], HTTP_READ_TIMEOUT_MS) {
                Ok(content) => content,
                // The server closed a kept-alive connection between requests: open another.
                Err(HttpError::Io(_)) if requests > 0 => continue 'connections,
                Err(e) => return Err(CommandError::Failed(e.to_string())),
            };
            requests += 1;
            total = content.complete_length.or(total);
            loop {
                let n = connection
                    .read_body(&mut chunk[..], HTTP_READ_TIMEOUT_MS)
                    .map_err(|e| CommandError::Failed(e.to_string()))?;
                let Some(piece) = chunk.get(..n).filter(|p| !p.is_empty()) else {
                    break;
                };
                digest.update(piece);
                received += n as u64;
            }
            if total.is_none() {
                break 'connections;
            }
        }
    }
    let ms = kernel::now_ms().wrapping_sub(start).max(1);
    let mut hex = heapless::String::<64>::new();
    for b in digest.finish() {
        let _ = core::fmt::write(&mut hex, format_args!("{b:02x}"));
    }
    writeln!(
        ctx.out,
        "got {received} bytes in {requests} requests over {connections} connections, {} ms ({} KB/s)\nsha256 {hex}",
        ms,
        received * 1000 / u64::from(ms) / 1024
    )?;
    Ok(())
}
