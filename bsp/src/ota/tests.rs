//! The platform layer and the installer on a simulated W800 flash, with files made the way
//! the SDK makes them (liblzma, LZMA2 with a 32 KiB dictionary, CRC32 check).

use super::install::{check_app, install_staged, InstallOutcome};
use super::pal::{self, abort_file, close_file, create_file, open_file, write_block, IncomingFile};
use super::record::RecordState;
use super::*;
use crate::factory::write_factory_content;
use crate::format::crc::jamcrc;
use crate::format::image::{CompressType, ImageAttr, ImageHeaderRepr, Version};
use crate::hal::{Flash, FlashGeometry};
use crate::nor::{RamStore, SimulatedNor};
use crate::sample::app_binary;
use std::io::Write;

type TestFlash = SimulatedNor<RamStore<Vec<u8>>>;

const APP: u32 = 0xF000;
const APP_OTA: u32 = 0x13_1000;

fn factory_flash() -> TestFlash {
    let mut store = RamStore(vec![0u8; FlashGeometry::W800.size as usize]);
    write_factory_content(&mut store, FlashGeometry::W800, "1.0.0", None).unwrap();
    SimulatedNor::new(store, FlashGeometry::W800)
}

fn slots() -> Slots {
    Slots::from_table(&PartitionTableRepr::with_ota()).unwrap()
}

/// The `.img` for `app`: header + body.
fn app_image(version: &str, body: &[u8]) -> Vec<u8> {
    let header = ImageHeaderRepr::for_partition(
        APP,
        Some(APP_OTA),
        body,
        Version::new(version).unwrap(),
        0,
        ImageAttr::new(ImageType::User, CompressType::None),
    )
    .unwrap();
    let mut img = header.to_bytes().to_vec();
    img.extend_from_slice(body);
    img
}

fn xz(data: &[u8]) -> Vec<u8> {
    use liblzma::stream::{Check, Filters, LzmaOptions, Stream, PRESET_EXTREME};
    let mut options = LzmaOptions::new_preset(9 | PRESET_EXTREME).unwrap();
    options.dict_size(1 << 15);
    let mut filters = Filters::new();
    filters.lzma2(&options);
    let stream = Stream::new_stream_encoder(&filters, Check::Crc32).unwrap();
    let mut encoder = liblzma::write::XzEncoder::new_stream(Vec::new(), stream);
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

/// An `_ota.img` with `body` (already compressed, or not) as its body, padded with 0xFF.
fn ota_file(version: &str, mut body: Vec<u8>, compress: CompressType) -> Vec<u8> {
    while !body.len().is_multiple_of(4) {
        body.push(0xFF);
    }
    let header = ImageHeaderRepr::for_partition(
        APP,
        Some(APP_OTA),
        &body,
        Version::new(version).unwrap(),
        0,
        ImageAttr::new(ImageType::User, compress),
    )
    .unwrap();
    let mut file = header.to_bytes().to_vec();
    file.extend_from_slice(&body);
    file
}

pub(crate) fn xz_ota_file(version: &str, body: &[u8]) -> Vec<u8> {
    ota_file(version, xz(&app_image(version, body)), CompressType::Xz)
}

/// The unit tests' signature: the file's JAMCRC, little endian (the firmware uses ECDSA).
struct CrcSignature(crate::format::crc::JamCrc);

fn signer() -> CrcSignature {
    CrcSignature(crate::format::crc::JamCrc::new())
}

impl ImageSignature for CrcSignature {
    fn update(&mut self, data: &[u8]) {
        self.0.update(data);
    }

    fn verify(self, signature: &[u8]) -> Result<(), SignatureFailure> {
        if signature == self.0.value().to_le_bytes() {
            Ok(())
        } else {
            Err(SignatureFailure::Mismatch(-1))
        }
    }
}

fn sign(file: &[u8]) -> [u8; 4] {
    jamcrc(file).to_le_bytes()
}

/// A signature that does not match `file`.
fn forged(file: &[u8]) -> [u8; 4] {
    (!jamcrc(file)).to_le_bytes()
}

struct Memory {
    dict: Vec<u8>,
    probs: Vec<u16>,
}

impl Memory {
    fn new() -> Memory {
        Memory {
            dict: vec![0; xz::DICT_SIZE_MAX],
            probs: vec![0; xz::PROBS_LEN],
        }
    }

    fn workspace(&mut self) -> Workspace<'_> {
        Workspace {
            dict: &mut self.dict,
            probs: &mut self.probs,
        }
    }
}

/// Receives `file` as the agent would: 4 KiB blocks, here last block first.
fn receive(flash: &mut impl Flash, file: &[u8]) -> IncomingFile {
    let mut incoming = create_file(flash, &slots(), file.len() as u32).unwrap();
    let blocks: Vec<_> = file.chunks(4096).enumerate().collect();
    for (index, block) in blocks.into_iter().rev() {
        write_block(flash, &slots(), &mut incoming, (index * 4096) as u32, block).unwrap();
    }
    incoming
}

/// Closes `incoming` with `signature` (the unit tests' CRC signature).
fn close(
    flash: &mut impl Flash,
    incoming: IncomingFile,
    signature: &[u8],
) -> Result<pal::StagedImage, OtaError> {
    close_file(
        flash,
        &slots(),
        incoming,
        signature,
        signer(),
        &mut Memory::new().workspace(),
    )
}

pub(crate) fn stage(flash: &mut impl Flash, file: &[u8]) -> Result<pal::StagedImage, OtaError> {
    let incoming = receive(flash, file);
    close(flash, incoming, &sign(file))
}

/// The first 64 bytes of `app_ota`, as the W800's bootloader reads them.
fn vendor_header(flash: &mut impl Flash) -> Result<ImageHeaderRepr, image::Error> {
    let mut bytes = [0u8; image::HEADER_LEN];
    flash.read(APP_OTA, &mut bytes).unwrap();
    ImageHeaderRepr::parse_bytes(&bytes)
}

