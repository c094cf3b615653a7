//! XMODEM-1K with CRC as the W800 ROM receives it (docs/flashing.md, "The transfer").
//!
//! The sender waits for the receiver's 'C', then sends 1024-byte blocks, each as
//! `STX`, the block number (1, 2, …, wrapping at 256), its complement, the data (the last block
//! padded with 0x1A) and the CRC-16/XMODEM of the data, high byte first; the receiver answers
//! `ACK` (next block) or `NAK` (send it again). `EOT` ends the file, answered by `ACK`. `CAN`
//! twice cancels.

use crate::crc16::{crc16, XMODEM_INIT};

/// Start of a 1024-byte block.
pub const STX: u8 = 0x02;
/// End of the file.
pub const EOT: u8 = 0x04;
/// Block received.
pub const ACK: u8 = 0x06;
/// Block rejected: send it again.
pub const NAK: u8 = 0x15;
/// Cancel (twice in a row).
pub const CAN: u8 = 0x18;
/// The receiver's request for a CRC transfer, repeated while it waits.
pub const CRC_REQUEST: u8 = b'C';

/// Data bytes in a block.
pub const BLOCK_LEN: usize = 1024;
/// What fills the last block after the end of the file (the SDK's XMODEM library's default).
pub const PAD: u8 = 0x1A;
/// Bytes in a frame: STX, number, complement, data, CRC.
pub const FRAME_LEN: usize = 3 + BLOCK_LEN + 2;

/// One block of a file, ready to send.
#[derive(Clone)]
pub struct Block {
    /// Where its data starts in the file.
    pub offset: usize,
    /// How many bytes of the file it carries (the rest is padding).
    pub len: usize,
    /// The frame on the wire.
    pub frame: [u8; FRAME_LEN],
}

impl Block {
    /// The block number as sent.
    pub fn number(&self) -> u8 {
        self.frame[1]
    }

    /// The CRC as sent.
    pub fn crc(&self) -> u16 {
        u16::from_be_bytes([self.frame[FRAME_LEN - 2], self.frame[FRAME_LEN - 1]])
    }
}

/// The number of blocks that carry `len` bytes.
pub fn block_count(len: usize) -> usize {
    len.div_ceil(BLOCK_LEN)
}

/// The blocks of `data`, in order.
pub fn blocks(data: &[u8]) -> impl Iterator<Item = Block> + '_ {
    data.chunks(BLOCK_LEN).enumerate().map(|(index, chunk)| {
        // Block numbers start at 1 and wrap modulo 256.
        let number = (index.wrapping_add(1) % 256) as u8;
        let mut frame = [PAD; FRAME_LEN];
        frame[0] = STX;
        frame[1] = number;
        frame[2] = !number;
        frame[3..3 + chunk.len()].copy_from_slice(chunk);
        let crc = crc16(XMODEM_INIT, &frame[3..3 + BLOCK_LEN]);
        frame[3 + BLOCK_LEN..].copy_from_slice(&crc.to_be_bytes());
        Block {
            offset: index * BLOCK_LEN,
            len: chunk.len(),
            frame,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames() {
        let data = bsp::sample::noise(3, 2 * BLOCK_LEN + 5);
        let blocks: Vec<Block> = blocks(&data).collect();
        assert_eq!(blocks.len(), 3);
        assert_eq!(block_count(data.len()), 3);
        for (index, block) in blocks.iter().enumerate() {
            assert_eq!(block.frame[0], STX);
            assert_eq!(block.number() as usize, index + 1);
            assert_eq!(block.frame[2], 0xFF - block.frame[1]);
            assert_eq!(block.offset, index * BLOCK_LEN);
            let payload = &block.frame[3..3 + BLOCK_LEN];
            assert_eq!(&payload[..block.len], &data[block.offset..][..block.len]);
            assert_eq!(crc16(XMODEM_INIT, &block.frame[3..]), 0, "CRC residue");
            assert_eq!(block.crc(), crc16(XMODEM_INIT, payload));
        }
        assert_eq!(blocks[2].len, 5);
        assert!(blocks[2].frame[3 + 5..3 + BLOCK_LEN]
            .iter()
            .all(|&b| b == PAD));
    }

    #[test]
    fn numbers_wrap_after_255() {
        let data = vec![0u8; 257 * BLOCK_LEN];
        let numbers: Vec<u8> = blocks(&data).map(|block| block.number()).collect();
        assert_eq!(numbers[0], 1);
        assert_eq!(numbers[254], 255);
        assert_eq!(numbers[255], 0);
        assert_eq!(numbers[256], 1);
        assert_eq!(block_count(0), 0);
        assert_eq!(block_count(1), 1);
        assert_eq!(block_count(BLOCK_LEN), 1);
    }

    /// An all-zero block's CRC is 0; one with a single 1 bit at the end is the polynomial.
    #[test]
    fn known_block_crcs() {
        assert_eq!(blocks(&[0u8; BLOCK_LEN]).next().unwrap().crc(), 0);
        let mut data = [0u8; BLOCK_LEN];
        data[BLOCK_LEN - 1] = 1;
        assert_eq!(blocks(&data).next().unwrap().crc(), 0x1021);
    }
}
