//! `.img`, `_ota.img` and `.fls` files as bytes: pack, unpack, validate, describe.
//!
//! File layout (docs/w800.md, "Image files"): a `.img` is a 64-byte
//! header followed by the body (the raw binary padded with 0xFF to a multiple of 4) and, if the
//! header says so, a 128-byte signature. An `_ota.img` is a new header followed by the xz stream
//! of a whole `.img`, padded with 0xFF to a multiple of 4. A `.fls` is images back to back (the
//! bootloader's when given, the app's, the partition table's), each placed by its header. All
//! format work is done by `bsp::format`.

use std::fmt::Write as _;

use bsp::format::crc::jamcrc;
use bsp::format::image::{
    BootloaderFlags, CompressType, ImageAttr, ImageHeaderRepr, ImageType, Version, FLASH_BASE,
    HEADER_AREA, HEADER_LEN, MAGIC,
};
use bsp::format::ptable::{
    Partition, PartitionTable, PartitionTableRepr, APP, APP_OTA, TABLE_OFFSET, W800_FLASH_SIZE,
};
use bsp::ota::Slots;

use crate::error::Error;
use crate::xz;

/// An image file whose header, length and body checksum have been verified.
#[derive(Debug, Clone, Copy)]
pub struct Image<'a> {
    /// The decoded header.
    pub header: ImageHeaderRepr,
    /// The `img_len` bytes after the header.
    pub body: &'a [u8],
    /// The signature after the body (empty unless the `signature` bit is set).
    pub signature: &'a [u8],
}

impl<'a> Image<'a> {
    /// Validates `file`: header, total length, body checksum.
    pub fn parse(file: &'a [u8]) -> Result<Self, bsp::format::image::Error> {
        let header = ImageHeaderRepr::parse_bytes(file)?;
        let rest = file.get(HEADER_LEN..).unwrap_or_default();
        let body_len = usize::try_from(header.img_len).unwrap_or(usize::MAX);
        let (body, signature) = rest.split_at(body_len.min(rest.len()));
        header.check_body(body)?;
        Ok(Image {
            header,
            body,
            signature,
        })
    }

    /// Like [`Image::parse`], and also checks that nothing but the expected signature follows
    /// the body.
    pub fn parse_exact(file: &'a [u8]) -> Result<Self, Error> {
        let image = Image::parse(file)?;
        let expected = HEADER_LEN + image.body.len() + image.header.signature_len();
        if file.len() != expected {
            return Err(Error::FileLength {
                expected,
                actual: file.len(),
            });
        }
        Ok(image)
    }
}

/// Settings of `pack` (raw binary → `.img`).
#[derive(Debug, Clone)]
pub struct PackSettings {
    /// Table that places the image.
    pub table: PartitionTableRepr,
    /// Partition whose start gets the header.
    pub partition: String,
    /// `ver`.
    pub version: Version,
    /// `upd_no`.
    pub upd_no: u32,
}

/// Appends 0xFF until the length is a multiple of 4, as the SDK pads bodies.
pub fn pad_to_word(data: &mut Vec<u8>) {
    data.resize(data.len().next_multiple_of(4), 0xFF);
}

/// Raw binary → `.img`: header at the partition's start, run address 0x400 further, upgrade
/// address at the table's app_ota partition (0 without one), user image, uncompressed.
pub fn pack(raw: &[u8], settings: &PackSettings) -> Result<Vec<u8>, Error> {
    if raw.is_empty() {
        return Err(Error::EmptyInput);
    }
    let partition = settings
        .table
        .find(&settings.partition)
        .ok_or_else(|| Error::UnknownPartition(settings.partition.clone()))?;
    let mut body = raw.to_vec();
    pad_to_word(&mut body);
    // The body runs HEADER_AREA bytes into the partition (docs/w800.md, "Image files": app
    // length = partition size − 0x400).
    let limit = usize::try_from(partition.size.saturating_sub(HEADER_AREA)).unwrap_or(usize::MAX);
    if body.len() > limit {
        return Err(Error::TooLarge {
            what: "padded body",
            len: body.len(),
            limit,
            partition: settings.partition.clone(),
        });
    }
    let upgrade = settings.table.find(APP_OTA).map(|p| p.offset);
    let header = ImageHeaderRepr::for_partition(
        partition.offset,
        upgrade,
        &body,
        settings.version,
        settings.upd_no,
        ImageAttr::new(ImageType::User, CompressType::None),
    )?;
    let mut file = header.to_bytes().to_vec();
    file.extend_from_slice(&body);
    Ok(file)
}

