//! The shell's commands: one static table, the built-ins' code below it, the commands over the
//! firmware's services in the submodules. Commands know the shell and the services
//! (`crate::services`); the services know neither.

mod aws_ota;
mod httpc;
mod mqtt;
mod network;
mod ota;

use crate::config::{FLASH_PROTECTED_END, FLASH_READ_MAX, FLASH_WRITE_MAX, FREE_SETTLE};
use crate::layout;
use crate::services::Services;
use crate::shell::command::{Command, CommandError, CommandResult, Context};
use alloc::format;
use alloc::string::{String, ToString};
use bsp::hal::ResetReason;
use net::station::Station;
use net::tls::Credentials;

/// The running station, or the error a user sees before `wifi init`.
fn station(services: &Services) -> Result<&'static Station, CommandError> {
    services.station().map_err(CommandError::Failed)
}

/// The board's TLS credentials, parsed once.
fn credentials(services: &Services) -> Result<&'static Credentials, CommandError> {
    services.credentials().map_err(CommandError::Failed)
}

/// Every shell command, in the order `help` lists them.
pub static TABLE: &[Command] = &[
    Command {
        name: "help",
        usage: "[command]",
        help: "list the commands, or show how to use one",
        run: help,
    },
    Command {
        name: "version",
        usage: "",
        help: "firmware, kernel and app image versions",
        run: version,
    },
    Command {
        name: "reboot",
        usage: "",
        help: "restart the chip",
        run: reboot,
    },
    Command {
        name: "free",
        usage: "",
        help: "heap free now and the minimum ever",
        run: free,
    },
    Command {
        name: "task",
        usage: "",
        help: "tasks with state, priority and stack high-water mark",
        run: task,
    },
    Command {
        name: "partition",
        usage: "",
        help: "the partition table",
        run: partition,
    },
    Command {
        name: "wifi",
        usage: "init | connect <ssid> <password> | disconnect",
        help: "start the radio, join an access point (DHCP), leave it",
        run: network::wifi,
    },
    Command {
        name: "ifconfig",
        usage: "",
        help: "the station's addresses",
        run: network::ifconfig,
    },
    Command {
        name: "ping",
        usage: "<host> [count]",
        help: "ICMP echo to a host",
        run: network::ping,
    },
    Command {
        name: "ntp",
        usage: "[start [server]]",
        help: "set the clock by SNTP (servers from DHCP unless named); show its status",
        run: network::ntp,
    },
    Command {
        name: "tls",
        usage: "<host> [port [alpn | times tasks]]",
        help: "verified TLS handshakes with a server (times in each of tasks at once)",
        run: network::tls,
    },
    Command {
        name: "mqtt",
        usage: "connect <host> [port] [client-id] | sub <topic> | pub <topic> <payload> [0|1] | disconnect",
        help: "an MQTT session over mutual TLS; incoming messages are logged",
        run: mqtt::mqtt,
    },
    Command {
        name: "aws_ota",
        usage: "",
        help: "start the AWS IoT OTA agent: jobs over MQTT, the file over HTTPS ('ota status')",
        run: aws_ota::aws_ota,
    },
    Command {
        name: "httpc",
        usage: "get <url> [block]",
        help: "download by HTTP Range requests; prints size, rate and SHA-256",
        run: httpc::httpc,
    },
    Command {
        name: "flash",
        usage: "read <offset> <len> | write <offset> <hex bytes> | erase <sector offset>",
        help: "read (hex dump), program or erase the flash",
        run: flash,
    },
    Command {
        name: "ota",
        usage: "[status] | verify <signature-base64> | activate | accept",
        help: "the image in app_ota: show it, check and stage it, restart into it, accept its trial",
        run: ota::command,
    },
    Command {
        name: "selftest",
        usage: "[exit]",
        help: "check the kernel, atomics, floats and flash rules on this board",
        run: crate::selftest::command,
    },
];

