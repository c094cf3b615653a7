//! The xz compression of `_ota.img` bodies.
//!
//! `/work/shared/facts/w800-platform.md` section 2.2: the SDK compresses the whole `.img` with
//! LZMA2, preset 9 | EXTREME, a 32 KiB dictionary (the bootloader decompresses with little
//! RAM) and a CRC32 integrity check, then pads the stream with 0xFF to a multiple of 4 bytes.

use std::fmt;

use bsp::format::crc::jamcrc;
use bsp::format::xz;
use liblzma::stream::{Action, Check, Filters, LzmaOptions, Status, Stream, PRESET_EXTREME};

use crate::error::Error;

/// LZMA2 dictionary size the bootloader expects.
pub const DICT_SIZE: u32 = 1 << 15;

/// xz check ID of CRC32 (stream flags, second byte).
pub const CHECK_CRC32: u8 = 0x01;

/// Output is grown in steps of this size.
const CHUNK: usize = 64 << 10;

const STREAM_MAGIC: [u8; 6] = [0xFD, b'7', b'z', b'X', b'Z', 0x00];
const STREAM_HEADER_LEN: usize = 12;
const FILTER_LZMA2: u64 = 0x21;

/// Compresses `data` into one xz stream with the SDK's settings (no padding).
pub fn compress(data: &[u8]) -> Result<Vec<u8>, Error> {
    let mut options = LzmaOptions::new_preset(9 | PRESET_EXTREME)?;
    options.dict_size(DICT_SIZE);
    let mut filters = Filters::new();
    filters.lzma2(&options);
    let mut stream = Stream::new_stream_encoder(&filters, Check::Crc32)?;
    let mut output = Vec::with_capacity(data.len() / 2 + CHUNK);
    loop {
        if output.len() == output.capacity() {
            output.reserve(CHUNK);
        }
        if process(&mut stream, data, &mut output)? {
            return Ok(output);
        }
    }
}

/// Decompresses the single xz stream at the start of `data`, which may be followed by at most 3
/// bytes of 0xFF padding. Fails with [`Error::XzTooLarge`] instead of producing more than
/// `limit` bytes. This is the bootloader's decoder (`bsp::format::xz`) with the bootloader's
/// dictionary size, so a stream that unpacks here unpacks on the device.
pub fn decompress(data: &[u8], limit: usize) -> Result<Vec<u8>, Error> {
    let mut dict = vec![0u8; xz::DICT_SIZE_MAX];
    let mut probs = vec![0u16; xz::PROBS_LEN];
    let mut decoder = xz::Decoder::new(&mut dict, &mut probs).map_err(decoder_error)?;
    let mut output = Vec::new();
    let mut consumed = 0;
    loop {
        let filled = output.len();
        if filled > limit {
            return Err(Error::XzTooLarge { limit });
        }
        // Room for one byte past the limit, so that an oversized stream is detected.
        let room = limit.saturating_add(1).saturating_sub(filled).min(CHUNK);
        output.resize(filled + room, 0);
        let input = data.get(consumed..).unwrap_or_default();
        let progress = decoder
            .decode(input, &mut output[filled..])
            .map_err(decoder_error)?;
        consumed += progress.consumed;
        output.truncate(filled + progress.produced);
        if progress.end {
            break;
        }
        if progress.consumed == 0 && progress.produced == 0 {
            // Output room was offered, yet nothing happened: the input ran out mid-stream.
            return Err(Error::XzTruncated);
        }
    }
    if output.len() > limit {
        return Err(Error::XzTooLarge { limit });
    }
    let trailing = data.get(consumed..).unwrap_or_default();
    if trailing.len() >= 4 || trailing.iter().any(|&byte| byte != 0xFF) {
        return Err(Error::XzTrailingData {
            len: trailing.len(),
        });
    }
    Ok(output)
}

/// The tool's error for a decoder error. `Error` has no variant carrying an
/// `xz::Error` yet, so the reason travels as the nearest static description.
fn decoder_error(error: xz::Error) -> Error {
    use xz::Error as E;
    Error::XzHeader(match error {
        E::Workspace => "decoder workspace too small",
        E::StreamMagic => "bad stream magic",
        E::StreamHeaderCrc { .. } => "stream header CRC32 mismatch",
        E::StreamFlags { .. } => "reserved stream flag bits set",
        E::UnsupportedCheck { .. } => "integrity check is neither none nor CRC32",
        E::BlockHeaderCrc { .. } => "block header CRC32 mismatch",
        E::BlockHeader { reason } => reason,
        E::UnsupportedFilter { .. } => "filter other than LZMA2",
        E::DictionaryProperty { .. } => "invalid LZMA2 dictionary size",
        E::DictionaryTooLarge { .. } => "LZMA2 dictionary larger than 32 KiB",
        E::Lzma2Control { .. }
        | E::MissingDictionaryReset { .. }
        | E::MissingProperties { .. }
        | E::LzmaProperties { .. }
        | E::RangeCoderInit { .. }
        | E::MatchDistance { .. }
        | E::ChunkOverrun
        | E::ChunkEnd => "corrupt LZMA2 data",
        E::CompressedSize { .. } | E::UncompressedSize { .. } => {
            "block sizes disagree with the block header"
        }
        E::BlockPadding => "non-zero block padding",
        E::DataCrc { .. } => "data CRC32 mismatch",
        E::IndexFormat | E::IndexRecords | E::IndexCrc { .. } => {
            "index corrupt or disagrees with the blocks"
        }
        E::FooterMagic | E::FooterCrc { .. } | E::FooterFlags | E::BackwardSize { .. } => {
            "stream footer corrupt or disagrees with the index"
        }
    })
}

