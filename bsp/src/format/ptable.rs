//! The W800 partition table.
//!
//! Source: docs/w800.md, "Partition table". The table sits in the 4 KB sector at
//! flash offset [`TABLE_OFFSET`]: a 12-byte header, `count` entries of 28 bytes, then the MD5 of
//! all preceding bytes; the SDK pads the rest of the sector with 0xFF. All integers are little
//! endian. Offsets and sizes are flash-relative (not `0x0800_0000`-based) and 4 KB aligned.
//!
//! [`PartitionTable`] is a view over raw bytes; [`PartitionTableRepr`] is the validated, decoded
//! form, which also builds the SDK's layouts.

use core::fmt;

use md5::{Digest, Md5};

use super::bytes::{get_array, get_u16, get_u32, put_bytes, put_u16, put_u32};
use super::text::{self, TextError};

/// Flash offset of the table ("do not modify, otherwise the bootloader will not work").
pub const TABLE_OFFSET: u32 = 0xE000;

/// `magic` of the table.
pub const MAGIC: u32 = 0xA1F2_F39F;

/// The only table `version` there is.
pub const VERSION: u16 = 0;

/// Size of the header before the entries.
pub const HEADER_LEN: usize = 12;

/// Size of one entry.
pub const ENTRY_LEN: usize = 28;

/// Size of an entry's name field; names have at most `NAME_LEN - 1` characters.
pub const NAME_LEN: usize = 16;

/// Size of the MD5 digest after the entries.
pub const MD5_LEN: usize = 16;

/// Most entries a table may have here. The SDK's layouts use at most 7; 16 entries still fit in
/// the 1 KB that the SDK reserves for the table.
pub const MAX_PARTITIONS: usize = 16;

/// Flash sector size: the alignment of every partition and the size of the table's sector.
pub const SECTOR_SIZE: u32 = 0x1000;

/// Flash size of the W800 (2 MB, docs/w800.md, "Memory map"), the bound for partitions.
pub const W800_FLASH_SIZE: u32 = 0x20_0000;

/// Name of the partition the bootloader starts; every table must have one.
pub const APP: &str = "app";

/// Name of the partition that OTA images are written to.
pub const APP_OTA: &str = "app_ota";

/// A partition name: at most 15 printable ASCII characters without space.
pub type PartitionName = heapless::String<{ NAME_LEN - 1 }>;

/// Byte offsets in the table (docs/w800.md, "Partition table").
pub mod field {
    /// `magic`, u32.
    pub const MAGIC: usize = 0x00;
    /// `version`, u16.
    pub const VERSION: usize = 0x04;
    /// `count`, u16: number of entries.
    pub const COUNT: usize = 0x06;
    /// `option`, u32: 0 (bit 0 MD5, bit 1 signature are defined but never set).
    pub const OPTION: usize = 0x08;
    /// Offsets inside an entry.
    pub mod entry {
        /// `name`, 16 bytes, NUL-padded.
        pub const NAME: usize = 0;
        /// `offset`, u32.
        pub const OFFSET: usize = 16;
        /// `size`, u32.
        pub const SIZE: usize = 20;
        /// `flag`, u32 (unused).
        pub const FLAG: usize = 24;
    }
}

/// Bytes taken by a table of `count` entries, MD5 included.
pub const fn table_len(count: usize) -> usize {
    HEADER_LEN + count * ENTRY_LEN + MD5_LEN
}

/// Why a partition table or partition was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// The buffer holds `have` bytes where `need` are required.
    Truncated { need: usize, have: usize },
    /// `magic` is not [`MAGIC`].
    BadMagic(u32),
    /// `version` is not [`VERSION`].
    UnsupportedVersion(u16),
    /// `option` is not 0.
    UnsupportedOption(u32),
    /// The table has (or would get) `count` entries, more than [`MAX_PARTITIONS`].
    TooManyPartitions(usize),
    /// The stored MD5 does not match the bytes.
    Md5Mismatch {
        stored: [u8; MD5_LEN],
        computed: [u8; MD5_LEN],
    },
    /// A partition name is invalid.
    BadName(TextError),
    /// Two partitions have the same name.
    DuplicateName(PartitionName),
    /// A partition has size 0.
    EmptyPartition(PartitionName),
    /// A partition's offset or size is not a multiple of [`SECTOR_SIZE`].
    Unaligned {
        name: PartitionName,
        offset: u32,
        size: u32,
    },
    /// `offset + size` does not fit in 32 bits.
    AddressOverflow(PartitionName),
    /// Two partitions share flash.
    Overlap {
        first: PartitionName,
        second: PartitionName,
    },
    /// A partition ends at `end`, past the flash end `flash_size`.
    OutsideFlash {
        name: PartitionName,
        end: u32,
        flash_size: u32,
    },
    /// No partition named [`APP`].
    MissingApp,
}

