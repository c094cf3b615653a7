//! The partition table (`bsp::format::ptable`), as the firmware reads it from flash offset
//! 0xE000.
//!
//! Input: the table sector's bytes.
//!
//! Contract: a table that parses (for the W800's 2 MB flash) emits back to the same bytes
//! (header, entries and MD5) and parses again to the same value; the view's accessors and the
//! OTA slots taken from a parsed table never panic. Each input that holds its entries is
//! tried a second time with its MD5 made right, so that the fuzzer reaches the entry checks.

use bsp::format::ptable::{PartitionTable, PartitionTableRepr, ENTRY_LEN, W800_FLASH_SIZE};
use bsp::ota::Slots;

pub fn run(data: &[u8]) -> bool {
    view(data);
    let accepted = check(data);
    if PartitionTable::new_checked(data).is_ok() {
        let mut fixed = data.to_vec();
        PartitionTable::new_unchecked(&mut fixed[..]).fill_md5();
        if fixed != data {
            check(&fixed);
        }
    }
    accepted
}

/// Every accessor, on whatever length the input has, for the entries its count names up to
/// two past the buffer's end (further ones read nothing either, only slower).
fn view(data: &[u8]) {
    let table = PartitionTable::new_unchecked(data);
    let _ = (table.magic(), table.version(), table.option(), table.md5());
    let _ = (table.md5_offset(), table.compute_md5());
    let entries = usize::from(table.count()).min(data.len() / ENTRY_LEN + 2);
    for index in 0..entries {
        let _ = (
            table.entry_name(index),
            table.entry_offset(index),
            table.entry_size(index),
            table.entry_flag(index),
        );
    }
}

fn check(data: &[u8]) -> bool {
    let repr =
        match PartitionTableRepr::parse(&PartitionTable::new_unchecked(data), W800_FLASH_SIZE) {
            Ok(repr) => repr,
            Err(error) => {
                let _ = error.to_string();
                return false;
            }
        };
    let mut emitted = vec![0; repr.buffer_len()];
    assert_eq!(repr.emit(&mut emitted), Ok(emitted.len()));
    assert_eq!(
        emitted[..],
        data[..emitted.len()],
        "{repr:?} emits other bytes"
    );
    let again = PartitionTableRepr::parse(
        &PartitionTable::new_unchecked(&emitted[..]),
        W800_FLASH_SIZE,
    );
    assert_eq!(again, Ok(repr.clone()));
    let _ = repr.to_string();
    let _ = Slots::from_table(&repr);
    true
}
