//! Reading an OTA file in `app_ota`: its header rules, its CRC pass, and its content, the
//! image it carries (docs/w800.md, "Image files" and "OTA apply flow").
//!
//! An xz file (`compress_type` 1) is a header followed by the xz stream of a whole `.img`
//! (inner header + app binary), padded with 0xFF to 4 bytes. An uncompressed file is the
//! `.img` itself. Either way the content is "inner header, then `img_len` body bytes", which
//! [`walk`] checks and hands to a [`Sink`]: nothing for the platform layer's dry run, the
//! flash writer for the installer. Both therefore accept exactly the same files.
//!
//! The file's header comes from the caller ([`FileHeader`]), not from `app_ota`: while the
//! platform layer checks a file, its header is kept aside and the start of `app_ota` is not a
//! valid header yet. Everything after the header is read from `app_ota`.

use super::{OtaError, Slots, Workspace};
use crate::format::crc::JamCrc;
use crate::format::image::{self, CompressType, ImageHeaderRepr, ImageType, FLASH_BASE};
use crate::format::xz;
use crate::hal::Flash;

/// Bytes read from flash at a time.
const READ_CHUNK: usize = 512;
/// Bytes of content handed to the sink at a time: one flash page.
pub const CONTENT_CHUNK: usize = 256;

/// An OTA file's header that passed the rules of [`FileHeader::parse`]: its bytes as the file
/// has them (what the signature covers and what is programmed) and what they say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileHeader {
    bytes: [u8; image::HEADER_LEN],
    repr: ImageHeaderRepr,
}

impl FileHeader {
    /// Parses `bytes` and applies the vendor's rules for an OTA file (docs/w800.md, "OTA apply
    /// flow"), adapted: an app image; no encryption or vendor RSA signature (the file's signature is checked by
    /// the platform layer instead); header and run addresses in `app` or `app_ota`; upgrade
    /// address 0 or `app_ota`; the whole file inside `app_ota` without the record sector.
    pub fn parse(bytes: &[u8; image::HEADER_LEN], slots: &Slots) -> Result<FileHeader, OtaError> {
        let repr = ImageHeaderRepr::parse_bytes(bytes).map_err(OtaError::Header)?;
        check_file_rules(&repr, slots)?;
        Ok(FileHeader {
            bytes: *bytes,
            repr,
        })
    }

    /// The header's bytes.
    pub fn bytes(&self) -> &[u8; image::HEADER_LEN] {
        &self.bytes
    }

    /// What the header says.
    pub fn repr(&self) -> &ImageHeaderRepr {
        &self.repr
    }
}

/// Reads the file header at the start of `app_ota` (where it is once the file is staged) and
/// applies [`FileHeader::parse`]'s rules.
pub fn file_header<F: Flash + ?Sized>(
    flash: &mut F,
    slots: &Slots,
) -> Result<FileHeader, OtaError> {
    let mut bytes = [0u8; image::HEADER_LEN];
    flash.read(slots.app_ota.offset, &mut bytes)?;
    FileHeader::parse(&bytes, slots)
}

fn check_file_rules(header: &ImageHeaderRepr, slots: &Slots) -> Result<(), OtaError> {
    check_app_kind(header)?;
    let app = FLASH_BASE + slots.app.offset;
    let ota = FLASH_BASE + slots.app_ota.offset;
    if header.header_addr != app && header.header_addr != ota {
        return Err(OtaError::BadAddress {
            field: "img_header_addr",
            value: header.header_addr,
        });
    }
    if header.img_addr != app + image::HEADER_AREA && header.img_addr != ota + image::HEADER_AREA {
        return Err(OtaError::BadAddress {
            field: "img_addr",
            value: header.img_addr,
        });
    }
    if header.upgrade_addr != 0 && header.upgrade_addr != ota {
        return Err(OtaError::BadAddress {
            field: "upgrade_img_addr",
            value: header.upgrade_addr,
        });
    }
    file_len(header, slots)?;
    Ok(())
}

/// Reads and parses the image header at flash `offset`; `invalid` says whose header it was.
pub(crate) fn header_at<F: Flash + ?Sized>(
    flash: &mut F,
    offset: u32,
    invalid: fn(image::Error) -> OtaError,
) -> Result<ImageHeaderRepr, OtaError> {
    let mut raw = [0u8; image::HEADER_LEN];
    flash.read(offset, &mut raw)?;
    ImageHeaderRepr::parse_bytes(&raw).map_err(invalid)
}

