//! The update record: what the OTA platform layer tells the installer about the image in
//! `app_ota`. It lives at the start of the partition's last sector, which no image may use.
//! The same sector keeps the header of the file being received ([`KeptHeader`]), which stays
//! out of `app_ota`'s first bytes until the platform layer has checked the file.
//!
//! The vendor SDK keeps an "update flag" there too (its `begin` erases that sector first,
//! docs/w800.md, "OTA apply flow"), but its bootloader's rules are not public, so the record is
//! ours. It is written so that NOR flash and power loss cannot fake it:
//!
//! * the identity part (which image, how long) is programmed once, with a JAMCRC: a torn
//!   program fails the check and reads as "no record", so nothing half-staged is installed;
//! * the state word only ever loses bits (a program can clear bits, only an erase sets them),
//!   one bit per step, so each step is a single bit that is either cleared or not.
//!
//! | off | size | field |
//! | --- | --- | --- |
//! | 0x00 | 4 | magic [`MAGIC`] |
//! | 0x04 | 4 | file length: header + body of the OTA file in `app_ota` |
//! | 0x08 | 4 | the file header's `org_checksum` |
//! | 0x0C | 4 | the file header's `hd_checksum` |
//! | 0x10 | 4 | JAMCRC of bytes 0x00..0x10 |
//! | 0x14 | 4 | state word: one of [`RecordState`]'s words |
//!
//! The kept header, at [`KEPT_HEADER_OFFSET`] (a page of its own, so that programming the
//! record never touches it):
//!
//! | off | size | field |
//! | --- | --- | --- |
//! | 0x00 | 4 | magic [`KEPT_HEADER_MAGIC`] |
//! | 0x04 | 64 | the file's first 64 bytes, its vendor header, as they arrived |
//! | 0x44 | 4 | JAMCRC of bytes 0x00..0x44 |
//!
//! It is ours, like the record: the vendor's bootloader reads the header at the start of
//! `app_ota`, and here the vendor magic sits 4 bytes into an entry of our own.

use crate::format::bytes::{get_array, get_u32, put_bytes, put_u32};
use crate::format::crc::jamcrc;
use crate::format::image::HEADER_LEN;
use core::fmt;

/// Bytes the record takes.
pub const RECORD_LEN: usize = 0x18;
/// The record's magic ("W8UR").
pub const MAGIC: u32 = 0x5255_3857;

mod field {
    pub const MAGIC: usize = 0x00;
    pub const FILE_LEN: usize = 0x04;
    pub const ORG_CHECKSUM: usize = 0x08;
    pub const HD_CHECKSUM: usize = 0x0C;
    pub const CRC: usize = 0x10;
    pub const STATE: usize = 0x14;
}

/// Offset of the state word, for the single program that moves it on.
pub const STATE_OFFSET: u32 = field::STATE as u32;

/// Where the staged image stands. Each later state clears one more bit of the state word.
///
/// Two paths lead from [`RecordState::Staged`]. Where the chip's bootloader (or the firmware's
/// boot stage) installs what `app_ota` holds, the image is installed first and tested in `app`:
/// staged -> installed -> confirmed, or staged -> rejected. Where the boot stage can run an
/// image from `app_ota` (the sim's loader), the image runs on trial while `app` keeps the
/// previous one, and is installed only once its self-test passed (MCUboot's test-and-confirm):
/// staged -> trial -> accepted -> committed, or trial -> rolled back. Once the cloud has the
/// verdict on a committed or rolled-back image, the record sector is erased.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordState {
    /// Verified by the platform layer (header, CRC, signature, content): to be installed, or
    /// run on trial.
    Staged,
    /// The installer copied it into `app`, and `app` checked out; its self-test verdict has
    /// yet to reach the cloud.
    Installed,
    /// The installer refused it (its copy in `app_ota` no longer checked out).
    Rejected,
    /// Installed, and the new image's self-test verdict reached the cloud: nothing about this
    /// update is left to do after a restart.
    Confirmed,
    /// The boot stage started it from `app_ota` on trial; `app` still holds the previous image.
    /// A start that finds this state ends the trial without a verdict: rolled back.
    Trial,
    /// Its trial ended without passing its self-test (the self-test failed, its deadline
    /// passed, a restart came first): `app` runs the previous image, which reports the job
    /// `FAILED`.
    RolledBack,
    /// It passed its self-test on trial: the boot stage installs it into `app`.
    Accepted,
    /// Installed into `app` after its trial; its self-test runs again there, and its verdict
    /// has yet to reach the cloud.
    Committed,
}

