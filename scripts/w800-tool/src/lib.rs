//! `w800-tool`: host tool for W800 images and partition tables.
//!
//! * `elf2bin`: the firmware's ELF → the app binary (`.text`, `.rodata`, `.data`).
//! * `pack`: raw binary → `.img`; `pack --ota`: `.img` → xz `_ota.img`; `unpack`: the reverse;
//!   `pack --fls`: `.img` → `.fls` with the partition table's image.
//! * `inspect`: print and verify every header field and checksum of an image, or of each image
//!   of a `.fls` and where it goes.
//! * `ptable`: build, write or read a partition table.
//! * `flash`: download images through the ROM's serial download (docs/flashing.md).
//!
//! Every W800 format is read and written by `bsp::format` only; this crate adds file handling,
//! ELF, xz (liblzma), the serial protocol and the command line. docs/w800.md describes the
//! formats ("Image header", "Checksum", "Image files", "Partition table").

pub mod cli;
pub mod crc16;
pub mod elf;
pub mod error;
pub mod flash;
pub mod images;
pub mod rom;
pub mod serial;
pub mod xmodem;
pub mod xz;

use std::fs;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::time::Instant;

use bsp::format::image::{CompressType, FLASH_BASE, HEADER_AREA};
use bsp::format::ptable::{PartitionTable, PartitionTableRepr, APP, SECTOR_SIZE, W800_FLASH_SIZE};

use crate::cli::{Command, USAGE};
use crate::error::Error;
use crate::flash::{Download, Event, FlashOptions};
use crate::images::PackSettings;
use crate::serial::TtyPort;

/// Runs `command` and returns what to print on stdout.
pub fn run(command: &Command) -> Result<String, Error> {
    match command {
        Command::Pack {
            input,
            output,
            partition,
            version,
            upd_no,
            table,
        } => {
            let settings = PackSettings {
                table: table.table(),
                partition: partition.clone(),
                version: *version,
                upd_no: *upd_no,
            };
            let img = images::pack(&read(input)?, &settings)?;
            write(output, &img)?;
            written(output, &img)
        }
        Command::PackOta {
            input,
            output,
            overrides,
            table,
        } => {
            let ota = images::pack_ota(&read(input)?, &table.table(), *overrides)?;
            write(output, &ota)?;
            written(output, &ota)
        }
        Command::PackFls {
            input,
            output,
            table,
            bootloader,
        } => {
            let bootloader = bootloader.as_deref().map(read).transpose()?;
            let fls = images::pack_fls(&read(input)?, &table.table(), bootloader.as_deref())?;
            write(output, &fls)?;
            written(output, &fls)
        }
        Command::Elf2Bin {
            input,
            output,
            table,
        } => {
            let table = table.table();
            let app = table
                .find(APP)
                .ok_or_else(|| Error::UnknownPartition(APP.to_owned()))?;
            let run_address = FLASH_BASE + app.offset + HEADER_AREA;
            let binary = elf::app_binary(&read(input)?, run_address)?;
            let limit = usize::try_from(app.size - HEADER_AREA).unwrap_or(usize::MAX);
            if binary.data.len() > limit {
                return Err(Error::TooLarge {
                    what: "app binary",
                    len: binary.data.len(),
                    limit,
                    partition: APP.to_owned(),
                });
            }
            write(output, &binary.data)?;
            Ok(format!(
                "wrote {} ({} bytes; partition \"{APP}\" holds {limit})\n{binary}\n",
                output.display(),
                binary.data.len()
            ))
        }
        Command::Flash {
            port,
            images,
            options,
            dry_run,
        } => flash_files(port, images, options, *dry_run),
        Command::Unpack {
            input,
            output,
            table,
        } => {
            let img = images::unpack(&read(input)?, &table.table())?;
            write(output, &img)?;
            written(output, &img)
        }
        Command::Inspect { input } => {
            let file = read(input)?;
            Ok(format!(
                "{} ({} bytes)\n{}",
                input.display(),
                file.len(),
                images::inspect(&file)?
            ))
        }
        Command::PtableBuild { layout, output } => {
            let table = layout.table();
            let mut report = format!("{table}\n");
            if let Some(output) = output {
                let sector = table_sector(&table)?;
                write(output, &sector)?;
                report.push_str(&format!(
                    "wrote {} ({} bytes: {}-byte table, 0xFF padding)\n",
                    output.display(),
                    sector.len(),
                    table.buffer_len()
                ));
            }
            Ok(report)
        }
        Command::PtableShow { input } => {
            let data = read(input)?;
            let table = PartitionTableRepr::parse(
                &PartitionTable::new_unchecked(&data[..]),
                W800_FLASH_SIZE,
            )?;
            Ok(format!("{table}\n"))
        }
        Command::Help => Ok(USAGE.to_owned()),
    }
}