/// Overrides for the outer header of `pack --ota`; `None` copies the inner header's value.
#[derive(Debug, Clone, Copy, Default)]
pub struct OtaOverrides {
    /// `ver`.
    pub version: Option<Version>,
    /// `upd_no`.
    pub upd_no: Option<u32>,
}

/// `.img` → `_ota.img`: xz of the whole validated `.img`, padded with 0xFF to 4 bytes, behind a
/// new header (user image, xz, the inner header's addresses, `upd_no` and `ver` unless
/// overridden, bootloader flags 0). The result must fit the room the firmware has for it
/// ([`ota_file_capacity`]), and the `.img` the app partition it is installed into.
pub fn pack_ota(
    img: &[u8],
    table: &PartitionTableRepr,
    overrides: OtaOverrides,
) -> Result<Vec<u8>, Error> {
    let inner = Image::parse_exact(img)?;
    if inner.header.attr.compress_type()? != CompressType::None {
        return Err(Error::AlreadyCompressed);
    }
    check_fits(table, APP, "image", img.len())?;
    let capacity = ota_file_capacity(table)?;
    let mut body = xz::compress(img)?;
    pad_to_word(&mut body);
    let len = HEADER_LEN + body.len();
    if len > capacity {
        return Err(Error::OtaTooLarge { len, capacity });
    }
    // The partition size is a u32, so a body that fits it has a u32 length.
    let img_len = u32::try_from(body.len()).unwrap_or(u32::MAX);
    let header = ImageHeaderRepr {
        attr: ImageAttr::new(ImageType::User, CompressType::Xz),
        img_addr: inner.header.img_addr,
        img_len,
        header_addr: inner.header.header_addr,
        upgrade_addr: inner.header.upgrade_addr,
        org_checksum: jamcrc(&body),
        upd_no: overrides.upd_no.unwrap_or(inner.header.upd_no),
        version: overrides.version.unwrap_or(inner.header.version),
        bootloader_flags: BootloaderFlags::default(),
        next: 0,
    };
    let mut file = header.to_bytes().to_vec();
    file.extend_from_slice(&body);
    Ok(file)
}

/// The most bytes an `_ota.img` may have under `table`: the firmware receives it into
/// `app_ota` but keeps its update record in that partition's last sector, so a file may use the
/// rest only (`bsp::ota::Slots::file_capacity`, the limit the device enforces).
pub fn ota_file_capacity(table: &PartitionTableRepr) -> Result<usize, Error> {
    let slots = Slots::from_table(table).map_err(Error::OtaSlots)?;
    Ok(usize::try_from(slots.file_capacity()).unwrap_or(usize::MAX))
}

/// Fails unless `len` bytes fit in partition `name` of `table`.
fn check_fits(
    table: &PartitionTableRepr,
    name: &str,
    what: &'static str,
    len: usize,
) -> Result<(), Error> {
    let limit = partition_size(table, name)?;
    if len > limit {
        return Err(Error::TooLarge {
            what,
            len,
            limit,
            partition: name.to_owned(),
        });
    }
    Ok(())
}

fn partition_size(table: &PartitionTableRepr, name: &str) -> Result<usize, Error> {
    let partition = table
        .find(name)
        .ok_or_else(|| Error::UnknownPartition(name.to_owned()))?;
    Ok(usize::try_from(partition.size).unwrap_or(usize::MAX))
}

