//! The OTA update record and the kept file header (`bsp::ota::record`), as the installer
//! reads them from `app_ota`'s last sector at every start, and the download journal's
//! entries (`bsp::ota::journal`), as the agent reads them after a restart.
//!
//! Input: the record sector's first bytes; every entry is read from the same bytes.
//!
//! Contract: an entry that parses is programmed back as the same bytes and parses again to
//! the same value. Each input is tried a second time with its CRCs made right, so that the
//! fuzzer reaches the state word, the header bytes, the job id and the reason.

use bsp::format::crc::jamcrc;
use bsp::ota::journal::{DownloadIdentity, Progress, Verdict, IDENTITY_LEN, PROGRESS_LEN};
use bsp::ota::journal::{JournalError, VERDICT_LEN};
use bsp::ota::record::{KeptHeader, RecordRepr, KEPT_HEADER_LEN, RECORD_LEN};

/// Where each entry's JAMCRC is, over the bytes before it.
const RECORD_CRC: usize = 0x10;
const KEPT_CRC: usize = KEPT_HEADER_LEN - 4;

pub fn run(data: &[u8]) -> bool {
    let identity = |bytes: &[u8]| {
        round_trip(bytes, IDENTITY_LEN, DownloadIdentity::parse, |e| {
            e.to_bytes().to_vec()
        })
    };
    let verdict = |bytes: &[u8]| {
        round_trip(bytes, VERDICT_LEN, Verdict::parse, |e| {
            e.to_bytes().to_vec()
        })
    };
    let progress = |bytes: &[u8]| {
        round_trip(bytes, PROGRESS_LEN, Progress::parse, |e| {
            e.to_bytes().to_vec()
        })
    };
    let accepted = record(data) | kept(data) | identity(data) | verdict(data) | progress(data);
    if data.len() >= RECORD_LEN {
        record(&with_crc(data, RECORD_CRC));
    }
    if data.len() >= KEPT_HEADER_LEN {
        kept(&with_crc(data, KEPT_CRC));
    }
    if data.len() >= IDENTITY_LEN {
        identity(&with_crc(data, IDENTITY_LEN - 4));
    }
    if data.len() >= VERDICT_LEN {
        verdict(&with_crc(data, VERDICT_LEN - 4));
    }
    if data.len() >= PROGRESS_LEN {
        progress(&with_crc(data, PROGRESS_LEN - 4));
    }
    accepted
}

/// A journal entry of `len` bytes: one that parses is programmed back as the same bytes.
fn round_trip<E: PartialEq + core::fmt::Debug>(
    data: &[u8],
    len: usize,
    parse: fn(&[u8]) -> Result<E, JournalError>,
    emit: fn(&E) -> Vec<u8>,
) -> bool {
    match parse(data) {
        Ok(entry) => {
            let bytes = emit(&entry);
            assert_eq!(bytes[..], data[..len], "{entry:?} programs other bytes");
            assert_eq!(parse(&bytes), Ok(entry));
            true
        }
        Err(error) => {
            let _ = error.to_string();
            false
        }
    }
}

/// `data` with the little-endian JAMCRC of its first `at` bytes written at `at`.
fn with_crc(data: &[u8], at: usize) -> Vec<u8> {
    let mut fixed = data.to_vec();
    let crc = jamcrc(&fixed[..at]);
    fixed[at..at + 4].copy_from_slice(&crc.to_le_bytes());
    fixed
}

fn record(data: &[u8]) -> bool {
    match RecordRepr::parse(data) {
        Ok(record) => {
            let bytes = record.to_bytes();
            assert_eq!(
                bytes[..],
                data[..RECORD_LEN],
                "{record:?} programs other bytes"
            );
            assert_eq!(RecordRepr::parse(&bytes), Ok(record));
            let _ = record.state.to_string();
            true
        }
        Err(error) => {
            let _ = error.to_string();
            false
        }
    }
}

fn kept(data: &[u8]) -> bool {
    match KeptHeader::parse(data) {
        Ok(kept) => {
            let bytes = kept.to_bytes();
            assert_eq!(
                bytes[..],
                data[..KEPT_HEADER_LEN],
                "{kept:?} programs other bytes"
            );
            assert_eq!(KeptHeader::parse(&bytes), Ok(kept));
            true
        }
        Err(error) => {
            let _ = error.to_string();
            false
        }
    }
}