/// Checks that `file` is something the ROM can take: one uncompressed image, or a `.fls` whose
/// images go where its partition table says.
fn check_flashable(name: &str, file: &[u8]) -> Result<(), Error> {
    let placed = images::split(file)?;
    match placed.as_slice() {
        [single] if single.image.header.attr.compress_type()? != CompressType::None => {
            Err(Error::Flash(format!(
                "{name} is an xz-compressed OTA image: flash the .img or the .fls"
            )))
        }
        [_] => Ok(()),
        _ => images::check_fls(&placed).map(|_| ()),
    }
}

/// `flash`: checks every file, then prints the plan (`dry_run`) or runs it on `port`.
fn flash_files(
    port: &Path,
    paths: &[PathBuf],
    options: &FlashOptions,
    dry_run: bool,
) -> Result<String, Error> {
    let files = paths
        .iter()
        .map(|path| read(path).map(|data| (path.display().to_string(), data)))
        .collect::<Result<Vec<_>, _>>()?;
    for (name, data) in &files {
        check_flashable(name, data).map_err(|error| Error::Flash(format!("{name}: {error}")))?;
    }
    let downloads: Vec<Download<'_>> = files
        .iter()
        .map(|(name, data)| Download { name, data })
        .collect();
    let steps = flash::plan(&downloads, options);
    let port_name = port.display().to_string();
    if dry_run {
        return Ok(flash::describe(&steps, &port_name, options));
    }
    let mut tty = TtyPort::open(port, rom::DEFAULT_BAUD)
        .map_err(|error| Error::Flash(format!("cannot open {port_name}: {error}")))?;
    let start = Instant::now();
    let mut progress = StderrProgress::default();
    flash::execute(&mut tty, &steps, options, &mut |event| progress.show(event))?;
    let bytes: usize = files.iter().map(|(_, data)| data.len()).sum();
    let seconds = start.elapsed().as_secs_f64();
    Ok(format!(
        "flashed {} file(s), {bytes} bytes, in {seconds:.1} s\n",
        files.len()
    ))
}

/// Shows a flashing session's events on stderr: notes as lines, progress as one bar per file
/// redrawn when its percentage changes.
#[derive(Default)]
struct StderrProgress {
    shown: Option<usize>,
}

impl StderrProgress {
    fn show(&mut self, event: Event<'_>) {
        let mut stderr = io::stderr().lock();
        // Progress output is best effort: a closed stderr must not stop the download.
        let _ = match event {
            Event::Note(text) => {
                if self.shown.take().is_some() {
                    let _ = writeln!(stderr);
                }
                writeln!(stderr, "{text}")
            }
            Event::Progress { name, done, total } => {
                let percent = (done * 100).checked_div(total).unwrap_or(100);
                if self.shown == Some(percent) {
                    return;
                }
                self.shown = Some(percent);
                let end = if done >= total { "\n" } else { "" };
                if done >= total {
                    self.shown = None;
                }
                write!(
                    stderr,
                    "\r{name} {}{end}",
                    flash::progress_bar(done, total, 40)
                )
            }
        };
        let _ = stderr.flush();
    }
}

/// The 4 KB flash sector holding `table`: the table, then 0xFF as the SDK pads it.
pub fn table_sector(table: &PartitionTableRepr) -> Result<Vec<u8>, Error> {
    let mut sector = vec![0xFF; SECTOR_SIZE as usize];
    table.emit(&mut sector)?;
    Ok(sector)
}

/// What `pack` and `unpack` print: where the file went and what it is, verified again.
fn written(path: &Path, file: &[u8]) -> Result<String, Error> {
    Ok(format!(
        "wrote {} ({} bytes)\n{}",
        path.display(),
        file.len(),
        images::inspect(file)?
    ))
}

fn read(path: &Path) -> Result<Vec<u8>, Error> {
    fs::read(path).map_err(|error| Error::Io {
        path: path.to_owned(),
        error,
    })
}

fn write(path: &Path, data: &[u8]) -> Result<(), Error> {
    fs::write(path, data).map_err(|error| Error::Io {
        path: path.to_owned(),
        error,
    })
}