impl RecordState {
    const STAGED: u32 = 0xFFFF_FFFF;
    const INSTALLED: u32 = !1;
    const REJECTED: u32 = !2;
    const CONFIRMED: u32 = !5;
    const TRIAL: u32 = !0x08;
    const ROLLED_BACK: u32 = !0x28;
    const ACCEPTED: u32 = !0x18;
    const COMMITTED: u32 = !0x19;

    /// Every state.
    pub const ALL: [RecordState; 8] = [
        RecordState::Staged,
        RecordState::Installed,
        RecordState::Rejected,
        RecordState::Confirmed,
        RecordState::Trial,
        RecordState::RolledBack,
        RecordState::Accepted,
        RecordState::Committed,
    ];

    /// The state word's value.
    pub const fn word(self) -> u32 {
        match self {
            RecordState::Staged => Self::STAGED,
            RecordState::Installed => Self::INSTALLED,
            RecordState::Rejected => Self::REJECTED,
            RecordState::Confirmed => Self::CONFIRMED,
            RecordState::Trial => Self::TRIAL,
            RecordState::RolledBack => Self::ROLLED_BACK,
            RecordState::Accepted => Self::ACCEPTED,
            RecordState::Committed => Self::COMMITTED,
        }
    }

    fn from_word(word: u32) -> Option<RecordState> {
        RecordState::ALL
            .into_iter()
            .find(|state| state.word() == word)
    }

    /// Whether a program of the state word can move `self` on to `later`: it clears exactly
    /// one more bit.
    pub const fn leads_to(self, later: RecordState) -> bool {
        let (before, after) = (self.word(), later.word());
        after & before == after && (before ^ after).count_ones() == 1
    }
}

impl fmt::Display for RecordState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RecordState::Staged => "staged",
            RecordState::Installed => "installed",
            RecordState::Rejected => "rejected",
            RecordState::Confirmed => "confirmed",
            RecordState::Trial => "on trial",
            RecordState::RolledBack => "rolled back",
            RecordState::Accepted => "accepted",
            RecordState::Committed => "committed",
        })
    }
}

/// Why bytes are not a record. An erased sector gives [`RecordError::Empty`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordError {
    /// Fewer than [`RECORD_LEN`] bytes.
    Truncated,
    /// All 0xFF: no record was ever written since the sector was erased.
    Empty,
    /// The magic is wrong.
    BadMagic(u32),
    /// The identity part's CRC is wrong (a torn write).
    BadCrc,
    /// The state word is none of the states (bits cleared out of order).
    BadState(u32),
}

impl fmt::Display for RecordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            RecordError::Truncated => write!(f, "update record truncated"),
            RecordError::Empty => write!(f, "no update record"),
            RecordError::BadMagic(magic) => write!(f, "bad update record magic 0x{magic:08x}"),
            RecordError::BadCrc => write!(f, "update record CRC mismatch"),
            RecordError::BadState(word) => write!(f, "bad update record state 0x{word:08x}"),
        }
    }
}

/// A validated update record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordRepr {
    /// Length of the OTA file (header + body) at the start of `app_ota`.
    pub file_len: u32,
    /// The file header's `org_checksum`.
    pub org_checksum: u32,
    /// The file header's `hd_checksum`.
    pub hd_checksum: u32,
    /// Where it stands.
    pub state: RecordState,
}