struct Hex<'a>(&'a [u8]);

impl fmt::Display for Hex<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|byte| write!(f, "{byte:02x}"))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Truncated { need, have } => {
                write!(f, "partition table truncated: {have} bytes, need {need}")
            }
            Error::BadMagic(magic) => write!(
                f,
                "bad partition table magic 0x{magic:08x}, expected 0x{MAGIC:08x}"
            ),
            Error::UnsupportedVersion(version) => {
                write!(f, "unsupported partition table version {version}")
            }
            Error::UnsupportedOption(option) => {
                write!(f, "unsupported partition table option 0x{option:08x}")
            }
            Error::TooManyPartitions(count) => write!(
                f,
                "{count} partitions, at most {MAX_PARTITIONS} are supported"
            ),
            Error::Md5Mismatch { stored, computed } => write!(
                f,
                "partition table MD5 mismatch: stored {}, computed {}",
                Hex(stored),
                Hex(computed)
            ),
            Error::BadName(error) => write!(f, "bad partition name: {error}"),
            Error::DuplicateName(name) => write!(f, "partition \"{name}\" appears twice"),
            Error::EmptyPartition(name) => write!(f, "partition \"{name}\" has size 0"),
            Error::Unaligned { name, offset, size } => write!(
                f,
                "partition \"{name}\" (offset 0x{offset:x}, size 0x{size:x}) is not aligned to \
                 0x{SECTOR_SIZE:x}"
            ),
            Error::AddressOverflow(name) => {
                write!(f, "partition \"{name}\" ends beyond 4 GiB")
            }
            Error::Overlap { first, second } => {
                write!(f, "partitions \"{first}\" and \"{second}\" overlap")
            }
            Error::OutsideFlash {
                name,
                end,
                flash_size,
            } => write!(
                f,
                "partition \"{name}\" ends at 0x{end:x}, past the flash size 0x{flash_size:x}"
            ),
            Error::MissingApp => write!(f, "no \"{APP}\" partition"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for Error {}

/// One partition.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Partition {
    /// Name, e.g. "app".
    pub name: PartitionName,
    /// Flash offset of the first byte.
    pub offset: u32,
    /// Size in bytes.
    pub size: u32,
    /// The entry's `flag` word; unused by the SDK, which writes 0.
    pub flag: u32,
}

impl Partition {
    /// A partition with a checked name and `flag` 0. Placement is checked when it is added to a
    /// table ([`PartitionTableRepr::push`]).
    pub fn new(name: &str, offset: u32, size: u32) -> Result<Self, Error> {
        Ok(Partition {
            name: checked_name(name)?,
            offset,
            size,
            flag: 0,
        })
    }

    /// Flash offset one past the last byte, if it fits in 32 bits.
    pub fn end(&self) -> Option<u32> {
        self.offset.checked_add(self.size)
    }
}

fn checked_name(name: &str) -> Result<PartitionName, Error> {
    if name.is_empty() {
        return Err(Error::BadName(TextError::Empty));
    }
    text::check(name, NAME_LEN, text::is_graphic).map_err(Error::BadName)?;
    PartitionName::try_from(name).map_err(|_| {
        Error::BadName(TextError::TooLong {
            len: name.len(),
            max: NAME_LEN - 1,
        })
    })
}

/// A view of a partition table in a byte buffer.
///
/// Accessors never panic: on a buffer that is too short (only possible through
/// [`PartitionTable::new_unchecked`]) reads of missing fields return 0 and writes are dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionTable<T: AsRef<[u8]>> {
    buffer: T,
}