/// `_ota.img` → `.img`: verifies the outer image, decompresses at most `limit` bytes and
/// verifies the inner image.
fn decompress_ota(outer: &Image<'_>, limit: usize) -> Result<Vec<u8>, Error> {
    if outer.header.attr.compress_type()? != CompressType::Xz {
        return Err(Error::NotCompressed);
    }
    let inner = xz::decompress(outer.body, limit)?;
    let image = Image::parse_exact(&inner).map_err(|error| match error {
        Error::Image(error) => Error::InnerImage(error),
        other => other,
    })?;
    if image.header.attr.compress_type() != Ok(CompressType::None) {
        return Err(Error::AlreadyCompressed);
    }
    Ok(inner)
}

/// `_ota.img` → the `.img` inside it, refusing output larger than the table's app partition.
pub fn unpack(ota: &[u8], table: &PartitionTableRepr) -> Result<Vec<u8>, Error> {
    let outer = Image::parse_exact(ota)?;
    decompress_ota(&outer, partition_size(table, APP)?)
}

/// The version text of the partition-table image: `bin2img.py`'s default, which the SDK's build
/// does not override for that image.
pub const TABLE_IMAGE_VERSION: &str = "G03.00.00";

/// The header address of the partition-table image, which the SDK calls of no practical use
/// (`CONFIG_PARTITION_TABLE_HEADER`).
pub const TABLE_IMAGE_HEADER_ADDR: u32 = 0x2002_6000;

/// The body of the partition-table image: the table padded with 0xFF to 1 KiB.
pub const TABLE_IMAGE_BODY_LEN: usize = 1024;

/// The partition-table image as the SDK builds it (`partition_table.img`): type 2, header
/// address [`TABLE_IMAGE_HEADER_ADDR`], run address the table's flash address (0x0800_E000),
/// upgrade address and `next` 0, `upd_no` 0, version [`TABLE_IMAGE_VERSION`], body the table
/// padded with 0xFF to [`TABLE_IMAGE_BODY_LEN`].
pub fn table_image(table: &PartitionTableRepr) -> Result<Vec<u8>, Error> {
    let mut body = vec![0xFF; TABLE_IMAGE_BODY_LEN];
    table.emit(&mut body)?;
    let header = ImageHeaderRepr {
        attr: ImageAttr::new(ImageType::PartitionTable, CompressType::None),
        img_addr: FLASH_BASE + TABLE_OFFSET,
        img_len: TABLE_IMAGE_BODY_LEN as u32,
        header_addr: TABLE_IMAGE_HEADER_ADDR,
        upgrade_addr: 0,
        org_checksum: jamcrc(&body),
        upd_no: 0,
        version: Version::new(TABLE_IMAGE_VERSION)?,
        bootloader_flags: BootloaderFlags::default(),
        next: 0,
    };
    let mut file = header.to_bytes().to_vec();
    file.extend_from_slice(&body);
    Ok(file)
}

/// `.img` (and optionally the bootloader's `.img`) → `.fls` for the vendor's flashing tools: the
/// bootloader image, the app image and the partition-table image of `table`, in the SDK's order.
/// The result is checked as [`inspect`] checks a `.fls`: every image at the start of its
/// partition and fitting it.
pub fn pack_fls(
    img: &[u8],
    table: &PartitionTableRepr,
    bootloader: Option<&[u8]>,
) -> Result<Vec<u8>, Error> {
    let mut fls = Vec::new();
    if let Some(bootloader) = bootloader {
        let image = Image::parse_exact(bootloader)?;
        if image.header.attr.img_type()? != ImageType::Bootloader {
            return Err(Error::Fls(format!(
                "the bootloader image is of type \"{}\"",
                image.header.attr.img_type()?
            )));
        }
        fls.extend_from_slice(bootloader);
    }
    let app = Image::parse_exact(img)?;
    if app.header.attr.img_type()? != ImageType::User {
        return Err(Error::Fls(format!(
            "the app image is of type \"{}\"",
            app.header.attr.img_type()?
        )));
    }
    fls.extend_from_slice(img);
    fls.extend_from_slice(&table_image(table)?);
    check_fls(&split(&fls)?)?;
    Ok(fls)
}

