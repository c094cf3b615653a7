//! The OTA platform layer (PAL) and the installer: everything between "bytes of an OTA file
//! arrive" and "the new image runs", over the [`Flash`](crate::hal::Flash) trait only.
//!
//! The W800 keeps a new image in a staging partition, not in a second slot
//! (docs/w800.md, "OTA apply flow" and "Partition table"; docs/aws-ota.md, "The W800
//! example's port"): the file goes into `app_ota`, and at the next start the installer (the vendor's bootloader on the chip; on
//! boards without one, the firmware's own boot stage, [`install`]) unpacks it into `app`.
//!
//! 1. [`pal::create_file`] forgets any staged image (its record first) and erases room for
//!    the file; [`pal::write_block`] programs blocks at their offsets, in any order, except
//!    the file's first 64 bytes, its vendor header: those are kept aside (in the
//!    [`IncomingFile`](pal::IncomingFile), and once complete in the record sector), and the
//!    start of `app_ota` stays erased.
//! 2. [`pal::close_file`] checks the file before anything may be installed: the vendor's
//!    header rules on the kept header, the body CRC, the ECDSA signature over the whole file
//!    (through [`ImageSignature`]), and the content: the xz stream is decoded to the end
//!    without writing anything, and the image inside must have a valid header for `app`, fit
//!    it and match its own CRC. Only then does it program the header at the start of
//!    `app_ota`, and then the [update record](record) that stages the file. A file that
//!    passes will install; one that fails is refused here, where the cloud can still be told,
//!    and leaves no valid vendor header in `app_ota`, so the W800's bootloader (which reads
//!    that header, not our record) finds nothing to install. [`pal::abort_file`] does the same
//!    for a download that is given up.
//! 3. [`install::install_staged`] runs at start: it checks the file's CRC again (the flash
//!    may have changed since), writes the image into `app` (its header last), reads `app`
//!    back, and marks the record installed. Power lost on the way leaves the record staged
//!    and `app_ota` intact, so the next start does it again.
//!
//! Memory: the xz decoder's dictionary and probabilities come from the caller
//! ([`Workspace`]), everything else is a few hundred bytes of stack.

pub mod content;
pub mod install;
pub mod journal;
pub mod pal;
pub mod record;

use crate::format::image::{self, ImageType, Version};
use crate::format::ptable::{self, PartitionTableRepr};
use crate::format::xz;
use crate::hal::FlashError;
use core::fmt;

/// The partitions OTA works with (flash offsets and sizes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slots {
    /// `app`: where the running image's header is, and where an update is installed.
    pub app: Region,
    /// `app_ota`: where an update is received and staged; its last sector holds the record.
    pub app_ota: Region,
}

/// A flash range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Region {
    pub offset: u32,
    pub size: u32,
}

impl Slots {
    /// The slots from a partition table; fails unless it has `app` and `app_ota`, and
    /// `app_ota` can hold more than its record sector.
    pub fn from_table(table: &PartitionTableRepr) -> Result<Slots, OtaError> {
        let region = |name: &'static str| {
            table
                .find(name)
                .map(|p| Region {
                    offset: p.offset,
                    size: p.size,
                })
                .ok_or(OtaError::NoPartition(name))
        };
        let slots = Slots {
            app: region(ptable::APP)?,
            app_ota: region(ptable::APP_OTA)?,
        };
        if slots.app_ota.size <= RECORD_SECTOR {
            return Err(OtaError::NoPartition(ptable::APP_OTA));
        }
        Ok(slots)
    }

    /// The most bytes an OTA file may have: `app_ota` without its record sector.
    pub fn file_capacity(&self) -> u32 {
        self.app_ota.size - RECORD_SECTOR
    }

    /// Flash offset of the update record.
    pub fn record_offset(&self) -> u32 {
        self.app_ota.offset + self.file_capacity()
    }
}

/// The sector at the end of `app_ota` that holds the update record.
pub const RECORD_SECTOR: u32 = ptable::SECTOR_SIZE;

/// The xz decoder's memory, lent by the caller for one check or install (about 49 KB: a
/// 32 KiB dictionary and the LZMA probabilities), so that nothing in here allocates. After
/// its dry run, [`pal::close_file`] may use the dictionary as a buffer for two flash sectors.
pub struct Workspace<'w> {
    /// At least [`xz::DICT_SIZE_MAX`] bytes.
    pub dict: &'w mut [u8],
    /// At least [`xz::PROBS_LEN`] entries.
    pub probs: &'w mut [u16],
}

/// The signature check of a whole OTA file: the platform layer feeds it every byte of the file,
/// in order, then hands it the signature from the job document.
pub trait ImageSignature {
    /// Adds the next bytes of the file.
    fn update(&mut self, data: &[u8]);
    /// Checks `signature` over everything added.
    fn verify(self, signature: &[u8]) -> Result<(), SignatureFailure>;
}