/// Offset of entry `index`; saturates for absurd indexes so that the access simply misses.
fn entry_at(index: usize) -> usize {
    index.saturating_mul(ENTRY_LEN).saturating_add(HEADER_LEN)
}

impl<T: AsRef<[u8]>> PartitionTable<T> {
    /// Wraps `buffer` without checking its length.
    pub const fn new_unchecked(buffer: T) -> Self {
        PartitionTable { buffer }
    }

    /// Wraps `buffer` after checking that it holds the header, `count` entries and the MD5.
    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        let table = Self::new_unchecked(buffer);
        table.check_len()?;
        Ok(table)
    }

    /// Fails with [`Error::Truncated`] unless the buffer holds the header, `count` entries and
    /// the MD5.
    pub fn check_len(&self) -> Result<(), Error> {
        let have = self.buffer.as_ref().len();
        if have < HEADER_LEN {
            return Err(Error::Truncated {
                need: HEADER_LEN,
                have,
            });
        }
        let need = table_len(usize::from(self.count()));
        if have < need {
            return Err(Error::Truncated { need, have });
        }
        Ok(())
    }

    /// Gives the buffer back.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// `magic`.
    pub fn magic(&self) -> u32 {
        get_u32(self.buffer.as_ref(), field::MAGIC)
    }

    /// `version`.
    pub fn version(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::VERSION)
    }

    /// `count`: number of entries.
    pub fn count(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::COUNT)
    }

    /// `option`.
    pub fn option(&self) -> u32 {
        get_u32(self.buffer.as_ref(), field::OPTION)
    }

    /// Raw name field of entry `index`.
    pub fn entry_name(&self, index: usize) -> [u8; NAME_LEN] {
        get_array(
            self.buffer.as_ref(),
            entry_at(index).saturating_add(field::entry::NAME),
        )
    }

    /// `offset` of entry `index`.
    pub fn entry_offset(&self, index: usize) -> u32 {
        get_u32(
            self.buffer.as_ref(),
            entry_at(index).saturating_add(field::entry::OFFSET),
        )
    }

    /// `size` of entry `index`.
    pub fn entry_size(&self, index: usize) -> u32 {
        get_u32(
            self.buffer.as_ref(),
            entry_at(index).saturating_add(field::entry::SIZE),
        )
    }

    /// `flag` of entry `index`.
    pub fn entry_flag(&self, index: usize) -> u32 {
        get_u32(
            self.buffer.as_ref(),
            entry_at(index).saturating_add(field::entry::FLAG),
        )
    }

    /// Offset of the MD5, right after the `count` entries.
    pub fn md5_offset(&self) -> usize {
        entry_at(usize::from(self.count()))
    }

    /// The stored MD5.
    pub fn md5(&self) -> [u8; MD5_LEN] {
        get_array(self.buffer.as_ref(), self.md5_offset())
    }

    /// MD5 of the header and entries, what [`PartitionTable::md5`] should be. On a truncated
    /// buffer it covers the bytes present.
    pub fn compute_md5(&self) -> [u8; MD5_LEN] {
        let data = self.buffer.as_ref();
        Md5::digest(data.get(..self.md5_offset()).unwrap_or(data)).into()
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> PartitionTable<T> {
    /// Sets `magic`.
    pub fn set_magic(&mut self, value: u32) {
        put_u32(self.buffer.as_mut(), field::MAGIC, value);
    }

    /// Sets `version`.
    pub fn set_version(&mut self, value: u16) {
        put_u16(self.buffer.as_mut(), field::VERSION, value);
    }

    /// Sets `count`; this moves where the MD5 is.
    pub fn set_count(&mut self, value: u16) {
        put_u16(self.buffer.as_mut(), field::COUNT, value);
    }

    /// Sets `option`.
    pub fn set_option(&mut self, value: u32) {
        put_u32(self.buffer.as_mut(), field::OPTION, value);
    }

    /// Sets the raw name field of entry `index`.
    pub fn set_entry_name(&mut self, index: usize, value: &[u8; NAME_LEN]) {
        let at = entry_at(index).saturating_add(field::entry::NAME);
        put_bytes(self.buffer.as_mut(), at, value);
    }

    /// Sets `offset` of entry `index`.
    pub fn set_entry_offset(&mut self, index: usize, value: u32) {
        let at = entry_at(index).saturating_add(field::entry::OFFSET);
        put_u32(self.buffer.as_mut(), at, value);
    }

    /// Sets `size` of entry `index`.
    pub fn set_entry_size(&mut self, index: usize, value: u32) {
        let at = entry_at(index).saturating_add(field::entry::SIZE);
        put_u32(self.buffer.as_mut(), at, value);
    }

    /// Sets `flag` of entry `index`.
    pub fn set_entry_flag(&mut self, index: usize, value: u32) {
        let at = entry_at(index).saturating_add(field::entry::FLAG);
        put_u32(self.buffer.as_mut(), at, value);
    }

    /// Sets the stored MD5.
    pub fn set_md5(&mut self, value: &[u8; MD5_LEN]) {
        let at = self.md5_offset();
        put_bytes(self.buffer.as_mut(), at, value);
    }

    /// Sets the MD5 to that of the header and entries; call it after the last change.
    pub fn fill_md5(&mut self) {
        let md5 = self.compute_md5();
        self.set_md5(&md5);
    }
}

/// A decoded partition table whose partitions are valid, aligned and disjoint. Whether they fit
/// the flash and include [`APP`] is checked by [`PartitionTableRepr::validate`] (and by
/// [`PartitionTableRepr::parse`]).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PartitionTableRepr {
    entries: heapless::Vec<Partition, MAX_PARTITIONS>,
}