fn install(flash: &mut impl Flash) -> Result<InstallOutcome, install::InstallError> {
    install_staged(
        flash,
        &slots(),
        &mut Memory::new().workspace(),
        &mut |_, _| {},
    )
}

fn app_version(flash: &mut impl Flash) -> String {
    check_app(flash, &slots())
        .unwrap()
        .version
        .as_str()
        .to_string()
}

fn record_state(flash: &mut impl Flash) -> Option<RecordState> {
    pal::record(flash, &slots()).unwrap().map(|r| r.state)
}

#[test]
fn an_xz_file_is_staged_then_installed_into_app() {
    let mut flash = factory_flash();
    let body = app_binary(7, 200_000);
    let file = xz_ota_file("2.0.0", &body);
    assert!(file.len() < 150_000, "compressed to {}", file.len());

    let staged = stage(&mut flash, &file).unwrap();
    assert_eq!(staged.file.version.as_str(), "2.0.0");
    assert_eq!(staged.inner.img_len, 200_000);
    assert_eq!(staged.file_len as usize, file.len());
    assert_eq!(record_state(&mut flash), Some(RecordState::Staged));
    assert_eq!(app_version(&mut flash), "1.0.0", "staging leaves app alone");

    let mut reports = Vec::new();
    let outcome = install_staged(
        &mut flash,
        &slots(),
        &mut Memory::new().workspace(),
        &mut |done, total| reports.push((done, total)),
    );
    assert!(matches!(outcome, Ok(InstallOutcome::Installed(h)) if h == staged.inner));
    assert_eq!(reports.last(), Some(&(200_000, 200_000)));
    assert!(reports.len() >= 3, "{reports:?}");
    assert_eq!(app_version(&mut flash), "2.0.0");
    let mut installed = vec![0u8; body.len()];
    flash.read(APP + 0x400, &mut installed).unwrap();
    assert_eq!(installed, body);
    assert_eq!(record_state(&mut flash), Some(RecordState::Installed));

    // Nothing more to do at the next start.
    assert_eq!(install(&mut flash), Ok(InstallOutcome::NothingStaged));
}

#[test]
fn an_uncompressed_file_installs_too() {
    let mut flash = factory_flash();
    let body = app_binary(3, 10_000);
    let file = app_image("2.0.1", &body);
    let staged = stage(&mut flash, &file).unwrap();
    assert_eq!(staged.inner, staged.file);
    assert!(matches!(
        install(&mut flash),
        Ok(InstallOutcome::Installed(_))
    ));
    assert_eq!(app_version(&mut flash), "2.0.1");
}

#[test]
fn nothing_is_staged_without_a_matching_signature() {
    let mut flash = factory_flash();
    let file = xz_ota_file("2.0.0", &app_binary(1, 5000));
    let incoming = receive(&mut flash, &file);
    let err = close(&mut flash, incoming, &[0, 1, 2, 3]);
    assert_eq!(
        err,
        Err(OtaError::Signature(SignatureFailure::Mismatch(-1)))
    );
    assert_eq!(record_state(&mut flash), None);
    assert!(vendor_header(&mut flash).is_err());
    assert_eq!(install(&mut flash), Ok(InstallOutcome::NothingStaged));
    assert_eq!(app_version(&mut flash), "1.0.0");
}

#[test]
fn a_damaged_body_fails_its_crc_before_the_signature_is_asked() {
    let mut flash = factory_flash();
    let mut file = xz_ota_file("2.0.0", &app_binary(1, 5000));
    file[100] ^= 0x40;
    let err = stage(&mut flash, &file);
    assert!(
        matches!(
            err,
            Err(OtaError::Header(image::Error::BodyChecksum { .. }))
        ),
        "{err:?}"
    );
    assert_eq!(record_state(&mut flash), None);
}

/// A file whose header, CRC and signature are right but whose content is not: a build
/// mistake the signer did not catch. It must be refused at close, not in the installer.
fn signed_file_with_content(version: &str, content: Vec<u8>) -> Vec<u8> {
    ota_file(version, content, CompressType::Xz)
}

#[test]
fn broken_content_is_refused_at_close_and_nothing_is_staged() {
    let img = app_image("2.0.0", &app_binary(5, 20_000));
    let mut stream = xz(&img);
    let middle = stream.len() / 2;
    stream[middle] ^= 0x01;
    type Expect = fn(&OtaError) -> bool;
    let cases: [(&str, Vec<u8>, Expect); 8] = [
        (
            "corrupt xz",
            signed_file_with_content("2.0.0", stream),
            |e| matches!(e, OtaError::Xz(_)),
        ),
        (
            "not xz",
            signed_file_with_content("2.0.0", vec![0x5A; 1000]),
            |e| matches!(e, OtaError::Xz(_)),
        ),
        (
            "truncated xz",
            signed_file_with_content("2.0.0", xz(&img)[..200].to_vec()),
            |e| *e == OtaError::ContentTruncated,
        ),
        (
            "garbage after the stream",
            {
                let mut content = xz(&img);
                content.extend_from_slice(&[0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x00, 0x00, 0x00]);
                signed_file_with_content("2.0.0", content)
            },
            |e| *e == OtaError::TrailingData,
        ),
        (
            "inner version differs",
            signed_file_with_content("2.0.0", xz(&app_image("2.0.9", &app_binary(5, 100)))),
            |e| matches!(e, OtaError::VersionMismatch { .. }),
        ),
        (
            "inner image is not for app",
            {
                let body = app_binary(5, 100);
                let header = ImageHeaderRepr::for_partition(
                    APP_OTA,
                    None,
                    &body,
                    Version::new("2.0.0").unwrap(),
                    0,
                    ImageAttr::new(ImageType::User, CompressType::None),
                )
                .unwrap();
                let mut inner = header.to_bytes().to_vec();
                inner.extend_from_slice(&body);
                signed_file_with_content("2.0.0", xz(&inner))
            },
            |e| matches!(e, OtaError::BadAddress { .. }),
        ),
        (
            "inner body longer than its header says",
            {
                let mut inner = app_image("2.0.0", &app_binary(5, 100));
                inner.extend_from_slice(&[0; 4]);
                signed_file_with_content("2.0.0", xz(&inner))
            },
            |e| *e == OtaError::ContentTooLong,
        ),
        (
            "inner image larger than app",
            signed_file_with_content("2.0.0", xz(&app_image("2.0.0", &vec![0u8; 0x12_2000]))),
            |e| matches!(e, OtaError::TooLarge { .. }),
        ),
    ];
    for (what, file, expected) in cases {
        let mut flash = factory_flash();
        let result = stage(&mut flash, &file);
        assert!(result.as_ref().is_err_and(expected), "{what}: {result:?}");
        assert_eq!(record_state(&mut flash), None, "{what}");
        assert_eq!(app_version(&mut flash), "1.0.0", "{what}");
    }
}

