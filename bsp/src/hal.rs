//! The hardware interface: the only way hardware-independent code reaches a board.
//!
//! Each trait is small on purpose (Tock OS style): a board implements them with its concrete
//! drivers, and the application is written against the traits alone.

use core::fmt;

/// What a console read found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConsoleRead {
    /// One received byte.
    Byte(u8),
    /// Nothing received yet: poll again later.
    Empty,
    /// The input is gone for good (the sim's stdin reached end of file). A UART never says this.
    Closed,
}

/// A byte console: UART0 on the W800, stdin/stdout in the sim.
pub trait Console: Send {
    /// Writes every byte (blocking until the transmitter took them).
    fn write(&mut self, bytes: &[u8]);
    /// Reads one byte without blocking.
    fn read(&mut self) -> ConsoleRead;
}

/// Flash geometry: what the flash chip can erase and program at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlashGeometry {
    /// Total size in bytes.
    pub size: u32,
    /// Erase unit in bytes (W800: 4 KB sector, opcode 0x20).
    pub sector_size: u32,
    /// Program unit in bytes (W800: 256 B page, opcode 0x02).
    pub page_size: u32,
}

impl FlashGeometry {
    /// The W800's 2 MB QSPI NOR flash (docs/w800.md, "Flash and the QFLASH controller").
    pub const W800: FlashGeometry = FlashGeometry {
        size: 2 * 1024 * 1024,
        sector_size: 4096,
        page_size: 256,
    };

    /// The NOR rules every board's flash keeps (the sim's and QEMU's stand-ins, the W800's
    /// driver): `offset..offset + len` inside the flash, as a length.
    pub fn check_range(&self, offset: u32, len: usize) -> Result<u32, FlashError> {
        let len32 = u32::try_from(len).map_err(|_| FlashError::OutOfRange {
            offset,
            len: u32::MAX,
        })?;
        match offset.checked_add(len32) {
            Some(end) if end <= self.size => Ok(len32),
            _ => Err(FlashError::OutOfRange { offset, len: len32 }),
        }
    }

    /// An erase of the sector at `offset`: inside the flash and at a sector's start.
    pub fn check_erase(&self, offset: u32) -> Result<(), FlashError> {
        self.check_range(offset, self.sector_size as usize)?;
        if !offset.is_multiple_of(self.sector_size) {
            return Err(FlashError::UnalignedErase { offset });
        }
        Ok(())
    }

    /// A program of `len` bytes at `offset`: inside the flash and within one page; its length.
    pub fn check_program(&self, offset: u32, len: usize) -> Result<u32, FlashError> {
        let len = self.check_range(offset, len)?;
        if len > 0 && offset / self.page_size != (offset + len - 1) / self.page_size {
            return Err(FlashError::CrossesPage { offset, len });
        }
        Ok(len)
    }
}

/// Programming `new` over `old` (the same bytes of the flash, at `offset`) can only clear
/// bits: the first byte that would need a 0 turned into a 1, refused.
pub fn check_bits_clear_only(offset: u32, old: &[u8], new: &[u8]) -> Result<(), FlashError> {
    match old.iter().zip(new).position(|(o, n)| o & n != *n) {
        Some(i) => Err(FlashError::BitsNotErased {
            offset: offset + i as u32,
        }),
        None => Ok(()),
    }
}

/// Why a flash operation was refused. A refused operation changes nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlashError {
    /// The range is not inside the flash.
    OutOfRange { offset: u32, len: u32 },
    /// An erase address that is not at the start of a sector.
    UnalignedErase { offset: u32 },
    /// A program operation that crosses a page boundary.
    CrossesPage { offset: u32, len: u32 },
    /// Programming would have to turn a 0 bit into 1, which only an erase can do.
    /// On the chip this silently leaves the old bits; the sim and QEMU boards refuse it.
    BitsNotErased { offset: u32 },
    /// The backing store failed (the sim's flash file).
    Io,
    /// The board only reads its flash (a W800 whose flash chip did not answer its JEDEC ID).
    ReadOnly,
    /// The range holds what must never change: the W800's factory area, or the partition
    /// the firmware runs from.
    Protected { offset: u32, len: u32 },
    /// The flash controller did not finish the command in time.
    Timeout,
    /// The chip did not take an erase or program: reading back differs from what was sent
    /// (a write-protected chip ignores both silently).
    NotWritten { offset: u32 },
}

