//! Round trips against liblzma, hand-built streams for the error paths, truncation and
//! corruption.

use crate::sample::noise;
use liblzma::stream::{
    Action, Check as LzmaCheck, Filters, LzmaOptions, Status, Stream, PRESET_EXTREME,
};

use super::*;
use crate::format::crc::jamcrc;

/// The W800 tools' settings: preset 9 | EXTREME with a 32 KiB dictionary.
fn compress_parts(parts: &[&[u8]], dict_size: u32, check: LzmaCheck) -> Vec<u8> {
    let mut options = LzmaOptions::new_preset(9 | PRESET_EXTREME).unwrap();
    options.dict_size(dict_size);
    let mut filters = Filters::new();
    filters.lzma2(&options);
    let stream = Stream::new_stream_encoder(&filters, check).unwrap();
    run_encoder(stream, parts)
}

/// Encodes `parts` with `stream`, each part in its own block.
fn run_encoder(mut stream: Stream, parts: &[&[u8]]) -> Vec<u8> {
    let mut output = Vec::new();
    for (index, part) in parts.iter().enumerate() {
        // A full flush ends the block; liblzma reports the end of a flush as the stream end.
        let action = if index + 1 == parts.len() {
            Action::Finish
        } else {
            Action::FullFlush
        };
        let start = stream.total_in();
        loop {
            output.reserve(64 << 10);
            let consumed = usize::try_from(stream.total_in() - start).unwrap();
            let status = stream
                .process_vec(&part[consumed..], &mut output, action)
                .unwrap();
            if status == Status::StreamEnd {
                break;
            }
        }
    }
    output
}

fn compress(data: &[u8]) -> Vec<u8> {
    compress_parts(&[data], 1 << 15, LzmaCheck::Crc32)
}

/// liblzma's own decoding, to check the hand-built streams.
fn liblzma_decompress(stream: &[u8]) -> Vec<u8> {
    let mut decoder = Stream::new_stream_decoder(u64::MAX, 0).unwrap();
    let mut output = Vec::with_capacity(1 << 20);
    let status = decoder
        .process_vec(stream, &mut output, Action::Finish)
        .unwrap();
    assert_eq!(status, Status::StreamEnd);
    output
}

fn text(len: usize) -> Vec<u8> {
    let words = [
        "firmware ",
        "over ",
        "the ",
        "air ",
        "update ",
        "W800 ",
        "bootloader ",
        "flash ",
        "partition ",
        "image ",
        "header ",
        "checksum ",
        "\n",
    ];
    let mut out = Vec::new();
    let mut index = 7usize;
    while out.len() < len {
        index = (index * 31 + 17) % 101;
        out.extend_from_slice(words[index % words.len()].as_bytes());
    }
    out.truncate(len);
    out
}

/// 300 KB: text; random nibbles, compressible only to about half, so that LZMA chunks follow
/// each other; random bytes, long enough for stored chunks; a repetitive run.
fn mixed() -> Vec<u8> {
    let mut data = text(20_000);
    data.extend(noise(0x0BAD_CAFE, 140_000).iter().map(|byte| byte & 0x0F));
    data.extend(noise(0x1234_5678, 110_000));
    data.extend((0..30_000u32).map(|i| (i % 7) as u8 * 3));
    data
}

struct Workspace {
    dict: Vec<u8>,
    probs: Vec<u16>,
}

impl Workspace {
    fn new(dict_len: usize) -> Self {
        Workspace {
            dict: vec![0; dict_len],
            probs: vec![0; PROBS_LEN],
        }
    }

    fn decoder(&mut self) -> Decoder<'_> {
        Decoder::new(&mut self.dict, &mut self.probs).unwrap()
    }
}

/// Decodes in one call with room for `room` output bytes; returns the output and progress.
fn decode_once(stream: &[u8], room: usize) -> Result<(Vec<u8>, Progress), Error> {
    let mut workspace = Workspace::new(DICT_SIZE_MAX);
    let mut decoder = workspace.decoder();
    let mut output = vec![0; room];
    let progress = decoder.decode(stream, &mut output)?;
    output.truncate(progress.produced);
    Ok((output, progress))
}