/// An image of a file and where it starts.
#[derive(Debug, Clone, Copy)]
pub struct Placed<'a> {
    /// Offset of its header in the file.
    pub offset: usize,
    /// The verified image.
    pub image: Image<'a>,
}

/// The images of `file`, back to back: one for a `.img` or `_ota.img`, several for a `.fls`.
/// Each is verified (header, body checksum, complete); after an image comes either the end of
/// the file or the next header's magic. Errors in the first image are reported as they are,
/// later ones with the image's number and offset.
pub fn split(file: &[u8]) -> Result<Vec<Placed<'_>>, Error> {
    let mut images = Vec::new();
    let mut offset = 0;
    loop {
        let index = images.len();
        let within = |error: Error| match index {
            0 => error,
            _ => Error::InFile {
                index: index + 1,
                offset,
                error: Box::new(error),
            },
        };
        let rest = file.get(offset..).unwrap_or_default();
        let image = Image::parse(rest).map_err(|error| within(error.into()))?;
        let signature_len = image.header.signature_len();
        let len = HEADER_LEN + image.body.len() + signature_len;
        let Some(signature) = image.signature.get(..signature_len) else {
            return Err(within(Error::FileLength {
                expected: len,
                actual: rest.len(),
            }));
        };
        images.push(Placed {
            offset,
            image: Image { signature, ..image },
        });
        offset += len;
        match file.get(offset..) {
            Some([]) | None => return Ok(images),
            Some(next) if next.starts_with(&MAGIC.to_le_bytes()) => {}
            Some(_) => {
                return Err(Error::FileLength {
                    expected: offset,
                    actual: file.len(),
                })
            }
        }
    }
}

/// The partition table inside a partition-table image, checked to go to the table's flash
/// address.
fn table_of(image: &Image<'_>) -> Result<PartitionTableRepr, Error> {
    let expected = FLASH_BASE + TABLE_OFFSET;
    if image.header.img_addr != expected {
        return Err(Error::Fls(format!(
            "the partition table image runs at 0x{:08x}, the table lives at 0x{expected:08x}",
            image.header.img_addr
        )));
    }
    Ok(PartitionTableRepr::parse(
        &PartitionTable::new_unchecked(image.body),
        W800_FLASH_SIZE,
    )?)
}

/// For each image of a `.fls`, the partition it goes to (`None` for the partition-table image).
pub type Destinations = Vec<Option<Partition>>;

