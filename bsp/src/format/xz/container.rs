//! The xz container around the LZMA2 data: stream header and footer, block headers and the
//! index, each parsed as its bytes arrive (xz file format specification 1.0.4).

use super::{Error, CHECK_CRC32, CHECK_NONE};
use crate::format::bytes::{get_array, get_u32};
use crate::format::crc::{jamcrc, JamCrc};

/// Section 2.1.1.1: the stream header magic bytes.
const HEADER_MAGIC: [u8; 6] = [0xFD, b'7', b'z', b'X', b'Z', 0x00];
/// Section 2.1.2.4: the stream footer magic bytes.
const FOOTER_MAGIC: [u8; 2] = [b'Y', b'Z'];
/// Sections 2.1.1 and 2.1.2: stream header and footer are both 12 bytes.
pub(super) const STREAM_HEADER_LEN: usize = 12;
pub(super) const STREAM_FOOTER_LEN: usize = 12;
/// Section 3.1.1: a block header size byte of zero is the index indicator instead.
pub(super) const INDEX_INDICATOR: u8 = 0x00;
/// Section 5.3.1: the LZMA2 filter ID.
const FILTER_LZMA2: u64 = 0x21;
/// Section 3.1.2: block flag bits.
const BLOCK_FLAGS_FILTER_COUNT: u8 = 0x03;
const BLOCK_FLAGS_RESERVED: u8 = 0x3C;
const BLOCK_FLAGS_COMPRESSED_SIZE: u8 = 0x40;
const BLOCK_FLAGS_UNCOMPRESSED_SIZE: u8 = 0x80;

/// The standard CRC32 of the xz format (section 6): JAMCRC with the final inversion.
fn crc32_of(crc: &JamCrc) -> u32 {
    !crc.value()
}

/// Section 2.1.1.2, the integrity check types this decoder supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Check {
    None,
    Crc32,
}

impl Check {
    /// Size of the check field after each block (section 3.4).
    pub(super) fn len(self) -> usize {
        match self {
            Check::None => 0,
            Check::Crc32 => 4,
        }
    }
}

/// Section 2.1.1: magic, stream flags (a zero byte, then reserved bits and the check type in
/// the low nibble), CRC32 of the flags. Returns the flags and the check ID, whichever check
/// type it names (section 2.1.1.2 defines 0x00, 0x01, 0x04 and 0x0A).
pub(super) fn parse_stream_flags(header: &[u8]) -> Result<([u8; 2], u8), Error> {
    if get_array::<6>(header, 0) != HEADER_MAGIC {
        return Err(Error::StreamMagic);
    }
    let flags = get_array::<2>(header, 6);
    let stored = get_u32(header, 8);
    let computed = !jamcrc(&flags);
    if stored != computed {
        return Err(Error::StreamHeaderCrc { stored, computed });
    }
    match flags {
        [0x00, check] if check & 0xF0 == 0 => Ok((flags, check)),
        _ => Err(Error::StreamFlags { flags }),
    }
}

/// [`parse_stream_flags`], then the check type, which must be one this decoder supports.
pub(super) fn parse_stream_header(header: &[u8]) -> Result<([u8; 2], Check), Error> {
    let (flags, check) = parse_stream_flags(header)?;
    let check = match check {
        CHECK_NONE => Check::None,
        CHECK_CRC32 => Check::Crc32,
        check => return Err(Error::UnsupportedCheck { check }),
    };
    Ok((flags, check))
}

/// Section 2.1.2: CRC32 of the next 6 bytes, backward size (the index size / 4 - 1), the
/// stream flags again, magic. `index_len` is the size of the index that was read.
pub(super) fn check_stream_footer(
    footer: &[u8],
    flags: [u8; 2],
    index_len: u64,
) -> Result<(), Error> {
    if get_array::<2>(footer, 10) != FOOTER_MAGIC {
        return Err(Error::FooterMagic);
    }
    let stored = get_u32(footer, 0);
    let computed = !jamcrc(&get_array::<6>(footer, 4));
    if stored != computed {
        return Err(Error::FooterCrc { stored, computed });
    }
    if get_array::<2>(footer, 8) != flags {
        return Err(Error::FooterFlags);
    }
    let declared = (u64::from(get_u32(footer, 4)) + 1) * 4;
    if declared != index_len {
        return Err(Error::BackwardSize {
            declared,
            actual: index_len,
        });
    }
    Ok(())
}

/// Section 5.3.1: the LZMA2 dictionary size property, 2 or 3 times a power of two from 4 KiB
/// (even and odd values), with 40 meaning 4 GiB - 1.
pub(super) fn dictionary_size(props: u8) -> Result<u32, Error> {
    match props {
        0..=39 => Ok((2 | u32::from(props & 1)) << (props / 2 + 11)),
        40 => Ok(u32::MAX),
        _ => Err(Error::DictionaryProperty { props }),
    }
}

