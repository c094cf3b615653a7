//! LZMA: the range decoder and the literal/match decoder inside LZMA2 chunks.
//!
//! The xz specification leaves LZMA to its reference implementation (LZMA SDK, liblzma); this is
//! the algorithm as they define it. A binary range coder decodes bits either with an adaptive
//! 11-bit probability or with a fixed probability of one half ("direct bits"). Bits make up
//! symbols: a literal byte, a match (length, then distance), or a repeat of one of the last four
//! distances. Which probability each bit uses depends on a 12-value state (the kinds of the
//! last few symbols), the low bits of the position, and for literals the previous byte.

use super::dict::Dictionary;
use super::Error;

/// LZMA states: the history of literal/match/repeat kinds that selects probabilities.
const STATES: usize = 12;
/// States below this one follow a literal, so the next literal is coded plainly; from here on
/// the last symbol was a match and a literal is coded against the byte at the match distance.
const LITERAL_STATES: usize = 7;
/// Position contexts: `pb <= 4` bits of the position.
const POS_STATES_MAX: usize = 1 << 4;
/// Literal contexts: `lc + lp <= 3` bits of previous byte and position. LZMA2 allows 4, but
/// the W800 SDK's packer and every xz preset use lc=3, lp=0, and each bit more doubles the
/// literal probabilities (12 KB of heap for a bit no W800 image uses).
const LITERAL_CONTEXTS_MAX: usize = 1 << 3;
/// Probabilities of one literal context: a plain 8-bit tree (0x100) and the two trees that
/// follow while the bits agree with the match byte (0x200).
const LITERAL_CODER_LEN: usize = 0x300;

/// Match lengths start at 2.
const MATCH_LEN_MIN: usize = 2;
/// Lengths 2, 3, 4 and 5 or more have separate distance slot trees.
const LEN_TO_DIST_STATES: usize = 4;
/// A distance slot is a 6-bit tree symbol.
const DIST_SLOT_BITS: u32 = 6;
const DIST_SLOTS: usize = 1 << DIST_SLOT_BITS;
/// Slots from here on code their middle bits as direct bits and the low 4 bits with the align
/// tree; lower slots code all their extra bits with probabilities.
const DIST_MODEL_END: u32 = 14;
/// Distances below this one (`1 << (DIST_MODEL_END / 2)`) are fully probability-coded.
const FULL_DISTANCES: usize = 128;
const ALIGN_BITS: u32 = 4;

/// Layout of a length decoder: choice, choice 2, then per position state a 3-bit tree for
/// lengths 2..=9 ("low") and one for 10..=17 ("mid"), and one shared 8-bit tree for
/// 18..=273 ("high").
const LEN_CHOICE: usize = 0;
const LEN_CHOICE2: usize = 1;
const LEN_LOW_BITS: u32 = 3;
const LEN_LOW_SYMBOLS: usize = 1 << LEN_LOW_BITS;
const LEN_HIGH_BITS: u32 = 8;
const LEN_LOW: usize = 2;
const LEN_MID: usize = LEN_LOW + POS_STATES_MAX * LEN_LOW_SYMBOLS;
const LEN_HIGH: usize = LEN_MID + POS_STATES_MAX * LEN_LOW_SYMBOLS;
const LEN_PROBS: usize = LEN_HIGH + (1 << LEN_HIGH_BITS);

/// Offsets of the probability groups in the one probability array.
const IS_MATCH: usize = 0;
const IS_REP: usize = IS_MATCH + STATES * POS_STATES_MAX;
const IS_REP0: usize = IS_REP + STATES;
const IS_REP1: usize = IS_REP0 + STATES;
const IS_REP2: usize = IS_REP1 + STATES;
const IS_REP0_LONG: usize = IS_REP2 + STATES;
const DIST_SLOT: usize = IS_REP0_LONG + STATES * POS_STATES_MAX;
const DIST_SPECIAL: usize = DIST_SLOT + LEN_TO_DIST_STATES * DIST_SLOTS;
const DIST_SPECIAL_END: usize = DIST_SPECIAL + FULL_DISTANCES - DIST_MODEL_END as usize;
const ALIGN: usize = DIST_SPECIAL_END;
const MATCH_LEN: usize = ALIGN + (1 << ALIGN_BITS);
const REP_LEN: usize = MATCH_LEN + LEN_PROBS;
const LITERAL: usize = REP_LEN + LEN_PROBS;

/// Number of probabilities for the largest literal context count the decoder takes.
pub(super) const PROBS_LEN: usize = LITERAL + LITERAL_CODER_LEN * LITERAL_CONTEXTS_MAX;

