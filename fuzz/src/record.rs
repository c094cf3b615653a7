//! The OTA update record and the kept file header (`bsp::ota::record`), as the installer
//! reads them from `app_ota`'s last sector at every start.
//!
//! Input: the record sector's first bytes; the kept header is read from the same bytes.
//!
//! Contract: a record or kept header that parses is programmed back as the same bytes and
//! parses again to the same value. Each input is tried a second time with its CRCs made
//! right, so that the fuzzer reaches the state word and the header bytes.

use bsp::format::crc::jamcrc;
use bsp::ota::record::{KeptHeader, RecordRepr, KEPT_HEADER_LEN, RECORD_LEN};

/// Where each entry's JAMCRC is, over the bytes before it.
const RECORD_CRC: usize = 0x10;
const KEPT_CRC: usize = KEPT_HEADER_LEN - 4;

pub fn run(data: &[u8]) -> bool {
    let accepted = record(data) | kept(data);
    if data.len() >= RECORD_LEN {
        record(&with_crc(data, RECORD_CRC));
    }
    if data.len() >= KEPT_HEADER_LEN {
        kept(&with_crc(data, KEPT_CRC));
    }
    accepted
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
