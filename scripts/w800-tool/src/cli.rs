//! Command-line parsing.

use std::ffi::OsString;
use std::fmt;
use std::path::PathBuf;

use std::time::Duration;

use bsp::format::image::Version;
use bsp::format::ptable::{PartitionTableRepr, APP};

use crate::flash::{FlashOptions, ResetMode};
use crate::images::OtaOverrides;
use crate::rom::Baud;

/// Printed with `help` and after a usage error.
pub const USAGE: &str = "\
usage:
  w800-tool pack --input RAW.bin --output APP.img [--partition app] [--version 0.1.0]
                 [--upd-no N] [--table with_ota]
      raw binary -> .img (header at the partition start, body padded with 0xFF)
  w800-tool pack --ota --input APP.img --output APP_ota.img [--version V] [--upd-no N]
                 [--table with_ota]
      .img -> _ota.img (xz of the whole .img behind a new header); version and upd-no
      default to the inner header's
  w800-tool pack --fls --input APP.img --output APP.fls [--table with_ota]
                 [--bootloader BOOTLOADER.img]
      .img -> .fls for the vendor's flashing tools: the bootloader image (when given), the
      .img and the partition table's image, each checked to fit its partition
  w800-tool unpack --input APP_ota.img --output APP.img [--table with_ota]
      _ota.img -> .img (at most the size of the app partition)
  w800-tool elf2bin --input APP.elf --output APP.bin [--table with_ota]
      the app binary: .text, .rodata, .data of the C-SKY ELF back to back from the app's run
      address, checked to fit the app partition
  w800-tool inspect FILE
      print and verify an .img, _ota.img or .fls (each image of it, and where it goes)
  w800-tool flash --port PORT [--baud 2000000] [--reset auto|manual] [--timeout 60]
                  [--no-reboot] [--dry-run] IMAGE...
      download .img or .fls files through the ROM's serial download (XMODEM-1K); --dry-run
      prints what would be sent without opening the port
  w800-tool ptable [--layout with_ota] [--output FILE]
      print a partition table; with --output write its 4 KB sector image
  w800-tool ptable --input FILE
      parse and print a partition table sector image
  w800-tool help

layouts (--table, --layout): with_ota (default), normal, large
numbers (--upd-no): decimal or 0x-prefixed hexadecimal
baud rates (--baud): 115200, 460800, 921600, 1000000, 2000000
";

/// Version written by `pack` when `--version` is not given.
pub const DEFAULT_VERSION: &str = "0.1.0";

/// The command line was wrong (exit code 2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageError(pub String);

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// One of the SDK's partition layouts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// "with_ota", used by the AWS OTA example.
    WithOta,
    /// "normal".
    Normal,
    /// "large", the W800 default.
    Large,
}

impl Layout {
    /// The partition table of this layout.
    pub fn table(self) -> PartitionTableRepr {
        match self {
            Layout::WithOta => PartitionTableRepr::with_ota(),
            Layout::Normal => PartitionTableRepr::normal(),
            Layout::Large => PartitionTableRepr::large(),
        }
    }

    fn from_name(name: &str) -> Result<Self, UsageError> {
        match name {
            "with_ota" => Ok(Layout::WithOta),
            "normal" => Ok(Layout::Normal),
            "large" => Ok(Layout::Large),
            other => Err(UsageError(format!(
                "unknown layout \"{other}\" (with_ota, normal or large)"
            ))),
        }
    }
}

/// What to do.
#[derive(Debug, Clone)]
pub enum Command {
    /// Raw binary → `.img`.
    Pack {
        input: PathBuf,
        output: PathBuf,
        partition: String,
        version: Version,
        upd_no: u32,
        table: Layout,
    },
    /// `.img` → `_ota.img`.
    PackOta {
        input: PathBuf,
        output: PathBuf,
        overrides: OtaOverrides,
        table: Layout,
    },
    /// `.img` → `.fls`.
    PackFls {
        input: PathBuf,
        output: PathBuf,
        table: Layout,
        bootloader: Option<PathBuf>,
    },
    /// ELF → app binary.
    Elf2Bin {
        input: PathBuf,
        output: PathBuf,
        table: Layout,
    },
    /// Download images over the serial port.
    Flash {
        port: PathBuf,
        images: Vec<PathBuf>,
        options: FlashOptions,
        dry_run: bool,
    },
    /// `_ota.img` → `.img`.
    Unpack {
        input: PathBuf,
        output: PathBuf,
        table: Layout,
    },
    /// Print and verify an image.
    Inspect { input: PathBuf },
    /// Print a built-in table, optionally writing its sector image.
    PtableBuild {
        layout: Layout,
        output: Option<PathBuf>,
    },
    /// Parse and print a sector image.
    PtableShow { input: PathBuf },
    /// Print the usage.
    Help,
}