impl RecordRepr {
    /// Decodes the first [`RECORD_LEN`] bytes of `bytes`.
    pub fn parse(bytes: &[u8]) -> Result<RecordRepr, RecordError> {
        let bytes = bytes.get(..RECORD_LEN).ok_or(RecordError::Truncated)?;
        if bytes.iter().all(|b| *b == 0xFF) {
            return Err(RecordError::Empty);
        }
        let magic = get_u32(bytes, field::MAGIC);
        if magic != MAGIC {
            return Err(RecordError::BadMagic(magic));
        }
        let identity = bytes.get(..field::CRC).ok_or(RecordError::Truncated)?;
        if jamcrc(identity) != get_u32(bytes, field::CRC) {
            return Err(RecordError::BadCrc);
        }
        let word = get_u32(bytes, field::STATE);
        Ok(RecordRepr {
            file_len: get_u32(bytes, field::FILE_LEN),
            org_checksum: get_u32(bytes, field::ORG_CHECKSUM),
            hd_checksum: get_u32(bytes, field::HD_CHECKSUM),
            state: RecordState::from_word(word).ok_or(RecordError::BadState(word))?,
        })
    }

    /// The record as it is programmed.
    pub fn to_bytes(&self) -> [u8; RECORD_LEN] {
        let mut bytes = [0u8; RECORD_LEN];
        put_u32(&mut bytes, field::MAGIC, MAGIC);
        put_u32(&mut bytes, field::FILE_LEN, self.file_len);
        put_u32(&mut bytes, field::ORG_CHECKSUM, self.org_checksum);
        put_u32(&mut bytes, field::HD_CHECKSUM, self.hd_checksum);
        let crc = jamcrc(&bytes[..field::CRC]);
        put_u32(&mut bytes, field::CRC, crc);
        put_u32(&mut bytes, field::STATE, self.state.word());
        bytes
    }
}

/// Offset of the kept header in the record sector.
pub const KEPT_HEADER_OFFSET: u32 = 0x100;
/// Bytes the kept header takes.
pub const KEPT_HEADER_LEN: usize = KEPT_CRC + 4;
/// Where the kept header's bytes start in its entry.
const KEPT_BYTES: usize = 4;
/// Where the kept header's JAMCRC is in its entry.
const KEPT_CRC: usize = KEPT_BYTES + HEADER_LEN;
/// The kept header's magic ("W8KH").
pub const KEPT_HEADER_MAGIC: u32 = 0x484B_3857;

/// The header of the file in `app_ota`, kept in the record sector from the moment all its
/// bytes have arrived, so that a file whose header is not (or no longer) at the start of
/// `app_ota` can still be checked and staged: after a restart in the middle of a download, or
/// after a refusal destroyed the copy at the start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeptHeader(pub [u8; HEADER_LEN]);

impl KeptHeader {
    /// Decodes the first [`KEPT_HEADER_LEN`] bytes of `bytes`; an erased entry is
    /// [`RecordError::Empty`].
    pub fn parse(bytes: &[u8]) -> Result<KeptHeader, RecordError> {
        let bytes = bytes.get(..KEPT_HEADER_LEN).ok_or(RecordError::Truncated)?;
        if bytes.iter().all(|b| *b == 0xFF) {
            return Err(RecordError::Empty);
        }
        let magic = get_u32(bytes, 0);
        if magic != KEPT_HEADER_MAGIC {
            return Err(RecordError::BadMagic(magic));
        }
        let covered = bytes.get(..KEPT_CRC).ok_or(RecordError::Truncated)?;
        if jamcrc(covered) != get_u32(bytes, KEPT_CRC) {
            return Err(RecordError::BadCrc);
        }
        Ok(KeptHeader(get_array(bytes, KEPT_BYTES)))
    }

