//! The sim's radio: a list of simulated access points in front of a TAP device.
//!
//! `wifi connect` succeeds only for an SSID on the list with its passphrase; then Ethernet
//! frames flow between lwIP and the TAP device, through the impairment layer in both
//! directions. The TAP device is made by `scripts/testnet` inside the test network's
//! namespace, where the sim runs; without one there is no radio.

use crate::hal::{Wifi, WifiError};
use crate::impair::{ImpairConfig, Impairment};
use std::alloc::{GlobalAlloc, Layout, System};
use std::ffi::CString;
use std::io;
use std::time::Instant;

/// The largest Ethernet frame (without FCS).
pub const FRAME_MAX: usize = 1514;
/// Frames each direction of the impairment layer can hold.
const QUEUE_FRAMES: usize = 64;
/// At most this many frames are taken from the TAP device per receive call.
const READ_BURST: usize = 16;

type Queue = Impairment<QUEUE_FRAMES, FRAME_MAX>;

/// A simulated access point.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessPoint {
    pub ssid: String,
    pub passphrase: String,
}

impl AccessPoint {
    /// The seed's access point.
    pub fn seed_default() -> AccessPoint {
        AccessPoint {
            ssid: "61test".into(),
            passphrase: "12345678".into(),
        }
    }

    /// Parses `SSID:PASSPHRASE` (the passphrase is everything after the first colon).
    pub fn parse(spec: &str) -> Option<AccessPoint> {
        let (ssid, passphrase) = spec.split_once(':')?;
        (!ssid.is_empty() && (8..=63).contains(&passphrase.len())).then(|| AccessPoint {
            ssid: ssid.into(),
            passphrase: passphrase.into(),
        })
    }
}

/// Puts a value in host memory rather than in the FreeRTOS heap (the global allocator):
/// the sim's radio buffers are hardware, not the chip's RAM, and must not show in `free`.
/// Never freed: the radio lives as long as the process.
fn in_host_memory<T>(value: T) -> &'static mut T {
    let layout = Layout::new::<T>();
    // SAFETY: `layout` is non-zero-sized (T holds frame buffers); the block is written with
    // `value` before the reference is made, and never freed, so it stays valid for 'static.
    unsafe {
        let block = System.alloc(layout).cast::<T>();
        if block.is_null() {
            std::alloc::handle_alloc_error(layout);
        }
        block.write(value);
        &mut *block
    }
}

/// The station.
pub struct SimWifi {
    tap: Option<i32>,
    access_points: Vec<AccessPoint>,
    associated: bool,
    to_air: &'static mut Queue,
    from_air: &'static mut Queue,
    started: Instant,
}

impl SimWifi {
    /// A radio on the TAP device `tap` (none: `connect` reports no radio).
    pub fn new(
        tap: Option<&str>,
        access_points: Vec<AccessPoint>,
        impairment: ImpairConfig,
    ) -> io::Result<SimWifi> {
        let tap = tap.map(open_tap).transpose()?;
        let mut reverse = impairment;
        reverse.seed = impairment.seed.wrapping_add(1);
        Ok(SimWifi {
            tap,
            access_points,
            associated: false,
            to_air: in_host_memory(Queue::new(impairment)),
            from_air: in_host_memory(Queue::new(reverse)),
            started: Instant::now(),
        })
    }

    /// The impairment layer's clock: microseconds since the radio was made.
    fn now_us(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_micros()).unwrap_or(u64::MAX)
    }

    /// Writes the frames whose time has come to the TAP device.
    fn flush_to_air(&mut self, fd: i32, now: u64) {
        let mut frame = [0u8; FRAME_MAX];
        while let Some(len) = self.to_air.pop_due(now, &mut frame) {
            // SAFETY: writes `len` initialised bytes of `frame` to our own descriptor.
            // A full TAP queue drops the frame, as the air would.
            unsafe { libc::write(fd, frame.as_ptr().cast(), len) };
        }
    }

    /// Takes what the TAP device has into the receive queue (dropped when not associated).
    fn take_from_air(&mut self, fd: i32, now: u64) {
        let mut frame = [0u8; FRAME_MAX];
        for _ in 0..READ_BURST {
            // SAFETY: reads at most FRAME_MAX bytes into `frame` from our non-blocking descriptor.
            let n = unsafe { libc::read(fd, frame.as_mut_ptr().cast(), frame.len()) };
            let Ok(len) = usize::try_from(n) else { break };
            if len == 0 {
                break;
            }
            if self.associated {
                self.from_air.submit(now, &frame[..len]);
            }
        }
    }
}

