//! The 64-byte W800 image header (`wm_ota_header_t`).
//!
//! Source: docs/w800.md, "Image header" (field table, `img_attr` bits), "Checksum" and "Image
//! files" (how the SDK builds `.img` and `_ota.img` files). Every
//! image the ROM, the bootloader or the OTA code handles starts with this header: the field
//! table is below in [`field`]; all integers are little endian.
//!
//! [`ImageHeader`] is a view over raw bytes with one accessor per field; [`ImageHeaderRepr`] is
//! the validated, decoded form.

use core::fmt;

use super::bytes::{get_array, get_u32, put_bytes, put_u32};
use super::crc::jamcrc;
use super::text::{self, TextError};

/// Size of the header in bytes (`OTA_FW_HEADER_SIZE_IN_BIN`).
pub const HEADER_LEN: usize = 64;

/// `magic_no` of every image header.
pub const MAGIC: u32 = 0xA0FF_FF9F;

/// Where the flash is mapped for execute-in-place; header and run addresses are
/// `FLASH_BASE + flash offset` (docs/w800.md, "Memory map" and "Image files").
pub const FLASH_BASE: u32 = 0x0800_0000;

/// Space reserved for the header at the start of an app partition: the body runs at the header
/// address + `HEADER_AREA` (`CONFIG_BIN_APP_HEADER_ADDRESS_SIZE`, docs/w800.md, "Image files").
pub const HEADER_AREA: u32 = 0x400;

/// Size of the `ver` field.
pub const VERSION_LEN: usize = 16;

/// Size of the RSA signature that follows the body when the `signature` bit of `img_attr` is
/// set (docs/w800.md, "Image header").
pub const SIGNATURE_LEN: usize = 128;

/// Byte offsets of the header fields (docs/w800.md, "Image header").
pub mod field {
    /// `magic_no`, u32.
    pub const MAGIC_NO: usize = 0x00;
    /// `img_attr`, u32 bit field, see [`super::ImageAttr`].
    pub const IMG_ATTR: usize = 0x04;
    /// `img_addr`, u32: run address of the body.
    pub const IMG_ADDR: usize = 0x08;
    /// `img_len`, u32: body length in bytes.
    pub const IMG_LEN: usize = 0x0C;
    /// `img_header_addr`, u32: where this header lives.
    pub const IMG_HEADER_ADDR: usize = 0x10;
    /// `upgrade_img_addr`, u32: address of the upgrade area (app_ota).
    pub const UPGRADE_IMG_ADDR: usize = 0x14;
    /// `org_checksum`, u32: JAMCRC of the body.
    pub const ORG_CHECKSUM: usize = 0x18;
    /// `upd_no`, u32: upgrade number, larger is newer.
    pub const UPD_NO: usize = 0x1C;
    /// `ver`, 16 bytes: NUL-padded version string.
    pub const VER: usize = 0x20;
    /// Bootloader flags, u32 bit field, see [`super::BootloaderFlags`].
    pub const BOOTLOADER_FLAGS: usize = 0x30;
    /// `_reserved1`, u32, always 0.
    pub const RESERVED1: usize = 0x34;
    /// `next`, u32: address of a following header, 0 for none.
    pub const NEXT: usize = 0x38;
    /// `hd_checksum`, u32: JAMCRC of bytes `0..HD_CHECKSUM`.
    pub const HD_CHECKSUM: usize = 0x3C;
}

/// Why an image header or body was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// The buffer holds `have` bytes where `need` are required.
    Truncated { need: usize, have: usize },
    /// `magic_no` is not [`MAGIC`].
    BadMagic(u32),
    /// `hd_checksum` does not match the JAMCRC of the first 60 bytes.
    HeaderChecksum { stored: u32, computed: u32 },
    /// `img_type` is not one of [`ImageType`].
    UnknownImageType(u8),
    /// `compress_type` is not one of [`CompressType`].
    UnknownCompression(u8),
    /// The gzip bit is set; the SDK does not support gzip images.
    GzipUnsupported,
    /// Bits that the format reserves are set in `field`.
    ReservedBits { field: &'static str, value: u32 },
    /// The `ver` field (or a version string) is invalid.
    BadVersion(TextError),
    /// `img_len` is not a multiple of 4.
    UnalignedLength(u32),
    /// A body has `actual` bytes, the header says `expected`.
    BodyLength { expected: u32, actual: usize },
    /// The body's JAMCRC does not match `org_checksum`.
    BodyChecksum { stored: u32, computed: u32 },
    /// A flash offset does not map to a 32-bit address.
    AddressOverflow { offset: u32 },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Error::Truncated { need, have } => {
                write!(f, "image header truncated: {have} bytes, need {need}")
            }
            Error::BadMagic(magic) => {
                write!(f, "bad image magic 0x{magic:08x}, expected 0x{MAGIC:08x}")
            }
            Error::HeaderChecksum { stored, computed } => write!(
                f,
                "image header checksum mismatch: stored 0x{stored:08x}, computed 0x{computed:08x}"
            ),
            Error::UnknownImageType(kind) => write!(f, "unknown image type 0x{kind:x}"),
            Error::UnknownCompression(kind) => write!(f, "unknown compression type {kind}"),
            Error::GzipUnsupported => write!(f, "gzip images are not supported"),
            Error::ReservedBits { field, value } => {
                write!(f, "reserved bits set in {field}: 0x{value:08x}")
            }
            Error::BadVersion(error) => write!(f, "bad version string: {error}"),
            Error::UnalignedLength(len) => {
                write!(f, "image length 0x{len:x} is not a multiple of 4")
            }
            Error::BodyLength { expected, actual } => write!(
                f,
                "image body is {actual} bytes, the header says {expected}"
            ),
            Error::BodyChecksum { stored, computed } => write!(
                f,
                "image body checksum mismatch: stored 0x{stored:08x}, computed 0x{computed:08x}"
            ),
            Error::AddressOverflow { offset } => {
                write!(f, "flash offset 0x{offset:x} has no 32-bit address")
            }
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for Error {}

/// `img_attr` bits `[3:0]`: what kind of image this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum ImageType {
    /// The second-stage bootloader.
    Bootloader = 0,
    /// An application (`.img`, `_ota.img`).
    User = 1,
    /// The partition-table image.
    PartitionTable = 2,
    /// The factory-test image.
    FactoryTest = 0xE,
}

