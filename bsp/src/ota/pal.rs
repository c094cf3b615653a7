//! The OTA platform layer: receiving a file into `app_ota` and staging it for the installer,
//! in the shape of the AWS OTA library's PAL (`CreateFileForRx`, `WriteBlock`, `CloseFile`,
//! `Abort`; docs/aws-ota.md, "PAL interface"). Unlike the vendor's PAL (docs/w800.md,
//! "Vendor OTA ops and AWS PAL") it honours block offsets and checks the signature, and
//! nothing is staged that would not install.
//!
//! The file's vendor header is the last of it to reach `app_ota`. On the W800 the bootloader,
//! not our record, decides what it installs: whatever `app_ota` starts with, if that header and
//! the body CRC are valid. So [`write_block`] keeps the file's first 64 bytes aside,
//! [`close_file`] checks the file with that copy and programs it at the start of `app_ota`
//! only once everything passed, and a file that is refused or aborted leaves the start of
//! `app_ota` erased or zeroed: never a valid header.
//!
//! The header is kept in the [`IncomingFile`] (64 bytes of RAM), which the checks read, and
//! from the moment all its bytes have arrived also in the record sector ([`KeptHeader`]),
//! which [`create_file`] erases along with the record. That copy lets a file whose header is
//! not at the start of `app_ota` be opened again ([`open_file`]): a download that a restart
//! cut short needs only the blocks it lacks, even if block 0 came before the restart, and a
//! file refused for its signature can still be staged with the right one.

use super::content::{self, Discard, FileHeader};
use super::journal::{
    DownloadIdentity, Progress, Verdict, IDENTITY_LEN, IDENTITY_OFFSET, PROGRESS_LEN,
    PROGRESS_OFFSET, VERDICT_LEN, VERDICT_OFFSET,
};
use super::record::{
    KeptHeader, RecordRepr, RecordState, KEPT_HEADER_LEN, KEPT_HEADER_OFFSET, RECORD_LEN,
    STATE_OFFSET,
};
use super::{ImageSignature, OtaError, Slots, Workspace};
use crate::format::crc::JamCrc;
use crate::format::image::{ImageHeader, ImageHeaderRepr, Version, HEADER_LEN};
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

/// A file being received into `app_ota`, from [`create_file`] or [`open_file`] to
/// [`close_file`]. It holds the file's header while the start of `app_ota` must not.
#[derive(Debug, PartialEq, Eq)]
pub struct IncomingFile {
    /// Header plus body, as the file was created.
    len: u32,
    /// The file's first bytes, as far as they arrived.
    header: [u8; HEADER_LEN],
    /// Bit `i` set: `header[i]` has arrived.
    arrived: u64,
    /// The file's first `prefix` bytes have all arrived (blocks in order extend it).
    prefix: u32,
    /// The JAMCRC register over the body bytes of the prefix (from [`HEADER_LEN`]).
    prefix_crc: JamCrc,
    /// For a download with a journal ([`create_download`], [`resume_download`]): the index
    /// of the next progress entry.
    journal: Option<u32>,
}

/// [`IncomingFile::arrived`] with every header byte there.
const HEADER_COMPLETE: u64 = u64::MAX >> (64 - HEADER_LEN);
const _: () = assert!(HEADER_LEN <= 64, "one bit of `arrived` per header byte");

/// Bytes of the header's magic word, its first field: programmed last when the header is
/// placed and cleared first when it is destroyed. An erased or partly programmed magic is
/// never the magic, so the header is valid exactly while all of it is there.
const MAGIC_LEN: usize = 4;

impl IncomingFile {
    /// Header plus body, as the file was created.
    pub fn file_len(&self) -> u32 {
        self.len
    }

    /// The file's header, once all its bytes have arrived.
    pub fn header(&self) -> Option<&[u8; HEADER_LEN]> {
        (self.arrived == HEADER_COMPLETE).then_some(&self.header)
    }

    /// How many bytes of the file, from its start, are in flash without a gap: where a
    /// resumed download goes on.
    pub fn prefix(&self) -> u32 {
        self.prefix
    }

    fn new(len: u32, header: [u8; HEADER_LEN], arrived: u64) -> IncomingFile {
        IncomingFile {
            len,
            header,
            arrived,
            prefix: 0,
            prefix_crc: JamCrc::new(),
            journal: None,
        }
    }

