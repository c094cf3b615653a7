//! CRC-16 with the CCITT polynomial 0x1021, MSB first, no reflection, no final XOR: the check
//! of the serial download protocol, with two initial values (docs/flashing.md, "Checksums").

/// The polynomial x^16 + x^12 + x^5 + 1.
const POLY: u16 = 0x1021;

/// Initial value of CRC-16/XMODEM, the check of every XMODEM block.
pub const XMODEM_INIT: u16 = 0x0000;

/// Initial value of CRC-16/CCITT-FALSE, the check of the ROM's commands.
pub const CCITT_FALSE_INIT: u16 = 0xFFFF;

/// The CRC of `data`, starting from `init`.
pub fn crc16(init: u16, data: &[u8]) -> u16 {
    data.iter().fold(init, |crc, &byte| {
        (0..8).fold(crc ^ (u16::from(byte) << 8), |crc, _| {
            if crc & 0x8000 != 0 {
                (crc << 1) ^ POLY
            } else {
                crc << 1
            }
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The catalogued check values (the CRC of the ASCII digits "123456789") of both variants.
    #[test]
    fn catalogue_check_values() {
        assert_eq!(crc16(XMODEM_INIT, b"123456789"), 0x31C3);
        assert_eq!(crc16(CCITT_FALSE_INIT, b"123456789"), 0x29B1);
        assert_eq!(crc16(XMODEM_INIT, b""), 0);
        assert_eq!(crc16(CCITT_FALSE_INIT, b""), 0xFFFF);
    }

    /// Appending the CRC (big endian) to CRC-16/XMODEM data gives a remainder of 0, the property a
    /// receiver checks.
    #[test]
    fn xmodem_residue_is_zero() {
        let mut block = bsp::sample::noise(7, 1024);
        let crc = crc16(XMODEM_INIT, &block);
        block.extend_from_slice(&crc.to_be_bytes());
        assert_eq!(crc16(XMODEM_INIT, &block), 0);
    }
}