impl TryFrom<u8> for ImageType {
    type Error = Error;

    fn try_from(bits: u8) -> Result<Self, Error> {
        match bits {
            0 => Ok(ImageType::Bootloader),
            1 => Ok(ImageType::User),
            2 => Ok(ImageType::PartitionTable),
            0xE => Ok(ImageType::FactoryTest),
            other => Err(Error::UnknownImageType(other)),
        }
    }
}

impl fmt::Display for ImageType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ImageType::Bootloader => "bootloader",
            ImageType::User => "user",
            ImageType::PartitionTable => "partition table",
            ImageType::FactoryTest => "factory test",
        })
    }
}

/// `img_attr` bits `[21:20]`: how the body is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum CompressType {
    /// The body is the raw image.
    None = 0,
    /// The body is an xz stream of a complete inner image (its header included); docs/w800.md,
    /// "Image files".
    Xz = 1,
}

impl TryFrom<u8> for CompressType {
    type Error = Error;

    fn try_from(bits: u8) -> Result<Self, Error> {
        match bits {
            0 => Ok(CompressType::None),
            1 => Ok(CompressType::Xz),
            other => Err(Error::UnknownCompression(other)),
        }
    }
}

impl fmt::Display for CompressType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CompressType::None => "none",
            CompressType::Xz => "xz",
        })
    }
}

/// The `img_attr` bit field (docs/w800.md, "Image header"; the SDK header file, not the docs'
/// table, is the authority, which is why `psram_io` is here).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ImageAttr(pub u32);

impl ImageAttr {
    const IMG_TYPE_MASK: u32 = 0xF;
    const CODE_ENCRYPT: u32 = 1 << 4;
    const PRIKEY_SEL_SHIFT: u32 = 5;
    const PRIKEY_SEL_MASK: u32 = 0x7;
    const SIGNATURE: u32 = 1 << 8;
    const GZIP: u32 = 1 << 16;
    const PSRAM_IO: u32 = 1 << 17;
    const ERASE_BLOCK_EN: u32 = 1 << 18;
    const ERASE_ALWAYS: u32 = 1 << 19;
    const COMPRESS_SHIFT: u32 = 20;
    const COMPRESS_MASK: u32 = 0x3;
    /// Bits `[15:9]` and `[31:22]`.
    const RESERVED: u32 = 0xFFC0_FE00;

    /// Attributes with the given type and compression and every flag clear.
    pub const fn new(img_type: ImageType, compress: CompressType) -> Self {
        ImageAttr(0)
            .with_img_type(img_type)
            .with_compress_type(compress)
    }

    /// The same attributes with `img_type` replaced.
    pub const fn with_img_type(self, img_type: ImageType) -> Self {
        ImageAttr((self.0 & !Self::IMG_TYPE_MASK) | img_type as u32)
    }

    /// The same attributes with `compress_type` replaced.
    pub const fn with_compress_type(self, compress: CompressType) -> Self {
        let cleared = self.0 & !(Self::COMPRESS_MASK << Self::COMPRESS_SHIFT);
        ImageAttr(cleared | (compress as u32) << Self::COMPRESS_SHIFT)
    }

    /// Bits `[3:0]`, undecoded.
    pub const fn img_type_bits(self) -> u8 {
        (self.0 & Self::IMG_TYPE_MASK) as u8
    }

    /// Bits `[3:0]`, decoded.
    pub fn img_type(self) -> Result<ImageType, Error> {
        ImageType::try_from(self.img_type_bits())
    }

    /// Bit `[4]`: the body is encrypted.
    pub const fn code_encrypt(self) -> bool {
        self.0 & Self::CODE_ENCRYPT != 0
    }

    /// Bits `[7:5]`: which private key the body is encrypted/signed with.
    pub const fn prikey_sel(self) -> u8 {
        ((self.0 >> Self::PRIKEY_SEL_SHIFT) & Self::PRIKEY_SEL_MASK) as u8
    }

    /// Bit `[8]`: a [`SIGNATURE_LEN`]-byte signature follows the body.
    pub const fn signature(self) -> bool {
        self.0 & Self::SIGNATURE != 0
    }

    /// Bit `[16]`: gzip compression, which the SDK does not support.
    pub const fn gzip(self) -> bool {
        self.0 & Self::GZIP != 0
    }

    /// Bit `[17]`: PSRAM IO.
    pub const fn psram_io(self) -> bool {
        self.0 & Self::PSRAM_IO != 0
    }