    /// Takes the header bytes of a block that starts at `offset` (below [`HEADER_LEN`]). A
    /// byte that arrived before must come again the same: the flash would not take a
    /// different one either.
    fn take_header_bytes(&mut self, offset: u32, bytes: &[u8]) -> Result<(), OtaError> {
        let start = offset as usize;
        for (at, byte) in (start..).zip(bytes) {
            let known = self.arrived.checked_shr(at as u32).unwrap_or(0) & 1 != 0;
            if known && self.header.get(at) != Some(byte) {
                return Err(OtaError::HeaderConflict { offset: at as u32 });
            }
        }
        for (at, byte) in (start..).zip(bytes) {
            if let Some(slot) = self.header.get_mut(at) {
                *slot = *byte;
                self.arrived |= 1 << at;
            }
        }
        Ok(())
    }
}

/// Makes room for a file of `file_len` bytes: first the record sector is erased (so that no
/// image is staged and no header kept while `app_ota` changes), then every sector the file
/// will occupy, the first always, so that `app_ota` no longer starts with a header.
pub fn create_file<F: Flash + ?Sized>(
    flash: &mut F,
    slots: &Slots,
    file_len: u32,
) -> Result<IncomingFile, OtaError> {
    let capacity = slots.file_capacity();
    if file_len > capacity {
        return Err(OtaError::TooLarge {
            len: file_len,
            capacity,
        });
    }
    erase_record_sector(flash, slots)?;
    let sector = flash.geometry().sector_size;
    let end = slots.app_ota.offset + file_len.max(HEADER_LEN as u32);
    let mut at = slots.app_ota.offset;
    while at < end {
        flash.erase_sector(at)?;
        at += sector;
    }
    Ok(IncomingFile::new(file_len, [0xFF; HEADER_LEN], 0))
}

/// [`create_file`] for a download that a restart may cut short: the record sector also gets
/// the file's [`DownloadIdentity`] (before any block), and [`write_block`] then adds a
/// progress entry each time the blocks received in order reach a sector boundary, so that
/// [`resume_download`] can go on from there (see [`super::journal`]).
pub fn create_download<F: Flash + ?Sized>(
    flash: &mut F,
    slots: &Slots,
    identity: &DownloadIdentity,
) -> Result<IncomingFile, OtaError> {
    let mut file = create_file(flash, slots, identity.file_len)?;
    flash.program(
        slots.record_offset() + IDENTITY_OFFSET,
        &identity.to_bytes(),
    )?;
    file.journal = Some(0);
    Ok(file)
}

/// Gives up the download in `app_ota` because of `verdict`, keeping the verdict until
/// [`abort_file`] (once the cloud has it): the header at the start is destroyed at once, so
/// nothing installs the file, and the journal (if the file has one) gets the verdict, so that
/// a restart before the report was accepted reports it again ([`download_verdict`]).
pub fn fail_download<F: Flash + ?Sized>(
    flash: &mut F,
    slots: &Slots,
    verdict: &Verdict,
) -> Result<(), OtaError> {
    destroy_header(flash, slots)?;
    let at = slots.record_offset() + VERDICT_OFFSET;
    let mut there = [0u8; VERDICT_LEN];
    flash.read(at, &mut there)?;
    let room = there.iter().all(|b| *b == 0xFF);
    if room && pending_download(flash, slots)?.is_some() {
        flash.program(at, &verdict.to_bytes())?;
    }
    Ok(())
}

/// The version the image in `app` replaced, when the installer put it there from the
/// download of `identity` and the record says installed (its self-test verdict has not reached
/// the cloud): a restart that came after staging, before the cloud had `self_test: ready`,
/// leaves the job with its image running, nothing to download, and this version as its
/// self-test's `updatedBy`. `app` must check out.
pub fn installed_download<F: Flash + ?Sized>(
    flash: &mut F,
    slots: &Slots,
    identity: &DownloadIdentity,
) -> Result<Option<Version>, OtaError> {
    let installed = awaits_confirmation(flash, slots)?;
    let mut raw = [0u8; IDENTITY_LEN];
    flash.read(slots.record_offset() + IDENTITY_OFFSET, &mut raw)?;
    let kept = DownloadIdentity::parse(&raw)
        .ok()
        .filter(|kept| installed && kept.same_file(identity));
    let Some(kept) = kept else {
        return Ok(None);
    };
    super::install::check_app(flash, slots)?;
    Ok(Some(kept.replaced))
}