/// All adaptive probabilities of the decoder.
pub(super) type Probabilities = [u16; PROBS_LEN];

/// Probabilities are 11-bit fractions of this.
const PROB_ONE: u32 = 1 << 11;
/// Every probability starts at one half.
const PROB_INIT: u16 = 1 << 10;
/// Adaptation speed: each decoded bit moves its probability 1/32 of the way to the bit.
const MOVE_BITS: u32 = 5;
/// The range is kept at or above 2^24 by shifting in a byte when it drops below.
const RANGE_TOP: u32 = 1 << 24;
/// Properties bytes above this are invalid: `(pb * 5 + lp) * 9 + lc` with each at most 8 or 4.
const PROPERTIES_MAX: u8 = 9 * 5 * 5 - 1;

/// Range decoder over a slice of one chunk's compressed bytes.
///
/// Reading past the end of the slice yields zeros while `pos` keeps counting, so the decoding
/// loop stays free of error paths and the caller detects the overrun afterwards from `pos`.
struct RangeDecoder<'a> {
    range: u32,
    code: u32,
    input: &'a [u8],
    pos: usize,
}

impl RangeDecoder<'_> {
    #[inline(always)]
    fn normalize(&mut self) {
        if self.range < RANGE_TOP {
            let byte = self.input.get(self.pos).copied().unwrap_or(0);
            self.pos += 1;
            self.range <<= 8;
            self.code = (self.code << 8) | u32::from(byte);
        }
    }

    /// Decodes one bit with the adaptive probability `prob` (of a 0) and updates it.
    #[inline(always)]
    fn bit(&mut self, prob: &mut u16) -> u32 {
        self.normalize();
        // `range >> 11 < 2^21` and `prob < 2^11`, so the product fits.
        let bound = (self.range >> 11) * u32::from(*prob);
        if self.code < bound {
            self.range = bound;
            *prob += ((PROB_ONE - u32::from(*prob)) >> MOVE_BITS) as u16;
            0
        } else {
            self.range -= bound;
            self.code -= bound;
            *prob -= *prob >> MOVE_BITS;
            1
        }
    }

    /// Decodes a `bits`-bit symbol, most significant bit first, from a binary tree of
    /// probabilities indexed from 1 (`probs` holds `1 << bits` entries).
    #[inline(always)]
    fn tree(&mut self, probs: &mut [u16], bits: u32) -> u32 {
        let mut symbol = 1u32;
        for _ in 0..bits {
            symbol = (symbol << 1) | self.bit(&mut probs[symbol as usize]);
        }
        symbol - (1 << bits)
    }

    /// Like [`RangeDecoder::tree`], but least significant bit first.
    fn tree_reverse(&mut self, probs: &mut [u16], bits: u32) -> u32 {
        let mut node = 1u32;
        let mut symbol = 0;
        for i in 0..bits {
            let bit = self.bit(&mut probs[node as usize]);
            node = (node << 1) | bit;
            symbol |= bit << i;
        }
        symbol
    }

    /// Decodes `count` bits of probability one half, most significant first.
    fn direct_bits(&mut self, count: u32) -> u32 {
        let mut value = 0;
        for _ in 0..count {
            self.normalize();
            self.range >>= 1;
            let bit = u32::from(self.code >= self.range);
            if bit != 0 {
                self.code -= self.range;
            }
            value = (value << 1) | bit;
        }
        value
    }
}

/// Decodes a match length with the length decoder `probs` (`LEN_PROBS` entries).
fn length(rc: &mut RangeDecoder<'_>, probs: &mut [u16], pos_state: usize) -> usize {
    let (base, tree, bits) = if rc.bit(&mut probs[LEN_CHOICE]) == 0 {
        let start = LEN_LOW + pos_state * LEN_LOW_SYMBOLS;
        (MATCH_LEN_MIN, start..start + LEN_LOW_SYMBOLS, LEN_LOW_BITS)
    } else if rc.bit(&mut probs[LEN_CHOICE2]) == 0 {
        let start = LEN_MID + pos_state * LEN_LOW_SYMBOLS;
        (
            MATCH_LEN_MIN + LEN_LOW_SYMBOLS,
            start..start + LEN_LOW_SYMBOLS,
            LEN_LOW_BITS,
        )
    } else {
        (
            MATCH_LEN_MIN + 2 * LEN_LOW_SYMBOLS,
            LEN_HIGH..LEN_PROBS,
            LEN_HIGH_BITS,
        )
    };
    base + rc.tree(&mut probs[tree], bits) as usize
}

/// A `u32` distance as an index distance; one that does not fit cannot be in the dictionary.
fn to_usize(distance: u32) -> usize {
    usize::try_from(distance).unwrap_or(usize::MAX)
}

