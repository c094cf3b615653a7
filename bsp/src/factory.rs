//! The flash as it leaves the factory: erased throughout, the `with_ota` partition table at
//! 0xE000 and a valid app image header at the start of `app`. The sim writes it into a new
//! flash file, the QEMU board into its RAM flash at power-on, keeping what QEMU's loader put
//! there as a flash programmer would have.

use crate::format::image::{self, CompressType, ImageAttr, ImageHeaderRepr, ImageType, Version};
use crate::format::ptable::{self, PartitionTableRepr};
use crate::hal::{FlashError, FlashGeometry};
use crate::nor::NorStore;
use core::fmt;
use core::ops::Range;

/// Why the factory content could not be made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FactoryError {
    /// The partition table could not be laid out.
    PartitionTable(ptable::Error),
    /// The app image header could not be made (e.g. a version longer than 15 characters).
    ImageHeader(image::Error),
    /// The partition table has no `app` partition.
    NoAppPartition,
    /// The store refused a write.
    Store(FlashError),
}

impl fmt::Display for FactoryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FactoryError::PartitionTable(e) => write!(f, "partition table: {e}"),
            FactoryError::ImageHeader(e) => write!(f, "app image header: {e}"),
            FactoryError::NoAppPartition => write!(f, "no app partition"),
            FactoryError::Store(e) => write!(f, "{e}"),
        }
    }
}

/// Writes a factory-fresh flash of `geometry` into `store`: 0xFF throughout except the
/// `programmed` range (bytes a flash programmer wrote, kept as they are), the partition
/// table, and an app header for `firmware_version` (≤ 15 characters). One sector at a time,
/// so it needs no more than a sector of stack, not the flash's size in RAM.
pub fn write_factory_content(
    store: &mut impl NorStore,
    geometry: FlashGeometry,
    firmware_version: &str,
    programmed: Option<Range<u32>>,
) -> Result<(), FactoryError> {
    let mut sector = [0xFFu8; 4096];
    let kept = programmed.unwrap_or(0..0);
    for at in (0..geometry.size).step_by(sector.len()) {
        let end = at + sector.len() as u32;
        // The parts of this sector before and after the kept range.
        for part in [at..end.min(kept.start), at.max(kept.end)..end] {
            if part.start < part.end {
                let len = (part.end - part.start) as usize;
                store
                    .store(part.start, &sector[..len])
                    .map_err(FactoryError::Store)?;
            }
        }
    }

    let table = PartitionTableRepr::with_ota();
    table
        .emit(&mut sector)
        .map_err(FactoryError::PartitionTable)?;
    store
        .store(ptable::TABLE_OFFSET, &sector)
        .map_err(FactoryError::Store)?;

    let app = table
        .find(ptable::APP)
        .ok_or(FactoryError::NoAppPartition)?;
    let upgrade = table.find(ptable::APP_OTA).map(|p| p.offset);
    let version = Version::new(firmware_version).map_err(FactoryError::ImageHeader)?;
    let attr = ImageAttr::new(ImageType::User, CompressType::None);
    let header = ImageHeaderRepr::for_partition(app.offset, upgrade, &[], version, 0, attr)
        .map_err(FactoryError::ImageHeader)?;
    store
        .store(app.offset, &header.to_bytes())
        .map_err(FactoryError::Store)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nor::RamStore;

    #[test]
    fn the_factory_flash_has_the_table_the_header_and_nothing_else() {
        let mut store = RamStore(vec![0u8; FlashGeometry::W800.size as usize]);
        write_factory_content(&mut store, FlashGeometry::W800, "1.2.3", None).unwrap();
        let bytes = store.0;

        let table_bytes = &bytes[ptable::TABLE_OFFSET as usize..][..4096];
        let view = ptable::PartitionTable::new_checked(table_bytes).unwrap();
        let table = PartitionTableRepr::parse(&view, FlashGeometry::W800.size).unwrap();
        assert_eq!(table, PartitionTableRepr::with_ota());

        let header =
            ImageHeaderRepr::parse_bytes(&bytes[0xF000..0xF000 + image::HEADER_LEN]).unwrap();
        assert_eq!(header.version.as_str(), "1.2.3");
        assert_eq!(header.header_addr, image::FLASH_BASE + 0xF000);
        assert_eq!(header.upgrade_addr, image::FLASH_BASE + 0x131000);

        // Everything outside the table and the header is erased.
        let table_end = ptable::TABLE_OFFSET as usize + ptable::table_len(table.entries().len());
        assert!(bytes[..ptable::TABLE_OFFSET as usize]
            .iter()
            .all(|b| *b == 0xFF));
        assert!(bytes[0xF000 + image::HEADER_LEN..]
            .iter()
            .all(|b| *b == 0xFF));
        assert!(bytes[table_end..0xF000].iter().all(|b| *b == 0xFF));
    }

    #[test]
    fn a_programmed_range_is_kept_and_the_rest_erased() {
        let mut store = RamStore(vec![0u8; FlashGeometry::W800.size as usize]);
        let kept = 0x13_1000..0x13_2F02;
        write_factory_content(&mut store, FlashGeometry::W800, "1.2.3", Some(kept.clone()))
            .unwrap();
        let bytes = store.0;
        let (start, end) = (kept.start as usize, kept.end as usize);
        assert!(bytes[start..end].iter().all(|b| *b == 0));
        assert!(bytes[0x13_0000..start].iter().all(|b| *b == 0xFF));
        assert!(bytes[end..0x14_0000].iter().all(|b| *b == 0xFF));
    }

    #[test]
    fn a_version_too_long_for_the_header_is_refused() {
        let mut store = RamStore(vec![0u8; FlashGeometry::W800.size as usize]);
        let err =
            write_factory_content(&mut store, FlashGeometry::W800, "1.2.3-much-too-long", None);
        assert!(matches!(err, Err(FactoryError::ImageHeader(_))), "{err:?}");
    }
}