/// The verdict [`fail_download`] kept for the download of `identity`, if any.
pub fn download_verdict<F: Flash + ?Sized>(
    flash: &mut F,
    slots: &Slots,
    identity: &DownloadIdentity,
) -> Result<Option<Verdict>, OtaError> {
    if !pending_download(flash, slots)?.is_some_and(|kept| kept.same_file(identity)) {
        return Ok(None);
    }
    verdict(flash, slots)
}

fn verdict<F: Flash + ?Sized>(flash: &mut F, slots: &Slots) -> Result<Option<Verdict>, OtaError> {
    let mut raw = [0u8; VERDICT_LEN];
    flash.read(slots.record_offset() + VERDICT_OFFSET, &mut raw)?;
    Ok(Verdict::parse(&raw).ok())
}

/// The download `app_ota` was receiving when it stopped (or that failed and whose verdict is
/// still to reach the cloud), if its journal names one and no file was staged since.
pub fn pending_download<F: Flash + ?Sized>(
    flash: &mut F,
    slots: &Slots,
) -> Result<Option<DownloadIdentity>, OtaError> {
    if record(flash, slots)?.is_some() {
        return Ok(None);
    }
    let mut raw = [0u8; IDENTITY_LEN];
    flash.read(slots.record_offset() + IDENTITY_OFFSET, &mut raw)?;
    Ok(DownloadIdentity::parse(&raw).ok())
}

/// Opens again the download of `identity` that a restart cut short, to take the blocks it
/// lacks: `None` when the journal is another file's (or none), when nothing of it can be
/// trusted, or when a file was staged since. What the last progress entry vouches for is read
/// back and must match its CRC (and the kept header must be there); every sector after it
/// that is not erased (a block torn by the power cut) is erased, so the rest can be
/// programmed. Anything that does not check out means starting over ([`create_download`]).
pub fn resume_download<F: Flash + ?Sized>(
    flash: &mut F,
    slots: &Slots,
    identity: &DownloadIdentity,
) -> Result<Option<IncomingFile>, OtaError> {
    if !pending_download(flash, slots)?.is_some_and(|kept| kept.same_file(identity))
        || identity.file_len > slots.file_capacity()
        || verdict(flash, slots)?.is_some()
    {
        return Ok(None);
    }
    let (last, next) = last_progress(flash, slots)?;
    let progress = last.unwrap_or(Progress {
        written: 0,
        body_crc: JamCrc::new().value(),
    });
    // Entries are made at sector boundaries (or at the end): what follows one can be erased.
    let aligned = progress
        .written
        .is_multiple_of(flash.geometry().sector_size);
    if progress.written > identity.file_len || !(aligned || progress.written == identity.file_len) {
        return Ok(None);
    }
    let mut file = IncomingFile::new(identity.file_len, [0xFF; HEADER_LEN], 0);
    if progress.written >= HEADER_LEN as u32 {
        let Some(header) = kept_header(flash, slots)? else {
            return Ok(None);
        };
        file.header = header;
        file.arrived = HEADER_COMPLETE;
        let body_crc = crc_of(
            flash,
            slots.app_ota.offset,
            HEADER_LEN as u32,
            progress.written,
        )?;
        if body_crc.value() != progress.body_crc {
            return Ok(None);
        }
        file.prefix_crc = body_crc;
    }
    let end = slots.app_ota.offset + identity.file_len.max(HEADER_LEN as u32);
    erase_unless_blank(flash, slots.app_ota.offset + progress.written, end)?;
    file.prefix = progress.written;
    file.journal = Some(next);
    Ok(Some(file))
}