/// LZMA decoder state between calls (the probabilities live in the caller's array).
pub(super) struct Lzma {
    range: u32,
    code: u32,
    state: usize,
    /// The last four match distances, most recent first (zero-based: 0 repeats the last byte).
    reps: [u32; 4],
    /// Literal context bits from the previous byte.
    lc: u32,
    /// Masks selecting the literal (`lp`) and general (`pb`) position bits.
    lp_mask: usize,
    pb_mask: usize,
    /// Bytes of the last match still to copy: the output filled up in the middle of it.
    pending: usize,
}

impl Lzma {
    pub(super) const fn new() -> Self {
        Lzma {
            range: 0,
            code: 0,
            state: 0,
            reps: [0; 4],
            lc: 0,
            lp_mask: 0,
            pb_mask: 0,
            pending: 0,
        }
    }

    /// Applies an LZMA properties byte `(pb * 5 + lp) * 9 + lc`.
    pub(super) fn set_properties(&mut self, props: u8) -> Result<(), Error> {
        if props > PROPERTIES_MAX {
            return Err(Error::LzmaProperties { props });
        }
        let lc = u32::from(props % 9);
        let lp = u32::from(props / 9 % 5);
        let pb = u32::from(props / 45);
        if lc + lp > 3 {
            return Err(Error::LzmaProperties { props });
        }
        self.lc = lc;
        self.lp_mask = (1 << lp) - 1;
        self.pb_mask = (1 << pb) - 1;
        Ok(())
    }

    /// LZMA state reset: fresh probabilities, state and distances.
    pub(super) fn reset_state(&mut self, probs: &mut Probabilities) {
        probs.fill(PROB_INIT);
        self.state = 0;
        self.reps = [0; 4];
        self.pending = 0;
    }

    /// Takes byte `index` (0..5) of a chunk's range coder initialisation: a zero byte, then the
    /// first 32 bits of the code, big endian.
    pub(super) fn init_range_coder(&mut self, index: u8, byte: u8) -> Result<(), Error> {
        if index == 0 {
            if byte != 0 {
                return Err(Error::RangeCoderInit { byte });
            }
            self.range = u32::MAX;
            self.code = 0;
        } else {
            self.code = (self.code << 8) | u32::from(byte);
        }
        Ok(())
    }

    /// True at a valid chunk end: no match cut short, and the encoder's flush bytes have brought
    /// the code to exactly zero.
    pub(super) fn is_finished(&self) -> bool {
        self.pending == 0 && self.code == 0
    }

    /// Decodes symbols into `dict` until it is at its limit or a symbol would start past
    /// `input[limit]`, and returns the number of bytes of `input` used. A symbol reads at most
    /// [`super::lzma2::SYMBOL_INPUT_MAX`] bytes, so with at least that many bytes after `limit`
    /// the input never runs out; with fewer, `input` must hold the rest of the chunk, and reading
    /// past it is an error.
    pub(super) fn decode(
        &mut self,
        dict: &mut Dictionary<'_>,
        probs: &mut Probabilities,
        input: &[u8],
        limit: usize,
    ) -> Result<usize, Error> {
        let mut rc = RangeDecoder {
            range: self.range,
            code: self.code,
            input,
            pos: 0,
        };
        let result = self.run(&mut rc, dict, probs, limit);
        self.range = rc.range;
        self.code = rc.code;
        result?;
        if rc.pos > input.len() {
            return Err(Error::ChunkOverrun);
        }
        Ok(rc.pos)
    }

    fn run(
        &mut self,
        rc: &mut RangeDecoder<'_>,
        dict: &mut Dictionary<'_>,
        probs: &mut Probabilities,
        limit: usize,
    ) -> Result<(), Error> {
        if self.pending > 0 {
            dict.copy_match(self.reps[0], &mut self.pending)?;
        }
        while dict.has_room() && rc.pos <= limit {
            let pos_state = dict.position() & self.pb_mask;
            if rc.bit(&mut probs[IS_MATCH + self.state * POS_STATES_MAX + pos_state]) == 0 {
                self.literal(rc, dict, probs);
                continue;
            }
            self.pending = if rc.bit(&mut probs[IS_REP + self.state]) == 0 {
                self.simple_match(rc, probs, pos_state)
            } else {
                self.repeat_match(rc, probs, pos_state)
            };
            dict.copy_match(self.reps[0], &mut self.pending)?;
        }
        // Leave the range normalised, so that at a chunk's end all of its bytes have been read
        // and the code must be zero.
        rc.normalize();
        Ok(())
    }