/// Section 1.2: a multibyte integer arriving a byte at a time: 7 bits per byte, least
/// significant first, the high bit set on all but the last byte, at most 9 bytes, and no
/// superfluous final zero byte.
#[derive(Debug, Clone, Copy, Default)]
struct VarInt {
    value: u64,
    shift: u32,
}

impl VarInt {
    /// Takes the next byte; returns the integer after its last byte, or `invalid` if the
    /// encoding breaks the rules above.
    fn feed(&mut self, byte: u8, invalid: Error) -> Result<Option<u64>, Error> {
        if self.shift > 56 || (byte == 0x00 && self.shift > 0) {
            return Err(invalid);
        }
        self.value |= u64::from(byte & 0x7F) << self.shift;
        if byte & 0x80 != 0 {
            self.shift += 7;
            return Ok(None);
        }
        let value = self.value;
        *self = VarInt::default();
        Ok(Some(value))
    }
}

/// A stored 32-bit little-endian CRC arriving a byte at a time.
#[derive(Debug, Clone, Copy, Default)]
struct StoredCrc {
    value: u32,
    len: u32,
}

impl StoredCrc {
    /// Takes the next byte; returns the value after the fourth.
    fn feed(&mut self, byte: u8) -> Option<u32> {
        self.value |= u32::from(byte) << (8 * self.len);
        self.len += 1;
        (self.len == 4).then_some(self.value)
    }
}

/// What a block header says about its block.
#[derive(Debug, Clone, Copy)]
pub(super) struct BlockHeader {
    /// Size of the header itself in bytes.
    pub(super) len: u64,
    /// Compressed size (section 3.1.3), if stored.
    pub(super) compressed: Option<u64>,
    /// Uncompressed size (section 3.1.4), if stored.
    pub(super) uncompressed: Option<u64>,
    /// LZMA2 dictionary size property.
    pub(super) dictionary: u8,
}

/// The block header field being read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HeaderField {
    Flags,
    CompressedSize,
    UncompressedSize,
    FilterId,
    PropertiesSize,
    Properties,
    Padding,
    Crc,
}

/// Section 3.1: a block header, parsed as it arrives. Field errors are reported when seen; the
/// CRC32 is checked at the end.
#[derive(Debug, Clone, Copy)]
pub(super) struct BlockHeaderReader {
    header: BlockHeader,
    /// Bytes before the CRC32 still to come.
    body_left: u64,
    crc: JamCrc,
    field: HeaderField,
    flags: u8,
    varint: VarInt,
    stored: StoredCrc,
}

impl BlockHeaderReader {
    /// Starts a header whose size byte (section 3.1.1, not zero) was `size_byte`.
    pub(super) fn new(size_byte: u8) -> Self {
        let len = (u64::from(size_byte) + 1) * 4;
        let mut crc = JamCrc::new();
        crc.update(&[size_byte]);
        BlockHeaderReader {
            header: BlockHeader {
                len,
                compressed: None,
                uncompressed: None,
                dictionary: 0,
            },
            // The size byte is read, the CRC32 is not part of the body.
            body_left: len - 1 - 4,
            crc,
            field: HeaderField::Flags,
            flags: 0,
            varint: VarInt::default(),
            stored: StoredCrc::default(),
        }
    }

    /// Takes the next header byte; returns the header after its CRC32 has been checked.
    pub(super) fn feed(&mut self, byte: u8) -> Result<Option<BlockHeader>, Error> {
        if self.field == HeaderField::Crc {
            let Some(stored) = self.stored.feed(byte) else {
                return Ok(None);
            };
            let computed = crc32_of(&self.crc);
            if stored != computed {
                return Err(Error::BlockHeaderCrc { stored, computed });
            }
            return Ok(Some(self.header));
        }

        self.crc.update(&[byte]);
        self.body_left -= 1;
        let malformed = |reason| Error::BlockHeader { reason };
        let bad_integer = malformed("invalid integer");
        match self.field {
            HeaderField::Flags => {
                if byte & BLOCK_FLAGS_RESERVED != 0 {
                    return Err(malformed("reserved flag bits set"));
                }
                self.flags = byte;
                self.field = self.field_after_flags();
            }
            HeaderField::CompressedSize => {
                if let Some(size) = self.varint.feed(byte, bad_integer)? {
                    self.header.compressed = Some(size);
                    self.field = if self.flags & BLOCK_FLAGS_UNCOMPRESSED_SIZE != 0 {
                        HeaderField::UncompressedSize
                    } else {
                        HeaderField::FilterId
                    };
                }
            }
            HeaderField::UncompressedSize => {
                if let Some(size) = self.varint.feed(byte, bad_integer)? {
                    self.header.uncompressed = Some(size);
                    self.field = HeaderField::FilterId;
                }
            }
            HeaderField::FilterId => {
                if let Some(id) = self.varint.feed(byte, bad_integer)? {
                    if id != FILTER_LZMA2 {
                        return Err(Error::UnsupportedFilter { id });
                    }
                    // LZMA2 may only be the last filter, so it must be the only one.
                    if self.flags & BLOCK_FLAGS_FILTER_COUNT != 0 {
                        return Err(malformed("LZMA2 is not the last filter"));
                    }
                    self.field = HeaderField::PropertiesSize;
                }
            }
            HeaderField::PropertiesSize => {
                if let Some(size) = self.varint.feed(byte, bad_integer)? {
                    if size != 1 {
                        return Err(malformed("LZMA2 properties are not one byte"));
                    }
                    self.field = HeaderField::Properties;
                }
            }
            HeaderField::Properties => {
                self.header.dictionary = byte;
                self.field = HeaderField::Padding;
            }
            HeaderField::Padding => {
                if byte != 0x00 {
                    return Err(malformed("non-zero header padding"));
                }
            }
            HeaderField::Crc => {}
        }
        if self.body_left == 0 {
            if self.field != HeaderField::Padding {
                return Err(malformed("fields do not fit the header size"));
            }
            self.field = HeaderField::Crc;
        }
        Ok(None)
    }

