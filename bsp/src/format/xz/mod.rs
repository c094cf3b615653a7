//! A streaming xz decoder for LZMA2 streams: `no_std`, allocation-free, panic-free.
//!
//! `_ota.img` bodies are xz streams (docs/w800.md, "Image files": LZMA2,
//! preset 9 | EXTREME, a 32 KiB dictionary, CRC32 check, padded with 0xFF to a multiple of 4).
//! The bootloader stage unpacks them with little RAM, and the host tool uses the same code.
//!
//! Format: "The .xz File Format", version 1.0.4. A stream is a stream header (section 2.1.1),
//! blocks (section 3: block header, compressed data, block padding, check), an index (section
//! 4) and a stream footer (section 2.1.2). Supported are the check types None and CRC32 and the
//! filter chain of LZMA2 alone (section 5.3.1), which is what the W800 tools produce. LZMA2 and
//! LZMA themselves are outside that specification; `lzma2.rs` and `lzma.rs` describe them.
//!
//! [`stream_info`] reports what a stream's headers declare (check type, first block's LZMA2
//! dictionary size) without decoding anything; the host tool shows it and checks it against the
//! W800 settings.
//!
//! Memory is the caller's: a dictionary buffer (its length is the largest LZMA2 dictionary the
//! decoder accepts, [`DICT_SIZE_MAX`] for W800 images) and [`PROBS_LEN`] probabilities, plus
//! the [`Decoder`] itself, a few hundred bytes. Input and output may be split anywhere, down to
//! single bytes. Everything the format checksums is checked: header, block header, index and
//! footer CRC32s, the data CRC32, and the sizes in block headers, index and footer. Stream
//! padding after the footer (section 2.2) is left to the caller, as are concatenated streams.

#![forbid(unsafe_code)]

mod container;
mod dict;
mod lzma;
mod lzma2;
#[cfg(test)]
mod tests;

use core::fmt;

use self::container::{
    check_stream_footer, dictionary_size, parse_stream_flags, parse_stream_header, BlockHeader,
    BlockHeaderReader, Check, IndexReader, Records, INDEX_INDICATOR, STREAM_FOOTER_LEN,
    STREAM_HEADER_LEN,
};
use self::dict::Dictionary;
use self::lzma::Probabilities;
use self::lzma2::Lzma2;
use super::bytes::get_u32;
use super::crc::JamCrc;

/// Largest LZMA2 dictionary the W800 bootloader's decoder is built for.
pub const DICT_SIZE_MAX: usize = 1 << 15;

/// Number of u16 LZMA probabilities the decoder needs (lc + lp <= 3: see `lzma`).
pub const PROBS_LEN: usize = lzma::PROBS_LEN;

/// Check ID (section 2.1.1.2) of no integrity check. The decoder supports it.
pub const CHECK_NONE: u8 = 0x00;
/// Check ID of CRC32, the check of W800 images. The decoder supports it.
pub const CHECK_CRC32: u8 = 0x01;
/// Check ID of CRC64. [`stream_info`] reports it, the decoder refuses it.
pub const CHECK_CRC64: u8 = 0x04;
/// Check ID of SHA-256. [`stream_info`] reports it, the decoder refuses it.
pub const CHECK_SHA256: u8 = 0x0A;

/// What the headers at the start of an xz stream declare, from [`stream_info`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamInfo {
    /// The integrity check ID from the stream flags (section 2.1.1.2): [`CHECK_NONE`],
    /// [`CHECK_CRC32`] (W800 images), [`CHECK_CRC64`], [`CHECK_SHA256`] or a reserved ID.
    pub check: u8,
    /// The first block's LZMA2 dictionary size in bytes (section 5.3.1; `u32::MAX` stands for
    /// 4 GiB - 1). A decoder needs a dictionary buffer at least this large.
    pub dict_size: u32,
}

