//! The OTA platform layer: receiving a file into `app_ota` and staging it for the installer,
//! in the shape of the AWS OTA library's PAL (`CreateFileForRx`, `WriteBlock`, `CloseFile`;
//! aws-ota-anchors.md). Unlike the vendor's PAL (w800-platform.md section 4.2) it honours
//! block offsets and checks the signature, and nothing is staged that would not install.

use super::content::{self, Discard};
use super::record::{RecordRepr, RecordState, RECORD_LEN, STATE_OFFSET};
use super::{ImageSignature, OtaError, Slots, Workspace};
use crate::format::image::{ImageHeader, ImageHeaderRepr};
use crate::hal::Flash;

/// A staged image, as [`close_file`] found it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StagedImage {
    /// The file's header.
    pub file: ImageHeaderRepr,
    /// The header of the image inside it, which goes to `app`.
    pub inner: ImageHeaderRepr,
    /// Header plus body of the file.
    pub file_len: u32,
}

/// Makes room for a file of `file_len` bytes: first the record is erased (so that no image is
/// staged while `app_ota` changes), then every sector the file will occupy.
pub fn create_file<F: Flash + ?Sized>(
    flash: &mut F,
    slots: &Slots,
    file_len: u32,
) -> Result<(), OtaError> {
    let capacity = slots.file_capacity();
    if file_len > capacity {
        return Err(OtaError::TooLarge {
            len: file_len,
            capacity,
        });
    }
    let sector = flash.geometry().sector_size;
    flash.erase_sector(slots.record_offset() / sector * sector)?;
    let mut at = slots.app_ota.offset;
    while at < slots.app_ota.offset + file_len {
        flash.erase_sector(at)?;
        at += sector;
    }
    Ok(())
}

/// Programs `data` at `offset` of the file, into room [`create_file`] erased. Blocks may come
/// in any order; programming a block again with the same bytes is harmless.
pub fn write_block<F: Flash + ?Sized>(
    flash: &mut F,
    slots: &Slots,
    offset: u32,
    data: &[u8],
) -> Result<(), OtaError> {
    let out_of_range = OtaError::BlockOutOfRange {
        offset,
        len: data.len() as u32,
    };
    let end = u32::try_from(data.len())
        .ok()
        .and_then(|len| offset.checked_add(len))
        .ok_or(out_of_range)?;
    if end > slots.file_capacity() {
        return Err(out_of_range);
    }
    program_span(flash, slots.app_ota.offset + offset, data)
}

/// Checks the file in `app_ota` and stages it: header rules, body CRC, `signature` over the
/// whole file through `check`, then the content decoded to its end (nothing written). Only a
/// file that passes all of them gets a staged record.
pub fn close_file<F: Flash + ?Sized>(
    flash: &mut F,
    slots: &Slots,
    signature: &[u8],
    mut check: impl ImageSignature,
    workspace: &mut Workspace<'_>,
) -> Result<StagedImage, OtaError> {
    let file = content::file_header(flash, slots)?;
    content::check_file(flash, slots, &file, |bytes| check.update(bytes))?;
    check.verify(signature).map_err(OtaError::Signature)?;
    let inner = content::walk(flash, slots, &file, workspace, &mut Discard)?;
    let file_len = content::file_len(&file, slots)?;
    let record = RecordRepr {
        file_len,
        org_checksum: file.org_checksum,
        hd_checksum: header_checksum(&file),
        state: RecordState::Staged,
    };
    let sector = flash.geometry().sector_size;
    flash.erase_sector(slots.record_offset() / sector * sector)?;
    flash.program(slots.record_offset(), &record.to_bytes())?;
    Ok(StagedImage {
        file,
        inner,
        file_len,
    })
}

/// The update record, if `app_ota` holds a valid one (a torn or erased one is none).
pub fn record<F: Flash + ?Sized>(
    flash: &mut F,
    slots: &Slots,
) -> Result<Option<RecordRepr>, OtaError> {
    let mut raw = [0u8; RECORD_LEN];
    flash.read(slots.record_offset(), &mut raw)?;
    Ok(RecordRepr::parse(&raw).ok())
}

/// Moves the record on to `state` with one program of its state word.
pub fn mark<F: Flash + ?Sized>(
    flash: &mut F,
    slots: &Slots,
    state: RecordState,
) -> Result<(), OtaError> {
    flash.program(
        slots.record_offset() + STATE_OFFSET,
        &state.word().to_le_bytes(),
    )?;
    Ok(())
}

/// The `hd_checksum` a header carries (the repr recomputes rather than stores it).
pub fn header_checksum(header: &ImageHeaderRepr) -> u32 {
    ImageHeader::new_unchecked(&header.to_bytes()[..]).hd_checksum()
}

/// Programs `data` at `offset`, one page piece at a time.
pub(crate) fn program_span<F: Flash + ?Sized>(
    flash: &mut F,
    offset: u32,
    data: &[u8],
) -> Result<(), OtaError> {
    let page = flash.geometry().page_size;
    let mut at = offset;
    let mut rest = data;
    while !rest.is_empty() {
        let room = (page - at % page) as usize;
        let (piece, after) = rest.split_at(room.min(rest.len()));
        flash.program(at, piece)?;
        at += piece.len() as u32;
        rest = after;
    }
    Ok(())
}