/// Where each image of a `.fls` goes: checks that it holds at most one partition-table image,
/// and that every other image is uncompressed, has its header at the start of a partition of
/// that table (a different one for each), its body right after the header area, and fits the
/// partition. `None` when the file has no partition-table image (nothing to check against).
pub fn check_fls(images: &[Placed<'_>]) -> Result<Option<Destinations>, Error> {
    let mut tables = images
        .iter()
        .filter(|placed| placed.image.header.attr.img_type() == Ok(ImageType::PartitionTable));
    let Some(table_placed) = tables.next() else {
        return Ok(None);
    };
    if tables.next().is_some() {
        return Err(Error::Fls("more than one partition table image".to_owned()));
    }
    let table = table_of(&table_placed.image)?;
    let mut partitions: Destinations = Vec::with_capacity(images.len());
    for (index, placed) in images.iter().enumerate() {
        let header = &placed.image.header;
        let number = index + 1;
        if header.attr.img_type()? == ImageType::PartitionTable {
            partitions.push(None);
            continue;
        }
        if header.attr.compress_type()? != CompressType::None {
            return Err(Error::Fls(format!(
                "image {number} is xz-compressed: a .fls takes .img files (an _ota.img is for OTA)"
            )));
        }
        let partition = table
            .entries()
            .iter()
            .find(|partition| FLASH_BASE.checked_add(partition.offset) == Some(header.header_addr))
            .ok_or_else(|| {
                Error::Fls(format!(
                    "image {number}'s header address 0x{:08x} is not the start of a partition",
                    header.header_addr
                ))
            })?;
        if partitions
            .iter()
            .flatten()
            .any(|seen| seen.name == partition.name)
        {
            return Err(Error::Fls(format!(
                "two images for partition \"{}\"",
                partition.name.as_str()
            )));
        }
        let run = header.header_addr.wrapping_add(HEADER_AREA);
        if header.img_addr != run {
            return Err(Error::Fls(format!(
                "image {number} runs at 0x{:08x}, its header area ends at 0x{run:08x}",
                header.img_addr
            )));
        }
        let len = placed.image.body.len() + placed.image.signature.len();
        let limit =
            usize::try_from(partition.size.saturating_sub(HEADER_AREA)).unwrap_or(usize::MAX);
        if len > limit {
            return Err(Error::TooLarge {
                what: "image body",
                len,
                limit,
                partition: partition.name.as_str().to_owned(),
            });
        }
        partitions.push(Some(partition.clone()));
    }
    Ok(Some(partitions))
}

/// A verified description of an image file: every header field, both checksums; for an
/// `_ota.img` the xz stream and the inner image; for a partition-table image the table; for a
/// `.fls` each image and the partition it goes to.
pub fn inspect(file: &[u8]) -> Result<String, Error> {
    let images = split(file)?;
    if let [single] = images.as_slice() {
        return describe_verified(&single.image);
    }
    let placement = check_fls(&images)?;
    let mut report = format!("fls: {} images\n", images.len());
    if placement.is_none() {
        report.push_str("no partition table image: placements not checked\n");
    }
    for (index, placed) in images.iter().enumerate() {
        let number = index + 1;
        let text = describe_verified(&placed.image).map_err(|error| Error::InFile {
            index: number,
            offset: placed.offset,
            error: Box::new(error),
        })?;
        let _ = writeln!(
            report,
            "image {number} at offset 0x{:x} ({} bytes):",
            placed.offset,
            HEADER_LEN + placed.image.body.len() + placed.image.signature.len()
        );
        if let Some(partitions) = &placement {
            if let Some(Some(partition)) = partitions.get(index) {
                let _ = writeln!(
                    report,
                    "  goes to partition \"{}\" (offset 0x{:08x}, 0x{:x} bytes)",
                    partition.name.as_str(),
                    partition.offset,
                    partition.size
                );
            }
        }
        for line in text.lines() {
            let _ = writeln!(report, "  {line}");
        }
    }
    Ok(report)
}

/// The description of one verified image: its header and checksums, the xz stream and inner
/// image of a compressed one, the table of a partition-table image.
fn describe_verified(image: &Image<'_>) -> Result<String, Error> {
    let mut report = String::new();
    describe(&mut report, image, "");
    if image.header.attr.compress_type()? == CompressType::Xz {
        let info = xz::stream_info(image.body)?;
        xz::check_w800(&info)?;
        // Nothing larger than the flash can ever be installed.
        let limit = usize::try_from(W800_FLASH_SIZE).unwrap_or(usize::MAX);
        let inner = decompress_ota(image, limit)?;
        let _ = writeln!(report, "xz stream: {info}");
        let _ = writeln!(
            report,
            "inner image (xz-decompressed, {} bytes):",
            inner.len()
        );
        let inner_image = Image::parse_exact(&inner)?;
        describe(&mut report, &inner_image, "  ");
    }
    if image.header.attr.img_type()? == ImageType::PartitionTable {
        let _ = writeln!(report, "{}", table_of(image)?);
    }
    Ok(report)
}

/// Appends the header dump and checksum results of a verified image.
fn describe(report: &mut String, image: &Image<'_>, indent: &str) {
    // Writing to a String cannot fail.
    for line in image.header.to_string().lines() {
        let _ = writeln!(report, "{indent}{line}");
    }
    let _ = writeln!(report, "{indent}header checksum: ok");
    let _ = writeln!(
        report,
        "{indent}body checksum: ok ({} bytes, 0x{:08x})",
        image.body.len(),
        image.header.org_checksum
    );
    if !image.signature.is_empty() {
        let _ = writeln!(
            report,
            "{indent}signature: {} bytes (not verified)",
            image.signature.len()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bsp::format::image::{self, ImageHeader};
    use bsp::ota::OtaError;
    use bsp::sample::noise;

    fn settings() -> PackSettings {
        PackSettings {
            table: PartitionTableRepr::with_ota(),
            partition: APP.to_owned(),
            version: Version::new("0.1.0").unwrap(),
            upd_no: 3,
        }
    }

    /// Something shaped like firmware: compressible but not trivial.
    fn firmware(len: usize) -> Vec<u8> {
        (0..len)
            .map(|i| [0x13, 0x37, (i >> 4) as u8, (i % 7) as u8][i % 4])
            .collect()
    }

    #[test]
    fn pack_places_the_header_and_pads_the_body() {
        let raw = firmware(1001);
        let img = pack(&raw, &settings()).unwrap();
        assert_eq!(img.len(), HEADER_LEN + 1004);
        assert_eq!(&img[HEADER_LEN + 1001..], [0xFF; 3]);
        let image = Image::parse_exact(&img).unwrap();
        assert_eq!(image.header.header_addr, 0x0800_F000);
        assert_eq!(image.header.img_addr, 0x0800_F400);
        assert_eq!(image.header.upgrade_addr, 0x0813_1000);
        assert_eq!(image.header.img_len, 1004);
        assert_eq!(image.header.upd_no, 3);
        assert_eq!(image.header.version.as_str(), "0.1.0");
        assert_eq!(image.header.attr.img_type(), Ok(ImageType::User));
        assert_eq!(image.header.attr.compress_type(), Ok(CompressType::None));
        assert!(inspect(&img).unwrap().contains("body checksum: ok"));
    }

    #[test]
    fn pack_without_app_ota_has_no_upgrade_address() {
        let settings = PackSettings {
            table: PartitionTableRepr::large(),
            ..settings()
        };
        let img = pack(&firmware(64), &settings).unwrap();
        assert_eq!(Image::parse(&img).unwrap().header.upgrade_addr, 0);
    }

    #[test]
    fn pack_rejects_bad_inputs() {
        assert!(matches!(pack(&[], &settings()), Err(Error::EmptyInput)));
        let unknown = PackSettings {
            partition: "nope".to_owned(),
            ..settings()
        };
        assert!(matches!(
            pack(&[1], &unknown),
            Err(Error::UnknownPartition(name)) if name == "nope"
        ));
        let user = PackSettings {
            partition: "user".to_owned(),
            ..settings()
        };
        assert!(matches!(
            pack(&firmware(0x1C01), &user),
            Err(Error::TooLarge { limit: 0x1C00, .. })
        ));
        assert!(pack(&firmware(0x1C00), &user).is_ok());
    }

    #[test]
    fn ota_round_trip_gives_back_the_identical_img() {
        let img = pack(&firmware(200_000), &settings()).unwrap();
        let table = PartitionTableRepr::with_ota();
        let ota = pack_ota(&img, &table, OtaOverrides::default()).unwrap();
        assert!(ota.len() < img.len());
        assert_eq!(ota.len() % 4, 0);

        let outer = Image::parse_exact(&ota).unwrap();
        let inner = Image::parse(&img).unwrap().header;
        assert_eq!(outer.header.attr, ImageAttr(0x0010_0001));
        assert_eq!(outer.header.attr.compress_type(), Ok(CompressType::Xz));
        assert_eq!(outer.header.org_checksum, jamcrc(&ota[HEADER_LEN..]));
        assert_eq!(outer.header.check_body(&ota[HEADER_LEN..]), Ok(()));
        assert_eq!(outer.header.header_addr, inner.header_addr);
        assert_eq!(outer.header.img_addr, inner.img_addr);
        assert_eq!(outer.header.upgrade_addr, inner.upgrade_addr);
        assert_eq!(outer.header.upd_no, inner.upd_no);
        assert_eq!(outer.header.version, inner.version);
        assert_eq!(outer.header.bootloader_flags.0, 0);

        let info = xz::stream_info(outer.body).unwrap();
        assert_eq!(outer.body[7], xz::CHECK_CRC32);
        assert_eq!(info.check, xz::CHECK_CRC32);
        assert_eq!(info.dict_size, 1 << 15);

        assert_eq!(unpack(&ota, &table).unwrap(), img);
        let report = inspect(&ota).unwrap();
        assert!(report.contains("compress_type xz"), "{report}");
        assert!(report.contains("inner image"), "{report}");
        assert!(report.contains("LZMA2 dictionary 32768 bytes"), "{report}");
    }

    #[test]
    fn ota_overrides_replace_version_and_upd_no() {
        let img = pack(&firmware(4096), &settings()).unwrap();
        let overrides = OtaOverrides {
            version: Some(Version::new("9.9.9").unwrap()),
            upd_no: Some(42),
        };
        let ota = pack_ota(&img, &PartitionTableRepr::with_ota(), overrides).unwrap();
        let outer = Image::parse(&ota).unwrap().header;
        assert_eq!(outer.version.as_str(), "9.9.9");
        assert_eq!(outer.upd_no, 42);
    }

    #[test]
    fn ota_refuses_compressed_input_and_unpack_refuses_plain_input() {
        let table = PartitionTableRepr::with_ota();
        let img = pack(&firmware(4096), &settings()).unwrap();
        let ota = pack_ota(&img, &table, OtaOverrides::default()).unwrap();
        assert!(matches!(
            pack_ota(&ota, &table, OtaOverrides::default()),
            Err(Error::AlreadyCompressed)
        ));
        assert!(matches!(unpack(&img, &table), Err(Error::NotCompressed)));
        assert!(matches!(
            pack_ota(&img, &PartitionTableRepr::large(), OtaOverrides::default()),
            Err(Error::OtaSlots(OtaError::NoPartition(APP_OTA)))
        ));
    }

    #[test]
    fn ota_file_capacity_is_app_ota_without_the_record_sector() {
        let table = PartitionTableRepr::with_ota();
        let slots = Slots::from_table(&table).unwrap();
        assert_eq!(ota_file_capacity(&table).unwrap(), 0xA_F000 - 0x1000);
        assert_eq!(
            ota_file_capacity(&table).unwrap(),
            slots.file_capacity() as usize
        );
        assert!(matches!(
            ota_file_capacity(&PartitionTableRepr::large()),
            Err(Error::OtaSlots(OtaError::NoPartition(APP_OTA)))
        ));
        // An app_ota of one sector has room for the record only.
        let error = ota_file_capacity(&small_ota_table(0x1000)).unwrap_err();
        assert!(matches!(
            error,
            Error::OtaSlots(OtaError::NoPartition(APP_OTA))
        ));
        assert_eq!(
            error.to_string(),
            "partition table: no usable app_ota partition"
        );
    }

    /// `app` as in with_ota and an `app_ota` of `size` bytes.
    fn small_ota_table(size: u32) -> PartitionTableRepr {
        let mut table = PartitionTableRepr::new();
        for (name, offset, size) in [(APP, 0xF000, 0x12_2000), (APP_OTA, 0x13_1000, size)] {
            let partition = bsp::format::ptable::Partition::new(name, offset, size).unwrap();
            table.push(partition).unwrap();
        }
        table
    }

    #[test]
    fn an_ota_file_may_fill_app_ota_up_to_the_record_sector() {
        let table = small_ota_table(0x3000);
        let capacity = ota_file_capacity(&table).unwrap();
        assert_eq!(capacity, 0x2000);
        let ota_of = |raw_len: usize| {
            let img = pack(&noise(0x2545_F491, raw_len), &settings()).unwrap();
            let unlimited = PartitionTableRepr::with_ota();
            (
                img.clone(),
                pack_ota(&img, &unlimited, OtaOverrides::default()).unwrap(),
            )
        };
        // Stored LZMA2 chunks: the file grows by 4 bytes per 4 input bytes.
        let mut raw_len = capacity - 256;
        let (mut img, mut ota) = ota_of(raw_len);
        for _ in 0..8 {
            if ota.len() == capacity {
                break;
            }
            raw_len = (raw_len + capacity).checked_sub(ota.len()).unwrap();
            (img, ota) = ota_of(raw_len);
        }
        assert_eq!(ota.len(), capacity);
        assert_eq!(
            pack_ota(&img, &table, OtaOverrides::default()).unwrap(),
            ota
        );

        let (bigger, bigger_ota) = ota_of(raw_len + 4);
        assert_eq!(bigger_ota.len(), capacity + 4);
        // It would fit the partition, but not next to the record.
        assert!(bigger_ota.len() <= 0x3000);
        let error = pack_ota(&bigger, &table, OtaOverrides::default()).unwrap_err();
        assert!(matches!(
            error,
            Error::OtaTooLarge { len, capacity: 0x2000 } if len == capacity + 4
        ));
        assert_eq!(
            error.to_string(),
            "OTA image is 8196 bytes, partition \"app_ota\" holds files of at most 8192 \
             (its last 4096 bytes keep the update record)"
        );
    }

    #[test]
    fn unpack_is_bounded_by_the_app_partition() {
        let mut table = PartitionTableRepr::new();
        let app = bsp::format::ptable::Partition::new(APP, 0xF000, 0x2000).unwrap();
        table.push(app).unwrap();
        let ota_table = PartitionTableRepr::with_ota();
        let img = pack(&firmware(0x3000), &settings()).unwrap();
        let ota = pack_ota(&img, &ota_table, OtaOverrides::default()).unwrap();
        assert!(matches!(
            unpack(&ota, &table),
            Err(Error::XzTooLarge { limit: 0x2000 })
        ));
    }

    #[test]
    fn corrupt_and_truncated_files_are_errors() {
        let img = pack(&firmware(5000), &settings()).unwrap();
        let ota = pack_ota(
            &img,
            &PartitionTableRepr::with_ota(),
            OtaOverrides::default(),
        )
        .unwrap();
        for file in [&img, &ota] {
            for cut in [0, 10, HEADER_LEN - 1, HEADER_LEN, file.len() - 1] {
                assert!(inspect(&file[..cut]).is_err(), "cut at {cut}");
            }
            for at in [0, 5, 0x20, 0x3F, HEADER_LEN, file.len() / 2, file.len() - 1] {
                let mut flipped = file.clone();
                flipped[at] ^= 0x80;
                assert!(inspect(&flipped).is_err(), "flip at {at}");
            }
            let mut longer = file.clone();
            longer.push(0xFF);
            assert!(matches!(inspect(&longer), Err(Error::FileLength { .. })));
        }
        let mut flipped_body = img.clone();
        flipped_body[HEADER_LEN + 7] ^= 1;
        assert!(matches!(
            inspect(&flipped_body),
            Err(Error::Image(image::Error::BodyChecksum { .. }))
        ));
    }

    #[test]
    fn a_corrupt_inner_image_is_reported_as_such() {
        let mut img = pack(&firmware(4096), &settings()).unwrap();
        // A valid outer image around an inner image whose header checksum is stale.
        ImageHeader::new_unchecked(&mut img[..]).set_upd_no(9);
        let mut body = xz::compress(&img).unwrap();
        pad_to_word(&mut body);
        let outer = ImageHeaderRepr {
            attr: ImageAttr::new(ImageType::User, CompressType::Xz),
            img_len: body.len() as u32,
            org_checksum: jamcrc(&body),
            ..Image::parse(&pack(&firmware(4), &settings()).unwrap())
                .unwrap()
                .header
        };
        let mut ota = outer.to_bytes().to_vec();
        ota.extend_from_slice(&body);
        assert!(matches!(
            inspect(&ota),
            Err(Error::InnerImage(image::Error::HeaderChecksum { .. }))
        ));
    }
}
