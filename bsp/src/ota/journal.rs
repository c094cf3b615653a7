//! The download journal: what lets a download that a restart or a power cut stopped go on
//! where it stopped, instead of from the first byte. It lives in the record sector of
//! `app_ota` (see [`super::record`]) after the record and the kept header, so the same erase
//! that starts a new file (`create_file`) or gives one up (`abort_file`) clears it: the
//! journal always describes the file `app_ota` receives, never an older one.
//!
//! Two kinds of entries, each programmed once into erased flash and each with its own JAMCRC,
//! so that a program torn by power loss reads as "no entry", never as a wrong one:
//!
//! * the **download identity**, at [`IDENTITY_OFFSET`] (a page of its own): which job's file
//!   this is (the AWS IoT Jobs `jobId` and `executionNumber`), its length, and the version
//!   that ran when the download began (what the update replaces: the self-test's `updatedBy`
//!   when a restart came before the cloud had it). It is written right after the erase, before
//!   any block, so a journal never describes a file of another job;
//! * the **verdict**, at [`VERDICT_OFFSET`] (in the identity's page), once the download failed:
//!   the reason the agent reports with `FAILED`. The file is given up at once (its header
//!   destroyed, so nothing installs it) but the sector is erased only after the cloud
//!   accepted the report: a restart in between reports the same reason again instead of
//!   downloading the file again;
//! * **progress entries**, from [`PROGRESS_OFFSET`] to the end of the sector, appended in
//!   order: each says that the file's first `written` bytes are in flash (the first 64, the
//!   vendor header, in the kept header; the rest in `app_ota`) and gives the JAMCRC register
//!   of the body bytes `64..written` as they were programmed. An entry is only made at a
//!   sector boundary of `app_ota` (or at the file's end), so that everything after it can be
//!   erased sector by sector without touching what it vouches for.
//!
//! On resume the last valid progress entry is believed only after `app_ota` is read back and
//! its CRC matches: flash that changed since (a bit flip, a torn program of the next block)
//! fails the check, and the download starts over rather than stage a file that would be
//! refused at close.
//!
//! Identity entry (little-endian):
//!
//! | off | size | field |
//! | --- | --- | --- |
//! | 0x00 | 4 | magic [`IDENTITY_MAGIC`] |
//! | 0x04 | 4 | file length |
//! | 0x08 | 8 | `executionNumber` (0 when the Jobs API gave none) |
//! | 0x10 | 4 | length of the job id |
//! | 0x14 | 64 | the job id, 0xFF after its end |
//! | 0x54 | 16 | the version that ran, as an image header's `ver` field |
//! | 0x64 | 4 | JAMCRC of bytes 0x00..0x64 |
//!
//! Verdict:
//!
//! | off | size | field |
//! | --- | --- | --- |
//! | 0x00 | 4 | magic [`VERDICT_MAGIC`] |
//! | 0x04 | 4 | length of the reason |
//! | 0x08 | 128 | the reason as reported (`code: detail`), 0xFF after its end |
//! | 0x88 | 4 | JAMCRC of bytes 0x00..0x88 |
//!
//! Progress entry:
//!
//! | off | size | field |
//! | --- | --- | --- |
//! | 0x00 | 4 | magic [`PROGRESS_MAGIC`] |
//! | 0x04 | 4 | `written`: bytes of the file, from its start, that are in flash |
//! | 0x08 | 4 | JAMCRC register over the file's bytes `64..written` |
//! | 0x0C | 4 | JAMCRC of bytes 0x00..0x0C |

use crate::format::bytes::{get_array, get_u32, put_bytes, put_u32};
use crate::format::crc::jamcrc;
use crate::format::image::Version;
use core::fmt;

/// Offset of the download identity in the record sector.
pub const IDENTITY_OFFSET: u32 = 0x200;
/// Bytes the identity takes.
pub const IDENTITY_LEN: usize = 0x68;
/// The identity's magic ("W8DI").
pub const IDENTITY_MAGIC: u32 = 0x4944_3857;
/// The longest job id (the Jobs API's limit: 64 characters).
pub const JOB_ID_MAX: usize = 64;

