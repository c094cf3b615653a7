//! The installer: at start, puts a staged image into `app` (what the W800's bootloader does
//! with `app_ota`, docs/w800.md, "OTA apply flow", for boards that have no such bootloader),
//! or one that passed its trial (docs/robustness.md, "Rollback"); and unpacks a staged image for
//! a boot stage that runs it on trial.
//!
//! Order matters for power loss: the record stays staged until `app` has been written and read
//! back, and `app`'s header is written last, so a start that lost power half-way finds the
//! record still staged, `app_ota` intact, and does it all again.

use super::content::{self, Sink};
use super::pal::{self, program_span};
use super::record::RecordState;
use super::{OtaError, Region, Slots, Workspace};
use crate::format::crc::JamCrc;
use crate::format::image::{self, ImageHeaderRepr};
use crate::hal::Flash;

/// What the installer did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InstallOutcome {
    /// Nothing is staged.
    NothingStaged,
    /// `app` already held the staged image (put there by the chip's bootloader, or by a start
    /// that lost power before it could say so); the record now says installed.
    AlreadyInstalled(ImageHeaderRepr),
    /// The staged image was written into `app`, which checked out.
    Installed(ImageHeaderRepr),
}

/// Why the installer stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InstallError {
    pub error: OtaError,
    /// True when the record was marked rejected (the file no longer checks out, or the image
    /// did not land); false for a flash failure, after which it stays staged for the next start.
    pub rejected: bool,
}

/// Installs the image the record says is to be installed, if any: a staged one (installed
/// first, then tested: the record goes on to installed) or one whose trial the cloud accepted
/// (the record goes on to committed). `progress` hears (bytes written, body length) every
/// 64 KiB.
pub fn install_staged<F: Flash + ?Sized>(
    flash: &mut F,
    slots: &Slots,
    workspace: &mut Workspace<'_>,
    progress: &mut dyn FnMut(u32, u32),
) -> Result<InstallOutcome, InstallError> {
    let kept = |error| InstallError {
        error,
        rejected: false,
    };
    let Some(record) = pal::record(flash, slots).map_err(kept)? else {
        return Ok(InstallOutcome::NothingStaged);
    };
    let (done, refused) = match record.state {
        RecordState::Staged => (RecordState::Installed, Some(RecordState::Rejected)),
        // The image ran and the cloud has its SUCCEEDED: there is no going back to the
        // previous one, so a file that no longer checks out is tried again at the next start.
        RecordState::Accepted => (RecordState::Committed, None),
        _ => return Ok(InstallOutcome::NothingStaged),
    };
    match install(flash, slots, &record, workspace, progress) {
        Ok(outcome) => {
            pal::mark(flash, slots, done).map_err(kept)?;
            Ok(outcome)
        }
        Err(error @ OtaError::Flash(_)) => Err(kept(error)),
        Err(error) => match refused {
            Some(refused) => {
                pal::mark(flash, slots, refused).map_err(kept)?;
                Err(InstallError {
                    error,
                    rejected: true,
                })
            }
            None => Err(kept(error)),
        },
    }
}

/// Unpacks the staged image into `sink` (its header, then its body), after checking the file
/// against the record and its CRC, for a boot stage that runs it on trial. Leaves the record
/// as it is.
pub fn unpack_staged<F: Flash + ?Sized>(
    flash: &mut F,
    slots: &Slots,
    workspace: &mut Workspace<'_>,
    sink: &mut impl Sink<F>,
) -> Result<ImageHeaderRepr, OtaError> {
    match pal::record(flash, slots)? {
        Some(record) if record.state == RecordState::Staged => {
            let file = checked_file(flash, slots, &record)?;
            content::walk(flash, slots, &file, workspace, sink)
        }
        _ => Err(OtaError::RecordMismatch),
    }
}

/// The file in `app_ota`, when it is the one `record` describes and its body matches its CRC
/// (read again: the flash may have changed since the file was staged).
fn checked_file<F: Flash + ?Sized>(
    flash: &mut F,
    slots: &Slots,
    record: &super::record::RecordRepr,
) -> Result<content::FileHeader, OtaError> {
    let file = content::file_header(flash, slots)?;
    let same_file = content::file_len(file.repr(), slots)? == record.file_len
        && file.repr().org_checksum == record.org_checksum
        && pal::header_checksum(file.repr()) == record.hd_checksum;
    if !same_file {
        return Err(OtaError::RecordMismatch);
    }
    content::check_file(flash, slots, &file, |_| {})?;
    Ok(file)
}

