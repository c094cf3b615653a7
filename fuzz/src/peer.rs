//! The other end of a connection, played from fuzz input, for the MQTT and HTTP clients.
//!
//! Their input starts with two script bytes, then the bytes the peer sends:
//!
//! | byte | bits | meaning |
//! | --- | --- | --- |
//! | 0 | 0-5 | each read returns at most this + 1 bytes |
//! | 0 | 6 | reads are not cut (bits 0-5 ignored) |
//! | 0 | 7 | before every read that would return bytes, one read times out |
//! | 1 | all | the target's own options (buffer sizes, request kind) |
//!
//! When the bytes run out the peer closes the connection, so every session ends.

use core::cell::Cell;
use net::io::{Clock, IoError, Transport};

/// A clock that moves only when the peer makes it: 1 ms for each read, the whole wait for a
/// read that times out.
#[derive(Debug, Default)]
pub struct FakeClock(Cell<u32>);

impl FakeClock {
    fn advance(&self, ms: u32) {
        self.0.set(self.0.get().wrapping_add(ms));
    }
}

impl Clock for FakeClock {
    fn now_ms(&self) -> u32 {
        self.0.get()
    }

    fn delay_ms(&self, ms: u32) {
        self.advance(ms);
    }
}

/// The script bytes and the peer's bytes of an input; `None` if it is shorter than the script.
pub fn split(data: &[u8]) -> Option<(u8, u8, &[u8])> {
    match data {
        [read_script, options, rest @ ..] => Some((*read_script, *options, rest)),
        _ => None,
    }
}

/// The peer: sends its bytes as the script says and keeps what the client writes.
#[derive(Debug)]
pub struct ScriptedPeer<'a> {
    input: &'a [u8],
    max_read: usize,
    stall: bool,
    stalled: bool,
    clock: &'a FakeClock,
    /// Each `write_all` of the client, in order.
    pub written: Vec<Vec<u8>>,
}

impl<'a> ScriptedPeer<'a> {
    pub fn new(read_script: u8, input: &'a [u8], clock: &'a FakeClock) -> Self {
        let max_read = if read_script & 0x40 != 0 {
            usize::MAX
        } else {
            usize::from(read_script & 0x3F) + 1
        };
        ScriptedPeer {
            input,
            max_read,
            stall: read_script & 0x80 != 0,
            stalled: false,
            clock,
            written: Vec::new(),
        }
    }
}

impl Transport for ScriptedPeer<'_> {
    fn write_all(&mut self, data: &[u8]) -> Result<(), IoError> {
        self.written.push(data.to_vec());
        Ok(())
    }

    fn read(&mut self, buf: &mut [u8], timeout_ms: u32) -> Result<usize, IoError> {
        if self.input.is_empty() {
            return Err(IoError::Closed);
        }
        if self.stall && !self.stalled {
            self.stalled = true;
            self.clock.advance(timeout_ms);
            return Err(IoError::Timeout);
        }
        self.stalled = false;
        self.clock.advance(1);
        let count = buf.len().min(self.max_read).min(self.input.len());
        let (sent, rest) = self.input.split_at(count);
        buf[..count].copy_from_slice(sent);
        self.input = rest;
        Ok(count)
    }
}