    /// Bit `[18]`: 64 KB block erase allowed while installing.
    pub const fn erase_block_en(self) -> bool {
        self.0 & Self::ERASE_BLOCK_EN != 0
    }

    /// Bit `[19]`: always erase before writing.
    pub const fn erase_always(self) -> bool {
        self.0 & Self::ERASE_ALWAYS != 0
    }

    /// Bits `[21:20]`, undecoded.
    pub const fn compress_type_bits(self) -> u8 {
        ((self.0 >> Self::COMPRESS_SHIFT) & Self::COMPRESS_MASK) as u8
    }

    /// Bits `[21:20]`, decoded.
    pub fn compress_type(self) -> Result<CompressType, Error> {
        CompressType::try_from(self.compress_type_bits())
    }

    /// The reserved bits that are set (0 for a valid header).
    pub const fn reserved_bits(self) -> u32 {
        self.0 & Self::RESERVED
    }

    /// Accepts the attributes the SDK can produce: a known image type and compression, gzip
    /// clear, reserved bits clear.
    pub fn validate(self) -> Result<(), Error> {
        self.img_type()?;
        self.compress_type()?;
        if self.gzip() {
            return Err(Error::GzipUnsupported);
        }
        if self.reserved_bits() != 0 {
            return Err(Error::ReservedBits {
                field: "img_attr",
                value: self.reserved_bits(),
            });
        }
        Ok(())
    }
}

impl fmt::Display for ImageAttr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{:08x} (img_type ", self.0)?;
        match self.img_type() {
            Ok(kind) => write!(f, "{kind}")?,
            Err(_) => write!(f, "unknown 0x{:x}", self.img_type_bits())?,
        }
        write!(f, ", compress_type ")?;
        match self.compress_type() {
            Ok(kind) => write!(f, "{kind}")?,
            Err(_) => write!(f, "unknown {}", self.compress_type_bits())?,
        }
        write!(
            f,
            ", code_encrypt {}, prikey_sel {}, signature {}, gzip {}, psram_io {}, \
             erase_block_en {}, erase_always {}, reserved 0x{:08x})",
            u8::from(self.code_encrypt()),
            self.prikey_sel(),
            u8::from(self.signature()),
            u8::from(self.gzip()),
            u8::from(self.psram_io()),
            u8::from(self.erase_block_en()),
            u8::from(self.erase_always()),
            self.reserved_bits(),
        )
    }
}

/// The bootloader flags word at 0x30 (docs/w800.md, "Image header").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct BootloaderFlags(pub u32);

impl BootloaderFlags {
    const LOG_LEVEL_MASK: u32 = 0x7;
    const SKIP_ESC_CHECK: u32 = 1 << 3;
    const SKIP_UPGRADE_CHECK: u32 = 1 << 4;
    const SKIP_INTEGRITY_CHECK: u32 = 1 << 5;
    /// Bits `[31:6]` (`reserved0`).
    const RESERVED: u32 = !0x3F;

    /// Bits `[2:0]`: the bootloader's log level.
    pub const fn log_level(self) -> u8 {
        (self.0 & Self::LOG_LEVEL_MASK) as u8
    }

    /// Bit `[3]`: do not wait for ESC on the UART.
    pub const fn skip_esc_check(self) -> bool {
        self.0 & Self::SKIP_ESC_CHECK != 0
    }

    /// Bit `[4]`: do not look for an upgrade in app_ota.
    pub const fn skip_upgrade_check(self) -> bool {
        self.0 & Self::SKIP_UPGRADE_CHECK != 0
    }

    /// Bit `[5]`: do not verify the app before jumping to it.
    pub const fn skip_integrity_check(self) -> bool {
        self.0 & Self::SKIP_INTEGRITY_CHECK != 0
    }

    /// The reserved bits that are set (0 for a valid header).
    pub const fn reserved_bits(self) -> u32 {
        self.0 & Self::RESERVED
    }
}

impl fmt::Display for BootloaderFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "0x{:08x} (log_level {}, skip_esc_check {}, skip_upgrade_check {}, \
             skip_integrity_check {}, reserved 0x{:08x})",
            self.0,
            self.log_level(),
            u8::from(self.skip_esc_check()),
            u8::from(self.skip_upgrade_check()),
            u8::from(self.skip_integrity_check()),
            self.reserved_bits(),
        )
    }
}

/// The `ver` field: at most 15 printable ASCII characters, NUL-padded to 16 bytes
/// (`CONFIG_BUILD_VERSION`, e.g. "2.3-alpha.2").
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Version {
    field: [u8; VERSION_LEN],
}

impl Version {
    /// Checks `text` (≤ 15 characters, printable ASCII) and pads it.
    pub fn new(text: &str) -> Result<Self, Error> {
        text::check(text, VERSION_LEN, text::is_printable).map_err(Error::BadVersion)?;
        let mut field = [0; VERSION_LEN];
        text::encode(text, &mut field);
        Ok(Version { field })
    }

    /// Decodes a raw `ver` field; it must be NUL-padded printable ASCII.
    pub fn from_field(field: [u8; VERSION_LEN]) -> Result<Self, Error> {
        text::decode(&field, text::is_printable).map_err(Error::BadVersion)?;
        Ok(Version { field })
    }

    /// The version text, without padding.
    pub fn as_str(&self) -> &str {
        // The field was validated on construction, so decoding cannot fail.
        text::decode(&self.field, text::is_printable).unwrap_or_default()
    }

    /// The raw 16-byte field.
    pub fn as_field(&self) -> &[u8; VERSION_LEN] {
        &self.field
    }
}