/// Decodes feeding at most `in_step` input bytes and `out_step` output bytes per call, until
/// the end, an error, or no progress (then `Ok(None)`).
fn decode_steps(stream: &[u8], in_step: usize, out_step: usize) -> Result<Option<Vec<u8>>, Error> {
    let mut workspace = Workspace::new(DICT_SIZE_MAX);
    let mut decoder = workspace.decoder();
    let mut output = Vec::new();
    let mut buffer = vec![0; out_step];
    let mut pos = 0usize;
    loop {
        let end = pos.saturating_add(in_step).min(stream.len());
        let progress = decoder.decode(&stream[pos..end], &mut buffer)?;
        assert!(progress.consumed <= end - pos && progress.produced <= out_step);
        pos += progress.consumed;
        output.extend_from_slice(&buffer[..progress.produced]);
        if progress.end {
            assert_eq!(decoder.total_in(), pos as u64);
            assert_eq!(decoder.total_out(), output.len() as u64);
            return Ok(Some(output));
        }
        if progress.consumed == 0 && progress.produced == 0 {
            return Ok(None);
        }
    }
}

/// Checks that `stream` decodes to `data` in one call and in every kind of small step.
fn assert_round_trip(stream: &[u8], data: &[u8]) {
    let (output, progress) = decode_once(stream, data.len() + 1).unwrap();
    assert!(progress.end);
    assert_eq!(progress.consumed, stream.len());
    assert_eq!(output, data);
    for (in_step, out_step) in [(1, 1), (7, 13), (13, 7), (1, 4096), (4096, 1)] {
        let output = decode_steps(stream, in_step, out_step).unwrap();
        assert!(
            output.as_deref() == Some(data),
            "steps {in_step}/{out_step}"
        );
    }
}

#[test]
fn round_trip_w800_settings() {
    let mixed = mixed();
    let cases: [&[u8]; 4] = [b"", b"x", &text(5000), &mixed];
    for data in cases {
        assert_round_trip(&compress(data), data);
    }
}

#[test]
fn mixed_data_has_stored_and_lzma_chunks() {
    let stream = compress(&mixed());
    let controls = chunk_controls(&stream);
    assert!(controls[0] >= 0xE0, "{controls:x?}");
    let has = |range: core::ops::RangeInclusive<u8>| controls.iter().any(|c| range.contains(c));
    assert!(
        has(0x80..=0x9F),
        "an LZMA chunk continuing the state: {controls:x?}"
    );
    assert!(has(0x01..=0x02), "a stored chunk: {controls:x?}");
    assert!(
        has(0xA0..=0xBF),
        "an LZMA chunk with state reset: {controls:x?}"
    );
}

#[test]
fn stream_without_check() {
    for data in [&b""[..], &text(3000)] {
        let stream = compress_parts(&[data], 1 << 15, LzmaCheck::None);
        assert_eq!(stream[7], 0x00);
        assert_round_trip(&stream, data);
    }
}

#[test]
fn several_blocks() {
    let first = text(20_000);
    let second = noise(7, 3000);
    let third = text(7000);
    let stream = compress_parts(&[&first, &second, &third], 1 << 15, LzmaCheck::Crc32);
    assert!(block_count(&stream) == 3);
    assert_round_trip(&stream, &[first, second, third].concat());
}

#[test]
fn dictionary_larger_than_the_buffer_is_refused() {
    // Matches 40 000 bytes back, beyond a 32 KiB dictionary.
    let half = noise(99, 40_000);
    let data = [half.clone(), half].concat();
    let stream = compress_parts(&[&data], 1 << 16, LzmaCheck::Crc32);
    assert_eq!(
        decode_once(&stream, data.len()).map(|(_, progress)| progress),
        Err(Error::DictionaryTooLarge {
            declared: 1 << 16,
            max: 1 << 15
        })
    );

    let mut workspace = Workspace::new(1 << 16);
    let mut decoder = workspace.decoder();
    let mut output = vec![0; data.len()];
    let progress = decoder.decode(&stream, &mut output).unwrap();
    assert!(progress.end);
    assert_eq!(output, data);
}

#[test]
fn smaller_dictionary_uses_part_of_the_buffer() {
    // A 4 KiB ring inside the 32 KiB buffer, wrapping many times.
    let data = [text(30_000), noise(3, 5000), text(30_000)].concat();
    let stream = compress_parts(&[&data], 4096, LzmaCheck::Crc32);
    assert_round_trip(&stream, &data);
}

#[test]
fn unsupported_check_and_filters() {
    let data = text(1000);
    let stream = compress_parts(&[&data], 1 << 15, LzmaCheck::Crc64);
    assert_eq!(
        decode_once(&stream, 2000).unwrap_err(),
        Error::UnsupportedCheck { check: 0x04 }
    );

    let mut options = LzmaOptions::new_preset(6).unwrap();
    options.dict_size(1 << 15);
    let mut filters = Filters::new();
    filters.x86().lzma2(&options);
    let stream = run_encoder(
        Stream::new_stream_encoder(&filters, LzmaCheck::Crc32).unwrap(),
        &[&data],
    );
    assert_eq!(
        decode_once(&stream, 2000).unwrap_err(),
        Error::UnsupportedFilter { id: 0x04 }
    );
}