/// Why a signature check failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureFailure {
    /// The firmware holds no code-signing certificate, so nothing can be trusted.
    NoCertificate,
    /// The code-signing certificate does not parse (mbedTLS code).
    BadCertificate(i32),
    /// The signature does not match the file (mbedTLS code).
    Mismatch(i32),
}

impl fmt::Display for SignatureFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            SignatureFailure::NoCertificate => write!(f, "no code-signing certificate"),
            SignatureFailure::BadCertificate(code) => {
                write!(
                    f,
                    "code-signing certificate does not parse (-0x{:04X})",
                    -code
                )
            }
            SignatureFailure::Mismatch(code) => {
                write!(f, "signature does not verify (-0x{:04X})", -code)
            }
        }
    }
}

/// Why an OTA step failed. Every failure leaves `app` as it was, except a flash failure while
/// installing, after which the record is still staged and the next start tries again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OtaError {
    /// The partition table lacks this partition (or `app_ota` is too small for the record).
    NoPartition(&'static str),
    /// The flash refused an operation.
    Flash(FlashError),
    /// A file of `len` bytes does not fit `app_ota` (`capacity` bytes without the record).
    TooLarge { len: u32, capacity: u32 },
    /// A block at `offset` of `len` bytes reaches past the end of the file.
    BlockOutOfRange { offset: u32, len: u32 },
    /// Not all of the file's header (its first 64 bytes) arrived before it was closed.
    HeaderMissing,
    /// A block brought byte `offset` of the header different from the one that came before.
    HeaderConflict { offset: u32 },
    /// The file was created for `created` bytes, its header says `header`.
    LengthMismatch { created: u32, header: u32 },
    /// The flash at `offset` does not read back what was programmed there.
    ReadBack { offset: u32 },
    /// The file's header is invalid, or its body does not match its CRC.
    Header(image::Error),
    /// The file is not an application image.
    NotAnApp(ImageType),
    /// The image asks for something the installer cannot do.
    Unsupported(&'static str),
    /// A header address field points somewhere the update cannot go.
    BadAddress { field: &'static str, value: u32 },
    /// The signature check failed.
    Signature(SignatureFailure),
    /// The xz stream inside the file is broken.
    Xz(xz::Error),
    /// Bytes follow the xz stream that are not its 0xFF padding.
    TrailingData,
    /// The content ended before the inner image did.
    ContentTruncated,
    /// The content goes on past the inner image.
    ContentTooLong,
    /// The inner image's header is invalid or its body does not match its CRC.
    Inner(image::Error),
    /// The inner image's version differs from the file header's.
    VersionMismatch { file: Version, inner: Version },
    /// The file in `app_ota` is not the one the record staged.
    RecordMismatch,
    /// The image in `app` does not check out.
    App(image::Error),
}

impl From<FlashError> for OtaError {
    fn from(e: FlashError) -> Self {
        OtaError::Flash(e)
    }
}

impl fmt::Display for OtaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OtaError::NoPartition(name) => write!(f, "no usable {name} partition"),
            OtaError::Flash(e) => write!(f, "flash: {e}"),
            OtaError::TooLarge { len, capacity } => {
                write!(f, "file of {len} bytes exceeds app_ota ({capacity} bytes)")
            }
            OtaError::BlockOutOfRange { offset, len } => {
                write!(f, "block 0x{offset:X}+0x{len:X} is outside the file")
            }
            OtaError::HeaderMissing => write!(f, "the file's header did not arrive"),
            OtaError::HeaderConflict { offset } => {
                write!(f, "header byte {offset} arrived twice, different")
            }
            OtaError::LengthMismatch { created, header } => {
                write!(f, "file of {created} bytes, its header says {header}")
            }
            OtaError::ReadBack { offset } => {
                write!(f, "flash at 0x{offset:X} does not read back as programmed")
            }
            OtaError::Header(e) => write!(f, "file: {e}"),
            OtaError::NotAnApp(kind) => write!(f, "file is a {kind} image, not an app"),
            OtaError::Unsupported(what) => write!(f, "unsupported: {what}"),
            OtaError::BadAddress { field, value } => {
                write!(f, "file header {field} 0x{value:08X} is not app or app_ota")
            }
            OtaError::Signature(e) => write!(f, "{e}"),
            OtaError::Xz(e) => write!(f, "{e}"),
            OtaError::TrailingData => write!(f, "data after the xz stream"),
            OtaError::ContentTruncated => write!(f, "content ends inside the image"),
            OtaError::ContentTooLong => write!(f, "content longer than its image header says"),
            OtaError::Inner(e) => write!(f, "inner image: {e}"),
            OtaError::VersionMismatch { file, inner } => {
                write!(f, "file says version {file}, its image {inner}")
            }
            OtaError::RecordMismatch => write!(f, "app_ota changed since the image was staged"),
            OtaError::App(e) => write!(f, "app image: {e}"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for OtaError {}

/// Also lends its file-making helpers to the sim loader's tests.
#[cfg(test)]
pub(crate) mod tests;