impl fmt::Display for FlashError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            FlashError::OutOfRange { offset, len } => {
                write!(f, "range 0x{offset:X}+0x{len:X} is outside the flash")
            }
            FlashError::UnalignedErase { offset } => {
                write!(f, "erase at 0x{offset:X} is not sector aligned")
            }
            FlashError::CrossesPage { offset, len } => {
                write!(f, "program 0x{offset:X}+0x{len:X} crosses a page boundary")
            }
            FlashError::BitsNotErased { offset } => {
                write!(
                    f,
                    "program at 0x{offset:X} would set bits that are not erased"
                )
            }
            FlashError::Io => write!(f, "flash backing store I/O error"),
            FlashError::ReadOnly => write!(f, "this board cannot erase or program its flash"),
            // Without the offsets: formatting them costs the shell's deepest path (staging an
            // OTA image on QEMU) 16 bytes of stack it does not have.
            FlashError::Protected { .. } => f.write_str("the range is protected"),
            FlashError::Timeout => f.write_str("the flash controller did not finish in time"),
            FlashError::NotWritten { .. } => f.write_str("the flash did not take the write"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for FlashError {}

/// NOR flash as the W800 has it. Offsets are flash-relative (not the 0x0800_0000 XIP address).
pub trait Flash: Send {
    /// The chip's geometry.
    fn geometry(&self) -> FlashGeometry;
    /// Reads `buf.len()` bytes at `offset`.
    fn read(&mut self, offset: u32, buf: &mut [u8]) -> Result<(), FlashError>;
    /// Erases the sector starting at `offset` to 0xFF.
    fn erase_sector(&mut self, offset: u32) -> Result<(), FlashError>;
    /// Programs `data` at `offset`; the range must lie inside one page and may only clear bits.
    fn program(&mut self, offset: u32, data: &[u8]) -> Result<(), FlashError>;
}

/// Why the chip (re)started. Stored in the byte the W800 keeps in RAM's last word
/// (0x2004_7EFC) across a soft reset; values as `wm_debug.h` numbers them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum ResetReason {
    /// Power applied or the reset button: RAM holds nothing.
    PowerOn = 0,
    /// Wake from standby.
    Standby = 1,
    /// A CPU exception.
    Exception = 2,
    /// The watchdog expired.
    Watchdog = 3,
    /// The user asked for it (`reboot`).
    User = 4,
    /// An OTA image was written and is to be applied.
    Ota = 5,
}

impl ResetReason {
    /// Decodes the stored byte; anything unknown is treated as a power-on (RAM garbage).
    pub fn from_byte(byte: u8) -> ResetReason {
        match byte {
            1 => ResetReason::Standby,
            2 => ResetReason::Exception,
            3 => ResetReason::Watchdog,
            4 => ResetReason::User,
            5 => ResetReason::Ota,
            _ => ResetReason::PowerOn,
        }
    }

    /// A word for logs and the banner.
    pub fn as_str(self) -> &'static str {
        match self {
            ResetReason::PowerOn => "power-on",
            ResetReason::Standby => "standby wake",
            ResetReason::Exception => "exception",
            ResetReason::Watchdog => "watchdog",
            ResetReason::User => "user reboot",
            ResetReason::Ota => "ota",
        }
    }
}

impl fmt::Display for ResetReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", *self as u8, self.as_str())
    }
}

/// Restarting the chip.
pub trait Reset: Send + Sync {
    /// The reason stored before the reset that started this run.
    fn last_reason(&self) -> ResetReason;
    /// Stores `reason` where it survives the reset, then resets. Never returns.
    fn reset(&self, reason: ResetReason) -> !;
    /// Stops the machine for good: the sim process exits with `status`, QEMU through its
    /// exit device. The W800 has no such thing and resets instead.
    fn power_off(&self, status: u8) -> !;
}

/// Fills buffers with random bytes: for jitter, ports and IDs; not necessarily unpredictable.
pub trait Entropy: Send {
    /// Fills `buf`.
    fn fill(&mut self, buf: &mut [u8]);
}

