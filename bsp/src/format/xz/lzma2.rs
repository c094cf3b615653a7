//! LZMA2: the chunk layer around LZMA (filter ID 0x21, xz format specification section 5.3.1).
//!
//! The xz specification leaves the LZMA2 data format to its reference implementation
//! (LZMA SDK `Lzma2Dec`, liblzma `lzma2_decoder`). LZMA2 data is a sequence of chunks, each
//! starting with a control byte:
//!
//! * `0x00`: end of the LZMA2 data.
//! * `0x01`: uncompressed chunk after a dictionary reset; `0x02`: uncompressed chunk. Then the
//!   size - 1 (16 bits, big endian) and the bytes themselves.
//! * `0x80..=0xFF`: LZMA chunk. Bits 0-4 are bits 16-20 of the uncompressed size - 1, followed
//!   by its low 16 bits and the compressed size - 1 (16 bits), both big endian. Bits 5-6 say what
//!   is reset first: 0 nothing, 1 the LZMA state, 2 the state with a new properties byte (which
//!   follows the sizes), 3 all that and the dictionary. Each LZMA chunk starts a new range coder
//!   (5 of its compressed bytes) and must end exactly at its sizes.
//! * `0x03..=0x7F`: invalid.
//!
//! The first chunk must reset the dictionary, and after a dictionary reset the first LZMA chunk
//! must bring new properties.
//!
//! Input may arrive a byte at a time, but the LZMA decoder decodes whole symbols. It therefore
//! runs directly on the caller's input only while at least [`SYMBOL_INPUT_MAX`] bytes of the
//! chunk are left there after the symbol's start (or the rest of the chunk is); the last few
//! bytes are collected in a small buffer, `temp`, until enough of the chunk has arrived.

use super::dict::Dictionary;
use super::lzma::{Lzma, Probabilities};
use super::{next_byte, Error};

/// Most input bytes one LZMA symbol can read, counting the normalisation after a decoding run.
/// Every bit reads at most one byte (a normalisation, when the range is below 2^24), and the
/// range stays below 2^32. A symbol starts with a range of at least 2^24 / 2^11 * 31 > 2^17.9
/// (31/2048 being the smallest probability) and ends, normalised, with at least 2^24. In between
/// its at most 22 adaptive bits and 26 direct bits shrink the range by less than
/// 22 * log2(2048/31) + 26 < 159.1 bits, so it takes in at most (32 - 17.9 + 159.1) / 8 < 22
/// bytes.
pub(super) const SYMBOL_INPUT_MAX: usize = 21;

/// Room for a chunk's tail plus as much input again, so that decoding from `temp` can move past
/// the tail and hand over to the caller's input.
const TEMP_LEN: usize = 2 * SYMBOL_INPUT_MAX;

/// Range coder initialisation bytes at the start of every LZMA chunk.
const RANGE_CODER_INIT_LEN: u8 = 5;

// Chunk sizes reach 2^21, which `usize` must hold.
const _: () = assert!(usize::BITS >= 32);

/// Where the chunk parser is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sequence {
    Control,
    UncompressedHigh,
    UncompressedLow,
    CompressedHigh,
    CompressedLow,
    Properties,
    RangeCoderInit(u8),
    Lzma,
    Copy,
}

/// LZMA2 decoder state between calls.
pub(super) struct Lzma2 {
    sequence: Sequence,
    /// The current chunk is LZMA-compressed (else stored).
    compressed_chunk: bool,
    /// The current chunk header carries a properties byte.
    new_properties: bool,
    /// No dictionary reset yet in this block.
    need_dictionary_reset: bool,
    /// No properties since the last dictionary reset.
    need_properties: bool,
    /// Uncompressed bytes of the current chunk not produced yet.
    uncompressed: usize,
    /// Compressed bytes of the current chunk not decoded yet, including those in `temp`.
    compressed: usize,
    lzma: Lzma,
    temp: [u8; TEMP_LEN],
    temp_len: usize,
}

impl Lzma2 {
    pub(super) const fn new() -> Self {
        Lzma2 {
            sequence: Sequence::Control,
            compressed_chunk: false,
            new_properties: false,
            need_dictionary_reset: true,
            need_properties: true,
            uncompressed: 0,
            compressed: 0,
            lzma: Lzma::new(),
            temp: [0; TEMP_LEN],
            temp_len: 0,
        }
    }

    /// Prepares for the LZMA2 data of a new block.
    pub(super) fn start_block(&mut self) {
        self.sequence = Sequence::Control;
        self.need_dictionary_reset = true;
        self.need_properties = true;
        self.temp_len = 0;
    }