/// Options given on the command line, after checking they are known to the subcommand.
struct Options {
    subcommand: &'static str,
    values: Vec<(&'static str, OsString)>,
    switches: Vec<&'static str>,
    positional: Vec<OsString>,
}

impl Options {
    fn parse(
        subcommand: &'static str,
        args: impl IntoIterator<Item = OsString>,
        value_names: &[&'static str],
        switch_names: &[&'static str],
    ) -> Result<Self, UsageError> {
        let mut options = Options {
            subcommand,
            values: Vec::new(),
            switches: Vec::new(),
            positional: Vec::new(),
        };
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            let Some(text) = arg.to_str().filter(|text| text.starts_with("--")) else {
                options.positional.push(arg);
                continue;
            };
            let (name, inline_value) = match text.split_once('=') {
                Some((name, value)) => (name, Some(OsString::from(value))),
                None => (text, None),
            };
            if let Some(&known) = value_names.iter().find(|&&known| known == name) {
                let value = match inline_value.or_else(|| args.next()) {
                    Some(value) => value,
                    None => return Err(UsageError(format!("{name} needs a value"))),
                };
                if options.values.iter().any(|(seen, _)| *seen == known) {
                    return Err(UsageError(format!("{name} given twice")));
                }
                options.values.push((known, value));
            } else if let Some(&known) = switch_names.iter().find(|&&known| known == name) {
                if inline_value.is_some() {
                    return Err(UsageError(format!("{name} takes no value")));
                }
                options.switches.push(known);
            } else {
                return Err(UsageError(format!(
                    "unknown option {name} for {subcommand}"
                )));
            }
        }
        Ok(options)
    }

    fn value(&self, name: &str) -> Option<&OsString> {
        self.values
            .iter()
            .find(|(known, _)| *known == name)
            .map(|(_, value)| value)
    }

    fn text(&self, name: &str) -> Result<Option<&str>, UsageError> {
        self.value(name)
            .map(|value| {
                value
                    .to_str()
                    .ok_or_else(|| UsageError(format!("{name} is not valid UTF-8")))
            })
            .transpose()
    }

    fn path(&self, name: &str) -> Option<PathBuf> {
        self.value(name).map(PathBuf::from)
    }

    fn required_path(&self, name: &str) -> Result<PathBuf, UsageError> {
        self.path(name)
            .ok_or_else(|| UsageError(format!("{} needs {name}", self.subcommand)))
    }

    fn switch(&self, name: &str) -> bool {
        self.switches.contains(&name)
    }

    fn version(&self) -> Result<Option<Version>, UsageError> {
        self.text("--version")?
            .map(|text| {
                Version::new(text).map_err(|error| UsageError(format!("--version: {error}")))
            })
            .transpose()
    }

    fn upd_no(&self) -> Result<Option<u32>, UsageError> {
        self.text("--upd-no")?
            .map(|text| {
                let parsed = match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
                    Some(hex) => u32::from_str_radix(hex, 16),
                    None => text.parse(),
                };
                parsed
                    .map_err(|_| UsageError(format!("--upd-no: \"{text}\" is not a 32-bit number")))
            })
            .transpose()
    }

    fn layout(&self, name: &str) -> Result<Layout, UsageError> {
        self.text(name)?
            .map_or(Ok(Layout::WithOta), Layout::from_name)
    }