impl fmt::Debug for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Version").field(&self.as_str()).finish()
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A view of an image header in a byte buffer.
///
/// Accessors never panic: on a buffer shorter than [`HEADER_LEN`] (only possible through
/// [`ImageHeader::new_unchecked`]) reads of missing fields return 0 and writes are dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageHeader<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> ImageHeader<T> {
    /// Wraps `buffer` without checking its length.
    pub const fn new_unchecked(buffer: T) -> Self {
        ImageHeader { buffer }
    }

    /// Wraps `buffer` after checking that it holds a whole header.
    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        let header = Self::new_unchecked(buffer);
        header.check_len()?;
        Ok(header)
    }

    /// Fails with [`Error::Truncated`] if the buffer is shorter than [`HEADER_LEN`].
    pub fn check_len(&self) -> Result<(), Error> {
        let have = self.buffer.as_ref().len();
        if have < HEADER_LEN {
            return Err(Error::Truncated {
                need: HEADER_LEN,
                have,
            });
        }
        Ok(())
    }

    /// Gives the buffer back.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    fn u32_at(&self, at: usize) -> u32 {
        get_u32(self.buffer.as_ref(), at)
    }

    /// `magic_no`.
    pub fn magic_no(&self) -> u32 {
        self.u32_at(field::MAGIC_NO)
    }

    /// `img_attr`.
    pub fn img_attr(&self) -> ImageAttr {
        ImageAttr(self.u32_at(field::IMG_ATTR))
    }

    /// `img_addr`: run address of the body.
    pub fn img_addr(&self) -> u32 {
        self.u32_at(field::IMG_ADDR)
    }

    /// `img_len`: body length.
    pub fn img_len(&self) -> u32 {
        self.u32_at(field::IMG_LEN)
    }

    /// `img_header_addr`: address of this header.
    pub fn img_header_addr(&self) -> u32 {
        self.u32_at(field::IMG_HEADER_ADDR)
    }

    /// `upgrade_img_addr`: address of the upgrade area.
    pub fn upgrade_img_addr(&self) -> u32 {
        self.u32_at(field::UPGRADE_IMG_ADDR)
    }

    /// `org_checksum`: JAMCRC of the body.
    pub fn org_checksum(&self) -> u32 {
        self.u32_at(field::ORG_CHECKSUM)
    }

    /// `upd_no`.
    pub fn upd_no(&self) -> u32 {
        self.u32_at(field::UPD_NO)
    }

    /// The raw `ver` field.
    pub fn ver(&self) -> [u8; VERSION_LEN] {
        get_array(self.buffer.as_ref(), field::VER)
    }

    /// The bootloader flags word.
    pub fn bootloader_flags(&self) -> BootloaderFlags {
        BootloaderFlags(self.u32_at(field::BOOTLOADER_FLAGS))
    }

    /// `_reserved1`.
    pub fn reserved1(&self) -> u32 {
        self.u32_at(field::RESERVED1)
    }

    /// `next`: address of a following header.
    pub fn next(&self) -> u32 {
        self.u32_at(field::NEXT)
    }

    /// `hd_checksum` as stored.
    pub fn hd_checksum(&self) -> u32 {
        self.u32_at(field::HD_CHECKSUM)
    }

    /// JAMCRC of bytes `0x00..0x3C`, what `hd_checksum` should be. On a truncated buffer it
    /// covers the bytes present.
    pub fn compute_hd_checksum(&self) -> u32 {
        let data = self.buffer.as_ref();
        jamcrc(data.get(..field::HD_CHECKSUM).unwrap_or(data))
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> ImageHeader<T> {
    fn set_u32_at(&mut self, at: usize, value: u32) {
        put_u32(self.buffer.as_mut(), at, value);
    }

    /// Sets `magic_no`.
    pub fn set_magic_no(&mut self, value: u32) {
        self.set_u32_at(field::MAGIC_NO, value);
    }

    /// Sets `img_attr`.
    pub fn set_img_attr(&mut self, value: ImageAttr) {
        self.set_u32_at(field::IMG_ATTR, value.0);
    }

    /// Sets `img_addr`.
    pub fn set_img_addr(&mut self, value: u32) {
        self.set_u32_at(field::IMG_ADDR, value);
    }

    /// Sets `img_len`.
    pub fn set_img_len(&mut self, value: u32) {
        self.set_u32_at(field::IMG_LEN, value);
    }

    /// Sets `img_header_addr`.
    pub fn set_img_header_addr(&mut self, value: u32) {
        self.set_u32_at(field::IMG_HEADER_ADDR, value);
    }

    /// Sets `upgrade_img_addr`.
    pub fn set_upgrade_img_addr(&mut self, value: u32) {
        self.set_u32_at(field::UPGRADE_IMG_ADDR, value);
    }

    /// Sets `org_checksum`.
    pub fn set_org_checksum(&mut self, value: u32) {
        self.set_u32_at(field::ORG_CHECKSUM, value);
    }

    /// Sets `upd_no`.
    pub fn set_upd_no(&mut self, value: u32) {
        self.set_u32_at(field::UPD_NO, value);
    }

    /// Sets the raw `ver` field.
    pub fn set_ver(&mut self, value: &[u8; VERSION_LEN]) {
        put_bytes(self.buffer.as_mut(), field::VER, value);
    }

    /// Sets the bootloader flags word.
    pub fn set_bootloader_flags(&mut self, value: BootloaderFlags) {
        self.set_u32_at(field::BOOTLOADER_FLAGS, value.0);
    }

    /// Sets `_reserved1`.
    pub fn set_reserved1(&mut self, value: u32) {
        self.set_u32_at(field::RESERVED1, value);
    }

    /// Sets `next`.
    pub fn set_next(&mut self, value: u32) {
        self.set_u32_at(field::NEXT, value);
    }

    /// Sets `hd_checksum`.
    pub fn set_hd_checksum(&mut self, value: u32) {
        self.set_u32_at(field::HD_CHECKSUM, value);
    }

    /// Sets `hd_checksum` to the checksum of the other fields; call it after the last change.
    pub fn fill_hd_checksum(&mut self) {
        let checksum = self.compute_hd_checksum();
        self.set_hd_checksum(checksum);
    }
}

/// A decoded, validated image header. `hd_checksum` is not stored: [`ImageHeaderRepr::parse`]
/// verifies it and [`ImageHeaderRepr::emit`] computes it; `magic_no` and `_reserved1` are
/// constants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ImageHeaderRepr {
    /// `img_attr`.
    pub attr: ImageAttr,
    /// `img_addr`: run address of the body.
    pub img_addr: u32,
    /// `img_len`: body length in bytes, a multiple of 4.
    pub img_len: u32,
    /// `img_header_addr`: address of this header.
    pub header_addr: u32,
    /// `upgrade_img_addr`: address of the upgrade area, 0 for none.
    pub upgrade_addr: u32,
    /// `org_checksum`: JAMCRC of the body.
    pub org_checksum: u32,
    /// `upd_no`: upgrade number, larger is newer.
    pub upd_no: u32,
    /// `ver`.
    pub version: Version,
    /// The bootloader flags word.
    pub bootloader_flags: BootloaderFlags,
    /// `next`: address of a following header, 0 for none.
    pub next: u32,
}