/// The part of `data` that `stream` has not consumed yet.
fn remaining<'a>(stream: &Stream, data: &'a [u8]) -> &'a [u8] {
    usize::try_from(stream.total_in())
        .ok()
        .and_then(|consumed| data.get(consumed..))
        .unwrap_or_default()
}

/// Runs `stream` once over the rest of `data` into the spare capacity of `output`; true at the
/// end of the stream. All input is available from the start, hence `Action::Finish`.
fn process(stream: &mut Stream, data: &[u8], output: &mut Vec<u8>) -> Result<bool, Error> {
    let input = remaining(stream, data);
    let (in_before, out_before) = (stream.total_in(), output.len());
    let status = stream.process_vec(input, output, Action::Finish)?;
    if status == Status::StreamEnd {
        return Ok(true);
    }
    let progressed = stream.total_in() != in_before || output.len() != out_before;
    if !progressed && output.len() < output.capacity() {
        // Output space left, yet nothing happened: the input ran out mid-stream.
        return Err(Error::XzTruncated);
    }
    Ok(false)
}

/// What the headers at the start of an xz stream say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamInfo {
    /// Integrity check ID from the stream flags ([`CHECK_CRC32`] for W800 images).
    pub check: u8,
    /// Dictionary size of the first block's LZMA2 filter.
    pub dict_size: u32,
}

impl StreamInfo {
    /// Fails unless the stream has the settings the bootloader expects: CRC32 check and a
    /// dictionary of at most [`DICT_SIZE`].
    pub fn check_w800(&self) -> Result<(), Error> {
        if self.check != CHECK_CRC32 {
            return Err(Error::XzHeader("integrity check is not CRC32"));
        }
        if self.dict_size > DICT_SIZE {
            return Err(Error::XzHeader("LZMA2 dictionary larger than 32 KiB"));
        }
        Ok(())
    }
}

impl fmt::Display for StreamInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let check = match self.check {
            0x00 => "none",
            CHECK_CRC32 => "CRC32",
            0x04 => "CRC64",
            0x0A => "SHA-256",
            _ => "unknown",
        };
        write!(
            f,
            "check {check} (0x{:02x}), LZMA2 dictionary {} bytes",
            self.check, self.dict_size
        )
    }
}

/// Reads the stream header and the first block header of the xz stream at the start of `data`
/// (xz file format 1.x: stream header = magic, 2 flag bytes, CRC32; block header = size byte,
/// flags, optional sizes, filter flags, padding, CRC32).
pub fn stream_info(data: &[u8]) -> Result<StreamInfo, Error> {
    let header = data
        .get(..STREAM_HEADER_LEN)
        .ok_or(Error::XzHeader("shorter than the stream header"))?;
    let (magic, rest) = header.split_at(STREAM_MAGIC.len());
    if magic != STREAM_MAGIC {
        return Err(Error::XzHeader("bad stream magic"));
    }
    let (flags, flags_crc) = rest.split_at(2);
    if crc32(flags) != read_u32(flags_crc) {
        return Err(Error::XzHeader("stream flags CRC32 mismatch"));
    }
    let check = match flags {
        [0, check] if check & 0xF0 == 0 => *check,
        _ => return Err(Error::XzHeader("reserved stream flag bits set")),
    };

    let size_byte = *data
        .get(STREAM_HEADER_LEN)
        .ok_or(Error::XzHeader("no block header"))?;
    if size_byte == 0 {
        return Err(Error::XzHeader("stream has no block"));
    }
    let block_len = (usize::from(size_byte) + 1) * 4;
    let block = data
        .get(STREAM_HEADER_LEN..STREAM_HEADER_LEN + block_len)
        .ok_or(Error::XzHeader("block header truncated"))?;
    let (block_body, block_crc) = block.split_at(block_len - 4);
    if crc32(block_body) != read_u32(block_crc) {
        return Err(Error::XzHeader("block header CRC32 mismatch"));
    }
    let mut fields = block_body.get(1..).unwrap_or_default().iter().copied();
    let block_flags = fields.next().ok_or(Error::XzHeader("no block flags"))?;
    if block_flags & 0x3C != 0 {
        return Err(Error::XzHeader("reserved block flag bits set"));
    }
    if block_flags & 0x40 != 0 {
        read_varint(&mut fields)?; // compressed size
    }
    if block_flags & 0x80 != 0 {
        read_varint(&mut fields)?; // uncompressed size
    }
    let filter_count = (block_flags & 0x03) + 1;
    for _ in 0..filter_count {
        let id = read_varint(&mut fields)?;
        let props_len = read_varint(&mut fields)?;
        if id == FILTER_LZMA2 {
            if props_len != 1 {
                return Err(Error::XzHeader("LZMA2 properties are not one byte"));
            }
            let props = fields
                .next()
                .ok_or(Error::XzHeader("LZMA2 properties missing"))?;
            return Ok(StreamInfo {
                check,
                dict_size: lzma2_dict_size(props)?,
            });
        }
        for _ in 0..props_len {
            fields
                .next()
                .ok_or(Error::XzHeader("filter properties truncated"))?;
        }
    }
    Err(Error::XzHeader("no LZMA2 filter in the first block"))
}