/// Header plus body: the file's length, if it fits `app_ota`.
pub fn file_len(header: &ImageHeaderRepr, slots: &Slots) -> Result<u32, OtaError> {
    let capacity = slots.file_capacity();
    match header.img_len.checked_add(image::HEADER_LEN as u32) {
        Some(len) if len <= capacity => Ok(len),
        _ => Err(OtaError::TooLarge {
            len: header.img_len.saturating_add(image::HEADER_LEN as u32),
            capacity,
        }),
    }
}

fn check_app_kind(header: &ImageHeaderRepr) -> Result<(), OtaError> {
    match header.attr.img_type() {
        Ok(ImageType::User) => {}
        Ok(other) => return Err(OtaError::NotAnApp(other)),
        Err(e) => return Err(OtaError::Header(e)),
    }
    if header.attr.code_encrypt() {
        return Err(OtaError::Unsupported("encrypted image"));
    }
    if header.attr.signature() {
        return Err(OtaError::Unsupported("vendor RSA-signed image"));
    }
    Ok(())
}

/// Reads the whole file once: feeds every byte, `header`'s first, then the body from
/// `app_ota`, to `each`, and checks the body against `org_checksum`.
pub fn check_file<F: Flash + ?Sized>(
    flash: &mut F,
    slots: &Slots,
    header: &FileHeader,
    mut each: impl FnMut(&[u8]),
) -> Result<(), OtaError> {
    let start = slots.app_ota.offset;
    each(header.bytes());
    let mut crc = JamCrc::new();
    read_span(
        flash,
        start + image::HEADER_LEN as u32,
        start + file_len(header.repr(), slots)?,
        |_, chunk| {
            each(chunk);
            crc.update(chunk);
        },
    )?;
    body_checksum(header.repr(), &crc).map_err(OtaError::Header)
}

/// Compares the CRC of a body read in pieces with `header.org_checksum`.
pub(crate) fn body_checksum(header: &ImageHeaderRepr, crc: &JamCrc) -> Result<(), image::Error> {
    let computed = crc.value();
    if computed != header.org_checksum {
        return Err(image::Error::BodyChecksum {
            stored: header.org_checksum,
            computed,
        });
    }
    Ok(())
}

/// Reads the flash from `start` to `end` in chunks, handing each to `each` with its offset.
pub(crate) fn read_span<F: Flash + ?Sized>(
    flash: &mut F,
    start: u32,
    end: u32,
    mut each: impl FnMut(u32, &[u8]),
) -> Result<(), OtaError> {
    let mut buf = [0u8; READ_CHUNK];
    let mut at = start;
    while at < end {
        let n = (end - at).min(READ_CHUNK as u32);
        let chunk = &mut buf[..n as usize];
        flash.read(at, chunk)?;
        each(at, chunk);
        at += n;
    }
    Ok(())
}

/// Where the content of the file comes from. It lives on the stack for one walk, so the size
/// of the xz variant (the decoder's state and an input buffer, under 1 KB) costs nothing.
#[allow(clippy::large_enum_variant)]
enum Source<'w> {
    /// Uncompressed: the file bytes themselves, the header from the caller.
    Raw { header: [u8; image::HEADER_LEN] },
    /// xz: the body through the decoder.
    Xz {
        decoder: xz::Decoder<'w>,
        input: [u8; READ_CHUNK],
        start: usize,
        len: usize,
        done: bool,
    },
}

/// The content of a file in `app_ota`, read in order.
struct Content<'w> {
    source: Source<'w>,
    /// Flash offset of the file's first byte.
    start: u32,
    /// Flash offset of the next file byte to read.
    next: u32,
    /// Flash offset one past the file.
    end: u32,
}

