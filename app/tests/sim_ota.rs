//! OTA on the sim without a network: an `_ota.img` written into the flash file's `app_ota`
//! (as QEMU's loader puts it there), checked and staged by `ota verify` with an ECDSA
//! signature from the test PKI, run on trial by the sim's loader after `ota activate`, and
//! installed into `app` after `ota accept` (as the W800's bootloader installs, without the
//! trial). The image is a real sim firmware of the next version, which the loader then runs (docs/sim-boot.md; what runs is tested in sim_boot.rs). A refused file
//! must not keep a valid vendor header at the start of `app_ota`, where the W800's bootloader
//! would find it.

mod support;

use bsp::format::image::{self, ImageHeaderRepr};
use bsp::sample::app_binary;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::time::Duration;
use support::{
    flash_with_ota_file, make_pki, ota_image, run_to_end, signature, sim, sim_firmware, temp_flash,
    Session, APP_OTA,
};

const APP_BODY: u64 = 0xF400;
const WAIT: Duration = Duration::from_secs(20);

/// The first 64 bytes of `app_ota` in the flash file, parsed as the W800's bootloader does.
fn app_ota_header(flash: &Path) -> Result<ImageHeaderRepr, image::Error> {
    let mut bytes = [0u8; image::HEADER_LEN];
    std::fs::File::open(flash)
        .unwrap()
        .read_exact_at(&mut bytes, APP_OTA)
        .unwrap();
    ImageHeaderRepr::parse_bytes(&bytes)
}

fn session(flash: &Path, pki: &Path) -> Session {
    let mut command = sim(flash);
    command
        .arg("--code-signing")
        .arg(pki.join("code-signing.crt"));
    let mut session = Session::start(command);
    session.expect("app image ver", WAIT);
    session
}

#[test]
fn a_signed_image_is_staged_then_installed_by_the_loader() {
    let flash = temp_flash("ota-pki");
    let pki = make_pki(flash.parent().unwrap());
    let firmware = sim_firmware("0.2.0");
    let img = std::fs::read(&firmware.img).unwrap();
    let ota = std::fs::read(&firmware.ota).unwrap();
    let flash = flash_with_ota_file("ota-install", &ota);
    let dir = flash.parent().unwrap().to_path_buf();
    let mut device = session(&flash, &pki);

    device.send("ota");
    // The sim under test is a debug build, too large for app: app holds a header only.
    device.expect("app:     0.1.0, 0 bytes, uncompressed (CRC ok)", WAIT);
    device.expect(
        &format!("app_ota: 0.2.0, {} bytes, xz", ota.len() - 64),
        WAIT,
    );
    device.expect("record:  none", WAIT);
    let file_header = ImageHeaderRepr::parse_bytes(&ota).unwrap();
    assert_eq!(app_ota_header(&flash), Ok(file_header));

    // Signed by a key the firmware does not trust: refused, nothing staged, no header left.
    let foreign = signature(&dir, &ota, &pki.join("foreign-ca.key"));
    device.send(&format!("ota verify {foreign}"));
    device.expect("refused: signature does not verify", WAIT);
    assert!(
        app_ota_header(&flash).is_err(),
        "a refused file keeps no header"
    );
    device.send("ota activate");
    device.expect("no image is staged", WAIT);

    let good = signature(&dir, &ota, &pki.join("code-signing.key"));
    device.send(&format!("ota verify {good}"));
    device.expect(
        &format!(
            "staged 0.2.0: file {} bytes, image {} bytes",
            ota.len(),
            img.len() - 64
        ),
        WAIT,
    );
    assert_eq!(
        app_ota_header(&flash),
        Ok(file_header),
        "staged with its header"
    );
    device.send("ota activate");
    // The loader runs it on trial; accepted by hand, it goes into app.
    device.expect("loader: starting 0.2.0", WAIT);
    device.expect("W800 AWS OTA firmware 0.2.0 (board sim)", WAIT);
    device.expect("boot reason 5 (ota)", WAIT);
    device.expect("0.2.0 runs on trial; app keeps 0.1.0", WAIT);
    device.send("ota");
    device.expect("record:  on trial", WAIT);
    device.send("ota accept");
    device.expect(
        "loader: installing the image the cloud accepted from app_ota into app",
        WAIT,
    );
    device.expect(
        &format!("loader: installed 0.2.0 ({} bytes)", img.len() - 64),
        WAIT,
    );
    device.expect("W800 AWS OTA firmware 0.2.0 (board sim)", WAIT);
    device.expect("app image ver 0.2.0", WAIT);
    device.send("ota");
    device.expect("app:     0.2.0", WAIT);
    device.expect("record:  committed", WAIT);
    drop(device);

    let mut installed = vec![0u8; img.len() - 64];
    std::fs::File::open(&flash)
        .unwrap()
        .read_exact_at(&mut installed, APP_BODY)
        .unwrap();
    assert_eq!(installed, img[64..], "app holds the image's body");
    assert_eq!(installed, firmware.body(), "which is the firmware");

    // The next power-on finds nothing to install.
    let text = run_to_end(sim(&flash), "", WAIT);
    assert!(!text.contains("installing"), "{text}");
    assert!(text.contains("app image ver 0.2.0"), "{text}");
}

#[test]
fn a_damaged_image_is_refused_and_the_running_one_kept() {
    let flash = temp_flash("ota-damaged-pki");
    let pki = make_pki(flash.parent().unwrap());
    let (_, ota) = ota_image(&app_binary(2, 40_000), "0.3.0");
    let dir = flash.parent().unwrap().to_path_buf();
    let good = signature(&dir, &ota, &pki.join("code-signing.key"));
    let mut damaged = ota.clone();
    let middle = damaged.len() / 2;
    damaged[middle] ^= 0x10;
    let flash = flash_with_ota_file("ota-damaged", &damaged);
    let mut device = session(&flash, &pki);

    device.send(&format!("ota verify {good}"));
    device.expect("refused: file: image body checksum mismatch", WAIT);
    device.send("ota verify MEQC!A==");
    device.expect("not base64 at character 4", WAIT);
    device.send("ota activate");
    device.expect("no image is staged", WAIT);
    device.send("reboot");
    device.expect("boot reason 4 (user reboot)", WAIT);
    device.expect("app image ver 0.1.0", WAIT);
    drop(device);
    assert!(
        app_ota_header(&flash).is_err(),
        "a refused file keeps no header"
    );
}