#[test]
fn files_and_blocks_must_fit_app_ota_without_its_record_sector() {
    let mut flash = factory_flash();
    let capacity = slots().file_capacity();
    assert_eq!(capacity, 0xAF000 - 0x1000);
    assert_eq!(
        create_file(&mut flash, &slots(), capacity + 1),
        Err(OtaError::TooLarge {
            len: capacity + 1,
            capacity
        })
    );
    let mut incoming = create_file(&mut flash, &slots(), capacity).unwrap();
    assert_eq!(
        write_block(&mut flash, &slots(), &mut incoming, capacity - 2, &[0; 4]),
        Err(OtaError::BlockOutOfRange {
            offset: capacity - 2,
            len: 4
        })
    );
    assert_eq!(
        write_block(&mut flash, &slots(), &mut incoming, u32::MAX - 1, &[0; 4]),
        Err(OtaError::BlockOutOfRange {
            offset: u32::MAX - 1,
            len: 4
        })
    );
    // A file created shorter ends there.
    let mut incoming = create_file(&mut flash, &slots(), 8192).unwrap();
    assert_eq!(
        write_block(&mut flash, &slots(), &mut incoming, 8190, &[0; 4]),
        Err(OtaError::BlockOutOfRange {
            offset: 8190,
            len: 4
        })
    );
}

#[test]
fn a_new_download_unstages_the_old_image_first() {
    let mut flash = factory_flash();
    stage(&mut flash, &xz_ota_file("2.0.0", &app_binary(1, 5000))).unwrap();
    create_file(&mut flash, &slots(), 8192).unwrap();
    assert_eq!(record_state(&mut flash), None);
    assert!(vendor_header(&mut flash).is_err());
    assert!(open_file(&mut flash, &slots()).is_err());
    assert_eq!(install(&mut flash), Ok(InstallOutcome::NothingStaged));
}

#[test]
fn power_lost_during_an_install_leaves_it_staged_and_the_next_start_finishes_it() {
    let body = app_binary(9, 60_000);
    let file = xz_ota_file("3.1.4", &body);
    for budget in [0, 1, 2, 50, 200] {
        let mut flash = factory_flash();
        stage(&mut flash, &file).unwrap();
        let mut failing = PowerLoss::new(&mut flash, budget, false);
        let err = install(&mut failing).unwrap_err();
        assert!(!err.rejected, "budget {budget}: {err:?}");
        assert!(matches!(err.error, OtaError::Flash(_)), "{err:?}");
        assert_eq!(record_state(&mut flash), Some(RecordState::Staged));

        assert!(matches!(
            install(&mut flash),
            Ok(InstallOutcome::Installed(_))
        ));
        assert_eq!(app_version(&mut flash), "3.1.4", "budget {budget}");
        assert_eq!(record_state(&mut flash), Some(RecordState::Installed));
    }
}

#[test]
fn an_image_already_in_app_is_recognised_without_writing() {
    let mut flash = factory_flash();
    let file = xz_ota_file("2.0.0", &app_binary(2, 30_000));
    stage(&mut flash, &file).unwrap();
    assert!(matches!(
        install(&mut flash),
        Ok(InstallOutcome::Installed(_))
    ));
    // Staged again (as if the chip's bootloader had installed it and the record said staged).
    let incoming = open_file(&mut flash, &slots()).unwrap();
    close(&mut flash, incoming, &sign(&file)).unwrap();
    // Only the record's state word may be programmed.
    let mut careful = PowerLoss::new(&mut flash, 1, false);
    assert!(matches!(
        install(&mut careful),
        Ok(InstallOutcome::AlreadyInstalled(_))
    ));
    assert_eq!(record_state(&mut flash), Some(RecordState::Installed));
}

#[test]
fn a_staged_file_that_changed_is_rejected_and_app_is_untouched() {
    let mut flash = factory_flash();
    let file = xz_ota_file("2.0.0", &app_binary(2, 30_000));
    stage(&mut flash, &file).unwrap();
    // One bit of the body lost after staging.
    let at = APP_OTA + 2000;
    let mut byte = [0u8];
    flash.read(at, &mut byte).unwrap();
    assert_ne!(byte[0], 0, "the test needs a bit to clear");
    flash.program(at, &[byte[0] & (byte[0] - 1)]).unwrap();

    let err = install(&mut flash).unwrap_err();
    assert!(err.rejected);
    assert!(
        matches!(
            err.error,
            OtaError::Header(image::Error::BodyChecksum { .. })
        ),
        "{err:?}"
    );
    assert_eq!(record_state(&mut flash), Some(RecordState::Rejected));
    assert_eq!(app_version(&mut flash), "1.0.0");
    assert_eq!(install(&mut flash), Ok(InstallOutcome::NothingStaged));
}

#[test]
fn no_bit_flip_in_the_content_of_a_signed_file_gets_it_staged() {
    let stream = xz(&app_image("4.0.0", &app_binary(11, 12_000)));
    let positions = crate::sample::noise(99, 300);
    for (round, pair) in positions.chunks(2).enumerate() {
        let mut content = stream.clone();
        let at = (usize::from(pair[0]) << 8 | usize::from(pair[1])) % content.len();
        content[at] ^= 1 << (round % 8);
        // Header, CRC and signature all match the damaged content: only the content checks
        // (the CRC32s of the xz headers, index and footer, the data's CRC32, the inner image's
        // header and CRC) stand between it and `app`.
        let file = ota_file("4.0.0", content, CompressType::Xz);
        let mut flash = factory_flash();
        let result = stage(&mut flash, &file);
        assert!(result.is_err(), "round {round}: flip at {at} staged");
        assert_eq!(record_state(&mut flash), None, "round {round}");
        assert_eq!(app_version(&mut flash), "1.0.0", "round {round}");
    }
}

