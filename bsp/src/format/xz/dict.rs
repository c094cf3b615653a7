//! The LZ77 sliding window: a ring buffer over the caller's dictionary memory.
//!
//! Every byte the LZMA2 decoder produces goes through here: literals and match copies are written
//! at `pos`, and [`Dictionary::flush`] later copies the bytes between `start` and `pos` to the
//! caller's output. Decoding writes at most up to `limit`, which the LZMA2 layer sets so that a
//! flush always fits the output and never crosses the end of a chunk.

use super::Error;

/// Ring buffer state over borrowed memory.
pub(super) struct Dictionary<'w> {
    buf: &'w mut [u8],
    /// Ring size of the current block: its declared LZMA2 dictionary size, at most `buf.len()`.
    /// Declared sizes are multiples of 2 KiB, so `pos` modulo 16 is the uncompressed position
    /// modulo 16, which LZMA's position-dependent contexts need.
    size: usize,
    /// Where the next byte goes; `pos <= limit <= size`.
    pos: usize,
    /// Number of bytes written since the last dictionary reset, capped at `size`: the largest
    /// valid match distance plus one.
    full: usize,
    /// First byte not copied to the output yet; `start <= pos`.
    start: usize,
    /// Decoding stops writing here.
    limit: usize,
}

impl<'w> Dictionary<'w> {
    pub(super) fn new(buf: &'w mut [u8]) -> Self {
        Dictionary {
            buf,
            size: 0,
            pos: 0,
            full: 0,
            start: 0,
            limit: 0,
        }
    }

    /// Largest dictionary this buffer can hold.
    pub(super) fn capacity(&self) -> usize {
        self.buf.len()
    }

    /// Starts a block whose dictionary is `size` bytes (the caller made sure it fits).
    pub(super) fn start_block(&mut self, size: usize) {
        self.size = size.min(self.buf.len());
        self.reset();
    }

    /// LZMA2 dictionary reset: forgets the history. Only called when everything is flushed.
    pub(super) fn reset(&mut self) {
        self.pos = 0;
        self.start = 0;
        self.full = 0;
        self.limit = 0;
    }

    /// Allows writing at most `max` more bytes before the next flush.
    pub(super) fn set_limit(&mut self, max: usize) {
        self.limit = self.pos + (self.size - self.pos).min(max);
    }

    pub(super) fn has_room(&self) -> bool {
        self.pos < self.limit
    }

    /// Uncompressed position modulo the ring size (see `size`).
    pub(super) fn position(&self) -> usize {
        self.pos
    }

    /// Appends a literal. Callers check [`Dictionary::has_room`] first.
    pub(super) fn put(&mut self, byte: u8) {
        if let Some(slot) = self.buf.get_mut(self.pos) {
            *slot = byte;
            self.pos += 1;
            self.full = self.full.max(self.pos);
        }
    }

    /// The byte `distance + 1` positions back (LZMA distances are zero-based), or 0 with no
    /// history.
    pub(super) fn get(&self, distance: usize) -> u8 {
        self.source(distance)
            .and_then(|index| self.buf.get(index).copied())
            .unwrap_or(0)
    }

    /// Index of the byte `distance + 1` positions back, if that byte exists.
    fn source(&self, distance: usize) -> Option<usize> {
        if distance >= self.full {
            return None;
        }
        Some(if distance < self.pos {
            self.pos - distance - 1
        } else {
            // Wraps around: `distance < full <= size`, so this is at least `pos`.
            self.pos + self.size - distance - 1
        })
    }

    /// Copies up to `*len` bytes of a match at `distance`, as many as the limit allows, and
    /// leaves the rest in `*len` for the next call.
    pub(super) fn copy_match(&mut self, distance: u32, len: &mut usize) -> Result<(), Error> {
        let available = self.full;
        let Some(mut source) = usize::try_from(distance)
            .ok()
            .and_then(|distance| self.source(distance))
        else {
            return Err(Error::MatchDistance {
                distance,
                available: u32::try_from(available).unwrap_or(u32::MAX),
            });
        };
        let count = (*len).min(self.limit - self.pos);
        *len -= count;
        let end = self.pos + count;
        if source + count <= self.pos || (source >= end && source + count <= self.size) {
            // The source lies entirely before or after the destination: one block copy.
            self.buf.copy_within(source..source + count, self.pos);
            self.pos = end;
        } else {
            // Overlapping (a run repeating its own output) or wrapping around the ring end: byte
            // by byte, so that freshly written bytes are read back.
            while self.pos < end {
                let byte = self.buf.get(source).copied().unwrap_or(0);
                self.put(byte);
                source += 1;
                if source == self.size {
                    source = 0;
                }
            }
        }
        self.full = self.full.max(self.pos);
        Ok(())
    }

    /// Copies bytes of an uncompressed chunk from `input`; returns how many were taken.
    pub(super) fn copy_uncompressed(&mut self, input: &[u8]) -> usize {
        let count = input.len().min(self.limit - self.pos);
        let end = self.pos + count;
        if let (Some(target), Some(source)) = (self.buf.get_mut(self.pos..end), input.get(..count))
        {
            target.copy_from_slice(source);
            self.pos = end;
            self.full = self.full.max(self.pos);
            return count;
        }
        0
    }

    /// Copies the bytes written since the last flush to `output` (as many as fit) and returns
    /// their number; wraps the ring once its end has been flushed.
    pub(super) fn flush(&mut self, output: &mut [u8]) -> usize {
        let count = (self.pos - self.start).min(output.len());
        let end = self.start + count;
        let (Some(target), Some(source)) = (output.get_mut(..count), self.buf.get(self.start..end))
        else {
            return 0;
        };
        target.copy_from_slice(source);
        self.start = end;
        if self.start == self.size {
            self.start = 0;
            self.pos = 0;
            self.limit = 0;
        }
        count
    }
}