    fn field_after_flags(&self) -> HeaderField {
        if self.flags & BLOCK_FLAGS_COMPRESSED_SIZE != 0 {
            HeaderField::CompressedSize
        } else if self.flags & BLOCK_FLAGS_UNCOMPRESSED_SIZE != 0 {
            HeaderField::UncompressedSize
        } else {
            HeaderField::FilterId
        }
    }
}

/// The blocks of a stream, summarised so that the index can be checked against them without
/// storing a list: their number and a CRC over each block's (unpadded size, uncompressed size).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Records {
    count: u64,
    hash: JamCrc,
}

impl Records {
    pub(super) const fn new() -> Self {
        Records {
            count: 0,
            hash: JamCrc::new(),
        }
    }

    /// Adds a block of `unpadded` bytes (header, compressed data and check, section 4.3.1)
    /// that decompressed to `uncompressed` bytes.
    pub(super) fn add(&mut self, unpadded: u64, uncompressed: u64) {
        self.count += 1;
        self.hash.update(&unpadded.to_le_bytes());
        self.hash.update(&uncompressed.to_le_bytes());
    }
}

/// The index field being read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum IndexField {
    Count,
    Unpadded,
    Uncompressed,
    Padding,
    Crc,
}

/// Section 4: the index (indicator, number of records, the records, padding to a multiple of
/// 4 bytes, CRC32), parsed as it arrives and compared with the blocks that were decoded.
#[derive(Debug, Clone, Copy)]
pub(super) struct IndexReader {
    crc: JamCrc,
    /// Bytes read so far, the indicator included.
    len: u64,
    field: IndexField,
    varint: VarInt,
    records_left: u64,
    unpadded: u64,
    records: Records,
    stored: StoredCrc,
}

impl IndexReader {
    /// Starts the index after its indicator byte.
    pub(super) fn new() -> Self {
        let mut crc = JamCrc::new();
        crc.update(&[INDEX_INDICATOR]);
        IndexReader {
            crc,
            len: 1,
            field: IndexField::Count,
            varint: VarInt::default(),
            records_left: 0,
            unpadded: 0,
            records: Records::new(),
            stored: StoredCrc::default(),
        }
    }

    /// Takes the next index byte; returns the size of the whole index after its CRC32 has been
    /// checked. `blocks` are the blocks decoded before it.
    pub(super) fn feed(&mut self, byte: u8, blocks: &Records) -> Result<Option<u64>, Error> {
        self.len += 1;
        if self.field == IndexField::Crc {
            let Some(stored) = self.stored.feed(byte) else {
                return Ok(None);
            };
            let computed = crc32_of(&self.crc);
            if stored != computed {
                return Err(Error::IndexCrc { stored, computed });
            }
            return Ok(Some(self.len));
        }

        self.crc.update(&[byte]);
        match self.field {
            IndexField::Count => {
                if let Some(count) = self.varint.feed(byte, Error::IndexFormat)? {
                    if count != blocks.count {
                        return Err(Error::IndexRecords);
                    }
                    self.records_left = count;
                    self.field = IndexField::Unpadded;
                }
            }
            IndexField::Unpadded => {
                if let Some(size) = self.varint.feed(byte, Error::IndexFormat)? {
                    self.unpadded = size;
                    self.field = IndexField::Uncompressed;
                }
            }
            IndexField::Uncompressed => {
                if let Some(size) = self.varint.feed(byte, Error::IndexFormat)? {
                    self.records.add(self.unpadded, size);
                    self.records_left -= 1;
                    self.field = IndexField::Unpadded;
                }
            }
            IndexField::Padding => {
                if byte != 0x00 {
                    return Err(Error::IndexFormat);
                }
            }
            IndexField::Crc => {}
        }
        if self.field == IndexField::Unpadded && self.records_left == 0 {
            if self.records != *blocks {
                return Err(Error::IndexRecords);
            }
            self.field = IndexField::Padding;
        }
        if self.field == IndexField::Padding && self.len.is_multiple_of(4) {
            self.field = IndexField::Crc;
        }
        Ok(None)
    }
}