/// The file already in `app_ota`, to be checked (and staged) by [`close_file`], or to take
/// the blocks a restart kept from it: the one whose header is at its start (a file put there
/// whole, by a loader or `flash write`, or one staged before), else the one whose header the record sector keeps (a
/// download a restart cut short, or a file refused before). Fails when neither holds a header
/// that parses.
pub fn open_file<F: Flash + ?Sized>(
    flash: &mut F,
    slots: &Slots,
) -> Result<IncomingFile, OtaError> {
    let mut at_start = [0u8; HEADER_LEN];
    flash.read(slots.app_ota.offset, &mut at_start)?;
    let (header, repr) = match ImageHeaderRepr::parse_bytes(&at_start) {
        Ok(repr) => (at_start, repr),
        Err(error) => {
            let Some(kept) = kept_header(flash, slots)? else {
                return Err(OtaError::Header(error));
            };
            let repr = ImageHeaderRepr::parse_bytes(&kept).map_err(OtaError::Header)?;
            (kept, repr)
        }
    };
    Ok(IncomingFile::new(
        repr.img_len.saturating_add(HEADER_LEN as u32),
        header,
        HEADER_COMPLETE,
    ))
}

/// Takes `data` at `offset` of the file: the bytes below [`HEADER_LEN`] into `file` (and, once
/// the header is complete, into the record sector), the rest programmed into room
/// [`create_file`] erased. Blocks may come in any order; a block may come again with the same
/// bytes. The start of `app_ota` is never written here.
pub fn write_block<F: Flash + ?Sized>(
    flash: &mut F,
    slots: &Slots,
    file: &mut IncomingFile,
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
    if end > file.len.min(slots.file_capacity()) {
        return Err(out_of_range);
    }
    let header_end = HEADER_LEN as u32;
    let body_from = offset.max(header_end).min(end);
    let (header_part, body_part) = data
        .split_at_checked((body_from - offset) as usize)
        .ok_or(out_of_range)?;
    if !header_part.is_empty() {
        file.take_header_bytes(offset, header_part)?;
    }
    program_span(flash, slots.app_ota.offset + body_from, body_part)?;
    if let Some(header) = file.header().filter(|_| !header_part.is_empty()) {
        keep_header(flash, slots, header)?;
    }
    if file.journal.is_some() && offset <= file.prefix && file.prefix < end {
        extend_prefix(flash, slots, file, offset, data, end)?;
    }
    Ok(())
}

/// Adds the bytes of a block that reaches past the file's prefix to it, and journals the new
/// prefix when it ends on a sector boundary of `app_ota` or at the file's end (after the
/// block's program: an entry only ever vouches for bytes already in flash).
fn extend_prefix<F: Flash + ?Sized>(
    flash: &mut F,
    slots: &Slots,
    file: &mut IncomingFile,
    offset: u32,
    data: &[u8],
    end: u32,
) -> Result<(), OtaError> {
    let from = file.prefix.max(HEADER_LEN as u32).min(end);
    if let Some(new) = data.get((from - offset) as usize..) {
        file.prefix_crc.update(new);
    }
    file.prefix = end;
    let sector = flash.geometry().sector_size;
    let due = end.is_multiple_of(sector) || end == file.len;
    let Some(index) = file.journal.filter(|_| due && file.header().is_some()) else {
        return Ok(());
    };
    // A full journal keeps its last entry: a resume then starts from there.
    if let Some(at) = progress_slot(flash, slots, index) {
        let entry = Progress {
            written: end,
            body_crc: file.prefix_crc.value(),
        };
        flash.program(at, &entry.to_bytes())?;
        file.journal = Some(index + 1);
    }
    Ok(())
}

/// The flash offset of progress entry `index`, if the record sector has room for it.
fn progress_slot<F: Flash + ?Sized>(flash: &F, slots: &Slots, index: u32) -> Option<u32> {
    let sector = flash.geometry().sector_size;
    let at = PROGRESS_OFFSET.checked_add(index.checked_mul(PROGRESS_LEN as u32)?)?;
    (at + PROGRESS_LEN as u32 <= sector).then_some(slots.record_offset() + at)
}

