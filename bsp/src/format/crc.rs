//! JAMCRC: the checksum of the W800 image header (`hd_checksum`) and body (`org_checksum`).
//!
//! Source: docs/w800.md, "Checksum": CRC-32/IEEE,
//! reflected (polynomial 0xEDB88320), initial value 0xFFFFFFFF and **no** final XOR; that is zlib's
//! `crc32(data) ^ 0xFFFFFFFF`, as the SDK's `bin2img.py` computes it and the chip's GPSEC CRC
//! engine reproduces it.

/// The reflected form of the CRC-32/IEEE polynomial 0x04C11DB7.
const POLYNOMIAL: u32 = 0xEDB8_8320;

/// Register value before the first byte.
const INITIAL: u32 = 0xFFFF_FFFF;

/// Byte-at-a-time lookup table, computed at compile time so that no RAM or start-up work is
/// needed on the device.
const TABLE: [u32; 256] = build_table();

const fn build_table() -> [u32; 256] {
    let mut table = [0u32; 256];
    let mut byte = 0usize;
    while byte < table.len() {
        // `byte < 256`, so the cast is lossless.
        let mut register = byte as u32;
        let mut bit = 0;
        while bit < 8 {
            register = if register & 1 != 0 {
                (register >> 1) ^ POLYNOMIAL
            } else {
                register >> 1
            };
            bit += 1;
        }
        table[byte] = register;
        byte += 1;
    }
    table
}

/// Computes the JAMCRC of `data` in one call.
pub fn jamcrc(data: &[u8]) -> u32 {
    let mut crc = JamCrc::new();
    crc.update(data);
    crc.value()
}

/// Incremental JAMCRC, for data that arrives in pieces (an OTA download, a flash read loop).
///
/// Feeding the pieces in order gives the same value as [`jamcrc`] over their concatenation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JamCrc {
    register: u32,
}

impl JamCrc {
    /// Starts a checksum over no data.
    pub const fn new() -> Self {
        JamCrc { register: INITIAL }
    }

    /// Appends `data` to the checksummed bytes.
    pub fn update(&mut self, data: &[u8]) {
        for &byte in data {
            // Truncating to the low byte is the point: it selects the table entry. A `u8` index
            // into a 256-entry array cannot be out of bounds.
            let index = (self.register as u8) ^ byte;
            self.register = (self.register >> 8) ^ TABLE[usize::from(index)];
        }
    }

    /// The checksum of everything fed so far. JAMCRC has no final XOR, so this is the register.
    pub fn value(&self) -> u32 {
        self.register
    }
}

impl Default for JamCrc {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_value_of_the_standard_vector() {
        // The CRC-32/IEEE check value is 0xCBF43926; JAMCRC omits the final inversion.
        assert_eq!(jamcrc(b"123456789"), 0x340B_C6D9);
        assert_eq!(jamcrc(b"123456789"), !0xCBF4_3926);
    }

    #[test]
    fn empty_input_is_the_initial_value() {
        assert_eq!(jamcrc(&[]), 0xFFFF_FFFF);
        assert_eq!(JamCrc::default().value(), 0xFFFF_FFFF);
    }

    #[test]
    fn incremental_equals_one_shot_for_every_split() {
        let data: [u8; 64] = core::array::from_fn(|i| (i as u8).wrapping_mul(37).wrapping_add(11));
        let whole = jamcrc(&data);
        for split in 0..=data.len() {
            let (head, tail) = data.split_at(split);
            let mut crc = JamCrc::new();
            crc.update(head);
            crc.update(tail);
            assert_eq!(crc.value(), whole, "split at {split}");
        }
    }
}
