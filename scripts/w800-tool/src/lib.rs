//! `w800-tool`: host tool for W800 images and partition tables.
//!
//! * `pack`: raw binary → `.img`; `pack --ota`: `.img` → xz `_ota.img`; `unpack`: the reverse.
//! * `inspect`: print and verify every header field and checksum of an image.
//! * `ptable`: build, write or read a partition table.
//!
//! Every W800 format is read and written by `bsp::format` only; this crate adds file handling,
//! xz (liblzma) and the command line. docs/w800.md describes the formats ("Image header",
//! "Checksum", "Image files", "Partition table").

pub mod cli;
pub mod error;
pub mod images;
pub mod xz;

use std::fs;
use std::path::Path;

use bsp::format::ptable::{PartitionTable, PartitionTableRepr, SECTOR_SIZE, W800_FLASH_SIZE};

use crate::cli::{Command, USAGE};
use crate::error::Error;
use crate::images::PackSettings;

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
