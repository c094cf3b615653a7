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
use bsp::ota::journal::{DownloadIdentity, Progress, Verdict};
use bsp::ota::journal::{IDENTITY_LEN, PROGRESS_LEN, VERDICT_LEN};
use bsp::ota::record::{KeptHeader, RecordRepr, KEPT_HEADER_LEN, RECORD_LEN};
use core::fmt::{Debug, Display};

/// Where the record's JAMCRC is, over the bytes before it; every other entry ends with its.
const RECORD_CRC: usize = 0x10;

/// One entry's check: whether `data` parses as it.
type Check<'a> = &'a dyn Fn(&[u8]) -> bool;

pub fn run(data: &[u8]) -> bool {
    let record = |bytes: &[u8]| {
        round_trip(bytes, RECORD_LEN, RecordRepr::parse, |r| {
            r.to_bytes().to_vec()
        })
        .inspect(|record| {
            let _ = record.state.to_string();
        })
        .is_some()
    };
    let kept = |bytes: &[u8]| {
        round_trip(bytes, KEPT_HEADER_LEN, KeptHeader::parse, |k| {
            k.to_bytes().to_vec()
        })
        .is_some()
    };
    let identity = |bytes: &[u8]| {
        round_trip(bytes, IDENTITY_LEN, DownloadIdentity::parse, |e| {
            e.to_bytes().to_vec()
        })
        .is_some()
    };
    let verdict = |bytes: &[u8]| {
        round_trip(bytes, VERDICT_LEN, Verdict::parse, |e| {
            e.to_bytes().to_vec()
        })
        .is_some()
    };
    let progress = |bytes: &[u8]| {
        round_trip(bytes, PROGRESS_LEN, Progress::parse, |e| {
            e.to_bytes().to_vec()
        })
        .is_some()
    };
    // (entry length, where its CRC is, its check)
    let entries: [(usize, usize, Check<'_>); 5] = [
        (RECORD_LEN, RECORD_CRC, &record),
        (KEPT_HEADER_LEN, KEPT_HEADER_LEN - 4, &kept),
        (IDENTITY_LEN, IDENTITY_LEN - 4, &identity),
        (VERDICT_LEN, VERDICT_LEN - 4, &verdict),
        (PROGRESS_LEN, PROGRESS_LEN - 4, &progress),
    ];
    let mut accepted = false;
    for (len, crc_at, check) in entries {
        accepted |= check(data);
        if data.len() >= len {
            check(&with_crc(data, crc_at));
        }
    }
    accepted
}

/// An entry of `len` bytes: one that parses is programmed back as the same bytes and parses
/// again to the same value; one that does not has an error that formats.
fn round_trip<E: PartialEq + Debug, Error: Display + PartialEq + Debug>(
    data: &[u8],
    len: usize,
    parse: fn(&[u8]) -> Result<E, Error>,
    emit: fn(&E) -> Vec<u8>,
) -> Option<E> {
    match parse(data) {
        Ok(entry) => {
            let bytes = emit(&entry);
            assert_eq!(bytes[..], data[..len], "{entry:?} programs other bytes");
            let again = parse(&bytes);
            assert_eq!(again.as_ref(), Ok(&entry));
            Some(entry)
        }
        Err(error) => {
            let _ = error.to_string();
            None
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
