//! The W800 on-flash formats, shared by the firmware and the host tools.
//!
//! * [`crc`]: JAMCRC, the checksum of image headers and bodies.
//! * [`image`]: the 64-byte image header in front of every bootloader, app and OTA image.
//! * [`ptable`]: the partition table at flash offset 0xE000.
//! * [`text`]: the NUL-padded fixed-width strings both of them use.
//! * [`xz`]: the streaming xz (LZMA2) decoder for `_ota.img` bodies.
//!
//! Each format has a view over raw bytes (`ImageHeader`, `PartitionTable`) whose accessors never
//! panic, and a validated representation (`ImageHeaderRepr`, `PartitionTableRepr`) with `parse`
//! and `emit`. The layouts come from docs/w800.md, "Image header", "Checksum", "Image files"
//! and "Partition table". The code is `no_std` and allocation-free, so the bootloader and app
//! can use it too.

pub(crate) mod bytes;
pub mod crc;
pub mod image;
pub mod ptable;
pub mod text;
pub mod xz;