/// `file` with its header's `org_checksum` replaced (and `hd_checksum` made to match), so
/// that only the body CRC check can refuse it.
fn with_org_checksum(file: &[u8], org_checksum: u32) -> Vec<u8> {
    let mut header = ImageHeaderRepr::parse_bytes(file).unwrap();
    header.org_checksum = org_checksum;
    let mut changed = header.to_bytes().to_vec();
    changed.extend_from_slice(&file[image::HEADER_LEN..]);
    changed
}

#[test]
fn a_file_refused_at_close_leaves_no_vendor_header_in_app_ota() {
    let file = xz_ota_file("2.0.0", &app_binary(4, 30_000));
    let mut flipped = file.clone();
    flipped[5000] ^= 0x04;
    let wrong_crc = with_org_checksum(&file, jamcrc(&file[image::HEADER_LEN..]) ^ 1);
    let mut broken_stream = xz(&app_image("2.0.0", &app_binary(4, 30_000)));
    let middle = broken_stream.len() / 2;
    broken_stream[middle] ^= 0x01;
    let broken_content = ota_file("2.0.0", broken_stream, CompressType::Xz);
    let cases: [(&str, &[u8], [u8; 4]); 4] = [
        ("bad signature", &file, forged(&file)),
        ("a byte flipped after signing", &flipped, sign(&file)),
        ("wrong CRC in the header", &wrong_crc, sign(&wrong_crc)),
        ("broken content", &broken_content, sign(&broken_content)),
    ];
    for (what, received, signature) in cases {
        let mut flash = factory_flash();
        let incoming = receive(&mut flash, received);
        let result = close(&mut flash, incoming, &signature);
        assert!(result.is_err(), "{what}: {result:?}");
        assert!(vendor_header(&mut flash).is_err(), "{what}");
        assert_eq!(record_state(&mut flash), None, "{what}");
        assert_eq!(install(&mut flash), Ok(InstallOutcome::NothingStaged));
        assert_eq!(app_version(&mut flash), "1.0.0", "{what}");
    }
}

#[test]
fn a_passing_file_gets_its_header_only_at_close() {
    let mut flash = factory_flash();
    let file = xz_ota_file("2.1.0", &app_binary(6, 20_000));
    let incoming = receive(&mut flash, &file);
    let mut start = [0u8; image::HEADER_LEN];
    flash.read(APP_OTA, &mut start).unwrap();
    assert_eq!(
        start,
        [0xFF; image::HEADER_LEN],
        "the header waits for close"
    );
    let mut body = vec![0u8; file.len() - image::HEADER_LEN];
    flash
        .read(APP_OTA + image::HEADER_LEN as u32, &mut body)
        .unwrap();
    assert_eq!(body, file[image::HEADER_LEN..], "the body is in place");

    close(&mut flash, incoming, &sign(&file)).unwrap();
    flash.read(APP_OTA, &mut start).unwrap();
    assert_eq!(start[..], file[..image::HEADER_LEN]);
    assert_eq!(
        vendor_header(&mut flash),
        Ok(ImageHeaderRepr::parse_bytes(&file).unwrap())
    );
    assert_eq!(record_state(&mut flash), Some(RecordState::Staged));
}

#[test]
fn an_aborted_file_leaves_no_vendor_header_and_nothing_to_open() {
    let file = xz_ota_file("2.2.0", &app_binary(8, 20_000));

    // Given up half-way (the agent lets its handle go).
    let mut flash = factory_flash();
    {
        let mut incoming = create_file(&mut flash, &slots(), file.len() as u32).unwrap();
        write_block(&mut flash, &slots(), &mut incoming, 0, &file[..4096]).unwrap();
    }
    abort_file(&mut flash, &slots()).unwrap();
    assert!(vendor_header(&mut flash).is_err());
    assert!(open_file(&mut flash, &slots()).is_err());
    assert_eq!(record_state(&mut flash), None);

    // Given up after it was staged (the job was cancelled before the restart).
    let mut flash = factory_flash();
    stage(&mut flash, &file).unwrap();
    assert!(vendor_header(&mut flash).is_ok());
    abort_file(&mut flash, &slots()).unwrap();
    assert!(vendor_header(&mut flash).is_err());
    assert!(open_file(&mut flash, &slots()).is_err());
    assert_eq!(record_state(&mut flash), None);
    assert_eq!(install(&mut flash), Ok(InstallOutcome::NothingStaged));
    assert_eq!(app_version(&mut flash), "1.0.0");

    // A file put into app_ota whole, given up without being checked.
    let mut flash = factory_flash();
    put_whole(&mut flash, &file);
    assert!(vendor_header(&mut flash).is_ok());
    abort_file(&mut flash, &slots()).unwrap();
    assert!(vendor_header(&mut flash).is_err());
    assert!(open_file(&mut flash, &slots()).is_err());
}

/// Puts `file` into `app_ota` whole, header included, as QEMU's loader or `flash write` do.
fn put_whole(flash: &mut impl Flash, file: &[u8]) {
    let sector = 4096;
    for at in (0..file.len() as u32).step_by(sector) {
        flash.erase_sector(APP_OTA + at).unwrap();
    }
    pal::program_span(flash, APP_OTA, file).unwrap();
}