impl<'w> Content<'w> {
    fn new(
        header: &FileHeader,
        slots: &Slots,
        workspace: &'w mut Workspace<'_>,
    ) -> Result<Content<'w>, OtaError> {
        let start = slots.app_ota.offset;
        let end = start + file_len(header.repr(), slots)?;
        let compress = header
            .repr()
            .attr
            .compress_type()
            .map_err(OtaError::Header)?;
        Ok(match compress {
            CompressType::None => Content {
                source: Source::Raw {
                    header: *header.bytes(),
                },
                start,
                next: start,
                end,
            },
            CompressType::Xz => Content {
                source: Source::Xz {
                    decoder: xz::Decoder::new(workspace.dict, workspace.probs)
                        .map_err(OtaError::Xz)?,
                    input: [0; READ_CHUNK],
                    start: 0,
                    len: 0,
                    done: false,
                },
                start,
                next: start + image::HEADER_LEN as u32,
                end,
            },
        })
    }

    /// Fills `out` with the next content bytes; 0 at the end of the content (for xz: the
    /// stream ended, its checks passed and only padding follows).
    fn read<F: Flash + ?Sized>(
        &mut self,
        flash: &mut F,
        out: &mut [u8],
    ) -> Result<usize, OtaError> {
        match &mut self.source {
            Source::Raw { header } => {
                let room = (self.end - self.next).min(out.len() as u32) as usize;
                let chunk = &mut out[..room];
                // The header's bytes come from the caller, the rest from the flash.
                let from_header = header
                    .get((self.next - self.start) as usize..)
                    .unwrap_or_default();
                let n = if from_header.is_empty() {
                    flash.read(self.next, chunk)?;
                    room
                } else {
                    let n = from_header.len().min(room);
                    chunk[..n].copy_from_slice(&from_header[..n]);
                    n
                };
                self.next += n as u32;
                Ok(n)
            }
            Source::Xz {
                decoder,
                input,
                start,
                len,
                done,
            } => loop {
                if *done {
                    return Ok(0);
                }
                if *start == *len && self.next < self.end {
                    let n = (self.end - self.next).min(READ_CHUNK as u32);
                    flash.read(self.next, &mut input[..n as usize])?;
                    self.next += n;
                    *start = 0;
                    *len = n as usize;
                }
                let progress = decoder
                    .decode(&input[*start..*len], out)
                    .map_err(OtaError::Xz)?;
                *start += progress.consumed;
                if progress.end {
                    *done = true;
                    check_padding(flash, &input[*start..*len], self.next, self.end)?;
                    return Ok(progress.produced);
                }
                if progress.produced > 0 {
                    return Ok(progress.produced);
                }
                // No progress: either the file ran out mid-stream, or (with input left) the
                // decoder stalled; both end the content early rather than loop.
                if progress.consumed == 0 && (*start < *len || self.next == self.end) {
                    return Err(OtaError::ContentTruncated);
                }
            },
        }
    }
}

/// After the xz stream: fewer than 4 bytes, all 0xFF (docs/w800.md, "Image files") —
/// `buffered` still in the input buffer, then the file's unread bytes from `next` to `end`.
fn check_padding<F: Flash + ?Sized>(
    flash: &mut F,
    buffered: &[u8],
    next: u32,
    end: u32,
) -> Result<(), OtaError> {
    let unread = (end - next) as usize;
    if buffered.len() + unread >= 4 {
        return Err(OtaError::TrailingData);
    }
    let mut rest = [0u8; 4];
    let rest = &mut rest[..unread];
    flash.read(next, rest)?;
    if buffered.iter().chain(rest.iter()).any(|b| *b != 0xFF) {
        return Err(OtaError::TrailingData);
    }
    Ok(())
}

/// Receives a checked image as [`walk`] reads it.
pub trait Sink<F: ?Sized> {
    /// The inner header, after its checks, before any body byte.
    fn header(&mut self, flash: &mut F, header: &ImageHeaderRepr) -> Result<(), OtaError>;
    /// Body bytes at `offset` of the body, in order.
    fn body(&mut self, flash: &mut F, offset: u32, data: &[u8]) -> Result<(), OtaError>;
}

/// A sink that keeps nothing: the platform layer's dry run.
pub struct Discard;

impl<F: ?Sized> Sink<F> for Discard {
    fn header(&mut self, _: &mut F, _: &ImageHeaderRepr) -> Result<(), OtaError> {
        Ok(())
    }

    fn body(&mut self, _: &mut F, _: u32, _: &[u8]) -> Result<(), OtaError> {
        Ok(())
    }
}

