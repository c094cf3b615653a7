//! What the flash says about itself: the partition table and the running app's image header,
//! and whether that header is the running code's.

use crate::platform::Platform;
use alloc::format;
use alloc::string::String;
use bsp::format::image::ImageHeaderRepr;
use bsp::format::image::HEADER_LEN;
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

/// Checks that `header` (the `app` image header) names the version compiled into the running
/// code: the image `app` holds is what runs (the W800's bootloader and the sim's loader start
/// it), so a difference means the code that runs is not the one the flash says it is.
pub fn check_running_version(header: &ImageHeaderRepr) -> Result<(), String> {
    check_versions(crate::VERSION, header.version.as_str())
}

fn check_versions(running: &str, app: &str) -> Result<(), String> {
    if running == app {
        Ok(())
    } else {
        Err(format!(
            "the running firmware is {running}, but app holds {app}: the code that runs is not the image in app"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_same_version_text_is_the_running_code() {
        assert_eq!(check_versions("0.9.4", "0.9.4"), Ok(()));
        let mismatch = check_versions("0.9.3", "0.9.4").unwrap_err();
        assert!(mismatch.contains("running firmware is 0.9.3"), "{mismatch}");
        assert!(mismatch.contains("app holds 0.9.4"), "{mismatch}");
        // Equal as versions is not enough: the header's text is what the image says it is.
        assert!(check_versions("1.0", "1.0.0").is_err());
    }
}
