//! From an ELF to the files `scripts/build w800` makes, through the `w800-tool` binary: the
//! app binary's section order and sizes, the `.img`, `_ota.img` and `.fls` through `inspect`,
//! their sizes against `app` and `app_ota`, the independent check of scripts/lib/w800-images.sh,
//! and the ELFs `elf2bin` must refuse.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use bsp::format::image::{ImageHeaderRepr, HEADER_LEN};
use bsp::format::ptable::PartitionTableRepr;
use common::{
    app_sections, elf, SectionSpec, EM_CSKY, ENTRY, RUN_ADDRESS, SHF_ALLOC, SHT_PROGBITS,
};
use tempfile::TempDir;
use w800_tool::elf::{app_binary, ElfError};
use w800_tool::images;

fn tool(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_w800-tool"))
        .args(args)
        .output()
        .expect("the tool runs")
}

fn ok(output: Output) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "stderr: {stderr}");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn path(path: &Path) -> &str {
    path.to_str().expect("temporary paths are UTF-8")
}

/// The repository root (this crate is scripts/w800-tool).
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The independent check of scripts/lib/w800-images.sh on the files beside `elf`.
fn shell_check(elf: &Path) -> Output {
    Command::new("bash")
        .arg("-c")
        .arg(
            "set -euo pipefail; source \"$1/scripts/lib/common.sh\"; \
             source \"$1/scripts/lib/w800-images.sh\"; w800_check_images \"$2\" objcopy",
        )
        .arg("check")
        .arg(root())
        .arg(elf)
        .output()
        .expect("bash runs")
}

/// Writes an app ELF called `w800` and makes its four files as package_w800_images does.
fn build(dir: &TempDir, text: usize, rodata: usize, data: usize) -> PathBuf {
    let elf_path = dir.path().join("w800");
    fs::write(
        &elf_path,
        elf(EM_CSKY, ENTRY, &app_sections(ENTRY, text, rodata, data)),
    )
    .unwrap();
    let e = path(&elf_path);
    let report = ok(tool(&[
        "elf2bin",
        "--input",
        e,
        "--output",
        &format!("{e}.bin"),
    ]));
    assert!(
        report.contains(".text    0x0800f400 0x0800f400"),
        "{report}"
    );
    assert!(
        report.contains(&format!(
            ".data    0x{:08x} 0x20000000",
            RUN_ADDRESS as usize + text + rodata
        )),
        "{report}"
    );
    ok(tool(&[
        "pack",
        "--input",
        &format!("{e}.bin"),
        "--output",
        &format!("{e}.img"),
        "--version",
        "0.1.0",
    ]));
    ok(tool(&[
        "pack",
        "--ota",
        "--input",
        &format!("{e}.img"),
        "--output",
        &format!("{e}_ota.img"),
    ]));
    ok(tool(&[
        "pack",
        "--fls",
        "--input",
        &format!("{e}.img"),
        "--output",
        &format!("{e}.fls"),
    ]));
    elf_path
}

#[test]
fn the_binary_is_text_rodata_data_in_that_order() {
    let dir = TempDir::new().unwrap();
    let sections = app_sections(ENTRY, 10_002, 3_000, 276);
    let elf_path = build(&dir, 10_002, 3_000, 276);
    let bin = fs::read(format!("{}.bin", elf_path.display())).unwrap();
    assert_eq!(bin.len(), 10_002 + 3_000 + 276);
    assert_eq!(&bin[..10_002], &sections[0].data[..]);
    assert_eq!(&bin[10_002..13_002], &sections[1].data[..]);
    assert_eq!(&bin[13_002..], &sections[2].data[..]);
    assert_eq!(u32::from_le_bytes(bin[..4].try_into().unwrap()), ENTRY);

    // The section headers' order does not matter, the names do.
    let mut shuffled = sections.clone();
    shuffled.reverse();
    let binary = app_binary(&elf(EM_CSKY, ENTRY, &shuffled), RUN_ADDRESS).unwrap();
    assert_eq!(binary.data, bin);
    let names: Vec<&str> = binary.parts.iter().map(|part| part.name).collect();
    assert_eq!(names, [".text", ".rodata", ".data"]);
    let sizes: Vec<u32> = binary.parts.iter().map(|part| part.size).collect();
    assert_eq!(sizes, [10_002, 3_000, 276]);
}