#[test]
fn short_probability_buffer_is_refused() {
    let mut dict = [0u8; 16];
    let mut probs = vec![0u16; PROBS_LEN - 1];
    assert_eq!(
        Decoder::new(&mut dict, &mut probs).unwrap_err(),
        Error::Workspace
    );
    let mut probs = vec![0u16; PROBS_LEN + 10];
    assert!(Decoder::new(&mut dict, &mut probs).is_ok());
}

#[test]
fn output_full_before_the_end() {
    let data = mixed();
    let stream = compress(&data);
    let mut workspace = Workspace::new(DICT_SIZE_MAX);
    let mut decoder = workspace.decoder();
    let mut buffer = [0u8; 1000];
    let first = decoder.decode(&stream, &mut buffer).unwrap();
    assert_eq!(first.produced, buffer.len());
    assert!(!first.end);
    let mut output = buffer.to_vec();
    let mut pos = first.consumed;
    loop {
        let progress = decoder.decode(&stream[pos..], &mut buffer).unwrap();
        pos += progress.consumed;
        output.extend_from_slice(&buffer[..progress.produced]);
        if progress.end {
            break;
        }
        assert_eq!(progress.produced, buffer.len());
    }
    assert_eq!(pos, stream.len());
    assert_eq!(output, data);
}

#[test]
fn stream_padding_is_left_to_the_caller() {
    let data = text(100);
    let stream = compress(&data);
    let padded = [stream.clone(), vec![0xFF; 3]].concat();
    let mut workspace = Workspace::new(DICT_SIZE_MAX);
    let mut decoder = workspace.decoder();
    let mut output = [0u8; 200];
    let progress = decoder.decode(&padded, &mut output).unwrap();
    assert_eq!(progress.consumed, stream.len());
    assert!(progress.end);
    assert_eq!(&output[..progress.produced], &data[..]);
    let again = decoder
        .decode(&padded[progress.consumed..], &mut output)
        .unwrap();
    assert_eq!(
        again,
        Progress {
            consumed: 0,
            produced: 0,
            end: true
        }
    );
    assert_eq!(decoder.total_in(), stream.len() as u64);
}

#[test]
fn truncated_streams_never_end() {
    let data = text(3000);
    let stream = compress(&data);
    for cut in 0..stream.len() {
        let (_, progress) = decode_once(&stream[..cut], data.len() + 1).unwrap();
        assert!(!progress.end, "cut at {cut}");
        assert_eq!(progress.consumed, cut);
    }
    for cut in (0..stream.len()).step_by(37) {
        assert_eq!(
            decode_steps(&stream[..cut], 7, 13),
            Ok(None),
            "cut at {cut}"
        );
    }
}

/// Offsets of the parts of a one-block liblzma stream.
struct Layout {
    data: usize,
    check: usize,
    index: usize,
    footer: usize,
}

fn layout(stream: &[u8]) -> Layout {
    let footer = stream.len() - 12;
    let backward = u32::from_le_bytes(stream[footer + 4..footer + 8].try_into().unwrap());
    let index = footer - (backward as usize + 1) * 4;
    Layout {
        data: 12 + (usize::from(stream[12]) + 1) * 4,
        check: index - 4,
        index,
        footer,
    }
}

#[test]
fn corruption_is_detected() {
    let data = text(4000);
    let stream = compress(&data);
    let parts = layout(&stream);
    let targets = [
        ("header", 8),
        ("block header", 14),
        ("compressed data", parts.data + 20),
        ("compressed data end", parts.check - 5),
        ("stored CRC32", parts.check + 1),
        ("index", parts.index + 2),
        ("index CRC32", parts.footer - 1),
        ("footer", parts.footer + 5),
        ("footer magic", stream.len() - 1),
    ];
    for (what, offset) in targets {
        for mask in [0x01, 0x40, 0xFF] {
            let mut broken = stream.clone();
            broken[offset] ^= mask;
            let result = decode_once(&broken, data.len() + 1);
            assert!(
                result.is_err(),
                "{what} at {offset} ^ {mask:#x}: {result:?}"
            );
            let result = decode_steps(&broken, 3, 5);
            assert!(result.is_err(), "{what}, stepped");
        }
    }

    let mut broken = stream.clone();
    broken[parts.check] ^= 0x10;
    let stored = u32::from_le_bytes(broken[parts.check..parts.check + 4].try_into().unwrap());
    assert_eq!(
        decode_once(&broken, data.len()).unwrap_err(),
        Error::DataCrc {
            stored,
            computed: !jamcrc(&data)
        }
    );
}

