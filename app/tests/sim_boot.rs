//! What runs on the sim is what `app` holds (docs/sim-boot.md): a factory-fresh flash gets the
//! running executable as `app`'s image; after an OTA the process runs the new executable (its
//! compiled-in version), across a reboot and a power cycle; an `app` that fails its check is
//! refused at boot, out loud, and the executable that runs instead says it is not `app`'s.
//!
//! The sim under test (`CARGO_BIN_EXE_w800-sim`) is a debug build of some 15 MB, too large for
//! `app`; the firmware that goes into images is built by `scripts/build sim` (about 1.1 MB).

mod support;

use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use support::{
    flash_with_ota_file, make_pki, run_to_end, signature, sim, sim_firmware, temp_flash, Firmware,
    Session,
};

const APP_HEADER: u64 = 0xF000;
const APP_BODY: u64 = 0xF400;
const WAIT: Duration = Duration::from_secs(30);

/// The version of the firmware the tests update to (the sim under test is the crate's 0.1.0).
const NEXT: &str = "0.2.0";

/// The sim's state folder for `flash`.
fn state_folder(flash: &Path) -> PathBuf {
    let mut state = flash.as_os_str().to_owned();
    state.push(".state");
    PathBuf::from(state)
}

/// The executable the sim's loader writes out for `flash` from `app`.
fn app_executable(flash: &Path) -> PathBuf {
    state_folder(flash).join("app")
}

/// The executable the sim's loader writes out for `flash` to run a staged image on trial.
fn trial_executable(flash: &Path) -> PathBuf {
    state_folder(flash).join("trial")
}

/// `app`'s body in the flash file, as long as `firmware`'s.
fn app_body(flash: &Path, firmware: &Firmware) -> Vec<u8> {
    let mut body = vec![0u8; firmware.body().len()];
    std::fs::File::open(flash)
        .unwrap()
        .read_exact_at(&mut body, APP_BODY)
        .unwrap();
    body
}

/// The sim firmware of `firmware`'s version, run from its own file on `flash`.
fn firmware_sim(firmware: &Firmware, flash: &Path) -> Command {
    let mut command = Command::new(&firmware.exe);
    command
        .arg("--flash")
        .arg(flash)
        .env_remove("W800_SIM_RESET_REASON");
    command
}

/// A step of the boot banner as it prints.
fn banner_step(what: &str, ok: bool) -> String {
    let verdict = if ok { "[  OK  ]" } else { "[ FAIL ]" };
    format!("| {what:<39}{verdict} |")
}

/// The file the process `pid` executes.
fn process_executable(pid: u32) -> PathBuf {
    std::fs::read_link(format!("/proc/{pid}/exe")).unwrap()
}