/// Offset of the verdict in the record sector.
pub const VERDICT_OFFSET: u32 = 0x270;
/// Bytes the verdict takes.
pub const VERDICT_LEN: usize = 0x8C;
/// The verdict's magic ("W8DV").
pub const VERDICT_MAGIC: u32 = 0x5644_3857;
/// The longest reason a verdict keeps.
pub const REASON_MAX: usize = 128;

/// Offset of the first progress entry in the record sector.
pub const PROGRESS_OFFSET: u32 = 0x300;
/// Bytes a progress entry takes; entries follow each other without gaps.
pub const PROGRESS_LEN: usize = 0x10;
/// The progress entry's magic ("W8DP").
pub const PROGRESS_MAGIC: u32 = 0x5044_3857;

mod identity {
    pub const MAGIC: usize = 0x00;
    pub const FILE_LEN: usize = 0x04;
    pub const EXECUTION: usize = 0x08;
    pub const JOB_ID_LEN: usize = 0x10;
    pub const JOB_ID: usize = 0x14;
    pub const REPLACED: usize = 0x54;
    pub const CRC: usize = 0x64;
}

mod verdict {
    pub const MAGIC: usize = 0x00;
    pub const REASON_LEN: usize = 0x04;
    pub const REASON: usize = 0x08;
    pub const CRC: usize = 0x88;
}

mod progress {
    pub const MAGIC: usize = 0x00;
    pub const WRITTEN: usize = 0x04;
    pub const BODY_CRC: usize = 0x08;
    pub const CRC: usize = 0x0C;
}

/// Why bytes are not a journal entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JournalError {
    /// Fewer bytes than the entry.
    Truncated,
    /// All 0xFF: nothing was programmed there.
    Empty,
    /// The magic is wrong.
    BadMagic(u32),
    /// The CRC is wrong (a torn program).
    BadCrc,
    /// A job id longer than [`JOB_ID_MAX`], or not text.
    BadJobId,
    /// A reason longer than [`REASON_MAX`], or not text.
    BadReason,
    /// A version field that is not one.
    BadVersion,
}

impl fmt::Display for JournalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            JournalError::Truncated => write!(f, "journal entry truncated"),
            JournalError::Empty => write!(f, "no journal entry"),
            JournalError::BadMagic(magic) => write!(f, "bad journal entry magic 0x{magic:08x}"),
            JournalError::BadCrc => write!(f, "journal entry CRC mismatch"),
            JournalError::BadJobId => write!(f, "journal entry with a bad job id"),
            JournalError::BadReason => write!(f, "journal entry with a bad reason"),
            JournalError::BadVersion => write!(f, "journal entry with a bad version"),
        }
    }
}

/// Which job's file `app_ota` receives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DownloadIdentity {
    /// The job's `jobId`.
    pub job_id: heapless::String<JOB_ID_MAX>,
    /// The job execution's `executionNumber` (0 when none was given).
    pub execution: u64,
    /// The file's length, header and body.
    pub file_len: u32,
    /// The version that ran when the download began: what the update replaces.
    pub replaced: Version,
}

impl DownloadIdentity {
    /// The identity of `job_id`'s file; `None` for a job id longer than [`JOB_ID_MAX`].
    pub fn new(
        job_id: &str,
        execution: u64,
        file_len: u32,
        replaced: Version,
    ) -> Option<DownloadIdentity> {
        Some(DownloadIdentity {
            job_id: heapless::String::try_from(job_id).ok()?,
            execution,
            file_len,
            replaced,
        })
    }

    /// Whether `other` names the same file: the same job, execution and length (the version
    /// that ran is what the file replaces, not part of which file it is).
    pub fn same_file(&self, other: &DownloadIdentity) -> bool {
        self.job_id == other.job_id
            && self.execution == other.execution
            && self.file_len == other.file_len
    }