#[test]
fn errors_are_sticky() {
    let mut stream = compress(b"hello");
    stream[0] = 0;
    let mut workspace = Workspace::new(DICT_SIZE_MAX);
    let mut decoder = workspace.decoder();
    let mut output = [0u8; 8];
    assert_eq!(
        decoder.decode(&stream, &mut output),
        Err(Error::StreamMagic)
    );
    assert_eq!(
        decoder.decode(&stream, &mut output),
        Err(Error::StreamMagic)
    );
    assert_eq!(Error::StreamMagic.to_string(), "xz: bad stream magic");
}

/// Mutated streams never panic, and any that still decode to the end decode correctly
/// (everything is covered by a CRC32, so that only happens for harmless changes).
fn assert_robust(broken: &[u8], data: &[u8], in_step: usize, out_step: usize) {
    if let Ok(Some(output)) = decode_steps(broken, in_step, out_step) {
        assert_eq!(output, data);
    }
}

#[test]
fn every_flipped_byte_is_harmless() {
    let data = text(600);
    let stream = compress(&data);
    for offset in 0..stream.len() {
        for mask in [0x01, 0x80, 0xFF] {
            let mut broken = stream.clone();
            broken[offset] ^= mask;
            assert_robust(&broken, &data, usize::MAX, data.len() + 16);
            assert_robust(&broken, &data, 7, 13);
        }
    }
}

#[test]
fn random_corruption_is_harmless() {
    let data = [text(2000), noise(5, 300), text(500)].concat();
    let stream = compress(&data);
    let noise = noise(0xC0FF_EE11, 4 * 3000 * 8);
    for case in noise.chunks_exact(8).take(3000) {
        let mut broken = stream.clone();
        let count = 1 + usize::from(case[0] % 4);
        for pair in case[1..1 + 2 * count.min(3)].chunks_exact(2) {
            let offset = (usize::from(pair[0]) << 8 | usize::from(pair[1])) % broken.len();
            broken[offset] = case[7] ^ pair[0];
        }
        let in_step = 1 + usize::from(case[0] >> 4);
        assert_robust(&broken, &data, in_step, 1 + usize::from(case[7] % 64));
        assert_robust(&broken, &data, usize::MAX, data.len() + 1);
    }
}

#[test]
fn garbage_never_panics() {
    for seed in 1..200 {
        let mut garbage = noise(seed, 400);
        // A valid stream header, so that the decoder gets to blocks and LZMA2 data.
        garbage[..12].copy_from_slice(&compress(b"")[..12]);
        garbage[12] = 0x02;
        let _ = decode_steps(&garbage, 5, 9);
    }
}

// Hand-built streams for the errors liblzma never produces.

fn crc32(data: &[u8]) -> u32 {
    !jamcrc(data)
}