impl StreamInfo {
    /// The name of the integrity check, `None` for a reserved check ID.
    pub fn check_name(&self) -> Option<&'static str> {
        match self.check {
            CHECK_NONE => Some("none"),
            CHECK_CRC32 => Some("CRC32"),
            CHECK_CRC64 => Some("CRC64"),
            CHECK_SHA256 => Some("SHA-256"),
            _ => None,
        }
    }
}

/// For example "check CRC32 (0x01), LZMA2 dictionary 32768 bytes".
impl fmt::Display for StreamInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "check {} (0x{:02x}), LZMA2 dictionary {} bytes",
            self.check_name().unwrap_or("unknown"),
            self.check,
            self.dict_size
        )
    }
}

/// Reads the stream header and the first block header of the xz stream at the start of `data`
/// and reports what they declare, without decoding anything. Both headers are checked as the
/// [`Decoder`] checks them (magic, CRC32s, reserved bits, LZMA2 as the only filter, a valid
/// dictionary size property), except that any check type is accepted, so that the caller can
/// say which one a stream uses. Fails with [`Error::Truncated`] if `data` ends inside those
/// headers and with [`Error::NoBlock`] if the stream has no block. Never panics.
pub fn stream_info(data: &[u8]) -> Result<StreamInfo, Error> {
    let header = data.get(..STREAM_HEADER_LEN).ok_or(Error::Truncated)?;
    let (_, check) = parse_stream_flags(header)?;
    let mut rest = data.get(STREAM_HEADER_LEN..).unwrap_or_default().iter();
    let size_byte = *rest.next().ok_or(Error::Truncated)?;
    if size_byte == INDEX_INDICATOR {
        return Err(Error::NoBlock);
    }
    let mut reader = BlockHeaderReader::new(size_byte);
    for &byte in rest {
        if let Some(block) = reader.feed(byte)? {
            return Ok(StreamInfo {
                check,
                dict_size: dictionary_size(block.dictionary)?,
            });
        }
    }
    Err(Error::Truncated)
}