#[test]
fn a_file_put_into_app_ota_whole_loses_its_header_when_refused_and_stages_when_it_passes() {
    let mut flash = factory_flash();
    let file = xz_ota_file("2.3.0", &app_binary(10, 40_000));
    put_whole(&mut flash, &file);

    let incoming = open_file(&mut flash, &slots()).unwrap();
    assert_eq!(incoming.file_len() as usize, file.len());
    let refused = close(&mut flash, incoming, &forged(&file));
    assert!(
        matches!(refused, Err(OtaError::Signature(_))),
        "{refused:?}"
    );
    assert!(vendor_header(&mut flash).is_err());
    assert_eq!(record_state(&mut flash), None);

    // The kept header offers the file again; the right signature stages it, and the body
    // bytes that share the header's sector are still there.
    let incoming = open_file(&mut flash, &slots()).unwrap();
    close(&mut flash, incoming, &sign(&file)).unwrap();
    let mut in_flash = vec![0u8; file.len()];
    flash.read(APP_OTA, &mut in_flash).unwrap();
    assert_eq!(in_flash, file);
    assert!(matches!(
        install(&mut flash),
        Ok(InstallOutcome::Installed(_))
    ));
    assert_eq!(app_version(&mut flash), "2.3.0");
}

#[test]
fn power_lost_between_the_body_and_the_header_leaves_no_header_and_the_file_stages_after() {
    let file = xz_ota_file("3.2.1", &app_binary(12, 30_000));
    let expected = ImageHeaderRepr::parse_bytes(&file).unwrap();
    // close's flash operations after the checks: the header without its magic, the magic,
    // the record.
    for budget in 0..=3 {
        let mut flash = factory_flash();
        let incoming = receive(&mut flash, &file);
        let mut failing = PowerLoss::new(&mut flash, budget, false);
        let result = close(&mut failing, incoming, &sign(&file));
        match budget {
            0 | 1 => {
                assert!(matches!(result, Err(OtaError::Flash(_))), "{result:?}");
                assert!(vendor_header(&mut flash).is_err(), "budget {budget}");
            }
            // The header landed, the record did not: a file that passed every check.
            2 => {
                assert!(matches!(result, Err(OtaError::Flash(_))), "{result:?}");
                assert_eq!(vendor_header(&mut flash), Ok(expected));
            }
            _ => assert!(result.is_ok(), "{result:?}"),
        }
        if budget < 3 {
            assert_eq!(record_state(&mut flash), None, "budget {budget}");
            // Power is back: the file is found again and staged.
            let incoming = open_file(&mut flash, &slots()).unwrap();
            close(&mut flash, incoming, &sign(&file)).unwrap();
        }
        assert_eq!(vendor_header(&mut flash), Ok(expected), "budget {budget}");
        assert!(matches!(
            install(&mut flash),
            Ok(InstallOutcome::Installed(_))
        ));
        assert_eq!(app_version(&mut flash), "3.2.1", "budget {budget}");
    }
}

/// Blocks of the tests that need a file of several: the sample files compress well.
const BLOCK: u32 = 1024;

#[test]
fn a_download_cut_short_by_a_restart_resumes_with_the_kept_header() {
    let mut flash = factory_flash();
    let file = xz_ota_file("2.4.0", &app_binary(13, 30_000));
    let blocks: Vec<_> = file.chunks(BLOCK as usize).collect();
    assert!(blocks.len() > 3);
    // The handle lives in RAM: the restart forgets it.
    {
        let mut incoming = create_file(&mut flash, &slots(), file.len() as u32).unwrap();
        for (index, block) in blocks.iter().enumerate().take(2) {
            write_block(
                &mut flash,
                &slots(),
                &mut incoming,
                index as u32 * BLOCK,
                block,
            )
            .unwrap();
        }
    }
    assert!(vendor_header(&mut flash).is_err(), "no header before close");

    // After the restart: the header comes back from the record sector.
    let mut incoming = open_file(&mut flash, &slots()).unwrap();
    assert_eq!(incoming.file_len() as usize, file.len());
    assert_eq!(incoming.header().map(|h| &h[..]), Some(&file[..64]));
    for (index, block) in blocks.iter().enumerate().skip(1) {
        write_block(
            &mut flash,
            &slots(),
            &mut incoming,
            index as u32 * BLOCK,
            block,
        )
        .unwrap();
    }
    close(&mut flash, incoming, &sign(&file)).unwrap();
    assert_eq!(record_state(&mut flash), Some(RecordState::Staged));
}

#[test]
fn header_bytes_may_come_in_pieces_but_never_change() {
    let mut flash = factory_flash();
    let file = xz_ota_file("2.5.0", &app_binary(14, 10_000));
    let mut incoming = create_file(&mut flash, &slots(), file.len() as u32).unwrap();
    write_block(&mut flash, &slots(), &mut incoming, 0, &file[..40]).unwrap();
    assert_eq!(incoming.header(), None);
    write_block(&mut flash, &slots(), &mut incoming, 40, &file[40..100]).unwrap();
    assert!(incoming.header().is_some());

    let mut changed = file[..40].to_vec();
    changed[17] ^= 0x20;
    assert_eq!(
        write_block(&mut flash, &slots(), &mut incoming, 0, &changed),
        Err(OtaError::HeaderConflict { offset: 17 })
    );
    // The same bytes again are fine.
    write_block(
        &mut flash,
        &slots(),
        &mut incoming,
        0,
        &file[..BLOCK as usize],
    )
    .unwrap();
    for (index, block) in file.chunks(BLOCK as usize).enumerate().skip(1) {
        write_block(
            &mut flash,
            &slots(),
            &mut incoming,
            index as u32 * BLOCK,
            block,
        )
        .unwrap();
    }
    close(&mut flash, incoming, &sign(&file)).unwrap();
    assert_eq!(
        vendor_header(&mut flash).map(|h| h.version.as_str().to_string()),
        Ok("2.5.0".into())
    );
}

