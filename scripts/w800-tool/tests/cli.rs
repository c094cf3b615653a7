//! End-to-end tests of the `w800-tool` binary: exit codes, files written, messages.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use bsp::format::image::{CompressType, ImageHeaderRepr, HEADER_LEN};
use bsp::format::ptable::{PartitionTable, PartitionTableRepr, W800_FLASH_SIZE};
use tempfile::TempDir;

fn tool(args: &[&Path]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_w800-tool"))
        .args(args)
        .output()
        .expect("the tool runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Asserts a clean failure: `code`, an `error:` line, no panic.
fn assert_fails(output: &Output, code: i32) {
    let stderr = stderr(output);
    assert_eq!(output.status.code(), Some(code), "stderr: {stderr}");
    assert!(stderr.starts_with("error: "), "stderr: {stderr}");
    assert!(!stderr.contains("panicked"), "stderr: {stderr}");
}

fn assert_ok(output: &Output) {
    assert!(output.status.success(), "stderr: {}", stderr(output));
}

struct Files {
    dir: TempDir,
}

impl Files {
    fn new() -> Self {
        Files {
            dir: TempDir::new().expect("temp dir"),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes a firmware-like raw binary and packs it into `app.img` and `app_ota.img`.
    fn packed(&self) -> (PathBuf, PathBuf) {
        let raw: Vec<u8> = (0..150_001u32)
            .map(|i| [0x6C, 0x00, (i >> 5) as u8, (i % 13) as u8][(i % 4) as usize])
            .collect();
        let (bin, img, ota) = (
            self.path("app.bin"),
            self.path("app.img"),
            self.path("app_ota.img"),
        );
        fs::write(&bin, raw).unwrap();
        assert_ok(&tool(&[
            "pack".as_ref(),
            "--input".as_ref(),
            &bin,
            "--output".as_ref(),
            &img,
            "--version".as_ref(),
            "1.2.3".as_ref(),
            "--upd-no".as_ref(),
            "5".as_ref(),
        ]));
        assert_ok(&tool(&[
            "pack".as_ref(),
            "--ota".as_ref(),
            "--input".as_ref(),
            &img,
            "--output".as_ref(),
            &ota,
        ]));
        (img, ota)
    }
}

#[test]
fn pack_then_inspect() {
    let files = Files::new();
    let (img, ota) = files.packed();
    let data = fs::read(&img).unwrap();
    assert_eq!(data.len(), HEADER_LEN + 150_004);

    let report = tool(&["inspect".as_ref(), &img]);
    assert_ok(&report);
    let text = stdout(&report);
    for expected in [
        "img_header_addr:  0x0800f000",
        "img_addr:         0x0800f400",
        "upgrade_img_addr: 0x08131000",
        "ver:              \"1.2.3\"",
        "upd_no:           0x00000005 (5)",
        "compress_type none",
        "header checksum: ok",
        "body checksum: ok",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in\n{text}");
    }

    let report = tool(&["inspect".as_ref(), &ota]);
    assert_ok(&report);
    let text = stdout(&report);
    for expected in [
        "img_attr:         0x00100001",
        "compress_type xz",
        "check CRC32 (0x01), LZMA2 dictionary 32768 bytes",
        "inner image",
        "  ver:              \"1.2.3\"",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in\n{text}");
    }
}

#[test]
fn pack_ota_then_unpack_gives_back_the_identical_img() {
    let files = Files::new();
    let (img, ota) = files.packed();
    let back = files.path("back.img");
    assert_ok(&tool(&[
        "unpack".as_ref(),
        "--input".as_ref(),
        &ota,
        "--output".as_ref(),
        &back,
    ]));
    assert_eq!(fs::read(&back).unwrap(), fs::read(&img).unwrap());

    let ota_data = fs::read(&ota).unwrap();
    let header = ImageHeaderRepr::parse_bytes(&ota_data).unwrap();
    assert_eq!(header.attr.compress_type(), Ok(CompressType::Xz));
    assert_eq!(header.check_body(&ota_data[HEADER_LEN..]), Ok(()));
    assert_eq!(ota_data[HEADER_LEN + 7], 0x01, "xz check is CRC32");
}

#[test]
fn corrupt_or_truncated_files_fail_cleanly() {
    let files = Files::new();
    let (img, ota) = files.packed();
    let bad = files.path("bad.img");
    for source in [&img, &ota] {
        let data = fs::read(source).unwrap();
        for cut in [
            0,
            1,
            HEADER_LEN - 1,
            HEADER_LEN,
            HEADER_LEN + 1,
            data.len() - 1,
        ] {
            fs::write(&bad, &data[..cut]).unwrap();
            assert_fails(&tool(&["inspect".as_ref(), &bad]), 1);
        }
        for at in [0, 0x18, 0x3C, HEADER_LEN, data.len() / 2, data.len() - 1] {
            let mut flipped = data.clone();
            flipped[at] ^= 0x20;
            fs::write(&bad, &flipped).unwrap();
            assert_fails(&tool(&["inspect".as_ref(), &bad]), 1);
        }
    }
    let mut flipped = fs::read(&ota).unwrap();
    let middle = flipped.len() / 2;
    flipped[middle] ^= 1;
    fs::write(&bad, &flipped).unwrap();
    let output = tool(&["inspect".as_ref(), &bad]);
    assert_fails(&output, 1);
    assert!(stderr(&output).contains("body checksum mismatch"));
    let output = tool(&[
        "unpack".as_ref(),
        "--input".as_ref(),
        &bad,
        "--output".as_ref(),
        &files.path("never.img"),
    ]);
    assert_fails(&output, 1);
    assert!(!files.path("never.img").exists());

    let output = tool(&["inspect".as_ref(), &files.path("missing.img")]);
    assert_fails(&output, 1);
    assert!(stderr(&output).contains("missing.img"));
}

#[test]
fn ptable_writes_and_reads_a_sector() {
    let files = Files::new();
    let sector_path = files.path("ptable.bin");
    let output = tool(&[
        "ptable".as_ref(),
        "--layout".as_ref(),
        "with_ota".as_ref(),
        "--output".as_ref(),
        &sector_path,
    ]);
    assert_ok(&output);
    let sector = fs::read(&sector_path).unwrap();
    assert_eq!(sector.len(), 4096);
    let table = PartitionTableRepr::with_ota();
    assert!(sector[table.buffer_len()..].iter().all(|&b| b == 0xFF));
    assert_eq!(
        PartitionTableRepr::parse(&PartitionTable::new_unchecked(&sector[..]), W800_FLASH_SIZE),
        Ok(table)
    );

    let shown = tool(&["ptable".as_ref(), "--input".as_ref(), &sector_path]);
    assert_ok(&shown);
    assert_eq!(stdout(&shown), stdout(&tool(&["ptable".as_ref()])));
    assert!(stdout(&shown).contains("app_ota"));

    let mut corrupt = sector;
    corrupt[20] ^= 1;
    fs::write(&sector_path, &corrupt).unwrap();
    let output = tool(&["ptable".as_ref(), "--input".as_ref(), &sector_path]);
    assert_fails(&output, 1);
    assert!(stderr(&output).contains("MD5 mismatch"));

    let large = tool(&["ptable".as_ref(), "--layout".as_ref(), "large".as_ref()]);
    assert_ok(&large);
    assert!(stdout(&large).contains("0x001e1000"));
}

#[test]
fn usage_errors_exit_with_2() {
    assert_fails(&tool(&[]), 2);
    assert_fails(&tool(&["bogus".as_ref()]), 2);
    assert_fails(&tool(&["pack".as_ref(), "--input".as_ref()]), 2);
    let output = tool(&["inspect".as_ref()]);
    assert_fails(&output, 2);
    assert!(stderr(&output).contains("usage:"));
    assert_ok(&tool(&["help".as_ref()]));
}
