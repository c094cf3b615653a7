//! The firmware's xz decoder (`bsp::format::xz`, what the installer unpacks OTA images with)
//! against liblzma on the same stream, in the same run: speed and memory.
//!
//!   cargo bench -p w800-tool --bench xz [-- /absolute/path/APP.bin]
//!
//! (cargo runs benchmarks in the package's directory, hence an absolute path.)
//! The input is an app binary (by default `bsp::sample::app_binary`: code-like runs and noise),
//! compressed with the SDK's settings (LZMA2, preset 9e, 32 KiB dictionary, CRC32). Both
//! decoders get the installer's chunks: 512 bytes of input, 256 bytes of output per call.
//! Each is timed over several rounds and the fastest round counts.

use std::time::{Duration, Instant};

use bsp::format::xz;
use liblzma::stream::{Action, Status, Stream};

const ROUNDS: usize = 7;
const IN_CHUNK: usize = 512;
const OUT_CHUNK: usize = 256;

/// Decodes `stream` with our decoder; returns the output length.
fn ours(stream: &[u8], dict: &mut [u8], probs: &mut [u16]) -> usize {
    let mut decoder = xz::Decoder::new(dict, probs).expect("workspace");
    let mut out = [0u8; OUT_CHUNK];
    let (mut at, mut total) = (0, 0);
    loop {
        let input = &stream[at..(at + IN_CHUNK).min(stream.len())];
        let progress = decoder.decode(input, &mut out).expect("our decoder");
        at += progress.consumed;
        total += progress.produced;
        if progress.end {
            return total;
        }
    }
}

/// Decodes `stream` with liblzma, allowed at most `memory_limit` bytes; the output length,
/// or the error (liblzma's `MemLimit` when the limit is too low).
fn liblzma(stream: &[u8], memory_limit: u64) -> Result<usize, liblzma::stream::Error> {
    let mut decoder = Stream::new_stream_decoder(memory_limit, 0)?;
    let mut out = [0u8; OUT_CHUNK];
    let mut at = 0;
    loop {
        let input = &stream[at..(at + IN_CHUNK).min(stream.len())];
        let before = decoder.total_in();
        let status = decoder.process(input, &mut out, Action::Run)?;
        at += (decoder.total_in() - before) as usize;
        if status == Status::StreamEnd {
            return Ok(decoder.total_out() as usize);
        }
    }
}

/// The least memory liblzma decodes `stream` with, by its own count (it refuses to start a
/// block whose needs exceed the limit): a bisection over the limit.
fn liblzma_memory(stream: &[u8]) -> u64 {
    let (mut too_low, mut enough) = (0u64, 1u64 << 30);
    while enough - too_low > 1 {
        let middle = too_low + (enough - too_low) / 2;
        if liblzma(stream, middle).is_ok() {
            enough = middle;
        } else {
            too_low = middle;
        }
    }
    enough
}

fn fastest(mut round: impl FnMut()) -> Duration {
    (0..ROUNDS)
        .map(|_| {
            let started = Instant::now();
            round();
            started.elapsed()
        })
        .min()
        .unwrap_or_default()
}

fn mb_per_s(bytes: usize, time: Duration) -> f64 {
    bytes as f64 / time.as_secs_f64() / 1e6
}

fn main() {
    // `cargo bench` passes `--bench`; the first other argument names an app binary.
    let named = std::env::args().skip(1).find(|arg| !arg.starts_with("--"));
    let (what, app) = match named {
        Some(path) => (
            path.clone(),
            std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}")),
        ),
        None => (
            "a synthetic app".to_owned(),
            bsp::sample::app_binary(1, 480 * 1024),
        ),
    };
    let stream = w800_tool::xz::compress(&app).expect("compress");

    let mut dict = vec![0u8; xz::DICT_SIZE_MAX];
    let mut probs = vec![0u16; xz::PROBS_LEN];
    assert_eq!(ours(&stream, &mut dict, &mut probs), app.len());
    assert_eq!(liblzma(&stream, u64::MAX).expect("liblzma"), app.len());
    let liblzma_memory = liblzma_memory(&stream);

    let ours_time = fastest(|| {
        ours(&stream, &mut dict, &mut probs);
    });
    let liblzma_time = fastest(|| {
        let _ = liblzma(&stream, u64::MAX);
    });
    let ours_memory = xz::DICT_SIZE_MAX
        + xz::PROBS_LEN * std::mem::size_of::<u16>()
        + std::mem::size_of::<xz::Decoder<'static>>();

    println!(
        "xz decode of {what}: {} bytes from a {}-byte stream, {IN_CHUNK}-byte input and \
         {OUT_CHUNK}-byte output chunks, fastest of {ROUNDS} rounds",
        app.len(),
        stream.len()
    );
    let ours_speed = mb_per_s(app.len(), ours_time);
    let liblzma_speed = mb_per_s(app.len(), liblzma_time);
    println!(
        "  ours     {ours_speed:6.1} MB/s  {ours_memory:>9} bytes (fixed, lent by the caller)"
    );
    println!(
        "  liblzma  {liblzma_speed:6.1} MB/s  {liblzma_memory:>9} bytes (its own count, allocated)"
    );
    println!(
        "  ours / liblzma: speed {:.2}x, memory {:.2}x",
        ours_speed / liblzma_speed,
        ours_memory as f64 / liblzma_memory as f64
    );
}