    /// Decodes the first [`IDENTITY_LEN`] bytes of `bytes`.
    pub fn parse(bytes: &[u8]) -> Result<DownloadIdentity, JournalError> {
        let bytes = bytes.get(..IDENTITY_LEN).ok_or(JournalError::Truncated)?;
        check_entry(bytes, IDENTITY_MAGIC, identity::CRC)?;
        let len = get_u32(bytes, identity::JOB_ID_LEN) as usize;
        let id_bytes: [u8; JOB_ID_MAX] = get_array(bytes, identity::JOB_ID);
        let text = text_in(&id_bytes, len).ok_or(JournalError::BadJobId)?;
        let low = get_u32(bytes, identity::EXECUTION);
        let high = get_u32(bytes, identity::EXECUTION + 4);
        let replaced = Version::from_field(get_array(bytes, identity::REPLACED))
            .map_err(|_| JournalError::BadVersion)?;
        DownloadIdentity::new(
            text,
            u64::from(high) << 32 | u64::from(low),
            get_u32(bytes, identity::FILE_LEN),
            replaced,
        )
        .ok_or(JournalError::BadJobId)
    }

    /// The entry as it is programmed.
    pub fn to_bytes(&self) -> [u8; IDENTITY_LEN] {
        let mut bytes = [0xFFu8; IDENTITY_LEN];
        put_u32(&mut bytes, identity::MAGIC, IDENTITY_MAGIC);
        put_u32(&mut bytes, identity::FILE_LEN, self.file_len);
        // The halves of a u64, low first: truncation is the point.
        put_u32(&mut bytes, identity::EXECUTION, self.execution as u32);
        put_u32(
            &mut bytes,
            identity::EXECUTION + 4,
            (self.execution >> 32) as u32,
        );
        put_u32(&mut bytes, identity::JOB_ID_LEN, self.job_id.len() as u32);
        put_bytes(&mut bytes, identity::JOB_ID, self.job_id.as_bytes());
        put_bytes(&mut bytes, identity::REPLACED, self.replaced.as_field());
        let crc = jamcrc(&bytes[..identity::CRC]);
        put_u32(&mut bytes, identity::CRC, crc);
        bytes
    }
}

/// Why the download failed, as reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// `statusDetails.reason` of the `FAILED` update.
    pub reason: heapless::String<REASON_MAX>,
}

impl Verdict {
    /// A verdict of `reason`, cut to [`REASON_MAX`] bytes at a character boundary.
    pub fn new(reason: &str) -> Verdict {
        let mut kept = heapless::String::new();
        for c in reason.chars() {
            if kept.push(c).is_err() {
                break;
            }
        }
        Verdict { reason: kept }
    }

    /// Decodes the first [`VERDICT_LEN`] bytes of `bytes`.
    pub fn parse(bytes: &[u8]) -> Result<Verdict, JournalError> {
        let bytes = bytes.get(..VERDICT_LEN).ok_or(JournalError::Truncated)?;
        check_entry(bytes, VERDICT_MAGIC, verdict::CRC)?;
        let len = get_u32(bytes, verdict::REASON_LEN) as usize;
        let text: [u8; REASON_MAX] = get_array(bytes, verdict::REASON);
        let reason = text_in(&text, len).ok_or(JournalError::BadReason)?;
        Ok(Verdict::new(reason))
    }

    /// The entry as it is programmed.
    pub fn to_bytes(&self) -> [u8; VERDICT_LEN] {
        let mut bytes = [0xFFu8; VERDICT_LEN];
        put_u32(&mut bytes, verdict::MAGIC, VERDICT_MAGIC);
        put_u32(&mut bytes, verdict::REASON_LEN, self.reason.len() as u32);
        put_bytes(&mut bytes, verdict::REASON, self.reason.as_bytes());
        let crc = jamcrc(&bytes[..verdict::CRC]);
        put_u32(&mut bytes, verdict::CRC, crc);
        bytes
    }
}

/// How far the file is in flash, as a progress entry says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Bytes of the file, from its start, in flash.
    pub written: u32,
    /// The JAMCRC register over the file's bytes from 64 (after the header) to `written`.
    pub body_crc: u32,
}