impl ImageHeaderRepr {
    /// Decodes and validates a header: length, magic, `hd_checksum`, known image type and
    /// compression, gzip bit clear, reserved bits and `_reserved1` clear, valid version string,
    /// `img_len` a multiple of 4.
    pub fn parse<T: AsRef<[u8]>>(header: &ImageHeader<T>) -> Result<Self, Error> {
        header.check_len()?;
        if header.magic_no() != MAGIC {
            return Err(Error::BadMagic(header.magic_no()));
        }
        let computed = header.compute_hd_checksum();
        if header.hd_checksum() != computed {
            return Err(Error::HeaderChecksum {
                stored: header.hd_checksum(),
                computed,
            });
        }
        let attr = header.img_attr();
        attr.validate()?;
        let bootloader_flags = header.bootloader_flags();
        if bootloader_flags.reserved_bits() != 0 {
            return Err(Error::ReservedBits {
                field: "bootloader flags",
                value: bootloader_flags.reserved_bits(),
            });
        }
        if header.reserved1() != 0 {
            return Err(Error::ReservedBits {
                field: "_reserved1",
                value: header.reserved1(),
            });
        }
        let version = Version::from_field(header.ver())?;
        let img_len = header.img_len();
        if !img_len.is_multiple_of(4) {
            return Err(Error::UnalignedLength(img_len));
        }
        Ok(ImageHeaderRepr {
            attr,
            img_addr: header.img_addr(),
            img_len,
            header_addr: header.img_header_addr(),
            upgrade_addr: header.upgrade_img_addr(),
            org_checksum: header.org_checksum(),
            upd_no: header.upd_no(),
            version,
            bootloader_flags,
            next: header.next(),
        })
    }

    /// Parses the first [`HEADER_LEN`] bytes of `data` (the start of an image file).
    pub fn parse_bytes(data: &[u8]) -> Result<Self, Error> {
        Self::parse(&ImageHeader::new_checked(data)?)
    }