fn open_tap(name: &str) -> io::Result<i32> {
    let cname = CString::new(name).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    if cname.as_bytes().len() >= libc::IFNAMSIZ {
        return Err(io::Error::from(io::ErrorKind::InvalidInput));
    }
    // SAFETY: opens the TUN/TAP clone device; the descriptor is ours alone. O_CLOEXEC: a reset
    // re-executes the sim, which opens the (persistent) device again.
    let fd = unsafe {
        libc::open(
            c"/dev/net/tun".as_ptr(),
            libc::O_RDWR | libc::O_NONBLOCK | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `request` is a zeroed ifreq with a NUL-terminated name shorter than IFNAMSIZ
    // and the TAP flags; TUNSETIFF reads it and attaches `fd` to that device.
    let attached = unsafe {
        let mut request: libc::ifreq = std::mem::zeroed();
        for (dst, src) in request.ifr_name.iter_mut().zip(cname.as_bytes()) {
            *dst = *src as libc::c_char;
        }
        request.ifr_ifru.ifru_flags = (libc::IFF_TAP | libc::IFF_NO_PI) as libc::c_short;
        libc::ioctl(fd, libc::TUNSETIFF, &request)
    };
    if attached < 0 {
        let err = io::Error::last_os_error();
        // SAFETY: closes the descriptor opened above, once.
        unsafe { libc::close(fd) };
        return Err(err);
    }
    Ok(fd)
}

impl Wifi for SimWifi {
    fn mac(&self) -> [u8; 6] {
        // Locally administered, unicast.
        [0x02, 0x57, 0x38, 0x30, 0x30, 0x01]
    }

    fn connect(&mut self, ssid: &str, passphrase: &str) -> Result<(), WifiError> {
        if self.tap.is_none() {
            return Err(WifiError::NoRadio);
        }
        let ap = self
            .access_points
            .iter()
            .find(|ap| ap.ssid == ssid)
            .ok_or(WifiError::NoSuchNetwork)?;
        if ap.passphrase != passphrase {
            return Err(WifiError::WrongPassphrase);
        }
        self.associated = true;
        Ok(())
    }

    fn disconnect(&mut self) {
        self.associated = false;
    }

    fn is_connected(&mut self) -> bool {
        self.associated && self.to_air.config().link_up(self.now_us())
    }

    fn send(&mut self, frame: &[u8]) {
        let (Some(fd), true) = (self.tap, self.associated) else {
            return;
        };
        let now = self.now_us();
        self.to_air.submit(now, frame);
        self.flush_to_air(fd, now);
    }

    fn recv(&mut self, buf: &mut [u8]) -> Option<usize> {
        let fd = self.tap?;
        let now = self.now_us();
        self.flush_to_air(fd, now);
        self.take_from_air(fd, now);
        self.from_air.pop_due(now, buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_points_parse_with_wpa2_passphrase_lengths() {
        assert_eq!(
            AccessPoint::parse("61test:12345678"),
            Some(AccessPoint::seed_default())
        );
        assert_eq!(
            AccessPoint::parse("lab:pass:with:colons").map(|a| a.passphrase),
            Some("pass:with:colons".to_string())
        );
        assert_eq!(AccessPoint::parse("short:1234567"), None);
        assert_eq!(AccessPoint::parse(":12345678"), None);
        assert_eq!(AccessPoint::parse("nocolon"), None);
    }

    #[test]
    fn without_a_tap_device_there_is_no_radio() {
        let mut wifi = SimWifi::new(
            None,
            vec![AccessPoint::seed_default()],
            ImpairConfig::default(),
        )
        .unwrap();
        assert_eq!(wifi.connect("61test", "12345678"), Err(WifiError::NoRadio));
        assert!(!wifi.is_connected());
        assert_eq!(wifi.recv(&mut [0u8; 64]), None);
    }
}