#[test]
fn img_ota_and_fls_pass_inspect_fit_their_partitions_and_the_independent_check() {
    let dir = TempDir::new().unwrap();
    let elf_path = build(&dir, 150_000, 40_000, 1_000);
    let e = path(&elf_path).to_owned();
    let (img_path, ota_path, fls_path) = (
        format!("{e}.img"),
        format!("{e}_ota.img"),
        format!("{e}.fls"),
    );
    let (img, ota, fls) = (
        fs::read(&img_path).unwrap(),
        fs::read(&ota_path).unwrap(),
        fs::read(&fls_path).unwrap(),
    );

    let text = ok(tool(&["inspect", &img_path]));
    for expected in [
        "img_header_addr:  0x0800f000",
        "img_addr:         0x0800f400",
        "upgrade_img_addr: 0x08131000",
        "body checksum: ok",
    ] {
        assert!(text.contains(expected), "{expected} in\n{text}");
    }
    let text = ok(tool(&["inspect", &ota_path]));
    assert!(
        text.contains("check CRC32 (0x01), LZMA2 dictionary 32768 bytes"),
        "{text}"
    );
    let text = ok(tool(&["inspect", &fls_path]));
    for expected in [
        "fls: 2 images",
        "image 1 at offset 0x0",
        "goes to partition \"app\" (offset 0x0000f000, 0x122000 bytes)",
        "img_header_addr:  0x20026000",
        "img_addr:         0x0800e000",
        "ver:              \"G03.00.00\"",
        "app_ota          0x00131000 0x000af000",
    ] {
        assert!(text.contains(expected), "{expected} in\n{text}");
    }

    // Sizes: the .img's body fits app after its header area, the OTA file app_ota less the
    // record sector; the .fls is the .img and a 64 + 1024-byte table image.
    let table = PartitionTableRepr::with_ota();
    let app = table.find("app").unwrap();
    assert!(img.len() - HEADER_LEN <= (app.size - 0x400) as usize);
    assert!(ota.len() <= images::ota_file_capacity(&table).unwrap());
    assert_eq!(images::ota_file_capacity(&table).unwrap(), 0xAF000 - 0x1000);
    assert_eq!(&fls[..img.len()], &img[..]);
    assert_eq!(fls.len(), img.len() + 64 + 1024);
    assert_eq!(&fls[img.len()..], &images::table_image(&table).unwrap()[..]);
    let table_header = ImageHeaderRepr::parse_bytes(&fls[img.len()..]).unwrap();
    assert_eq!(table_header.attr.0, 2);
    assert_eq!(
        (table_header.img_addr, table_header.header_addr),
        (0x0800_E000, 0x2002_6000)
    );

    let check = shell_check(&elf_path);
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );

    // One changed byte in any of them: inspect and the shell check both refuse.
    for (file, at) in [
        (&img_path, 5000),
        (&ota_path, 200),
        (&fls_path, img.len() + 64 + 30),
    ] {
        let original = fs::read(file).unwrap();
        let mut corrupt = original.clone();
        corrupt[at] ^= 0x10;
        fs::write(file, &corrupt).unwrap();
        assert!(
            !tool(&["inspect", file]).status.success(),
            "inspect of corrupt {file}"
        );
        let check = shell_check(&elf_path);
        assert!(!check.status.success(), "shell check of corrupt {file}");
        assert!(
            String::from_utf8_lossy(&check.stderr).contains("mismatch"),
            "{}",
            String::from_utf8_lossy(&check.stderr)
        );
        fs::write(file, &original).unwrap();
    }
    assert!(shell_check(&elf_path).status.success());
}