/// The last valid progress entry and the index after the last programmed one (a torn entry
/// is skipped, never programmed over).
fn last_progress<F: Flash + ?Sized>(
    flash: &mut F,
    slots: &Slots,
) -> Result<(Option<Progress>, u32), OtaError> {
    let mut last = None;
    let mut next = 0;
    let mut index = 0;
    while let Some(at) = progress_slot(flash, slots, index) {
        let mut raw = [0u8; PROGRESS_LEN];
        flash.read(at, &mut raw)?;
        index += 1;
        if raw.iter().all(|b| *b == 0xFF) {
            continue;
        }
        next = index;
        if let Ok(entry) = Progress::parse(&raw) {
            last = Some(entry);
        }
    }
    Ok((last, next))
}

/// The JAMCRC of the file's bytes `from..to`, read from `app_ota` at `base`.
fn crc_of<F: Flash + ?Sized>(
    flash: &mut F,
    base: u32,
    from: u32,
    to: u32,
) -> Result<JamCrc, OtaError> {
    let mut crc = JamCrc::new();
    let mut chunk = [0u8; 256];
    let mut at = from;
    while at < to {
        let len = (to - at).min(chunk.len() as u32) as usize;
        let piece = chunk.get_mut(..len).unwrap_or_default();
        flash.read(base + at, piece)?;
        crc.update(piece);
        at += len as u32;
    }
    Ok(crc)
}

/// Erases every sector from `from` (a sector's start) up to `end` that is not blank.
fn erase_unless_blank<F: Flash + ?Sized>(
    flash: &mut F,
    from: u32,
    end: u32,
) -> Result<(), OtaError> {
    let sector = flash.geometry().sector_size;
    let mut chunk = [0u8; 256];
    let mut at = from;
    while at < end {
        let mut blank = true;
        let mut offset = 0;
        while blank && offset < sector {
            let len = (sector - offset).min(chunk.len() as u32) as usize;
            let piece = chunk.get_mut(..len).unwrap_or_default();
            flash.read(at + offset, piece)?;
            blank = piece.iter().all(|b| *b == 0xFF);
            offset += len as u32;
        }
        if !blank {
            flash.erase_sector(at)?;
        }
        at += sector;
    }
    Ok(())
}

/// Checks the file and stages it: its header (from `file`, not from `app_ota`) against the
/// vendor's rules and the length it was created with, the body CRC, `signature` over the whole
/// file through `check`, then the content decoded to its end (nothing written). Only a file
/// that passes all of them gets its header programmed at the start of `app_ota` (its magic
/// last), then a staged record.
///
/// A file that fails leaves no valid vendor header at the start of `app_ota` (erased, or
/// programmed to zeros, the magic first), so nothing installs it: not the W800's bootloader,
/// and not our installer, which finds no header to match a record with. Its header stays kept
/// in the record sector, so that [`open_file`] can offer it again. If the flash fails while
/// the header is destroyed, that flash error is returned in place of the refusal.
pub fn close_file<F: Flash + ?Sized>(
    flash: &mut F,
    slots: &Slots,
    file: IncomingFile,
    signature: &[u8],
    check: impl ImageSignature,
    workspace: &mut Workspace<'_>,
) -> Result<StagedImage, OtaError> {
    let staged = check_and_stage(flash, slots, &file, signature, check, workspace);
    if staged.is_err() {
        destroy_header(flash, slots)?;
    }
    staged
}

fn check_and_stage<F: Flash + ?Sized>(
    flash: &mut F,
    slots: &Slots,
    file: &IncomingFile,
    signature: &[u8],
    mut check: impl ImageSignature,
    workspace: &mut Workspace<'_>,
) -> Result<StagedImage, OtaError> {
    let bytes = file.header().ok_or(OtaError::HeaderMissing)?;
    let header = FileHeader::parse(bytes, slots)?;
    let file_len = content::file_len(header.repr(), slots)?;
    if file_len != file.len {
        return Err(OtaError::LengthMismatch {
            created: file.len,
            header: file_len,
        });
    }
    keep_header(flash, slots, bytes)?;
    content::check_file(flash, slots, &header, |bytes| check.update(bytes))?;
    check.verify(signature).map_err(OtaError::Signature)?;
    let inner = content::walk(flash, slots, &header, workspace, &mut Discard)?;
    place_header(flash, slots, bytes, workspace)?;
    let record = RecordRepr {
        file_len,
        org_checksum: header.repr().org_checksum,
        hd_checksum: header_checksum(header.repr()),
        state: RecordState::Staged,
    };
    flash.program(slots.record_offset(), &record.to_bytes())?;
    Ok(StagedImage {
        file: *header.repr(),
        inner,
        file_len,
    })
}