impl Progress {
    /// Decodes the first [`PROGRESS_LEN`] bytes of `bytes`.
    pub fn parse(bytes: &[u8]) -> Result<Progress, JournalError> {
        let bytes = bytes.get(..PROGRESS_LEN).ok_or(JournalError::Truncated)?;
        check_entry(bytes, PROGRESS_MAGIC, progress::CRC)?;
        Ok(Progress {
            written: get_u32(bytes, progress::WRITTEN),
            body_crc: get_u32(bytes, progress::BODY_CRC),
        })
    }

    /// The entry as it is programmed.
    pub fn to_bytes(&self) -> [u8; PROGRESS_LEN] {
        let mut bytes = [0u8; PROGRESS_LEN];
        put_u32(&mut bytes, progress::MAGIC, PROGRESS_MAGIC);
        put_u32(&mut bytes, progress::WRITTEN, self.written);
        put_u32(&mut bytes, progress::BODY_CRC, self.body_crc);
        let crc = jamcrc(&bytes[..progress::CRC]);
        put_u32(&mut bytes, progress::CRC, crc);
        bytes
    }
}

/// The first `len` bytes of `field` as text, when they are UTF-8 and the rest is erased (as
/// [`DownloadIdentity::to_bytes`] and [`Verdict::to_bytes`] leave it: one way to write each).
fn text_in(field: &[u8], len: usize) -> Option<&str> {
    let (text, rest) = field.split_at_checked(len)?;
    if rest.iter().any(|b| *b != 0xFF) {
        return None;
    }
    core::str::from_utf8(text).ok()
}

