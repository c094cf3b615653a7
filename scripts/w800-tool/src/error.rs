//! The tool's one error type.

use std::fmt;
use std::io;
use std::path::PathBuf;

use bsp::format::ptable::APP_OTA;
use bsp::format::{image, ptable, xz};
use bsp::ota::{OtaError, RECORD_SECTOR};

use crate::elf::ElfError;

/// Everything that can make a command fail (exit code 1). Usage errors are separate
/// ([`crate::cli::UsageError`], exit code 2).
#[derive(Debug)]
pub enum Error {
    /// Reading or writing `path` failed.
    Io { path: PathBuf, error: io::Error },
    /// The image (the file given, or the outer header of an `_ota.img`) is invalid.
    Image(image::Error),
    /// The image inside an `_ota.img`'s xz stream is invalid.
    InnerImage(image::Error),
    /// A partition table is invalid (or a partition does not fit the table).
    Table(ptable::Error),
    /// The file is not exactly header + body (+ signature).
    FileLength { expected: usize, actual: usize },
    /// The input file is empty.
    EmptyInput,
    /// The partition table has no partition `name`.
    UnknownPartition(String),
    /// `what` is `len` bytes, more than the `limit` bytes that `partition` can hold.
    TooLarge {
        what: &'static str,
        len: usize,
        limit: usize,
        partition: String,
    },
    /// The partition table has no room for OTA as the firmware does it: `app` and an
    /// `app_ota` larger than the sector that keeps the update record (`bsp::ota::Slots`).
    OtaSlots(OtaError),
    /// An `_ota.img` of `len` bytes is larger than the `capacity` bytes a file may use in
    /// `app_ota`: the partition without its last sector, which keeps the update record.
    OtaTooLarge { len: usize, capacity: usize },
    /// `pack --ota` was given an image that is already compressed, or an `_ota.img` holds
    /// another compressed image.
    AlreadyCompressed,
    /// `unpack` was given an image that is not xz-compressed.
    NotCompressed,
    /// liblzma failed.
    Xz(liblzma::stream::Error),
    /// The xz stream ended early.
    XzTruncated,
    /// The xz stream decompresses to more than `limit` bytes.
    XzTooLarge { limit: usize },
    /// Bytes other than at most 3 bytes of 0xFF padding follow the xz stream.
    XzTrailingData { len: usize },
    /// The xz stream is malformed or something the bootloader's decoder (`bsp::format::xz`)
    /// refuses.
    XzDecode(xz::Error),
    /// The xz stream is valid but not made with the W800 settings (CRC32 check, LZMA2
    /// dictionary of at most 32 KiB); the reason says which one it lacks.
    XzSettings(&'static str),
    /// The ELF cannot become the app binary.
    Elf(ElfError),
    /// Image `index` (from 1) of a file of several, at byte `offset`, is invalid.
    InFile {
        index: usize,
        offset: usize,
        error: Box<Error>,
    },
    /// The images of a `.fls` do not go where the partition table says, or are not what a
    /// `.fls` takes; the text says which.
    Fls(String),
    /// Talking to the device failed; the text says what happened.
    Flash(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io { path, error } => write!(f, "{}: {error}", path.display()),
            Error::Image(error) => write!(f, "{error}"),
            Error::InnerImage(error) => write!(f, "inner image (inside the xz stream): {error}"),
            Error::Table(error) => write!(f, "{error}"),
            Error::FileLength { expected, actual } => write!(
                f,
                "file is {actual} bytes, the header says {expected} (header + body + signature)"
            ),
            Error::EmptyInput => write!(f, "input file is empty"),
            Error::UnknownPartition(name) => {
                write!(f, "the partition table has no \"{name}\" partition")
            }
            Error::TooLarge {
                what,
                len,
                limit,
                partition,
            } => write!(
                f,
                "{what} is {len} bytes, partition \"{partition}\" holds at most {limit}"
            ),
            Error::OtaSlots(error) => write!(f, "partition table: {error}"),
            Error::OtaTooLarge { len, capacity } => write!(
                f,
                "OTA image is {len} bytes, partition \"{APP_OTA}\" holds files of at most \
                 {capacity} (its last {RECORD_SECTOR} bytes keep the update record)"
            ),
            Error::AlreadyCompressed => write!(f, "image is already xz-compressed"),
            Error::NotCompressed => write!(f, "image is not xz-compressed"),
            Error::Xz(error) => write!(f, "xz: {error}"),
            Error::XzTruncated => write!(f, "xz stream is truncated"),
            Error::XzTooLarge { limit } => {
                write!(f, "xz stream decompresses to more than {limit} bytes")
            }
            Error::XzTrailingData { len } => {
                write!(f, "{len} bytes after the xz stream are not 0xFF padding")
            }
            // The decoder's messages start with "xz: ".
            Error::XzDecode(error) => write!(f, "{error}"),
            Error::XzSettings(reason) => {
                write!(f, "xz stream does not have the W800 settings: {reason}")
            }
            Error::Elf(error) => write!(f, "{error}"),
            Error::InFile {
                index,
                offset,
                error,
            } => write!(f, "image {index} (at offset 0x{offset:x}): {error}"),
            Error::Fls(reason) => write!(f, ".fls: {reason}"),
            Error::Flash(reason) => write!(f, "{reason}"),
        }
    }
}

impl std::error::Error for Error {}

impl From<image::Error> for Error {
    fn from(error: image::Error) -> Self {
        Error::Image(error)
    }
}

impl From<ptable::Error> for Error {
    fn from(error: ptable::Error) -> Self {
        Error::Table(error)
    }
}

impl From<liblzma::stream::Error> for Error {
    fn from(error: liblzma::stream::Error) -> Self {
        Error::Xz(error)
    }
}

impl From<xz::Error> for Error {
    fn from(error: xz::Error) -> Self {
        Error::XzDecode(error)
    }
}

impl From<ElfError> for Error {
    fn from(error: ElfError) -> Self {
        Error::Elf(error)
    }
}
