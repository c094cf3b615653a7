//! What the flash says about itself: the partition table and the running app's image header.

use crate::platform::Platform;
use alloc::format;
use alloc::string::String;
use bsp::format::image::{ImageHeaderRepr, HEADER_LEN};
use bsp::format::ptable::{self, PartitionTable, PartitionTableRepr};

/// The partition table is at most this long (16 entries); the sector holds padding after it.
const TABLE_READ_LEN: usize =
    ptable::HEADER_LEN + ptable::MAX_PARTITIONS * ptable::ENTRY_LEN + ptable::MD5_LEN;

/// Reads and checks the partition table at 0xE000.
pub fn partition_table(platform: &Platform) -> Result<PartitionTableRepr, String> {
    let mut raw = [0u8; TABLE_READ_LEN];
    let mut flash = platform.flash.lock();
    let size = flash.geometry().size;
    flash
        .read(ptable::TABLE_OFFSET, &mut raw)
        .map_err(|e| format!("reading the partition table: {e}"))?;
    drop(flash);
    let view =
        PartitionTable::new_checked(&raw[..]).map_err(|e| format!("partition table: {e}"))?;
    PartitionTableRepr::parse(&view, size).map_err(|e| format!("partition table: {e}"))
}

/// Reads and checks the image header at the start of the `app` partition.
pub fn app_header(platform: &Platform) -> Result<ImageHeaderRepr, String> {
    let table = partition_table(platform)?;
    let app = table
        .find(ptable::APP)
        .ok_or_else(|| String::from("no app partition"))?;
    let mut raw = [0u8; HEADER_LEN];
    platform
        .flash
        .lock()
        .read(app.offset, &mut raw)
        .map_err(|e| format!("reading the app header: {e}"))?;
    ImageHeaderRepr::parse_bytes(&raw).map_err(|e| format!("app header: {e}"))
}