/// Checks an entry's erased state, magic and CRC (the CRC covers the bytes before it).
fn check_entry(bytes: &[u8], magic: u32, crc_at: usize) -> Result<(), JournalError> {
    if bytes.iter().all(|b| *b == 0xFF) {
        return Err(JournalError::Empty);
    }
    let found = get_u32(bytes, 0);
    if found != magic {
        return Err(JournalError::BadMagic(found));
    }
    let covered = bytes.get(..crc_at).ok_or(JournalError::Truncated)?;
    if jamcrc(covered) != get_u32(bytes, crc_at) {
        return Err(JournalError::BadCrc);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(text: &str) -> Version {
        Version::new(text).unwrap()
    }

    fn identity() -> DownloadIdentity {
        DownloadIdentity::new("ota-job_7", 0x1_0000_0003, 459_776, version("1.2.3")).unwrap()
    }

    #[test]
    fn an_identity_round_trips() {
        assert_eq!(
            DownloadIdentity::parse(&identity().to_bytes()),
            Ok(identity())
        );
        let longest = "j".repeat(JOB_ID_MAX);
        let long = DownloadIdentity::new(&longest, 0, 1, version("15-characters-v")).unwrap();
        assert_eq!(DownloadIdentity::parse(&long.to_bytes()), Ok(long));
        assert_eq!(
            DownloadIdentity::new(&"j".repeat(JOB_ID_MAX + 1), 0, 1, version("1")),
            None
        );
        // The version that ran is not part of which file it is.
        let after = DownloadIdentity {
            replaced: version("1.2.4"),
            ..identity()
        };
        assert!(after.same_file(&identity()));
        let rerun = DownloadIdentity {
            execution: 4,
            ..identity()
        };
        assert!(!rerun.same_file(&identity()));
    }

    #[test]
    fn a_verdict_round_trips_and_a_long_reason_is_cut_whole() {
        let verdict = Verdict::new("signature: the signature does not verify");
        assert_eq!(Verdict::parse(&verdict.to_bytes()), Ok(verdict));
        let long = Verdict::new(&"é".repeat(REASON_MAX));
        assert_eq!(long.reason.len(), REASON_MAX);
        assert_eq!(Verdict::parse(&long.to_bytes()), Ok(long));
        let mut torn = Verdict::new("user-abort").to_bytes();
        torn[VERDICT_LEN - 1] = 0xFF;
        assert_eq!(Verdict::parse(&torn), Err(JournalError::BadCrc));
    }

    #[test]
    fn a_progress_entry_round_trips() {
        let entry = Progress {
            written: 0x7_0000,
            body_crc: 0xDEAD_BEEF,
        };
        assert_eq!(Progress::parse(&entry.to_bytes()), Ok(entry));
    }

    #[test]
    fn an_erased_entry_is_empty_and_a_torn_one_is_refused() {
        assert_eq!(
            DownloadIdentity::parse(&[0xFF; IDENTITY_LEN]),
            Err(JournalError::Empty)
        );
        assert_eq!(
            Progress::parse(&[0xFF; PROGRESS_LEN]),
            Err(JournalError::Empty)
        );
        // A program cut short leaves some bytes erased: every such prefix is refused.
        let full = Progress {
            written: 0x2000,
            body_crc: 0x1234_5678,
        }
        .to_bytes();
        for cut in 1..PROGRESS_LEN {
            let mut torn = [0xFF; PROGRESS_LEN];
            torn[..cut].copy_from_slice(&full[..cut]);
            assert!(Progress::parse(&torn).is_err(), "cut at {cut}");
        }
        let full = identity().to_bytes();
        for cut in 1..IDENTITY_LEN {
            let mut torn = [0xFF; IDENTITY_LEN];
            torn[..cut].copy_from_slice(&full[..cut]);
            assert!(DownloadIdentity::parse(&torn).is_err(), "cut at {cut}");
        }
    }

    #[test]
    fn a_flipped_bit_or_a_foreign_magic_is_refused() {
        let mut bytes = identity().to_bytes();
        bytes[identity::EXECUTION] ^= 1;
        assert_eq!(DownloadIdentity::parse(&bytes), Err(JournalError::BadCrc));
        let progress = Progress {
            written: 4096,
            body_crc: 1,
        }
        .to_bytes();
        assert_eq!(
            DownloadIdentity::parse(&[&progress[..], &[0; IDENTITY_LEN][..]].concat()),
            Err(JournalError::BadMagic(PROGRESS_MAGIC))
        );
        assert_eq!(
            Progress::parse(&identity().to_bytes()),
            Err(JournalError::BadMagic(IDENTITY_MAGIC))
        );
        assert_eq!(Progress::parse(&[0; 4]), Err(JournalError::Truncated));
    }

    #[test]
    fn bytes_after_the_text_must_be_erased() {
        let mut bytes = identity().to_bytes();
        bytes[identity::JOB_ID + 20] = 0;
        let crc = jamcrc(&bytes[..identity::CRC]);
        put_u32(&mut bytes, identity::CRC, crc);
        assert_eq!(DownloadIdentity::parse(&bytes), Err(JournalError::BadJobId));
        let mut bytes = Verdict::new("user-abort").to_bytes();
        bytes[verdict::REASON + 100] = 0;
        let crc = jamcrc(&bytes[..verdict::CRC]);
        put_u32(&mut bytes, verdict::CRC, crc);
        assert_eq!(Verdict::parse(&bytes), Err(JournalError::BadReason));
    }

    #[test]
    fn a_job_id_length_past_its_field_is_refused() {
        let mut bytes = identity().to_bytes();
        put_u32(&mut bytes, identity::JOB_ID_LEN, JOB_ID_MAX as u32 + 1);
        let crc = jamcrc(&bytes[..identity::CRC]);
        put_u32(&mut bytes, identity::CRC, crc);
        assert_eq!(DownloadIdentity::parse(&bytes), Err(JournalError::BadJobId));
    }

    #[test]
    fn the_entries_fit_the_record_sector_after_the_kept_header() {
        use super::super::record::{KEPT_HEADER_LEN, KEPT_HEADER_OFFSET};
        assert!(KEPT_HEADER_OFFSET as usize + KEPT_HEADER_LEN <= IDENTITY_OFFSET as usize);
        assert!(IDENTITY_OFFSET as usize + IDENTITY_LEN <= VERDICT_OFFSET as usize);
        assert!(VERDICT_OFFSET as usize + VERDICT_LEN <= PROGRESS_OFFSET as usize);
        assert_eq!(
            IDENTITY_OFFSET / 256,
            (VERDICT_OFFSET + VERDICT_LEN as u32 - 1) / 256,
            "the verdict is programmed within one page"
        );
        assert_eq!(PROGRESS_OFFSET % 256, 0, "progress entries start on a page");
        assert_eq!(256 % PROGRESS_LEN, 0, "no entry crosses a page");
    }
}
