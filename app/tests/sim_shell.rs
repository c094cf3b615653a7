//! The sim firmware end to end: a shell session through a pipe, across a reboot and a power
//! cycle, with the flash file surviving both.

mod support;

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;
use support::{sim, temp_flash};

/// Runs the sim on `flash` with `input` as its whole console input; returns what it printed.
fn run_sim(flash: &Path, input: &str) -> String {
    support::run_to_end(sim(flash), input, Duration::from_secs(60))
}

/// The text between the `n`th banner and the next one (or the end).
fn boot_section(text: &str, n: usize) -> &str {
    let marker = "W800 AWS OTA firmware";
    let starts: Vec<usize> = text.match_indices(marker).map(|(i, _)| i).collect();
    let start = *starts
        .get(n)
        .unwrap_or_else(|| panic!("no boot #{n} in:\n{text}"));
    let end = starts.get(n + 1).copied().unwrap_or(text.len());
    &text[start..end]
}

#[test]
fn shell_session_survives_reboot_and_power_cycle_with_flash_intact() {
    let flash = temp_flash("session");
    let text = run_sim(
        &flash,
        "help\nversion\npartition\nflash read 0xE000 64\nfree\ntask\n\
         flash write 0x1F0010 C0FFEE42\nreboot\n\
         version\nflash read 0x1F0010 4\n",
    );

    let first = boot_section(&text, 0);
    assert!(first.contains("boot reason 0 (power-on)"), "{first}");
    assert!(first.contains("W800: "), "no prompt:\n{first}");
    for cmd in [
        "help",
        "version",
        "reboot",
        "free",
        "task",
        "partition",
        "flash",
    ] {
        assert!(
            first.contains(&format!("\n  {cmd:<10} ")),
            "help lacks {cmd}:\n{first}"
        );
    }
    assert!(first.contains("firmware 0.1.0 (board sim)"), "{first}");
    assert!(first.contains("kernel FreeRTOS V11.2.0"), "{first}");
    assert!(
        first.contains("app_ota          0x00131000 0x000AF000"),
        "partition table:\n{first}"
    );
    // The partition table's magic 0xA1F2F39F, little endian, then version 0 and 7 entries.
    assert!(
        first.contains("0000E000: 9F F3 F2 A1 00 00 07 00"),
        "{first}"
    );
    assert!(first.contains("heap free "), "{first}");
    assert!(
        first.contains("shell ") && first.contains("IDLE"),
        "{first}"
    );
    assert!(
        first.contains("programmed 4 bytes at 0x001F0010"),
        "{first}"
    );

    let second = boot_section(&text, 1);
    assert!(second.contains("boot reason 4 (user reboot)"), "{second}");
    assert!(second.contains("firmware 0.1.0 (board sim)"), "{second}");
    assert!(second.contains("001F0010: C0 FF EE 42"), "{second}");
    assert!(text.contains("console input ended, powering off"), "{text}");

    // A power cycle: a new process on the same flash file.
    let text = run_sim(&flash, "flash read 0x1F0010 4\n");
    assert!(text.contains("boot reason 0 (power-on)"), "{text}");
    assert!(text.contains("001F0010: C0 FF EE 42"), "{text}");
    std::fs::remove_dir_all(flash.parent().unwrap()).unwrap();
}

#[test]
fn bad_commands_and_flash_misuse_get_clear_errors() {
    let flash = temp_flash("errors");
    let long_line = "x".repeat(2300);
    let text = run_sim(
        &flash,
        &format!(
            "reboo\nxyzzy\n{long_line}\nflash read 0x1FFFFF 2\nflash read 0 0\n\
             flash write 0x1000 00\nflash write 0x1F0100 0F\nflash write 0x1F0100 F0\n\
             flash write 0x1F00FF 0000\nflash erase 0x1F0800\nflash read 0x1F0100 1\n\
             flash bogus\nhelp flash\n"
        ),
    );
    let expect = [
        "unknown command 'reboo': did you mean 'reboot'?",
        "unknown command 'xyzzy': type 'help' for the list",
        "error: line too long (at most 2200 characters)",
        "error: flash: range 0x1FFFFF+0x2 is outside the flash",
        "error: flash: length must be 1..=4096",
        "error: flash: 0x1000 is in the factory-test area",
        "programmed 1 bytes at 0x001F0100",
        "error: flash: program at 0x1F0100 would set bits that are not erased",
        "error: flash: program 0x1F00FF+0x2 crosses a page boundary",
        "error: flash: erase at 0x1F0800 is not sector aligned",
        // The refused writes left the byte as the first write made it.
        "001F0100: 0F ",
        "usage: flash read <offset> <len>",
        "flash: read (hex dump), program or erase the flash",
    ];
    for line in expect {
        assert!(text.contains(line), "missing {line:?} in:\n{text}");
    }
    std::fs::remove_dir_all(flash.parent().unwrap()).unwrap();
}

#[test]
fn a_bad_flash_file_is_refused_at_start() {
    let flash = temp_flash("bad");
    std::fs::write(&flash, [0u8; 1000]).unwrap();
    let out = sim(&flash).stdin(Stdio::null()).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("is 1000 bytes, not the W800's 2097152"),
        "{err}"
    );
    std::fs::remove_dir_all(flash.parent().unwrap()).unwrap();
}