/// A random source fit for keys and nonces: unpredictable to anyone who watches the device.
/// TLS sessions cannot be made without one. Implemented by the host's `getrandom` (sim) and
/// the W800's hardware RNG; a board that has neither offers none and opens no TLS. A source
/// that only stands in for tests says so in its name.
pub trait SecureEntropy: Entropy {}

/// Wall-clock time. The W800 has no battery-backed clock: it counts from the epoch at boot
/// until SNTP sets it.
pub trait Clock: Send + Sync {
    /// Seconds since the Unix epoch, as the board knows them.
    fn unix_time(&self) -> u64;
    /// Sets the time (from SNTP).
    fn set_unix_time(&self, secs: u64);
}

/// Why a Wi-Fi connection was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WifiError {
    /// No access point with that SSID answered the scan.
    NoSuchNetwork,
    /// The access point rejected the passphrase (the 4-way handshake failed).
    WrongPassphrase,
    /// The radio is not usable (the sim: started without a network to attach to).
    NoRadio,
}

impl fmt::Display for WifiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            WifiError::NoSuchNetwork => "no access point with that SSID",
            WifiError::WrongPassphrase => "authentication failed (wrong passphrase?)",
            WifiError::NoRadio => "no radio (the sim runs without a network: start it with --net)",
        })
    }
}

/// The radio's interrupt request to the task that drives it (see [`Wifi::set_irq`]).
pub trait RadioIrq: Sync {
    /// Asks the driver task to look at the radio: a frame is ready, the link changed, or one
    /// of the radio's timers is due. Called where the radio's receive path runs: its
    /// interrupt handler on the chip (the W800 vendor driver's receive callback), a host
    /// thread on the sim. Never blocks; raises the task has not seen yet count as one.
    fn raise(&self);
}

/// The Wi-Fi station: association, then Ethernet frames while associated.
pub trait Wifi: Send {
    /// Connects the radio's events to the driver task's `irq`, before frames flow: from then
    /// on the radio raises it whenever [`Wifi::recv`] or [`Wifi::is_connected`] may have
    /// something new, so the task never polls.
    fn set_irq(&mut self, irq: &'static dyn RadioIrq);
    /// The station's MAC address.
    fn mac(&self) -> [u8; 6];
    /// Associates with the access point `ssid` using `passphrase` (WPA2-PSK).
    fn connect(&mut self, ssid: &str, passphrase: &str) -> Result<(), WifiError>;
    /// Leaves the access point; frames stop.
    fn disconnect(&mut self);
    /// Whether associated now (the link may also drop by itself).
    fn is_connected(&mut self) -> bool;
    /// Sends one Ethernet frame; dropped silently when not associated, as on air.
    fn send(&mut self, frame: &[u8]);
    /// Takes one received frame into `buf` without blocking; its length, or `None`.
    fn recv(&mut self, buf: &mut [u8]) -> Option<usize>;
}

/// The TLS credentials a board holds (PEM): the root CA the servers are checked against and,
/// for mutual TLS, the device's certificate and key. AWS IoT: Amazon Root CA 1 and the
/// thing's certificate; in tests, the test PKI's.
#[derive(Clone, Copy, Debug)]
pub struct TlsCredentials {
    pub root_ca: &'static [u8],
    pub device: Option<(&'static [u8], &'static [u8])>,
    /// The HTTPS (file) server's root CA when it differs from the MQTT server's: on AWS, the
    /// S3 chain's root rather than Amazon Root CA 1. One bundle file with several roots also
    /// works for both.
    pub https_root_ca: Option<&'static [u8]>,
}

/// What a board without a network offers in place of the cloud, for the OTA agent's loopback
/// transport: a job document and the file it names, put into memory by whoever starts the
/// board (QEMU's loader), and room for the job execution's record, which the board's
/// restarts keep as the cloud keeps its state across a device's reboots.
#[derive(Debug)]
pub struct LoopbackCloud {
    /// The job document (JSON text).
    pub document: &'static [u8],
    /// The file the document names, whole.
    pub file: &'static [u8],
    /// The execution's record; zeroed at power-on.
    pub record: &'static mut [u8],
}