#[test]
fn a_factory_fresh_flash_holds_the_running_executable_and_runs_it() {
    let firmware = sim_firmware(NEXT);
    let flash = temp_flash("boot-factory");
    let text = run_to_end(firmware_sim(&firmware, &flash), "version\n", WAIT);
    let len = firmware.body().len();
    assert!(
        text.contains(&format!(
            "[I] (0) loader: new flash: app holds this executable ({len} bytes, {} bytes of app to spare)",
            1_186_816 - len
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!("loader: running app: {NEXT}, {len} bytes")),
        "{text}"
    );
    assert!(
        text.contains(&format!("firmware {NEXT} (board sim)")),
        "{text}"
    );
    assert!(
        text.contains(&format!("app image ver {NEXT}, upd_no 0, {len} bytes")),
        "{text}"
    );
    assert!(!text.contains("error"), "{text}");
    assert_eq!(app_body(&flash, &firmware), firmware.body());

    // The next start runs what app holds, which is itself: nothing is written out.
    let text = run_to_end(firmware_sim(&firmware, &flash), "", WAIT);
    assert!(!text.contains("new flash"), "{text}");
    assert!(text.contains("loader: running app"), "{text}");
    assert!(!app_executable(&flash).exists());

    // The debug build does not fit app: it says so, and runs.
    let flash = temp_flash("boot-factory-debug");
    let text = run_to_end(sim(&flash), "version\n", WAIT);
    assert!(
        text.contains("[W] (0) loader: new flash: this executable (")
            && text.contains(
                "does not fit app (1186816 bytes): app holds an image header without code"
            ),
        "{text}"
    );
    assert!(
        text.contains("[W] (0) loader: app holds no code (0.1.0, 0 bytes"),
        "{text}"
    );
    assert!(text.contains("firmware 0.1.0 (board sim)"), "{text}");
}

#[test]
fn after_an_ota_the_new_executable_runs_across_a_reboot_and_a_power_cycle() {
    let firmware = sim_firmware(NEXT);
    let ota = std::fs::read(&firmware.ota).unwrap();
    let flash = flash_with_ota_file("boot-ota", &ota);
    let dir = flash.parent().unwrap().to_path_buf();
    let pki = make_pki(&dir);
    let mut command = sim(&flash);
    command
        .arg("--code-signing")
        .arg(pki.join("code-signing.crt"));
    let mut device = Session::start(command);
    device.expect("W800 AWS OTA firmware 0.1.0 (board sim)", WAIT);
    device.send("version");
    device.expect("firmware 0.1.0 (board sim)", WAIT);
    let started_as = process_executable(device.pid());

    let good = signature(&dir, &ota, &pki.join("code-signing.key"));
    device.send(&format!("ota verify {good}"));
    device.expect(&format!("staged {NEXT}"), WAIT);
    device.send("ota activate");
    // The new image runs on trial, from app_ota; app keeps what it held.
    let trial = trial_executable(&flash);
    let started = device.expect(&format!("on trial ({})", trial.display()), WAIT);
    let len = firmware.body().len();
    assert!(
        started.contains(&format!("loader: starting {NEXT}, {len} bytes")),
        "{started}"
    );
    device.expect(&format!("W800 AWS OTA firmware {NEXT} (board sim)"), WAIT);
    device.expect(&banner_step("running on trial from app_ota", true), WAIT);
    device.expect("boot reason 5 (ota)", WAIT);
    device.expect(&format!("{NEXT} runs on trial; app keeps 0.1.0"), WAIT);
    assert_ne!(app_body(&flash, &firmware), firmware.body());
    // Accepted by hand (as a passed self-test does), it goes into app.
    device.send("ota accept");
    device.expect(&format!("loader: installed {NEXT}"), WAIT);
    device.expect(&format!("loader: running app: {NEXT}"), WAIT);
    device.expect(&format!("W800 AWS OTA firmware {NEXT} (board sim)"), WAIT);
    device.expect(
        &banner_step("app version is the running version", true),
        WAIT,
    );
    device.send("version");
    device.expect(&format!("firmware {NEXT} (board sim)"), WAIT);
    device.expect(&format!("app image ver {NEXT}"), WAIT);
    // The same process now executes the firmware app holds, not the one it started as.
    let running = process_executable(device.pid());
    assert_ne!(running, started_as);
    assert_eq!(running, trial);
    assert_eq!(std::fs::read(&running).unwrap(), firmware.body());
    assert_eq!(app_body(&flash, &firmware), firmware.body());

    // A plain reboot restarts the same executable, which finds itself in app.
    device.send("reboot");
    device.expect("boot reason", WAIT);
    device.send("version");
    device.expect(&format!("firmware {NEXT} (board sim)"), WAIT);
    let rebooted = device
        .printed()
        .rsplit("shell: rebooting")
        .next()
        .unwrap()
        .to_owned();
    assert!(
        rebooted.contains(&format!("loader: running app: {NEXT}")),
        "{rebooted}"
    );
    assert!(!rebooted.contains("starting it"), "{rebooted}");
    assert!(
        rebooted.contains("boot reason 4 (user reboot)"),
        "{rebooted}"
    );
    assert_eq!(process_executable(device.pid()), trial);
    drop(device);

    // A power cycle of the 0.1.0 executable starts app's again, with no error said.
    let text = run_to_end(sim(&flash), "version\n", WAIT);
    assert!(text.contains("starting it"), "{text}");
    assert!(
        text.contains(&format!("firmware {NEXT} (board sim)")),
        "{text}"
    );
    assert!(text.contains("boot reason 0 (power-on)"), "{text}");
    assert!(!text.contains("error") && !text.contains("[E]"), "{text}");
}

#[test]
fn an_app_with_a_flipped_byte_is_refused_at_boot_and_what_runs_instead_says_so() {
    let firmware = sim_firmware(NEXT);
    let flash = temp_flash("boot-flipped");
    run_to_end(firmware_sim(&firmware, &flash), "", WAIT);
    let mut header = [0u8; 64];
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&flash)
        .unwrap();
    file.read_exact_at(&mut header, APP_HEADER).unwrap();
    let crc = u32::from_le_bytes(header[0x18..0x1C].try_into().unwrap());
    let at = APP_BODY + 100_000;
    let mut byte = [0u8; 1];
    file.read_exact_at(&mut byte, at).unwrap();
    file.write_all_at(&[byte[0] ^ 0x40], at).unwrap();
    drop(file);

    // Started by the debug build (0.1.0): app is refused, and nothing else is started.
    let text = run_to_end(sim(&flash), "version\n", WAIT);
    let len = firmware.body().len();
    let said = |line: &str| assert!(text.contains(line), "no {line:?} in:\n{text}");
    said("[E] (0) loader: app refused: app image: image body checksum mismatch");
    said(&format!(
        "[E] (0) loader: the flash holds: app's header says {NEXT}, {len} bytes, CRC 0x{crc:08X}; \
         app_ota holds no image, no update record"
    ));
    said("[E] (0) loader: running this executable instead (0.1.0, ");
    said("which is not what app holds");
    assert!(!text.contains("starting it"), "{text}");
    assert!(!app_executable(&flash).exists());
    // The firmware that runs reports that it is not app's, in the banner and in `version`.
    said("W800 AWS OTA firmware 0.1.0 (board sim)");
    said(&banner_step("app version is the running version", false));
    said(&format!(
        "boot: the running firmware is 0.1.0, but app holds {NEXT}"
    ));
    said("firmware 0.1.0 (board sim)");
    said(&format!(
        "error: version: the running firmware is 0.1.0, but app holds {NEXT}: the code that runs is not the image in app"
    ));

    // Started by the firmware itself: refused too, and said, though the versions agree.
    let text = run_to_end(firmware_sim(&firmware, &flash), "", WAIT);
    assert!(text.contains("loader: app refused"), "{text}");
    assert!(
        text.contains(&format!("running this executable instead ({NEXT}, ")),
        "{text}"
    );
}
