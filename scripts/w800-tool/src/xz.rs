//! The xz compression of `_ota.img` bodies.
//!
//! docs/w800.md, "Image files": the SDK compresses the whole `.img` with
//! LZMA2, preset 9 | EXTREME, a 32 KiB dictionary (the bootloader decompresses with little
//! RAM) and a CRC32 integrity check, then pads the stream with 0xFF to a multiple of 4 bytes.
//!
//! liblzma only compresses. Reading is `bsp::format::xz`'s, the bootloader's own code: the
//! decoder behind [`decompress`], and [`stream_info`] for what a stream's headers declare.

use bsp::format::xz;
pub use bsp::format::xz::{stream_info, StreamInfo, CHECK_CRC32};
use liblzma::stream::{Action, Check, Filters, LzmaOptions, Status, Stream, PRESET_EXTREME};

use crate::error::Error;

/// LZMA2 dictionary size the bootloader expects.
pub const DICT_SIZE: u32 = 1 << 15;

/// Output is grown in steps of this size.
const CHUNK: usize = 64 << 10;

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
    let mut decoder = xz::Decoder::new(&mut dict, &mut probs)?;
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
        let progress = decoder.decode(input, &mut output[filled..])?;
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

/// Fails unless the stream headers (from [`stream_info`]) have the settings the bootloader
/// expects: CRC32 check and an LZMA2 dictionary of at most [`DICT_SIZE`].
pub fn check_w800(info: &StreamInfo) -> Result<(), Error> {
    if info.check != CHECK_CRC32 {
        return Err(Error::XzSettings("integrity check is not CRC32"));
    }
    if info.dict_size > DICT_SIZE {
        return Err(Error::XzSettings("LZMA2 dictionary larger than 32 KiB"));
    }
    Ok(())
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
        assert_eq!(check_w800(&info).map_err(|e| e.to_string()), Ok(()));
        assert_eq!(
            info.to_string(),
            "check CRC32 (0x01), LZMA2 dictionary 32768 bytes"
        );
    }

    #[test]
    fn w800_settings_are_enforced() {
        let w800 = StreamInfo {
            check: CHECK_CRC32,
            dict_size: DICT_SIZE,
        };
        assert!(check_w800(&w800).is_ok());
        let smaller = StreamInfo {
            dict_size: 4096,
            ..w800
        };
        assert!(check_w800(&smaller).is_ok());
        for check in [xz::CHECK_NONE, xz::CHECK_CRC64, xz::CHECK_SHA256] {
            let info = StreamInfo { check, ..w800 };
            assert!(matches!(
                check_w800(&info),
                Err(Error::XzSettings("integrity check is not CRC32"))
            ));
        }
        let larger = StreamInfo {
            dict_size: DICT_SIZE + 1,
            ..w800
        };
        let error = check_w800(&larger).unwrap_err();
        assert_eq!(
            error.to_string(),
            "xz stream does not have the W800 settings: LZMA2 dictionary larger than 32 KiB"
        );
    }

    #[test]
    fn decoder_errors_keep_their_details() {
        let mut packed = compress(&sample(1000)).unwrap();
        packed[0] ^= 0x01;
        let error = decompress(&packed, 1000).unwrap_err();
        assert!(matches!(error, Error::XzDecode(xz::Error::StreamMagic)));
        assert_eq!(error.to_string(), "xz: bad stream magic");
        packed[0] ^= 0x01;
        let end = packed.len();
        packed[end - 1] ^= 0x01;
        assert!(matches!(
            decompress(&packed, 1000),
            Err(Error::XzDecode(xz::Error::FooterMagic))
        ));
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
        assert_eq!(stream_info(&[]), Err(xz::Error::Truncated));
        assert_eq!(stream_info(&[0xFF; 64]), Err(xz::Error::StreamMagic));
        let mut packed = compress(&sample(1000)).unwrap();
        packed[7] ^= 0x01;
        assert!(matches!(
            stream_info(&packed),
            Err(xz::Error::StreamHeaderCrc { .. })
        ));
    }
}