/// Why a stream was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// The probability buffer is shorter than [`PROBS_LEN`].
    Workspace,
    /// The input does not start with the stream header magic bytes (section 2.1.1.1).
    StreamMagic,
    /// The stream header's CRC32 does not match its flags (section 2.1.1.3).
    StreamHeaderCrc { stored: u32, computed: u32 },
    /// Reserved stream flag bits are set (section 2.1.1.2).
    StreamFlags { flags: [u8; 2] },
    /// The integrity check is neither None (0x00) nor CRC32 (0x01).
    UnsupportedCheck { check: u8 },
    /// A block header's CRC32 does not match (section 3.1.7).
    BlockHeaderCrc { stored: u32, computed: u32 },
    /// A block header is malformed (section 3.1).
    BlockHeader { reason: &'static str },
    /// A block uses a filter other than LZMA2 (0x21), such as a BCJ or delta filter.
    UnsupportedFilter { id: u64 },
    /// The LZMA2 dictionary size property is above 40 (section 5.3.1).
    DictionaryProperty { props: u8 },
    /// The block's LZMA2 dictionary is larger than the dictionary buffer.
    DictionaryTooLarge { declared: u32, max: u32 },
    /// An LZMA2 control byte is invalid (0x03..=0x7F).
    Lzma2Control { control: u8 },
    /// The first LZMA2 chunk of a block does not reset the dictionary.
    MissingDictionaryReset { control: u8 },
    /// An LZMA chunk after a dictionary reset does not set new properties.
    MissingProperties { control: u8 },
    /// The LZMA properties byte is invalid or has lc + lp > 3 (LZMA2 allows 4; W800 images and
    /// xz's presets use 3).
    LzmaProperties { props: u8 },
    /// An LZMA chunk's range coder does not start with a zero byte.
    RangeCoderInit { byte: u8 },
    /// A match refers back further than the bytes decoded since the dictionary reset.
    MatchDistance { distance: u32, available: u32 },
    /// LZMA data needs more bytes than its chunk's compressed size.
    ChunkOverrun,
    /// An LZMA chunk ends mid-match, with compressed bytes left over, or with the range coder
    /// not finished.
    ChunkEnd,
    /// A block's compressed size differs from its header's.
    CompressedSize { declared: u64, actual: u64 },
    /// A block's uncompressed size differs from its header's.
    UncompressedSize { declared: u64, actual: u64 },
    /// Block padding is not zero (section 3.3).
    BlockPadding,
    /// The CRC32 of a block's data does not match its check field (section 3.4).
    DataCrc { stored: u32, computed: u32 },
    /// The index has an invalid integer or non-zero padding (section 4).
    IndexFormat,
    /// The index records do not match the blocks (sections 4.2, 4.3).
    IndexRecords,
    /// The index's CRC32 does not match (section 4.5).
    IndexCrc { stored: u32, computed: u32 },
    /// The stream footer does not end with the footer magic bytes (section 2.1.2.4).
    FooterMagic,
    /// The stream footer's CRC32 does not match (section 2.1.2.1).
    FooterCrc { stored: u32, computed: u32 },
    /// The stream footer's flags differ from the header's (section 2.1.2.3).
    FooterFlags,
    /// The stream footer's backward size differs from the index size (section 2.1.2.2).
    BackwardSize { declared: u64, actual: u64 },
    /// The input ends inside the headers [`stream_info`] reads. (The [`Decoder`] instead waits
    /// for more input.)
    Truncated,
    /// The stream has no block, so [`stream_info`] has no block header to read.
    NoBlock,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Error::Workspace => write!(
                f,
                "xz: probability buffer shorter than {PROBS_LEN} entries"
            ),
            Error::StreamMagic => write!(f, "xz: bad stream magic"),
            Error::StreamHeaderCrc { stored, computed } => write!(
                f,
                "xz: stream header CRC32 mismatch: stored 0x{stored:08x}, computed 0x{computed:08x}"
            ),
            Error::StreamFlags { flags } => write!(
                f,
                "xz: reserved stream flags set: 0x{:02x}{:02x}",
                flags[0], flags[1]
            ),
            Error::UnsupportedCheck { check } => write!(
                f,
                "xz: unsupported integrity check 0x{check:02x} (only none and CRC32)"
            ),
            Error::BlockHeaderCrc { stored, computed } => write!(
                f,
                "xz: block header CRC32 mismatch: stored 0x{stored:08x}, computed 0x{computed:08x}"
            ),
            Error::BlockHeader { reason } => write!(f, "xz: malformed block header: {reason}"),
            Error::UnsupportedFilter { id } => {
                write!(f, "xz: unsupported filter 0x{id:x} (only LZMA2)")
            }
            Error::DictionaryProperty { props } => {
                write!(f, "xz: invalid LZMA2 dictionary size property {props}")
            }
            Error::DictionaryTooLarge { declared, max } => write!(
                f,
                "xz: LZMA2 dictionary of {declared} bytes, the decoder has {max}"
            ),
            Error::Lzma2Control { control } => {
                write!(f, "xz: invalid LZMA2 control byte 0x{control:02x}")
            }
            Error::MissingDictionaryReset { control } => write!(
                f,
                "xz: first LZMA2 chunk (control 0x{control:02x}) does not reset the dictionary"
            ),
            Error::MissingProperties { control } => write!(
                f,
                "xz: LZMA2 chunk (control 0x{control:02x}) lacks properties after a dictionary reset"
            ),
            Error::LzmaProperties { props } => {
                write!(f, "xz: invalid LZMA properties byte 0x{props:02x}")
            }
            Error::RangeCoderInit { byte } => write!(
                f,
                "xz: LZMA range coder starts with 0x{byte:02x} instead of 0x00"
            ),
            Error::MatchDistance {
                distance,
                available,
            } => write!(
                f,
                "xz: LZMA match distance {distance} beyond the {available} bytes decoded"
            ),
            Error::ChunkOverrun => write!(f, "xz: LZMA data runs past its chunk"),
            Error::ChunkEnd => write!(f, "xz: LZMA chunk does not end where its sizes say"),
            Error::CompressedSize { declared, actual } => write!(
                f,
                "xz: block has {actual} compressed bytes, its header says {declared}"
            ),
            Error::UncompressedSize { declared, actual } => write!(
                f,
                "xz: block has {actual} uncompressed bytes, its header says {declared}"
            ),
            Error::BlockPadding => write!(f, "xz: non-zero block padding"),
            Error::DataCrc { stored, computed } => write!(
                f,
                "xz: data CRC32 mismatch: stored 0x{stored:08x}, computed 0x{computed:08x}"
            ),
            Error::IndexFormat => write!(f, "xz: malformed index"),
            Error::IndexRecords => write!(f, "xz: index does not match the blocks"),
            Error::IndexCrc { stored, computed } => write!(
                f,
                "xz: index CRC32 mismatch: stored 0x{stored:08x}, computed 0x{computed:08x}"
            ),
            Error::FooterMagic => write!(f, "xz: bad stream footer magic"),
            Error::FooterCrc { stored, computed } => write!(
                f,
                "xz: stream footer CRC32 mismatch: stored 0x{stored:08x}, computed 0x{computed:08x}"
            ),
            Error::FooterFlags => write!(f, "xz: stream footer flags differ from the header's"),
            Error::BackwardSize { declared, actual } => write!(
                f,
                "xz: stream footer says the index is {declared} bytes, it is {actual}"
            ),
            Error::Truncated => write!(f, "xz: input ends inside the stream or block header"),
            Error::NoBlock => write!(f, "xz: stream has no block"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for Error {}

/// What one [`Decoder::decode`] call did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Input bytes used; the rest must be passed again.
    pub consumed: usize,
    /// Output bytes written, at the start of the output buffer.
    pub produced: usize,
    /// The whole stream has been read and verified.
    pub end: bool,
}

/// The block being decoded.
#[derive(Debug, Clone, Copy)]
struct Block {
    header: BlockHeader,
    compressed: u64,
    uncompressed: u64,
    crc: JamCrc,
    /// Block padding bytes read.
    padding: u64,
}

/// Where in the stream the decoder is.
#[derive(Debug, Clone, Copy)]
enum Stage {
    StreamHeader,
    /// A block header size byte or the index indicator comes next.
    BlockOrIndex,
    BlockHeader(BlockHeaderReader),
    BlockData,
    BlockPadding,
    BlockCheck,
    Index(IndexReader),
    StreamFooter,
    End,
    /// An error was returned; every later call returns it again.
    Failed(Error),
}

/// A fixed-size field (stream header or footer, block check) gathered across calls.
#[derive(Debug, Clone, Copy)]
struct FieldBuffer {
    bytes: [u8; 12],
    len: usize,
}

impl FieldBuffer {
    /// Moves input into the field until it holds `want` bytes, then returns them and empties
    /// itself for the next field.
    fn fill(&mut self, input: &[u8], in_pos: &mut usize, want: usize) -> Option<&[u8]> {
        let want = want.min(self.bytes.len());
        let rest = input.get(*in_pos..).unwrap_or_default();
        let take = (want - self.len).min(rest.len());
        self.bytes[self.len..self.len + take].copy_from_slice(&rest[..take]);
        self.len += take;
        *in_pos += take;
        if self.len < want {
            return None;
        }
        self.len = 0;
        Some(&self.bytes[..want])
    }
}

/// A streaming xz decoder over caller-provided memory.
pub struct Decoder<'w> {
    dict: Dictionary<'w>,
    probs: &'w mut Probabilities,
    lzma2: Lzma2,
    stage: Stage,
    field: FieldBuffer,
    /// Stream flags from the header, which the footer repeats.
    stream_flags: [u8; 2],
    check: Check,
    block: Block,
    /// The blocks decoded so far, for the index check.
    blocks: Records,
    /// Size of the index, for the footer check.
    index_len: u64,
    total_in: u64,
    total_out: u64,
}