#[test]
fn a_file_without_its_header_or_of_another_length_is_refused() {
    let file = xz_ota_file("2.6.0", &app_binary(15, 10_000));

    let mut flash = factory_flash();
    let mut incoming = create_file(&mut flash, &slots(), file.len() as u32).unwrap();
    write_block(&mut flash, &slots(), &mut incoming, 32, &file[32..]).unwrap();
    assert_eq!(
        close(&mut flash, incoming, &sign(&file)),
        Err(OtaError::HeaderMissing)
    );
    assert!(vendor_header(&mut flash).is_err());

    let mut flash = factory_flash();
    let longer = file.len() as u32 + 4;
    let mut incoming = create_file(&mut flash, &slots(), longer).unwrap();
    write_block(&mut flash, &slots(), &mut incoming, 0, &file).unwrap();
    assert_eq!(
        close(&mut flash, incoming, &sign(&file)),
        Err(OtaError::LengthMismatch {
            created: longer,
            header: file.len() as u32
        })
    );
    assert!(vendor_header(&mut flash).is_err());
    assert_eq!(record_state(&mut flash), None);
}

/// A flash whose power goes during an operation: the first `budget` operations complete, the
/// next one fails, and every later one too. With `tear`, that program first programs the first
/// half of its bytes, as a program cut short leaves the chip.
struct PowerLoss<'f> {
    inner: &'f mut TestFlash,
    budget: u32,
    tear: bool,
    dead: bool,
}

impl<'f> PowerLoss<'f> {
    fn new(inner: &'f mut TestFlash, budget: u32, tear: bool) -> Self {
        PowerLoss {
            inner,
            budget,
            tear,
            dead: false,
        }
    }

    /// Whether there is power for one more operation.
    fn spend(&mut self) -> bool {
        match self.budget.checked_sub(1).filter(|_| !self.dead) {
            Some(left) => {
                self.budget = left;
                true
            }
            None => false,
        }
    }
}

impl Flash for PowerLoss<'_> {
    fn geometry(&self) -> FlashGeometry {
        self.inner.geometry()
    }

    fn read(&mut self, offset: u32, buf: &mut [u8]) -> Result<(), crate::hal::FlashError> {
        self.inner.read(offset, buf)
    }

    fn erase_sector(&mut self, offset: u32) -> Result<(), crate::hal::FlashError> {
        if self.spend() {
            return self.inner.erase_sector(offset);
        }
        // An erase cut short is taken as not begun (the resume checks what it finds anyway).
        self.dead = true;
        Err(crate::hal::FlashError::Io)
    }

    fn program(&mut self, offset: u32, data: &[u8]) -> Result<(), crate::hal::FlashError> {
        if self.spend() {
            return self.inner.program(offset, data);
        }
        if self.tear && !core::mem::replace(&mut self.dead, true) {
            let _ = self.inner.program(offset, &data[..data.len() / 2]);
        }
        self.dead = true;
        Err(crate::hal::FlashError::Io)
    }
}

/// A second flash with the same content.
fn flash_copy(flash: &mut TestFlash) -> TestFlash {
    let mut bytes = vec![0u8; FlashGeometry::W800.size as usize];
    flash.read(0, &mut bytes).unwrap();
    SimulatedNor::new(RamStore(bytes), FlashGeometry::W800)
}

fn identity(job: &str, file: &[u8]) -> journal::DownloadIdentity {
    // The factory flash runs 1.0.0.
    journal::DownloadIdentity::new(job, 3, file.len() as u32, Version::new("1.0.0").unwrap())
        .unwrap()
}

/// Writes the 4 KiB blocks of `file` from `from` on, in order, until the flash fails; returns
/// how many were written.
fn download_from(flash: &mut impl Flash, incoming: &mut IncomingFile, file: &[u8]) -> usize {
    let from = incoming.prefix() as usize;
    file[from..]
        .chunks(4096)
        .enumerate()
        .take_while(|(index, block)| {
            let offset = (from + index * 4096) as u32;
            write_block(flash, &slots(), incoming, offset, block).is_ok()
        })
        .count()
}

#[test]
fn a_download_cut_by_power_loss_anywhere_resumes_from_its_last_sector_and_stages() {
    let file = xz_ota_file("4.0.0", &app_binary(21, 60_000));
    let blocks = file.len().div_ceil(4096);
    assert!(blocks >= 4, "{blocks} blocks");
    let id = identity("job-resume", &file);
    // Every erase and program of the whole download in turn is the one the power cut hits.
    let operations = {
        let mut flash = factory_flash();
        let mut counting = PowerLoss::new(&mut flash, u32::MAX - 1, true);
        let mut incoming = pal::create_download(&mut counting, &slots(), &id).unwrap();
        assert_eq!(download_from(&mut counting, &mut incoming, &file), blocks);
        u32::MAX - 1 - counting.budget
    };
    assert!(operations > 16 * blocks as u32, "{operations} operations");
    for budget in 0..=operations {
        let mut flash = factory_flash();
        let written = {
            let mut tearing = PowerLoss::new(&mut flash, budget, true);
            match pal::create_download(&mut tearing, &slots(), &id) {
                Ok(mut incoming) => download_from(&mut tearing, &mut incoming, &file),
                Err(_) => 0,
            }
        };
        // Power is back: the journal says where to go on, or nothing is trusted.
        let mut incoming = match pal::resume_download(&mut flash, &slots(), &id).unwrap() {
            Some(incoming) => incoming,
            None => pal::create_download(&mut flash, &slots(), &id).unwrap(),
        };
        let prefix = incoming.prefix() as usize;
        assert!(
            prefix.is_multiple_of(4096) || prefix == file.len(),
            "budget {budget}: {prefix}"
        );
        // At most the block the cut hit, and the one whose entry it kept out, come again.
        assert!(
            prefix >= written.saturating_sub(1) * 4096,
            "budget {budget}: {written} blocks written, resumed at {prefix}"
        );
        assert_eq!(download_from(&mut flash, &mut incoming, &file), {
            (file.len() - prefix).div_ceil(4096)
        });
        close(&mut flash, incoming, &sign(&file))
            .unwrap_or_else(|e| panic!("budget {budget}: {e}"));
        assert!(matches!(
            install(&mut flash),
            Ok(InstallOutcome::Installed(_))
        ));
        assert_eq!(app_version(&mut flash), "4.0.0", "budget {budget}");
    }
}

