//! The xz decoder (`bsp::format::xz`), as the installer and the platform layer's dry run feed
//! it an `_ota.img` body.
//!
//! Input: one split byte, then the stream. The stream is decoded twice: in one piece, and cut
//! into pieces of (bits 0-3 + 1) input bytes and (bits 4-7 + 1) output bytes.
//!
//! Contract: the decoder never panics and makes progress whenever it has input and output
//! room; a stream that one decoding takes to its end, the other takes to the same end with
//! the same output, and the decoding in pieces never fails where the one in one piece waits
//! for input (the other way round is allowed: with all of a truncated chunk at hand the
//! decoder can see that it is corrupt, a byte at a time it waits for the chunk's last bytes);
//! and it agrees with liblzma: a stream the
//! decoder decodes to its end, liblzma decodes to the same bytes, and a stream that liblzma
//! decodes and whose headers the decoder supports (check None or CRC32, a dictionary of at
//! most 32 KiB) fails in the decoder only for a feature it leaves out, never as corrupt.

use bsp::format::xz::{self, Decoder, Error, CHECK_CRC32, CHECK_NONE, DICT_SIZE_MAX, PROBS_LEN};
use liblzma::stream::{Action, Status, Stream};
use std::cell::RefCell;

/// Output beyond this is not compared (a few KB of LZMA can ask for gigabytes).
const OUTPUT_CAP: usize = 1 << 20;
/// liblzma may allocate this much for a stream's dictionary.
const LIBLZMA_MEMLIMIT: u64 = 64 << 20;

thread_local! {
    /// The decoder's dictionary and probabilities, lent to it for each decoding as the
    /// firmware lends its heap buffers.
    static WORKSPACE: RefCell<(Vec<u8>, Vec<u16>)> =
        RefCell::new((vec![0; DICT_SIZE_MAX], vec![0; PROBS_LEN]));
}

/// How a decoding ended.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    End {
        consumed: usize,
        output: Vec<u8>,
    },
    Failed(Error),
    NeedsInput,
    /// Stopped at [`OUTPUT_CAP`]: nothing to compare.
    Capped,
}

pub fn run(data: &[u8]) -> bool {
    let Some((&split, stream)) = data.split_first() else {
        return false;
    };
    let info = xz::stream_info(stream);
    if let Ok(info) = info {
        let _ = (info.to_string(), info.check_name());
    }
    let whole = decode(stream, usize::MAX, 1 << 16);
    let pieces = decode(
        stream,
        usize::from(split & 0x0F) + 1,
        usize::from(split >> 4) + 1,
    );
    match (&whole, &pieces) {
        (Outcome::Capped, _) | (_, Outcome::Capped) => {}
        (Outcome::End { .. }, _) | (_, Outcome::End { .. }) => {
            assert_eq!(whole, pieces, "in one piece, then in pieces");
        }
        (Outcome::NeedsInput, Outcome::Failed(error)) => {
            panic!("in pieces the decoder fails ({error:?}), in one piece it waits for input")
        }
        (Outcome::Failed(_) | Outcome::NeedsInput, _) => {}
    }
    match &whole {
        Outcome::End { consumed, output } => {
            let reference = liblzma_decode(&stream[..*consumed]);
            assert!(
                reference.as_ref() == Some(output),
                "liblzma decodes the stream the decoder took to {} bytes",
                reference.map_or(-1, |output| output.len() as i64)
            );
            true
        }
        Outcome::Failed(error) => {
            let supported = info.is_ok_and(|info| {
                matches!(info.check, CHECK_NONE | CHECK_CRC32)
                    && usize::try_from(info.dict_size).is_ok_and(|size| size <= DICT_SIZE_MAX)
            });
            if supported && liblzma_decode(stream).is_some() {
                assert!(
                    matches!(
                        error,
                        Error::UnsupportedCheck { .. }
                            | Error::UnsupportedFilter { .. }
                            | Error::DictionaryTooLarge { .. }
                            | Error::LzmaProperties { .. }
                            | Error::BlockHeader { .. }
                    ),
                    "liblzma decodes what the decoder calls corrupt: {error:?}"
                );
            }
            false
        }
        Outcome::NeedsInput | Outcome::Capped => false,
    }
}

/// Decodes `stream` feeding at most `in_step` bytes and `out_step` bytes of room per call.
fn decode(stream: &[u8], in_step: usize, out_step: usize) -> Outcome {
    WORKSPACE.with_borrow_mut(|(dict, probs)| {
        // Whatever the last decoding left there must not matter.
        dict.fill(0xA5);
        probs.fill(0x5A5A);
        let mut decoder = Decoder::new(dict, probs).expect("the workspace is large enough");
        let mut room = vec![0; out_step.min(OUTPUT_CAP)];
        let mut output = Vec::new();
        let mut at = 0usize;
        loop {
            let input = &stream[at..stream.len().min(at.saturating_add(in_step))];
            let progress = match decoder.decode(input, &mut room) {
                Ok(progress) => progress,
                Err(error) => return Outcome::Failed(error),
            };
            assert!(progress.consumed <= input.len() && progress.produced <= room.len());
            at += progress.consumed;
            output.extend_from_slice(&room[..progress.produced]);
            assert_eq!(decoder.total_in(), at as u64);
            assert_eq!(decoder.total_out(), output.len() as u64);
            if progress.end {
                return Outcome::End {
                    consumed: at,
                    output,
                };
            }
            if output.len() >= OUTPUT_CAP {
                return Outcome::Capped;
            }
            if progress.consumed == 0 && progress.produced == 0 {
                assert!(input.is_empty(), "no progress with input and output room");
                return Outcome::NeedsInput;
            }
        }
    })
}

/// liblzma's decoding of one whole stream, `None` if it fails, needs more input, or its
/// output passes [`OUTPUT_CAP`].
fn liblzma_decode(stream: &[u8]) -> Option<Vec<u8>> {
    let mut decoder = Stream::new_stream_decoder(LIBLZMA_MEMLIMIT, 0).ok()?;
    let mut output = Vec::with_capacity(OUTPUT_CAP);
    loop {
        let consumed = usize::try_from(decoder.total_in()).ok()?;
        let produced = output.len();
        let status = decoder
            .process_vec(stream.get(consumed..)?, &mut output, Action::Finish)
            .ok()?;
        if status == Status::StreamEnd {
            return Some(output);
        }
        let stuck = decoder.total_in() == consumed as u64 && output.len() == produced;
        if stuck || output.len() == output.capacity() {
            return None;
        }
    }
}