    /// The entry as it is programmed.
    pub fn to_bytes(&self) -> [u8; KEPT_HEADER_LEN] {
        let mut bytes = [0u8; KEPT_HEADER_LEN];
        put_u32(&mut bytes, 0, KEPT_HEADER_MAGIC);
        put_bytes(&mut bytes, KEPT_BYTES, &self.0);
        let crc = jamcrc(&bytes[..KEPT_CRC]);
        put_u32(&mut bytes, KEPT_CRC, crc);
        bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn staged() -> RecordRepr {
        RecordRepr {
            file_len: 448_952,
            org_checksum: 0x1234_5678,
            hd_checksum: 0x9ABC_DEF0,
            state: RecordState::Staged,
        }
    }

    #[test]
    fn a_record_round_trips_in_every_state() {
        for state in RecordState::ALL {
            let record = RecordRepr { state, ..staged() };
            assert_eq!(RecordRepr::parse(&record.to_bytes()), Ok(record));
        }
    }

    #[test]
    fn each_step_of_both_paths_clears_one_bit_and_no_other_pair_of_states_is_a_step() {
        use RecordState::*;
        let steps = [
            (Staged, Installed),
            (Staged, Rejected),
            (Installed, Confirmed),
            (Staged, Trial),
            (Trial, RolledBack),
            (Trial, Accepted),
            (Accepted, Committed),
        ];
        for before in RecordState::ALL {
            for later in RecordState::ALL {
                assert_eq!(
                    before.leads_to(later),
                    steps.contains(&(before, later)),
                    "{before} -> {later}"
                );
            }
        }
    }

    #[test]
    fn an_erased_sector_is_no_record() {
        assert_eq!(
            RecordRepr::parse(&[0xFF; RECORD_LEN]),
            Err(RecordError::Empty)
        );
        assert_eq!(RecordRepr::parse(&[0xFF; 4]), Err(RecordError::Truncated));
    }

    #[test]
    fn a_torn_or_damaged_record_is_refused() {
        let good = staged().to_bytes();
        // A program torn after the magic: the rest is still erased.
        let mut torn = [0xFF; RECORD_LEN];
        torn[..8].copy_from_slice(&good[..8]);
        assert_eq!(RecordRepr::parse(&torn), Err(RecordError::BadCrc));

        let mut wrong_magic = good;
        wrong_magic[0] ^= 1;
        assert!(matches!(
            RecordRepr::parse(&wrong_magic),
            Err(RecordError::BadMagic(_))
        ));

        let mut both_bits = good;
        both_bits[field::STATE] = 0xFC;
        assert_eq!(
            RecordRepr::parse(&both_bits),
            Err(RecordError::BadState(0xFFFF_FFFC))
        );
    }

    #[test]
    fn a_kept_header_round_trips_and_a_torn_one_is_refused() {
        let mut header = [0u8; HEADER_LEN];
        for (i, byte) in header.iter_mut().enumerate() {
            *byte = i as u8 ^ 0xA5;
        }
        let kept = KeptHeader(header);
        let bytes = kept.to_bytes();
        assert_eq!(KeptHeader::parse(&bytes), Ok(kept));
        assert_eq!(
            KeptHeader::parse(&[0xFF; KEPT_HEADER_LEN]),
            Err(RecordError::Empty)
        );
        assert_eq!(
            KeptHeader::parse(&bytes[..KEPT_HEADER_LEN - 1]),
            Err(RecordError::Truncated)
        );
        let mut torn = [0xFF; KEPT_HEADER_LEN];
        torn[..40].copy_from_slice(&bytes[..40]);
        assert_eq!(KeptHeader::parse(&torn), Err(RecordError::BadCrc));
        let mut flipped = bytes;
        flipped[30] ^= 0x08;
        assert_eq!(KeptHeader::parse(&flipped), Err(RecordError::BadCrc));
    }
}
