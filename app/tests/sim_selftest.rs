//! `selftest` in the sim: the kernel, atomics, floats and the flash rules against FreeRTOS's
//! POSIX port, as `scripts/qemu-smoke` runs it against the C-SKY port.

mod support;

use std::time::Duration;

#[test]
fn selftest_passes_reports_its_verdict_and_leaves_the_flash_as_it_was() {
    let flash = support::temp_flash("selftest");
    // Something in the sector the flash check borrows (the start of app_ota).
    let text = support::run_to_end(
        support::sim(&flash),
        "flash write 0x131000 A5\nselftest exit\nversion\n",
        Duration::from_secs(60),
    );
    let checks = text.matches("\n  ok    ").count();
    assert!(text.contains("selftest: 10 checks"), "{text}");
    assert_eq!(checks, 10, "{text}");
    assert!(text.contains("selftest: 10 passed, 0 failed"), "{text}");
    // `exit` powered the sim off (with status 0, which run_to_end checks) before `version`.
    assert!(!text.contains("kernel FreeRTOS V11.2.0"), "{text}");

    let text = support::run_to_end(
        support::sim(&flash),
        "flash read 0x131000 2\n",
        Duration::from_secs(30),
    );
    assert!(text.contains("00131000: A5 FF"), "{text}");
    std::fs::remove_dir_all(flash.parent().unwrap()).unwrap();
}