/// Gives up the file in `app_ota`: its header at the start is destroyed (programmed to zeros,
/// the magic first), then the record sector erased (no record, no kept header). Afterwards
/// nothing installs it and [`open_file`] finds nothing; the body left behind is inert without
/// its header, and the next [`create_file`] erases it. Needs no [`IncomingFile`], so that a
/// download can also be given up after a restart or a refused close; the caller drops the one
/// it holds.
pub fn abort_file<F: Flash + ?Sized>(flash: &mut F, slots: &Slots) -> Result<(), OtaError> {
    destroy_header(flash, slots)?;
    erase_record_sector(flash, slots)
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

/// Whether the running image came from `app_ota` and its self-test verdict has not reached
/// the cloud: the record says installed or committed (the image runs from `app`), or on trial
/// (it runs from `app_ota`, and `app` keeps the previous one).
pub fn awaits_confirmation<F: Flash + ?Sized>(
    flash: &mut F,
    slots: &Slots,
) -> Result<bool, OtaError> {
    Ok(matches!(
        record(flash, slots)?,
        Some(record) if matches!(
            record.state,
            RecordState::Installed | RecordState::Trial | RecordState::Committed
        )
    ))
}

/// The version of the image that `app_ota` holds and that did not become the running one: the
/// installer refused it, or its trial ended without `SUCCEEDED` and `app` kept the previous
/// image. Its job is still to be reported `FAILED`.
pub fn rolled_back<F: Flash + ?Sized>(
    flash: &mut F,
    slots: &Slots,
) -> Result<Option<Version>, OtaError> {
    let refused = matches!(
        record(flash, slots)?,
        Some(record) if matches!(record.state, RecordState::Rejected | RecordState::RolledBack)
    );
    if !refused {
        return Ok(None);
    }
    // The header at the start of `app_ota` is the file's (the record sector keeps a copy).
    let version = match kept_header(flash, slots)? {
        Some(bytes) => {
            ImageHeaderRepr::parse_bytes(&bytes)
                .map_err(OtaError::Header)?
                .version
        }
        None => content::file_header(flash, slots)?.repr().version,
    };
    Ok(Some(version))
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

/// Moves the record from `from` on to `to`, only if it is in `from` now: of two parties that
/// race to end a trial (its verdict and its deadline), one wins. Returns whether it moved.
pub fn advance<F: Flash + ?Sized>(
    flash: &mut F,
    slots: &Slots,
    from: RecordState,
    to: RecordState,
) -> Result<bool, OtaError> {
    if !from.leads_to(to) {
        return Err(OtaError::Unsupported("a record state step that is none"));
    }
    match record(flash, slots)? {
        Some(record) if record.state == from => {
            mark(flash, slots, to)?;
            Ok(true)
        }
        _ => Ok(false),
    }
}

/// The `hd_checksum` a header carries (the repr recomputes rather than stores it).
pub fn header_checksum(header: &ImageHeaderRepr) -> u32 {
    ImageHeader::new_unchecked(&header.to_bytes()[..]).hd_checksum()
}

/// The header the record sector keeps, if it holds a valid one.
fn kept_header<F: Flash + ?Sized>(
    flash: &mut F,
    slots: &Slots,
) -> Result<Option<[u8; HEADER_LEN]>, OtaError> {
    let mut raw = [0u8; KEPT_HEADER_LEN];
    flash.read(slots.record_offset() + KEPT_HEADER_OFFSET, &mut raw)?;
    Ok(KeptHeader::parse(&raw).ok().map(|kept| kept.0))
}

/// Makes the record sector keep `header` and hold no record, erasing it only when it holds
/// anything else: a record (`app_ota` is about to change, or be checked again) or another
/// header.
fn keep_header<F: Flash + ?Sized>(
    flash: &mut F,
    slots: &Slots,
    header: &[u8; HEADER_LEN],
) -> Result<(), OtaError> {
    let mut record = [0u8; RECORD_LEN];
    flash.read(slots.record_offset(), &mut record)?;
    let mut kept = [0u8; KEPT_HEADER_LEN];
    flash.read(slots.record_offset() + KEPT_HEADER_OFFSET, &mut kept)?;
    let no_record = record.iter().all(|b| *b == 0xFF);
    let kept_erased = kept.iter().all(|b| *b == 0xFF);
    if no_record && KeptHeader::parse(&kept) == Ok(KeptHeader(*header)) {
        return Ok(());
    }
    if !(no_record && kept_erased) {
        erase_record_sector(flash, slots)?;
    }
    flash.program(
        slots.record_offset() + KEPT_HEADER_OFFSET,
        &KeptHeader(*header).to_bytes(),
    )?;
    Ok(())
}

/// Programs `header` at the start of `app_ota`, the magic last, and reads it back. The start is
/// erased when the file was received here; when it holds anything else (a header destroyed by
/// an earlier refusal), its sector is rewritten first, with `workspace`'s dictionary as the
/// buffer for the body bytes that share it.
fn place_header<F: Flash + ?Sized>(
    flash: &mut F,
    slots: &Slots,
    header: &[u8; HEADER_LEN],
    workspace: &mut Workspace<'_>,
) -> Result<(), OtaError> {
    let start = slots.app_ota.offset;
    let mut there = [0u8; HEADER_LEN];
    flash.read(start, &mut there)?;
    if there == *header {
        return Ok(());
    }
    if there.iter().any(|b| *b != 0xFF) {
        erase_header_area(flash, start, workspace.dict)?;
    }
    let (magic, rest) = header.split_at(MAGIC_LEN);
    program_span(flash, start + MAGIC_LEN as u32, rest)?;
    flash.program(start, magic)?;
    flash.read(start, &mut there)?;
    if there != *header {
        return Err(OtaError::ReadBack { offset: start });
    }
    Ok(())
}

/// Erases the [`HEADER_LEN`] bytes at `start` (a sector's start) and keeps the rest of the
/// sector: it is read into `scratch`, the sector erased, the rest programmed back and read back.
/// Power lost after the erase loses those body bytes, so the file then fails its CRC; it is
/// never staged half-written.
fn erase_header_area<F: Flash + ?Sized>(
    flash: &mut F,
    start: u32,
    scratch: &mut [u8],
) -> Result<(), OtaError> {
    let sector = flash.geometry().sector_size as usize;
    let (kept, read_back) = scratch
        .get_mut(..sector.saturating_mul(2))
        .ok_or(OtaError::Unsupported(
            "flash sectors larger than half the xz dictionary",
        ))?
        .split_at_mut(sector);
    flash.read(start, kept)?;
    kept.get_mut(..HEADER_LEN).unwrap_or_default().fill(0xFF);
    flash.erase_sector(start)?;
    let body = kept.get(HEADER_LEN..).unwrap_or_default();
    program_span(flash, start + HEADER_LEN as u32, body)?;
    flash.read(start, read_back)?;
    if let Some(at) = read_back.iter().zip(kept.iter()).position(|(r, k)| r != k) {
        return Err(OtaError::ReadBack {
            offset: start + at as u32,
        });
    }
    Ok(())
}

/// Leaves no valid vendor header at the start of `app_ota` and keeps the body: an erased start
/// is none and stays erased (the header can still be programmed there); anything else is
/// programmed to zeros, the magic first. NOR programming only clears bits, so this needs no
/// erase (which would take the body bytes of the sector with it) and works over any content.
fn destroy_header<F: Flash + ?Sized>(flash: &mut F, slots: &Slots) -> Result<(), OtaError> {
    let start = slots.app_ota.offset;
    let mut there = [0u8; HEADER_LEN];
    flash.read(start, &mut there)?;
    if there.iter().all(|b| *b == 0xFF) || there.iter().all(|b| *b == 0) {
        return Ok(());
    }
    flash.program(start, &[0; MAGIC_LEN])?;
    program_span(
        flash,
        start + MAGIC_LEN as u32,
        &[0; HEADER_LEN - MAGIC_LEN],
    )
}

fn erase_record_sector<F: Flash + ?Sized>(flash: &mut F, slots: &Slots) -> Result<(), OtaError> {
    let sector = flash.geometry().sector_size;
    flash.erase_sector(slots.record_offset() / sector * sector)?;
    Ok(())
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
