//! The W800 ROM's download-mode commands and answers (docs/flashing.md, "ROM commands" and
//! "Answers").
//!
//! A command is `0x21`, a 16-bit little-endian length (of what follows it), a 16-bit
//! little-endian CRC-16/CCITT-FALSE of the command word and its data, the command word (32-bit
//! little endian) and its data.

use std::fmt;

use crate::crc16::{crc16, CCITT_FALSE_INIT};

/// First byte of every command.
pub const COMMAND_START: u8 = 0x21;

/// Switches the UART to another baud rate (data: the rate, 32-bit little endian).
pub const CMD_SET_BAUD: u32 = 0x31;
/// Restarts the chip.
pub const CMD_REBOOT: u32 = 0x3F;

/// The bytes of command `command` with `data`.
pub fn command(command: u32, data: &[u8]) -> Vec<u8> {
    let mut checked = command.to_le_bytes().to_vec();
    checked.extend_from_slice(data);
    // The length counts the CRC and the checked bytes; commands are a few bytes long.
    let len = u16::try_from(2 + checked.len()).unwrap_or(u16::MAX);
    let mut frame = vec![COMMAND_START];
    frame.extend_from_slice(&len.to_le_bytes());
    frame.extend_from_slice(&crc16(CCITT_FALSE_INIT, &checked).to_le_bytes());
    frame.extend_from_slice(&checked);
    frame
}

/// The ROM's download rate before any switch.
pub const DEFAULT_BAUD: Baud = Baud::B115200;

/// A rate the ROM switches to (docs/flashing.md, "ROM commands": the documented commands).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Baud {
    /// 115 200 baud, the ROM's rate at reset.
    B115200,
    /// 460 800 baud.
    B460800,
    /// 921 600 baud.
    B921600,
    /// 1 000 000 baud.
    B1000000,
    /// 2 000 000 baud, the highest the ROM takes.
    B2000000,
}

impl Baud {
    /// Every rate, fastest first.
    pub const ALL: [Baud; 5] = [
        Baud::B2000000,
        Baud::B1000000,
        Baud::B921600,
        Baud::B460800,
        Baud::B115200,
    ];

    /// Bits per second.
    pub const fn bits_per_second(self) -> u32 {
        match self {
            Baud::B115200 => 115_200,
            Baud::B460800 => 460_800,
            Baud::B921600 => 921_600,
            Baud::B1000000 => 1_000_000,
            Baud::B2000000 => 2_000_000,
        }
    }

    /// The rate with `bits_per_second`, if the ROM takes it.
    pub fn from_bits_per_second(bits_per_second: u32) -> Option<Baud> {
        Baud::ALL
            .into_iter()
            .find(|baud| baud.bits_per_second() == bits_per_second)
    }

    /// The command that switches the ROM to this rate.
    pub fn command(self) -> Vec<u8> {
        command(CMD_SET_BAUD, &self.bits_per_second().to_le_bytes())
    }
}

impl fmt::Display for Baud {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.bits_per_second())
    }
}

/// The command that restarts the chip.
pub fn reboot_command() -> Vec<u8> {
    command(CMD_REBOOT, &[])
}

/// What an answer letter from the ROM means (its error codes; 'C' also asks for an XMODEM block
/// with CRC), or `None` for a byte the ROM does not document.
pub fn answer_meaning(byte: u8) -> Option<&'static str> {
    Some(match byte {
        b'C' => "ready (normal)",
        b'D' => "the host cancelled",
        b'F' => "no data received before its timeout",
        b'G' => "wrong block number",
        b'I' => "image too large",
        b'J' => "image address not allowed",
        b'K' => "image not page-aligned",
        b'L' => "image header check failed",
        b'M' => "image content check failed",
        b'P' => "image incomplete or missing",
        b'N' => "flash ID self-check failed",
        b'Q' => "wrong firmware type",
        b'Y' => "reading the encrypted bootloader failed",
        b'Z' => "signature check failed",
        b'R' => "command check failed",
        b'S' => "command parameter wrong",
        b'T' => "reading the FT parameters failed",
        b'U' => "setting the gain failed",
        b'V' => "setting the MAC address failed",
        _ => return None,
    })
}