fn help(ctx: &mut Context<'_>, args: &[&str]) -> CommandResult {
    match args {
        [] => {
            for cmd in TABLE {
                writeln!(ctx.out, "  {:<10} {}", cmd.name, cmd.help)?;
            }
            Ok(())
        }
        [name] => match TABLE.iter().find(|c| c.name == *name) {
            Some(cmd) => {
                writeln!(
                    ctx.out,
                    "{}: {}\nusage: {} {}",
                    cmd.name, cmd.help, cmd.name, cmd.usage
                )?;
                Ok(())
            }
            None => Err(CommandError::Failed(format!("no command '{name}'"))),
        },
        _ => Err(CommandError::Usage),
    }
}

fn version(ctx: &mut Context<'_>, args: &[&str]) -> CommandResult {
    if !args.is_empty() {
        return Err(CommandError::Usage);
    }
    writeln!(
        ctx.out,
        "firmware {} (board {})",
        crate::VERSION,
        ctx.platform.board
    )?;
    writeln!(ctx.out, "kernel FreeRTOS {}", kernel::kernel_version())?;
    match layout::app_header(ctx.platform) {
        Ok(h) => {
            writeln!(
                ctx.out,
                "app image ver {}, upd_no {}, {} bytes at 0x{:08X}",
                h.version.as_str(),
                h.upd_no,
                h.img_len,
                h.img_addr
            )?;
            // The version above is the code's own; one that differs from app's is an error.
            layout::check_running_version(&h).map_err(CommandError::Failed)
        }
        Err(e) => {
            writeln!(ctx.out, "app image: {e}")?;
            Ok(())
        }
    }
}

fn reboot(ctx: &mut Context<'_>, args: &[&str]) -> CommandResult {
    if !args.is_empty() {
        return Err(CommandError::Usage);
    }
    log::info!(target: "shell", "rebooting");
    ctx.platform.reset.reset(ResetReason::User)
}

fn free(ctx: &mut Context<'_>, args: &[&str]) -> CommandResult {
    if !args.is_empty() {
        return Err(CommandError::Usage);
    }
    // A task that ended is freed by the idle task, which runs only when every other task
    // waits: waiting here first lets it, so a task that just ended does not count as used.
    kernel::delay(FREE_SETTLE);
    let heap = kernel::heap_stats();
    writeln!(
        ctx.out,
        "heap free {} bytes, minimum ever {} bytes, total {} bytes",
        heap.free, heap.min_free, heap.total
    )?;
    Ok(())
}

fn task(ctx: &mut Context<'_>, args: &[&str]) -> CommandResult {
    if !args.is_empty() {
        return Err(CommandError::Usage);
    }
    writeln!(
        ctx.out,
        "{:<16} {:<10} {:>4} {:>10}",
        "name", "state", "prio", "stack free"
    )?;
    for t in kernel::task_list() {
        writeln!(
            ctx.out,
            "{:<16} {:<10} {:>4} {:>10}",
            t.name.as_str(),
            t.state.as_str(),
            t.priority,
            t.stack_high_water_words * 4
        )?;
    }
    Ok(())
}

fn partition(ctx: &mut Context<'_>, args: &[&str]) -> CommandResult {
    if !args.is_empty() {
        return Err(CommandError::Usage);
    }
    let table = layout::partition_table(ctx.platform).map_err(CommandError::Failed)?;
    writeln!(
        ctx.out,
        "{:<16} {:>10} {:>10} {:>6}",
        "name", "offset", "size", "flag"
    )?;
    for p in table.entries() {
        writeln!(
            ctx.out,
            "{:<16} 0x{:08X} 0x{:08X} {:>6}",
            p.name.as_str(),
            p.offset,
            p.size,
            p.flag
        )?;
    }
    Ok(())
}

fn flash(ctx: &mut Context<'_>, args: &[&str]) -> CommandResult {
    match args {
        ["read", offset, len] => flash_read(ctx, parse_number(offset)?, parse_number(len)?),
        ["write", offset, hex] => flash_write(ctx, parse_number(offset)?, hex),
        ["erase", offset] => flash_erase(ctx, parse_number(offset)?),
        _ => Err(CommandError::Usage),
    }
}

