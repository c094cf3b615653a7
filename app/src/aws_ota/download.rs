//! The file's download: one task that streams `https` presigned URLs with one open-ended
//! Range request per connection and cuts the body into the agent's blocks as it arrives, in
//! buffers from the block pool. While the agent writes one block to flash the next ones come
//! in; when the pool is empty the task waits, so the network never outruns the flash by more
//! than the pool. It never touches MQTT.
//!
//! On a board without a network the file comes from the board's memory instead
//! ([`FileSource::Memory`], the loopback transport), cut into blocks by the same code.

use super::pool::{Pool, PoolBuf};
use super::AgentQueue;
use crate::config::{HANDSHAKE_WAIT, HTTP_HEAD_BUF, HTTP_READ_TIMEOUT_MS, OTA_URL_MAX};
use alloc::boxed::Box;
use core::sync::atomic::{AtomicU32, Ordering};
use core::time::Duration;
use kernel::{Mutex, Queue};
use net::http::{ByteRange, Connection, HttpError, Scheme, Url};
use net::station::Station;
use net::tls::{Credentials, TlsStream};
use ota_agent::ports::{Download, FileRequest, NotSent};
use ota_agent::{DownloadError, Event, S3Code};

/// How long the task waits for a free block buffer before it looks whether it should stop.
const POOL_WAIT: Duration = Duration::from_millis(500);

/// What the agent asked for last.
struct Order {
    transfer: u32,
    url: heapless::String<OTA_URL_MAX>,
    offset: u32,
    size: u32,
    block_size: u32,
}

/// The download's shared state: the agent writes orders, the task carries them out.
pub struct Downloader {
    order: Mutex<Order>,
    /// Transfer numbers, one per order, to wake the task.
    wake: Queue<u32>,
    /// The transfer the agent wants now (0: none): the task abandons any other.
    wanted: AtomicU32,
}

impl Downloader {
    pub fn new() -> Result<&'static Downloader, kernel::Error> {
        Ok(Box::leak(Box::new(Downloader {
            order: Mutex::new(Order {
                transfer: 0,
                url: heapless::String::new(),
                offset: 0,
                size: 0,
                block_size: 1,
            })?,
            wake: Queue::new(4)?,
            wanted: AtomicU32::new(0),
        })))
    }

    fn is_wanted(&self, transfer: u32) -> bool {
        self.wanted.load(Ordering::Acquire) == transfer
    }
}

