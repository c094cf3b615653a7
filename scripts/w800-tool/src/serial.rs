//! The serial line to the W800: a [`Port`] trait the download protocol talks through, and its
//! implementation on a POSIX terminal device ([`TtyPort`]: a USB serial adapter, or a
//! pseudo-terminal in the tests).
//!
//! The line is raw 8N1 without flow control, at 115 200 baud until the ROM is told to switch
//! (docs/flashing.md, "Entering download mode").

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::Duration;

use crate::rom::Baud;

/// What the protocol needs of a serial line.
pub trait Port {
    /// Sends every byte of `bytes`.
    fn send(&mut self, bytes: &[u8]) -> io::Result<()>;
    /// The next byte received, or `None` when none arrives within `timeout`.
    fn receive(&mut self, timeout: Duration) -> io::Result<Option<u8>>;
    /// Waits until everything sent has left.
    fn drain(&mut self) -> io::Result<()>;
    /// Waits until everything sent has left, then switches the line to `baud`.
    fn set_baud(&mut self, baud: Baud) -> io::Result<()>;
    /// Sets the DTR and RTS lines (asserted = true), which reset the chip on the usual boards.
    fn set_lines(&mut self, dtr: bool, rts: bool) -> io::Result<()>;
    /// Drops whatever was received and not read yet.
    fn discard_input(&mut self) -> io::Result<()>;
    /// Lets `duration` pass (the protocol's pauses).
    fn pause(&mut self, duration: Duration);
}

/// A terminal device in raw mode.
#[derive(Debug)]
pub struct TtyPort {
    file: File,
}

/// `Err(last OS error)` when a libc call returned -1.
fn check(result: libc::c_int) -> io::Result<libc::c_int> {
    if result == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(result)
    }
}

fn speed(baud: Baud) -> libc::speed_t {
    match baud {
        Baud::B115200 => libc::B115200,
        Baud::B460800 => libc::B460800,
        Baud::B921600 => libc::B921600,
        Baud::B1000000 => libc::B1000000,
        Baud::B2000000 => libc::B2000000,
    }
}

impl TtyPort {
    /// Opens `path` (without making it the controlling terminal, and without waiting for a
    /// carrier) and puts it into raw 8N1 mode at `baud`, no flow control, reads returning at
    /// once, DTR and RTS released as the SDK's `flash.py` leaves them.
    pub fn open(path: &Path, baud: Baud) -> io::Result<TtyPort> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NOCTTY | libc::O_NONBLOCK)
            .open(path)?;
        let mut port = TtyPort { file };
        let mut attributes = port.attributes()?;
        // SAFETY: `attributes` is a valid, initialised termios structure owned by this frame.
        unsafe { libc::cfmakeraw(&mut attributes) };
        attributes.c_cflag &= !(libc::CSTOPB | libc::PARENB | libc::CRTSCTS | libc::CSIZE);
        attributes.c_cflag |= libc::CS8 | libc::CLOCAL | libc::CREAD;
        attributes.c_iflag &= !(libc::IXON | libc::IXOFF | libc::IXANY);
        attributes.c_cc[libc::VMIN] = 0;
        attributes.c_cc[libc::VTIME] = 0;
        port.apply(attributes, baud)?;
        let fd = port.file.as_raw_fd();
        // SAFETY: F_GETFL on the open descriptor returns its status flags.
        let flags = check(unsafe { libc::fcntl(fd, libc::F_GETFL) })?;
        // Reads wait in poll() and writes may block: the descriptor goes back to blocking.
        // SAFETY: F_SETFL on the open descriptor takes plain status flags.
        check(unsafe { libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_NONBLOCK) })?;
        // Opening raises DTR and RTS, which hold the chip in reset on the usual boards. A port
        // without modem lines (a pseudo-terminal) refuses this; the reset step says so.
        let _ = port.set_lines(false, false);
        Ok(port)
    }

    fn attributes(&self) -> io::Result<libc::termios> {
        // SAFETY: termios is plain old data, for which all-zero bytes are a valid value.
        let mut attributes: libc::termios = unsafe { std::mem::zeroed() };
        // SAFETY: the descriptor is open for the lifetime of `self.file`; `attributes` is a
        // valid termios to write into.
        check(unsafe { libc::tcgetattr(self.file.as_raw_fd(), &mut attributes) })?;
        Ok(attributes)
    }

    fn apply(&self, mut attributes: libc::termios, baud: Baud) -> io::Result<()> {
        // SAFETY: `attributes` is a valid termios; the speed constant is one libc defines.
        check(unsafe { libc::cfsetispeed(&mut attributes, speed(baud)) })?;
        // SAFETY: as above.
        check(unsafe { libc::cfsetospeed(&mut attributes, speed(baud)) })?;
        // SAFETY: the descriptor is open; `attributes` is a valid termios to read from.
        check(unsafe { libc::tcsetattr(self.file.as_raw_fd(), libc::TCSANOW, &attributes) })?;
        Ok(())
    }

    fn modem_lines(&self, request: libc::Ioctl, lines: libc::c_int) -> io::Result<()> {
        if lines == 0 {
            return Ok(());
        }
        // SAFETY: TIOCMBIS/TIOCMBIC read one c_int through the pointer, which is valid for the
        // call.
        check(unsafe { libc::ioctl(self.file.as_raw_fd(), request, &lines) })?;
        Ok(())
    }
}

impl Port for TtyPort {
    fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.file.write_all(bytes)
    }

    fn receive(&mut self, timeout: Duration) -> io::Result<Option<u8>> {
        let mut poll = libc::pollfd {
            fd: self.file.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let millis = libc::c_int::try_from(timeout.as_millis()).unwrap_or(libc::c_int::MAX);
        // SAFETY: one valid pollfd, for the duration of the call.
        let ready = check(unsafe { libc::poll(&mut poll, 1, millis) })?;
        if ready == 0 {
            return Ok(None);
        }
        if poll.revents & (libc::POLLHUP | libc::POLLERR | libc::POLLNVAL) != 0
            && poll.revents & libc::POLLIN == 0
        {
            return Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "the serial line hung up",
            ));
        }
        let mut byte = [0u8; 1];
        match self.file.read(&mut byte)? {
            0 => Ok(None),
            _ => Ok(Some(byte[0])),
        }
    }

    fn drain(&mut self) -> io::Result<()> {
        // SAFETY: the descriptor is open for the lifetime of `self.file`.
        check(unsafe { libc::tcdrain(self.file.as_raw_fd()) })?;
        Ok(())
    }

    fn set_baud(&mut self, baud: Baud) -> io::Result<()> {
        self.drain()?;
        let attributes = self.attributes()?;
        self.apply(attributes, baud)
    }

    fn set_lines(&mut self, dtr: bool, rts: bool) -> io::Result<()> {
        let (mut raise, mut lower) = (0, 0);
        for (line, asserted) in [(libc::TIOCM_DTR, dtr), (libc::TIOCM_RTS, rts)] {
            if asserted {
                raise |= line;
            } else {
                lower |= line;
            }
        }
        self.modem_lines(libc::TIOCMBIS, raise)?;
        self.modem_lines(libc::TIOCMBIC, lower)
    }

    fn discard_input(&mut self) -> io::Result<()> {
        // SAFETY: the descriptor is open for the lifetime of `self.file`.
        check(unsafe { libc::tcflush(self.file.as_raw_fd(), libc::TCIFLUSH) })?;
        Ok(())
    }

    fn pause(&mut self, duration: Duration) {
        std::thread::sleep(duration);
    }
}
