//! What the protocol clients need from the system: a connected byte stream, a millisecond clock,
//! and random numbers for jitter.
//!
//! The firmware implements these over lwIP sockets, mbedTLS and the kernel's tick; the tests
//! implement them over `std::net` or a script. Nothing here depends on `kernel` or `bsp`.
#![forbid(unsafe_code)]

use core::fmt;

/// A connected byte stream (TCP, or TLS over TCP).
pub trait Transport {
    /// Sends all of `data`.
    fn write_all(&mut self, data: &[u8]) -> Result<(), IoError>;

    /// Receives at most `buf.len()` bytes, waiting at most `timeout_ms`.
    ///
    /// `Ok(0)` means the peer closed; `Err(IoError::Timeout)` that nothing arrived in time.
    fn read(&mut self, buf: &mut [u8], timeout_ms: u32) -> Result<usize, IoError>;
}

impl<T: Transport + ?Sized> Transport for &mut T {
    fn write_all(&mut self, data: &[u8]) -> Result<(), IoError> {
        (**self).write_all(data)
    }

    fn read(&mut self, buf: &mut [u8], timeout_ms: u32) -> Result<usize, IoError> {
        (**self).read(buf, timeout_ms)
    }
}

/// Why a transport operation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IoError {
    /// Nothing arrived (or could be sent) within the time allowed.
    Timeout,
    /// The peer closed the connection.
    Closed,
    /// The peer reset the connection.
    Reset,
    /// The host name did not resolve.
    Dns,
    /// The connection could not be established.
    Connect,
    /// The TLS layer failed with this library error code.
    Tls(i32),
    /// Any other failure, described.
    Other(&'static str),
}

impl fmt::Display for IoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Timeout => f.write_str("timed out"),
            Self::Closed => f.write_str("connection closed by the peer"),
            Self::Reset => f.write_str("connection reset by the peer"),
            Self::Dns => f.write_str("host name did not resolve"),
            Self::Connect => f.write_str("could not connect"),
            Self::Tls(code) => write!(f, "TLS error {code}"),
            Self::Other(what) => f.write_str(what),
        }
    }
}

/// A monotonic millisecond clock, and a way to wait on it.
pub trait Clock {
    /// Milliseconds since an arbitrary origin. The count wraps after 2^32 ms (about 49.7
    /// days), so users compare instants with `wrapping_sub`, never with `<`.
    fn now_ms(&self) -> u32;

    /// Blocks the calling task for `ms` milliseconds.
    fn delay_ms(&self, ms: u32);
}

/// A source of random numbers for retry jitter. It need not be cryptographically strong, but
/// devices should not share a seed, or they retry in lockstep.
pub trait Random {
    /// A uniformly distributed 32-bit value.
    fn next_u32(&mut self) -> u32;
}

impl<F: FnMut() -> u32> Random for F {
    fn next_u32(&mut self) -> u32 {
        self()
    }
}

/// Test doubles: a clock moved by hand and a transport that plays a script.
#[cfg(test)]
pub(crate) mod fake {
    use super::{Clock, IoError, Transport};
    use std::{cell::Cell, collections::VecDeque, rc::Rc, vec::Vec};

    /// A clock shared between a test and its transport; a read that times out advances it by
    /// the time the read would have waited.
    #[derive(Clone, Default)]
    pub(crate) struct FakeClock(Rc<Cell<u32>>);

    impl FakeClock {
        pub(crate) fn advance(&self, ms: u32) {
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

    /// One step of what the peer does, in the order reads observe it.
    pub(crate) enum Input {
        /// These bytes arrive (over several reads when the reader's buffer is smaller).
        Bytes(Vec<u8>),
        /// Nothing arrives before the reader's timeout.
        Silence,
        /// The peer closes; every later read sees the close too.
        Close,
        /// The read fails.
        Fail(IoError),
    }

    /// A transport that answers reads from a script and records every `write_all`.
    pub(crate) struct ScriptedTransport {
        pub(crate) clock: FakeClock,
        pub(crate) inputs: VecDeque<Input>,
        /// One entry per `write_all` call.
        pub(crate) writes: Vec<Vec<u8>>,
        /// When set, every write fails with this error.
        pub(crate) write_error: Option<IoError>,
    }

    impl ScriptedTransport {
        pub(crate) fn new(clock: &FakeClock) -> Self {
            Self {
                clock: clock.clone(),
                inputs: VecDeque::new(),
                writes: Vec::new(),
                write_error: None,
            }
        }

        pub(crate) fn push_bytes(&mut self, bytes: &[u8]) {
            self.inputs.push_back(Input::Bytes(bytes.to_vec()));
        }

        pub(crate) fn push(&mut self, input: Input) {
            self.inputs.push_back(input);
        }
    }

    impl Transport for ScriptedTransport {
        fn write_all(&mut self, data: &[u8]) -> Result<(), IoError> {
            match self.write_error {
                Some(error) => Err(error),
                None => {
                    self.writes.push(data.to_vec());
                    Ok(())
                }
            }
        }

        fn read(&mut self, buf: &mut [u8], timeout_ms: u32) -> Result<usize, IoError> {
            match self.inputs.pop_front() {
                Some(Input::Bytes(mut bytes)) => {
                    let n = bytes.len().min(buf.len());
                    buf[..n].copy_from_slice(&bytes[..n]);
                    if n < bytes.len() {
                        self.inputs.push_front(Input::Bytes(bytes.split_off(n)));
                    }
                    Ok(n)
                }
                Some(Input::Silence) | None => {
                    self.clock.advance(timeout_ms);
                    Err(IoError::Timeout)
                }
                Some(Input::Close) => {
                    self.inputs.push_front(Input::Close);
                    Ok(0)
                }
                Some(Input::Fail(error)) => Err(error),
            }
        }
    }
}