    /// Decodes from `input[*in_pos..]` into `output[*out_pos..]`, advancing both positions.
    /// Returns true at the end marker, false when more input or output room is needed.
    pub(super) fn decode(
        &mut self,
        input: &[u8],
        in_pos: &mut usize,
        output: &mut [u8],
        out_pos: &mut usize,
        dict: &mut Dictionary<'_>,
        probs: &mut Probabilities,
    ) -> Result<bool, Error> {
        loop {
            if matches!(self.sequence, Sequence::Lzma | Sequence::Copy) {
                if self.uncompressed == 0 {
                    self.finish_chunk()?;
                    continue;
                }
                let target = output.get_mut(*out_pos..).unwrap_or_default();
                if target.is_empty() {
                    return Ok(false);
                }
                dict.set_limit(target.len().min(self.uncompressed));
                let stalled = if self.sequence == Sequence::Lzma {
                    self.decode_lzma(input, in_pos, dict, probs)?
                } else {
                    let taken = dict.copy_uncompressed(input.get(*in_pos..).unwrap_or_default());
                    *in_pos += taken;
                    taken == 0
                };
                // The limit kept the new bytes within the chunk and the output room.
                let produced = dict.flush(target);
                *out_pos += produced;
                self.uncompressed -= produced;
                if stalled {
                    return Ok(false);
                }
                continue;
            }

            let Some(byte) = next_byte(input, in_pos) else {
                return Ok(false);
            };
            match self.sequence {
                Sequence::Control => {
                    if byte == 0x00 {
                        return Ok(true);
                    }
                    self.start_chunk(byte, dict, probs)?;
                }
                Sequence::UncompressedHigh => {
                    self.uncompressed += usize::from(byte) << 8;
                    self.sequence = Sequence::UncompressedLow;
                }
                Sequence::UncompressedLow => {
                    self.uncompressed += usize::from(byte) + 1;
                    self.sequence = if self.compressed_chunk {
                        Sequence::CompressedHigh
                    } else {
                        Sequence::Copy
                    };
                }
                Sequence::CompressedHigh => {
                    self.compressed = usize::from(byte) << 8;
                    self.sequence = Sequence::CompressedLow;
                }
                Sequence::CompressedLow => {
                    self.compressed += usize::from(byte) + 1;
                    if self.compressed < usize::from(RANGE_CODER_INIT_LEN) {
                        return Err(Error::ChunkOverrun);
                    }
                    self.sequence = if self.new_properties {
                        Sequence::Properties
                    } else {
                        Sequence::RangeCoderInit(0)
                    };
                }
                Sequence::Properties => {
                    self.lzma.set_properties(byte)?;
                    self.lzma.reset_state(probs);
                    self.sequence = Sequence::RangeCoderInit(0);
                }
                Sequence::RangeCoderInit(index) => {
                    self.lzma.init_range_coder(index, byte)?;
                    self.compressed -= 1;
                    self.sequence = if index + 1 == RANGE_CODER_INIT_LEN {
                        Sequence::Lzma
                    } else {
                        Sequence::RangeCoderInit(index + 1)
                    };
                }
                // Handled above without reading a byte.
                Sequence::Lzma | Sequence::Copy => {}
            }
        }
    }

    /// Interprets a chunk's control byte (not 0x00). Everything decoded so far has been
    /// flushed, so the dictionary may be reset.
    fn start_chunk(
        &mut self,
        control: u8,
        dict: &mut Dictionary<'_>,
        probs: &mut Probabilities,
    ) -> Result<(), Error> {
        if control == 0x01 || control >= 0xE0 {
            dict.reset();
            self.need_dictionary_reset = false;
            self.need_properties = true;
        } else if self.need_dictionary_reset {
            return Err(Error::MissingDictionaryReset { control });
        }
        if control >= 0x80 {
            self.compressed_chunk = true;
            self.new_properties = control >= 0xC0;
            if self.new_properties {
                self.need_properties = false;
            } else if self.need_properties {
                return Err(Error::MissingProperties { control });
            } else if control >= 0xA0 {
                self.lzma.reset_state(probs);
            }
            self.uncompressed = usize::from(control & 0x1F) << 16;
        } else if control <= 0x02 {
            self.compressed_chunk = false;
            self.uncompressed = 0;
        } else {
            return Err(Error::Lzma2Control { control });
        }
        self.sequence = Sequence::UncompressedHigh;
        Ok(())
    }

    /// All of the chunk's uncompressed bytes are out: an LZMA chunk must have used exactly its
    /// compressed bytes and ended cleanly.
    fn finish_chunk(&mut self) -> Result<(), Error> {
        if self.sequence == Sequence::Lzma && (self.compressed != 0 || !self.lzma.is_finished()) {
            return Err(Error::ChunkEnd);
        }
        self.sequence = Sequence::Control;
        Ok(())
    }

    /// Runs the LZMA decoder on the current chunk until the dictionary limit; returns true if it
    /// stopped for want of input instead.
    fn decode_lzma(
        &mut self,
        input: &[u8],
        in_pos: &mut usize,
        dict: &mut Dictionary<'_>,
        probs: &mut Probabilities,
    ) -> Result<bool, Error> {
        while dict.has_room() {
            let rest = input.get(*in_pos..).unwrap_or_default();
            let available = rest.len().min(self.compressed - self.temp_len);
            let (rest, _) = rest.split_at(available);
            if self.temp_len == 0 && (available >= SYMBOL_INPUT_MAX || available == self.compressed)
            {
                // Decode straight from the input, up to where a symbol may still need
                // `SYMBOL_INPUT_MAX` bytes, or to the chunk's end if all of it is here.
                let limit = if available == self.compressed {
                    available
                } else {
                    available - SYMBOL_INPUT_MAX
                };
                let used = self.lzma.decode(dict, probs, rest, limit)?;
                *in_pos += used;
                self.compressed -= used;
                continue;
            }

            // Too little input left for a symbol: gather it behind the tail in `temp`.
            let old = self.temp_len;
            let take = available.min(TEMP_LEN - old);
            let filled = old + take;
            self.temp[old..filled].copy_from_slice(&rest[..take]);
            let whole = filled == self.compressed;
            if !whole && filled < SYMBOL_INPUT_MAX {
                // `take` was all the input there is.
                *in_pos += take;
                self.temp_len = filled;
                return Ok(true);
            }
            let limit = if whole {
                filled
            } else {
                filled - SYMBOL_INPUT_MAX
            };
            let used = self.lzma.decode(dict, probs, &self.temp[..filled], limit)?;
            self.compressed -= used;
            if used < old {
                // Only old bytes were used; the copies of the new ones are dropped and read
                // again from the input next time.
                self.temp.copy_within(used..old, 0);
                self.temp_len = old - used;
            } else {
                *in_pos += used - old;
                self.temp_len = 0;
            }
        }
        Ok(false)
    }
}