fn install<F: Flash + ?Sized>(
    flash: &mut F,
    slots: &Slots,
    record: &super::record::RecordRepr,
    workspace: &mut Workspace<'_>,
    progress: &mut dyn FnMut(u32, u32),
) -> Result<InstallOutcome, OtaError> {
    let file = checked_file(flash, slots, record)?;
    let inner = content::inner_header(flash, slots, &file, workspace)?;
    // The body's CRC is read only when the header already matches.
    let app = content::header_at(flash, slots.app.offset, OtaError::App);
    if app.is_ok_and(|app| app == inner) && check_app(flash, slots).is_ok() {
        return Ok(InstallOutcome::AlreadyInstalled(inner));
    }

    let mut writer = AppWriter {
        app: slots.app,
        sector: flash.geometry().sector_size,
        erased_until: slots.app.offset,
        total: 0,
        reported: 0,
        progress,
    };
    let inner = content::walk(flash, slots, &file, workspace, &mut writer)?;
    program_span(flash, slots.app.offset, &inner.to_bytes())?;
    let installed = check_app(flash, slots)?;
    if installed != inner {
        return Err(OtaError::App(image::Error::HeaderChecksum {
            stored: pal::header_checksum(&inner),
            computed: pal::header_checksum(&installed),
        }));
    }
    Ok(InstallOutcome::Installed(inner))
}

/// Checks the image in `app`: its header, and its body against `org_checksum`.
pub fn check_app<F: Flash + ?Sized>(
    flash: &mut F,
    slots: &Slots,
) -> Result<ImageHeaderRepr, OtaError> {
    let header = content::header_at(flash, slots.app.offset, OtaError::App)?;
    let body_start = slots.app.offset + image::HEADER_AREA;
    let fits = header
        .img_len
        .checked_add(image::HEADER_AREA)
        .is_some_and(|len| len <= slots.app.size);
    if !fits {
        return Err(OtaError::TooLarge {
            len: header.img_len,
            capacity: slots.app.size.saturating_sub(image::HEADER_AREA),
        });
    }
    let mut crc = JamCrc::new();
    content::read_span(
        flash,
        body_start,
        body_start + header.img_len,
        |_, chunk| crc.update(chunk),
    )?;
    content::body_checksum(&header, &crc).map_err(OtaError::App)?;
    Ok(header)
}

/// Writes the image into `app`: the first sector is erased before anything else (the old
/// header goes first), the others as the body reaches them; the header itself is written by
/// the caller once the body is complete.
struct AppWriter<'p> {
    app: Region,
    sector: u32,
    /// Flash offset up to which `app` is erased.
    erased_until: u32,
    /// The body's length, from the header.
    total: u32,
    /// Body bytes written at the last progress report.
    reported: u32,
    progress: &'p mut dyn FnMut(u32, u32),
}

/// Body bytes between progress reports.
const PROGRESS_STEP: u32 = 64 * 1024;

impl<F: Flash + ?Sized> Sink<F> for AppWriter<'_> {
    fn header(&mut self, flash: &mut F, header: &ImageHeaderRepr) -> Result<(), OtaError> {
        flash.erase_sector(self.app.offset)?;
        self.erased_until = self.app.offset + self.sector;
        self.total = header.img_len;
        Ok(())
    }

    fn body(&mut self, flash: &mut F, offset: u32, data: &[u8]) -> Result<(), OtaError> {
        let at = self.app.offset + image::HEADER_AREA + offset;
        let end = at + data.len() as u32;
        while self.erased_until < end {
            flash.erase_sector(self.erased_until)?;
            self.erased_until += self.sector;
        }
        program_span(flash, at, data)?;
        let written = offset + data.len() as u32;
        if written - self.reported >= PROGRESS_STEP || written == self.total {
            self.reported = written;
            (self.progress)(written, self.total);
        }
        Ok(())
    }
}