fn flash_read(ctx: &mut Context<'_>, offset: u32, len: u32) -> CommandResult {
    if len == 0 || len > FLASH_READ_MAX {
        return Err(CommandError::Failed(format!(
            "length must be 1..={FLASH_READ_MAX}"
        )));
    }
    let mut row = [0u8; 16];
    let mut at = offset;
    let end = offset
        .checked_add(len)
        .ok_or_else(|| CommandError::Failed(String::from("range wraps around")))?;
    while at < end {
        let n = (end - at).min(16) as usize;
        let bytes = &mut row[..n];
        ctx.platform
            .flash
            .lock()
            .read(at, bytes)
            .map_err(|e| CommandError::Failed(e.to_string()))?;
        write!(ctx.out, "{at:08X}:")?;
        for b in bytes.iter() {
            write!(ctx.out, " {b:02X}")?;
        }
        write!(ctx.out, "{:width$}  ", "", width = (16 - n) * 3)?;
        for b in bytes.iter() {
            let c = if b.is_ascii_graphic() || *b == b' ' {
                *b as char
            } else {
                '.'
            };
            ctx.out.write_char(c)?;
        }
        writeln!(ctx.out)?;
        at += n as u32;
    }
    Ok(())
}

fn flash_write(ctx: &mut Context<'_>, offset: u32, hex: &str) -> CommandResult {
    refuse_protected(offset)?;
    let mut data = heapless::Vec::<u8, FLASH_WRITE_MAX>::new();
    let digits = hex.as_bytes();
    if digits.is_empty() || !digits.len().is_multiple_of(2) {
        return Err(CommandError::Failed(String::from(
            "hex bytes come in pairs of digits",
        )));
    }
    for pair in digits.chunks(2) {
        let byte = core::str::from_utf8(pair)
            .ok()
            .and_then(|s| u8::from_str_radix(s, 16).ok())
            .ok_or_else(|| CommandError::Failed(format!("'{hex}' is not hex")))?;
        data.push(byte).map_err(|_| {
            CommandError::Failed(format!("at most {FLASH_WRITE_MAX} bytes at once"))
        })?;
    }
    ctx.platform
        .flash
        .lock()
        .program(offset, &data)
        .map_err(|e| CommandError::Failed(e.to_string()))?;
    writeln!(ctx.out, "programmed {} bytes at 0x{offset:08X}", data.len())?;
    Ok(())
}

fn flash_erase(ctx: &mut Context<'_>, offset: u32) -> CommandResult {
    refuse_protected(offset)?;
    ctx.platform
        .flash
        .lock()
        .erase_sector(offset)
        .map_err(|e| CommandError::Failed(e.to_string()))?;
    writeln!(ctx.out, "erased the sector at 0x{offset:08X}")?;
    Ok(())
}

fn refuse_protected(offset: u32) -> CommandResult {
    if offset < FLASH_PROTECTED_END {
        return Err(CommandError::Failed(format!(
            "0x{offset:X} is in the factory-test area (below 0x{FLASH_PROTECTED_END:X})"
        )));
    }
    Ok(())
}

/// A number in decimal or, with `0x`, hexadecimal.
fn parse_number(text: &str) -> Result<u32, CommandError> {
    let parsed = match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u32::from_str_radix(hex, 16),
        None => text.parse(),
    };
    parsed.map_err(|_| CommandError::Failed(format!("'{text}' is not a number")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_decimal_or_hex() {
        assert_eq!(parse_number("64"), Ok(64));
        assert_eq!(parse_number("0xE000"), Ok(0xE000));
        assert_eq!(parse_number("0Xff"), Ok(255));
        assert!(parse_number("0x").is_err());
        assert!(parse_number("-1").is_err());
        assert!(parse_number("4294967296").is_err());
        assert!(parse_number("12ab").is_err());
    }

    #[test]
    fn the_table_has_unique_documented_names() {
        for (i, cmd) in TABLE.iter().enumerate() {
            assert!(!cmd.help.is_empty(), "{} has no help", cmd.name);
            assert!(
                TABLE[i + 1..].iter().all(|other| other.name != cmd.name),
                "{} twice",
                cmd.name
            );
        }
        for name in [
            "help",
            "version",
            "reboot",
            "free",
            "task",
            "partition",
            "flash",
        ] {
            assert!(TABLE.iter().any(|c| c.name == name), "{name} missing");
        }
    }

    #[test]
    fn the_factory_test_area_is_protected() {
        assert!(refuse_protected(0x1FFF).is_err());
        assert!(refuse_protected(0x2000).is_ok());
    }
}