#[test]
fn a_journal_is_believed_only_for_the_same_download_and_the_same_bytes() {
    let file = xz_ota_file("4.1.0", &app_binary(22, 60_000));
    let id = identity("job-a", &file);
    let mut flash = factory_flash();
    let mut incoming = pal::create_download(&mut flash, &slots(), &id).unwrap();
    for (index, block) in file.chunks(4096).enumerate().take(3) {
        write_block(
            &mut flash,
            &slots(),
            &mut incoming,
            index as u32 * 4096,
            block,
        )
        .unwrap();
    }
    assert_eq!(
        pal::pending_download(&mut flash, &slots()).unwrap(),
        Some(id.clone())
    );
    // Another job, or another execution of the same job, starts over.
    let other_job = identity("job-b", &file);
    let next_execution = journal::DownloadIdentity {
        execution: 4,
        ..id.clone()
    };
    for other in [other_job, next_execution] {
        assert_eq!(pal::resume_download(&mut flash, &slots(), &other), Ok(None));
    }
    let resumed = pal::resume_download(&mut flash, &slots(), &id).unwrap();
    assert_eq!(resumed.map(|f| f.prefix()), Some(3 * 4096));

    // An entry off a sector boundary is not one this code writes: it is not believed, even
    // with the right CRC, since what follows it could not be erased alone.
    let mut off_boundary = flash_copy(&mut flash);
    let mut body = vec![0u8; 5000 - 64];
    off_boundary.read(APP_OTA + 64, &mut body).unwrap();
    let entry = journal::Progress {
        written: 5000,
        body_crc: jamcrc(&body),
    };
    let record = slots().record_offset();
    // The journal so far: three entries (one per block); the fourth slot is free.
    let slot = record + journal::PROGRESS_OFFSET + 3 * journal::PROGRESS_LEN as u32;
    off_boundary.program(slot, &entry.to_bytes()).unwrap();
    assert_eq!(
        pal::resume_download(&mut off_boundary, &slots(), &id),
        Ok(None)
    );

    // A bit of the body that changed since (programming only clears bits) is caught.
    let mut byte = [0u8; 1];
    flash.read(APP_OTA + 5000, &mut byte).unwrap();
    let cleared = byte[0] & (byte[0].wrapping_sub(1));
    assert_ne!(cleared, byte[0], "the test needs a byte with a bit set");
    flash.program(APP_OTA + 5000, &[cleared]).unwrap();
    assert_eq!(pal::resume_download(&mut flash, &slots(), &id), Ok(None));
}

#[test]
fn a_staged_or_aborted_file_has_no_pending_download() {
    let file = xz_ota_file("4.2.0", &app_binary(23, 60_000));
    let id = identity("job-staged", &file);
    let mut flash = factory_flash();
    let mut incoming = pal::create_download(&mut flash, &slots(), &id).unwrap();
    assert_eq!(
        download_from(&mut flash, &mut incoming, &file),
        file.len().div_ceil(4096)
    );
    close(&mut flash, incoming, &sign(&file)).unwrap();
    assert_eq!(pal::pending_download(&mut flash, &slots()), Ok(None));
    assert_eq!(pal::resume_download(&mut flash, &slots(), &id), Ok(None));

    let mut incoming = pal::create_download(&mut flash, &slots(), &id).unwrap();
    download_from(&mut flash, &mut incoming, &file[..8192]);
    abort_file(&mut flash, &slots()).unwrap();
    assert_eq!(pal::pending_download(&mut flash, &slots()), Ok(None));
}

#[test]
fn a_file_created_without_an_identity_keeps_no_journal() {
    let file = xz_ota_file("4.3.0", &app_binary(24, 60_000));
    let mut flash = factory_flash();
    let mut incoming = create_file(&mut flash, &slots(), file.len() as u32).unwrap();
    download_from(&mut flash, &mut incoming, &file[..8192]);
    assert_eq!(pal::pending_download(&mut flash, &slots()), Ok(None));
}

#[test]
fn a_failed_download_keeps_its_verdict_until_aborted_and_is_not_resumed() {
    let file = xz_ota_file("4.4.0", &app_binary(25, 60_000));
    let id = identity("job-failed", &file);
    let mut flash = factory_flash();
    let mut incoming = pal::create_download(&mut flash, &slots(), &id).unwrap();
    download_from(&mut flash, &mut incoming, &file);
    // Refused at close: the header never reaches the start of app_ota.
    assert!(close(&mut flash, incoming, &forged(&file)).is_err());
    let verdict = journal::Verdict::new("signature: the signature does not verify");
    pal::fail_download(&mut flash, &slots(), &verdict).unwrap();
    // A second failure (the agent failing again after a restart) keeps the first verdict.
    pal::fail_download(&mut flash, &slots(), &journal::Verdict::new("other")).unwrap();
    assert!(vendor_header(&mut flash).is_err());
    assert_eq!(
        pal::pending_download(&mut flash, &slots()),
        Ok(Some(id.clone()))
    );
    assert_eq!(
        pal::download_verdict(&mut flash, &slots(), &id),
        Ok(Some(verdict))
    );
    assert_eq!(pal::resume_download(&mut flash, &slots(), &id), Ok(None));
    assert_eq!(
        pal::download_verdict(&mut flash, &slots(), &identity("job-other", &file)),
        Ok(None)
    );
    assert_eq!(install(&mut flash), Ok(InstallOutcome::NothingStaged));
    // Once the cloud has it, the file goes.
    abort_file(&mut flash, &slots()).unwrap();
    assert_eq!(pal::pending_download(&mut flash, &slots()), Ok(None));
    assert_eq!(pal::download_verdict(&mut flash, &slots(), &id), Ok(None));
}

#[test]
fn an_installed_image_is_confirmed_with_one_more_cleared_bit() {
    let file = xz_ota_file("4.5.0", &app_binary(26, 30_000));
    let mut flash = factory_flash();
    let incoming = receive(&mut flash, &file);
    close(&mut flash, incoming, &sign(&file)).unwrap();
    assert!(matches!(
        install(&mut flash),
        Ok(InstallOutcome::Installed(_))
    ));
    pal::mark(&mut flash, &slots(), RecordState::Confirmed).unwrap();
    assert_eq!(record_state(&mut flash), Some(RecordState::Confirmed));
    // Nothing is installed again.
    assert_eq!(install(&mut flash), Ok(InstallOutcome::NothingStaged));
}