/// `byte` for a message: printable ASCII quoted, with the ROM's meaning when it has one, else hex.
pub fn describe_answer(byte: u8) -> String {
    let shown = if byte.is_ascii_graphic() {
        format!("'{}' (0x{byte:02x})", char::from(byte))
    } else {
        format!("0x{byte:02x}")
    };
    match answer_meaning(byte) {
        Some(meaning) => format!("{shown}, the ROM's \"{meaning}\""),
        None => shown,
    }
}

/// Bytes as space-separated lowercase hex, as the SDK's documentation writes commands.
pub fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(text: &str) -> Vec<u8> {
        text.split_whitespace()
            .map(|pair| u8::from_str_radix(pair, 16).unwrap())
            .collect()
    }

    /// Every command the SDK's ROM guide prints ("Common Command Set", docs/flashing.md, "ROM
    /// commands"), rebuilt from its command word and data.
    #[test]
    fn the_documented_commands() {
        let documented: [(u32, &[u8], &str); 13] = [
            (
                CMD_SET_BAUD,
                &2_000_000u32.to_le_bytes(),
                "21 0a 00 ef 2a 31 00 00 00 80 84 1e 00",
            ),
            (
                CMD_SET_BAUD,
                &1_000_000u32.to_le_bytes(),
                "21 0a 00 5e 3d 31 00 00 00 40 42 0f 00",
            ),
            (
                CMD_SET_BAUD,
                &921_600u32.to_le_bytes(),
                "21 0a 00 5d 50 31 00 00 00 00 10 0e 00",
            ),
            (
                CMD_SET_BAUD,
                &460_800u32.to_le_bytes(),
                "21 0a 00 07 00 31 00 00 00 00 08 07 00",
            ),
            (
                CMD_SET_BAUD,
                &115_200u32.to_le_bytes(),
                "21 0a 00 97 4b 31 00 00 00 00 c2 01 00",
            ),
            // Bluetooth MAC address, Wi-Fi MAC address, last error, flash ID, ROM version.
            (0x34, &[], "21 06 00 D8 62 34 00 00 00"),
            (0x38, &[], "21 06 00 ea 2d 38 00 00 00"),
            (0x3B, &[], "21 06 00 36 B6 3B 00 00 00"),
            (0x3C, &[], "21 06 00 1b e7 3c 00 00 00"),
            (0x3E, &[], "21 06 00 73 0a 3e 00 00 00"),
            (CMD_REBOOT, &[], "21 06 00 c7 7c 3f 00 00 00"),
            // Flash erase of 1 MB and 2 MB: from sector 2 (8 KB), 0xfe and 0x1fe sectors.
            (
                0x32,
                &[0x02, 0x00, 0xfe, 0x00],
                "21 0a 00 e2 25 32 00 00 00 02 00 fe 00",
            ),
            (
                0x32,
                &[0x02, 0x00, 0xfe, 0x01],
                "21 0a 00 c3 35 32 00 00 00 02 00 fe 01",
            ),
        ];
        for (word, data, text) in documented {
            assert_eq!(command(word, data), bytes(text), "{text}");
        }
        assert_eq!(reboot_command(), bytes("21 06 00 c7 7c 3f 00 00 00"));
        assert_eq!(
            Baud::B921600.command(),
            bytes("21 0a 00 5d 50 31 00 00 00 00 10 0e 00")
        );
    }

    #[test]
    fn rates() {
        for baud in Baud::ALL {
            assert_eq!(
                Baud::from_bits_per_second(baud.bits_per_second()),
                Some(baud)
            );
        }
        assert_eq!(Baud::from_bits_per_second(57_600), None);
        assert_eq!(Baud::from_bits_per_second(3_000_000), None);
        assert_eq!(DEFAULT_BAUD.to_string(), "115200");
    }

    #[test]
    fn answers() {
        assert_eq!(
            describe_answer(b'L'),
            "'L' (0x4c), the ROM's \"image header check failed\""
        );
        assert_eq!(describe_answer(b'x'), "'x' (0x78)");
        assert_eq!(describe_answer(0x15), "0x15");
        assert_eq!(hex(&[0x21, 0x0a]), "21 0a");
    }
}