/// `(name, offset, size)` rows of a built-in layout.
type Layout = [(&'static str, u32, u32)];

/// The three partitions every layout starts with (docs/w800.md, "Partition table": fixed).
const FIXED: [(&str, u32, u32); 3] = [
    ("ft", 0x0, 0x2000),
    ("bootloader", 0x2000, 0xC000),
    ("partition_table", TABLE_OFFSET, SECTOR_SIZE),
];

impl PartitionTableRepr {
    /// An empty table.
    pub const fn new() -> Self {
        PartitionTableRepr {
            entries: heapless::Vec::new(),
        }
    }

    /// The SDK's "with_ota" layout, used by the AWS OTA example.
    pub fn with_ota() -> Self {
        Self::from_layout(&[
            (APP, 0xF000, 0x12_2000),
            (APP_OTA, 0x13_1000, 0xA_F000),
            ("user", 0x1E_0000, 0x2000),
            ("nvs", 0x1F_0000, 0x8000),
        ])
    }

    /// The SDK's "normal" layout.
    pub fn normal() -> Self {
        Self::from_layout(&[(APP, 0xF000, 0x10_0000), ("nvs", 0x1F_0000, 0x8000)])
    }

    /// The SDK's "large" layout, the W800 default.
    pub fn large() -> Self {
        Self::from_layout(&[(APP, 0xF000, 0x1E_1000), ("nvs", 0x1F_0000, 0x8000)])
    }

    /// Builds a layout from the fixed partitions and `rest`. The built-in layouts are constant
    /// and valid (the tests parse each one back), so a failure here is a bug in this file.
    fn from_layout(rest: &Layout) -> Self {
        let mut table = Self::new();
        for &(name, offset, size) in FIXED.iter().chain(rest) {
            let added = Partition::new(name, offset, size).and_then(|p| table.push(p));
            assert!(added.is_ok(), "built-in layout is invalid: {added:?}");
        }
        table
    }

    /// Adds `partition` after checking its name, that the name is new, that offset and size are
    /// 4 KB aligned and the size non-zero, and that it overlaps no partition already present.
    pub fn push(&mut self, partition: Partition) -> Result<(), Error> {
        let name = checked_name(&partition.name)?;
        if self.find(&name).is_some() {
            return Err(Error::DuplicateName(name));
        }
        if partition.size == 0 {
            return Err(Error::EmptyPartition(name));
        }
        if !partition.offset.is_multiple_of(SECTOR_SIZE)
            || !partition.size.is_multiple_of(SECTOR_SIZE)
        {
            return Err(Error::Unaligned {
                name,
                offset: partition.offset,
                size: partition.size,
            });
        }
        let end = partition
            .end()
            .ok_or(Error::AddressOverflow(name.clone()))?;
        for other in &self.entries {
            // Both ends are known to fit: `other` passed this check when it was pushed.
            let other_end = other.end().unwrap_or(u32::MAX);
            if partition.offset < other_end && other.offset < end {
                return Err(Error::Overlap {
                    first: other.name.clone(),
                    second: name,
                });
            }
        }
        self.entries
            .push(partition)
            .map_err(|_| Error::TooManyPartitions(MAX_PARTITIONS + 1))
    }

    /// Checks what [`PartitionTableRepr::push`] cannot: every partition ends inside a flash of
    /// `flash_size` bytes, and there is an [`APP`] partition.
    pub fn validate(&self, flash_size: u32) -> Result<(), Error> {
        for partition in &self.entries {
            match partition.end() {
                Some(end) if end <= flash_size => {}
                end => {
                    return Err(Error::OutsideFlash {
                        name: partition.name.clone(),
                        end: end.unwrap_or(u32::MAX),
                        flash_size,
                    })
                }
            }
        }
        if self.find(APP).is_none() {
            return Err(Error::MissingApp);
        }
        Ok(())
    }

    /// Decodes and validates a table: length, magic, version 0, option 0, `count` at most
    /// [`MAX_PARTITIONS`], MD5, then every entry as [`PartitionTableRepr::push`] does, then
    /// [`PartitionTableRepr::validate`] against `flash_size`.
    pub fn parse<T: AsRef<[u8]>>(
        table: &PartitionTable<T>,
        flash_size: u32,
    ) -> Result<Self, Error> {
        let have = table.buffer.as_ref().len();
        if have < HEADER_LEN {
            return Err(Error::Truncated {
                need: HEADER_LEN,
                have,
            });
        }
        if table.magic() != MAGIC {
            return Err(Error::BadMagic(table.magic()));
        }
        if table.version() != VERSION {
            return Err(Error::UnsupportedVersion(table.version()));
        }
        if table.option() != 0 {
            return Err(Error::UnsupportedOption(table.option()));
        }
        let count = usize::from(table.count());
        if count > MAX_PARTITIONS {
            return Err(Error::TooManyPartitions(count));
        }
        table.check_len()?;
        let computed = table.compute_md5();
        if table.md5() != computed {
            return Err(Error::Md5Mismatch {
                stored: table.md5(),
                computed,
            });
        }
        let mut repr = Self::new();
        for index in 0..count {
            let raw_name = table.entry_name(index);
            let name = text::decode(&raw_name, text::is_graphic).map_err(Error::BadName)?;
            repr.push(Partition {
                name: checked_name(name)?,
                offset: table.entry_offset(index),
                size: table.entry_size(index),
                flag: table.entry_flag(index),
            })?;
        }
        repr.validate(flash_size)?;
        Ok(repr)
    }

    /// Bytes [`PartitionTableRepr::emit`] writes.
    pub fn buffer_len(&self) -> usize {
        table_len(self.entries.len())
    }

    /// Writes header, entries and MD5 to the start of `buffer` and returns how many bytes that
    /// took ([`PartitionTableRepr::buffer_len`]); the rest of `buffer` is untouched (the SDK pads
    /// the sector with 0xFF).
    pub fn emit(&self, buffer: &mut [u8]) -> Result<usize, Error> {
        let need = self.buffer_len();
        let have = buffer.len();
        let target = buffer
            .get_mut(..need)
            .ok_or(Error::Truncated { need, have })?;
        target.fill(0);
        let count = u16::try_from(self.entries.len())
            .map_err(|_| Error::TooManyPartitions(self.entries.len()))?;
        let mut table = PartitionTable::new_unchecked(target);
        table.set_magic(MAGIC);
        table.set_version(VERSION);
        table.set_count(count);
        table.set_option(0);
        for (index, partition) in self.entries.iter().enumerate() {
            let mut raw_name = [0; NAME_LEN];
            text::encode(&partition.name, &mut raw_name);
            table.set_entry_name(index, &raw_name);
            table.set_entry_offset(index, partition.offset);
            table.set_entry_size(index, partition.size);
            table.set_entry_flag(index, partition.flag);
        }
        table.fill_md5();
        Ok(need)
    }

    /// The partition called `name`.
    pub fn find(&self, name: &str) -> Option<&Partition> {
        self.entries.iter().find(|partition| partition.name == name)
    }

    /// All partitions, in table order.
    pub fn entries(&self) -> &[Partition] {
        &self.entries
    }
}

impl fmt::Display for PartitionTableRepr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "partition table: magic 0x{MAGIC:08x}, version {VERSION}, option 0, {} entries",
            self.entries.len()
        )?;
        write!(
            f,
            "  {:<16} {:>10} {:>10} {:>10} {:>10}",
            "name", "offset", "size", "end", "flag"
        )?;
        for partition in &self.entries {
            write!(
                f,
                "\n  {:<16} 0x{:08x} 0x{:08x} 0x{:08x} 0x{:08x}",
                partition.name.as_str(),
                partition.offset,
                partition.size,
                partition.end().unwrap_or(u32::MAX),
                partition.flag
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn emitted(repr: &PartitionTableRepr) -> [u8; 1024] {
        let mut sector = [0xFFu8; 1024];
        assert_eq!(repr.emit(&mut sector), Ok(repr.buffer_len()));
        sector
    }

    fn parse(bytes: &[u8]) -> Result<PartitionTableRepr, Error> {
        PartitionTableRepr::parse(&PartitionTable::new_unchecked(bytes), W800_FLASH_SIZE)
    }

    #[test]
    fn with_ota_has_the_sdk_layout() {
        let table = PartitionTableRepr::with_ota();
        let rows: heapless::Vec<(&str, u32, u32), 8> = table
            .entries()
            .iter()
            .map(|p| (p.name.as_str(), p.offset, p.size))
            .collect();
        assert_eq!(
            rows.as_slice(),
            [
                ("ft", 0x0, 0x2000),
                ("bootloader", 0x2000, 0xC000),
                ("partition_table", 0xE000, 0x1000),
                ("app", 0xF000, 0x12_2000),
                ("app_ota", 0x13_1000, 0xA_F000),
                ("user", 0x1E_0000, 0x2000),
                ("nvs", 0x1F_0000, 0x8000),
            ]
        );
        assert_eq!(table.find("app_ota").map(|p| p.offset), Some(0x13_1000));
        assert_eq!(table.find("nope"), None);
    }

    #[test]
    fn builtin_layouts_emit_and_parse_back_identical() {
        for repr in [
            PartitionTableRepr::with_ota(),
            PartitionTableRepr::normal(),
            PartitionTableRepr::large(),
        ] {
            let sector = emitted(&repr);
            let len = repr.buffer_len();
            assert_eq!(len, table_len(repr.entries().len()));
            assert!(sector[len..].iter().all(|&b| b == 0xFF));
            assert_eq!(parse(&sector), Ok(repr.clone()));
            assert_eq!(parse(&sector[..len]), Ok(repr.clone()));
            assert_eq!(repr.validate(W800_FLASH_SIZE), Ok(()));
        }
        assert_eq!(
            PartitionTableRepr::large().find(APP).map(|p| p.size),
            Some(0x1E_1000)
        );
        assert_eq!(
            PartitionTableRepr::normal().find(APP).map(|p| p.size),
            Some(0x10_0000)
        );
    }

    #[test]
    fn view_reads_the_emitted_fields() {
        let repr = PartitionTableRepr::with_ota();
        let sector = emitted(&repr);
        let table = PartitionTable::new_checked(&sector[..]).unwrap();
        assert_eq!(table.magic(), MAGIC);
        assert_eq!(table.version(), 0);
        assert_eq!(table.count(), 7);
        assert_eq!(table.option(), 0);
        assert_eq!(&table.entry_name(3)[..4], b"app\0");
        assert_eq!(table.entry_offset(3), 0xF000);
        assert_eq!(table.entry_size(3), 0x12_2000);
        assert_eq!(table.entry_flag(3), 0);
        assert_eq!(table.md5_offset(), 12 + 7 * 28);
        assert_eq!(table.md5(), table.compute_md5());
        assert_eq!(table.entry_offset(usize::MAX), 0);
        assert_eq!(table.into_inner().len(), 1024);
    }

    #[test]
    fn every_flipped_byte_is_rejected() {
        let repr = PartitionTableRepr::with_ota();
        let sector = emitted(&repr);
        for at in 0..repr.buffer_len() {
            let mut flipped = sector;
            flipped[at] ^= 0x01;
            assert!(parse(&flipped).is_err(), "flip at {at} accepted");
        }
        let mut flipped = sector;
        flipped[HEADER_LEN + 3 * ENTRY_LEN + field::entry::SIZE] ^= 0x10;
        assert!(matches!(parse(&flipped), Err(Error::Md5Mismatch { .. })));
    }

    #[test]
    fn truncated_buffers_are_rejected() {
        let repr = PartitionTableRepr::with_ota();
        let sector = emitted(&repr);
        for len in 0..repr.buffer_len() {
            let need = if len < HEADER_LEN {
                HEADER_LEN
            } else {
                repr.buffer_len()
            };
            let error = Error::Truncated { need, have: len };
            assert_eq!(parse(&sector[..len]), Err(error.clone()));
            assert_eq!(
                PartitionTable::new_checked(&sector[..len]).map(|_| ()),
                Err(error)
            );
        }
        let mut small = [0u8; 100];
        assert_eq!(
            repr.emit(&mut small),
            Err(Error::Truncated {
                need: repr.buffer_len(),
                have: 100
            })
        );
    }

    /// Emits a table with `rows` without the checks of `push`, as a foreign tool could.
    fn raw_table(rows: &[(&[u8], u32, u32)]) -> [u8; 1024] {
        let mut sector = [0xFFu8; 1024];
        let mut table = PartitionTable::new_unchecked(&mut sector[..]);
        table.set_magic(MAGIC);
        table.set_version(0);
        table.set_count(rows.len() as u16);
        table.set_option(0);
        for (index, &(name, offset, size)) in rows.iter().enumerate() {
            let mut raw_name = [0u8; NAME_LEN];
            for (slot, &byte) in raw_name.iter_mut().zip(name) {
                *slot = byte;
            }
            table.set_entry_name(index, &raw_name);
            table.set_entry_offset(index, offset);
            table.set_entry_size(index, size);
            table.set_entry_flag(index, 0);
        }
        table.fill_md5();
        sector
    }

    #[test]
    fn invalid_entries_are_rejected_even_with_a_good_md5() {
        assert_eq!(
            parse(&raw_table(&[
                (b"app", 0xF000, 0x2000),
                (b"nvs", 0x10000, 0x2000)
            ])),
            Err(Error::Overlap {
                first: PartitionName::try_from("app").unwrap(),
                second: PartitionName::try_from("nvs").unwrap(),
            })
        );
        assert_eq!(
            parse(&raw_table(&[(b"app", 0xF800, 0x1000)])),
            Err(Error::Unaligned {
                name: PartitionName::try_from("app").unwrap(),
                offset: 0xF800,
                size: 0x1000
            })
        );
        assert_eq!(
            parse(&raw_table(&[(b"app", 0xF000, 0x1800)])),
            Err(Error::Unaligned {
                name: PartitionName::try_from("app").unwrap(),
                offset: 0xF000,
                size: 0x1800
            })
        );
        assert_eq!(
            parse(&raw_table(&[(b"app", 0xF000, 0)])),
            Err(Error::EmptyPartition(
                PartitionName::try_from("app").unwrap()
            ))
        );
        assert_eq!(
            parse(&raw_table(&[
                (b"app", 0xF000, 0x1000),
                (b"app", 0x10000, 0x1000)
            ])),
            Err(Error::DuplicateName(
                PartitionName::try_from("app").unwrap()
            ))
        );
        assert_eq!(
            parse(&raw_table(&[(b"nvs", 0xF000, 0x1000)])),
            Err(Error::MissingApp)
        );
        assert_eq!(
            parse(&raw_table(&[(b"app", 0x1F_F000, 0x2000)])),
            Err(Error::OutsideFlash {
                name: PartitionName::try_from("app").unwrap(),
                end: 0x20_1000,
                flash_size: W800_FLASH_SIZE
            })
        );
        assert_eq!(
            parse(&raw_table(&[(b"app", 0xFFFF_F000, 0x2000)])),
            Err(Error::AddressOverflow(
                PartitionName::try_from("app").unwrap()
            ))
        );
        assert_eq!(
            parse(&raw_table(&[(b"app\0x", 0xF000, 0x1000)])),
            Err(Error::BadName(TextError::NotNulPadded { index: 4 }))
        );
        assert_eq!(
            parse(&raw_table(&[(b"", 0xF000, 0x1000)])),
            Err(Error::BadName(TextError::Empty))
        );
        assert_eq!(
            parse(&raw_table(&[(b"a p", 0xF000, 0x1000)])),
            Err(Error::BadName(TextError::BadByte {
                index: 1,
                byte: b' '
            }))
        );
        assert_eq!(
            parse(&raw_table(&[(&[b'n'; 16], 0xF000, 0x1000)])),
            Err(Error::BadName(TextError::TooLong { len: 16, max: 15 }))
        );
    }

    #[test]
    fn too_many_entries_are_rejected() {
        let rows: heapless::Vec<(&[u8], u32, u32), 17> = (0..17u32)
            .map(|i| (&b"abcdefghijklmnopq"[i as usize..][..1], i * 0x1000, 0x1000))
            .collect();
        assert_eq!(parse(&raw_table(&rows)), Err(Error::TooManyPartitions(17)));

        let mut table = PartitionTableRepr::new();
        for i in 0..MAX_PARTITIONS as u32 {
            let name = &"abcdefghijklmnop"[i as usize..][..1];
            table
                .push(Partition::new(name, i * 0x1000, 0x1000).unwrap())
                .unwrap();
        }
        assert_eq!(
            table.push(Partition::new("q", 0x10_0000, 0x1000).unwrap()),
            Err(Error::TooManyPartitions(MAX_PARTITIONS + 1))
        );
    }

    #[test]
    fn header_fields_are_checked() {
        let good = emitted(&PartitionTableRepr::normal());
        let modified = |change: fn(&mut PartitionTable<&mut [u8]>)| {
            let mut sector = good;
            let mut table = PartitionTable::new_unchecked(&mut sector[..]);
            change(&mut table);
            table.fill_md5();
            parse(&sector)
        };
        assert_eq!(
            modified(|t| t.set_magic(0xA1F2_F39E)),
            Err(Error::BadMagic(0xA1F2_F39E))
        );
        assert_eq!(
            modified(|t| t.set_version(1)),
            Err(Error::UnsupportedVersion(1))
        );
        assert_eq!(
            modified(|t| t.set_option(1)),
            Err(Error::UnsupportedOption(1))
        );
        assert_eq!(
            modified(|t| t.set_count(0xFFFF)),
            Err(Error::TooManyPartitions(0xFFFF))
        );
    }

    #[test]
    fn push_checks_like_parse() {
        let mut table = PartitionTableRepr::with_ota();
        assert_eq!(
            table.push(Partition::new("extra", 0x1E_1000, 0x1000).unwrap()),
            Err(Error::Overlap {
                first: PartitionName::try_from("user").unwrap(),
                second: PartitionName::try_from("extra").unwrap(),
            })
        );
        assert_eq!(
            table.push(Partition::new("extra", 0x1E_2800, 0x1000).unwrap()),
            Err(Error::Unaligned {
                name: PartitionName::try_from("extra").unwrap(),
                offset: 0x1E_2800,
                size: 0x1000
            })
        );
        assert_eq!(
            Partition::new("sixteen_chars_xx", 0, 0x1000),
            Err(Error::BadName(TextError::TooLong { len: 16, max: 15 }))
        );
        assert_eq!(
            Partition::new("", 0, 0x1000),
            Err(Error::BadName(TextError::Empty))
        );
        assert_eq!(
            table.push(Partition::new("extra", 0x1E_2000, 0x1000).unwrap()),
            Ok(())
        );
        assert_eq!(table.entries().len(), 8);
        assert_eq!(table.validate(W800_FLASH_SIZE), Ok(()));
        assert_eq!(
            table.validate(0x10_0000),
            Err(Error::OutsideFlash {
                name: PartitionName::try_from("app").unwrap(),
                end: 0x13_1000,
                flash_size: 0x10_0000
            })
        );
        assert_eq!(
            PartitionTableRepr::new().validate(W800_FLASH_SIZE),
            Err(Error::MissingApp)
        );
    }
}