/// Reads the content of the file whose header is `file` and checks the image in it: an app
/// image header for `app` (header at the partition's start, body at +0x400, fitting it), the
/// file's version, exactly `img_len` body bytes matching `org_checksum`, and (xz) a complete
/// stream. Hands header and body to `sink` as they pass; returns the inner header.
pub fn walk<F: Flash + ?Sized>(
    flash: &mut F,
    slots: &Slots,
    file: &FileHeader,
    workspace: &mut Workspace<'_>,
    sink: &mut impl Sink<F>,
) -> Result<ImageHeaderRepr, OtaError> {
    let mut content = Content::new(file, slots, workspace)?;
    let mut chunk = [0u8; CONTENT_CHUNK];
    let (inner, spill) = read_inner_header(&mut content, flash, &mut chunk, file.repr(), slots)?;
    sink.header(flash, &inner)?;

    let mut crc = JamCrc::new();
    let mut done: u32 = 0;
    let mut n = spill;
    loop {
        if n > 0 {
            let data = &chunk[..n];
            let within = done
                .checked_add(n as u32)
                .is_some_and(|end| end <= inner.img_len);
            if !within {
                return Err(OtaError::ContentTooLong);
            }
            crc.update(data);
            sink.body(flash, done, data)?;
            done += n as u32;
        }
        n = content.read(flash, &mut chunk)?;
        if n == 0 {
            break;
        }
    }
    if done != inner.img_len {
        return Err(OtaError::ContentTruncated);
    }
    body_checksum(&inner, &crc).map_err(OtaError::Inner)?;
    Ok(inner)
}

/// The header of the image inside the file (checked as [`walk`] checks it), without reading
/// further: what the installer compares with `app` before it writes anything.
pub fn inner_header<F: Flash + ?Sized>(
    flash: &mut F,
    slots: &Slots,
    file: &FileHeader,
    workspace: &mut Workspace<'_>,
) -> Result<ImageHeaderRepr, OtaError> {
    let mut content = Content::new(file, slots, workspace)?;
    let mut chunk = [0u8; CONTENT_CHUNK];
    read_inner_header(&mut content, flash, &mut chunk, file.repr(), slots).map(|(inner, _)| inner)
}

/// Reads and checks the content's first [`image::HEADER_LEN`] bytes. Content bytes read past
/// them are left at the start of `chunk`; returns the header and their count.
fn read_inner_header<F: Flash + ?Sized>(
    content: &mut Content<'_>,
    flash: &mut F,
    chunk: &mut [u8; CONTENT_CHUNK],
    file: &ImageHeaderRepr,
    slots: &Slots,
) -> Result<(ImageHeaderRepr, usize), OtaError> {
    let mut raw = [0u8; image::HEADER_LEN];
    let mut filled = 0;
    let mut spill = 0;
    while filled < raw.len() {
        let n = content.read(flash, chunk)?;
        if n == 0 {
            return Err(OtaError::ContentTruncated);
        }
        let take = n.min(raw.len() - filled);
        raw[filled..filled + take].copy_from_slice(&chunk[..take]);
        filled += take;
        chunk.copy_within(take..n, 0);
        spill = n - take;
    }
    let inner = ImageHeaderRepr::parse_bytes(&raw).map_err(OtaError::Inner)?;
    check_inner(&inner, file, slots)?;
    Ok((inner, spill))
}

/// The inner image must be an uncompressed app image laid out for `app` and the file's version.
fn check_inner(
    inner: &ImageHeaderRepr,
    file: &ImageHeaderRepr,
    slots: &Slots,
) -> Result<(), OtaError> {
    check_app_kind(inner)?;
    if inner.attr.compress_type() != Ok(CompressType::None) {
        return Err(OtaError::Unsupported("compressed image inside the file"));
    }
    let app = FLASH_BASE + slots.app.offset;
    if inner.header_addr != app {
        return Err(OtaError::BadAddress {
            field: "inner img_header_addr",
            value: inner.header_addr,
        });
    }
    if inner.img_addr != app + image::HEADER_AREA {
        return Err(OtaError::BadAddress {
            field: "inner img_addr",
            value: inner.img_addr,
        });
    }
    let capacity = slots.app.size.saturating_sub(image::HEADER_AREA);
    if inner.img_len > capacity {
        return Err(OtaError::TooLarge {
            len: inner.img_len,
            capacity,
        });
    }
    if inner.version != file.version {
        return Err(OtaError::VersionMismatch {
            file: file.version,
            inner: inner.version,
        });
    }
    Ok(())
}