#[test]
fn the_image_installed_from_a_journaled_download_is_found_until_confirmed() {
    let file = xz_ota_file("4.6.0", &app_binary(27, 60_000));
    let id = identity("job-installed", &file);
    let mut flash = factory_flash();
    let mut incoming = pal::create_download(&mut flash, &slots(), &id).unwrap();
    download_from(&mut flash, &mut incoming, &file);
    close(&mut flash, incoming, &sign(&file)).unwrap();
    assert_eq!(
        pal::installed_download(&mut flash, &slots(), &id),
        Ok(None),
        "staged, not installed"
    );
    assert!(matches!(
        install(&mut flash),
        Ok(InstallOutcome::Installed(_))
    ));
    // Asked for by the new image, which runs another version: the same file all the same.
    let asked = journal::DownloadIdentity {
        replaced: Version::new("4.6.0").unwrap(),
        ..id.clone()
    };
    let found = pal::installed_download(&mut flash, &slots(), &asked).unwrap();
    assert_eq!(found.map(|v| v.as_str().to_string()), Some("1.0.0".into()));
    assert_eq!(
        pal::installed_download(&mut flash, &slots(), &identity("job-other", &file)),
        Ok(None)
    );
    pal::mark(&mut flash, &slots(), RecordState::Confirmed).unwrap();
    assert_eq!(pal::installed_download(&mut flash, &slots(), &id), Ok(None));
}

/// What a sink of the trial's unpacking gets: the header, then the body.
#[derive(Default)]
struct Unpacked {
    header: Option<ImageHeaderRepr>,
    body: Vec<u8>,
}

impl<F: ?Sized> content::Sink<F> for Unpacked {
    fn header(&mut self, _: &mut F, header: &ImageHeaderRepr) -> Result<(), OtaError> {
        self.header = Some(*header);
        Ok(())
    }

    fn body(&mut self, _: &mut F, offset: u32, data: &[u8]) -> Result<(), OtaError> {
        assert_eq!(offset as usize, self.body.len(), "in order");
        self.body.extend_from_slice(data);
        Ok(())
    }
}

#[test]
fn an_image_on_trial_leaves_app_alone_until_accepted_and_a_rolled_back_one_never_installs() {
    let body = app_binary(28, 90_000);
    let file = xz_ota_file("4.7.0", &body);
    let mut flash = factory_flash();
    stage(&mut flash, &file).unwrap();

    // The boot stage unpacks the staged image to run it on trial; app and the record stay.
    let mut unpacked = Unpacked::default();
    let header = install::unpack_staged(
        &mut flash,
        &slots(),
        &mut Memory::new().workspace(),
        &mut unpacked,
    )
    .unwrap();
    assert_eq!(unpacked.header, Some(header));
    assert_eq!(header.version.as_str(), "4.7.0");
    assert_eq!(unpacked.body, body);
    assert_eq!(record_state(&mut flash), Some(RecordState::Staged));
    let moved = pal::advance(
        &mut flash,
        &slots(),
        RecordState::Staged,
        RecordState::Trial,
    );
    assert_eq!(moved, Ok(true));
    assert!(pal::awaits_confirmation(&mut flash, &slots()).unwrap());
    // On trial, nothing installs, and nothing more unpacks.
    assert_eq!(install(&mut flash), Ok(InstallOutcome::NothingStaged));
    assert_eq!(app_version(&mut flash), "1.0.0");
    assert_eq!(
        install::unpack_staged(
            &mut flash,
            &slots(),
            &mut Memory::new().workspace(),
            &mut Unpacked::default()
        ),
        Err(OtaError::RecordMismatch)
    );

    // Its verdict and its deadline race: the first to move the record wins.
    let mut rolled_back = flash_copy(&mut flash);
    assert_eq!(
        pal::advance(
            &mut flash,
            &slots(),
            RecordState::Trial,
            RecordState::Accepted
        ),
        Ok(true)
    );
    assert_eq!(
        pal::advance(
            &mut flash,
            &slots(),
            RecordState::Trial,
            RecordState::RolledBack
        ),
        Ok(false)
    );
    assert!(!pal::awaits_confirmation(&mut flash, &slots()).unwrap());
    // Accepted: the next start installs it and the record says committed, awaiting the
    // cloud's verdict from the installed image.
    assert!(matches!(
        install(&mut flash),
        Ok(InstallOutcome::Installed(h)) if h == header
    ));
    assert_eq!(app_version(&mut flash), "4.7.0");
    assert_eq!(record_state(&mut flash), Some(RecordState::Committed));
    assert!(pal::awaits_confirmation(&mut flash, &slots()).unwrap());
    assert_eq!(install(&mut flash), Ok(InstallOutcome::NothingStaged));
    assert_eq!(pal::rolled_back(&mut flash, &slots()), Ok(None));

    // Rolled back: never installed, and its version is what the previous image reports.
    assert_eq!(
        pal::advance(
            &mut rolled_back,
            &slots(),
            RecordState::Trial,
            RecordState::RolledBack
        ),
        Ok(true)
    );
    assert_eq!(install(&mut rolled_back), Ok(InstallOutcome::NothingStaged));
    assert_eq!(app_version(&mut rolled_back), "1.0.0");
    assert!(!pal::awaits_confirmation(&mut rolled_back, &slots()).unwrap());
    let lost = pal::rolled_back(&mut rolled_back, &slots()).unwrap();
    assert_eq!(
        lost.map(|v| v.as_str().to_owned()),
        Some("4.7.0".to_owned())
    );
    // A step that is none is refused.
    assert!(pal::advance(
        &mut rolled_back,
        &slots(),
        RecordState::RolledBack,
        RecordState::Accepted
    )
    .is_err());
}