#[test]
fn an_fls_refuses_what_would_not_go_where_its_table_says() {
    let table = PartitionTableRepr::with_ota();
    let raw = common::code(4, 5000);
    let settings = |partition: &str| images::PackSettings {
        table: table.clone(),
        partition: partition.to_owned(),
        version: bsp::format::image::Version::new("1.0").unwrap(),
        upd_no: 0,
    };
    let img = images::pack(&raw, &settings("app")).unwrap();
    let ota = images::pack_ota(&img, &table, images::OtaOverrides::default()).unwrap();
    let error = images::pack_fls(&ota, &table, None)
        .unwrap_err()
        .to_string();
    assert!(error.contains("xz-compressed"), "{error}");
    // Two images for app.
    let mut twice = img.clone();
    twice.extend_from_slice(&img);
    twice.extend_from_slice(&images::table_image(&table).unwrap());
    let error = images::inspect(&twice).unwrap_err().to_string();
    assert_eq!(error, ".fls: two images for partition \"app\"");
    // An image packed for another table's app partition than the one in the .fls.
    let large = PartitionTableRepr::large();
    let big = images::pack(
        &common::code(5, 0x130000),
        &images::PackSettings {
            table: large,
            ..settings("app")
        },
    )
    .unwrap();
    let error = images::pack_fls(&big, &table, None)
        .unwrap_err()
        .to_string();
    assert!(error.starts_with("image body is"), "{error}");
    // A bootloader image is only taken as one.
    let error = images::pack_fls(&img, &table, Some(&img))
        .unwrap_err()
        .to_string();
    assert_eq!(error, ".fls: the bootloader image is of type \"user\"");
}

#[test]
fn elf2bin_refuses_what_would_not_run() {
    let good = app_sections(ENTRY, 2000, 1000, 100);
    assert!(app_binary(&elf(EM_CSKY, ENTRY, &good), RUN_ADDRESS).is_ok());

    let mut gap = good.clone();
    gap[1].lma += 4;
    gap[1].addr += 4;
    assert!(matches!(
        app_binary(&elf(EM_CSKY, ENTRY, &gap), RUN_ADDRESS),
        Err(ElfError::Misplaced { ref name, expected, actual }) if name == ".rodata" && actual == expected + 4
    ));

    let mut stray = good.clone();
    stray.push(SectionSpec {
        name: ".init_array",
        kind: SHT_PROGBITS,
        flags: SHF_ALLOC,
        addr: 0x0801_0000,
        lma: 0x0801_0000,
        data: vec![1, 2, 3, 4],
    });
    assert_eq!(
        app_binary(&elf(EM_CSKY, ENTRY, &stray), RUN_ADDRESS).unwrap_err(),
        ElfError::Unplaced(".init_array".to_owned())
    );

    assert_eq!(
        app_binary(&elf(EM_CSKY, ENTRY + 2, &good), RUN_ADDRESS).unwrap_err(),
        ElfError::ResetVector {
            vector: ENTRY,
            entry: ENTRY + 2
        }
    );
    assert!(matches!(
        app_binary(&elf(40, ENTRY, &good), RUN_ADDRESS),
        Err(ElfError::Unsupported(_))
    ));
    assert!(matches!(
        app_binary(&elf(EM_CSKY, ENTRY, &good), RUN_ADDRESS + 0x400),
        Err(ElfError::Misplaced { .. })
    ));
    assert_eq!(
        app_binary(b"not an elf", RUN_ADDRESS).unwrap_err(),
        ElfError::NotElf
    );
    let no_text: Vec<SectionSpec> = good[1..].to_vec();
    assert_eq!(
        app_binary(&elf(EM_CSKY, ENTRY, &no_text), RUN_ADDRESS).unwrap_err(),
        ElfError::MissingSection(".text")
    );

    // Cut anywhere: an error, never a panic.
    let whole = elf(EM_CSKY, ENTRY, &good);
    for cut in (0..whole.len()).step_by(7) {
        assert!(
            app_binary(&whole[..cut], RUN_ADDRESS).is_err(),
            "cut at {cut}"
        );
    }
}

#[test]
fn elf2bin_refuses_a_binary_larger_than_app() {
    let dir = TempDir::new().unwrap();
    let room = 0x122000 - 0x400;
    for (text, fits) in [(room - 8, true), (room - 4, false)] {
        let elf_path = dir.path().join("big");
        // .rodata and .data are 4 bytes: the binary is text + 8 bytes.
        fs::write(
            &elf_path,
            elf(EM_CSKY, ENTRY, &app_sections(ENTRY, text, 4, 4)),
        )
        .unwrap();
        let output = tool(&[
            "elf2bin",
            "--input",
            path(&elf_path),
            "--output",
            path(&dir.path().join("big.bin")),
        ]);
        assert_eq!(
            output.status.success(),
            fits,
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        if !fits {
            assert_eq!(
                String::from_utf8_lossy(&output.stderr)
                    .lines()
                    .next()
                    .unwrap(),
                format!(
                    "error: app binary is {} bytes, partition \"app\" holds at most {room}",
                    room + 4
                )
            );
        }
    }
}