    fn no_positional(&self) -> Result<(), UsageError> {
        match self.positional.first() {
            Some(arg) => Err(UsageError(format!(
                "unexpected argument \"{}\" for {}",
                arg.to_string_lossy(),
                self.subcommand
            ))),
            None => Ok(()),
        }
    }
}

/// Parses the arguments after the program name.
pub fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Command, UsageError> {
    let mut args = args.into_iter();
    let Some(subcommand) = args.next() else {
        return Err(UsageError("no command given".to_owned()));
    };
    match subcommand.to_str() {
        Some("pack") => parse_pack(args),
        Some("unpack") => {
            let options = Options::parse("unpack", args, &["--input", "--output", "--table"], &[])?;
            options.no_positional()?;
            Ok(Command::Unpack {
                input: options.required_path("--input")?,
                output: options.required_path("--output")?,
                table: options.layout("--table")?,
            })
        }
        Some("elf2bin") => {
            let options =
                Options::parse("elf2bin", args, &["--input", "--output", "--table"], &[])?;
            options.no_positional()?;
            Ok(Command::Elf2Bin {
                input: options.required_path("--input")?,
                output: options.required_path("--output")?,
                table: options.layout("--table")?,
            })
        }
        Some("flash") => parse_flash(args),
        Some("inspect") => {
            let options = Options::parse("inspect", args, &[], &[])?;
            match <[OsString; 1]>::try_from(options.positional) {
                Ok([input]) => Ok(Command::Inspect {
                    input: PathBuf::from(input),
                }),
                Err(_) => Err(UsageError("inspect takes exactly one FILE".to_owned())),
            }
        }
        Some("ptable") => {
            let options =
                Options::parse("ptable", args, &["--layout", "--output", "--input"], &[])?;
            options.no_positional()?;
            match options.path("--input") {
                Some(input)
                    if options.value("--layout").is_none()
                        && options.value("--output").is_none() =>
                {
                    Ok(Command::PtableShow { input })
                }
                Some(_) => Err(UsageError(
                    "ptable --input takes neither --layout nor --output".to_owned(),
                )),
                None => Ok(Command::PtableBuild {
                    layout: options.layout("--layout")?,
                    output: options.path("--output"),
                }),
            }
        }
        Some("help" | "--help" | "-h") => Ok(Command::Help),
        _ => Err(UsageError(format!(
            "unknown command \"{}\"",
            subcommand.to_string_lossy()
        ))),
    }
}

fn parse_pack(args: impl IntoIterator<Item = OsString>) -> Result<Command, UsageError> {
    let options = Options::parse(
        "pack",
        args,
        &[
            "--input",
            "--output",
            "--partition",
            "--version",
            "--upd-no",
            "--table",
            "--bootloader",
        ],
        &["--ota", "--fls"],
    )?;
    options.no_positional()?;
    let input = options.required_path("--input")?;
    let output = options.required_path("--output")?;
    let table = options.layout("--table")?;
    if options.value("--bootloader").is_some() && !options.switch("--fls") {
        return Err(UsageError("--bootloader goes with pack --fls".to_owned()));
    }
    if options.switch("--fls") {
        if options.switch("--ota") {
            return Err(UsageError("pack takes --ota or --fls, not both".to_owned()));
        }
        if let Some(name) = ["--partition", "--version", "--upd-no"]
            .into_iter()
            .find(|name| options.value(name).is_some())
        {
            return Err(UsageError(format!(
                "pack --fls takes the images as they are; drop {name}"
            )));
        }
        return Ok(Command::PackFls {
            input,
            output,
            table,
            bootloader: options.path("--bootloader"),
        });
    }
    if options.switch("--ota") {
        if options.value("--partition").is_some() {
            return Err(UsageError(
                "pack --ota takes the partition from the input's header; drop --partition"
                    .to_owned(),
            ));
        }
        return Ok(Command::PackOta {
            input,
            output,
            overrides: OtaOverrides {
                version: options.version()?,
                upd_no: options.upd_no()?,
            },
            table,
        });
    }
    let default_version = Version::new(DEFAULT_VERSION)
        .map_err(|error| UsageError(format!("default version: {error}")))?;
    Ok(Command::Pack {
        input,
        output,
        partition: options.text("--partition")?.unwrap_or(APP).to_owned(),
        version: options.version()?.unwrap_or(default_version),
        upd_no: options.upd_no()?.unwrap_or(0),
        table,
    })
}

fn parse_flash(args: impl IntoIterator<Item = OsString>) -> Result<Command, UsageError> {
    let options = Options::parse(
        "flash",
        args,
        &["--port", "--baud", "--reset", "--timeout"],
        &["--no-reboot", "--dry-run"],
    )?;
    let defaults = FlashOptions::default();
    let baud = match options.text("--baud")? {
        None => defaults.baud,
        Some(text) => text
            .parse()
            .ok()
            .and_then(Baud::from_bits_per_second)
            .ok_or_else(|| {
                UsageError(format!(
                    "--baud: {text} is not one of 115200, 460800, 921600, 1000000, 2000000"
                ))
            })?,
    };
    let reset = match options.text("--reset")? {
        None => defaults.reset,
        Some("auto") => ResetMode::Auto,
        Some("manual") => ResetMode::Manual,
        Some(other) => {
            return Err(UsageError(format!(
                "--reset: \"{other}\" is not auto or manual"
            )))
        }
    };
    let sync_timeout = match options.text("--timeout")? {
        None => defaults.sync_timeout,
        Some(text) => text
            .parse::<f64>()
            .ok()
            .filter(|seconds| seconds.is_finite() && *seconds > 0.0 && *seconds <= 3600.0)
            .map(Duration::from_secs_f64)
            .ok_or_else(|| {
                UsageError(format!(
                    "--timeout: {text} is not a number of seconds (0-3600)"
                ))
            })?,
    };
    if options.positional.is_empty() {
        return Err(UsageError("flash needs at least one IMAGE".to_owned()));
    }
    Ok(Command::Flash {
        port: options.required_path("--port")?,
        images: options.positional.iter().map(PathBuf::from).collect(),
        options: FlashOptions {
            baud,
            reset,
            sync_timeout,
            reboot: !options.switch("--no-reboot"),
        },
        dry_run: options.switch("--dry-run"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(args: &[&str]) -> Result<Command, UsageError> {
        parse(args.iter().map(OsString::from))
    }

    #[test]
    fn pack_defaults_and_overrides() {
        let Ok(Command::Pack {
            input,
            output,
            partition,
            version,
            upd_no,
            table,
        }) = parse_str(&["pack", "--input", "a.bin", "--output=a.img"])
        else {
            panic!("not a pack command");
        };
        assert_eq!(input, PathBuf::from("a.bin"));
        assert_eq!(output, PathBuf::from("a.img"));
        assert_eq!(partition, "app");
        assert_eq!(version.as_str(), "0.1.0");
        assert_eq!(upd_no, 0);
        assert_eq!(table, Layout::WithOta);

        let Ok(Command::Pack {
            version,
            upd_no,
            table,
            ..
        }) = parse_str(&[
            "pack",
            "--input",
            "a",
            "--output",
            "b",
            "--version",
            "2.3-alpha.2",
            "--upd-no",
            "0x10",
            "--table",
            "large",
        ])
        else {
            panic!("not a pack command");
        };
        assert_eq!(version.as_str(), "2.3-alpha.2");
        assert_eq!(upd_no, 16);
        assert_eq!(table, Layout::Large);
    }

    #[test]
    fn pack_ota_and_the_others() {
        assert!(matches!(
            parse_str(&["pack", "--ota", "--input", "a", "--output", "b", "--upd-no", "7"]),
            Ok(Command::PackOta {
                overrides: OtaOverrides {
                    version: None,
                    upd_no: Some(7)
                },
                ..
            })
        ));
        assert!(matches!(
            parse_str(&["unpack", "--input", "a", "--output", "b"]),
            Ok(Command::Unpack { .. })
        ));
        assert!(matches!(
            parse_str(&["inspect", "x.img"]),
            Ok(Command::Inspect { .. })
        ));
        assert!(matches!(
            parse_str(&["ptable", "--layout", "normal"]),
            Ok(Command::PtableBuild {
                layout: Layout::Normal,
                output: None
            })
        ));
        assert!(matches!(
            parse_str(&["ptable", "--input", "t.bin"]),
            Ok(Command::PtableShow { .. })
        ));
        assert!(matches!(parse_str(&["help"]), Ok(Command::Help)));
    }

    #[test]
    fn usage_errors() {
        for args in [
            &[][..],
            &["frobnicate"],
            &["pack", "--output", "b"],
            &["pack", "--input", "a"],
            &["pack", "--input"],
            &["pack", "--input", "a", "--output", "b", "--bogus", "1"],
            &["pack", "--input", "a", "--output", "b", "extra"],
            &["pack", "--input", "a", "--input", "b", "--output", "c"],
            &[
                "pack",
                "--input",
                "a",
                "--output",
                "b",
                "--version",
                "much-too-long-version",
            ],
            &["pack", "--input", "a", "--output", "b", "--upd-no", "-1"],
            &[
                "pack",
                "--input",
                "a",
                "--output",
                "b",
                "--upd-no",
                "0x1FFFFFFFF",
            ],
            &["pack", "--input", "a", "--output", "b", "--table", "huge"],
            &["pack", "--ota=yes", "--input", "a", "--output", "b"],
            &[
                "pack",
                "--ota",
                "--input",
                "a",
                "--output",
                "b",
                "--partition",
                "app",
            ],
            &["inspect"],
            &["inspect", "a", "b"],
            &["ptable", "--input", "a", "--layout", "large"],
            &["ptable", "--layout", "tiny"],
        ] {
            assert!(parse_str(args).is_err(), "{args:?} accepted");
        }
    }
}