    /// Writes every field, then `hd_checksum`.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, header: &mut ImageHeader<T>) {
        header.set_magic_no(MAGIC);
        header.set_img_attr(self.attr);
        header.set_img_addr(self.img_addr);
        header.set_img_len(self.img_len);
        header.set_img_header_addr(self.header_addr);
        header.set_upgrade_img_addr(self.upgrade_addr);
        header.set_org_checksum(self.org_checksum);
        header.set_upd_no(self.upd_no);
        header.set_ver(self.version.as_field());
        header.set_bootloader_flags(self.bootloader_flags);
        header.set_reserved1(0);
        header.set_next(self.next);
        header.fill_hd_checksum();
    }

    /// The emitted header as an array.
    pub fn to_bytes(&self) -> [u8; HEADER_LEN] {
        let mut bytes = [0; HEADER_LEN];
        self.emit(&mut ImageHeader::new_unchecked(&mut bytes[..]));
        bytes
    }

    /// A header for an image whose header sits at the start of the partition at
    /// `partition_offset` (section 2.2): header address `FLASH_BASE + partition_offset`, run
    /// address `+ HEADER_AREA`, upgrade address `FLASH_BASE + upgrade_offset` (0 without an
    /// upgrade partition), `img_len` and `org_checksum` from `body`, bootloader flags and `next`
    /// 0.
    ///
    /// `body` must already be padded to a multiple of 4 bytes (the SDK pads with 0xFF).
    pub fn for_partition(
        partition_offset: u32,
        upgrade_offset: Option<u32>,
        body: &[u8],
        version: Version,
        upd_no: u32,
        attr: ImageAttr,
    ) -> Result<Self, Error> {
        attr.validate()?;
        let flash_address = |offset: u32| {
            FLASH_BASE
                .checked_add(offset)
                .ok_or(Error::AddressOverflow { offset })
        };
        let header_addr = flash_address(partition_offset)?;
        let img_addr = header_addr
            .checked_add(HEADER_AREA)
            .ok_or(Error::AddressOverflow {
                offset: partition_offset,
            })?;
        let upgrade_addr = match upgrade_offset {
            Some(offset) => flash_address(offset)?,
            None => 0,
        };
        let img_len = u32::try_from(body.len()).map_err(|_| Error::BodyLength {
            expected: u32::MAX,
            actual: body.len(),
        })?;
        if !img_len.is_multiple_of(4) {
            return Err(Error::UnalignedLength(img_len));
        }
        Ok(ImageHeaderRepr {
            attr,
            img_addr,
            img_len,
            header_addr,
            upgrade_addr,
            org_checksum: jamcrc(body),
            upd_no,
            version,
            bootloader_flags: BootloaderFlags::default(),
            next: 0,
        })
    }

    /// Length of the signature that follows the body: [`SIGNATURE_LEN`] if the `signature`
    /// bit is set, else 0.
    pub fn signature_len(&self) -> usize {
        if self.attr.signature() {
            SIGNATURE_LEN
        } else {
            0
        }
    }

    /// Checks that `body` (the bytes after the header, signature excluded) has `img_len` bytes
    /// and `org_checksum` as its JAMCRC.
    pub fn check_body(&self, body: &[u8]) -> Result<(), Error> {
        if u32::try_from(body.len()) != Ok(self.img_len) {
            return Err(Error::BodyLength {
                expected: self.img_len,
                actual: body.len(),
            });
        }
        let computed = jamcrc(body);
        if computed != self.org_checksum {
            return Err(Error::BodyChecksum {
                stored: self.org_checksum,
                computed,
            });
        }
        Ok(())
    }
}