/// The standard CRC32 the xz headers use: JAMCRC followed by the final inversion.
fn crc32(data: &[u8]) -> u32 {
    !jamcrc(data)
}

fn read_u32(bytes: &[u8]) -> u32 {
    <[u8; 4]>::try_from(bytes).map_or(0, u32::from_le_bytes)
}

/// xz multibyte integer: 7 bits per byte, least significant first, at most 9 bytes.
fn read_varint(bytes: &mut impl Iterator<Item = u8>) -> Result<u64, Error> {
    let mut value = 0u64;
    for shift in (0..63).step_by(7) {
        let byte = bytes
            .next()
            .ok_or(Error::XzHeader("block header integer truncated"))?;
        value |= u64::from(byte & 0x7F) << shift;
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(Error::XzHeader("block header integer too long"))
}

/// LZMA2 dictionary-size property: 2 or 3 times a power of two, from 4 KiB; 40 means 4 GiB − 1.
fn lzma2_dict_size(props: u8) -> Result<u32, Error> {
    match props {
        0..=39 => Ok((2 | u32::from(props & 1)) << (props / 2 + 11)),
        40 => Ok(u32::MAX),
        _ => Err(Error::XzHeader("invalid LZMA2 dictionary size")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(len: usize) -> Vec<u8> {
        (0..len)
            .map(|i| (i % 251) as u8 ^ (i / 1000) as u8)
            .collect()
    }

    #[test]
    fn round_trip() {
        let data = sample(300_000);
        let packed = compress(&data).unwrap();
        assert!(packed.len() < data.len());
        assert_eq!(packed.len() % 4, 0, "xz streams are a multiple of 4 bytes");
        assert_eq!(decompress(&packed, data.len()).unwrap(), data);
    }

    #[test]
    fn stream_uses_crc32_and_a_32_kib_dictionary() {
        let packed = compress(&sample(100_000)).unwrap();
        assert_eq!(packed[7], CHECK_CRC32, "stream flags byte at offset 7");
        let info = stream_info(&packed).unwrap();
        assert_eq!(
            info,
            StreamInfo {
                check: CHECK_CRC32,
                dict_size: 32 * 1024
            }
        );
        assert_eq!(info.check_w800().map_err(|e| e.to_string()), Ok(()));
    }

    #[test]
    fn dictionary_property_decoding() {
        assert_eq!(lzma2_dict_size(0).unwrap(), 4096);
        assert_eq!(lzma2_dict_size(1).unwrap(), 6144);
        assert_eq!(lzma2_dict_size(6).unwrap(), 32 * 1024);
        assert_eq!(lzma2_dict_size(39).unwrap(), 3 << 30);
        assert_eq!(lzma2_dict_size(40).unwrap(), u32::MAX);
        assert!(lzma2_dict_size(41).is_err());
    }

    #[test]
    fn output_limit_is_enforced() {
        let data = sample(100_000);
        let packed = compress(&data).unwrap();
        assert!(matches!(
            decompress(&packed, data.len() - 1),
            Err(Error::XzTooLarge { limit }) if limit == data.len() - 1
        ));
        assert_eq!(decompress(&packed, data.len()).unwrap(), data);
    }

    #[test]
    fn padding_truncation_and_garbage() {
        let data = sample(10_000);
        let mut packed = compress(&data).unwrap();
        let end = packed.len();
        packed.extend_from_slice(&[0xFF; 3]);
        assert_eq!(decompress(&packed, data.len()).unwrap(), data);
        packed.push(0xFF);
        assert!(matches!(
            decompress(&packed, data.len()),
            Err(Error::XzTrailingData { len: 4 })
        ));
        packed.truncate(end);
        packed.push(0x00);
        assert!(matches!(
            decompress(&packed, data.len()),
            Err(Error::XzTrailingData { len: 1 })
        ));
        packed.truncate(end);
        for cut in [0, 5, 12, end / 2, end - 1] {
            assert!(decompress(&packed[..cut], data.len()).is_err(), "cut {cut}");
        }
        let mut flipped = packed.clone();
        flipped[end / 2] ^= 0x04;
        assert!(decompress(&flipped, data.len()).is_err());
    }

    #[test]
    fn stream_info_rejects_garbage() {
        assert!(stream_info(&[]).is_err());
        assert!(stream_info(&[0xFF; 64]).is_err());
        let mut packed = compress(&sample(1000)).unwrap();
        packed[7] ^= 0x01;
        assert!(stream_info(&packed).is_err());
    }
}