impl fmt::Debug for Decoder<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Decoder")
            .field("stage", &self.stage)
            .field("total_in", &self.total_in)
            .field("total_out", &self.total_out)
            .finish_non_exhaustive()
    }
}

impl<'w> Decoder<'w> {
    /// `dict`: the dictionary (ring) buffer; its length is the largest LZMA2 dictionary accepted
    /// (a stream declaring a bigger one fails with [`Error::DictionaryTooLarge`]). `probs` must
    /// hold at least [`PROBS_LEN`] entries, else [`Error::Workspace`]. No allocation.
    pub fn new(dict: &'w mut [u8], probs: &'w mut [u16]) -> Result<Decoder<'w>, Error> {
        let probs = probs
            .get_mut(..PROBS_LEN)
            .and_then(|probs| <&mut Probabilities>::try_from(probs).ok())
            .ok_or(Error::Workspace)?;
        Ok(Decoder {
            dict: Dictionary::new(dict),
            probs,
            lzma2: Lzma2::new(),
            stage: Stage::StreamHeader,
            field: FieldBuffer {
                bytes: [0; 12],
                len: 0,
            },
            stream_flags: [0; 2],
            check: Check::None,
            block: Block {
                header: BlockHeader {
                    len: 0,
                    compressed: None,
                    uncompressed: None,
                    dictionary: 0,
                },
                compressed: 0,
                uncompressed: 0,
                crc: JamCrc::new(),
                padding: 0,
            },
            blocks: Records::new(),
            index_len: 0,
            total_in: 0,
            total_out: 0,
        })
    }

    /// Decodes as much as fits: consumes from `input`, writes to `output`. Call again with the
    /// unconsumed input and more output room. [`Progress::end`] is true once the whole stream
    /// (blocks, index, footer) has been read and verified; after that nothing more is consumed.
    /// Never panics on any input. After an error, every call returns that error.
    pub fn decode(&mut self, input: &[u8], output: &mut [u8]) -> Result<Progress, Error> {
        let mut in_pos = 0;
        let mut out_pos = 0;
        let result = self.run(input, &mut in_pos, output, &mut out_pos);
        self.total_in += in_pos as u64;
        self.total_out += out_pos as u64;
        match result {
            Ok(()) => Ok(Progress {
                consumed: in_pos,
                produced: out_pos,
                end: matches!(self.stage, Stage::End),
            }),
            Err(error) => {
                self.stage = Stage::Failed(error);
                Err(error)
            }
        }
    }

    /// Total bytes consumed so far.
    pub fn total_in(&self) -> u64 {
        self.total_in
    }

    /// Total bytes produced so far.
    pub fn total_out(&self) -> u64 {
        self.total_out
    }

    /// Advances through the stream until the input runs out, the output is full, the stream
    /// ends or an error occurs.
    fn run(
        &mut self,
        input: &[u8],
        in_pos: &mut usize,
        output: &mut [u8],
        out_pos: &mut usize,
    ) -> Result<(), Error> {
        loop {
            match &mut self.stage {
                Stage::StreamHeader => {
                    let Some(header) = self.field.fill(input, in_pos, STREAM_HEADER_LEN) else {
                        return Ok(());
                    };
                    (self.stream_flags, self.check) = parse_stream_header(header)?;
                    self.stage = Stage::BlockOrIndex;
                }
                Stage::BlockOrIndex => {
                    let Some(byte) = next_byte(input, in_pos) else {
                        return Ok(());
                    };
                    self.stage = if byte == INDEX_INDICATOR {
                        Stage::Index(IndexReader::new())
                    } else {
                        Stage::BlockHeader(BlockHeaderReader::new(byte))
                    };
                }
                Stage::BlockHeader(reader) => {
                    let Some(byte) = next_byte(input, in_pos) else {
                        return Ok(());
                    };
                    if let Some(header) = reader.feed(byte)? {
                        self.start_block(header)?;
                    }
                }
                Stage::BlockData => {
                    if self.block_data(input, in_pos, output, out_pos)? {
                        self.stage = Stage::BlockPadding;
                    } else {
                        return Ok(());
                    }
                }
                Stage::BlockPadding => {
                    // Section 3.3: zeros up to a multiple of 4 after header and data.
                    let len = self.block.header.len + self.block.compressed + self.block.padding;
                    if len.is_multiple_of(4) {
                        self.stage = Stage::BlockCheck;
                        continue;
                    }
                    let Some(byte) = next_byte(input, in_pos) else {
                        return Ok(());
                    };
                    if byte != 0x00 {
                        return Err(Error::BlockPadding);
                    }
                    self.block.padding += 1;
                }
                Stage::BlockCheck => {
                    let Some(stored) = self.field.fill(input, in_pos, self.check.len()) else {
                        return Ok(());
                    };
                    if self.check == Check::Crc32 {
                        let stored = get_u32(stored, 0);
                        let computed = !self.block.crc.value();
                        if stored != computed {
                            return Err(Error::DataCrc { stored, computed });
                        }
                    }
                    let check_len = self.check.len() as u64;
                    let unpadded = self.block.header.len + self.block.compressed + check_len;
                    self.blocks.add(unpadded, self.block.uncompressed);
                    self.stage = Stage::BlockOrIndex;
                }
                Stage::Index(reader) => {
                    let Some(byte) = next_byte(input, in_pos) else {
                        return Ok(());
                    };
                    if let Some(len) = reader.feed(byte, &self.blocks)? {
                        self.index_len = len;
                        self.stage = Stage::StreamFooter;
                    }
                }
                Stage::StreamFooter => {
                    let Some(footer) = self.field.fill(input, in_pos, STREAM_FOOTER_LEN) else {
                        return Ok(());
                    };
                    check_stream_footer(footer, self.stream_flags, self.index_len)?;
                    self.stage = Stage::End;
                }
                Stage::End => return Ok(()),
                Stage::Failed(error) => return Err(*error),
            }
        }
    }

    /// Checks a block header's dictionary against the buffer and starts its data.
    fn start_block(&mut self, header: BlockHeader) -> Result<(), Error> {
        let declared = dictionary_size(header.dictionary)?;
        let max = self.dict.capacity();
        match usize::try_from(declared) {
            Ok(size) if size <= max => self.dict.start_block(size),
            _ => {
                return Err(Error::DictionaryTooLarge {
                    declared,
                    max: u32::try_from(max).unwrap_or(u32::MAX),
                })
            }
        }
        self.lzma2.start_block();
        self.block = Block {
            header,
            compressed: 0,
            uncompressed: 0,
            crc: JamCrc::new(),
            padding: 0,
        };
        self.stage = Stage::BlockData;
        Ok(())
    }

    /// Decodes block data; true once the LZMA2 end marker has been read and the sizes agree
    /// with the block header.
    fn block_data(
        &mut self,
        input: &[u8],
        in_pos: &mut usize,
        output: &mut [u8],
        out_pos: &mut usize,
    ) -> Result<bool, Error> {
        let (in_start, out_start) = (*in_pos, *out_pos);
        let result = self
            .lzma2
            .decode(input, in_pos, output, out_pos, &mut self.dict, self.probs);
        let produced = output.get(out_start..*out_pos).unwrap_or_default();
        self.block.crc.update(produced);
        self.block.uncompressed += produced.len() as u64;
        self.block.compressed += (*in_pos - in_start) as u64;
        let end = result?;

        let header = &self.block.header;
        let (compressed, uncompressed) = (self.block.compressed, self.block.uncompressed);
        // Too much is an error at once, too little only at the end.
        if let Some(declared) = header.compressed {
            if compressed > declared || (end && compressed != declared) {
                return Err(Error::CompressedSize {
                    declared,
                    actual: compressed,
                });
            }
        }
        if let Some(declared) = header.uncompressed {
            if uncompressed > declared || (end && uncompressed != declared) {
                return Err(Error::UncompressedSize {
                    declared,
                    actual: uncompressed,
                });
            }
        }
        Ok(end)
    }
}

/// The byte at `*pos`, advancing past it.
fn next_byte(input: &[u8], pos: &mut usize) -> Option<u8> {
    let byte = input.get(*pos).copied()?;
    *pos += 1;
    Some(byte)
}