/// The agent's download port.
pub struct DownloadPort(pub &'static Downloader);

impl Download for DownloadPort {
    fn start(&mut self, request: &FileRequest<'_>) -> Result<(), NotSent> {
        {
            let mut order = self.0.order.lock();
            order.url = heapless::String::try_from(request.url).map_err(|_| NotSent)?;
            order.transfer = request.transfer;
            order.offset = request.offset;
            order.size = request.size;
            order.block_size = request.block_size.max(1);
        }
        self.0.wanted.store(request.transfer, Ordering::Release);
        self.0
            .wake
            .send(request.transfer, Duration::ZERO)
            .map_err(|_| NotSent)
    }

    fn stop(&mut self) {
        self.0.wanted.store(0, Ordering::Release);
    }
}

/// Where the files come from.
#[derive(Clone, Copy)]
pub enum FileSource {
    /// The URL's HTTPS server, checked against `credentials`.
    Https {
        station: &'static Station,
        credentials: &'static Credentials,
    },
    /// The one file a board without a network holds, whatever the URL.
    Memory(&'static [u8]),
}

/// What the task needs besides the order.
pub struct Fetcher {
    pub downloader: &'static Downloader,
    pub source: FileSource,
    pub blocks: &'static Pool,
    pub events: &'static AgentQueue,
}

/// The body of the file from the first byte asked for, as it arrives.
enum Body<'h> {
    Https(Connection<'h, TlsStream>),
    Memory(&'static [u8]),
}

impl Body<'_> {
    /// Reads the next bytes into `buf`; 0 at the end of the body.
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, DownloadError> {
        match self {
            Body::Https(connection) => connection
                .read_body(buf, HTTP_READ_TIMEOUT_MS)
                .map_err(download_error),
            Body::Memory(rest) => {
                let n = buf.len().min(rest.len());
                buf[..n].copy_from_slice(&rest[..n]);
                *rest = &rest[n..];
                Ok(n)
            }
        }
    }
}

/// The download task's body: carries out each order the agent gives.
pub fn run(fetcher: Fetcher) {
    let mut url = Box::new(heapless::String::<OTA_URL_MAX>::new());
    let mut head = Box::new([0u8; HTTP_HEAD_BUF]);
    loop {
        let Some(transfer) = fetcher.downloader.wake.receive(Duration::MAX) else {
            continue;
        };
        let (offset, size, block_size) = {
            let order = fetcher.downloader.order.lock();
            if order.transfer != transfer || !fetcher.downloader.is_wanted(transfer) {
                continue;
            }
            url.as_mut().clone_from(&order.url);
            (order.offset, order.size, order.block_size)
        };
        log::info!(target: "ota", "download {transfer}: bytes {offset}- of {size}");
        if let Err(error) = fetcher.fetch(transfer, &url, offset, size, block_size, &mut head[..]) {
            if fetcher.downloader.is_wanted(transfer) {
                log::warn!(target: "ota", "download {transfer}: {error}");
                fetcher.post(Event::DownloadError { transfer, error });
            }
        }
    }
}

impl Fetcher {
    /// Streams `offset..size` of `url` into blocks; stops early, without an error, when the
    /// agent no longer wants this transfer.
    fn fetch(
        &self,
        transfer: u32,
        text: &str,
        offset: u32,
        size: u32,
        block_size: u32,
        head: &mut [u8],
    ) -> Result<(), DownloadError> {
        let url = Url::parse(text).map_err(|_| DownloadError::BadUrl)?;
        if url.scheme() != Scheme::Https {
            return Err(DownloadError::BadUrl);
        }
        let (mut body, complete_length) = match self.source {
            FileSource::Https {
                station,
                credentials,
            } => {
                let stream = TlsStream::connect(
                    station,
                    url.host(),
                    url.port(),
                    credentials,
                    HANDSHAKE_WAIT,
                )
                .map_err(|e| {
                    log::warn!(target: "ota", "download {transfer}: {}:{}: {e}", url.host(), url.port());
                    DownloadError::Interrupted
                })?;
                let mut connection = Connection::new(stream, head);
                let content = connection
                    .get_range(
                        &url,
                        ByteRange::starting_at(u64::from(offset)),
                        &[],
                        HTTP_READ_TIMEOUT_MS,
                    )
                    .map_err(download_error)?;
                (Body::Https(connection), content.complete_length)
            }
            FileSource::Memory(file) => {
                let rest = file
                    .get(offset as usize..)
                    .ok_or(DownloadError::Status(416))?;
                (Body::Memory(rest), Some(file.len() as u64))
            }
        };
        match complete_length {
            Some(length) if length == u64::from(size) => {}
            Some(length) if length > u64::from(size) => return Err(DownloadError::TooLong),
            _ => return Err(DownloadError::BadContentRange),
        }
        let mut at = offset;
        while at < size {
            let Some(mut block) = self.next_buffer(transfer) else {
                return Ok(());
            };
            let want = block_size.min(size - at) as usize;
            while block.len() < want {
                let room = want - block.len();
                let spare = block.spare();
                let room = room.min(spare.len());
                let target = &mut spare[..room];
                let n = body.read(target)?;
                if n == 0 {
                    return Err(DownloadError::Interrupted);
                }
                block.fill(n);
                if !self.downloader.is_wanted(transfer) {
                    return Ok(());
                }
            }
            let offset = at;
            at += want as u32;
            let event = Event::ReceivedFileBlock {
                transfer,
                offset,
                data: block,
            };
            if at < size {
                self.post(event);
            } else {
                // The file's last block goes to the agent only once the connection and its
                // TLS session are freed: with it the agent closes the file, which borrows the
                // xz decoder's 49 KB from the same heap.
                drop(body);
                self.post(event);
                return Ok(());
            }
        }
        Ok(())
    }

    /// A block buffer, waiting as long as the agent still wants `transfer`.
    fn next_buffer(&self, transfer: u32) -> Option<PoolBuf> {
        loop {
            if !self.downloader.is_wanted(transfer) {
                return None;
            }
            if let Some(buffer) = self.blocks.take(POOL_WAIT) {
                return Some(buffer);
            }
        }
    }

    /// Posts to the agent, waiting for room: every block buffer is one the agent will free.
    fn post(&self, event: Event<PoolBuf>) {
        let mut event = event;
        while let Err(back) = self.events.send(event, POOL_WAIT) {
            event = back;
        }
    }
}

/// What an HTTP failure means to the agent: worth resuming, a URL to refresh, or the end of
/// the job.
fn download_error(error: HttpError) -> DownloadError {
    match error {
        HttpError::Forbidden(Some(s3)) if s3.expired => DownloadError::UrlExpired,
        HttpError::Forbidden(s3) => {
            let code = s3.as_ref().map_or("Forbidden", |s3| s3.code());
            DownloadError::Forbidden(S3Code::try_from(code).unwrap_or_default())
        }
        HttpError::RangeIgnored => DownloadError::NotPartial,
        HttpError::MissingContentRange
        | HttpError::ContentRangeMismatch { .. }
        | HttpError::ContentLengthMismatch { .. } => DownloadError::BadContentRange,
        HttpError::NotFound => DownloadError::Status(404),
        HttpError::RangeNotSatisfiable { .. } => DownloadError::Status(416),
        HttpError::UnexpectedStatus { status } => DownloadError::Status(status),
        HttpError::Io(_)
        | HttpError::Truncated { .. }
        | HttpError::ServerError { .. }
        | HttpError::Malformed(_)
        | HttpError::HeadTooLarge { .. }
        | HttpError::TransferEncoding
        | HttpError::BodyPending
        | HttpError::ConnectionNotReusable => DownloadError::Interrupted,
        HttpError::BadRequestHeader(_) | HttpError::RequestTooLarge { .. } => DownloadError::BadUrl,
    }
}