impl fmt::Display for ImageHeaderRepr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bytes = self.to_bytes();
        let hd_checksum = get_u32(&bytes, field::HD_CHECKSUM);
        writeln!(f, "magic_no:         0x{MAGIC:08x}")?;
        writeln!(f, "img_attr:         {}", self.attr)?;
        writeln!(f, "img_addr:         0x{:08x}", self.img_addr)?;
        writeln!(
            f,
            "img_len:          0x{:08x} ({} bytes)",
            self.img_len, self.img_len
        )?;
        writeln!(f, "img_header_addr:  0x{:08x}", self.header_addr)?;
        writeln!(f, "upgrade_img_addr: 0x{:08x}", self.upgrade_addr)?;
        writeln!(f, "org_checksum:     0x{:08x}", self.org_checksum)?;
        writeln!(
            f,
            "upd_no:           0x{:08x} ({})",
            self.upd_no, self.upd_no
        )?;
        writeln!(f, "ver:              \"{}\"", self.version)?;
        writeln!(f, "bootloader_flags: {}", self.bootloader_flags)?;
        writeln!(f, "_reserved1:       0x00000000")?;
        writeln!(f, "next:             0x{:08x}", self.next)?;
        write!(f, "hd_checksum:      0x{hd_checksum:08x}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The app_ota header printed by the SDK's AWS OTA example (`wm_iot_sdk:examples/network/
    /// cloud/aws/aws_ota/ota_demo_core_http/README_EN.md`, the `ota_ops:` lines of the log), as
    /// docs/w800.md, "Image header", lists it.
    fn logged_repr() -> ImageHeaderRepr {
        ImageHeaderRepr {
            attr: ImageAttr(0x0010_0001),
            img_addr: 0x0800_F400,
            img_len: 0x0006_D978,
            header_addr: 0x0800_F000,
            upgrade_addr: 0x0813_1000,
            org_checksum: 0x4237_90A8,
            upd_no: 0,
            version: Version::new("2.3-alpha.2").unwrap(),
            bootloader_flags: BootloaderFlags(0),
            next: 0,
        }
    }

    #[test]
    fn logged_header_reproduces_the_logged_hd_checksum() {
        let bytes = logged_repr().to_bytes();
        assert_eq!(get_u32(&bytes, field::HD_CHECKSUM), 0x43D9_B450);
        assert_eq!(jamcrc(&bytes[..60]), 0x43D9_B450);
        let repr = ImageHeaderRepr::parse_bytes(&bytes).unwrap();
        assert_eq!(repr, logged_repr());
        assert_eq!(repr.attr.img_type(), Ok(ImageType::User));
        assert_eq!(repr.attr.compress_type(), Ok(CompressType::Xz));
        assert_eq!(repr.version.as_str(), "2.3-alpha.2");
    }

    #[test]
    fn view_accessors_read_the_emitted_fields() {
        let bytes = logged_repr().to_bytes();
        let header = ImageHeader::new_checked(&bytes[..]).unwrap();
        assert_eq!(header.magic_no(), MAGIC);
        assert_eq!(header.img_attr(), ImageAttr(0x0010_0001));
        assert_eq!(header.img_addr(), 0x0800_F400);
        assert_eq!(header.img_len(), 0x0006_D978);
        assert_eq!(header.img_header_addr(), 0x0800_F000);
        assert_eq!(header.upgrade_img_addr(), 0x0813_1000);
        assert_eq!(header.org_checksum(), 0x4237_90A8);
        assert_eq!(header.upd_no(), 0);
        assert_eq!(&header.ver()[..12], b"2.3-alpha.2\0");
        assert_eq!(header.bootloader_flags(), BootloaderFlags(0));
        assert_eq!(header.reserved1(), 0);
        assert_eq!(header.next(), 0);
        assert_eq!(header.hd_checksum(), 0x43D9_B450);
        assert_eq!(header.into_inner(), &bytes[..]);
    }

    #[test]
    fn round_trip_of_a_header_with_every_field_set() {
        let repr = ImageHeaderRepr {
            attr: ImageAttr(0x001E_01F2),
            img_addr: 0x0800_2400,
            img_len: 0x1234,
            header_addr: 0x0800_2000,
            upgrade_addr: 0,
            org_checksum: 0xDEAD_BEEF,
            upd_no: 0xFFFF_FFFF,
            version: Version::new("0123456789 abcd").unwrap(),
            bootloader_flags: BootloaderFlags(0x3F),
            next: 0x0800_F000,
        };
        let mut buffer = [0xAAu8; HEADER_LEN + 3];
        let mut header = ImageHeader::new_checked(&mut buffer[..]).unwrap();
        repr.emit(&mut header);
        assert_eq!(ImageHeaderRepr::parse(&header), Ok(repr));
        assert_eq!(buffer[HEADER_LEN..], [0xAA; 3]);
        assert_eq!(buffer[..HEADER_LEN], repr.to_bytes());
    }

    #[test]
    fn every_single_bit_flip_is_rejected() {
        let bytes = logged_repr().to_bytes();
        for bit in 0..HEADER_LEN * 8 {
            let mut flipped = bytes;
            flipped[bit / 8] ^= 1 << (bit % 8);
            let result = ImageHeaderRepr::parse_bytes(&flipped);
            assert!(result.is_err(), "flip of bit {bit} accepted: {result:?}");
        }
    }

    #[test]
    fn truncated_buffers_are_rejected() {
        let bytes = logged_repr().to_bytes();
        for len in 0..HEADER_LEN {
            assert_eq!(
                ImageHeader::new_checked(&bytes[..len]),
                Err(Error::Truncated {
                    need: HEADER_LEN,
                    have: len
                })
            );
            let header = ImageHeader::new_unchecked(&bytes[..len]);
            assert_eq!(
                ImageHeaderRepr::parse(&header),
                Err(Error::Truncated {
                    need: HEADER_LEN,
                    have: len
                })
            );
            // Accessors on a short buffer must not panic.
            let _ = (
                header.hd_checksum(),
                header.ver(),
                header.compute_hd_checksum(),
            );
        }
    }

    #[test]
    fn writes_to_a_short_buffer_are_dropped() {
        let mut short = [0u8; 10];
        logged_repr().emit(&mut ImageHeader::new_unchecked(&mut short[..]));
        assert_eq!(get_u32(&short, field::MAGIC_NO), MAGIC);
        assert_eq!(get_u32(&short, field::IMG_ATTR), 0x0010_0001);
        assert_eq!(short[8..], [0, 0]);
    }

    /// Emits `repr` with `change` applied to the raw header, then re-fills `hd_checksum` so that
    /// only the field check itself can fail.
    fn parse_modified(
        change: impl FnOnce(&mut ImageHeader<&mut [u8]>),
    ) -> Result<ImageHeaderRepr, Error> {
        let mut bytes = logged_repr().to_bytes();
        let mut header = ImageHeader::new_unchecked(&mut bytes[..]);
        change(&mut header);
        header.fill_hd_checksum();
        ImageHeaderRepr::parse_bytes(&bytes)
    }

    #[test]
    fn bad_fields_are_rejected_with_their_reason() {
        assert_eq!(
            parse_modified(|h| h.set_magic_no(0xA0FF_FF9E)),
            Err(Error::BadMagic(0xA0FF_FF9E))
        );
        assert_eq!(
            parse_modified(|h| h.set_img_attr(ImageAttr(0x0010_0003))),
            Err(Error::UnknownImageType(3))
        );
        assert_eq!(
            parse_modified(|h| h.set_img_attr(ImageAttr(0x0020_0001))),
            Err(Error::UnknownCompression(2))
        );
        assert_eq!(
            parse_modified(|h| h.set_img_attr(ImageAttr(0x0030_0001))),
            Err(Error::UnknownCompression(3))
        );
        assert_eq!(
            parse_modified(|h| h.set_img_attr(ImageAttr(0x0011_0001))),
            Err(Error::GzipUnsupported)
        );
        assert_eq!(
            parse_modified(|h| h.set_img_attr(ImageAttr(0x8010_0001))),
            Err(Error::ReservedBits {
                field: "img_attr",
                value: 0x8000_0000
            })
        );
        assert_eq!(
            parse_modified(|h| h.set_bootloader_flags(BootloaderFlags(0x40))),
            Err(Error::ReservedBits {
                field: "bootloader flags",
                value: 0x40
            })
        );
        assert_eq!(
            parse_modified(|h| h.set_reserved1(1)),
            Err(Error::ReservedBits {
                field: "_reserved1",
                value: 1
            })
        );
        assert_eq!(
            parse_modified(|h| h.set_img_len(0x0006_D979)),
            Err(Error::UnalignedLength(0x0006_D979))
        );
        assert_eq!(
            parse_modified(|h| h.set_ver(&[b'x'; VERSION_LEN])),
            Err(Error::BadVersion(TextError::TooLong { len: 16, max: 15 }))
        );
        let mut not_ascii = [0u8; VERSION_LEN];
        not_ascii[..3].copy_from_slice(b"1\xff2");
        assert_eq!(
            parse_modified(|h| h.set_ver(&not_ascii)),
            Err(Error::BadVersion(TextError::BadByte {
                index: 1,
                byte: 0xFF
            }))
        );
        let mut garbage_after_nul = [0u8; VERSION_LEN];
        garbage_after_nul[..3].copy_from_slice(b"1\x002");
        assert_eq!(
            parse_modified(|h| h.set_ver(&garbage_after_nul)),
            Err(Error::BadVersion(TextError::NotNulPadded { index: 2 }))
        );
    }

    #[test]
    fn stale_hd_checksum_is_rejected() {
        let mut bytes = logged_repr().to_bytes();
        ImageHeader::new_unchecked(&mut bytes[..]).set_upd_no(1);
        assert_eq!(
            ImageHeaderRepr::parse_bytes(&bytes),
            Err(Error::HeaderChecksum {
                stored: 0x43D9_B450,
                computed: ImageHeader::new_unchecked(&bytes[..]).compute_hd_checksum(),
            })
        );
    }

    #[test]
    fn version_limits() {
        assert_eq!(Version::new("").unwrap().as_str(), "");
        assert_eq!(
            Version::new("123456789012345").unwrap().as_str(),
            "123456789012345"
        );
        assert_eq!(
            Version::new("1234567890123456"),
            Err(Error::BadVersion(TextError::TooLong { len: 16, max: 15 }))
        );
        assert_eq!(
            Version::new("v1\u{e9}"),
            Err(Error::BadVersion(TextError::BadByte {
                index: 2,
                byte: 0xC3
            }))
        );
        assert_eq!(
            Version::new("a\tb"),
            Err(Error::BadVersion(TextError::BadByte {
                index: 1,
                byte: b'\t'
            }))
        );
    }

    #[test]
    fn attr_bits_decode() {
        let attr = ImageAttr(0x003F_01FE);
        assert_eq!(attr.img_type_bits(), 0xE);
        assert_eq!(attr.img_type(), Ok(ImageType::FactoryTest));
        assert!(attr.code_encrypt());
        assert_eq!(attr.prikey_sel(), 7);
        assert!(attr.signature());
        assert!(attr.gzip());
        assert!(attr.psram_io());
        assert!(attr.erase_block_en());
        assert!(attr.erase_always());
        assert_eq!(attr.compress_type_bits(), 3);
        assert_eq!(attr.reserved_bits(), 0);
        assert_eq!(ImageAttr(0xFFFF_FFFF).reserved_bits(), 0xFFC0_FE00);
        assert_eq!(
            ImageAttr::new(ImageType::User, CompressType::Xz),
            ImageAttr(0x0010_0001)
        );
        assert_eq!(
            ImageAttr::new(ImageType::User, CompressType::Xz)
                .with_compress_type(CompressType::None)
                .with_img_type(ImageType::Bootloader),
            ImageAttr(0)
        );
        let flags = BootloaderFlags(0x3D);
        assert_eq!(flags.log_level(), 5);
        assert!(flags.skip_esc_check());
        assert!(flags.skip_upgrade_check());
        assert!(flags.skip_integrity_check());
        assert_eq!(flags.reserved_bits(), 0);
    }

    #[test]
    fn for_partition_places_the_header_and_checks_the_body() {
        let body = [0x11u8, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88];
        let repr = ImageHeaderRepr::for_partition(
            0xF000,
            Some(0x13_1000),
            &body,
            Version::new("0.1.0").unwrap(),
            7,
            ImageAttr::new(ImageType::User, CompressType::None),
        )
        .unwrap();
        assert_eq!(repr.header_addr, 0x0800_F000);
        assert_eq!(repr.img_addr, 0x0800_F400);
        assert_eq!(repr.upgrade_addr, 0x0813_1000);
        assert_eq!(repr.img_len, 8);
        assert_eq!(repr.org_checksum, jamcrc(&body));
        assert_eq!(repr.upd_no, 7);
        assert_eq!(repr.check_body(&body), Ok(()));

        let mut flipped = body;
        flipped[5] ^= 0x01;
        assert_eq!(
            repr.check_body(&flipped),
            Err(Error::BodyChecksum {
                stored: jamcrc(&body),
                computed: jamcrc(&flipped)
            })
        );
        assert_eq!(
            repr.check_body(&body[..4]),
            Err(Error::BodyLength {
                expected: 8,
                actual: 4
            })
        );

        let attr = ImageAttr::new(ImageType::User, CompressType::None);
        let version = Version::new("0.1.0").unwrap();
        assert_eq!(
            ImageHeaderRepr::for_partition(0xF000, None, &body[..6], version, 0, attr),
            Err(Error::UnalignedLength(6))
        );
        assert_eq!(
            ImageHeaderRepr::for_partition(0xF000, None, &body, version, 0, attr)
                .unwrap()
                .upgrade_addr,
            0
        );
        assert_eq!(
            ImageHeaderRepr::for_partition(0xF800_0000, None, &body, version, 0, attr),
            Err(Error::AddressOverflow {
                offset: 0xF800_0000
            })
        );
        assert_eq!(
            ImageHeaderRepr::for_partition(0xF000, None, &body, version, 0, ImageAttr(0xF)),
            Err(Error::UnknownImageType(0xF))
        );
    }
}