    fn literal(
        &mut self,
        rc: &mut RangeDecoder<'_>,
        dict: &mut Dictionary<'_>,
        probs: &mut Probabilities,
    ) {
        let previous = u32::from(dict.get(0));
        // `lc + lp <= 3`, so the context is below `LITERAL_CONTEXTS_MAX`.
        let context =
            ((dict.position() & self.lp_mask) << self.lc) + (previous >> (8 - self.lc)) as usize;
        let start = LITERAL + context * LITERAL_CODER_LEN;
        let coder = &mut probs[start..start + LITERAL_CODER_LEN];
        let byte = if self.state < LITERAL_STATES {
            rc.tree(coder, 8)
        } else {
            // After a match the next byte often equals the byte at the match distance, so each
            // bit is decoded with probabilities chosen by the corresponding bit of that byte,
            // until the first bit that differs.
            let mut match_byte = u32::from(dict.get(to_usize(self.reps[0])));
            let mut offset = 0x100;
            let mut symbol = 1u32;
            while symbol < 0x100 {
                match_byte <<= 1;
                let match_bit = match_byte & offset;
                let bit = rc.bit(&mut coder[(offset + match_bit + symbol) as usize]);
                symbol = (symbol << 1) | bit;
                offset &= if bit == 0 { !match_bit } else { match_bit };
            }
            symbol - 0x100
        };
        // `byte < 0x100`: the tree decodes exactly 8 bits.
        dict.put(byte as u8);
        self.state = match self.state {
            0..=3 => 0,
            4..=9 => self.state - 3,
            _ => self.state - 6,
        };
    }

    /// A match with a new distance; returns its length.
    fn simple_match(
        &mut self,
        rc: &mut RangeDecoder<'_>,
        probs: &mut Probabilities,
        pos_state: usize,
    ) -> usize {
        self.reps = [0, self.reps[0], self.reps[1], self.reps[2]];
        self.state = if self.state < LITERAL_STATES { 7 } else { 10 };
        let len = length(rc, &mut probs[MATCH_LEN..REP_LEN], pos_state);

        let len_state = (len - MATCH_LEN_MIN).min(LEN_TO_DIST_STATES - 1);
        let slots = DIST_SLOT + len_state * DIST_SLOTS;
        let slot = rc.tree(&mut probs[slots..slots + DIST_SLOTS], DIST_SLOT_BITS);
        self.reps[0] = if slot < 4 {
            slot
        } else {
            // The slot gives the two highest bits of the distance and the count of the rest.
            let extra_bits = (slot >> 1) - 1;
            let base = (2 | (slot & 1)) << extra_bits;
            if slot < DIST_MODEL_END {
                // Each of these slots owns `1 << extra_bits` probabilities from here (indexed
                // from 1, hence the - 1); `base > slot`.
                let start = DIST_SPECIAL + (base - slot) as usize - 1;
                base + rc.tree_reverse(&mut probs[start..DIST_SPECIAL_END], extra_bits)
            } else {
                // At most 26 direct bits above 4 align bits on top of `base <= 3 << 30`: the
                // sum is at most `u32::MAX`.
                let middle = rc.direct_bits(extra_bits - ALIGN_BITS) << ALIGN_BITS;
                base + middle + rc.tree_reverse(&mut probs[ALIGN..MATCH_LEN], ALIGN_BITS)
            }
        };
        len
    }

    /// A match at one of the last four distances (moved to the front); returns its length.
    fn repeat_match(
        &mut self,
        rc: &mut RangeDecoder<'_>,
        probs: &mut Probabilities,
        pos_state: usize,
    ) -> usize {
        if rc.bit(&mut probs[IS_REP0 + self.state]) == 0 {
            let long = IS_REP0_LONG + self.state * POS_STATES_MAX + pos_state;
            if rc.bit(&mut probs[long]) == 0 {
                // "Short rep": one byte from the last distance.
                self.state = if self.state < LITERAL_STATES { 9 } else { 11 };
                return 1;
            }
        } else {
            let distance = if rc.bit(&mut probs[IS_REP1 + self.state]) == 0 {
                self.reps[1]
            } else if rc.bit(&mut probs[IS_REP2 + self.state]) == 0 {
                let distance = self.reps[2];
                self.reps[2] = self.reps[1];
                distance
            } else {
                let distance = self.reps[3];
                self.reps[3] = self.reps[2];
                self.reps[2] = self.reps[1];
                distance
            };
            self.reps[1] = self.reps[0];
            self.reps[0] = distance;
        }
        self.state = if self.state < LITERAL_STATES { 8 } else { 11 };
        length(rc, &mut probs[REP_LEN..LITERAL], pos_state)
    }
}