fn varint(mut value: u64) -> Vec<u8> {
    let mut out = Vec::new();
    while value >= 0x80 {
        out.push(value as u8 | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
    out
}

/// A block header with these fields (flags, sizes, filter flags), padded, with its CRC32.
fn block_header(fields: &[u8]) -> Vec<u8> {
    let len = (1 + fields.len() + 4).div_ceil(4) * 4;
    let mut header = vec![(len / 4 - 1) as u8];
    header.extend_from_slice(fields);
    header.resize(len - 4, 0);
    header.extend_from_slice(&crc32(&header).to_le_bytes());
    header
}

/// Block flags 0 and LZMA2 with a 32 KiB dictionary.
const PLAIN_FIELDS: [u8; 4] = [0x00, 0x21, 0x01, 0x06];

struct BlockParts<'a> {
    header: Vec<u8>,
    data: &'a [u8],
    uncompressed: &'a [u8],
}

/// A CRC32-checked stream of these blocks, with a matching index and footer.
fn build_stream(blocks: &[BlockParts<'_>]) -> Vec<u8> {
    let flags = [0x00, 0x01];
    let mut stream = vec![0xFD, b'7', b'z', b'X', b'Z', 0x00, flags[0], flags[1]];
    stream.extend_from_slice(&crc32(&flags).to_le_bytes());
    let mut index = vec![0x00];
    index.extend(varint(blocks.len() as u64));
    for block in blocks {
        let start = stream.len();
        stream.extend_from_slice(&block.header);
        stream.extend_from_slice(block.data);
        while !(stream.len() - start).is_multiple_of(4) {
            stream.push(0);
        }
        stream.extend_from_slice(&crc32(block.uncompressed).to_le_bytes());
        index.extend(varint((block.header.len() + block.data.len() + 4) as u64));
        index.extend(varint(block.uncompressed.len() as u64));
    }
    while !index.len().is_multiple_of(4) {
        index.push(0);
    }
    index.extend_from_slice(&crc32(&index).to_le_bytes());
    let mut footer = ((index.len() / 4 - 1) as u32).to_le_bytes().to_vec();
    footer.extend_from_slice(&flags);
    stream.extend_from_slice(&index);
    stream.extend_from_slice(&crc32(&footer).to_le_bytes());
    stream.extend_from_slice(&footer);
    stream.extend_from_slice(b"YZ");
    stream
}

fn one_block(data: &[u8], uncompressed: &[u8]) -> Vec<u8> {
    build_stream(&[BlockParts {
        header: block_header(&PLAIN_FIELDS),
        data,
        uncompressed,
    }])
}

/// A stored LZMA2 chunk, with or without dictionary reset.
fn stored_chunk(reset: bool, data: &[u8]) -> Vec<u8> {
    let size = (data.len() - 1) as u16;
    let mut chunk = vec![if reset { 0x01 } else { 0x02 }];
    chunk.extend_from_slice(&size.to_be_bytes());
    chunk.extend_from_slice(data);
    chunk
}

#[test]
fn stored_chunks_and_dictionary_resets() {
    let lzma2 = [
        stored_chunk(true, b"abc"),
        stored_chunk(false, b"def"),
        stored_chunk(true, &text(70_000)[..65_536]),
        vec![0x00],
    ]
    .concat();
    let expected = [&b"abcdef"[..], &text(70_000)[..65_536]].concat();
    let stream = one_block(&lzma2, &expected);
    assert_eq!(liblzma_decompress(&stream), expected);
    assert_round_trip(&stream, &expected);
}

#[test]
fn sizes_in_the_block_header() {
    let data = text(5000);
    let stream = compress(&data);
    let parts = layout(&stream);
    let compressed = &stream[parts.data..parts.check];
    // liblzma pads the data; the index says where it ends.
    let unpadded = {
        let mut value = 0u64;
        for (i, &byte) in stream[parts.index + 2..].iter().enumerate() {
            value |= u64::from(byte & 0x7F) << (7 * i);
            if byte & 0x80 == 0 {
                break;
            }
        }
        value
    };
    let compressed = &compressed[..unpadded as usize - (parts.data - 12) - 4];
    let with_sizes = |compressed_size: u64, uncompressed_size: u64| {
        let mut fields = vec![0xC0];
        fields.extend(varint(compressed_size));
        fields.extend(varint(uncompressed_size));
        fields.extend_from_slice(&PLAIN_FIELDS[1..]);
        build_stream(&[BlockParts {
            header: block_header(&fields),
            data: compressed,
            uncompressed: &data,
        }])
    };
    let (c, u) = (compressed.len() as u64, data.len() as u64);
    let exact = with_sizes(c, u);
    assert_eq!(liblzma_decompress(&exact), data);
    assert_round_trip(&exact, &data);
    assert_eq!(
        decode_once(&with_sizes(c + 1, u), data.len()).unwrap_err(),
        Error::CompressedSize {
            declared: c + 1,
            actual: c
        }
    );
    assert_eq!(
        decode_once(&with_sizes(c - 1, u), data.len()).unwrap_err(),
        Error::CompressedSize {
            declared: c - 1,
            actual: c
        }
    );
    assert_eq!(
        decode_once(&with_sizes(c, u + 1), data.len()).unwrap_err(),
        Error::UncompressedSize {
            declared: u + 1,
            actual: u
        }
    );
    assert_eq!(
        decode_once(&with_sizes(c, u - 1), data.len()).unwrap_err(),
        Error::UncompressedSize {
            declared: u - 1,
            actual: u
        }
    );
}

/// Range encoder, for LZMA data liblzma would not write.
struct RangeEncoder {
    low: u64,
    range: u32,
    cache: u8,
    cache_size: u32,
    out: Vec<u8>,
}

impl RangeEncoder {
    fn new() -> Self {
        RangeEncoder {
            low: 0,
            range: u32::MAX,
            cache: 0,
            cache_size: 1,
            out: Vec::new(),
        }
    }

    /// Encodes `bit` with a fresh probability of one half.
    fn bit(&mut self, bit: u32) {
        let bound = (self.range >> 11) * 1024;
        if bit == 0 {
            self.range = bound;
        } else {
            self.low += u64::from(bound);
            self.range -= bound;
        }
        while self.range < 1 << 24 {
            self.range <<= 8;
            self.shift_low();
        }
    }

    fn shift_low(&mut self) {
        if self.low < 0xFF00_0000 || self.low >= 1 << 32 {
            let carry = (self.low >> 32) as u8;
            let mut byte = self.cache;
            loop {
                self.out.push(byte.wrapping_add(carry));
                byte = 0xFF;
                self.cache_size -= 1;
                if self.cache_size == 0 {
                    break;
                }
            }
            self.cache = (self.low >> 24) as u8;
        }
        self.cache_size += 1;
        self.low = (self.low & 0x00FF_FFFF) << 8;
    }

    fn finish(mut self) -> Vec<u8> {
        for _ in 0..5 {
            self.shift_low();
        }
        self.out
    }
}

/// An LZMA chunk with dictionary reset and properties lc=3 lp=0 pb=2.
fn lzma_chunk(uncompressed: usize, props: u8, data: &[u8]) -> Vec<u8> {
    let mut chunk = vec![0xE0 | ((uncompressed - 1) >> 16) as u8];
    chunk.extend_from_slice(&((uncompressed - 1) as u16).to_be_bytes());
    chunk.extend_from_slice(&((data.len() - 1) as u16).to_be_bytes());
    chunk.push(props);
    chunk.extend_from_slice(data);
    chunk
}

#[test]
fn lzma2_errors() {
    let decode = |lzma2: &[u8]| decode_once(&one_block(lzma2, b"x"), 100).unwrap_err();
    let first = stored_chunk(true, b"x");
    assert_eq!(
        decode(&[stored_chunk(false, b"x"), vec![0x00]].concat()),
        Error::MissingDictionaryReset { control: 0x02 }
    );
    assert_eq!(
        decode(&[first.clone(), vec![0x03]].concat()),
        Error::Lzma2Control { control: 0x03 }
    );
    assert_eq!(
        decode(&[first.clone(), vec![0x80, 0, 0, 0, 5]].concat()),
        Error::MissingProperties { control: 0x80 }
    );
    // lc = 4, lp = 1: lc + lp > 4.
    assert_eq!(
        decode(&lzma_chunk(1, 13, &[0; 5])),
        Error::LzmaProperties { props: 13 }
    );
    // lc = 3, lp = 1 (LZMA2 allows it) and lc = 4, lp = 0: lc + lp = 4, which W800 images
    // never use and the decoder's probabilities have no room for.
    for props in [12, 4] {
        assert_eq!(
            decode(&lzma_chunk(1, props, &[0; 5])),
            Error::LzmaProperties { props }
        );
    }
    assert_eq!(
        decode(&lzma_chunk(1, 225, &[0; 5])),
        Error::LzmaProperties { props: 225 }
    );
    assert_eq!(
        decode(&lzma_chunk(1, 0x5D, &[1, 0, 0, 0, 0])),
        Error::RangeCoderInit { byte: 1 }
    );
    assert_eq!(
        decode(&lzma_chunk(1, 0x5D, &[0, 0, 0, 0])),
        Error::ChunkOverrun
    );

    // A "short rep" (is_match 1, is_rep 1, is_rep0 0, is_rep0_long 0) as the first symbol
    // repeats a byte that does not exist.
    let mut rc = RangeEncoder::new();
    for bit in [1, 1, 0, 0] {
        rc.bit(bit);
    }
    assert_eq!(
        decode(&[lzma_chunk(1, 0x5D, &rc.finish()), vec![0x00]].concat()),
        Error::MatchDistance {
            distance: 0,
            available: 0
        }
    );

    // A literal 0x00 (is_match 0, then eight 0 bits) with a spare byte after the range coder's
    // flush, then one byte that is not there.
    let literal = || {
        let mut rc = RangeEncoder::new();
        for _ in 0..9 {
            rc.bit(0);
        }
        rc.finish()
    };
    let decoded = |lzma2: &[u8], expected: &[u8]| {
        decode_once(&one_block(lzma2, expected), 100).map(|(output, _)| output)
    };
    assert_eq!(
        decoded(
            &[lzma_chunk(1, 0x5D, &literal()), vec![0x00]].concat(),
            &[0]
        ),
        Ok(vec![0])
    );
    assert_eq!(
        decoded(
            &[
                lzma_chunk(1, 0x5D, &[literal(), vec![0]].concat()),
                vec![0x00]
            ]
            .concat(),
            &[0]
        ),
        Err(Error::ChunkEnd)
    );
    assert_eq!(
        decoded(
            &[lzma_chunk(3, 0x5D, &literal()), vec![0x00]].concat(),
            &[0]
        ),
        Err(Error::ChunkOverrun)
    );
}

#[test]
fn container_errors() {
    let lzma2 = [stored_chunk(true, b"x"), vec![0x00]].concat();
    let good = one_block(&lzma2, b"x");
    assert_eq!(decode_once(&good, 10).unwrap().0, b"x");

    let mut stream = good.clone();
    stream[7] = 0x11;
    let crc = crc32(&stream[6..8]);
    stream[8..12].copy_from_slice(&crc.to_le_bytes());
    assert_eq!(
        decode_once(&stream, 10).unwrap_err(),
        Error::StreamFlags {
            flags: [0x00, 0x11]
        }
    );

    let with_header = |fields: &[u8]| {
        build_stream(&[BlockParts {
            header: block_header(fields),
            data: &lzma2,
            uncompressed: b"x",
        }])
    };
    let malformed = |reason| Error::BlockHeader { reason };
    assert_eq!(
        decode_once(&with_header(&[0x04, 0x21, 0x01, 0x06]), 10).unwrap_err(),
        malformed("reserved flag bits set")
    );
    assert_eq!(
        decode_once(
            &with_header(&[0x01, 0x21, 0x01, 0x06, 0x21, 0x01, 0x06]),
            10
        )
        .unwrap_err(),
        malformed("LZMA2 is not the last filter")
    );
    assert_eq!(
        decode_once(&with_header(&[0x00, 0x21, 0x02, 0x06, 0x00]), 10).unwrap_err(),
        malformed("LZMA2 properties are not one byte")
    );
    assert_eq!(
        decode_once(
            &with_header(&[0x00, 0x21, 0x01, 0x06, 0x00, 0x00, 0x00, 0x01]),
            10
        )
        .unwrap_err(),
        malformed("non-zero header padding")
    );
    assert_eq!(
        decode_once(&with_header(&[0x00, 0x03, 0x01, 0x00]), 10).unwrap_err(),
        Error::UnsupportedFilter { id: 0x03 }
    );
    assert_eq!(
        decode_once(&with_header(&[0x00, 0xA1, 0x00, 0x01, 0x06]), 10).unwrap_err(),
        malformed("invalid integer")
    );
    assert_eq!(
        decode_once(&with_header(&[0x00, 0x21, 0x01, 41]), 10).unwrap_err(),
        Error::DictionaryProperty { props: 41 }
    );

    // The first byte of the block header's CRC32.
    let mut stream = good.clone();
    stream[12 + 8] ^= 0x01;
    assert!(matches!(
        decode_once(&stream, 10),
        Err(Error::BlockHeaderCrc { .. })
    ));
}

/// Number of blocks, from the index of a stream.
fn block_count(stream: &[u8]) -> usize {
    let parts = layout(stream);
    usize::from(stream[parts.index + 1])
}

/// The LZMA2 control bytes of the first block of a stream.
fn chunk_controls(stream: &[u8]) -> Vec<u8> {
    let mut pos = layout(stream).data;
    let mut controls = Vec::new();
    loop {
        let control = stream[pos];
        if control == 0x00 {
            return controls;
        }
        controls.push(control);
        let size = |at: usize| usize::from(u16::from_be_bytes([stream[at], stream[at + 1]])) + 1;
        pos += if control < 0x80 {
            3 + size(pos + 1)
        } else {
            5 + usize::from(control >= 0xC0) + size(pos + 3)
        };
    }
}

#[test]
fn stream_info_reports_check_and_dictionary() {
    let data = text(5000);
    let w800 = compress(&data);
    let info = stream_info(&w800).unwrap();
    assert_eq!(
        info,
        StreamInfo {
            check: CHECK_CRC32,
            dict_size: 32 * 1024
        }
    );
    assert_eq!(info.check_name(), Some("CRC32"));
    assert_eq!(
        info.to_string(),
        "check CRC32 (0x01), LZMA2 dictionary 32768 bytes"
    );

    // Check types the decoder refuses are still reported.
    let crc64 = compress_parts(&[&data], 64 << 10, LzmaCheck::Crc64);
    let info = stream_info(&crc64).unwrap();
    assert_eq!(
        info,
        StreamInfo {
            check: CHECK_CRC64,
            dict_size: 64 * 1024
        }
    );
    assert_eq!(
        info.to_string(),
        "check CRC64 (0x04), LZMA2 dictionary 65536 bytes"
    );
    assert_eq!(
        decode_once(&crc64, data.len()).unwrap_err(),
        Error::UnsupportedCheck { check: CHECK_CRC64 }
    );

    let none = compress_parts(&[&data], 64 << 10, LzmaCheck::None);
    assert_eq!(
        stream_info(&none),
        Ok(StreamInfo {
            check: CHECK_NONE,
            dict_size: 64 * 1024
        })
    );
    let sha256 = compress_parts(&[&data], 6 << 10, LzmaCheck::Sha256);
    let info = stream_info(&sha256).unwrap();
    assert_eq!((info.check, info.dict_size), (CHECK_SHA256, 6 << 10));
    assert_eq!(info.check_name(), Some("SHA-256"));

    // Only the first block counts, and only the headers are read.
    let blocks = compress_parts(&[&data[..100], &data[100..]], 1 << 15, LzmaCheck::Crc32);
    assert_eq!(block_count(&blocks), 2);
    let first_header_end = layout(&blocks).data;
    assert_eq!(
        stream_info(&blocks[..first_header_end]).unwrap().dict_size,
        1 << 15
    );

    // Sizes stored in the block header are skipped; the largest dictionary property.
    let sized = [0xC0, 0x05, 0x01, 0x21, 0x01, 40];
    let stream = build_stream(&[BlockParts {
        header: block_header(&sized),
        data: &[stored_chunk(true, b"x"), vec![0x00]].concat(),
        uncompressed: b"x",
    }]);
    assert_eq!(stream_info(&stream).unwrap().dict_size, u32::MAX);

    let reserved = StreamInfo {
        check: 0x02,
        dict_size: 4096,
    };
    assert_eq!(reserved.check_name(), None);
    assert_eq!(
        reserved.to_string(),
        "check unknown (0x02), LZMA2 dictionary 4096 bytes"
    );
}

#[test]
fn stream_info_refuses_truncated_and_broken_headers() {
    let stream = compress(&text(2000));
    let headers_end = layout(&stream).data;
    for cut in 0..headers_end {
        assert_eq!(
            stream_info(&stream[..cut]),
            Err(Error::Truncated),
            "cut at {cut}"
        );
    }
    assert!(stream_info(&stream[..headers_end]).is_ok());

    assert_eq!(stream_info(&[0xFF; 64]), Err(Error::StreamMagic));
    let mut flipped = stream.clone();
    flipped[7] ^= 0x01;
    assert!(matches!(
        stream_info(&flipped),
        Err(Error::StreamHeaderCrc { .. })
    ));
    let mut flipped = stream.clone();
    flipped[headers_end - 1] ^= 0x01;
    assert!(matches!(
        stream_info(&flipped),
        Err(Error::BlockHeaderCrc { .. })
    ));
    let mut reserved = stream.clone();
    reserved[7] = 0x11;
    let crc = crc32(&reserved[6..8]);
    reserved[8..12].copy_from_slice(&crc.to_le_bytes());
    assert_eq!(
        stream_info(&reserved),
        Err(Error::StreamFlags {
            flags: [0x00, 0x11]
        })
    );

    assert_eq!(stream_info(&build_stream(&[])), Err(Error::NoBlock));
    let with_header = |fields: &[u8]| {
        build_stream(&[BlockParts {
            header: block_header(fields),
            data: &[stored_chunk(true, b"x"), vec![0x00]].concat(),
            uncompressed: b"x",
        }])
    };
    assert_eq!(
        stream_info(&with_header(&[0x00, 0x21, 0x01, 41])),
        Err(Error::DictionaryProperty { props: 41 })
    );
    assert_eq!(
        stream_info(&with_header(&[0x00, 0x03, 0x01, 0x00])),
        Err(Error::UnsupportedFilter { id: 0x03 })
    );
    assert_eq!(
        stream_info(&with_header(&[0x04, 0x21, 0x01, 0x06])),
        Err(Error::BlockHeader {
            reason: "reserved flag bits set"
        })
    );

    for seed in 1..300 {
        let mut garbage = noise(seed, 64);
        let _ = stream_info(&garbage);
        garbage[..12].copy_from_slice(&stream[..12]);
        garbage[12] = (seed % 4) as u8;
        let _ = stream_info(&garbage);
    }
}
